// Package fanouttest runs the parts a run's planner sends in the test's own process, as Lambda runs
// asynchronous invocations: each in the background, on a handler of its own (another execution
// environment). Only tests import it.
package fanouttest

import (
	"context"
	"encoding/json"
	"sync"
)

// Local is a fanout.Invoker that hands each payload to Handle in a goroutine of its own and keeps
// the payloads, the results and the errors, in the order the invocations ended (payloads: sent).
type Local[S any] struct {
	// Handle runs one invocation, as the function's handler would in a fresh environment.
	Handle func(ctx context.Context, payload json.RawMessage) (S, error)

	wg       sync.WaitGroup
	mu       sync.Mutex
	payloads [][]byte
	results  []S
	errs     []error
}

// InvokeAsync implements fanout.Invoker.
func (l *Local[S]) InvokeAsync(_ context.Context, payload []byte) error {
	l.mu.Lock()
	l.payloads = append(l.payloads, payload)
	l.mu.Unlock()
	l.wg.Go(func() {
		res, err := l.Handle(context.Background(), payload)
		l.mu.Lock()
		defer l.mu.Unlock()
		l.results, l.errs = append(l.results, res), append(l.errs, err)
	})
	return nil
}

// Wait waits for every invocation sent so far to end, and returns the payloads sent and what the
// invocations returned.
func (l *Local[S]) Wait() (payloads [][]byte, results []S, errs []error) {
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.payloads, l.results, l.errs
}
