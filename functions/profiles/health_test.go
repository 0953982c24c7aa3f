package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/health"
	"github.com/dcrm-project/dcrm/shared/healthstore"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

// scoped is a key checker whose every key has the given scopes.
type scoped []keystore.Scope

func (s scoped) ProfileAPIKey(context.Context, string) (keystore.APIKey, error) {
	return keystore.APIKey{ID: "key_scoped", Name: "test", Scopes: s}, nil
}

func count(n int64) *int64 { return &n }

// The answer lays out what was read: each shard's verdict and the stream's (its worst), every
// schedule of the deployment whether it ran or not, the failures of the last 7 days by reason,
// and the queues with their dead-letter queues told apart.
func TestHealthOf(t *testing.T) {
	day := time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)
	at := day.Add(12 * time.Hour)
	st := healthstore.Status{
		Lags: []health.Lag{
			{Shard: "shardId-000000000002", Lag: 40 * time.Second, At: at.Add(-time.Hour), Records: 3}, // quiet for an hour
			{Shard: "shardId-000000000001", Lag: 8 * time.Second, At: at.Add(-30 * time.Second), Records: 500},
			{Shard: "shardId-000000000000", Lag: 1200 * time.Millisecond, At: at.Add(-10 * time.Second), Records: 12},
		},
		Runs: []health.Run{
			{Schedule: topology.ScoreSchedule, Started: at.Add(-20 * time.Minute), Finished: at.Add(-19 * time.Minute), Outcome: "ok", Count: count(42), Unit: "profiles scored"},
			{Schedule: topology.TriggersSchedule, Started: at.Add(-time.Hour), Finished: at.Add(-time.Hour + time.Second), Outcome: health.Failed, Reason: "fire triggers: throttled"},
			{Schedule: topology.ReportsSchedule, Started: at.Add(-time.Hour), Finished: at.Add(-25 * time.Hour), Outcome: health.Running},
		},
		Failures: []health.Failures{
			{Day: "2026-03-10", Counts: map[string]int64{"stitch: no usable identifier": 2, "collect: refused at the endpoint": 5}},
			{Day: "2026-03-04", Counts: map[string]int64{"stitch: no usable identifier": 1}},
			{Day: "2026-03-03", Counts: map[string]int64{"stitch: other": 9}}, // 8 days ago
		},
	}
	depths := []healthstore.Depth{{Name: "FailedEvents", Messages: 3}, {Name: "FailedEventsDeadLetter", Messages: 1, InFlight: 2}}
	ans := healthOf(st, depths, topology.Default().Schedules, at)

	require.Equal(t, health.Behind, ans.Stream.Verdict, "a shard is behind")
	quiet := healthOf(healthstore.Status{Lags: []health.Lag{st.Lags[0], st.Lags[2]}}, nil, nil, at)
	require.Equal(t, health.OK, quiet.Stream.Verdict, "a quiet shard says nothing against one that keeps up")
	require.Len(t, ans.Stream.Shards, 3)
	s0 := ans.Stream.Shards[0]
	require.Equal(t, shardHealth{Shard: "shardId-000000000000", LagSeconds: 1.2, At: at.Add(-10 * time.Second), AgeSeconds: 10, Records: 12, Verdict: health.OK}, s0)
	require.Equal(t, health.Behind, ans.Stream.Shards[1].Verdict)
	require.Equal(t, health.Unknown, ans.Stream.Shards[2].Verdict, "no batch for an hour")

	require.Len(t, ans.Schedules, len(topology.Default().Schedules), "every schedule, run or not")
	by := map[string]scheduleHealth{}
	for _, s := range ans.Schedules {
		by[s.Schedule] = s
	}
	score := by[topology.ScoreSchedule]
	require.True(t, score.Ran)
	require.Equal(t, "ok", score.Outcome)
	require.Equal(t, int64(42), *score.Count)
	require.Equal(t, 1200.0, *score.AgeSeconds)
	require.Equal(t, at.Add(40*time.Minute), *score.NextExpected, "an hour after it started")
	require.False(t, score.Late)
	trig := by[topology.TriggersSchedule]
	require.Equal(t, health.Failed, trig.Outcome)
	require.Equal(t, "fire triggers: throttled", trig.Reason)
	require.True(t, trig.Late, "an hour since a run every 5 minutes")
	rep := by[topology.ReportsSchedule]
	require.Equal(t, health.Running, rep.Outcome)
	require.True(t, rep.Late, "running an hour, past its 15-minute timeout")
	never := by[topology.SnapshotSchedule]
	require.False(t, never.Ran)
	require.Equal(t, "never", never.Outcome)
	require.Nil(t, never.Started)
	require.True(t, never.Late)

	f := ans.Failures
	require.Equal(t, []string{"2026-03-04", "2026-03-05", "2026-03-06", "2026-03-07", "2026-03-08", "2026-03-09", "2026-03-10"}, f.Days)
	require.Equal(t, []reasonCounts{
		{Reason: "collect: refused at the endpoint", Counts: []int64{0, 0, 0, 0, 0, 0, 5}, Total: 5},
		{Reason: "stitch: no usable identifier", Counts: []int64{1, 0, 0, 0, 0, 0, 2}, Total: 3},
	}, f.Reasons, "the most first; the day before the window left out")
	require.Equal(t, []int64{1, 0, 0, 0, 0, 0, 7}, f.Totals)

	require.Equal(t, []queueHealth{{Queue: "FailedEvents", Messages: 3}, {Queue: "FailedEvents", DeadLetter: true, Messages: 1, InFlight: 2}}, ans.Queues)

	empty := healthOf(healthstore.Status{}, nil, topology.Default().Schedules, at)
	require.Equal(t, health.Unknown, empty.Stream.Verdict, "no shard kept a lag")
	require.Empty(t, empty.Stream.Shards)
	require.Empty(t, empty.Failures.Reasons)
}

