package recordingtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/activation"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// MemberIndexer is a storage that keeps the members index (activation.Member per person per
// audience) beside the profiles, as profilestore and memstore do: an adapter's concern, which
// the engine does not see.
type MemberIndexer interface {
	recording.Storage
	// Members reads a page of an audience's members by profile id, after the cursor.
	Members(ctx context.Context, audienceID, cursor string, limit int) ([]activation.Member, string, error)
	// MemberIndex reads the whole index, for checks at rest.
	MemberIndex(ctx context.Context) (activation.Index, error)
}

// NewIndexer makes a fresh storage that keeps the members index.
type NewIndexer func(t *testing.T) MemberIndexer

// MembersIndex checks that a storage's members index always equals the profiles' memberships:
// after random histories of puts (entering and leaving up to 200 audiences at once, identifiers
// and consent changing, stale writes refused), commits of two profiles and burials; that paging
// an audience returns every member exactly once while others enter and leave; and that an erased
// person leaves it. cases is how many random histories to try.
func MembersIndex(t *testing.T, newStorage NewIndexer, cases int) {
	t.Run("FollowsRandomHistories", func(t *testing.T) {
		forEachSeed(t, cases, func(t *testing.T, seed uint64) { indexFollowsHistory(t, newStorage(t), newRand(seed)) })
	})
	t.Run("PagesEveryMemberOnceUnderChange", func(t *testing.T) { pagesEveryMemberOnce(t, newStorage(t)) })
	t.Run("ErasedPersonLeaves", func(t *testing.T) { erasedPersonLeaves(t, newStorage) })
}

// CheckIndex requires the index to equal what the stored profiles' memberships call for.
func CheckIndex(t *testing.T, st MemberIndexer) {
	t.Helper()
	ctx := context.Background()
	var records []recording.Record
	require.NoError(t, st.EachProfile(ctx, func(r recording.Record) error { records = append(records, r); return nil }))
	got, err := st.MemberIndex(ctx)
	require.NoError(t, err)
	want := activation.Expected(records)
	require.Equal(t, len(want), len(got), "audiences in the index")
	for a, ms := range want {
		require.Equal(t, sortedKeys(ms), sortedKeys(got[a]), "members of %s", a)
		for id, m := range ms {
			require.True(t, m.Equal(got[a][id]), "member %s of %s: want %+v, got %+v", id, a, m, got[a][id])
		}
	}
}

// randomNext is base with random memberships (sometimes very many), identifiers and consent.
func randomNext(r *rand.Rand, base recording.Record, pool int) recording.Record {
	next := base
	p := next.Profile
	p.Audiences = nil
	n := r.IntN(6)
	if r.IntN(4) == 0 {
		n = r.IntN(profileAudiencesMax + 1)
	}
	picked := map[string]bool{}
	for range n {
		picked[fmt.Sprintf("a%03d", r.IntN(pool))] = true
	}
	for _, a := range sortedKeys(picked) {
		since := At(r.IntN(3))
		if i := slices.IndexFunc(base.Profile.Audiences, func(m profile.Membership) bool { return m.Audience == a }); i >= 0 && r.IntN(4) > 0 {
			since = base.Profile.Audiences[i].Since
		}
		p.Audiences = append(p.Audiences, profile.Membership{Audience: a, Since: since})
	}
	if r.IntN(3) == 0 {
		next.Claimed = nil
		for range r.IntN(3) {
			next.Claimed = append(next.Claimed, Email(r.IntN(4)))
		}
		if r.IntN(2) == 0 {
			next.Claimed = append(next.Claimed, Phone(r.IntN(4)), identity.ID{Kind: identity.Device, Value: "d-1"})
		}
		slices.SortFunc(next.Claimed, func(a, b identity.ID) int { return compareText(a.String(), b.String()) })
		next.Claimed = slices.CompactFunc(next.Claimed, func(a, b identity.ID) bool { return a == b })
	}
	if r.IntN(3) == 0 {
		p.UserID = []string{"", "u-1", "u-2"}[r.IntN(3)]
	}
	if r.IntN(3) == 0 {
		switch r.IntN(3) {
		case 0:
			p.Consent = nil
		default:
			p.Consent = map[string]profile.Consent{profile.PurposeMarketing: {Granted: r.IntN(2) == 0, At: At(r.IntN(9))}}
		}
	}
	next.Profile = p
	return next
}

