package profilestore

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/guregu/dynamo/v2"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/trigger"
)

// clock is a settable clock for the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time    { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time)   { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }
func (c *clock) setMin(minute int) { c.set(at(minute)) }

func newTriggerFixture(t *testing.T) (fixture, *clock) {
	t.Helper()
	e := localawstest.Reachable(t)
	tables := Tables{
		Profiles:    localawstest.NewTopologyTable(t, topology.ProfileTable),
		Identities:  localawstest.NewTopologyTable(t, topology.IdentityTable),
		Touchpoints: localawstest.NewTopologyTable(t, topology.TouchpointTable),
	}
	c := &clock{t: t0}
	s := New(e.Dynamo(), tables, WithClock(c.now), WithTouchpointTTL(touchTTL))
	return fixture{Store: s, tables: tables, raw: e.DynamoDBClient()}, c
}

var marketing = map[string]profile.Consent{profile.PurposeMarketing: {Granted: true, At: at(-60)}}

func cart(id, anon, product string, min int) profile.Activity {
	a := track(id, anon, "", min)
	a.Event, a.Products, a.Consent = "Product Added", []profile.Line{{ProductID: product, Quantity: 1, Price: 20}}, marketing
	return a
}

// stored reads a profile item as it is stored.
func (f fixture) item(t *testing.T, id string) profileItem {
	t.Helper()
	it, found, err := f.get(context.Background(), id, true)
	require.NoError(t, err)
	require.True(t, found, "profile %s", id)
	return it
}

// due lists the profiles the index has due at now.
func (f fixture) due(t *testing.T, now time.Time) []string {
	t.Helper()
	var mu sync.Mutex
	var ids []string
	require.NoError(t, f.DueProfiles(context.Background(), now, func(_ context.Context, id string) error {
		mu.Lock()
		defer mu.Unlock()
		ids = append(ids, id)
		return nil
	}))
	slices.Sort(ids)
	return ids
}

func TestTheDueIndexMatchesTheTopology(t *testing.T) {
	tb, _ := topology.Default().Table(topology.ProfileTable)
	require.Len(t, tb.Indexes, 1)
	ix := tb.Indexes[0]
	require.Equal(t, topology.Index{Name: DueIndex, PartitionKey: "dueShard", SortKey: "dueAt", Projection: topology.ProjectKeysOnly}, ix)
	seen := map[string]bool{}
	for i := range 1000 {
		seen[DueShard(NewID()+string(rune('a'+i%26)))] = true
	}
	require.Len(t, seen, DueShards, "profile ids spread over every shard")
}

func TestRecordingKeepsTheDueTime(t *testing.T) {
	f, c := newTriggerFixture(t)
	c.setMin(0)
	id := f.record(t, cart("m1", "a-1", "tent", 0))[0].ProfileID
	it := f.item(t, id)
	require.Equal(t, dueKey(at(60)), it.DueAt, "an hour after the basket")
	require.Equal(t, DueShard(id), it.DueShard)
	require.Empty(t, f.due(t, at(59)))
	require.Equal(t, []string{id}, f.due(t, at(60)))

	// Still on the site: the basket falls due an hour after the last activity.
	c.setMin(20)
	f.record(t, page("m2", "a-1", 20))
	require.Equal(t, dueKey(at(80)), f.item(t, id).DueAt)
	require.Empty(t, f.due(t, at(60)))

	// An order closes the basket: nothing can fire, and the profile leaves the index.
	c.setMin(30)
	f.record(t, order("m3", "a-1", "", 30))
	it = f.item(t, id)
	require.Empty(t, it.DueAt)
	require.Empty(t, it.DueShard)
	require.Empty(t, f.due(t, at(24*60)))

	// Without a marketing answer nothing can fire: never in the index.
	c.setMin(40)
	a := cart("m4", "a-2", "tent", 40)
	a.Consent = nil
	other := f.record(t, a)[0].ProfileID
	require.Empty(t, f.item(t, other).DueAt)

	// Consent given through the profile API puts the basket in the index at once.
	_, _, err := f.SetConsent(context.Background(), other, marketing)
	require.NoError(t, err)
	require.Equal(t, dueKey(at(100)), f.item(t, other).DueAt)
}