// GET /v1/health answers what the Health table holds and the queues' depths, as documented.
func TestHealthRoute(t *testing.T) {
	ctx := context.Background()
	e := localawstest.Reachable(t)
	store := healthstore.New(e.Dynamo(), localawstest.NewTopologyTable(t, topology.HealthTable))
	failed, dead := localawstest.NewQueue(t), localawstest.NewQueue(t)
	_, err := e.SQSClient().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(failed), MessageBody: aws.String(`{}`)})
	require.NoError(t, err)
	at := time.Now().UTC().Truncate(time.Millisecond)
	require.NoError(t, store.PutLag(ctx, health.Lag{Shard: "shardId-000000000000", Lag: 700 * time.Millisecond, At: at.Add(-5 * time.Second), Records: 4}))
	require.NoError(t, store.StartRun(ctx, topology.TriggersSchedule, at.Add(-2*time.Minute)))
	require.NoError(t, store.FinishRun(ctx, health.Run{Schedule: topology.TriggersSchedule, Started: at.Add(-2 * time.Minute),
		Finished: at.Add(-time.Minute), Outcome: "ok", Count: count(3), Unit: "triggers sent"}))
	require.NoError(t, store.AddFailures(ctx, at, map[string]int64{"stitch: identifier erased": 2}))
	require.NoError(t, store.AddFailures(ctx, at, map[string]int64{"stitch: identifier erased": 1, "collect: refused at the endpoint": 4}))

	h := &handler{keys: allow{}, health: store, log: quiet, now: func() time.Time { return at },
		queues: queueWatch{client: e.SQSClient(), queues: []healthstore.Queue{{Name: topology.FailedQueue, URL: failed},
			{Name: topology.FailedQueue + deadLetterSuffix, URL: dead}}}}
	req := func(query map[string]string) (int, map[string]any) {
		r := get("/v1/health", query, "Bearer k")
		r.RouteKey = "GET /v1/health"
		return call(t, h, r)
	}
	status, body := req(nil)
	require.Equal(t, http.StatusOK, status, body)
	stream := body["stream"].(map[string]any)
	require.Equal(t, "ok", stream["verdict"])
	shard := stream["shards"].([]any)[0].(map[string]any)
	require.Equal(t, "shardId-000000000000", shard["shard"])
	require.Equal(t, 0.7, shard["lagSeconds"])
	require.Equal(t, 5.0, shard["ageSeconds"])
	var trig map[string]any
	for _, s := range body["schedules"].([]any) {
		if s.(map[string]any)["schedule"] == topology.TriggersSchedule {
			trig = s.(map[string]any)
		}
	}
	require.Equal(t, "ok", trig["outcome"])
	require.Equal(t, 3.0, trig["count"])
	require.Equal(t, "triggers sent", trig["unit"])
	require.Equal(t, false, trig["late"])
	failures := body["failures"].(map[string]any)
	require.Equal(t, []any{
		map[string]any{"reason": "collect: refused at the endpoint", "counts": []any{0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 4.0}, "total": 4.0},
		map[string]any{"reason": "stitch: identifier erased", "counts": []any{0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 3.0}, "total": 3.0},
	}, failures["reasons"], "one write per batch, added up")
	require.Eventually(t, func() bool {
		_, body = req(nil)
		q := body["queues"].([]any)
		return len(q) == 2 && q[0].(map[string]any)["messages"] == 1.0
	}, 10*time.Second, 50*time.Millisecond, "the failed-events queue's depth: %v", body["queues"])
	require.Equal(t, map[string]any{"queue": "FailedEvents", "deadLetter": true, "messages": 0.0, "inFlight": 0.0, "delayed": 0.0}, body["queues"].([]any)[1])

	status, body = req(map[string]string{"days": "3"})
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, `unknown parameter "days": GET /v1/health takes none`, body["error"])

	h.keys = scoped{keystore.Erase}
	status, body = req(nil)
	require.Equal(t, http.StatusForbidden, status, body)

	// Queues that cannot be read leave the rest of the answer.
	h.keys = allow{}
	h.queues = queueWatch{client: e.SQSClient(), queues: []healthstore.Queue{{Name: "Gone", URL: failed + "-gone"}}}
	status, body = req(nil)
	require.Equal(t, http.StatusOK, status, body)
	require.Empty(t, body["queues"])
	require.Contains(t, body["queueError"], "could not be read")
}

// The health page watches every queue whose backlog says something is failing or not consumed,
// the profile updates that downstream tools read among them, with their dead-letter queues.
func TestHealthWatchesTheQueuesOfTheDeployment(t *testing.T) {
	topo := topology.Default()
	env := map[string]string{}
	for _, q := range topo.Queues {
		env[topo.EnvVar(q.Name)] = "https://queue/" + q.Name
		env[topo.DeadLetterEnvVar(q.Name)] = "https://queue/" + q.Name + "-dlq"
	}
	got := map[string]string{}
	for _, q := range watchedQueues(func(k string) string { return env[k] }) {
		got[q.Name] = q.URL
	}
	for _, q := range []string{topology.FailedQueue, topology.FailedRunQueue, topology.AlertQueue, topology.TriggerQueue, topology.AudienceQueue, topology.ProfileUpdateQueue} {
		require.Equal(t, "https://queue/"+q, got[q], "%s watched: %v", q, got)
		if qu, _ := topo.Queue(q); qu.DeadLetterAfter > 0 {
			require.Equal(t, "https://queue/"+q+"-dlq", got[q+deadLetterSuffix], "%s's dead-letter queue watched", q)
		}
	}
}
