// Command soak runs the local stack under steady load for a bounded time, injecting a fault every
// few minutes, and shows that memory and latency stay flat and that nothing is lost.
//
//	go run ./scripts/soak [flags]       (make soak; SOAK_DURATION=10m make soak)
//
// It starts a local host of its own (random prefix, free loopback ports) on the functions in
// -functions, with a fault injector (scripts/devstack/faults) in front of DynamoDB, Kinesis and
// SQS; sends -rate events per second (page views of -people customers, each identified once, in
// batches, sent again on 429 and 5xx as the SDKs do) through POST /v1/batch; every -fault-every it
// injects the next fault of a cycle for -fault-for (partial PutRecords failures, throttled
// PutRecords, DynamoDB throttling, an SQS outage, stitch killed mid-batch); every -sample it
// records the resident memory of every process (the host, each function's processes, the local
// servers by the ports they listen on), collect's latency percentiles and the stitch lag (an
// event sent, until it is on its profile). At the end it waits for the stream to drain and checks
// that every customer's profile counts exactly the events sent, and that the failed-events queue
// is empty; then it compares the last window's medians with the first window's after warm-up.
// It exits non-zero if anything was lost, or if one of dcrm's processes (the host, the functions)
// or the latency grew beyond -max-memory-growth or -max-latency-growth. The local servers' memory
// is shown but not judged: it holds what the run wrote (the stream keeps every record for its
// retention, nobody reads the downstream queues during a soak, the tables grow with the
// profiles' history), and in AWS they are managed services. -chart draws the samples.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/faults"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/source"
)

