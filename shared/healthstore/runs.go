package healthstore

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/health"
	"github.com/dcrm-project/dcrm/shared/schedule"
)

// runRecorder is where runs are recorded (Store).
type runRecorder interface {
	StartRun(ctx context.Context, schedule string, started time.Time) error
	FinishRun(ctx context.Context, r health.Run) error
}

// Runs records the runs of the schedules a function runs.
type Runs struct {
	Store runRecorder
	Now   func() time.Time
	Log   *slog.Logger
}

// Counted is what a run did, when the function knows: Count of Unit ("profiles scored").
type Counted struct {
	Count int64
	Unit  string
}

// Tracked wraps a scheduled function's handler: a run of one of the named schedules is recorded
// as it starts and as it ends (its outcome, the short reason of its error, what count says it did
// when count is not nil and says ok); any other input (a part of a fanned-out run, an S3 event) is
// handed over as it is: the planner's run stands for its parts. A run's record that cannot be
// written is logged, never the run's failure.
func Tracked[S any](r *Runs, count func(S) (Counted, bool), handle func(context.Context, json.RawMessage) (S, error), names ...string) func(context.Context, json.RawMessage) (S, error) {
	return func(ctx context.Context, raw json.RawMessage) (S, error) {
		ev, err := schedule.Parse(raw, names...)
		if err != nil || r == nil {
			return handle(ctx, raw)
		}
		run := health.Run{Schedule: ev.Schedule, Started: r.Now()}
		if err := r.Store.StartRun(ctx, run.Schedule, run.Started); err != nil {
			r.Log.WarnContext(ctx, "run not recorded", slog.String("schedule", run.Schedule), slog.String("error", err.Error()))
		}
		out, err := handle(ctx, raw)
		run.Finished, run.Outcome = r.Now(), health.OK
		if err != nil {
			run.Outcome, run.Reason = health.Failed, health.Reason(err)
		}
		if count != nil {
			if c, ok := count(out); ok {
				run.Count, run.Unit = &c.Count, c.Unit
			}
		}
		// The run's own context may be near its deadline: the record gets a moment of its own.
		rec, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*time.Second)
		defer cancel()
		if err := r.Store.FinishRun(rec, run); err != nil {
			r.Log.WarnContext(ctx, "run not recorded", slog.String("schedule", run.Schedule), slog.String("error", err.Error()))
		}
		return out, err
	}
}

// RunsFromEnv is the Runs of a scheduled function: the Health table named in its environment
// (topology.HealthTable), read once at start-up.
func RunsFromEnv(ctx context.Context, getenv func(string) string, log *slog.Logger) (*Runs, error) {
	st, err := FromEnv(ctx, getenv)
	if err != nil {
		return nil, err
	}
	return &Runs{Store: st, Now: time.Now, Log: log}, nil
}

// FromEnv is the Health table named in a function's environment (topology.HealthTable).
func FromEnv(ctx context.Context, getenv func(string) string) (*Store, error) {
	env, err := topology.Default().FromEnv(getenv, topology.HealthTable)
	if err != nil {
		return nil, err
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load aws config: %w", err)
	}
	return New(dynamo.New(cfg), env[topology.HealthTable]), nil
}
