package main

import (
	"math"
	"sync"
	"time"

	"github.com/dcrm-project/dcrm/shared/source"
)

// limiter keeps each source to its rate (source.Source.Rate, events per second) with a token
// bucket per source, in this instance of the function: a flooding source is refused with a 429
// without slowing the others. Each instance counts on its own, so a source may send up to its
// rate times the instances running; the global limits are the HTTP API stage's throttle and the
// function's reserved concurrency (infra).
//
// A bucket holds at most one second of its rate. A call is taken while the bucket is not empty and
// costs one token per event, so that a batch larger than the bucket still goes through once and
// leaves the bucket owing: the source waits until it has paid.
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket // by source id
}

// maxBuckets bounds the limiter's memory; past it the buckets start afresh (sources are made by
// operators, so this is a few hundred at most in practice).
const maxBuckets = 10_000

type bucket struct {
	tokens   float64
	at       time.Time
	refusing bool // its last call was refused
}

// wait tells how long src must wait before its next call is taken (0 when it may send now), and
// whether this is the first refusal since a call was taken.
func (l *limiter) wait(src source.Source, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucket(src, now)
	if b.tokens > 0 {
		b.refusing = false
		return 0, false
	}
	first := !b.refusing
	b.refusing = true
	return time.Duration((1 - b.tokens) / float64(src.Rate()) * float64(time.Second)), first
}

// take charges n events to src.
func (l *limiter) take(src source.Source, n int, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.bucket(src, now).tokens -= float64(n)
}

// bucket returns src's bucket, refilled up to now.
func (l *limiter) bucket(src source.Source, now time.Time) *bucket {
	rate := float64(src.Rate())
	b, ok := l.buckets[src.ID]
	if !ok {
		if l.buckets == nil || len(l.buckets) >= maxBuckets {
			l.buckets = map[string]*bucket{}
		}
		b = &bucket{tokens: rate, at: now}
		l.buckets[src.ID] = b
	}
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = math.Min(rate, b.tokens+rate*elapsed.Seconds())
		b.at = now
	}
	return b
}

// retryAfterSeconds is a wait as a Retry-After value: whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}
