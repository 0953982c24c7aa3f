// Package healthstore keeps the pipeline's status items (package health) in the Health table and
// reads them back for the profile API's GET /v1/health; it also reads the depths of the queues
// (queues.go) and records the runs of schedules around a function's handler (runs.go).
//
// The table's key is kind (lag, run, failed) and key (the shard, the schedule, the UTC day), so
// that each kind is one Query. What it holds, and what writes it (the cost):
//   - kind "lag": one item per shard, put by stitch at most once a minute per shard per process
//     (health.LagEvery);
//   - kind "run": one item per schedule, updated by the scheduled function as a run starts and as
//     it ends (two writes per run);
//   - kind "failed": one item per UTC day, an ADD per failed batch (not per event) by the function
//     that sends to the failed-events queue (stitch, collect; import and archive through
//     Counting); it expires after FailureRetention.
package healthstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/health"
)

// Kinds of item, the table's partition key.
const (
	kindLag    = "lag"
	kindRun    = "run"
	kindFailed = "failed"
)

// Bounds of what a read returns.
const (
	// MaxShards is the shards a read returns.
	MaxShards = 200
	// MaxRuns is the schedules a read returns.
	MaxRuns = 50
	// FailureDays is the days of failures a read returns.
	FailureDays = 7
	// MaxLabels is the labels of failures one day counts by; a write past it adds to health.Other.
	MaxLabels = 100
)

// Expiry of the items (the table's TTL attribute, expiresAt): a shard that went away, or a day of
// failures, is not kept for ever.
const (
	LagRetention     = 7 * 24 * time.Hour
	FailureRetention = 35 * 24 * time.Hour
)

// counterPrefix begins the attributes of a day's counters, so that none takes the name of the
// key's attributes.
const counterPrefix = "n:"

// Store is the Health table.
type Store struct{ table dynamo.Table }

// New is the Health table named table.
func New(db *dynamo.DB, table string) *Store { return &Store{table: db.Table(table)} }

type lagItem struct {
	Kind      string `dynamo:"kind"`
	Key       string `dynamo:"key"`
	LagMillis int64  `dynamo:"lagMs"`
	At        string `dynamo:"at"`
	Records   int    `dynamo:"records"`
	ExpiresAt int64  `dynamo:"expiresAt"`
}

// PutLag keeps the lag of a shard's last batch (one write, unconditional: the latest wins).
func (s *Store) PutLag(ctx context.Context, l health.Lag) error {
	it := lagItem{Kind: kindLag, Key: l.Shard, LagMillis: l.Lag.Milliseconds(), At: stamp(l.At), Records: l.Records,
		ExpiresAt: l.At.Add(LagRetention).Unix()}
	if err := s.table.Put(it).Run(ctx); err != nil {
		return fmt.Errorf("put the lag of %s: %w", l.Shard, err)
	}
	return nil
}

type runItem struct {
	Kind     string `dynamo:"kind"`
	Key      string `dynamo:"key"`
	Started  string `dynamo:"started,omitempty"`
	Finished string `dynamo:"finished,omitempty"`
	Outcome  string `dynamo:"outcome,omitempty"`
	Reason   string `dynamo:"reason,omitempty"`
	Count    *int64 `dynamo:"count,omitempty"`
	Unit     string `dynamo:"unit,omitempty"`
}

// StartRun records that a run of the schedule started: what the last run finished with stays.
func (s *Store) StartRun(ctx context.Context, schedule string, started time.Time) error {
	err := s.table.Update("kind", kindRun).Range("key", schedule).
		Set("started", stamp(started)).Set("outcome", health.Running).Run(ctx)
	if err != nil {
		return fmt.Errorf("record the start of a run of %s: %w", schedule, err)
	}
	return nil
}

