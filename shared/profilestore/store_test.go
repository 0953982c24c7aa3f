package profilestore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/profile"
)

var (
	t0  = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	now = time.Date(2025, 3, 2, 8, 0, 0, 0, time.UTC)
)

// touchTTL is the history retention in tests.
const touchTTL = 100 * 365 * 24 * time.Hour

func at(minutes int) time.Time { return t0.Add(time.Duration(minutes) * time.Minute) }

type fixture struct {
	*Store
	tables Tables
	raw    *dynamodb.Client
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	e := localawstest.Reachable(t)
	tables := Tables{
		Profiles:    localawstest.NewTopologyTable(t, topology.ProfileTable),
		Identities:  localawstest.NewTopologyTable(t, topology.IdentityTable),
		Touchpoints: localawstest.NewTopologyTable(t, topology.TouchpointTable),
	}
	// The clock is fixed in the past; long TTLs keep DynamoDB Local's TTL sweeper from expiring
	// the ledger and the history during the test.
	s := New(e.Dynamo(), tables, WithClock(func() time.Time { return now }),
		WithTouchpointTTL(touchTTL))
	return fixture{Store: s, tables: tables, raw: e.DynamoDBClient()}
}

// The events of the tests carry their sender's time, as SDKs and the tracker send it.

func page(id, anon string, min int) profile.Activity {
	return profile.Activity{MessageID: id, Type: beacon.Page, AnonymousID: anon, At: at(min), ClientAt: at(min)}
}

func track(id, anon, user string, min int) profile.Activity {
	return profile.Activity{MessageID: id, Type: beacon.Track, AnonymousID: anon, UserID: user, At: at(min), ClientAt: at(min)}
}

func identify(id, anon, user string, min int, traits map[string]any) profile.Activity {
	return profile.Activity{MessageID: id, Type: beacon.Identify, AnonymousID: anon, UserID: user, At: at(min), ClientAt: at(min), Traits: traits}
}

func (f fixture) record(t *testing.T, acts ...profile.Activity) []Result {
	t.Helper()
	var rs []Result
	for _, a := range acts {
		r, err := f.Record(context.Background(), a)
		require.NoError(t, err, "record %s", a.MessageID)
		rs = append(rs, r)
	}
	return rs
}

func (f fixture) lookup(t *testing.T, id identity.ID) profile.Profile {
	t.Helper()
	p, err := f.Lookup(context.Background(), id)
	require.NoError(t, err, "lookup %s", id)
	return p
}

