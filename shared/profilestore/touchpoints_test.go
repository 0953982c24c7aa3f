package profilestore

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
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

// scan returns every item of a table.
func (f fixture) scan(t *testing.T, name string) []map[string]types.AttributeValue {
	t.Helper()
	var out []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(f.raw, &dynamodb.ScanInput{TableName: aws.String(name), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		require.NoError(t, err)
		out = append(out, page.Items...)
	}
	return out
}

func order(id, anon, user string, min int) profile.Activity {
	a := track(id, anon, user, min)
	a.Event, a.OrderID, a.Revenue = "Order Completed", "o-"+id, 20
	return a
}

// history reads the whole history of a profile page by page.
func (f fixture) history(t *testing.T, id string, q HistoryQuery) []Touchpoint {
	t.Helper()
	var all []Touchpoint
	for range 100 {
		page, err := f.History(context.Background(), id, q)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page.Touchpoints), max(q.Limit, 1))
		all = append(all, page.Touchpoints...)
		if page.Next == "" {
			return all
		}
		q.Cursor = page.Next
	}
	t.Fatal("history does not end")
	return nil
}

func messageIDs(ts []Touchpoint) []string {
	var ids []string
	for _, tp := range ts {
		ids = append(ids, tp.MessageID)
	}
	return ids
}

// Two devices become one profile: its history holds the events of both, newest first, whichever
// profile id asks, and the events recorded on the merged profile keep their profile id.
func TestHistoryAfterAMergeHoldsBothDevicesNewestFirst(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	desk := f.record(t, page("m1", "a-desk", 0))[0].ProfileID
	phone := f.record(t, page("m2", "a-phone", 1), page("m3", "a-phone", 3))[0].ProfileID
	f.record(t, identify("m4", "a-desk", "u-1", 4, nil))
	_, err := f.RecordClaims(ctx, order("m5", "a-desk", "u-1", 5), Claims{Properties: json.RawMessage(`{"order_id": "o-m5", "total": 20}`)})
	require.NoError(t, err)
	f.record(t, identify("m6", "a-phone", "u-1", 6, nil)) // phone joins desk
	require.Equal(t, desk, f.lookup(t, identity.AnonymousID("a-phone")).ID)

	want := []string{"m6", "m5", "m4", "m3", "m2", "m1"}
	for _, id := range []string{desk, phone} {
		page, err := f.History(ctx, id, HistoryQuery{})
		require.NoError(t, err)
		require.Equal(t, desk, page.ProfileID)
		require.Equal(t, want, messageIDs(page.Touchpoints))
		require.Empty(t, page.Next)
	}
	page, err := f.History(ctx, desk, HistoryQuery{})
	require.NoError(t, err)
	byID := map[string]Touchpoint{}
	for _, tp := range page.Touchpoints {
		byID[tp.MessageID] = tp
	}
	require.Equal(t, phone, byID["m2"].ProfileID)
	require.Equal(t, desk, byID["m1"].ProfileID)
	require.Equal(t, at(3), byID["m3"].At)
	require.Equal(t, beacon.Page, byID["m3"].Type)
	m5 := byID["m5"]
	require.True(t, m5.Purchase)
	require.Equal(t, "Order Completed", m5.Event)
	require.Equal(t, "o-m5", m5.OrderID)
	require.Equal(t, 20.0, m5.Revenue)
	require.JSONEq(t, `{"order_id":"o-m5","total":20}`, string(m5.Properties))
	require.Nil(t, m5.ExpiresAt)

	purchases, err := f.History(ctx, phone, HistoryQuery{Type: "purchase"})
	require.NoError(t, err)
	require.Equal(t, []string{"m5"}, messageIDs(purchases.Touchpoints))
	pages, err := f.History(ctx, phone, HistoryQuery{Type: beacon.Page})
	require.NoError(t, err)
	require.Equal(t, []string{"m3", "m2", "m1"}, messageIDs(pages.Touchpoints))
}

