package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSendWaitsOutRetryAfter: a 429 or 503 is sent again after the Retry-After the endpoint asks
// for; the answer's accepted count is taken; anything else is an error, not retried.
func TestSendWaitsOutRetryAfter(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, _, _ := r.BasicAuth()
		switch n := calls.Add(1); {
		case user == "bad":
			w.WriteHeader(http.StatusBadRequest)
		case n == 1:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		case n == 2:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			assert.Equal(t, "http://localhost:8080", r.Header.Get("Origin"), "a browser request carries its origin")
			_, _ = w.Write([]byte(`{"success":true,"accepted":2}`))
		}
	}))
	defer srv.Close()
	p := &Plan{}
	r := newRunner(srv.Client(), Target{API: srv.URL, BrowserKey: "wk", ServerKey: "bad", Origin: "http://localhost:8080"}, p, 10, 1, time.Second)
	r.send(context.Background(), Request{Body: []byte(`{"batch":[]}`), Events: 3, Browser: true, Visitors: []string{"v"}, Counts: map[string]int{"v": 3}}, time.Now().Add(time.Minute))
	require.Equal(t, int32(3), calls.Load())
	require.Equal(t, 2, r.stats.retries)
	require.Equal(t, 3, r.stats.sent)
	require.Equal(t, 2, r.stats.accepted, "the endpoint's count of what it took")
	require.Equal(t, 3, r.received["v"])
	require.Equal(t, 3, r.attempts)

	r.send(context.Background(), Request{Body: []byte(`{"batch":[]}`), Events: 1}, time.Now().Add(time.Minute))
	require.Equal(t, 1, r.stats.errors, "a 400 is not retried")
	require.Equal(t, int32(4), calls.Load())
}
