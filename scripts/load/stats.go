package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
)

// Percentile is the p-th percentile (0–100) of sorted values by the nearest-rank method: the
// smallest value with at least p % of the values at or below it. 0 for no values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// Latencies summarises durations.
type Latencies struct {
	Count int           `json:"count"`
	P50   time.Duration `json:"p50"`
	P90   time.Duration `json:"p90"`
	P99   time.Duration `json:"p99"`
	Max   time.Duration `json:"max"`
}

// Summarise returns the percentiles of ds (which it sorts).
func Summarise(ds []time.Duration) Latencies {
	slices.Sort(ds)
	l := Latencies{Count: len(ds), P50: Percentile(ds, 50), P90: Percentile(ds, 90), P99: Percentile(ds, 99)}
	if len(ds) > 0 {
		l.Max = ds[len(ds)-1]
	}
	return l
}

// counters are what the senders report while the run goes.
type counters struct {
	mu        sync.Mutex
	sent      int // events in requests answered 200
	accepted  int // of those, events the endpoint took
	requests  int // requests answered 200
	errors    int // requests that failed for good
	retries   int // 429 and 503 answers waited out
	latencies []time.Duration
	recent    []time.Duration // of the last progress period
	perSecond map[int64]int   // events accepted in each second of the run, for the peak
	statuses  map[int]int
	lastError string
	timeline  []Tick
}

func newCounters() *counters {
	return &counters{perSecond: map[int64]int{}, statuses: map[int]int{}}
}

func (c *counters) ok(events, accepted int, d time.Duration, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	c.sent += events
	c.accepted += accepted
	c.latencies = append(c.latencies, d)
	c.recent = append(c.recent, d)
	c.perSecond[at.Unix()] += accepted
}

func (c *counters) failed(status int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errors++
	c.statuses[status]++
	c.lastError = reason
}

func (c *counters) retried(status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.retries++
	c.statuses[status]++
}

// progress draws one line of progress on w every period until stop is closed, and adds a tick to
// the timeline each time (the stream's position from stream).
func (c *counters) progress(w io.Writer, start time.Time, total time.Duration, period time.Duration, stream streamPosition, stop <-chan struct{}) {
	t := time.NewTicker(period)
	defer t.Stop()
	prev := 0
	for {
		select {
		case <-stop:
			fmt.Fprintln(w)
			return
		case <-t.C:
		}
		put, read, _ := stream()
		c.mu.Lock()
		accepted, errs, retries := c.accepted, c.errors, c.retries
		recent := c.recent
		c.recent = nil
		c.mu.Unlock()
		elapsed := time.Since(start)
		rate := float64(accepted-prev) / period.Seconds()
		l := Summarise(recent)
		c.tick(Tick{At: elapsed.Seconds(), Accepted: accepted - prev, P50: millis(l.P50), P99: millis(l.P99), Put: put, Read: read})
		prev = accepted
		const width = 24
		done := min(width, int(float64(width)*elapsed.Seconds()/total.Seconds()))
		fmt.Fprintf(w, "\r[%s%s] %4.0fs  %8d events  %7.0f/s  errors %d  retries %d  p99 %s   ",
			strings.Repeat("#", done), strings.Repeat(".", width-done), elapsed.Seconds(), accepted, rate, errs, retries, l.P99.Round(time.Millisecond))
	}
}

// tick adds t to the timeline.
func (c *counters) tick(t Tick) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.timeline = append(c.timeline, t)
}

// peakToMean is the busiest second's accepted events over the mean of the run's full seconds.
func (c *counters) peakToMean() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.perSecond) < 3 {
		return 1
	}
	secs := make([]int64, 0, len(c.perSecond))
	for s := range c.perSecond {
		secs = append(secs, s)
	}
	slices.Sort(secs)
	secs = secs[1 : len(secs)-1] // the first and last seconds are partial
	total, peak := 0, 0
	for _, s := range secs {
		total += c.perSecond[s]
		peak = max(peak, c.perSecond[s])
	}
	if total == 0 {
		return 1
	}
	return float64(peak) / (float64(total) / float64(len(secs)))
}