// Paging walks the whole history once, in order, for every page size, even when newer events
// arrive between pages; a cursor from elsewhere is refused.
func TestHistoryPagingIsStable(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var acts []profile.Activity
	for i := range 7 {
		acts = append(acts, page("d"+strconv.Itoa(i), "a-desk", 2*i))
		acts = append(acts, page("p"+strconv.Itoa(i), "a-phone", 2*i+1))
	}
	acts = append(acts, page("same-a", "a-desk", 20), page("same-b", "a-phone", 20)) // one instant, two profiles
	f.record(t, acts...)
	f.record(t, identify("j1", "a-desk", "u-1", 30, nil), identify("j2", "a-phone", "u-1", 31, nil))
	live := f.lookup(t, identity.AnonymousID("a-desk")).ID
	full := f.history(t, live, HistoryQuery{Limit: MaxHistoryLimit})
	require.Len(t, full, 18)
	for i := 1; i < len(full); i++ {
		require.False(t, full[i].At.After(full[i-1].At), "history is newest first")
	}
	for _, size := range []int{1, 2, 3, 5, 17, 18} {
		require.Equal(t, messageIDs(full), messageIDs(f.history(t, live, HistoryQuery{Limit: size})), "page size %d", size)
	}

	first, err := f.History(ctx, live, HistoryQuery{Limit: 4})
	require.NoError(t, err)
	f.record(t, page("late-new", "a-desk", 40)) // newer than everything: not on later pages
	rest := f.history(t, live, HistoryQuery{Limit: 4, Cursor: first.Next})
	require.Equal(t, messageIDs(full), append(messageIDs(first.Touchpoints), messageIDs(rest)...))

	_, err = f.History(ctx, live, HistoryQuery{Cursor: "not-a-cursor"})
	require.ErrorIs(t, err, ErrBadCursor)
	_, err = f.History(ctx, "prf_nobody", HistoryQuery{})
	require.ErrorIs(t, err, profile.ErrNotFound)
}

// Every event but a purchase expires from the history after the retention time; a replay writes
// no touchpoint twice.
func TestTouchpointTTLOnlyForNonPurchasesAndReplaysWriteOnce(t *testing.T) {
	f := newFixture(t)
	acts := []profile.Activity{page("m1", "a-1", 0), track("m2", "a-1", "", 1), order("m3", "a-1", "", 2)}
	f.record(t, acts...)
	f.record(t, acts...) // replay
	items := f.scan(t, f.tables.Touchpoints)
	require.Len(t, items, 3)
	for _, it := range items {
		id := it["messageId"].(*types.AttributeValueMemberS).Value
		key := it["at"].(*types.AttributeValueMemberS).Value
		require.True(t, strings.HasSuffix(key, "#"+id), key)
		exp, ok := it["expiresAt"]
		if id == "m3" {
			require.False(t, ok, "a purchase never expires")
			continue
		}
		require.True(t, ok, "%s expires", id)
		var when int64
		for i, a := range acts {
			if a.MessageID == id {
				when = at(i).Add(touchTTL).Unix()
			}
		}
		require.Equal(t, strconv.FormatInt(when, 10), exp.(*types.AttributeValueMemberN).Value)
	}
}

// An event older than the history keeps its touchpoint MinTouchpointKeep after it is recorded,
// so that sending it again within that time still counts it once.
func TestOldEventsAreKeptLongEnoughToRecogniseAReplay(t *testing.T) {
	e := localawstest.Reachable(t)
	tables := Tables{
		Profiles:    localawstest.NewTopologyTable(t, topology.ProfileTable),
		Identities:  localawstest.NewTopologyTable(t, topology.IdentityTable),
		Touchpoints: localawstest.NewTopologyTable(t, topology.TouchpointTable),
	}
	// The real clock: what is written must not be expired already, or DynamoDB Local's TTL
	// sweeper could take it during the test.
	recordedAt := time.Now().UTC().Truncate(time.Second)
	s := New(e.Dynamo(), tables, WithClock(func() time.Time { return recordedAt }), WithTouchpointTTL(24*time.Hour))
	f := fixture{Store: s, tables: tables, raw: e.DynamoDBClient()}
	old := page("m1", "a-1", 0) // long before now, far past its 24 h history
	f.record(t, old)
	items := f.scan(t, f.tables.Touchpoints)
	require.Len(t, items, 1)
	require.Equal(t, strconv.FormatInt(recordedAt.Add(MinTouchpointKeep).Unix(), 10), items[0]["expiresAt"].(*types.AttributeValueMemberN).Value)
	require.True(t, f.record(t, old)[0].Duplicate)
}