// TestIndexWritesOnlyWhenTheDueTimeMoves measures the index's write units: an event that leaves the
// due time alone costs the index nothing.
func TestIndexWritesOnlyWhenTheDueTimeMoves(t *testing.T) {
	f, c := newTriggerFixture(t)
	c.setMin(0)
	id := f.record(t, page("m1", "a-1", 0))[0].ProfileID // no consent answer: nothing due
	it := f.item(t, id)

	cost := func(dueAt string) float64 {
		t.Helper()
		var cc dynamo.ConsumedCapacity
		u := f.profiles.Update("profileId", id).Set("updatedAt", time.Now().UTC()).Set("version", it.Version+1).
			If("'version' = ?", it.Version).ConsumedCapacity(&cc)
		setDue(u, it, dueAt)
		require.NoError(t, u.Run(context.Background()))
		it = f.item(t, id)
		return cc.GSI[DueIndex]
	}
	require.Zero(t, cost(""), "out of the index, staying out")
	enter := cost(dueKey(at(60)))
	require.Zero(t, cost(dueKey(at(60))), "staying put")
	move := cost(dueKey(at(90)))
	leave := cost("")
	// A keys-only entry is far under 1 KB: one unit to put it, one to delete it, both to move it.
	require.Equal(t, []float64{1, 2, 1}, []float64{enter, move, leave}, "index write units to enter, move, leave")
	require.Empty(t, it.DueAt)
}

func TestFireRecordsOncePerEpisode(t *testing.T) {
	f, c := newTriggerFixture(t)
	ctx := context.Background()
	c.setMin(0)
	id := f.record(t, cart("m1", "a-1", "tent", 0))[0].ProfileID

	early, err := f.Fire(ctx, id, at(59))
	require.NoError(t, err)
	require.Empty(t, early.Fired)
	require.NoError(t, f.SaveFired(ctx, early), "nothing to record")
	require.Equal(t, 1, f.item(t, id).Version, "a look that changes nothing writes nothing")

	// Two runs read the profile at once: both see the basket, one records.
	a, err := f.Fire(ctx, id, at(61))
	require.NoError(t, err)
	b, err := f.Fire(ctx, id, at(62))
	require.NoError(t, err)
	require.Len(t, a.Fired, 1)
	require.Equal(t, trigger.AbandonedBasket, a.Fired[0].Kind)
	require.Equal(t, a.Fired[0].Key, b.Fired[0].Key, "the same episode")
	require.NoError(t, f.SaveFired(ctx, a))
	require.ErrorIs(t, f.SaveFired(ctx, b), ErrChanged)

	it := f.item(t, id)
	require.Equal(t, 2, it.Version)
	require.Equal(t, []firedItem{{Kind: trigger.AbandonedBasket, Key: a.Fired[0].Key, At: at(61)}}, it.Fired)
	require.Empty(t, it.DueAt, "nothing else can fire")
	require.True(t, a.Next.IsZero())
	again, err := f.Fire(ctx, id, at(120))
	require.NoError(t, err)
	require.Empty(t, again.Fired)

	// Recording reads the fired state: the basket changed again is held back by the cooldown, so
	// it falls due a day after the first fired, not an hour after the change.
	c.setMin(180)
	f.record(t, cart("m2", "a-1", "stove", 180))
	require.Equal(t, dueKey(at(61+24*60)), f.item(t, id).DueAt)
	require.Equal(t, 3, f.item(t, id).Version, "recording builds on the version SaveFired wrote")
}

