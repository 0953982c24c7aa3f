package recordingtest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/identity"
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

// tooLargeToMerge makes two profiles that fit in a record each but not together: the user's
// holds a 350 KB trait stored before traits were bounded, the visitor's the lines of large
// orders. It returns the visitor's profile id (A) and the user's (U).
func tooLargeToMerge(t *testing.T, f Fixture) (anon, user string) {
	t.Helper()
	user = f.Record(t, Identify("u0", "", "U", 0, map[string]any{"plan": "gold"}))[0].ProfileID
	for i := range 8 {
		anon = f.Record(t, bigOrder(fmt.Sprintf("a%02d", i), "A", "", i))[0].ProfileID
	}
	f.Rewrite(t, user, func(r *recording.Record) {
		r.Profile.Traits = map[string]any{"plan": "gold", "legacy": strings.Repeat("x", 350<<10)}
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
	require.Equal(t, 9, rs[0].Profile.Counts.Events)
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
	require.Equal(t, 9, r.Profile.Counts.Events)
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
