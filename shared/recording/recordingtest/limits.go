package recordingtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/itemsize"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// A record past the item size limit (DynamoDB's 400 KB) is refused and changes nothing; one well
// under it is kept.
func recordPastTheItemLimitIsRefused(t *testing.T, st recording.Storage) {
	ctx := context.Background()
	absent, err := st.Profile(ctx, "prf_big", true)
	require.NoError(t, err)
	big := aRecord("prf_big")
	big.Profile.Traits = map[string]any{"notes": strings.Repeat("x", 300<<10)}
	require.NoError(t, st.Commit(ctx, put(absent, big)), "300 KB fit")
	got, err := st.Profile(ctx, "prf_big", true)
	require.NoError(t, err)
	huge := got
	huge.Profile.Traits = map[string]any{"notes": strings.Repeat("x", 420<<10)}
	err = st.Commit(ctx, put(got, huge))
	require.ErrorIs(t, err, recording.ErrRejected, "420 KB do not")
	require.True(t, recording.Permanent(err))
	after, err := st.Profile(ctx, "prf_big", true)
	require.NoError(t, err)
	require.Equal(t, 1, after.Version)
	require.Len(t, after.Profile.Traits["notes"], 300<<10)
}

// A flood of identify calls with ever new, large traits, sent in batches as stitch sends them,
// never makes the profile too large to be written: every event is recorded, the traits past their
// bounds are refused with a note, and the profile takes the next event.
func identifyFloodLeavesTheProfileWritable(t *testing.T, ns NewStorage) {
	ctx := context.Background()
	f := New(t, ns)
	var in []recording.Input
	for i := range 40 {
		traits := map[string]any{}
		for j := range 4 {
			traits[fmt.Sprintf("note_%02d_%d", i, j)] = strings.Repeat("x", 7000)
		}
		in = append(in, recording.Input{Activity: Identify(fmt.Sprintf("m%02d", i), "A", "U", i, traits)})
	}
	var out []recording.Outcome
	for k := 0; k < len(in); k += 10 {
		out = append(out, f.Engine.RecordAll(ctx, in[k:k+10])...)
	}
	for _, o := range out {
		require.NoError(t, o.Err)
	}
	noted := 0
	for i, o := range out {
		require.NotEmpty(t, o.TraitNotes, "event %d: its strings are cut", i)
		if strings.Contains(strings.Join(o.TraitNotes, "; "), "refused: the profile's traits would take more than") {
			noted++
		}
	}
	require.Greater(t, noted, 30, "the events past the bound say what they lost")
	r := f.Record(t, Page("after", "A", 100))[0]
	require.Equal(t, 41, r.Profile.Counts.Events, "every event counts")
	stored := f.Stored(t, r.ProfileID)
	require.LessOrEqual(t, profile.TraitsBytes(stored.Profile.Traits), profile.MaxTraitsBytes)
	require.Contains(t, stored.Profile.Traits, "note_00_0", "the first traits are kept")
	require.NoError(t, f.CheckInvariants(ctx))
}

// bigOrder is an order of 40 products with long ids and categories: about 18 KB of lines.
func bigOrder(id, anon, user string, m int) profile.Activity {
	a := Order(id, anon, user, m)
	for j := range 40 {
		a.Products = append(a.Products, profile.Line{ProductID: fmt.Sprintf("%s-%02d-%s", id, j, strings.Repeat("p", 200)),
			Quantity: 1, Price: 1, Category: fmt.Sprintf("%02d-%s", j, strings.Repeat("c", 200))})
	}
	return a
}

// tooLargeToMerge makes two profiles that fit in a record each but not together, even once the
// folded profile has shed what its budget sheds (see profile.Budget): the user's holds a 380 KB
// trait stored before traits were bounded, the visitor's large orders and as many groups, with
// ids as long, as a profile keeps (which are never shed). It returns the visitor's profile id (A)
// and the user's (U).
func tooLargeToMerge(t *testing.T, f Fixture) (anon, user string) {
	t.Helper()
	user = f.Record(t, Identify("u0", "", "U", 0, map[string]any{"plan": "gold"}))[0].ProfileID
	for i := range 8 {
		anon = f.Record(t, bigOrder(fmt.Sprintf("a%02d", i), "A", "", i))[0].ProfileID
	}
	for i := range profile.MaxGroups {
		f.Record(t, profile.Activity{MessageID: fmt.Sprintf("g%02d", i), Type: beacon.Group, AnonymousID: "A", At: At(10 + i), ClientAt: At(10 + i),
			GroupID: long(fmt.Sprintf("g%02d", i), profile.MaxIDLength)})
	}
	f.Rewrite(t, user, func(r *recording.Record) {
		r.Profile.Traits = map[string]any{"plan": "gold", "legacy": strings.Repeat("x", 380<<10)}
		r.Profile.TraitTimes = map[string]time.Time{"plan": At(0), "legacy": At(0)}
	})
	return anon, user
}

