package recordingtest

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/trigger"
)

// Storage checks that an implementation of the port keeps the guarantees written on it, each
// check on a fresh storage.
func Storage(t *testing.T, newStorage NewStorage) {
	tests := map[string]func(*testing.T, recording.Storage){
		"PutOnlyAtTheVersionRead":         putOnlyAtTheVersionRead,
		"CommitIsAllOrNothing":            commitIsAllOrNothing,
		"ClaimOnlyIfAbsent":               claimOnlyIfAbsent,
		"MoveOnlyWhereExpected":           moveOnlyWhereExpected,
		"TombstonesHoldNothingPersonal":   tombstonesHoldNothingPersonal,
		"SnapshotsReadAsSingleReadsDo":    snapshotsReadAsSingleReadsDo,
		"HistoryAppendsFindsPagesDeletes": historyAppendsFindsPagesDeletes,
		"DueListsWhatIsDue":               dueListsWhatIsDue,
		"RecordPastTheItemLimitIsRefused": recordPastTheItemLimitIsRefused,
	}
	for _, name := range sortedKeys(tests) {
		t.Run(name, func(t *testing.T) { tests[name](t, newStorage(t)) })
	}
}

// aRecord is a record with every field the engine writes set.
func aRecord(id string) recording.Record {
	p := profile.Apply(profile.Profile{ID: id}, Identify("m1", "A", "U", 0, map[string]any{"plan": "gold", "age": 41.0}),
		[]identity.ID{identity.AnonymousID("A"), identity.UserID("U")})
	p = profile.Apply(p, Cart("m2", "A", "tent", 1), nil)
	p.Consent = map[string]profile.Consent{profile.PurposeMarketing: {Granted: true, At: At(1), Source: "banner"}}
	p.MergedFrom, p.UpdatedAt = []string{"prf_old"}, At(2)
	return recording.Record{
		Profile: p, Claimed: []identity.ID{Email(1)}, Recent: recording.Recent{1, 2, 3, 4, 5, 6, 7, 8}, HighWater: "2026-01-01T00:00:00.000000000Z#m2",
		MergedWater: "2025-12-31T00:00:00.000000000Z$",
		Cause:       recording.Cause{MessageID: "m9", Via: identity.AnonymousID("A"), Trusted: true}, SplitFrom: []string{"prf_x"},
		SplitAt: At(3), Fired: trigger.State{{Kind: trigger.AbandonedForm, Key: "k", At: At(4)}}, DueAt: At(90),
	}
}

func put(base, next recording.Record) recording.Change {
	return recording.Change{Puts: []recording.Put{{Base: base, Next: next}}}
}

func putOnlyAtTheVersionRead(t *testing.T, st recording.Storage) {
	ctx := context.Background()
	absent, err := st.Profile(ctx, "prf_1", true)
	require.NoError(t, err)
	require.Equal(t, recording.Record{Profile: profile.Profile{ID: "prf_1"}}, absent, "never written: version 0")

	want := aRecord("prf_1")
	require.NoError(t, st.Commit(ctx, put(absent, want)))
	got, err := st.Profile(ctx, "prf_1", true)
	require.NoError(t, err)
	want.Version = 1
	require.Equal(t, Canonical(want), Canonical(got), "what was put is read back")

	require.ErrorIs(t, st.Commit(ctx, put(absent, want)), recording.ErrConflict, "a put for an absent profile on a written one")
	next := got
	next.Profile.Traits = map[string]any{"plan": "silver"}
	next.ErasedAt, next.Erasure = At(4), recording.Progress{Profiles: 1, Identifiers: 2, Touchpoints: 3}
	require.NoError(t, st.Commit(ctx, put(got, next)))
	require.ErrorIs(t, st.Commit(ctx, put(got, next)), recording.ErrConflict, "a put at a version no longer stored")
	again, err := st.Profile(ctx, "prf_1", false)
	require.NoError(t, err)
	require.Equal(t, 2, again.Version)
	require.Equal(t, map[string]any{"plan": "silver"}, again.Profile.Traits)
	require.Equal(t, next.Erasure, again.Erasure, "an erasure's progress is kept")
	require.Equal(t, At(4), again.ErasedAt.UTC())

	// Empty fields are read back empty.
	cleared := again
	cleared.Claimed, cleared.Recent, cleared.SplitFrom, cleared.Fired, cleared.DueAt = nil, nil, nil, nil, time.Time{}
	cleared.Cause, cleared.SplitAt, cleared.Profile.Consent, cleared.Profile.Traits = recording.Cause{}, time.Time{}, nil, nil
	cleared.ErasedAt, cleared.Erasure = time.Time{}, recording.Progress{}
	require.NoError(t, st.Commit(ctx, put(again, cleared)))
	got, err = st.Profile(ctx, "prf_1", true)
	require.NoError(t, err)
	cleared.Version = 3
	require.Equal(t, Canonical(cleared), Canonical(got))

	done := recording.Progress{Profiles: 2, Identifiers: 5, Touchpoints: 9, CompletedAt: At(6)}
	require.NoError(t, st.Bury(ctx, "prf_1", At(5), done))
	tomb, err := st.Profile(ctx, "prf_1", true)
	require.NoError(t, err)
	RequireTombstone(t, tomb)
	require.Equal(t, Canonical(done), Canonical(tomb.Erasure), "a tombstone keeps the counts of the erasure")
	require.ErrorIs(t, st.Commit(ctx, put(absent, want)), recording.ErrConflict, "a tombstone is not absent")
}

