// Command collectcpu measures the CPU the real collect process spends per event: the bootstrap
// binary as it ships, run by the local host (scripts/devstack: the Lambda Runtime API and the
// emulated HTTP API, payload format 2.0) against the local Kinesis server, driven over loopback with
// POST /v1/batch calls of realistic 1.2 KB track events (package benchevent).
//
//	go run ./scripts/bench/collectcpu [flags]
//
// It builds functions/collect as Lambda runs it (CGO off, lambda.norpc), starts a local host of
// collect alone (no stream mapping or schedule: nothing reads the stream meanwhile) in a child
// process of its own, seeds a browser source, warms the processes up, then for each run sends
// -requests calls of -events events, -concurrency at a time, and reads the CPU time (utime + stime
// in /proc/<pid>/stat) of every collect process (the host's children), of the host and of the
// Kinesis server (the process listening on the Kinesis endpoint's port) before and after. Each run
// prints one line in the format of `go test -bench`, which scripts/bench summarises:
//
//	BenchmarkCollectProcess/batch-100events  <requests>  <ns/op>  <collect-cpu-s/Mevents> ...
//
// Every call must be answered 200 with every event accepted, else the run fails. Without the local
// servers it says so and exits 0 (-require makes that an error). Linux only (/proc).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dcrm-project/dcrm/scripts/bench/benchevent"
	"github.com/dcrm-project/dcrm/shared/localaws"
)

type options struct {
	requests, concurrency, events, visitors, runs, warmup int
	bootstrap                                             string
	require                                               bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" { // the child: the local host
		if err := serve(os.Args[2:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "collectcpu serve:", err)
			os.Exit(1)
		}
		return
	}
	var o options
	fs := flag.NewFlagSet("collectcpu", flag.ExitOnError)
	fs.IntVar(&o.requests, "requests", 300, "calls per run")
	fs.IntVar(&o.concurrency, "concurrency", 8, "calls under way at once")
	fs.IntVar(&o.events, "events", 100, "events per call")
	fs.IntVar(&o.visitors, "visitors", 1, "visitors per call (the events are shared out among them); each call has its own")
	fs.IntVar(&o.runs, "runs", 3, "measured runs (one line each)")
	fs.IntVar(&o.warmup, "warmup", 40, "calls before the first run (processes started, caches warm)")
	fs.StringVar(&o.bootstrap, "bootstrap", "", "collect's bootstrap binary (default: build ./functions/collect)")
	fs.BoolVar(&o.require, "require", false, "fail, rather than skip, when the local servers are not running")
	_ = fs.Parse(os.Args[1:])
	if o.requests < 1 || o.concurrency < 1 || o.events < 1 || o.events > 2500 || o.visitors < 1 || o.visitors > o.events || o.runs < 1 {
		fmt.Fprintln(os.Stderr, "collectcpu: -requests, -concurrency, -runs ≥ 1; 1 ≤ -visitors ≤ -events ≤ 2500")
		os.Exit(2)
	}
	endpoints := localaws.DefaultEndpoints()
	if err := endpoints.Check(); err != nil {
		if o.require {
			fmt.Fprintln(os.Stderr, "collectcpu:", err)
			os.Exit(1)
		}
		fmt.Println("collectcpu: skipped:", err)
		return
	}
	if err := measure(o, endpoints, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "collectcpu:", err)
		os.Exit(1)
	}
}

// measure starts the host, warms it up and prints one result line per run.
func measure(o options, endpoints localaws.Endpoints, out io.Writer) error {
	tmp, err := os.MkdirTemp("", "collectcpu")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if o.bootstrap == "" {
		o.bootstrap = filepath.Join(tmp, "bootstrap")
		cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", o.bootstrap, "./functions/collect")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build collect (run from the repository's root): %v\n%s", err, b)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	host := exec.Command(self, "serve", "-bootstrap", o.bootstrap, "-logs", filepath.Join(tmp, "logs"))
	host.Stderr = os.Stderr
	stdin, err := host.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := host.StdoutPipe()
	if err != nil {
		return err
	}
	if err := host.Start(); err != nil {
		return err
	}
	defer func() {
		stdin.Close() // the host stops, deletes what it made and exits
		done := make(chan struct{})
		go func() { _ = host.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = host.Process.Kill()
		}
	}()
	var ready hostInfo
	if err := json.NewDecoder(bufio.NewReader(stdout)).Decode(&ready); err != nil {
		return fmt.Errorf("the local host did not start: %w", err)
	}
	kinesisPID, err := listenerPID(endpoints.Kinesis)
	if err != nil {
		fmt.Fprintf(os.Stderr, "collectcpu: the Kinesis server's CPU is not measured: %v\n", err)
	}

	d := newDriver(o, ready)
	if _, err := d.run(o.warmup); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	for range o.runs {
		fns := children(host.Process.Pid)
		if len(fns) == 0 {
			return errors.New("no collect process under the local host")
		}
		d.retries.Store(0)
		before := cpuOf(append(fns, host.Process.Pid, kinesisPID))
		start := time.Now()
		accepted, err := d.run(o.requests)
		if err != nil {
			return err
		}
		elapsed := time.Since(start)
		after := cpuOf(append(fns, host.Process.Pid, kinesisPID))
		if now := children(host.Process.Pid); !slices.Equal(now, fns) {
			return fmt.Errorf("collect's processes changed during the run (%v, then %v): a crash or timeout; see the function log", fns, now)
		}
		perM := func(pids ...int) float64 {
			var ticks int64
			for _, p := range pids {
				ticks += after[p] - before[p]
			}
			return float64(ticks) / clockTicks / float64(accepted) * 1e6
		}
		fmt.Fprintf(out, "BenchmarkCollectProcess/batch-%devents-%dvisitors \t%d\t%d ns/op\t%.0f events/s\t%.1f collect-cpu-s/Mevents\t%.1f host-cpu-s/Mevents\t%.1f kinesis-cpu-s/Mevents\t%d processes\t%d retries\n",
			o.events, o.visitors, o.requests, elapsed.Nanoseconds()/int64(o.requests), float64(accepted)/elapsed.Seconds(),
			perM(fns...), perM(host.Process.Pid), perM(kinesisPID), len(fns), d.retries.Load())
	}
	return loadAverage(out)
}

