package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// The profile API answers 503 when a profile kept changing under concurrent writes, and asks for
// the request again: the command does so, a few times, and then reports the answer.
func TestA503IsTriedAgain(t *testing.T) {
	var calls, failFirst atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "Bearer pk_test", r.Header.Get("Authorization"))
		if calls.Add(1) <= failFirst.Load() {
			http.Error(w, `{"error":"the profile kept changing under concurrent writes; try again"}`, http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	t.Setenv("DCRM_API_URL", srv.URL)
	t.Setenv("DCRM_PROFILE_API_KEY", "pk_test")

	failFirst.Store(2)
	answer, err := callAPI(context.Background(), http.MethodPost, "/v1/profiles/p/split", []byte(`{}`))
	require.NoError(t, err)
	require.JSONEq(t, `{"ok":true}`, string(answer))
	require.EqualValues(t, 3, calls.Load())

	calls.Store(0)
	failFirst.Store(100)
	_, err = callAPI(context.Background(), http.MethodPost, "/v1/profiles/p/split", []byte(`{}`))
	require.ErrorContains(t, err, "503 Service Unavailable")
	require.EqualValues(t, apiAttempts, calls.Load(), "then it gives up and says why")
}
