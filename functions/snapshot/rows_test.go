package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
)

func emailID(t *testing.T, address string) identity.ID {
	t.Helper()
	sum := sha256.Sum256([]byte(address))
	id, err := identity.NewID(identity.EmailSHA256, hex.EncodeToString(sum[:]))
	require.NoError(t, err)
	return id
}

func TestProfileRows(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 6, 9, 30, 0, 0, time.UTC)
	email := emailID(t, "ann@example.com")
	crm, err := identity.ExternalID("crm_id", "c-7")
	require.NoError(t, err)
	r := recording.Record{
		Profile: profile.Profile{ID: "prf_ann", UserID: "ann", AnonymousIDs: []string{"a-1", "a-2"}, MergedFrom: []string{"prf_old", "prf_older"},
			FirstSeen: at, LastSeen: at, Traits: map[string]any{"plan": "gold"}},
		Claimed: []identity.ID{email, crm},
	}
	p, ids, merges := profileRows(r)
	require.Equal(t, archive.FromProfile(r.Profile), p)
	require.Equal(t, "prf_ann", p.ProfileID)
	require.Equal(t, []archive.Identifier{
		{ProfileID: "prf_ann", Kind: "userId", Value: "ann"},
		{ProfileID: "prf_ann", Kind: "anonymousId", Value: "a-1"},
		{ProfileID: "prf_ann", Kind: "anonymousId", Value: "a-2"},
		{ProfileID: "prf_ann", Kind: "emailSha256", Value: email.Value},
		{ProfileID: "prf_ann", Kind: "externalId", Value: "crm_id:c-7"},
	}, ids)
	require.Len(t, email.Value, 64, "an email only as its hash")
	require.Equal(t, []archive.Merge{{MergedID: "prf_old", ProfileID: "prf_ann"}, {MergedID: "prf_older", ProfileID: "prf_ann"}}, merges,
		"every profile merged in, at any remove, to the live one")

	_, ids, merges = profileRows(recording.Record{Profile: profile.Profile{ID: "prf_anon", AnonymousIDs: []string{"a-9"}, MergedFrom: []string{"prf_anon", ""}}})
	require.Equal(t, []archive.Identifier{{ProfileID: "prf_anon", Kind: "anonymousId", Value: "a-9"}}, ids)
	require.Empty(t, merges, "never itself, never an empty id")
}

func TestLinkedUserID(t *testing.T) {
	t.Parallel()
	live := end{ID: "prf_ann", UserID: "ann", fate: alive}
	row, ok := linkedUserID(identity.UserID("ann-2"), live)
	require.True(t, ok)
	require.Equal(t, archive.Identifier{ProfileID: "prf_ann", Kind: "userId", Value: "ann-2"}, row)
	_, ok = linkedUserID(identity.UserID("ann"), live)
	require.False(t, ok, "the profile's own user id is the profile's row")
	_, ok = linkedUserID(identity.UserID("ann-2"), end{ID: "prf_x", UserID: "", fate: alive})
	require.True(t, ok)
	_, ok = linkedUserID(identity.AnonymousID("a-1"), live)
	require.False(t, ok, "user ids only")
	for _, f := range []fate{erased, dangling, loop, tooFar} {
		_, ok = linkedUserID(identity.UserID("ann-2"), end{ID: "prf_ann", fate: f})
		require.False(t, ok, f.String())
	}
}

// chain is a map of links: a → b → … → the last, live with user id "u", and the names passed.
func chain(n int) (map[string]profilestore.Link, []string) {
	links := map[string]profilestore.Link{}
	var names []string
	for i := range n {
		names = append(names, fmt.Sprintf("p%02d", i))
	}
	for i, id := range names {
		if i == n-1 {
			links[id] = profilestore.Link{Found: true, UserID: "u"}
		} else {
			links[id] = profilestore.Link{Found: true, MergedInto: names[i+1]}
		}
	}
	return links, names
}