type config struct {
	duration, faultEvery, faultFor, sample, warmup, window time.Duration
	rate, people, batch                                    int
	maxMemGrowth, maxLatGrowth                             float64
	functions, chart                                       string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var c config
	fs := flag.NewFlagSet("soak", flag.ExitOnError)
	fs.DurationVar(&c.duration, "duration", envDuration("SOAK_DURATION", time.Hour), "how long to send load (SOAK_DURATION)")
	fs.IntVar(&c.rate, "rate", 40, "events per second")
	fs.IntVar(&c.people, "people", 300, "customers the events are of")
	fs.IntVar(&c.batch, "batch", 20, "events per request")
	fs.DurationVar(&c.faultEvery, "fault-every", 3*time.Minute, "how often a fault is injected")
	fs.DurationVar(&c.faultFor, "fault-for", 20*time.Second, "how long each fault lasts")
	fs.DurationVar(&c.sample, "sample", time.Minute, "how often memory and latency are sampled")
	fs.DurationVar(&c.warmup, "warmup", 5*time.Minute, "samples ignored at the start (at most a sixth of the run)")
	fs.DurationVar(&c.window, "window", 10*time.Minute, "the first and last windows compared (at most a third of the run after warm-up)")
	fs.Float64Var(&c.maxMemGrowth, "max-memory-growth", 0.25, "largest allowed growth of a process's median memory, last window over first")
	fs.Float64Var(&c.maxLatGrowth, "max-latency-growth", 0.5, "largest allowed growth of the median latency and lag, last window over first")
	fs.StringVar(&c.functions, "functions", filepath.Join("bin", "functions"), "folder with <function>/bootstrap")
	fs.StringVar(&c.chart, "chart", "", "draw memory, latency and lag per sample as SVG here")
	_ = fs.Parse(os.Args[1:])
	if err := run(ctx, c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c config, out io.Writer) error {
	direct := localaws.DefaultEndpoints()
	for _, ep := range []string{direct.DynamoDB, direct.Kinesis, direct.SQS} {
		if u, err := url.Parse(ep); err != nil || !isLoopback(u.Hostname()) {
			return fmt.Errorf("endpoint %s is not on this machine: the soak runs on loopback only", ep)
		}
	}
	in := faults.New(nil)
	proxied := direct
	for _, ep := range []*string{&proxied.DynamoDB, &proxied.Kinesis, &proxied.SQS} {
		p, err := faults.StartProxy(*ep, faults.Middleware(in))
		if err != nil {
			return err
		}
		defer p.Close()
		*ep = p.URL()
	}
	logDir, err := os.MkdirTemp("", "dcrm-soak")
	if err != nil {
		return err
	}
	prefix := fmt.Sprintf("soak-%06x", rand.IntN(1<<24))
	st, err := stack.Start(ctx, stack.Config{Prefix: prefix, FunctionsDir: c.functions, Endpoints: proxied, LogDir: logDir,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	defer stack.DeleteResources(direct, topology.Default(), st.Resources())
	defer st.Close()
	keys := keystore.New(direct.Dynamo(), st.Resources()[topology.KeyTable])
	s := &soak{c: c, st: st, in: in, direct: direct, out: out, run: prefix, sent: map[string]int{},
		writeKey: keystore.NewKey("wk_"), profileKey: keystore.NewKey("pk_")}
	if err := keys.PutSource(ctx, s.writeKey, source.Source{ID: "src_" + prefix, Name: "soak"}); err != nil {
		return err
	}
	if err := keys.PutProfileAPIKey(ctx, s.profileKey, "soak"); err != nil {
		return err
	}
	fmt.Fprintf(out, "soak: %s for %s at %d events/s, a fault every %s for %s; function logs in %s\n",
		prefix, c.duration, c.rate, c.faultEvery, c.faultFor, logDir)
	return s.soak(ctx)
}

type soak struct {
	c                    config
	st                   *stack.Stack
	in                   *faults.Injector
	direct               localaws.Endpoints
	out                  io.Writer
	run                  string
	writeKey, profileKey string

	mu        sync.Mutex
	sent      map[string]int // events taken by collect, by customer's device
	latencies []time.Duration
	refused   int
	samples   []sample
}

// localServers are the stand-ins for AWS's services, by the names memory gives them.
var localServers = map[string]bool{"dynamodb": true, "kinesis": true, "sqs": true}

type sample struct {
	at       time.Duration
	rss      map[string]int64 // kB by process group: host, function names, the local servers
	p50, p99 time.Duration    // collect, this minute
	lag      time.Duration    // stitch lag of a probe
	fault    string
}

func (s *soak) soak(ctx context.Context) error {
	load, stopLoad := context.WithTimeout(ctx, s.c.duration)
	defer stopLoad()
	var wg sync.WaitGroup
	wg.Go(func() { s.load(load, ctx) })
	wg.Go(func() { s.faults(load) })
	start := time.Now()
	ticker := time.NewTicker(s.c.sample)
	defer ticker.Stop()
	for done := false; !done; {
		select {
		case <-load.Done():
			done = true
		case <-ticker.C:
			s.takeSample(ctx, time.Since(start))
		}
	}
	wg.Wait()
	s.in.Clear()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	fmt.Fprintln(s.out, "soak: load stopped; waiting for the stream to drain")
	lost := s.verify(ctx)
	var drawn error
	if s.c.chart != "" {
		drawn = os.WriteFile(s.c.chart, s.figure(start).SVG(), 0o644)
	}
	return errors.Join(lost, s.report(), drawn)
}

// load sends c.rate events a second in batches until ctx ends; a batch under way is sent until
// collect takes it, unless stop ends first (the soak interrupted).
func (s *soak) load(ctx, stop context.Context) {
	every := time.Duration(float64(time.Second) * float64(s.c.batch) / float64(s.c.rate))
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	var senders sync.WaitGroup
	defer senders.Wait()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		batch := make([]map[string]any, s.c.batch)
		devices := make([]string, s.c.batch)
		for i := range batch {
			who := rand.IntN(s.c.people)
			devices[i] = fmt.Sprintf("d-%s-%d", s.run, who)
			batch[i] = map[string]any{"type": "page", "anonymousId": devices[i], "name": "Home",
				"messageId": fmt.Sprintf("m-%s-%d-%d", s.run, n, i), "properties": map[string]any{"path": "/p/" + fmt.Sprint(rand.IntN(500))}}
			if rand.IntN(20) == 0 {
				batch[i] = map[string]any{"type": "identify", "anonymousId": devices[i], "userId": fmt.Sprintf("u-%s-%d", s.run, who),
					"messageId": fmt.Sprintf("m-%s-%d-%d", s.run, n, i)}
			}
		}
		senders.Go(func() {
			if s.send(stop, batch) {
				s.mu.Lock()
				for _, d := range devices {
					s.sent[d]++
				}
				s.mu.Unlock()
			}
		})
	}
}

// send posts a batch until collect takes it (429 and 5xx: again, after a pause), timing each try.
func (s *soak) send(ctx context.Context, batch []map[string]any) bool {
	body, _ := json.Marshal(map[string]any{"batch": batch})
	for attempt := 0; attempt < 100; attempt++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.st.APIURL()+"/v1/batch", bytes.NewReader(body))
		req.SetBasicAuth(s.writeKey, "")
		req.Header.Set("Content-Type", "application/json")
		began := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if ctx.Err() != nil {
			return false
		}
		took := time.Since(began)
		status := 0
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			status = resp.StatusCode
		}
		s.mu.Lock()
		s.latencies = append(s.latencies, took)
		if status != http.StatusOK {
			s.refused++
		}
		s.mu.Unlock()
		if status == http.StatusOK {
			return true
		}
		if status != 0 && status != http.StatusTooManyRequests && status < 500 {
			fmt.Fprintf(s.out, "soak: collect answered %d; batch dropped\n", status)
			return false
		}
		time.Sleep(500 * time.Millisecond) // the sender's back-off
	}
	return false
}