func commitIsAllOrNothing(t *testing.T, st recording.Storage) {
	ctx := context.Background()
	a, b := recording.Record{Profile: profile.Profile{ID: "prf_a"}}, recording.Record{Profile: profile.Profile{ID: "prf_b"}}
	require.NoError(t, st.Commit(ctx, put(a, aRecord("prf_a"))))
	require.NoError(t, st.Claim(ctx, identity.AnonymousID("A"), "prf_a", At(0)))
	storedA, err := st.Profile(ctx, "prf_a", true)
	require.NoError(t, err)

	// A put at a stale version spoils the commit: neither the other put nor the move is made.
	stale := storedA
	stale.Version = 7
	c := recording.Change{
		Puts:  []recording.Put{{Base: b, Next: aRecord("prf_b")}, {Base: stale, Next: storedA}},
		Moves: []recording.Move{{ID: identity.AnonymousID("A"), From: "prf_a", To: "prf_b", At: At(1)}},
	}
	require.ErrorIs(t, st.Commit(ctx, c), recording.ErrConflict)
	nb, err := st.Profile(ctx, "prf_b", true)
	require.NoError(t, err)
	require.Zero(t, nb.Version)
	e, _, err := st.Entry(ctx, identity.AnonymousID("A"), true)
	require.NoError(t, err)
	require.Equal(t, "prf_a", e.ProfileID)

	// A move whose identifier is elsewhere spoils it too.
	c.Puts[1].Base = storedA
	c.Moves[0].From = "prf_z"
	require.ErrorIs(t, st.Commit(ctx, c), recording.ErrConflict)
	nb, err = st.Profile(ctx, "prf_b", true)
	require.NoError(t, err)
	require.Zero(t, nb.Version)

	// All conditions hold: everything is written.
	c.Moves[0].From = "prf_a"
	require.NoError(t, st.Commit(ctx, c))
	nb, err = st.Profile(ctx, "prf_b", true)
	require.NoError(t, err)
	require.Equal(t, 1, nb.Version)
	na, err := st.Profile(ctx, "prf_a", true)
	require.NoError(t, err)
	require.Equal(t, 2, na.Version)
	e, _, err = st.Entry(ctx, identity.AnonymousID("A"), true)
	require.NoError(t, err)
	require.Equal(t, recording.Entry{ID: identity.AnonymousID("A"), ProfileID: "prf_b", CreatedAt: At(0), UpdatedAt: At(1)}, e)
}

