package profilestore

import (
	"context"
	"fmt"
	"testing"

	"github.com/guregu/dynamo/v2"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/activation"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/recording/recordingtest"
)

// newIndexedStore is a store over fresh tables that keeps the members index.
func newIndexedStore(t *testing.T) *Store {
	t.Helper()
	e := localawstest.Reachable(t)
	return New(e.Dynamo(), Tables{
		Profiles:        localawstest.NewTopologyTable(t, topology.ProfileTable),
		Identities:      localawstest.NewTopologyTable(t, topology.IdentityTable),
		Touchpoints:     localawstest.NewTopologyTable(t, topology.TouchpointTable),
		AudienceMembers: localawstest.NewTopologyTable(t, topology.AudienceMemberTable),
	})
}

func TestMembersIndex(t *testing.T) {
	recordingtest.MembersIndex(t, func(t *testing.T) recordingtest.MemberIndexer { return newIndexedStore(t) }, 3)
}

// aMemberOf is base in audiences ids (since minute 1), with an email.
func aMemberOf(base recording.Record, ids ...string) recording.Record {
	next := base
	next.Profile.Audiences = nil
	for _, id := range ids {
		next.Profile.Audiences = append(next.Profile.Audiences, profile.Membership{Audience: id, Since: recordingtest.At(1)})
	}
	next.Claimed = []identity.ID{recordingtest.Email(1)}
	return next
}

func audiences(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%03d", prefix, i)
	}
	return out
}

// TestASplitCutOffIsReconciled leaves a split as a crash would (member items written ahead of a
// Put that never came): the next write of the profile, however small, makes the index right, and
// so does its burial.
func TestASplitCutOffIsReconciled(t *testing.T) {
	ctx := context.Background()
	s := newIndexedStore(t)
	base, err := s.Profile(ctx, "prf_1", true)
	require.NoError(t, err)
	require.NoError(t, s.Commit(ctx, recording.Change{Puts: []recording.Put{{Base: base, Next: aMemberOf(base, "kept")}}}))
	at1, err := s.Profile(ctx, "prf_1", true)
	require.NoError(t, err)

	// 150 audiences entered: the first 99 items go ahead, then the write is cut off.
	abandoned := aMemberOf(at1, append(audiences("x", 150), "kept")...)
	ahead := activation.Changes(at1, abandoned)[:99]
	require.NoError(t, s.pendingBatch(ctx, at1, 0, ahead))
	stuck, err := s.MemberIndex(ctx)
	require.NoError(t, err)
	require.Len(t, stuck, 100, "99 items of a write that never happened")
	st, err := s.ProfileTable.pendingOf(ctx, "prf_1")
	require.NoError(t, err)
	require.Equal(t, 1, st.Version)
	require.Len(t, st.Audience, 99)

	// The engine's next write of the profile (at the version it reads, still 1) changes one trait:
	// refused as an UpdateItem, it reconciles the 99.
	next := at1
	next.Profile.Traits = map[string]any{"plan": "gold"}
	require.NoError(t, s.Commit(ctx, recording.Change{Puts: []recording.Put{{Base: at1, Next: next}}}))
	recordingtest.CheckIndex(t, s)
	st, err = s.ProfileTable.pendingOf(ctx, "prf_1")
	require.NoError(t, err)
	require.Equal(t, pending{Version: 2, Exists: "prf_1"}, st, "nothing left pending")

	// A stale write from before the split is refused and changes nothing.
	require.ErrorIs(t, s.Commit(ctx, recording.Change{Puts: []recording.Put{{Base: at1, Next: abandoned}}}), recording.ErrConflict)
	recordingtest.CheckIndex(t, s)

	// Cut off again, then buried: the tombstone takes every item with it.
	at2, err := s.Profile(ctx, "prf_1", true)
	require.NoError(t, err)
	big := aMemberOf(at2, audiences("y", 200)...)
	require.NoError(t, s.Commit(ctx, recording.Change{Puts: []recording.Put{{Base: at2, Next: big}}}), "200 in, 1 out: split")
	recordingtest.CheckIndex(t, s)
	at3, err := s.Profile(ctx, "prf_1", true)
	require.NoError(t, err)
	require.NoError(t, s.pendingBatch(ctx, at3, 0, activation.Changes(at3, aMemberOf(at3, audiences("z", 200)...))[:99]))
	require.NoError(t, s.Bury(ctx, "prf_1", recordingtest.At(9), recording.Progress{Profiles: 1}))
	idx, err := s.MemberIndex(ctx)
	require.NoError(t, err)
	require.Empty(t, idx, "an erased person leaves the index, pending items too")
	recordingtest.CheckIndex(t, s)
}

// TestMembershipCost measures what the index costs a write: nothing when the write changes no
// member item (one UpdateItem, as without the index), a transaction when it does.
func TestMembershipCost(t *testing.T) {
	ctx := context.Background()
	plain, indexed := newStore(t), newIndexedStore(t)
	units := func(s *Store, base, next recording.Record) float64 {
		t.Helper()
		var cc dynamo.ConsumedCapacity
		u := s.ProfileTable.put(base, next)
		if s.members != nil {
			u = u.If("attribute_not_exists('pendingMembers')")
		}
		require.NoError(t, u.ConsumedCapacity(&cc).Run(ctx))
		return cc.Total
	}
	for _, s := range []*Store{plain, indexed} {
		base, err := s.Profile(ctx, "prf_1", true)
		require.NoError(t, err)
		require.NoError(t, s.Commit(ctx, recording.Change{Puts: []recording.Put{{Base: base, Next: aMemberOf(base, "a", "b")}}}))
	}
	same := func(s *Store) float64 {
		base, err := s.Profile(ctx, "prf_1", true)
		require.NoError(t, err)
		next := base
		next.Profile.Traits = map[string]any{"n": float64(base.Version)}
		return units(s, base, next)
	}
	require.Equal(t, same(plain), same(indexed), "a write that changes no membership costs what it did")

	// A change of membership: the transaction's units, profile and items together.
	base, err := indexed.Profile(ctx, "prf_1", true)
	require.NoError(t, err)
	var cc dynamo.ConsumedCapacity
	next := aMemberOf(base, "a", "c") // b out, c in
	tx := indexed.db.WriteTx().Idempotent(true).ConsumedCapacity(&cc).Update(indexed.ProfileTable.put(base, next))
	for _, w := range activation.Changes(base, next) {
		tx = indexed.members.add(tx, w)
	}
	require.NoError(t, tx.Run(ctx))
	pbase, err := plain.Profile(ctx, "prf_1", true)
	require.NoError(t, err)
	profileUnits := units(plain, pbase, aMemberOf(pbase, "a", "c")) // the same write without the index
	t.Logf("membership change, 1 in and 1 out: %.0f write units; the same profile write without the index: %.0f", cc.Total, profileUnits)
	// A transaction bills each item twice: the profile's and the two member items' (DynamoDB Local
	// counts 8 here against a single write's 1).
	require.LessOrEqual(t, cc.Total, 2*profileUnits+3*2)
}
