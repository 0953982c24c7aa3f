package profilestore

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// A wrong merge (a shared device logged in as someone else's account) is explained by the merge
// log and undone by a split: each profile gets back its identifiers and its events, nothing is
// lost or counted twice, the two never merge again, and replays change nothing.
func TestSplitUndoesAMergeWithoutLosingEvents(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	acts := []profile.Activity{
		page("m1", "A1", 0), identify("m2", "A1", "U", 1, map[string]any{"plan": "gold"}),
		page("m3", "A2", 2), order("m4", "A2", "", 3),
		identify("m5", "A2", "U", 4, map[string]any{"plan": "platinum"}), // the wrong login
		page("m6", "A2", 5), // through the shared device, on the user's profile now
		track("m7", "", "U", 6),
	}
	rs := f.record(t, acts...)
	user, device := rs[0].ProfileID, rs[2].ProfileID
	require.Equal(t, []string{device}, rs[4].Merged)
	log, err := f.Merges(ctx, user)
	require.NoError(t, err)
	require.Len(t, log, 1)
	require.Equal(t, Merge{From: device, Into: user, At: now, MessageID: "m5", Via: "anonymousId:A2"}, log[0])

	out, err := f.Split(ctx, user, device)
	require.NoError(t, err)
	require.Equal(t, Separation{ProfileID: user, SplitID: device, Identifiers: 1, Touchpoints: 1}, out)
	require.NoError(t, f.CheckInvariants(ctx))

	u, d := f.lookup(t, identity.UserID("U")), f.lookup(t, identity.AnonymousID("A2"))
	require.Equal(t, user, u.ID)
	require.Equal(t, device, d.ID, "the device resolves to its own profile again")
	require.Equal(t, []string{"A1"}, u.AnonymousIDs)
	require.Equal(t, []string{"A2"}, d.AnonymousIDs)
	require.Empty(t, u.MergedFrom)
	require.Equal(t, profile.Counts{Events: 4, PageViews: 1, Tracks: 1, Identifies: 2}, u.Counts, "m1, m2, the login m5 and m7")
	require.Equal(t, profile.Counts{Events: 3, PageViews: 2, Tracks: 1}, d.Counts, "m3, m4 and m6")
	require.Equal(t, 1, d.OrderCount, "the order goes back with the device")
	require.Zero(t, u.OrderCount)
	require.Equal(t, "platinum", u.Traits["plan"], "the login's traits stay with the user")
	require.Equal(t, []string{"m6", "m4", "m3"}, messageIDs(f.history(t, device, HistoryQuery{Limit: 10})))
	require.Equal(t, []string{"m7", "m5", "m2", "m1"}, messageIDs(f.history(t, user, HistoryQuery{Limit: 10})))
	log, err = f.Merges(ctx, user)
	require.NoError(t, err)
	require.Empty(t, log)

	// The same login again does not merge them: the event goes to the user, the device stays.
	again := f.record(t, identify("m8", "A2", "U", 7, nil))[0]
	require.Equal(t, user, again.ProfileID)
	require.Empty(t, again.Merged)
	require.Equal(t, device, f.lookup(t, identity.AnonymousID("A2")).ID)

	before := f.stored(t)
	for i, r := range f.record(t, append(acts, identify("m8", "A2", "U", 7, nil))...) {
		require.True(t, r.Duplicate, "event %d recorded twice after the split", i)
	}
	require.Equal(t, before, f.stored(t), "a replay after the split changed stored items")

	// Splitting again finishes nothing more; a profile that was never merged cannot be split.
	out, err = f.Split(ctx, user, device)
	require.NoError(t, err)
	require.Zero(t, out.Touchpoints)
	_, err = f.Split(ctx, device, user)
	require.ErrorIs(t, err, ErrNotMerged)
}
