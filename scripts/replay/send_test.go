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

// A batch refused for the moment (a source over its rate) is sent again after Retry-After; one
// refused for good stops the replay.
func TestSendWaitsWhenAskedTo(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Write([]byte(`{"success":true}`))
	}))
	defer srv.Close()
	start := time.Now()
	require.NoError(t, Send(context.Background(), srv.Client(), srv.URL, "wk", []map[string]any{{"type": "track"}}, 10))
	assert.Equal(t, int32(2), calls.Load())
	assert.GreaterOrEqual(t, time.Since(start), time.Second)

	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
	}))
	defer bad.Close()
	assert.ErrorContains(t, Send(context.Background(), bad.Client(), bad.URL, "wk", []map[string]any{{"type": "track"}}, 10), "400")
}
