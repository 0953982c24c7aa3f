package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/shared/cost"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/source"
)

func TestMain(m *testing.M) { devtest.Main(m) }

// TestLoadReplayAgainstTheStack runs the load replay for a few seconds at a low rate against a
// stack of its own (the real functions on the local servers) and checks the meter's counts against
// what was sent, and that every event sent of the visitors who never log in is on their profiles.
func TestLoadReplayAgainstTheStack(t *testing.T) {
	st, keys := devtest.Stack(t, "load")
	ctx := context.Background()
	browser, server, profileKey := keystore.NewKey("wk_"), keystore.NewKey("wk_"), keystore.NewKey("pk_")
	require.NoError(t, keys.PutSource(ctx, browser, source.Source{ID: "src_loadbrowser", Name: "load (browser)", AllowedOrigins: []string{"http://localhost:8080"}}))
	require.NoError(t, keys.PutSource(ctx, server, source.Source{ID: "src_loadserver", Name: "load (server)", Trusted: true}))
	require.NoError(t, keys.PutProfileAPIKey(ctx, profileKey, "load"))

	// The public e-commerce set as Segment calls, mapped by the replay command (its 42 visitors
	// who never log in are the ones whose profiles can be checked event for event).
	calls := filepath.Join(t.TempDir(), "ecommerce.jsonl")
	cmd := exec.Command("go", "run", "./scripts/replay", "-ecommerce", "../shared/datasets/events/snowplow_ecommerce", "-write-calls", calls)
	cmd.Dir = devtest.RepoRoot()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))

	cfg := Config{
		Calls: []string{calls}, Rate: 200, Concurrency: 8, Duration: 5 * time.Second, Drain: time.Minute, Samples: 0,
		Plan:   Options{Seed: 2, RunID: "t", Returning: 0.3, Browser: 0.5, ServerBatch: 20, BrowserBatch: 10, GapCap: 30 * time.Second},
		Assume: cost.DefaultAssumptions(), State: t.TempDir(), Progress: time.Second,
	}
	target := Target{API: st.APIURL(), BrowserKey: browser, ServerKey: server, ProfileKey: profileKey, Origin: "http://localhost:8080"}
	s, err := Run(ctx, cfg, target, io.Discard)
	require.NoError(t, err)
	if testing.Verbose() {
		s.WriteText(os.Stdout)
	}

	require.Zero(t, s.Errors, s.LastError)
	require.Positive(t, s.Requests)
	require.Equal(t, s.Requests, s.BrowserRequests+s.ServerRequests)
	require.Equal(t, s.EventsSent, s.EventsAccepted)
	require.True(t, s.Drained)
	u := s.Usage
	require.Equal(t, int64(s.Attempts), u.API.ByRoute["POST /v1/batch"], "one API request per batch sent")
	require.Equal(t, int64(s.Attempts), u.Lambda["collect"].Invocations, "collect runs once per request")
	require.Positive(t, u.Lambda["stitch"].Invocations)
	require.Positive(t, u.Lambda["stitch"].GBSeconds)
	require.GreaterOrEqual(t, u.Kinesis.Records, int64(1))
	require.GreaterOrEqual(t, u.Kinesis.RecordsRead, u.Kinesis.Records, "the mapping read every record put")
	require.Positive(t, s.PerEvent["dynamodbWRU"])
	require.Positive(t, s.PerEvent["dynamodbRRU"])
	require.Positive(t, s.PerEvent["dynamodbRequests:UpdateItem"], "DynamoDB requests per event by operation: %v", s.PerEvent)
	var requests float64
	for op, n := range u.DynamoDB.Requests {
		requests += float64(n)
		require.InDelta(t, float64(n)/float64(s.EventsAccepted), s.PerEvent["dynamodbRequests:"+op], 1e-9, op)
	}
	require.Positive(t, requests)
	for _, setup := range cost.Setups {
		require.Positive(t, s.Cost[setup.String()].USD, setup)
	}
	require.Less(t, s.Cost["provisioned, function URL"].USD, s.Cost["provisioned"].USD, "no API request per beacon")
	require.Positive(t, u.API.AccessLogBytes)
	require.NotEmpty(t, s.Bottleneck)

	// The timeline: a tick a second, every accepted event in one, and the stream read to its end.
	require.GreaterOrEqual(t, len(s.Timeline), 5)
	accepted := 0
	for _, tick := range s.Timeline {
		accepted += tick.Accepted
	}
	last := s.Timeline[len(s.Timeline)-1]
	require.LessOrEqual(t, accepted, s.EventsAccepted, "ticks count each accepted event once at most")
	require.Greater(t, accepted, s.EventsAccepted/2, "ticks while sending count most accepted events")
	require.Equal(t, u.Kinesis.Records, last.Put)
	require.GreaterOrEqual(t, last.Read, last.Put, "the last tick is after the drain")
	require.Contains(t, s.CPUSeconds, "function:stitch")

	// Every event sent of a visitor who never logs in is on its profile, counted once.
	lag := s.StitchLag
	require.Positive(t, lag.Samples)
	require.Equal(t, lag.Samples, lag.Complete, "%+v", lag)
	require.Positive(t, lag.P50)
	require.Less(t, lag.Max, time.Minute)
}
