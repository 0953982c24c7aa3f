package healthstore

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/health"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
	"github.com/dcrm-project/dcrm/shared/schedule"
)

func newStore(t *testing.T) *Store {
	return New(localawstest.Reachable(t).Dynamo(), localawstest.NewTopologyTable(t, topology.HealthTable))
}

// What is written is read back: the latest lag per shard, a run as it starts and ends, and the
// days' counters added up, within the last FailureDays days.
func TestStoreReadsWhatWasWritten(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	// Near the real time: DynamoDB Local's TTL sweeper removes items whose expiry has passed.
	now := time.Now().UTC().Truncate(time.Hour).Add(30 * time.Minute)
	st, err := s.Read(ctx, now)
	require.NoError(t, err)
	require.Empty(t, st.Lags)
	require.Empty(t, st.Runs)
	require.Empty(t, st.Failures)

	require.NoError(t, s.PutLag(ctx, health.Lag{Shard: "shardId-000000000000", Lag: 9 * time.Second, At: now.Add(-time.Minute), Records: 2}))
	require.NoError(t, s.PutLag(ctx, health.Lag{Shard: "shardId-000000000000", Lag: 250 * time.Millisecond, At: now, Records: 7}))
	require.NoError(t, s.AddFailures(ctx, now, map[string]int64{"stitch: identifier erased": 2, "stitch: other": 1}))
	require.NoError(t, s.AddFailures(ctx, now, map[string]int64{"stitch: identifier erased": 3}))
	require.NoError(t, s.AddFailures(ctx, now.AddDate(0, 0, -6), map[string]int64{"collect: refused at the endpoint": 1}))
	require.NoError(t, s.AddFailures(ctx, now.AddDate(0, 0, -7), map[string]int64{"collect: refused at the endpoint": 8}))
	require.NoError(t, s.AddFailures(ctx, now, nil), "nothing to count, nothing written")

	require.NoError(t, s.StartRun(ctx, "score", now.Add(-time.Hour)))
	n := int64(5)
	require.NoError(t, s.FinishRun(ctx, health.Run{Schedule: "score", Started: now.Add(-time.Hour), Finished: now.Add(-59 * time.Minute),
		Outcome: health.OK, Count: &n, Unit: "profiles scored"}))
	require.NoError(t, s.StartRun(ctx, "score", now))

	st, err = s.Read(ctx, now)
	require.NoError(t, err)
	require.Equal(t, []health.Lag{{Shard: "shardId-000000000000", Lag: 250 * time.Millisecond, At: now, Records: 7}}, st.Lags)
	require.Equal(t, []health.Run{{Schedule: "score", Started: now, Finished: now.Add(-59 * time.Minute), Outcome: health.Running,
		Count: &n, Unit: "profiles scored"}}, st.Runs, "a run in progress keeps the last one's end")
	require.Equal(t, []health.Failures{
		{Day: health.Day(now.AddDate(0, 0, -6)), Counts: map[string]int64{"collect: refused at the endpoint": 1}},
		{Day: health.Day(now), Counts: map[string]int64{"stitch: identifier erased": 5, "stitch: other": 1}},
	}, st.Failures, "the day before the window is left out")

	require.NoError(t, s.FinishRun(ctx, health.Run{Schedule: "score", Started: now, Finished: now.Add(time.Second), Outcome: health.Failed, Reason: "boom"}))
	st, err = s.Read(ctx, now)
	require.NoError(t, err)
	require.Equal(t, health.Run{Schedule: "score", Started: now, Finished: now.Add(time.Second), Outcome: health.Failed, Reason: "boom"}, st.Runs[0],
		"a failed run without a count drops the last one's")
}

// Tracked records the runs of the schedules named, and hands anything else over unrecorded.
func TestTrackedRecordsRuns(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	clock := time.Now().UTC().Truncate(time.Second)
	runs := &Runs{Store: s, Now: func() time.Time { clock = clock.Add(time.Second); return clock }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	fail := errors.New("score profiles: the table is unavailable")
	var calls int
	handle := Tracked(runs, func(n int) (Counted, bool) { return Counted{Count: int64(n), Unit: "profiles scored"}, n > 0 },
		func(_ context.Context, raw json.RawMessage) (int, error) {
			calls++
			if string(raw) == `{"part":1}` {
				return 0, nil
			}
			if calls == 3 {
				return 0, fail
			}
			return 7, nil
		}, "score", "fit")

	got, err := handle(ctx, schedule.Payload("score", clock))
	require.NoError(t, err)
	require.Equal(t, 7, got)
	_, err = handle(ctx, json.RawMessage(`{"part":1}`))
	require.NoError(t, err)
	_, err = handle(ctx, schedule.Payload("fit", clock))
	require.ErrorIs(t, err, fail, "the run's error is returned as it was")
	require.Equal(t, 3, calls)

	st, err := s.Read(ctx, clock)
	require.NoError(t, err)
	require.Len(t, st.Runs, 2, "the part is not a run")
	fit, score := st.Runs[0], st.Runs[1]
	require.Equal(t, health.Failed, fit.Outcome)
	require.Equal(t, "score profiles: the table is unavailable", fit.Reason)
	require.Nil(t, fit.Count)
	require.Equal(t, health.OK, score.Outcome)
	require.Equal(t, int64(7), *score.Count)
	require.True(t, score.Finished.After(score.Started))

	// Without a store the handler is the function's own.
	_, err = Tracked[int](nil, nil, func(context.Context, json.RawMessage) (int, error) { return 0, nil }, "score")(ctx, schedule.Payload("score", clock))
	require.NoError(t, err)
}

// Counting sends as its queue does and counts the failed events sent, by stage and its label,
// in one write per call.
func TestCountingCountsWhatWasSent(t *testing.T) {
	ctx := context.Background()
	e := localawstest.Reachable(t)
	s := newStore(t)
	now := time.Now().UTC()
	q := Counting{Next: messagequeue.New(e.SQSClient(), localawstest.NewQueue(t)), Counter: s, Label: "rejected row",
		Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ms := []message.Message{
		message.NewFailedEvent("import", "object customers/a.csv, line 2: no id", []byte(`{}`), now),
		message.NewFailedEvent("import", "object customers/a.csv, line 9: no id", []byte(`{}`), now),
	}
	for _, err := range q.SendAll(ctx, ms) {
		require.NoError(t, err)
	}
	require.Empty(t, q.SendAll(ctx, nil))
	st, err := s.Read(ctx, now)
	require.NoError(t, err)
	require.Equal(t, []health.Failures{{Day: health.Day(now), Counts: map[string]int64{"import: rejected row": 2}}}, st.Failures)
}