// items returns every item of a table, keyed by its partition key.
func (f fixture) items(t *testing.T, name, key string) map[string]map[string]types.AttributeValue {
	t.Helper()
	out := map[string]map[string]types.AttributeValue{}
	p := dynamodb.NewScanPaginator(f.raw, &dynamodb.ScanInput{TableName: aws.String(name), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		require.NoError(t, err)
		for _, it := range page.Items {
			out[it[key].(*types.AttributeValueMemberS).Value] = it
		}
	}
	return out
}

func (f fixture) liveProfiles(t *testing.T) []profile.Profile {
	t.Helper()
	var mu sync.Mutex
	var ps []profile.Profile
	require.NoError(t, f.Scan(context.Background(), 3, func(_ context.Context, p profile.Profile) error {
		mu.Lock()
		defer mu.Unlock()
		ps = append(ps, p)
		return nil
	}))
	sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
	return ps
}

func TestTwoDevicesBecomeOneProfile(t *testing.T) {
	f := newFixture(t)
	rs := f.record(t,
		page("m1", "A1", 0),
		track("m2", "A1", "", 1),
		identify("m3", "A1", "U", 2, map[string]any{"email": "u@example.com", "plan": "free"}),
		page("m4", "A2", 10),
		track("m5", "A2", "", 11),
		identify("m6", "A2", "U", 12, map[string]any{"plan": "gold"}),
		track("m7", "A2", "U", 13),
	)
	require.True(t, rs[0].Created)
	require.Equal(t, rs[0].ProfileID, rs[2].ProfileID, "logging in keeps the anonymous profile")
	require.True(t, rs[3].Created)
	second := rs[3].ProfileID
	require.Equal(t, []string{second}, rs[5].Merged, "the second device merges in when it logs in")
	require.Equal(t, rs[0].ProfileID, rs[5].ProfileID)

	live := f.liveProfiles(t)
	require.Len(t, live, 1)
	p := live[0]
	require.Equal(t, rs[0].ProfileID, p.ID)
	require.Equal(t, "U", p.UserID)
	require.Equal(t, []string{"A1", "A2"}, p.AnonymousIDs)
	require.Equal(t, profile.Counts{Events: 7, PageViews: 2, Tracks: 3, Identifies: 2}, p.Counts)
	require.Equal(t, at(0), p.FirstSeen)
	require.Equal(t, at(13), p.LastSeen)
	require.Equal(t, map[string]any{"email": "u@example.com", "plan": "gold"}, p.Traits)
	require.Equal(t, []string{second}, p.MergedFrom)
	log, err := f.Merges(context.Background(), second)
	require.NoError(t, err)
	require.Equal(t, []Merge{{From: second, Into: p.ID, At: now, MessageID: "m6", Via: "anonymousId:A2"}}, log,
		"the merge is explained: which event, through which identifier, when")

	for _, id := range []identity.ID{identity.AnonymousID("A1"), identity.AnonymousID("A2"), identity.UserID("U")} {
		require.Equal(t, p.ID, f.lookup(t, id).ID, "%s leads to the live profile", id)
	}
	merged, err := f.Profile(context.Background(), second)
	require.NoError(t, err)
	require.Equal(t, p.ID, merged.ID, "a merged profile id resolves to the live profile")

	for id, it := range f.items(t, f.tables.Identities, "identifier") {
		require.Equal(t, p.ID, it["profileId"].(*types.AttributeValueMemberS).Value, id)
		require.NotContains(t, it, "mergedFrom", "merge mark left on %s", id)
	}
	old := f.items(t, f.tables.Profiles, "profileId")[second]
	require.Equal(t, p.ID, old["mergedInto"].(*types.AttributeValueMemberS).Value)
	history := f.items(t, f.tables.Touchpoints, "messageId")
	require.Len(t, history, 7, "one touchpoint per event")
	m1 := history["m1"]
	require.Equal(t, &types.AttributeValueMemberS{Value: rs[0].ProfileID}, m1["profileId"], "kept on the profile it was recorded on")
	require.Equal(t, &types.AttributeValueMemberS{Value: "page"}, m1["type"])
}

func TestRecordingTwiceChangesNothing(t *testing.T) {
	f := newFixture(t)
	acts := []profile.Activity{
		page("m1", "A1", 0), identify("m2", "A1", "U", 1, map[string]any{"name": "Ann"}),
		page("m3", "A2", 2), identify("m4", "A2", "U", 3, nil), track("m5", "", "U", 4),
	}
	f.record(t, acts...)
	profiles := f.items(t, f.tables.Profiles, "profileId")
	identities := f.items(t, f.tables.Identities, "identifier")
	history := f.items(t, f.tables.Touchpoints, "messageId")

	f.Store.now = func() time.Time { return now.Add(time.Hour) } // a replay happens later
	for i, r := range f.record(t, acts...) {
		require.True(t, r.Duplicate, "event %d recorded twice", i)
	}
	require.Equal(t, profiles, f.items(t, f.tables.Profiles, "profileId"))
	require.Equal(t, identities, f.items(t, f.tables.Identities, "identifier"))
	require.Equal(t, history, f.items(t, f.tables.Touchpoints, "messageId"))
}

// An event sent again is recorded once by its message id, although its corrected time differs
// (the endpoint corrects the sender's clock by when it received it): by the sender's own time when
// it gave one, else by a dedup record of its message id. Even after the device merged into another
// profile.
func TestEventSentAgainLaterIsRecordedOnce(t *testing.T) {
	f := newFixture(t)
	clientTimed := page("m1", "A", 0)
	clientTimed.At = at(0).Add(3 * time.Second) // corrected: received 3 s after it was sent
	serverTimed := page("m2", "A", 1)
	serverTimed.ClientAt = time.Time{} // sent without a time: it happened when received
	f.record(t, clientTimed, serverTimed, identify("m3", "A", "U", 2, nil), page("m4", "B", 3), identify("m5", "B", "U", 4, nil))

	clientTimed.At = at(0).Add(5 * time.Second) // sent again, received later
	serverTimed.At = at(30)
	merged := page("m4", "B", 3) // recorded on B's profile, merged into U's since
	merged.At = at(3).Add(time.Second)
	before := f.stored(t)
	for i, r := range f.record(t, clientTimed, serverTimed, merged) {
		require.True(t, r.Duplicate, "event %d recorded twice", i)
	}
	require.Equal(t, before, f.stored(t))
	require.Equal(t, 5, f.lookup(t, identity.UserID("U")).Counts.Events)
	ledger := 0
	for _, it := range f.scan(t, f.tables.Touchpoints) {
		if strings.HasPrefix(it["profileId"].(*types.AttributeValueMemberS).Value, "msg#") {
			ledger++
			require.ElementsMatch(t, []string{"profileId", "at", "messageId", "expiresAt"}, slices.Collect(maps.Keys(it)), "a dedup record holds nothing about the person")
		}
	}
	require.Equal(t, 1, ledger, "a dedup record only for the event the endpoint timed")
}

// A crash between a profile's write and its touchpoints' leaves the event known only by the
// profile's recent message ids; when that profile joins another before the retry, the ids come
// along, and the retried event is still recorded once (its touchpoint written then).
func TestEventWhoseTouchpointWasLostIsRecordedOnceAfterAMerge(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	lost := page("m1", "A", 0)
	device := f.record(t, lost)[0].ProfileID
	require.NoError(t, f.touch.Delete("profileId", device).Range("at", historyKey(lost)).Run(ctx)) // the crash
	f.record(t, identify("m2", "B", "U", 1, nil), identify("m3", "A", "U", 2, nil))

	r := f.record(t, lost)[0] // the retry
	require.True(t, r.Duplicate)
	p := f.lookup(t, identity.UserID("U"))
	require.Equal(t, 3, p.Counts.Events)
	require.Contains(t, messageIDs(f.history(t, p.ID, HistoryQuery{Limit: 10})), "m1", "the retry writes the lost touchpoint")
}

func TestOutOfOrderEvents(t *testing.T) {
	f := newFixture(t)
	f.record(t, page("m1", "A", 30), page("m2", "A", 10), track("m3", "A", "", 50), page("m4", "A", 0))
	p := f.lookup(t, identity.AnonymousID("A"))
	require.Equal(t, at(0), p.FirstSeen)
	require.Equal(t, at(50), p.LastSeen)
	require.Equal(t, 4, p.Counts.Events)
}

func TestTwoUsersNeverMerge(t *testing.T) {
	f := newFixture(t)
	rs := f.record(t,
		identify("m1", "A", "U1", 0, nil),
		identify("m2", "A", "U2", 1, nil), // someone else logs in on the same browser
		track("m3", "", "U2", 2),
	)
	require.NotEqual(t, rs[0].ProfileID, rs[1].ProfileID)
	require.Empty(t, rs[1].Merged)
	u1, u2 := f.lookup(t, identity.UserID("U1")), f.lookup(t, identity.UserID("U2"))
	require.Equal(t, []string{"A"}, u1.AnonymousIDs)
	require.Empty(t, u2.AnonymousIDs, "the anonymous id stays with the first user")
	require.Equal(t, u1.ID, f.lookup(t, identity.AnonymousID("A")).ID)
	require.Equal(t, 2, u2.Counts.Events)
	require.Len(t, f.liveProfiles(t), 2)
}

// A crash after a merge repointed the identifiers but before it folded the profile: replaying the
// event (or any event on the identifier) finishes the merge.
func TestCrashBetweenRepointAndFoldIsFinishedByReplay(t *testing.T) {
	for _, replay := range []profile.Activity{identify("m6", "A2", "U", 12, nil), page("m7", "A2", 13)} {
		t.Run(replay.Type, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			rs := f.record(t, identify("m1", "A1", "U", 0, nil), page("m2", "A2", 5), page("m3", "A2", 6))
			known, anon := rs[0].ProfileID, rs[1].ProfileID

			// What the merge of m6 does before it crashes: claim the anonymous profile, repoint A2,
			// marked.
			require.NoError(t, f.profiles.Update("profileId", anon).Set("mergingInto", known).Run(ctx))
			require.NoError(t, f.repoint(ctx, identity.AnonymousID("A2"), anon, known))
			require.Equal(t, known, f.lookup(t, identity.AnonymousID("A2")).ID)

			r := f.record(t, replay)[0]
			require.Equal(t, known, r.ProfileID)
			require.Equal(t, []string{anon}, r.Merged)
			p := f.lookup(t, identity.UserID("U"))
			require.Equal(t, 4, p.Counts.Events, "three events before the crash and the replayed one")
			require.Equal(t, []string{"A1", "A2"}, p.AnonymousIDs)
			require.Equal(t, at(0), p.FirstSeen)
			require.Len(t, f.liveProfiles(t), 1)

			// Replaying once more changes nothing.
			before := f.items(t, f.tables.Profiles, "profileId")
			require.True(t, f.record(t, replay)[0].Duplicate)
			require.Equal(t, before, f.items(t, f.tables.Profiles, "profileId"))
		})
	}
}