func claimOnlyIfAbsent(t *testing.T, st recording.Storage) {
	ctx := context.Background()
	_, found, err := st.Entry(ctx, Email(1), true)
	require.NoError(t, err)
	require.False(t, found)
	require.NoError(t, st.Claim(ctx, Email(1), "prf_1", At(0)))
	require.ErrorIs(t, st.Claim(ctx, Email(1), "prf_2", At(1)), recording.ErrConflict, "the first claim wins")
	e, found, err := st.Entry(ctx, Email(1), false)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, recording.Entry{ID: Email(1), ProfileID: "prf_1", CreatedAt: At(0)}, e)
}

func moveOnlyWhereExpected(t *testing.T, st recording.Storage) {
	ctx := context.Background()
	id := identity.AnonymousID("A")
	entry := func() recording.Entry {
		e, _, err := st.Entry(ctx, id, true)
		require.NoError(t, err)
		return e
	}
	require.ErrorIs(t, st.Move(ctx, recording.Move{ID: id, From: "prf_1", To: "prf_2", AnyMark: true, At: At(1)}), recording.ErrConflict, "no entry")
	require.NoError(t, st.Claim(ctx, id, "prf_1", At(0)))
	require.ErrorIs(t, st.Move(ctx, recording.Move{ID: id, From: "prf_9", To: "prf_2", AnyMark: true, At: At(1)}), recording.ErrConflict, "elsewhere")

	// A merge moves it, marked.
	require.NoError(t, st.Move(ctx, recording.Move{ID: id, From: "prf_1", To: "prf_2", Mark: "prf_1", AnyMark: true, At: At(1)}))
	require.Equal(t, recording.Entry{ID: id, ProfileID: "prf_2", MovedFrom: "prf_1", CreatedAt: At(0), UpdatedAt: At(1)}, entry())
	require.ErrorIs(t, st.Move(ctx, recording.Move{ID: id, From: "prf_2", To: "prf_3", At: At(2)}), recording.ErrConflict, "marked, but no mark expected")
	require.ErrorIs(t, st.Move(ctx, recording.Move{ID: id, From: "prf_2", To: "prf_3", IfMark: "prf_x", At: At(2)}), recording.ErrConflict, "another mark expected")
	require.ErrorIs(t, st.Move(ctx, recording.Move{ID: id, From: "prf_2", To: "prf_2", IfMark: "prf_x", At: At(2)}), recording.ErrConflict, "another mark")
	require.NoError(t, st.Move(ctx, recording.Move{ID: id, From: "prf_2", To: "prf_1", IfMark: "prf_1", At: At(3)}), "moved back")
	require.Equal(t, recording.Entry{ID: id, ProfileID: "prf_1", CreatedAt: At(0), UpdatedAt: At(3)}, entry())
	require.ErrorIs(t, st.Move(ctx, recording.Move{ID: id, From: "prf_1", To: "prf_1", IfMark: "prf_9", At: At(3)}), recording.ErrConflict, "no such mark left")

	require.NoError(t, st.Move(ctx, recording.Move{ID: id, From: "prf_1", To: "prf_2", Mark: "prf_1", AnyMark: true, At: At(4)}))
	require.ErrorIs(t, st.Move(ctx, recording.Move{ID: id, From: "prf_9", To: "prf_9", IfMark: "prf_1", At: At(4)}), recording.ErrConflict, "the mark is cleared only where expected")
	require.NoError(t, st.Move(ctx, recording.Move{ID: id, From: "prf_2", To: "prf_2", IfMark: "prf_1", At: At(4)}), "the mark cleared in place")
	require.Equal(t, recording.Entry{ID: id, ProfileID: "prf_2", CreatedAt: At(0), UpdatedAt: At(4)}, entry())
	require.NoError(t, st.Move(ctx, recording.Move{ID: id, From: "prf_2", To: "prf_3", At: At(5)}), "no mark, none expected")
	require.Equal(t, "prf_3", entry().ProfileID)
}

