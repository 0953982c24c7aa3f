package main

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/keystore"
)

// The sizes route answers the members each scoring run counted, oldest first, a run some of whose
// parts have not counted marked partial; an audience's size is its latest whole run's.
func TestAudienceSizes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	auth := f.addKey(t, keystore.APIKey{Name: "marketing", Scopes: []keystore.Scope{keystore.Read, keystore.Audiences}})
	for _, id := range []string{"vip", "quiet"} {
		status, body := call(t, f.h, audienceRequest(http.MethodPut, true, id, definition(id, ""), auth))
		require.Equal(t, http.StatusCreated, status, body)
	}
	// The size of an audience no run counted is absent.
	status, body := call(t, f.h, audienceRequest(http.MethodGet, true, "vip", "", auth))
	require.Equal(t, http.StatusOK, status, body)
	require.NotContains(t, body, "size")

	day := now.Truncate(24 * time.Hour)
	old := day.AddDate(0, 0, -40).Add(10 * time.Hour) // beyond 30 days
	yesterday := day.AddDate(0, 0, -1).Add(23 * time.Hour)
	morning := day.Add(9 * time.Hour)
	late := day.Add(11 * time.Hour) // one part of two has counted
	record := func(run time.Time, index, parts int, n int64) {
		t.Helper()
		require.NoError(t, f.audiences.RecordSizes(ctx, run, index, parts, map[string]int64{"vip": n}))
	}
	record(old, 0, 1, 5)
	record(yesterday, 0, 2, 10)
	record(yesterday, 1, 2, 20)
	record(yesterday, 1, 2, 20) // a part retried adds nothing
	record(morning, 0, 1, 42)
	record(late, 0, 2, 7)

	sizes := func(query map[string]string) (int, map[string]any) {
		req := memberRequest(http.MethodGet, "sizes", "vip", query, "", auth)
		return call(t, f.h, req)
	}
	status, body = sizes(nil)
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "vip", body["audienceId"])
	require.Equal(t, []any{
		map[string]any{"at": yesterday.Format(time.RFC3339), "members": 30.0},
		map[string]any{"at": morning.Format(time.RFC3339), "members": 42.0},
		map[string]any{"at": late.Format(time.RFC3339), "members": 7.0, "partial": true},
	}, body["sizes"])
	status, body = sizes(map[string]string{"days": "90"})
	require.Equal(t, http.StatusOK, status, body)
	require.Len(t, body["sizes"], 4, "the run of 40 days ago")
	status, body = sizes(map[string]string{"days": "1"})
	require.Equal(t, http.StatusOK, status, body)
	require.Len(t, body["sizes"], 2, "today's runs")

	status, body = call(t, f.h, audienceRequest(http.MethodGet, true, "vip", "", auth))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, 42.0, body["size"], "the latest whole run's")
	status, body = call(t, f.h, audienceRequest(http.MethodGet, true, "quiet", "", auth))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, 0.0, body["size"], "a run counted no member")
	status, body = call(t, f.h, memberRequest(http.MethodGet, "sizes", "quiet", nil, "", auth))
	require.Equal(t, http.StatusOK, status, body)
	require.Len(t, body["sizes"], 3)

	for _, tc := range []struct {
		id     string
		query  map[string]string
		status int
		error  string
	}{
		{"vip", map[string]string{"days": "0"}, 400, "days must be a whole number from 1 to 90"},
		{"vip", map[string]string{"days": "91"}, 400, "days must be a whole number from 1 to 90"},
		{"vip", map[string]string{"days": "x"}, 400, "days must be"},
		{"vip", map[string]string{"limit": "3"}, 400, `unknown parameter "limit": use days`},
		{"nobody", nil, 404, `no audience "nobody"`},
		{"Not_An-Id", nil, 400, "audienceId must be a lower-case slug"},
	} {
		status, body := call(t, f.h, memberRequest(http.MethodGet, "sizes", tc.id, tc.query, "", auth))
		require.Equal(t, tc.status, status, "%v: %v", tc.query, body)
		require.Contains(t, body["error"], tc.error)
	}
}
