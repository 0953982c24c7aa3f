package recordingtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// Agree records the same random scenarios on storages a and b, one batch after another, with
// the same clock and profile ids, then splits, sets consent and erases alike, and demands the same
// outcome of every call and the same profiles, identifiers and histories in the end: the two
// implementations keep the port's guarantees the same way.
func Agree(t *testing.T, a, b NewStorage, cases int) {
	forEachSeed(t, cases, func(t *testing.T, seed uint64) {
		r := newRand(seed)
		pop := generate(r, fmt.Sprintf("e%d", seed%100000), r.IntN(2) == 0)
		steps := recording.WithErasureSteps(1+r.IntN(4), time.Hour) // erasures go one step a call (below)
		fa, fb := New(t, a, recording.WithIDs(sequence()), steps), New(t, b, recording.WithIDs(sequence()), steps)
		ctx := context.Background()
		same := func(what string, x, y any) {
			t.Helper()
			require.Equal(t, Canonical(x), Canonical(y), "%s differs between the two storages", what)
		}
		// The shards' deliveries, interleaved at random but in one order for both.
		queues := pop.deliveries
		for len(queues[0])+len(queues[1]) > 0 {
			s := r.IntN(2)
			if len(queues[s]) == 0 {
				s = 1 - s
			}
			batch := queues[s][0]
			queues[s] = queues[s][1:]
			in := make([]recording.Input, len(batch))
			for i, e := range batch {
				in[i] = recording.Input{Activity: e.act, Claims: e.claims}
			}
			oa, ob := fa.RecordAll(ctx, in), fb.RecordAll(ctx, in)
			for i := range oa {
				require.NoError(t, oa[i].Err)
				require.NoError(t, ob[i].Err)
				same("the outcome of "+in[i].Activity.MessageID, oa[i].Result, ob[i].Result)
			}
		}
		same("the stored state after recording", fa.Snapshot(t), fb.Snapshot(t))

		// An operator's corrections, chosen from what the first holds.
		records := fa.Records(t)
		for _, id := range sortedKeys(records) {
			rec := records[id]
			if into := rec.Profile.MergedInto; into != "" && r.IntN(2) == 0 {
				sa, errA := fa.Split(ctx, into, id)
				sb, errB := fb.Split(ctx, into, id)
				require.Equal(t, errA == nil, errB == nil, "split %s from %s: %v / %v", id, into, errA, errB)
				same("the split of "+id, sa, sb)
			}
		}
		live := fa.LiveProfiles(t)
		for i, p := range live {
			switch r.IntN(4) {
			case 0:
				change := map[string]profile.Consent{profile.PurposeMarketing: {Granted: i%2 == 0, At: At(i), Source: "crm"}}
				ida, ca, errA := fa.SetConsent(ctx, p.ID, change)
				idb, cb, errB := fb.SetConsent(ctx, p.ID, change)
				require.NoError(t, errA)
				require.NoError(t, errB)
				same("consent on "+p.ID, []any{ida, ca}, []any{idb, cb})
			case 1:
				short, cancel := context.WithTimeout(ctx, time.Minute) // less than the reserve
				for calls := 0; ; calls++ {
					require.Less(t, calls, 1000, "the erasure of %s never completes", p.ID)
					ea, errA := fa.Erase(short, p.ID)
					eb, errB := fb.Erase(short, p.ID)
					require.NoError(t, errA)
					require.NoError(t, errB)
					same(fmt.Sprintf("call %d of the erasure of %s", calls, p.ID), ea, eb)
					if ea.State == recording.ErasureComplete {
						break
					}
					same("the stored state during the erasure of "+p.ID, fa.Snapshot(t), fb.Snapshot(t))
				}
				cancel()
			}
		}
		same("the stored state after the corrections", fa.Snapshot(t), fb.Snapshot(t))
		for _, p := range fa.LiveProfiles(t) {
			same("the history of "+p.ID, fa.History(t, p.ID, history.Query{Limit: 7}), fb.History(t, p.ID, history.Query{Limit: 7}))
			ma, errA := fa.Merges(ctx, p.ID)
			mb, errB := fb.Merges(ctx, p.ID)
			require.NoError(t, errA)
			require.NoError(t, errB)
			same("the merges of "+p.ID, ma, mb)
		}
		require.NoError(t, fa.CheckInvariants(ctx))
		require.NoError(t, fb.CheckInvariants(ctx))
	})
}

// sequence makes profile ids prf_1, prf_2 … in turn, so that two engines that create profiles in
// the same order name them alike.
func sequence() func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("prf_%d", n) }
}