func compareText(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// profileAudiencesMax is the most audiences a profile may be in.
const profileAudiencesMax = 200

func indexFollowsHistory(t *testing.T, st MemberIndexer, r *rand.Rand) {
	ctx := context.Background()
	ids := []string{"prf_a", "prf_b", "prf_c", "prf_d"}
	stale := map[string]recording.Record{}
	for step := range 24 {
		id := ids[r.IntN(len(ids))]
		base, err := st.Profile(ctx, id, true)
		require.NoError(t, err)
		switch op := r.IntN(10); {
		case op == 0: // bury
			require.NoError(t, st.Bury(ctx, id, At(step), recording.Progress{Profiles: 1}))
		case op == 1 && stale[id].Version > 0 && stale[id].Version != base.Version: // a write on a version no longer stored
			before, err := st.MemberIndex(ctx)
			require.NoError(t, err)
			err = st.Commit(ctx, put(stale[id], randomNext(r, stale[id], 240)))
			require.ErrorIs(t, err, recording.ErrConflict)
			after, err := st.MemberIndex(ctx)
			require.NoError(t, err)
			require.Equal(t, before, after, "a refused write changes nothing")
		case op == 2: // two profiles at once
			other := ids[(slices.Index(ids, id)+1)%len(ids)]
			obase, err := st.Profile(ctx, other, true)
			require.NoError(t, err)
			if base.ErasedAt.IsZero() && obase.ErasedAt.IsZero() {
				c := recording.Change{Puts: []recording.Put{{Base: base, Next: randomNext(r, base, 240)}, {Base: obase, Next: randomNext(r, obase, 240)}}}
				require.NoError(t, st.Commit(ctx, c))
			}
		default:
			if base.ErasedAt.IsZero() {
				stale[id] = base
				require.NoError(t, st.Commit(ctx, put(base, randomNext(r, base, 240))))
			}
		}
		CheckIndex(t, st)
	}
}

func pagesEveryMemberOnce(t *testing.T, st MemberIndexer) {
	ctx := context.Background()
	const stable, churning = 60, 60
	in := func(id string, member bool) {
		for {
			base, err := st.Profile(ctx, id, true)
			require.NoError(t, err)
			next := base
			next.Profile.Audiences = nil
			if member {
				next.Profile.Audiences = []profile.Membership{{Audience: "paged", Since: At(1)}}
			}
			next.Claimed = []identity.ID{Email(len(id))}
			if err := st.Commit(ctx, put(base, next)); err == nil {
				return
			}
		}
	}
	name := func(kind string, i int) string { return fmt.Sprintf("prf_%03d_%s", i, kind) }
	for i := range stable {
		in(name("s", i), true)
	}
	for i := range churning {
		in(name("c", i), i%2 == 0)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		r := newRand(7)
		for {
			select {
			case <-stop:
				return
			default:
			}
			in(name("c", r.IntN(churning)), r.IntN(2) == 0)
		}
	})
	for range 3 {
		seen := map[string]int{}
		cursor := ""
		for {
			page, next, err := st.Members(ctx, "paged", cursor, 7)
			require.NoError(t, err)
			require.LessOrEqual(t, len(page), 7)
			for _, m := range page {
				seen[m.ProfileID]++
				require.Equal(t, "paged", m.Audience)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		for id, n := range seen {
			require.Equal(t, 1, n, "%s paged once", id)
		}
		for i := range stable {
			require.Equal(t, 1, seen[name("s", i)], "a member throughout is on a page")
		}
	}
	close(stop)
	wg.Wait()
	CheckIndex(t, st)
}

func erasedPersonLeaves(t *testing.T, newStorage NewIndexer) {
	st := newStorage(t)
	f, defs, _ := audienceFixture(t, func(*testing.T) recording.Storage { return st })
	defs.Define(t, buyers)
	ctx := context.Background()
	gone := f.RecordClaims(t, Order("o1", "a-1", "u-1", 0), true, Email(1), Phone(1)).ProfileID
	kept := f.RecordClaims(t, Order("o2", "a-2", "u-2", 0), true, Email(2)).ProfileID
	page, _, err := st.Members(ctx, "buyers", "", 10)
	require.NoError(t, err)
	require.Len(t, page, 2)
	for _, m := range page {
		if m.ProfileID == gone {
			require.Equal(t, "u-1", m.UserID)
			require.Equal(t, []string{Email(1).Value}, m.Emails)
			require.Equal(t, []string{Phone(1).Value}, m.Phones)
		}
	}
	for {
		e, err := f.Erase(ctx, gone)
		require.NoError(t, err)
		if !e.CompletedAt.IsZero() {
			break
		}
	}
	page, _, err = st.Members(ctx, "buyers", "", 10)
	require.NoError(t, err)
	require.Len(t, page, 1)
	require.Equal(t, kept, page[0].ProfileID)
	CheckIndex(t, st)
}