// faultCycle is what the soak injects, in turn.
func (s *soak) faultCycle() []faults.Rule {
	sends := []string{"SendMessage", "SendMessageBatch"}
	return []faults.Rule{
		{Name: "kinesis-partial", Service: "kinesis", Operations: []string{"PutRecords"}, FailRecords: 0.3},
		{Name: "kinesis-throttled", Service: "kinesis", Operations: []string{"PutRecords"}, Probability: 0.5, Error: faults.KinesisThrottled},
		{Name: "dynamodb-throttled", Service: "dynamodb", Probability: 0.03, Error: faults.DynamoThroughputExceeded},
		{Name: "sqs-outage", Service: "sqs", Operations: sends, Error: faults.SQSUnavailable},
		{Name: "stitch-crash", Service: "dynamodb", Operations: []string{"TransactWriteItems", "PutItem", "UpdateItem", "BatchWriteItem"},
			Times: 1, Drop: true, Hook: func(*http.Request) { _, _ = s.st.Crash("stitch") }},
	}
}

func (s *soak) faults(ctx context.Context) {
	cycle := s.faultCycle()
	for i := 0; ; i++ {
		if !sleep(ctx, s.c.faultEvery) {
			return
		}
		r := cycle[i%len(cycle)]
		r.For = s.c.faultFor
		s.in.Add(r)
		fmt.Fprintf(s.out, "soak: %s: fault %s for %s\n", time.Now().Format(time.TimeOnly), r.Name, s.c.faultFor)
		if !sleep(ctx, s.c.faultFor) {
			return
		}
		fmt.Fprintf(s.out, "soak: %s: fault %s over, fired %d times\n", time.Now().Format(time.TimeOnly), r.Name, s.in.Fired(r.Name))
		s.in.Remove(r.Name)
	}
}

func (s *soak) takeSample(ctx context.Context, at time.Duration) {
	s.mu.Lock()
	lat := s.latencies
	s.latencies = nil
	s.mu.Unlock()
	smp := sample{at: at, rss: s.memory(), p50: percentile(lat, 0.5), p99: percentile(lat, 0.99), lag: s.probe(ctx)}
	for _, r := range s.in.Rules() {
		smp.fault = r.Name
	}
	s.mu.Lock()
	s.samples = append(s.samples, smp)
	s.mu.Unlock()
	fmt.Fprintf(s.out, "soak: %6s  collect p50 %-8s p99 %-8s  stitch lag %-8s  rss %s %s\n", at.Round(time.Second),
		smp.p50.Round(time.Millisecond), smp.p99.Round(time.Millisecond), smp.lag.Round(time.Millisecond), rssText(smp.rss), smp.fault)
}