// Keys sort as the times they hold, whatever their fraction of a second.
func TestTouchKeysSortByTime(t *testing.T) {
	a, b := touchKey(t0, "z"), touchKey(t0.Add(500_000_000), "a")
	require.Less(t, a, b)
	require.Equal(t, "2025-03-01T10:00:00.000000000Z#z", a)
}

func TestPropertiesAreBounded(t *testing.T) {
	small, cut := boundProperties(json.RawMessage(` {"a": 1} `), 64)
	require.False(t, cut)
	require.Equal(t, `{"a":1}`, string(small))

	big := `{"a":"` + strings.Repeat("x", 100) + `","b":2,"c":"` + strings.Repeat("y", 10) + `"}`
	out, cut := boundProperties(json.RawMessage(big), 40)
	require.True(t, cut)
	require.LessOrEqual(t, len(out), 40)
	require.JSONEq(t, `{"b":2,"c":"yyyyyyyyyy"}`, string(out))

	out, cut = boundProperties(json.RawMessage(`[`+strings.Repeat("1,", 50)+`1]`), 40)
	require.True(t, cut)
	require.Nil(t, out)
	out, cut = boundProperties(json.RawMessage(`{oops`), 40)
	require.True(t, cut)
	require.Nil(t, out)
	out, cut = boundProperties(nil, 40)
	require.False(t, cut)
	require.Nil(t, out)
}

// An export holds the live profile, the profiles merged into it, all their identifiers and their
// whole history, whichever of its ids is asked.
func TestExportHoldsEverythingAboutThePerson(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	desk := f.record(t, page("m1", "a-desk", 0), identify("m2", "a-desk", "u-1", 1, map[string]any{"name": "Ann"}))[0].ProfileID
	phone := f.record(t, page("m3", "a-phone", 2))[0].ProfileID
	f.recordClaims(t, identify("m4", "a-phone", "u-1", 3, nil), true, email(1))
	other := f.record(t, page("x1", "a-other", 4))[0].ProfileID

	for _, id := range []string{desk, phone} {
		p, err := f.Export(ctx, id, HistoryQuery{})
		require.NoError(t, err)
		require.Equal(t, desk, p.Profile.ID)
		require.Equal(t, "Ann", p.Profile.Traits["name"])
		require.Equal(t, []string{phone}, p.Merged)
		require.Equal(t, []identity.ID{identity.AnonymousID("a-desk"), identity.AnonymousID("a-phone"), email(1), identity.UserID("u-1")}, p.Identifiers)
		require.Equal(t, []string{"m4", "m3", "m2", "m1"}, messageIDs(p.Touchpoints))
		require.Empty(t, p.Next)
	}
	// A long history comes in pages.
	first, err := f.Export(ctx, phone, HistoryQuery{Limit: 3})
	require.NoError(t, err)
	require.Equal(t, []string{"m4", "m3", "m2"}, messageIDs(first.Touchpoints))
	rest, err := f.Export(ctx, phone, HistoryQuery{Limit: 3, Cursor: first.Next})
	require.NoError(t, err)
	require.Equal(t, []string{"m1"}, messageIDs(rest.Touchpoints))
	require.Empty(t, rest.Next)
	require.Equal(t, first.Identifiers, rest.Identifiers)

	p, err := f.Export(ctx, other, HistoryQuery{})
	require.NoError(t, err)
	require.Equal(t, []string{"x1"}, messageIDs(p.Touchpoints))
	_, err = f.Export(ctx, "prf_nobody", HistoryQuery{})
	require.ErrorIs(t, err, profile.ErrNotFound)
}