// FinishRun records how a run ended: its outcome, reason and count replace the last run's.
func (s *Store) FinishRun(ctx context.Context, r health.Run) error {
	u := s.table.Update("kind", kindRun).Range("key", r.Schedule).
		Set("started", stamp(r.Started)).Set("finished", stamp(r.Finished)).Set("outcome", r.Outcome)
	if r.Reason != "" {
		u.Set("reason", r.Reason)
	} else {
		u.Remove("reason")
	}
	if r.Count != nil {
		u.Set("count", *r.Count).Set("unit", r.Unit)
	} else {
		u.Remove("count", "unit")
	}
	if err := u.Run(ctx); err != nil {
		return fmt.Errorf("record the end of a run of %s: %w", r.Schedule, err)
	}
	return nil
}

// AddFailures adds a batch's failed events, counted by key (health.Key), to the day's counters:
// one write, whatever the batch held.
func (s *Store) AddFailures(ctx context.Context, at time.Time, counts map[string]int64) error {
	if len(counts) == 0 {
		return nil
	}
	day := health.Day(at)
	u := s.table.Update("kind", kindFailed).Range("key", day).
		Set("expiresAt", at.Add(FailureRetention).Unix())
	n := 0
	for key, c := range counts {
		if n++; n > MaxLabels {
			break
		}
		u.Add(quote(counterPrefix+key), c)
	}
	if err := u.Run(ctx); err != nil {
		return fmt.Errorf("count the failed events of %s: %w", day, err)
	}
	return nil
}

// Status is what the table holds, as read.
type Status struct {
	Lags     []health.Lag      // by shard
	Runs     []health.Run      // by schedule
	Failures []health.Failures // of the last FailureDays days, oldest first; a day without any is absent
}

// Read reads the status: three queries, each bounded.
func (s *Store) Read(ctx context.Context, now time.Time) (Status, error) {
	var st Status
	var lags []lagItem
	if err := s.table.Get("kind", kindLag).Limit(MaxShards).All(ctx, &lags); err != nil {
		return st, fmt.Errorf("read the stream's lag: %w", err)
	}
	for _, it := range lags {
		st.Lags = append(st.Lags, health.Lag{Shard: it.Key, Lag: time.Duration(it.LagMillis) * time.Millisecond,
			At: parse(it.At), Records: it.Records})
	}
	var runs []runItem
	if err := s.table.Get("kind", kindRun).Limit(MaxRuns).All(ctx, &runs); err != nil {
		return st, fmt.Errorf("read the schedules' runs: %w", err)
	}
	for _, it := range runs {
		st.Runs = append(st.Runs, health.Run{Schedule: it.Key, Started: parse(it.Started), Finished: parse(it.Finished),
			Outcome: it.Outcome, Reason: it.Reason, Count: it.Count, Unit: it.Unit})
	}
	days := health.Days(now, FailureDays)
	var items []map[string]any
	err := s.table.Get("kind", kindFailed).Range("key", dynamo.GreaterOrEqual, days[0]).Limit(FailureDays+1).All(ctx, &items)
	if err != nil {
		return st, fmt.Errorf("read the failed events' counts: %w", err)
	}
	for _, it := range items {
		day, _ := it["key"].(string)
		if day > days[len(days)-1] {
			continue // a clock ahead of this one's
		}
		f := health.Failures{Day: day, Counts: map[string]int64{}}
		for name, v := range it {
			if key, ok := strings.CutPrefix(name, counterPrefix); ok {
				f.Counts[key] = number(v)
			}
		}
		st.Failures = append(st.Failures, f)
	}
	return st, nil
}

// number reads a counter as guregu/dynamo decodes a number into any (float64), or as text.
func number(v any) int64 {
	switch n := v.(type) {
	case float64:
		return int64(n)
	case int64:
		return n
	case int:
		return int64(n)
	case string:
		i, _ := strconv.ParseInt(n, 10, 64)
		return i
	}
	return 0
}

const stampLayout = "2006-01-02T15:04:05.000Z07:00"

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(stampLayout)
}

func parse(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// quote makes an attribute name a path of its own (guregu/dynamo's quoting), whatever it holds.
func quote(name string) string { return "'" + name + "'" }
