// Command load replays a realistic shop's traffic through the local stack and says how fast it
// went, what it asked of AWS and what that would cost: `make load` (after `make up`), or
//
//	go run ./scripts/replay -write-calls bin/load/web.jsonl        # the public event sets as Segment calls
//	go run ./scripts/load -calls bin/load/web.jsonl,bin/load/ecommerce.jsonl [-rate 200] [-duration 60s]
//
// The calls files (one Segment call a line) are the base population. The plan (Build) multiplies
// it into copies with distinct visitor, user, email and message ids, some of them returning
// visitors of an earlier copy; copies arrive at random times (-overlap of them at once on average)
// so their calls interleave, each keeping its order and spacing (gaps capped), timed so the last
// planned call is now. Browser
// copies send each page's calls in a small request with the browser write key, the Origin and a
// sentAt; server copies' calls go in batches with the trusted key. Bodies are encoded before the
// run starts, so the sender only posts.
//
// The run posts the requests to /v1/batch at -rate events per second with -concurrency senders
// for -duration, waiting out 429 and 503 as Retry-After asks; a progress line on stderr shows
// events accepted, the rate, errors and the p99 latency. Then it waits for the stream to drain,
// takes the local host's usage counts (GET /_local/usage) and the CPU of every process, looks up
// sampled visitors' profiles, and prints the summary (events/s, collect latency percentiles,
// stitch lag, units and DynamoDB requests (by operation) per event, cost per million events in both DynamoDB and Kinesis capacity
// modes, the bottleneck), also written as JSON to -out. -markdown FILE rewrites the generated
// parts of BENCHMARKS.md.
//
// Only a loopback endpoint is accepted: this is a load generator for the local stack. It reads
// DCRM_API_URL, DCRM_WRITE_KEY (browser source), DCRM_SERVER_WRITE_KEY, DCRM_PROFILE_API_KEY and
// DCRM_USAGE_URL (default: the API's /_local/usage) from the environment (.dcrm/local.env).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/scripts/devstack/usage"
	"github.com/dcrm-project/dcrm/shared/cost"
	"github.com/dcrm-project/dcrm/shared/localaws"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// Config is a run's settings.