// A merge whose folded profile storage refuses (past the item size limit) is undone: the
// identifiers go back, both profiles stay live and as they were, the event fails for good
// (ErrRejected, for the failed-events queue), and asking again fails the same way at once.
func mergeRefusedByStorageIsUndone(t *testing.T, ns NewStorage) {
	ctx := context.Background()
	f := New(t, ns)
	anon, user := tooLargeToMerge(t, f)

	for _, id := range []string{"join1", "join2"} {
		start := time.Now()
		_, err := f.Engine.Record(ctx, Identify(id, "A", "U", 50, nil))
		require.ErrorIs(t, err, recording.ErrRejected, "the merged profile would not fit")
		require.True(t, recording.Permanent(err))
		require.Less(t, time.Since(start), 20*time.Second, "refused at once, no retries")

		require.NoError(t, f.CheckInvariants(ctx))
		for want, ident := range map[string]identity.ID{anon: identity.AnonymousID("A"), user: identity.UserID("U")} {
			e := f.Entry(t, ident)
			require.Equal(t, want, e.ProfileID, "%s went back", ident)
			require.Empty(t, e.MovedFrom)
			r := f.Stored(t, want)
			require.Empty(t, r.MergingInto, "the claim is dropped")
			require.Empty(t, r.Profile.MergedInto)
		}
		require.Len(t, f.Stored(t, anon).Profile.Orders, 8)
		require.Equal(t, 1, f.Stored(t, user).Profile.Counts.Events)
	}
	require.NotContains(t, f.Touchpoints(t), "join1", "the refused event is not in the history")

	// Both profiles take their events as before.
	rs := f.Record(t, Page("p1", "A", 60), Track("t1", "", "U", 61))
	require.Equal(t, anon, rs[0].ProfileID)
	require.Equal(t, user, rs[1].ProfileID)
	require.Equal(t, 9+profile.MaxGroups, rs[0].Profile.Counts.Events)
	require.NoError(t, f.CheckInvariants(ctx))
}

// A merge found half done (a crash after the claim) whose fold storage refuses is undone by the
// event that finds it, which is recorded as if the merge had never begun.
func mergeFoundHalfDoneAndRefusedIsUndone(t *testing.T, ns NewStorage) {
	ctx := context.Background()
	f := New(t, ns)
	anon, user := tooLargeToMerge(t, f)
	f.claimForMerge(t, anon, user, identity.AnonymousID("A"))

	r := f.Record(t, Page("p1", "A", 60))[0]
	require.Equal(t, anon, r.ProfileID, "the event lands where A belongs again")
	require.Empty(t, r.Merged)
	require.Equal(t, 9+profile.MaxGroups, r.Profile.Counts.Events)
	require.Empty(t, f.Entry(t, identity.AnonymousID("A")).MovedFrom)
	require.Empty(t, f.Stored(t, anon).MergingInto)
	require.Equal(t, 1, f.Lookup(t, identity.UserID("U")).Counts.Events)
	require.NoError(t, f.CheckInvariants(ctx))
}

// Large orders keep their lines within a bound, so that they cannot take the profile past what
// storage takes: every one is recorded, and the profile takes the next event.
func largeOrdersLeaveTheProfileWritable(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	for i := range 40 {
		r := f.Record(t, bigOrder(fmt.Sprintf("o%02d", i), "A", "", i))[0]
		require.Equal(t, i+1, r.Profile.OrderCount)
	}
	p := f.Record(t, Page("after", "A", 100))[0].Profile
	require.Equal(t, 41, p.Counts.Events)
	require.Equal(t, 40.0*20, p.Revenue)
	require.Len(t, p.Orders, 40)
	require.NotEmpty(t, p.Orders[39].Lines, "the newest orders list their products")
	require.Empty(t, p.Orders[0].Lines, "the oldest no longer do")
	require.NoError(t, f.CheckInvariants(context.Background()))
}

// long is a string of n bytes that starts with tag: the longest a sender gets through.
func long(tag string, n int) string { return tag + strings.Repeat("x", n-len(tag)) }