// Erasing a person leaves nothing of them in Profiles, Identities or Touchpoints but tombstones
// without a profile; events carrying their identifiers are refused from then on, and the rest of
// the data is untouched.
func TestEraseLeavesNothingBehind(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	desk := f.record(t, page("m1", "a-desk", 0), identify("m2", "a-desk", "u-1", 1, map[string]any{"name": "Ann"}))[0].ProfileID
	phone := f.record(t, page("m3", "a-phone", 2))[0].ProfileID
	f.recordClaims(t, identify("m4", "a-phone", "u-1", 3, nil), true, email(1))
	_, err := f.RecordClaims(ctx, order("m5", "a-phone", "u-1", 4), Claims{Properties: json.RawMessage(`{"order_id":"o-m5"}`)})
	require.NoError(t, err)
	other := f.record(t, page("x1", "a-other", 5))[0].ProfileID

	out, err := f.Erase(ctx, phone) // by the merged id: the whole person goes
	require.NoError(t, err)
	require.Equal(t, Erasure{ProfileID: desk, Profiles: 2, Identifiers: 4, Touchpoints: 5}, out)

	for _, it := range f.scan(t, f.tables.Profiles) {
		if it["profileId"].(*types.AttributeValueMemberS).Value != other {
			requireTombstone(t, it)
		}
	}
	for _, it := range f.scan(t, f.tables.Touchpoints) {
		require.Equal(t, other, it["profileId"].(*types.AttributeValueMemberS).Value, "only the other visitor's history is left")
	}
	tombstones := 0
	for _, it := range f.scan(t, f.tables.Identities) {
		ident := it["identifier"].(*types.AttributeValueMemberS).Value
		if ident == identity.AnonymousID("a-other").String() {
			continue
		}
		tombstones++
		require.Contains(t, it, "erasedAt", ident)
		require.NotContains(t, it, "profileId", ident)
		require.NotContains(t, it, "mergedFrom", ident)
		for _, v := range it {
			if s, ok := v.(*types.AttributeValueMemberS); ok {
				require.NotContains(t, []string{desk, phone}, s.Value, "a tombstone keeps no profile id")
			}
		}
	}
	require.Equal(t, 4, tombstones)

	for _, id := range []string{desk, phone} {
		_, err := f.Profile(ctx, id)
		require.ErrorIs(t, err, profile.ErrNotFound)
		_, err = f.History(ctx, id, HistoryQuery{})
		require.ErrorIs(t, err, profile.ErrNotFound)
		_, err = f.Export(ctx, id, HistoryQuery{})
		require.ErrorIs(t, err, profile.ErrNotFound)
		_, err = f.Erase(ctx, id)
		require.ErrorIs(t, err, profile.ErrNotFound)
	}
	_, err = f.Lookup(ctx, identity.UserID("u-1"))
	require.ErrorIs(t, err, profile.ErrNotFound)

	// Later events carrying any erased identifier are refused, even beside a new one.
	for _, a := range []profile.Activity{page("n1", "a-desk", 10), track("n2", "a-new", "u-1", 11), identify("n3", "a-new2", "", 12, nil)} {
		c := Claims{}
		if a.MessageID == "n3" {
			c = Claims{IDs: []identity.ID{email(1)}, Trusted: true}
		}
		_, err := f.RecordClaims(ctx, a, c)
		require.ErrorIs(t, err, ErrErased, a.MessageID)
	}
	require.Len(t, f.liveProfiles(t), 1, "no profile re-created")
	p, err := f.Profile(ctx, other)
	require.NoError(t, err)
	require.Equal(t, 1, p.Counts.Events)
	require.Len(t, f.liveProfiles(t), 1)
}

// An erasure that stopped after marking the profile is finished by erasing again; recording on
// the marked profile is refused meanwhile.
func TestEraseStoppedHalfWayIsFinished(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	id := f.record(t, page("m1", "a-1", 0), page("m2", "a-1", 1))[0].ProfileID
	require.NoError(t, f.profiles.Update("profileId", id).Set("erasedAt", now).Set("version", 3).Run(ctx))
	_, err := f.Record(ctx, page("m3", "a-1", 2))
	require.ErrorIs(t, err, ErrErased)
	_, err = f.Profile(ctx, id)
	require.ErrorIs(t, err, profile.ErrNotFound)

	out, err := f.Erase(ctx, id)
	require.NoError(t, err)
	require.Equal(t, Erasure{ProfileID: id, Profiles: 1, Identifiers: 1, Touchpoints: 2}, out)
	profiles := f.scan(t, f.tables.Profiles)
	require.Len(t, profiles, 1)
	requireTombstone(t, profiles[0])
	require.Empty(t, f.scan(t, f.tables.Touchpoints))
}

// requireTombstone checks that a profile item holds nothing but its id and when it was erased.
func requireTombstone(t *testing.T, it map[string]types.AttributeValue) {
	t.Helper()
	require.ElementsMatch(t, []string{"profileId", "erasedAt"}, slices.Collect(maps.Keys(it)), "an erased profile leaves only a tombstone")
}
