package main

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/source"
)

// TestProfileCommands looks a visitor up, reads their history and export, erases them and checks
// that they are gone, through the profile API of a local stack running the real functions.
func TestProfileCommands(t *testing.T) {
	ctx := context.Background()
	st, keys := devtest.Stack(t, "ops")
	writeKey, profileKey := keystore.NewKey("wk_"), keystore.NewKey("pk_")
	require.NoError(t, keys.PutSource(ctx, writeKey, source.Source{ID: "src_ops", Name: "ops"}))
	require.NoError(t, keys.PutProfileAPIKey(ctx, profileKey, "ops"))
	t.Setenv("DCRM_API_URL", st.APIURL())
	t.Setenv("DCRM_PROFILE_API_KEY", profileKey)

	req, err := http.NewRequest(http.MethodPost, st.APIURL()+"/v1/page", strings.NewReader(`{"anonymousId":"ops-visitor","name":"Home","properties":{"path":"/home"}}`))
	require.NoError(t, err)
	req.SetBasicAuth(writeKey, "")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)

	var profile bytes.Buffer
	require.Eventually(t, func() bool {
		profile.Reset()
		return run(ctx, []string{"profile", "get", "--anonymous-id", "ops-visitor"}, &profile) == nil
	}, time.Minute, 100*time.Millisecond, "the page view was never stitched")
	id := between(profile.String(), `"profileId": "`, `"`)
	require.NotEmpty(t, id, profile.String())

	var events, export, erased bytes.Buffer
	require.NoError(t, run(ctx, []string{"profile", "events", id}, &events))
	require.Contains(t, events.String(), `"/home"`)
	require.NoError(t, run(ctx, []string{"profile", "export", id}, &export))
	require.Contains(t, export.String(), "ops-visitor")
	require.NoError(t, run(ctx, []string{"profile", "erase", id}, &erased))

	err = run(ctx, []string{"profile", "get", id}, &bytes.Buffer{})
	require.ErrorContains(t, err, "404", "the erased profile is still served")
	require.ErrorIs(t, run(ctx, []string{"profile", "export"}, &bytes.Buffer{}), errUsage)
}

func between(s, start, end string) string {
	_, after, ok := strings.Cut(s, start)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, end)
	return v
}