// hostileEvents fill every growing part of device anon's profile with the longest strings their
// bounds let through, as a sender with a public write key can: 64 KB of traits, products and
// categories with 256-byte ids viewed, carted and bought, forms, email opens of their own
// campaigns, then page views each with its own 256-byte campaign tags and path. They are a
// minute apart from minute m.
func hostileEvents(anon string, m int) []profile.Activity {
	var out []profile.Activity
	add := func(a profile.Activity) {
		m++
		a.MessageID, a.AnonymousID, a.At, a.ClientAt = fmt.Sprintf("%s-%d", anon, m), anon, At(m), At(m)
		out = append(out, a)
	}
	for i := range profile.MaxTraits / 5 {
		traits := map[string]any{}
		for j := range 5 {
			traits[long(fmt.Sprintf("%s-%d-%d", anon, i, j), profile.MaxTraitName)] = long("v", profile.MaxTraitString)
		}
		add(profile.Activity{Type: beacon.Identify, Traits: traits})
	}
	for i := range profile.MaxProducts {
		line := []profile.Line{{ProductID: long(fmt.Sprintf("%s-p%d", anon, i), profile.MaxPageLength), Quantity: 1, Price: 9.99,
			Category: long(fmt.Sprintf("%s-c%d", anon, i), profile.MaxPageLength)}}
		add(profile.Activity{Type: beacon.Track, Event: "Product Viewed", Products: line})
		add(profile.Activity{Type: beacon.Track, Event: "Product Added", Products: line})
		add(profile.Activity{Type: beacon.Track, Event: "Order Completed", Products: line, Revenue: 10,
			OrderID: long(fmt.Sprintf("%s-o%d", anon, i), profile.MaxPageLength)})
		add(profile.Activity{Type: beacon.Track, Event: "Product Added", Products: line})
	}
	for i := range profile.MaxForms {
		add(profile.Activity{Type: beacon.Track, Event: "Form Started", FormID: long(fmt.Sprintf("%s-f%d", anon, i), profile.MaxPageLength)})
	}
	for i := range profile.MaxImpressionGroups {
		add(profile.Activity{Type: beacon.Track, Event: "Email Opened", Impression: profile.ImpressionOpen, Channel: beacon.ChannelEmail,
			Campaign: profile.Campaign{Name: long(fmt.Sprintf("%s-e%d", anon, i), profile.MaxPageLength)}})
	}
	for i := range profile.MaxHits {
		add(profile.Activity{Type: beacon.Page, Page: long(fmt.Sprintf("/%s/%d", anon, i), profile.MaxPageLength), Channel: beacon.ChannelPaidSearch,
			Campaign: profile.Campaign{Source: long(fmt.Sprintf("%s-s%d", anon, i), profile.MaxPageLength), Medium: long("m", profile.MaxPageLength),
				Name: long("n", profile.MaxPageLength), ClickID: long("c", profile.MaxPageLength)}})
	}
	return out
}

// recordHostile records device anon's hostile events in batches of 50, as stitch sends them,
// and requires every one recorded.
func (f Fixture) recordHostile(t *testing.T, anon string, m int) string {
	t.Helper()
	in := hostileEvents(anon, m)
	var id string
	for k := 0; k < len(in); k += 50 {
		var batch []recording.Input
		for _, a := range in[k:min(k+50, len(in))] {
			batch = append(batch, recording.Input{Activity: a})
		}
		for i, o := range f.Engine.RecordAll(context.Background(), batch) {
			require.NoError(t, o.Err, "event %d of %s", k+i, anon)
			id = o.Result.ProfileID
		}
	}
	return id
}

// requireWritable requires a stored profile within its budget, and so well under the item limit.
func (f Fixture) requireWritable(t *testing.T, id string) recording.Record {
	t.Helper()
	r := f.Stored(t, id)
	require.LessOrEqual(t, r.Profile.Size(), profile.MaxProfileBytes)
	size, err := itemsize.Estimate(r, itemsize.MaxItemBytes)
	require.NoError(t, err)
	require.Less(t, size, itemsize.MaxItemBytes-(64<<10), "the record leaves room under the item limit")
	return r
}

// A hostile sender filling every part of a profile with the longest strings it takes cannot make
// it unwritable: every event is recorded, the profile stays within its budget, and the real
// customer's next page view is recorded as the latest activity.
func hostileProfileStaysWritable(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	id := f.recordHostile(t, "A", 0)
	before := f.requireWritable(t, id)

	r := f.Record(t, Page("after", "A", 2000))[0]
	require.Equal(t, id, r.ProfileID)
	require.Equal(t, before.Profile.Counts.Events+1, r.Profile.Counts.Events)
	last := r.Profile.Hits[len(r.Profile.Hits)-1]
	require.True(t, last.At.Equal(At(2000)) && last.PageView, "the page view is the latest hit")
	require.Equal(t, before.Profile.Visits+1, r.Profile.Visits, "and a visit of its own")
	stored := f.requireWritable(t, id)
	require.Equal(t, profile.MaxProducts, stored.Profile.OrderCount, "orders shed stay counted")
	require.NoError(t, f.CheckInvariants(context.Background()))
}

// Two maximal profiles fold into one that stays writable: the identify that joins them is
// recorded and the merged profile keeps the counts of both.
func foldOfMaximalProfilesStaysWritable(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	a := f.recordHostile(t, "A", 0)
	b := f.recordHostile(t, "B", 1)
	ra, rb := f.Stored(t, a), f.Stored(t, b)

	rs := f.Record(t, Identify("join-a", "A", "U", 2000, nil), Identify("join-b", "B", "U", 2001, nil))
	require.Equal(t, rs[0].ProfileID, rs[1].ProfileID, "one person")
	merged := f.requireWritable(t, rs[1].ProfileID)
	require.Equal(t, ra.Profile.Counts.Events+rb.Profile.Counts.Events+2, merged.Profile.Counts.Events)
	require.Equal(t, ra.Profile.Visits+rb.Profile.Visits, merged.Profile.Visits)
	require.Equal(t, 2*profile.MaxProducts, merged.Profile.OrderCount)
	require.NoError(t, f.CheckInvariants(context.Background()))
}