func TestMergedAndErasedProfilesLeaveTheIndex(t *testing.T) {
	f, c := newTriggerFixture(t)
	ctx := context.Background()
	// A visitor starts a form and fills a basket anonymously; the form's trigger fires, the
	// basket's is pending. Then the visitor logs in on a profile of its own (a user id seen on
	// another device, with a basket too) and the two merge.
	c.setMin(0)
	form := track("m1", "a-1", "", 0)
	form.Event, form.FormID, form.Consent = "Form Started", "quote", marketing
	anon := f.record(t, form)[0].ProfileID
	c.setMin(10)
	f.record(t, cart("m2", "a-1", "tent", 10))
	fired, err := f.Fire(ctx, anon, at(40))
	require.NoError(t, err)
	require.Len(t, fired.Fired, 1)
	require.Equal(t, trigger.AbandonedForm, fired.Fired[0].Kind)
	require.NoError(t, f.SaveFired(ctx, fired))
	require.Equal(t, dueKey(at(70)), f.item(t, anon).DueAt, "the basket is pending")

	c.setMin(62)
	userCart := cart("m3", "a-2", "stove", 62)
	userCart.UserID = "u-1"
	user := f.record(t, userCart)[0].ProfileID
	require.NotEmpty(t, f.item(t, user).DueAt)
	c.setMin(63)
	rs := f.record(t, identify("m4", "a-1", "u-1", 63, nil))
	require.NotEmpty(t, rs[0].Merged)
	live := rs[0].ProfileID
	merged := anon
	if live == anon {
		merged = user
	}
	m := f.item(t, merged)
	require.NotEmpty(t, m.MergedInto)
	require.Empty(t, m.DueAt, "the merged profile left the index")
	l := f.item(t, live)
	require.NotEmpty(t, l.DueAt)
	require.Contains(t, l.triggerState(), trigger.Fired{Kind: trigger.AbandonedForm, Key: fired.Fired[0].Key, At: at(40)},
		"the live profile knows what fired for the merged one")
	require.Equal(t, []string{live}, f.due(t, at(10*24*60)))

	// A merged profile left in the index by an older version is taken out when it comes up.
	require.NoError(t, f.profiles.Update("profileId", merged).Set("dueShard", DueShard(merged)).Set("dueAt", dueKey(at(64))).Run(ctx))
	gone, err := f.Fire(ctx, merged, at(70))
	require.NoError(t, err)
	require.Empty(t, gone.Fired)
	require.NoError(t, f.SaveFired(ctx, gone))
	require.Empty(t, f.item(t, merged).DueAt)

	// Erased: the profile and its entry are gone.
	_, err = f.Erase(ctx, live)
	require.NoError(t, err)
	require.Empty(t, f.due(t, at(10*24*60)))
	nothing, err := f.Fire(ctx, live, at(200))
	require.NoError(t, err)
	require.Empty(t, nothing.Fired)
	require.NoError(t, f.SaveFired(ctx, nothing))
}

func TestFireLeavesAnErasureUnderWayAlone(t *testing.T) {
	f, c := newTriggerFixture(t)
	ctx := context.Background()
	c.setMin(0)
	id := f.record(t, cart("m1", "a-1", "tent", 0))[0].ProfileID
	// The erasure marked the profile and stopped.
	it := f.item(t, id)
	require.NoError(t, f.profiles.Update("profileId", id).Set("erasedAt", at(5)).Set("version", it.Version+1).Run(ctx))
	fr, err := f.Fire(ctx, id, at(120))
	require.NoError(t, err)
	require.Empty(t, fr.Fired)
	require.NoError(t, f.SaveFired(ctx, fr))
	require.Empty(t, f.item(t, id).DueAt)
	require.Equal(t, it.Version+1, f.item(t, id).Version)
}

func TestDueProfilesStopsOnError(t *testing.T) {
	f, c := newTriggerFixture(t)
	for i, anon := range []string{"a-1", "a-2", "a-3"} {
		c.setMin(i)
		f.record(t, cart("m"+anon, anon, "tent", i))
	}
	stop := errors.New("stop")
	err := f.DueProfiles(context.Background(), at(24*60), func(context.Context, string) error { return stop })
	require.ErrorIs(t, err, stop)
}

func TestFiredItemsRoundTrip(t *testing.T) {
	st := trigger.State{{Kind: trigger.AbandonedForm, Key: "abandoned-form:quote:2025-03-01T10:00:00Z", At: at(30)}}
	av, err := dynamo.Marshal(firedItems(st))
	require.NoError(t, err)
	_, isList := av.(*types.AttributeValueMemberL)
	require.True(t, isList)
	var back []firedItem
	require.NoError(t, dynamo.Unmarshal(av, &back))
	require.Equal(t, st, profileItem{Fired: back}.triggerState())
}
