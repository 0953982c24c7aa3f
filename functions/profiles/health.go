package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/health"
	"github.com/dcrm-project/dcrm/shared/healthstore"
)

// The health route: GET /v1/health answers what the pipeline keeps of its own state (the Health
// table: shared/healthstore) and the depths of the queues that say something failed or is not
// consumed, with the verdicts drawn from them, for the console's health page. Nothing in it is
// personal (counts, times, ids of shards and schedules, reasons cut to labels), so it needs the
// read scope: whoever reads the reports may see whether they are fresh.

// healthReader reads the status items (healthstore.Store).
type healthReader interface {
	Read(ctx context.Context, now time.Time) (healthstore.Status, error)
}

// queueDepths reads the depths of the queues watched (queueWatch).
type queueDepths interface {
	Depths(ctx context.Context) ([]healthstore.Depth, error)
}

// healthAnswer is GET /v1/health's answer.
type healthAnswer struct {
	At        time.Time        `json:"at"`
	Stream    streamHealth     `json:"stream"`
	Schedules []scheduleHealth `json:"schedules"`
	Failures  failureCounts    `json:"failures"`
	Queues    []queueHealth    `json:"queues"`
	// QueueError says why the depths are missing, when they could not be read.
	QueueError string `json:"queueError,omitempty"`
}

type streamHealth struct {
	// Verdict is behind when a shard is, else ok when a shard is, else unknown: a shard gone quiet
	// (closed by a resharding, or without traffic) says nothing against the others.
	Verdict string        `json:"verdict"`
	Shards  []shardHealth `json:"shards"`
}

type shardHealth struct {
	Shard      string    `json:"shard"`
	LagSeconds float64   `json:"lagSeconds"` // how old the oldest record of the last batch was when recorded
	At         time.Time `json:"at"`         // when the last batch was recorded
	AgeSeconds float64   `json:"ageSeconds"` // how long ago that was
	Records    int       `json:"records"`
	Verdict    string    `json:"verdict"`
}

type scheduleHealth struct {
	Schedule     string     `json:"schedule"`
	Function     string     `json:"function"`
	EverySeconds float64    `json:"everySeconds"`
	Ran          bool       `json:"ran"`
	Started      *time.Time `json:"started,omitempty"`
	Finished     *time.Time `json:"finished,omitempty"`
	AgeSeconds   *float64   `json:"ageSeconds,omitempty"` // since the last run started
	Outcome      string     `json:"outcome"`              // never, running, ok, failed
	Reason       string     `json:"reason,omitempty"`
	Count        *int64     `json:"count,omitempty"`
	Unit         string     `json:"unit,omitempty"`
	NextExpected *time.Time `json:"nextExpected,omitempty"`
	Late         bool       `json:"late"`
}

type failureCounts struct {
	Days    []string       `json:"days"` // the UTC days counted, oldest first
	Reasons []reasonCounts `json:"reasons"`
	Totals  []int64        `json:"totals"` // per day
}

type reasonCounts struct {
	Reason string  `json:"reason"` // "<stage>: <label>"
	Counts []int64 `json:"counts"` // per day, as days
	Total  int64   `json:"total"`
}

type queueHealth struct {
	Queue      string `json:"queue"`
	DeadLetter bool   `json:"deadLetter"` // a queue's dead-letter queue
	Messages   int64  `json:"messages"`
	InFlight   int64  `json:"inFlight"`
	Delayed    int64  `json:"delayed"`
}

// getHealth serves GET /v1/health.
func (h *handler) getHealth(ctx context.Context, r request) (any, error) {
	for k := range r.QueryStringParameters {
		return nil, badRequest(fmt.Sprintf("unknown parameter %q: GET /v1/health takes none", k))
	}
	if h.health == nil {
		return nil, retryable{"health is unavailable right now; try again", fmt.Errorf("no health table")}
	}
	now := h.clock()
	st, err := h.health.Read(ctx, now)
	if err != nil {
		return nil, retryable{"health is unavailable right now; try again", err}
	}
	var depths []healthstore.Depth
	var qerr error
	if h.queues != nil {
		depths, qerr = h.queues.Depths(ctx)
	}
	ans := healthOf(st, depths, topology.Default().Schedules, now)
	if qerr != nil {
		h.log.WarnContext(ctx, "queue depths not read", "error", qerr.Error())
		ans.QueueError = "the queues' depths could not be read right now; try again"
	}
	return ans, nil
}