func TestFollow(t *testing.T) {
	t.Parallel()
	known := map[string]profilestore.Link{
		"live":    {Found: true, UserID: "u"},
		"a":       {Found: true, MergedInto: "b"},
		"b":       {Found: true, MergedInto: "live"},
		"c":       {Found: true, MergedInto: "unread"},
		"gone":    {Found: true, Erased: true},
		"toGone":  {Found: true, MergedInto: "gone"},
		"merged":  {Found: true, MergedInto: "x", Erased: true},
		"x":       {Found: true, MergedInto: "y"},
		"y":       {Found: true, MergedInto: "x"},
		"self":    {Found: true, MergedInto: "self"},
		"toNone":  {Found: true, MergedInto: "nobody"},
		"nobody":  {},
		"toEmpty": {Found: true, MergedInto: ""},
	}
	for id, want := range map[string]end{
		"live":   {ID: "live", UserID: "u", fate: alive},
		"a":      {ID: "live", UserID: "u", fate: alive},
		"toGone": {ID: "gone", fate: erased},
		"merged": {ID: "merged", fate: erased},
		"x":      {ID: "x", fate: loop},
		"self":   {ID: "self", fate: loop},
		"toNone": {ID: "nobody", fate: dangling},
		"":       {fate: dangling},
	} {
		got, need := follow(id, known)
		require.Empty(t, need, id)
		require.Equal(t, want, got, id)
	}
	_, need := follow("c", known)
	require.Equal(t, "unread", need, "read before the end is known")

	links, names := chain(maxHops + 1)
	got, _ := follow(names[0], links)
	require.Equal(t, end{ID: names[maxHops], UserID: "u", fate: alive}, got, "maxHops merges are followed")
	links, names = chain(maxHops + 2)
	got, _ = follow(names[0], links)
	require.Equal(t, tooFar, got.fate, "one more is too far")
}

func TestResolverReadsEachHopOnceAndKeepsWhatItRead(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	links, names := chain(4) // p00 → p01 → p02 → p03 (live)
	links["q"] = profilestore.Link{Found: true, MergedInto: "p02"}
	links["gone"] = profilestore.Link{Found: true, Erased: true}
	var rounds [][]string
	read := func(_ context.Context, ids []string) (map[string]profilestore.Link, error) {
		rounds = append(rounds, ids)
		out := map[string]profilestore.Link{}
		for _, id := range ids {
			if l, ok := links[id]; ok {
				out[id] = l
			}
		}
		return out, nil
	}
	r := newResolver(read, 100)
	ends, err := r.resolve(ctx, []string{names[0], "q", "gone", "nobody", names[0]})
	require.NoError(t, err)
	require.Equal(t, map[string]end{
		names[0]: {ID: "p03", UserID: "u", fate: alive},
		"q":      {ID: "p03", UserID: "u", fate: alive},
		"gone":   {ID: "gone", fate: erased},
		"nobody": {ID: "nobody", fate: dangling},
	}, ends)
	require.Equal(t, [][]string{{"gone", "nobody", "p00", "q"}, {"p01", "p02"}, {"p03"}}, rounds,
		"one read per round, each profile read once, the next hop of every chain at once")
	require.Equal(t, 7, r.reads)

	ends, err = r.resolve(ctx, []string{"p01"})
	require.NoError(t, err)
	require.Equal(t, "p03", ends["p01"].ID)
	require.Len(t, rounds, 3, "what was read is kept")

	small := newResolver(read, 2)
	_, err = small.resolve(ctx, []string{"q"})
	require.NoError(t, err)
	require.Empty(t, small.known, "past its limit it starts over")

	failing := newResolver(func(context.Context, []string) (map[string]profilestore.Link, error) {
		return nil, errors.New("throttled")
	}, 10)
	_, err = failing.resolve(ctx, []string{"p00"})
	require.ErrorContains(t, err, "read 1 profiles' merges: throttled")
}
