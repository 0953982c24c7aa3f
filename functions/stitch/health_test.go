package main

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/health"
	"github.com/dcrm-project/dcrm/shared/healthstore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

// A batch keeps its shard's lag (now less its oldest record's arrival), at most once a minute,
// and counts the events it set aside by reason in one write, in the Health table.
func TestBatchKeepsLagAndCountsFailures(t *testing.T) {
	ctx := context.Background()
	store := healthstore.New(localawstest.Reachable(t).Dynamo(), localawstest.NewTopologyTable(t, topology.HealthTable))
	// Near the real time: DynamoDB Local's TTL sweeper removes items whose expiry has passed.
	clock := time.Now().UTC().Truncate(time.Hour).Add(30 * time.Minute)
	h := &handler{store: &fakeStore{}, failed: fakeQueue{}, updates: fakeQueue{}, feed: &fakeFeed{}, now: func() time.Time { return clock },
		log: quiet, health: store, lagDue: health.Throttle{Every: health.LagEvery}}
	batch := func(seq string, ages ...time.Duration) events.KinesisEvent {
		var ev events.KinesisEvent
		for i, age := range ages {
			r := record(t, seq+string(rune('a'+i)), beaconEvent(beacon.Page, "m-"+seq+string(rune('a'+i)), "a-1", "", 0))
			if i == len(ages)-1 {
				r.Kinesis.Data = []byte("not an event") // set aside
			}
			r.Kinesis.ApproximateArrivalTimestamp.Time = clock.Add(-age)
			ev.Records = append(ev.Records, r)
		}
		return ev
	}
	_, err := h.handle(ctx, batch("1", time.Second, 3*time.Second, 2*time.Second))
	require.NoError(t, err)
	st, err := store.Read(ctx, clock)
	require.NoError(t, err)
	require.Equal(t, []health.Lag{{Shard: "shardId-000000000000", Lag: 3 * time.Second, At: clock, Records: 3}}, st.Lags)
	require.Equal(t, []health.Failures{{Day: health.Day(clock), Counts: map[string]int64{"stitch: record is not a beacon event": 1}}}, st.Failures)

	clock = clock.Add(30 * time.Second)
	_, err = h.handle(ctx, batch("2", 20*time.Second, time.Second))
	require.NoError(t, err)
	st, err = store.Read(ctx, clock)
	require.NoError(t, err)
	require.Equal(t, 3*time.Second, st.Lags[0].Lag, "kept once a minute")
	require.Equal(t, int64(2), st.Failures[0].Counts["stitch: record is not a beacon event"])

	clock = clock.Add(time.Minute)
	_, err = h.handle(ctx, batch("3", 7*time.Second))
	require.NoError(t, err)
	st, err = store.Read(ctx, clock)
	require.NoError(t, err)
	require.Equal(t, health.Lag{Shard: "shardId-000000000000", Lag: 7 * time.Second, At: clock, Records: 1}, st.Lags[0])
}