// healthOf is the answer from what was read, as of now.
func healthOf(st healthstore.Status, depths []healthstore.Depth, schedules []topology.Schedule, now time.Time) healthAnswer {
	ans := healthAnswer{At: now.UTC(), Stream: streamHealth{Verdict: health.Unknown, Shards: []shardHealth{}},
		Schedules: []scheduleHealth{}, Queues: []queueHealth{}}
	rank := map[string]int{health.Unknown: 0, health.OK: 1, health.Behind: 2}
	for i, l := range st.Lags {
		v := l.Verdict(now)
		ans.Stream.Shards = append(ans.Stream.Shards, shardHealth{Shard: l.Shard, LagSeconds: seconds(l.Lag), At: l.At.UTC(),
			AgeSeconds: seconds(max(now.Sub(l.At), 0)), Records: l.Records, Verdict: v})
		if i == 0 || rank[v] > rank[ans.Stream.Verdict] {
			ans.Stream.Verdict = v
		}
	}
	sort.Slice(ans.Stream.Shards, func(i, j int) bool { return ans.Stream.Shards[i].Shard < ans.Stream.Shards[j].Shard })
	runs := map[string]health.Run{}
	for _, r := range st.Runs {
		runs[r.Schedule] = r
	}
	timeouts := map[string]time.Duration{}
	for _, f := range topology.Default().Functions {
		timeouts[f.Name] = f.Timeout
	}
	for _, s := range schedules {
		sh := scheduleHealth{Schedule: s.Name, Function: s.Function, EverySeconds: s.Every.Seconds(), Outcome: "never"}
		if r, ok := runs[s.Name]; ok && !r.Started.IsZero() {
			sh.Ran, sh.Outcome, sh.Reason, sh.Count, sh.Unit = true, r.Outcome, r.Reason, r.Count, r.Unit
			sh.Started, sh.Finished = instant(r.Started), instant(r.Finished)
			age := seconds(max(now.Sub(r.Started), 0))
			sh.AgeSeconds, sh.NextExpected = &age, instant(r.Next(s.Every))
			sh.Late = r.Late(s.Every, timeouts[s.Function], now)
		} else {
			sh.Late = true
		}
		ans.Schedules = append(ans.Schedules, sh)
	}
	ans.Failures = failuresOf(st.Failures, now)
	for _, d := range depths {
		name, dead := d.Name, false
		if base, ok := strings.CutSuffix(name, deadLetterSuffix); ok {
			name, dead = base, true
		}
		ans.Queues = append(ans.Queues, queueHealth{Queue: name, DeadLetter: dead, Messages: d.Messages, InFlight: d.InFlight, Delayed: d.Delayed})
	}
	return ans
}

// failuresOf lays the days' counts out by reason, over the last healthstore.FailureDays days, the
// reasons with the most first.
func failuresOf(fs []health.Failures, now time.Time) failureCounts {
	days := health.Days(now, healthstore.FailureDays)
	out := failureCounts{Days: days, Reasons: []reasonCounts{}, Totals: make([]int64, len(days))}
	byReason := map[string]*reasonCounts{}
	for _, f := range fs {
		i := slices.Index(days, f.Day)
		if i < 0 {
			continue
		}
		for reason, n := range f.Counts {
			rc := byReason[reason]
			if rc == nil {
				rc = &reasonCounts{Reason: reason, Counts: make([]int64, len(days))}
				byReason[reason] = rc
			}
			rc.Counts[i] += n
			rc.Total += n
			out.Totals[i] += n
		}
	}
	for _, rc := range byReason {
		out.Reasons = append(out.Reasons, *rc)
	}
	sort.Slice(out.Reasons, func(i, j int) bool {
		a, b := out.Reasons[i], out.Reasons[j]
		return a.Total > b.Total || a.Total == b.Total && a.Reason < b.Reason
	})
	return out
}

// deadLetterSuffix ends the name of a queue's dead-letter queue among the depths (queueWatch).
const deadLetterSuffix = "DeadLetter"

func seconds(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }

func instant(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// queueWatch reads the depths of the queues this function may read the attributes of
// (topology.Attributes), and of their dead-letter queues.
type queueWatch struct {
	client healthstore.AttributeGetter
	queues []healthstore.Queue
}

func (q queueWatch) Depths(ctx context.Context) ([]healthstore.Depth, error) {
	return healthstore.Depths(ctx, q.client, q.queues)
}

// watchedQueues are the queues whose attributes the function may read, from its environment:
// each queue, then its dead-letter queue when it has one.
func watchedQueues(getenv func(string) string) []healthstore.Queue {
	t := topology.Default()
	f, _ := t.Function("profiles")
	var out []healthstore.Queue
	for _, u := range f.Uses {
		if u.Access != topology.Attributes {
			continue
		}
		if url := getenv(t.EnvVar(u.Resource)); url != "" {
			out = append(out, healthstore.Queue{Name: u.Resource, URL: url})
		}
		if url := getenv(t.DeadLetterEnvVar(u.Resource)); url != "" {
			out = append(out, healthstore.Queue{Name: u.Resource + deadLetterSuffix, URL: url})
		}
	}
	return out
}
