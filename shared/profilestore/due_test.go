package profilestore

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/guregu/dynamo/v2"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/recording/recordingtest"
	"github.com/dcrm-project/dcrm/shared/trigger"
)

func TestTheDueIndexMatchesTheTopology(t *testing.T) {
	tb, _ := topology.Default().Table(topology.ProfileTable)
	require.Len(t, tb.Indexes, 1)
	require.Equal(t, topology.Index{Name: DueIndex, PartitionKey: "dueShard", SortKey: "dueAt", Projection: topology.ProjectKeysOnly}, tb.Indexes[0])
	seen := map[string]bool{}
	for i := range 1000 {
		seen[DueShard(recording.NewID()+string(rune('a'+i%26)))] = true
	}
	require.Len(t, seen, DueShards, "profile ids spread over every shard")
}

// TestIndexWritesOnlyWhenTheDueTimeMoves measures the index's write units: a write that leaves the
// due time alone costs the index nothing.
func TestIndexWritesOnlyWhenTheDueTimeMoves(t *testing.T) {
	f := newFixture(t)
	id := f.Record(t, recordingtest.Page("m1", "a-1", 0))[0].ProfileID // no consent answer: nothing due
	cost := func(dueAt time.Time) float64 {
		t.Helper()
		base := f.Stored(t, id)
		next := base
		next.DueAt = dueAt
		var cc dynamo.ConsumedCapacity
		require.NoError(t, f.store.ProfileTable.put(base, next).ConsumedCapacity(&cc).Run(context.Background()))
		require.Equal(t, dueAt, f.Stored(t, id).DueAt)
		it := f.item(t, id)
		if dueAt.IsZero() {
			require.NotContains(t, it, "dueShard")
		} else {
			require.Equal(t, DueShard(id), str(it["dueShard"]))
		}
		return cc.GSI[DueIndex]
	}
	require.Zero(t, cost(time.Time{}), "out of the index, staying out")
	enter := cost(recordingtest.At(60))
	require.Zero(t, cost(recordingtest.At(60)), "staying put")
	move := cost(recordingtest.At(90))
	leave := cost(time.Time{})
	// A keys-only entry is far under 1 KB: one unit to put it, one to delete it, both to move it.
	require.Equal(t, []float64{1, 2, 1}, []float64{enter, move, leave}, "index write units to enter, move, leave")
}

func TestFiredItemsRoundTrip(t *testing.T) {
	st := trigger.State{{Kind: trigger.AbandonedForm, Key: "abandoned-form:quote:2025-03-01T10:00:00Z", At: recordingtest.At(30)}}
	av, err := dynamo.Marshal(firedItems(st))
	require.NoError(t, err)
	_, isList := av.(*types.AttributeValueMemberL)
	require.True(t, isList)
	var back []firedItem
	require.NoError(t, dynamo.Unmarshal(av, &back))
	require.Equal(t, st, profileItem{Fired: back}.record().Fired)
}