// A crash after claiming identifiers for a new profile, before writing it: the next event creates it.
func TestCrashAfterClaimIsFinishedByNextEvent(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	won, err := f.claim(ctx, identity.AnonymousID("A"), "prf_orphan")
	require.NoError(t, err)
	require.True(t, won)
	_, err = f.Lookup(ctx, identity.AnonymousID("A"))
	require.True(t, errors.Is(err, profile.ErrNotFound), "err = %v", err)

	r := f.record(t, page("m1", "A", 0))[0]
	require.Equal(t, "prf_orphan", r.ProfileID)
	require.Equal(t, 1, f.lookup(t, identity.AnonymousID("A")).Counts.Events)
}

// Writers on several shards record one customer's devices at once; they converge on one profile
// that counts every event once.
func TestConcurrentWritersConverge(t *testing.T) {
	f := newFixture(t)
	const devices, perDevice = 8, 10
	var wg sync.WaitGroup
	var failed atomic.Value
	for d := range devices {
		wg.Add(1)
		go func() {
			defer wg.Done()
			anon := fmt.Sprintf("A%d", d)
			for i := range perDevice {
				a := page(fmt.Sprintf("%s-%d", anon, i), anon, d*10+i)
				if i == perDevice/2 {
					a = identify(a.MessageID, anon, "U", a.At.Minute(), map[string]any{"device": anon})
				}
				if _, err := f.Record(context.Background(), a); err != nil {
					failed.Store(err)
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	live := f.liveProfiles(t)
	require.Len(t, live, 1)
	require.Equal(t, devices*perDevice, live[0].Counts.Events)
	require.Equal(t, devices, live[0].Counts.Identifies)
	require.Len(t, live[0].AnonymousIDs, devices)
	require.Equal(t, "U", live[0].UserID)
}

func TestTraitsRoundTrip(t *testing.T) {
	f := newFixture(t)
	traits := map[string]any{
		"email": "u@example.com", "nickname": "", "age": 41.0, "vip": true, "fax": nil,
		"address": map[string]any{"city": "Leeds", "line2": ""}, "tags": []any{"a", 2.0},
	}
	f.record(t, identify("m1", "", "U", 0, traits))
	require.Equal(t, traits, f.lookup(t, identity.UserID("U")).Traits)
}

func TestNotFound(t *testing.T) {
	f := newFixture(t)
	_, err := f.Profile(context.Background(), "prf_nope")
	require.True(t, errors.Is(err, profile.ErrNotFound), "err = %v", err)
	_, err = f.Lookup(context.Background(), identity.UserID("nobody"))
	require.True(t, errors.Is(err, profile.ErrNotFound), "err = %v", err)
}

func TestScanSkipsMergedProfilesAndStopsOnError(t *testing.T) {
	f := newFixture(t)
	for i := range 20 {
		f.record(t, page(fmt.Sprintf("m%d", i), fmt.Sprintf("A%d", i), i))
	}
	f.record(t, identify("i1", "A1", "U", 30, nil), identify("i2", "A2", "U", 31, nil))
	require.Len(t, f.liveProfiles(t), 19)

	boom := errors.New("boom")
	err := f.Scan(context.Background(), 4, func(context.Context, profile.Profile) error { return boom })
	require.True(t, errors.Is(err, boom), "err = %v", err)
}

func TestOversizedProfileIsRejected(t *testing.T) {
	f := newFixture(t)
	huge := identify("m1", "A", "", 0, map[string]any{"notes": strings.Repeat("x", 420<<10)})
	_, err := f.Record(context.Background(), huge)
	require.True(t, errors.Is(err, ErrRejected), "err = %v", err)
	require.Empty(t, f.items(t, f.tables.Touchpoints, "messageId"), "a rejected event is not in the history")
	require.Empty(t, f.items(t, f.tables.Profiles, "profileId"))
}

// A merge that finds, by the time it folds, that the profile it claimed has another user (which
// the claim should prevent: here it is written behind its back) is undone: the identifiers go
// back and the claim is dropped.
func TestMergeRefusedHalfwayIsUndone(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	rs := f.record(t, page("m1", "A", 0), identify("m2", "", "U2", 1, nil))
	anon, u2 := rs[0].ProfileID, rs[1].ProfileID

	// The merge of an identify(A, U2) claims the profile and repoints A; then the profile gains U1.
	require.NoError(t, f.profiles.Update("profileId", anon).Set("mergingInto", u2).Run(ctx))
	require.NoError(t, f.repoint(ctx, identity.AnonymousID("A"), anon, u2))
	require.NoError(t, f.profiles.Update("profileId", anon).Set("userId", "U1").Run(ctx))

	r := f.record(t, page("m3", "A", 2))[0]
	require.Equal(t, anon, r.ProfileID, "the event goes to the profile A belongs to")
	require.Empty(t, r.Merged)
	require.Equal(t, anon, f.lookup(t, identity.AnonymousID("A")).ID)
	require.Equal(t, 2, f.lookup(t, identity.AnonymousID("A")).Counts.Events)
	require.Equal(t, 1, f.lookup(t, identity.UserID("U2")).Counts.Events)
	require.NotContains(t, f.items(t, f.tables.Identities, "identifier")["anonymousId:A"], "mergedFrom")
	require.NotContains(t, f.items(t, f.tables.Profiles, "profileId")[anon], "mergingInto")
}

// A mark left behind after a finished merge (a crash before clearing it) is cleared; nothing is
// folded twice.
func TestStaleMergeMarkIsCleared(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	rs := f.record(t, identify("m1", "A1", "U", 0, nil), page("m2", "A2", 1), identify("m3", "A2", "U", 2, nil))
	require.NoError(t, f.identities.Update("identifier", "anonymousId:A2").Set("mergedFrom", rs[1].ProfileID).Run(ctx))

	r := f.record(t, page("m4", "A2", 3))[0]
	require.Empty(t, r.Merged)
	require.Equal(t, 4, f.lookup(t, identity.UserID("U")).Counts.Events)
	require.NotContains(t, f.items(t, f.tables.Identities, "identifier")["anonymousId:A2"], "mergedFrom")
}

func alias(id, previous, user string, min int) profile.Activity {
	return profile.Activity{MessageID: id, Type: beacon.Alias, PreviousID: previous, UserID: user, At: at(min)}
}

func TestScreensAndGroupsAreRecorded(t *testing.T) {
	f := newFixture(t)
	f.record(t,
		profile.Activity{MessageID: "m1", Type: beacon.Screen, AnonymousID: "A", At: at(0)},
		profile.Activity{MessageID: "m2", Type: beacon.Screen, AnonymousID: "A", At: at(1)},
		profile.Activity{MessageID: "m3", Type: beacon.Group, AnonymousID: "A", GroupID: "acme", At: at(2)},
		profile.Activity{MessageID: "m4", Type: beacon.Group, AnonymousID: "A", GroupID: "acme", At: at(3)},
		profile.Activity{MessageID: "m5", Type: beacon.Group, AnonymousID: "B", GroupID: "beta", At: at(4)},
		identify("m6", "B", "U", 5, nil),
		identify("m7", "A", "U", 6, nil), // A's profile merges into U's
	)
	p := f.lookup(t, identity.UserID("U"))
	require.Equal(t, []string{"A", "B"}, p.AnonymousIDs)
	require.Equal(t, []string{"acme", "beta"}, p.Groups, "groups survive a merge")
	require.Equal(t, profile.Counts{Events: 7, Screens: 2, Identifies: 2}, p.Counts)
}

func TestAliasJoinsAnAnonymousIDToAUser(t *testing.T) {
	f := newFixture(t)
	rs := f.record(t,
		page("m1", "A", 0),
		track("m2", "", "U", 1),
		alias("m3", "A", "U", 2),
	)
	require.Equal(t, []string{rs[0].ProfileID}, rs[2].Merged, "the anonymous profile merges into the user's")
	p := f.lookup(t, identity.AnonymousID("A"))
	require.Equal(t, rs[1].ProfileID, p.ID)
	require.Equal(t, "U", p.UserID)
	require.Equal(t, profile.Counts{Events: 3, PageViews: 1, Tracks: 1}, p.Counts)
	require.Len(t, f.liveProfiles(t), 1)

	require.True(t, f.record(t, alias("m3", "A", "U", 2))[0].Duplicate, "a replayed alias changes nothing")
}

func TestAliasLinksANewUserIDToAnEarlierOne(t *testing.T) {
	f := newFixture(t)
	rs := f.record(t,
		identify("m1", "A", "old@example.com", 0, nil),
		alias("m2", "old@example.com", "cust-7", 1),
		track("m3", "", "cust-7", 2),
	)
	require.Equal(t, rs[0].ProfileID, rs[1].ProfileID)
	require.Equal(t, rs[0].ProfileID, rs[2].ProfileID, "the new user id finds the earlier profile")
	p := f.lookup(t, identity.UserID("cust-7"))
	require.Equal(t, "old@example.com", p.UserID)
	require.Equal(t, 3, p.Counts.Events)
	require.Len(t, f.liveProfiles(t), 1)
}

func TestAliasNeverMergesTwoKnownUsers(t *testing.T) {
	f := newFixture(t)
	rs := f.record(t,
		track("m1", "A1", "U1", 0),
		track("m2", "A2", "U2", 1),
		alias("m3", "U1", "U2", 2),
	)
	require.Equal(t, rs[1].ProfileID, rs[2].ProfileID, "the alias is recorded on the new user's profile")
	require.Empty(t, rs[2].Merged)
	require.Len(t, f.liveProfiles(t), 2)
	require.Equal(t, rs[0].ProfileID, f.lookup(t, identity.UserID("U1")).ID)
	require.Equal(t, rs[1].ProfileID, f.lookup(t, identity.UserID("U2")).ID)
}
