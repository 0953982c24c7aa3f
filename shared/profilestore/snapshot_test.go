package profilestore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/recording/recordingtest"
)

// The snapshot's reads, over a few people: one merged into another, one erased, one with a user id
// an alias linked.
func TestSnapshotReads(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	sum := sha256.Sum256([]byte("ann@example.com"))
	email, err := identity.NewID(identity.EmailSHA256, hex.EncodeToString(sum[:]))
	require.NoError(t, err)
	anon := f.Record(t, recordingtest.Page("m1", "a-anon", 0))[0].ProfileID
	ann := f.Record(t, recordingtest.Identify("m2", "a-ann", "ann", 1, nil))[0].ProfileID
	f.RecordClaims(t, recordingtest.Track("m3", "a-ann", "ann", 2), true, email)
	f.Record(t, recordingtest.Track("m4", "a-anon", "ann", 3), recordingtest.Alias("m5", "ann", "ann-2", 4))
	gone := f.Record(t, recordingtest.Identify("m6", "a-bob", "bob", 5, nil))[0].ProfileID
	_, err = f.Erase(ctx, gone)
	require.NoError(t, err)
	require.Equal(t, ann, f.Lookup(t, identity.AnonymousID("a-anon")).ID, "the anonymous profile joined ann's")

	// Live profiles only, as records with their claimed identifiers and the profiles merged in.
	var live []recording.Record
	for seg := range 3 {
		require.NoError(t, f.store.ScanRecords(ctx, seg, 3, func(_ context.Context, r recording.Record) (bool, error) {
			live = append(live, r)
			return true, nil
		}, func(id string, err error) { t.Errorf("%s unreadable: %v", id, err) }))
	}
	require.Len(t, live, 1)
	require.Equal(t, ann, live[0].Profile.ID)
	require.Equal(t, []identity.ID{email}, live[0].Claimed)
	require.Equal(t, []string{anon}, live[0].Profile.MergedFrom)
	require.ElementsMatch(t, []string{"a-ann", "a-anon"}, live[0].Profile.AnonymousIDs)

	links, err := f.store.Links(ctx, []string{ann, anon, gone, "prf_nobody", ann})
	require.NoError(t, err)
	require.Equal(t, map[string]Link{
		ann:          {Found: true, UserID: "ann"},
		anon:         {Found: true, UserID: "", MergedInto: ann},
		gone:         {Found: true, Erased: true},
		"prf_nobody": {},
	}, links)
	none, err := f.store.Links(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, none)

	// The user ids, each once across the segments; no tombstone, no other kind.
	var users []string
	for seg := range 4 {
		require.NoError(t, f.store.ScanEntries(ctx, seg, 4, identity.User, func(_ context.Context, e recording.Entry) (bool, error) {
			require.Equal(t, identity.User, e.ID.Kind)
			require.Equal(t, ann, e.ProfileID)
			users = append(users, e.ID.Value)
			return true, nil
		}))
	}
	slices.Sort(users)
	require.Equal(t, []string{"ann", "ann-2"}, users, "bob's user id is a tombstone now")
	n := 0
	require.NoError(t, f.store.ScanEntries(ctx, 0, 1, identity.User, func(context.Context, recording.Entry) (bool, error) {
		n++
		return false, nil
	}))
	require.Equal(t, 1, n, "fn stops the scan")
}