// probe sends one event of a probe visitor and times how long until it is on its profile.
func (s *soak) probe(ctx context.Context) time.Duration {
	device := "probe-" + s.run
	s.mu.Lock()
	want := s.sent[device] + 1
	s.mu.Unlock()
	began := time.Now()
	if !s.send(ctx, []map[string]any{{"type": "page", "anonymousId": device, "name": "Probe", "messageId": fmt.Sprintf("probe-%s-%d", s.run, want)}}) {
		return 0
	}
	s.mu.Lock()
	s.sent[device]++
	s.mu.Unlock()
	for time.Since(began) < 2*time.Minute && ctx.Err() == nil {
		if n, ok := s.events(ctx, device); ok && n >= want {
			return time.Since(began)
		}
		sleep(ctx, 100*time.Millisecond) // polling the profile API
	}
	return time.Since(began)
}

// events is how many events the profile of a device holds.
func (s *soak) events(ctx context.Context, device string) (int, bool) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.st.APIURL()+"/v1/profiles?anonymousId="+url.QueryEscape(device), nil)
	req.Header.Set("Authorization", "Bearer "+s.profileKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var v struct {
		Counts struct {
			Events int `json:"events"`
		} `json:"counts"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&v) != nil {
		return 0, false
	}
	return v.Counts.Events, true
}

// verify waits until every device's profile holds its events (an identify may have merged two
// devices' profiles: they are counted together) and reports what is missing or doubled.
func (s *soak) verify(ctx context.Context) error {
	byProfile := func() (map[string]int, map[string]int, error) {
		sent, got := map[string]int{}, map[string]int{}
		for device, n := range s.sent {
			id, events, err := s.profileOf(ctx, device)
			if err != nil {
				return nil, nil, err
			}
			sent[id] += n
			got[id] = events
		}
		return sent, got, nil
	}
	deadline := time.Now().Add(10 * time.Minute)
	for {
		sent, got, err := byProfile()
		var off []string
		if err == nil {
			for id, n := range sent {
				if got[id] != n {
					off = append(off, fmt.Sprintf("%s: %d of %d", id, got[id], n))
				}
			}
		} else {
			off = append(off, err.Error())
		}
		total := 0
		for _, n := range sent {
			total += n
		}
		if len(off) == 0 {
			fmt.Fprintf(s.out, "soak: all %d events on %d profiles, each counted once\n", total, len(sent))
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			slices.Sort(off)
			return fmt.Errorf("%d profiles not as sent after the drain, e.g. %s", len(off), strings.Join(off[:min(5, len(off))], "; "))
		}
		sleep(ctx, 2*time.Second) // polling until the stream is drained
	}
	failed, err := s.direct.SQSClient().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.st.Resources()[topology.FailedQueue]), MaxNumberOfMessages: 10})
	if err != nil {
		return err
	}
	if len(failed.Messages) > 0 {
		return fmt.Errorf("the failed-events queue is not empty: %s", aws.ToString(failed.Messages[0].Body))
	}
	fmt.Fprintln(s.out, "soak: the failed-events queue is empty")
	return nil
}

func (s *soak) profileOf(ctx context.Context, device string) (string, int, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.st.APIURL()+"/v1/profiles?anonymousId="+url.QueryEscape(device), nil)
	req.Header.Set("Authorization", "Bearer "+s.profileKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	var v struct {
		ProfileID string `json:"profileId"`
		Counts    struct {
			Events int `json:"events"`
		} `json:"counts"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&v) != nil {
		return "", 0, fmt.Errorf("no profile yet for %s (%d)", device, resp.StatusCode)
	}
	return v.ProfileID, v.Counts.Events, nil
}

