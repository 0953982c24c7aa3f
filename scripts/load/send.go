package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Target is the endpoint and the credentials a run uses.
type Target struct {
	API        string // base URL of the local HTTP API
	BrowserKey string // a browser source's write key
	ServerKey  string // a trusted server source's write key
	ProfileKey string // a profile-API key that may read
	Origin     string // the browser source's allowed origin the tracker's requests carry
	UsageURL   string // the local host's usage counts
}

// runner sends a plan's requests at a rate, with a number of senders, until the plan or the time
// runs out.
type runner struct {
	hc          *http.Client
	target      Target
	plan        *Plan
	rate        float64 // events per second
	concurrency int
	duration    time.Duration
	stats       *counters

	mu       sync.Mutex
	lastSent map[string]time.Time // per visitor: when the last request carrying it was answered 200
	received map[string]int       // per visitor: events of it accepted (Request.Counts)
	attempts int                  // requests sent, retries included
	browser  int                  // requests answered 200 by kind
	server   int
}

func newRunner(hc *http.Client, t Target, p *Plan, rate float64, concurrency int, d time.Duration) *runner {
	return &runner{hc: hc, target: t, plan: p, rate: rate, concurrency: concurrency, duration: d, stats: newCounters(),
		lastSent: map[string]time.Time{}, received: map[string]int{}}
}

// run paces the requests: the i-th is due when the events before it, at rate, have had their time.
// When every sender is busy the pace slips: the run then shows what the stack could take.
func (r *runner) run(ctx context.Context) (start, end time.Time) {
	start = time.Now()
	deadline := start.Add(r.duration)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range r.concurrency {
		wg.Go(func() {
			for i := range jobs {
				r.send(ctx, r.plan.Requests[i], deadline.Add(10*time.Second))
			}
		})
	}
	events := 0
	timer := time.NewTimer(0)
	defer timer.Stop()
pace:
	for i, req := range r.plan.Requests {
		due := start.Add(time.Duration(float64(events) / r.rate * float64(time.Second)))
		if due.After(deadline) {
			break
		}
		timer.Reset(time.Until(due))
		select {
		case <-ctx.Done():
			break pace
		case <-timer.C:
		}
		select {
		case jobs <- i:
		case <-ctx.Done():
			break pace
		case <-time.After(time.Until(deadline)):
			break pace
		}
		events += req.Events
	}
	close(jobs)
	wg.Wait()
	return start, time.Now()
}

// send posts one request, waiting out 429 and 503 as the endpoint asks (Retry-After) until giveUp.
func (r *runner) send(ctx context.Context, req Request, giveUp time.Time) {
	key := r.target.ServerKey
	if req.Browser {
		key = r.target.BrowserKey
	}
	for {
		hr, err := http.NewRequestWithContext(ctx, http.MethodPost, r.target.API+"/v1/batch", bytes.NewReader(req.Body))
		if err != nil {
			r.stats.failed(0, err.Error())
			return
		}
		hr.SetBasicAuth(key, "")
		hr.Header.Set("Content-Type", "application/json")
		if req.Browser {
			hr.Header.Set("Origin", r.target.Origin)
		}
		r.mu.Lock()
		r.attempts++
		r.mu.Unlock()
		began := time.Now()
		resp, err := r.hc.Do(hr)
		if err != nil {
			r.stats.failed(0, err.Error())
			return
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		took := time.Since(began)
		switch resp.StatusCode {
		case http.StatusOK:
			accepted := req.Events
			var answer struct {
				Accepted *int `json:"accepted"`
			}
			if json.Unmarshal(body, &answer) == nil && answer.Accepted != nil {
				accepted = *answer.Accepted
			}
			now := time.Now()
			r.stats.ok(req.Events, accepted, took, now)
			r.mu.Lock()
			for _, v := range req.Visitors {
				r.lastSent[v] = now
			}
			for v, n := range req.Counts {
				r.received[v] += n
			}
			if req.Browser {
				r.browser++
			} else {
				r.server++
			}
			r.mu.Unlock()
			return
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			r.stats.retried(resp.StatusCode)
			wait := time.Second
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
				wait = time.Duration(s) * time.Second
			}
			if time.Now().Add(wait).After(giveUp) {
				r.stats.failed(resp.StatusCode, "gave up waiting: "+string(body))
				return
			}
			select {
			case <-ctx.Done():
				r.stats.failed(0, ctx.Err().Error())
				return
			case <-time.After(wait):
			}
		default:
			r.stats.failed(resp.StatusCode, string(body))
			return
		}
	}
}