func tombstonesHoldNothingPersonal(t *testing.T, st recording.Storage) {
	ctx := context.Background()
	id := identity.UserID("U")
	require.NoError(t, st.Claim(ctx, id, "prf_1", At(0)))
	require.ErrorIs(t, st.Tombstone(ctx, id, "sealed-U", At(5), "prf_2"), recording.ErrConflict, "it points elsewhere")
	sealed, err := st.Tombstoned(ctx, "sealed-U")
	require.NoError(t, err)
	require.False(t, sealed, "a tombstone refused is not written")
	require.NoError(t, st.Tombstone(ctx, id, "sealed-U", At(5), "prf_1"))
	_, found, err := st.Entry(ctx, id, true)
	require.NoError(t, err)
	require.False(t, found, "the identifier's entry is gone with the tombstone")
	sealed, err = st.Tombstoned(ctx, "sealed-U")
	require.NoError(t, err)
	require.True(t, sealed)
	require.ErrorIs(t, st.Tombstone(ctx, Email(1), "sealed-E", At(6), "prf_1"), recording.ErrConflict, "no entry: not where it is expected")
	require.NoError(t, st.Tombstone(ctx, Email(1), "sealed-E", At(6), ""), "without a condition, even where there was nothing")
	require.NoError(t, st.Claim(ctx, Phone(1), "prf_1", At(7)))
	var all []recording.Entry
	require.NoError(t, st.EachEntry(ctx, func(e recording.Entry) error { all = append(all, e); return nil }))
	require.ElementsMatch(t, []any{
		Canonical(recording.Entry{Sealed: "sealed-U", ErasedAt: At(5)}), Canonical(recording.Entry{Sealed: "sealed-E", ErasedAt: At(6)}),
		Canonical(recording.Entry{ID: Phone(1), ProfileID: "prf_1", CreatedAt: At(7)}),
	}, canonicals(all), "tombstones hold their sealed form and time, nothing else")

	lifted, err := st.Lift(ctx, "sealed-U")
	require.NoError(t, err)
	require.True(t, lifted)
	lifted, err = st.Lift(ctx, "sealed-U")
	require.NoError(t, err)
	require.False(t, lifted, "lifted already")
	sealed, err = st.Tombstoned(ctx, "sealed-U")
	require.NoError(t, err)
	require.False(t, sealed)
	require.NoError(t, st.Claim(ctx, id, "prf_3", At(8)), "a lifted identifier can be claimed again")
}

func snapshotsReadAsSingleReadsDo(t *testing.T, st recording.Storage) {
	ctx := context.Background()
	written := aRecord("prf_1")
	require.NoError(t, st.Commit(ctx, put(recording.Record{Profile: profile.Profile{ID: "prf_1"}}, written)))
	require.NoError(t, st.Claim(ctx, identity.UserID("U"), "prf_1", At(1)))
	require.NoError(t, st.Claim(ctx, Email(2), "prf_1", At(2)))
	require.NoError(t, st.Tombstone(ctx, Email(3), "sealed-3", At(3), ""))

	// Many ids, each once or twice (a batch names an identifier again and again), some absent.
	ids := []string{"prf_1", "prf_absent", "prf_1"}
	for i := range 150 {
		ids = append(ids, fmt.Sprintf("prf_none_%d", i))
	}
	recs, err := st.Records(ctx, ids)
	require.NoError(t, err)
	require.Len(t, recs, 152, "one record per distinct id, past one request's worth of keys")
	one, err := st.Profile(ctx, "prf_1", true)
	require.NoError(t, err)
	require.Equal(t, Canonical(one), Canonical(recs["prf_1"]))
	require.Equal(t, "2026-01-01T00:00:00.000000000Z#m2", recs["prf_1"].HighWater, "the high-water mark is kept")
	require.Equal(t, "2025-12-31T00:00:00.000000000Z$", recs["prf_1"].MergedWater, "and the merged histories' mark")
	require.Equal(t, recording.Record{Profile: profile.Profile{ID: "prf_absent"}}, recs["prf_absent"], "never written: version 0")

	entries, tombstoned, err := st.Entries(ctx,
		[]identity.ID{identity.UserID("U"), Email(2), Email(3), identity.AnonymousID("nobody"), identity.UserID("U")},
		[]string{"sealed-3", "sealed-4", "sealed-3"})
	require.NoError(t, err)
	require.Len(t, entries, 2, "the entries that exist")
	for _, id := range []identity.ID{identity.UserID("U"), Email(2)} {
		e, found, err := st.Entry(ctx, id, true)
		require.NoError(t, err)
		require.True(t, found)
		require.Equal(t, Canonical(e), Canonical(entries[id]))
	}
	require.Equal(t, map[string]bool{"sealed-3": true}, tombstoned, "the tombstones that exist")
}