// report compares the last window with the first after warm-up.
func (s *soak) report() error {
	n := len(s.samples)
	warm := min(int(s.c.warmup/s.c.sample), n/6)
	w := max(1, min(int(s.c.window/s.c.sample), (n-warm)/3))
	if n-warm < 2*w {
		return fmt.Errorf("%d samples: too few to compare (run longer or sample more often)", n)
	}
	first, last := s.samples[warm:warm+w], s.samples[n-w:]
	fmt.Fprintf(s.out, "\nsoak: medians, samples %d–%d against %d–%d (of %d, every %s)\n", warm+1, warm+w, n-w+1, n, n, s.c.sample)
	fmt.Fprintf(s.out, "%-22s %12s %12s %8s\n", "", "first", "last", "change")
	var errs []error
	check := func(name string, a, b float64, unit string, limit float64) {
		if a == 0 {
			fmt.Fprintf(s.out, "%-22s %12s %10.1f%-2s (started during the run)\n", name, "-", b, unit)
			return
		}
		change := b/a - 1
		verdict := ""
		if server := strings.TrimPrefix(name, "rss "); localServers[server] {
			// They hold the run's data (the stream's records, the queues' messages, the tables) and,
			// in AWS, are managed services: their growth is shown, not judged.
			verdict = "  holds the run's data: not judged"
		} else if change > limit {
			verdict = "  GREW"
			errs = append(errs, fmt.Errorf("%s grew %.0f%% (limit %.0f%%)", name, 100*change, 100*limit))
		}
		fmt.Fprintf(s.out, "%-22s %10.1f%-2s %10.1f%-2s %+7.0f%%%s\n", name, a, unit, b, unit, 100*change, verdict)
	}
	for _, proc := range slices.Sorted(func(yield func(string) bool) {
		for k := range s.samples[n-1].rss {
			if !yield(k) {
				return
			}
		}
	}) {
		check("rss "+proc, medianOf(first, func(x sample) float64 { return float64(x.rss[proc]) / 1024 }),
			medianOf(last, func(x sample) float64 { return float64(x.rss[proc]) / 1024 }), "MB", s.c.maxMemGrowth)
	}
	check("collect p50", medianOf(first, func(x sample) float64 { return ms(x.p50) }), medianOf(last, func(x sample) float64 { return ms(x.p50) }), "ms", s.c.maxLatGrowth)
	check("collect p99", medianOf(first, func(x sample) float64 { return ms(x.p99) }), medianOf(last, func(x sample) float64 { return ms(x.p99) }), "ms", s.c.maxLatGrowth*2)
	check("stitch lag", medianOf(first, func(x sample) float64 { return ms(x.lag) }), medianOf(last, func(x sample) float64 { return ms(x.lag) }), "ms", s.c.maxLatGrowth)
	s.mu.Lock()
	fmt.Fprintf(s.out, "requests refused and sent again: %d\n", s.refused)
	s.mu.Unlock()
	if len(errs) == 0 {
		fmt.Fprintln(s.out, "soak: memory and latency flat")
	}
	return errors.Join(errs...)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func medianOf(xs []sample, f func(sample) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	d = slices.Clone(d)
	slices.Sort(d)
	return d[min(len(d)-1, int(p*float64(len(d))))]
}

func rssText(rss map[string]int64) string {
	var parts []string
	for _, k := range slices.SortedFunc(func(yield func(string) bool) {
		for k := range rss {
			if !yield(k) {
				return
			}
		}
	}, cmp.Compare) {
		parts = append(parts, fmt.Sprintf("%s=%dM", k, rss[k]/1024))
	}
	return strings.Join(parts, " ")
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func isLoopback(host string) bool {
	return host == "localhost" || strings.HasPrefix(host, "127.") || host == "::1"
}

func envDuration(name string, fallback time.Duration) time.Duration {
	if d, err := time.ParseDuration(os.Getenv(name)); err == nil && d > 0 {
		return d
	}
	return fallback
}