// hostInfo is what the child prints once the local host serves.
type hostInfo struct {
	API      string `json:"api"`
	WriteKey string `json:"writeKey"`
}

// driver sends the calls: each its own visitors and message ids, with a browser's headers.
type driver struct {
	o       options
	info    hostInfo
	client  *http.Client
	auth    string
	next    atomic.Int64 // calls made, for distinct ids
	retries atomic.Int64 // calls made again after a 429 or 503
}

func newDriver(o options, info hostInfo) *driver {
	tr := &http.Transport{MaxIdleConnsPerHost: o.concurrency, MaxConnsPerHost: o.concurrency, DisableCompression: true}
	return &driver{o: o, info: info, client: &http.Client{Transport: tr, Timeout: time.Minute},
		auth: "Basic " + base64.StdEncoding.EncodeToString([]byte(info.WriteKey+":"))}
}

// body is call n's batch: o.events events shared out among o.visitors visitors of their own.
func (d *driver) body(n int64) ([]byte, error) {
	items := make([]any, d.o.events)
	for i := range items {
		id := int(n)*d.o.events + i
		items[i] = benchevent.Track(id, fmt.Sprintf("v-%08d-%04d-%s", n, i%d.o.visitors, benchevent.Visitor[:18]))
	}
	return json.Marshal(benchevent.Batch(items))
}

// run sends calls and returns the events accepted; any other answer than 200 with every event
// accepted is an error. The bodies are made before the calls are timed.
func (d *driver) run(calls int) (int, error) {
	bodies := make([][]byte, calls)
	for i := range bodies {
		b, err := d.body(d.next.Add(1))
		if err != nil {
			return 0, err
		}
		bodies[i] = b
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		accepted int
		work     = make(chan []byte)
	)
	for range d.o.concurrency {
		wg.Go(func() {
			for b := range work {
				n, err := d.send(b)
				mu.Lock()
				accepted += n
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	for _, b := range bodies {
		work <- b
	}
	close(work)
	wg.Wait()
	return accepted, firstErr
}

// send makes the call, again after a 429 or 503 (the stream's shards were at their write limit,
// which the local Kinesis server enforces as AWS does), up to ten times in all, as SDKs do; the
// retries are counted and reported.
func (d *driver) send(body []byte) (int, error) {
	for attempt := 1; ; attempt++ {
		n, status, err := d.sendOnce(body)
		if err != nil && attempt < 10 && (status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable) {
			d.retries.Add(1)
			time.Sleep(time.Second)
			continue
		}
		return n, err
	}
}

func (d *driver) sendOnce(body []byte) (int, int, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, d.info.API+"/v1/batch", bytes.NewReader(body))
	if err != nil {
		return 0, 0, err
	}
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("Authorization", d.auth)
	req.Header.Set("Origin", benchevent.Origin)
	req.Header.Set("User-Agent", benchevent.UserAgent)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK || !bytes.Contains(b, []byte(`"success":true`)) || bytes.Contains(b, []byte(`"rejected"`)) {
		return 0, resp.StatusCode, fmt.Errorf("POST /v1/batch: %d %s", resp.StatusCode, b)
	}
	return d.o.events, resp.StatusCode, nil
}

// loadAverage prints the machine's load average, to be quoted with the figures.
func loadAverage(out io.Writer) error {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return err
	}
	f := strings.Fields(string(b))
	if len(f) >= 3 {
		fmt.Fprintf(out, "collectcpu: load average %s %s %s\n", f[0], f[1], f[2])
	}
	return nil
}

// listenerPID is the process that listens on the endpoint's TCP port.
func listenerPID(endpoint string) (int, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return 0, err
	}
	return portOwner(u.Port())
}