func historyAppendsFindsPagesDeletes(t *testing.T, st recording.Storage) {
	ctx := context.Background()
	r := history.Retention{TTL: Retention}
	timed := Page("m1", "A", 0)
	untimed := Track("m2", "A", "", 1)
	untimed.ClientAt = time.Time{}
	purchase := Order("m3", "A", "", 2)
	tps := []history.Touchpoint{
		r.Touchpoint("prf_1", timed, nil, Now),
		r.Touchpoint("prf_1", untimed, json.RawMessage(`{"a": 1}`), Now),
		r.Touchpoint("prf_1", purchase, nil, Now),
		r.Touchpoint("prf_2", Page("m4", "B", 1), nil, Now),
	}
	require.NoError(t, st.Append(ctx, tps, []history.Receipt{r.Receipt(untimed, Now)}))
	require.NoError(t, st.Append(ctx, tps[:1], nil), "appending again changes nothing")

	found, err := st.Recorded(ctx, []history.Key{tps[0].Key(), {ProfileID: "prf_2", Sort: tps[0].Sort}, tps[3].Key()}, []string{"m2", "m1"})
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"m1": true, "m2": true, "m4": true}, found)

	all, err := st.Touchpoints(ctx, "prf_1", nil, "", 0)
	require.NoError(t, err)
	require.Equal(t, []string{"m3", "m2", "m1"}, MessageIDs(all), "newest first")
	for i, want := range []history.Touchpoint{tps[2], tps[1], tps[0]} {
		require.Equal(t, Canonical(want), Canonical(all[i]), "read back as written")
	}
	require.Equal(t, timed.MessageID, all[2].Activity.MessageID, "the activity is kept")
	tracks, err := st.Touchpoints(ctx, "prf_1", nil, beacon.Track, 0)
	require.NoError(t, err)
	require.Equal(t, []string{"m3", "m2"}, MessageIDs(tracks))
	purchases, err := st.Touchpoints(ctx, "prf_1", nil, history.Purchases, 0)
	require.NoError(t, err)
	require.Equal(t, []string{"m3"}, MessageIDs(purchases))
	after := history.Cursor(all[0].Key())
	page, err := st.Touchpoints(ctx, "prf_1", &after, "", 1)
	require.NoError(t, err)
	require.Equal(t, []string{"m2"}, MessageIDs(page), "after the cursor, at most the limit")

	n, err := st.Delete(ctx, []history.Key{tps[0].Key(), tps[1].Key()})
	require.NoError(t, err)
	require.Equal(t, 2, n)
	left, err := st.Touchpoints(ctx, "prf_1", nil, "", 0)
	require.NoError(t, err)
	require.Equal(t, []string{"m3"}, MessageIDs(left))
}

func dueListsWhatIsDue(t *testing.T, st recording.Storage) {
	ctx := context.Background()
	for i, id := range []string{"prf_1", "prf_2", "prf_3"} {
		r := recording.Record{Profile: profile.Profile{ID: id}}
		next := r
		if i < 2 {
			next.DueAt = At(10 * (i + 1))
		}
		require.NoError(t, st.Commit(ctx, put(r, next)))
	}
	due := func(now time.Time) []string {
		var ids []string
		require.NoError(t, st.Due(ctx, now, func(_ context.Context, id string) error { ids = append(ids, id); return nil }))
		return ids
	}
	require.Empty(t, due(At(9)))
	require.Equal(t, []string{"prf_1"}, due(At(10)))
	require.ElementsMatch(t, []string{"prf_1", "prf_2"}, due(At(60)))

	r, err := st.Profile(ctx, "prf_1", true)
	require.NoError(t, err)
	out := r
	out.DueAt = time.Time{}
	require.NoError(t, st.Commit(ctx, put(r, out)))
	require.Equal(t, []string{"prf_2"}, due(At(60)), "out of the index")
}

func canonicals[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = Canonical(x)
	}
	return out
}
