package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/shared/keystore"
)

// The shop's definitions the load runs use are accepted by the profile API as they are, and a run's
// definitions are gone after it; a definition the API refuses stops the run before it starts, with
// the API's reason, and leaves nothing defined.
func TestDefinitionsAreDefinedForARunAndRemovedAfter(t *testing.T) {
	st, keys := devtest.Stack(t, "loaddefs")
	ctx := context.Background()
	key := keystore.NewKey("pk_")
	require.NoError(t, keys.PutProfileAPIKey(ctx, key, "load definitions"))
	target := Target{API: st.APIURL(), ProfileKey: key}
	ids := func(path string) []string {
		req, err := http.NewRequest(http.MethodGet, target.API+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		var list map[string][]struct {
			ID string `json:"id"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
		var out []string
		for _, v := range list {
			for _, d := range v {
				out = append(out, d.ID)
			}
		}
		return out
	}

	defs, err := ReadDefinitions("definitions.json")
	require.NoError(t, err)
	require.Len(t, defs.Traits, 6)
	require.Len(t, defs.Audiences, 12)
	remove, err := defs.Define(ctx, target)
	require.NoError(t, err)
	require.Len(t, ids("/v1/traits"), 6)
	require.Len(t, ids("/v1/audiences"), 12)
	remove()
	require.Empty(t, ids("/v1/audiences"))
	require.Empty(t, ids("/v1/traits"))

	// An audience reading a trait that is not defined: refused, and the trait before it removed.
	bad := filepath.Join(t.TempDir(), "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"traits": [{"id": "t-views", "name": "Views", "event": "Product Viewed", "aggregate": "count"}],
		"audiences": [{"id": "a-bad", "name": "Bad", "rule": {"field": "computed.t-missing", "op": ">=", "value": 1}}]}`), 0o644))
	defs, err = ReadDefinitions(bad)
	require.NoError(t, err)
	_, err = defs.Define(ctx, target)
	require.ErrorContains(t, err, "PUT /v1/audiences/a-bad: 409")
	require.ErrorContains(t, err, "t-missing")
	require.Empty(t, ids("/v1/traits"))

	require.NoError(t, os.WriteFile(bad, []byte(`{"traits": [], "segments": []}`), 0o644))
	_, err = ReadDefinitions(bad)
	require.ErrorContains(t, err, "segments", "an unknown member is refused")
}