type Config struct {
	Calls       []string
	Rate        float64
	Concurrency int
	Duration    time.Duration
	Drain       time.Duration
	Samples     int
	Plan        Options
	Assume      cost.Assumptions
	State       string // the local state folder, for the servers' pid files
	Progress    time.Duration
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	calls := fs.String("calls", "bin/load/web.jsonl,bin/load/ecommerce.jsonl", "comma-separated files of Segment calls, one a line")
	cfg := Config{Plan: Options{}, Assume: cost.DefaultAssumptions()}
	fs.Float64Var(&cfg.Rate, "rate", 200, "events per second to offer")
	fs.IntVar(&cfg.Concurrency, "concurrency", 8, "requests in flight at most")
	fs.DurationVar(&cfg.Duration, "duration", 60*time.Second, "how long to send")
	fs.DurationVar(&cfg.Drain, "drain", 2*time.Minute, "how long to wait for the stream to be stitched after sending")
	fs.IntVar(&cfg.Samples, "samples", 200, "visitors whose profiles are checked for stitch lag")
	fs.Uint64Var(&cfg.Plan.Seed, "seed", 1, "the plan's random seed")
	fs.StringVar(&cfg.Plan.RunID, "run-id", strconv.FormatInt(time.Now().Unix()%1e6, 36), "put in every id of the run, so that runs on one stack never share a visitor")
	fs.Float64Var(&cfg.Plan.Returning, "returning", 0.3, "share of copies that are returning visitors")
	fs.Float64Var(&cfg.Plan.Browser, "browser", 0.8, "share of copies sent by the browser tracker (the rest by a server SDK)")
	fs.IntVar(&cfg.Plan.ServerBatch, "server-batch", 50, "calls per server SDK request")
	fs.IntVar(&cfg.Plan.BrowserBatch, "browser-batch", 10, "calls per browser request at most (a page's calls)")
	fs.DurationVar(&cfg.Plan.GapCap, "gap-cap", 30*time.Second, "gaps between a visitor copy's calls shortened to this")
	fs.Float64Var(&cfg.Assume.EventsPerMonth, "events-per-month", cfg.Assume.EventsPerMonth, "monthly volume that hourly prices are spread over")
	fs.Float64Var(&cfg.Assume.PeakToMean, "peak-to-mean", cfg.Assume.PeakToMean, "the shop's peak hour over its monthly mean, for provisioned capacity")
	fs.IntVar(&cfg.Plan.Overlap, "overlap", 8, "copies of the population running at once, on average")
	fs.Float64Var(&cfg.Assume.Utilisation, "utilisation", cfg.Assume.Utilisation, "provisioned shards' utilisation at the peak")
	fs.Float64Var(&cfg.Assume.ScaledUtilisation, "scaled-utilisation", cfg.Assume.ScaledUtilisation, "auto-scaled tables' utilisation on average")
	origin := fs.String("origin", "http://localhost:8080", "the Origin of browser requests (one of the browser source's origins)")
	out := fs.String("out", "bin/load/summary.json", "write the summary as JSON here (\"\": nowhere)")
	markdown := fs.String("markdown", "", "rewrite the generated sections of this BENCHMARKS.md")
	chartFile := fs.String("chart", "", "draw the run's timeline (events/s, collect latency, stream backlog) as SVG here")
	definitions := fs.String("definitions", "", "define the computed traits and audiences of this file (scripts/load/definitions.json) for the run, removed after it")
	fs.StringVar(&cfg.State, "state", envOr("DCRM_HOME", ".dcrm"), "the local state folder (the servers' pid files)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	cfg.Calls = strings.Split(*calls, ",")
	cfg.Progress = time.Second
	t := Target{API: os.Getenv("DCRM_API_URL"), BrowserKey: os.Getenv("DCRM_WRITE_KEY"), ServerKey: os.Getenv("DCRM_SERVER_WRITE_KEY"),
		ProfileKey: os.Getenv("DCRM_PROFILE_API_KEY"), Origin: *origin, UsageURL: os.Getenv("DCRM_USAGE_URL")}
	var defs Definitions
	if *definitions != "" {
		var err error
		if defs, err = ReadDefinitions(*definitions); err != nil {
			return err
		}
		remove, err := defs.Define(ctx, t)
		if err != nil {
			return err
		}
		defer remove()
	}
	s, err := Run(ctx, cfg, t, stderr)
	if err != nil {
		return err
	}
	s.Traits, s.Audiences = len(defs.Traits), len(defs.Audiences)
	s.WriteText(stdout)
	if *out != "" {
		if err := writeJSON(*out, s); err != nil {
			return err
		}
	}
	if *chartFile != "" {
		title := fmt.Sprintf("Load replay: %.0f events/s offered for %.0f s, %s", cfg.Rate, cfg.Duration.Seconds(), s.Started.Format(time.DateOnly))
		if err := writeFile(*chartFile, Chart(title, s.Timeline).SVG()); err != nil {
			return err
		}
	}
	if *markdown != "" {
		if err := UpdateBenchmarks(*markdown, s); err != nil {
			return err
		}
	}
	return nil
}

// Run plans and sends the traffic and measures what it made.
func Run(ctx context.Context, cfg Config, t Target, progress io.Writer) (Summary, error) {
	if t.API == "" || t.BrowserKey == "" || t.ServerKey == "" || t.ProfileKey == "" {
		return Summary{}, errors.New("DCRM_API_URL, DCRM_WRITE_KEY, DCRM_SERVER_WRITE_KEY and DCRM_PROFILE_API_KEY must be set: run `make up` and source .dcrm/local.env")
	}
	if err := loopback(t.API); err != nil {
		return Summary{}, err
	}
	if t.UsageURL == "" {
		t.UsageURL = strings.TrimRight(t.API, "/") + usage.Path
	}
	if err := loopback(t.UsageURL); err != nil {
		return Summary{}, err
	}
	if cfg.Rate <= 0 || cfg.Concurrency <= 0 || cfg.Duration <= 0 {
		return Summary{}, fmt.Errorf("-rate, -concurrency and -duration must be positive")
	}
	base, err := LoadCalls(cfg.Calls)
	if err != nil {
		return Summary{}, fmt.Errorf("%w (write them with `go run ./scripts/replay -write-calls FILE`, or `make load`)", err)
	}
	opt := cfg.Plan
	opt.Events = int(cfg.Rate*cfg.Duration.Seconds()*1.05) + 1
	opt.End = time.Now()
	fmt.Fprintf(progress, "load: planning %d events from %d base calls…\n", opt.Events, len(base))
	plan, err := Build(base, opt)
	if err != nil {
		return Summary{}, err
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: cfg.Concurrency + 4, MaxIdleConns: cfg.Concurrency + 4, Proxy: nil}}

	e := localaws.DefaultEndpoints()
	pids := servers(cfg.State, map[string]string{"dynamodb": e.DynamoDB, "kinesis": e.Kinesis, "sqs": e.SQS})
	pids["load"] = os.Getpid()
	s := Summary{Started: time.Now().UTC(), Machine: machine(), TargetRate: cfg.Rate, Concurrency: cfg.Concurrency, Copies: plan.Copies, Seed: opt.Seed}
	before, err := fetchUsage(ctx, hc, t.UsageURL)
	if err != nil {
		return s, err
	}
	cpuBefore := cpuOf(pids)

	r := newRunner(hc, t, plan, cfg.Rate, cfg.Concurrency, cfg.Duration)
	stream := func() (put, read int64, ok bool) {
		now, err := fetchUsage(ctx, hc, t.UsageURL)
		if err != nil {
			return 0, 0, false
		}
		d := now.Sub(before)
		return d.Kinesis.Records, d.Kinesis.RecordsRead, true
	}
	began := time.Now()
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		r.stats.progress(progress, began, cfg.Duration, cfg.Progress, stream, stop)
		close(done)
	}()
	start, end := r.run(ctx)
	close(stop)
	<-done
	if ctx.Err() != nil {
		return s, ctx.Err()
	}

	fmt.Fprintln(progress, "load: waiting for the stream to be stitched…")
	after, drained, err := drain(ctx, hc, t.UsageURL, before, cfg.Drain, func(d usage.Snapshot) {
		r.stats.tick(Tick{At: time.Since(began).Seconds(), Put: d.Kinesis.Records, Read: d.Kinesis.RecordsRead})
	})
	if err != nil {
		return s, err
	}
	cpuAfter := cpuOf(pids)
	s.Machine.LoadEnd = loadAverage()
	d := after.Sub(before)

	st := r.stats
	s.Seconds = end.Sub(start).Seconds()
	s.EventsSent, s.EventsAccepted, s.Requests, s.Errors, s.Retries, s.LastError = st.sent, st.accepted, st.requests, st.errors, st.retries, st.lastError
	s.BrowserRequests, s.ServerRequests, s.Attempts = r.browser, r.server, r.attempts
	s.EventsPerSecond = float64(st.accepted) / s.Seconds
	s.Collect = ms(Summarise(st.latencies))
	s.Drained = drained
	s.PeakToMean = st.peakToMean()
	s.Usage = d
	s.Timeline = st.timeline

	s.CPUSeconds = map[string]float64{}
	for k, v := range d.CPU {
		s.CPUSeconds[k] = v
	}
	for k, v := range cpuAfter {
		if k == "load" {
			s.CPUSeconds["load generator"] = (v - cpuBefore[k]).Seconds()
			continue
		}
		s.CPUSeconds["server:"+k] = (v - cpuBefore[k]).Seconds()
	}
	s.Bottleneck = bottleneck(s.CPUSeconds)

	u := d.CostUsage(st.accepted)
	s.PerEvent = perEvent(u, d)
	// The run's own peak-to-mean shows the local stand-ins' stalls, not a shop's day: it is reported,
	// and the assumption sizes provisioned capacity.
	s.Assumption = cfg.Assume
	s.Cost = map[string]CostSummary{}
	if st.accepted > 0 {
		for _, setup := range cost.Setups {
			est, err := cost.PerMillion(u, s.Assumption, setup)
			if err != nil {
				return s, err
			}
			s.Cost[setup.String()] = costSummary(est)
		}
	}

	// Profiles are looked up after the usage was taken: the checks are not the shop's traffic.
	s.StitchLag, err = checkProfiles(ctx, hc, t, sample(r.lastSent, r.received, cfg.Samples), r.lastSent, r.received)
	if err != nil {
		return s, err
	}
	return s, nil
}

// loopback refuses an endpoint that is not on this machine's loopback interface.
func loopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("endpoint %q is not a URL", raw)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("endpoint %s is not on loopback: the load replay drives the local stack only", raw)
}

func writeJSON(path string, s Summary) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(path, append(b, '\n'))
}

func writeFile(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
