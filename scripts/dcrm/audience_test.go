package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/shared/audience"
	"github.com/dcrm-project/dcrm/shared/keystore"
)

// TestAudienceCommands keeps audience definitions through the profile API of a local stack running
// the real functions: added (created, then replaced), listed, shown, removed; a definition another
// names is not removed; a key without the audiences scope is refused; a bad file never leaves.
func TestAudienceCommands(t *testing.T) {
	ctx := context.Background()
	st, keys := devtest.Stack(t, "audiences")
	writer, _, err := keys.AddProfileAPIKey(ctx, keystore.APIKey{Name: "marketing", Scopes: []keystore.Scope{keystore.Read, keystore.Audiences}, Created: time.Now()})
	require.NoError(t, err)
	reader, _, err := keys.AddProfileAPIKey(ctx, keystore.APIKey{Name: "reporting", Scopes: []keystore.Scope{keystore.Read}, Created: time.Now()})
	require.NoError(t, err)
	t.Setenv("DCRM_API_URL", st.APIURL())
	t.Setenv("DCRM_PROFILE_API_KEY", writer)

	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
		return path
	}
	vip := file("vip.json", `{"id": "vip", "name": "VIP", "rule": {"field": "revenue", "op": ">=", "value": 500}}`)
	vip2 := file("vip2.json", `{"id": "vip", "name": "Very important", "rule": {"field": "revenue", "op": ">=", "value": 1000}}`)
	gold := file("gold.json", `{"id": "gold", "name": "Gold", "rule": {"all": [
		{"field": "audiences", "op": "contains", "value": "vip"}, {"field": "orders", "op": ">=", "value": 10}]}}`)
	dcrm := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"audience"}, args...), &out)
		return out.String(), err
	}

	out, err := dcrm("list")
	require.NoError(t, err)
	require.Contains(t, out, "no audiences defined")
	out, err = dcrm("add", vip)
	require.NoError(t, err)
	require.Equal(t, "created vip (version 1)\n", out)
	out, err = dcrm("add", vip2)
	require.NoError(t, err)
	require.Equal(t, "replaced vip (version 2)\n", out)
	out, err = dcrm("add", gold)
	require.NoError(t, err)
	require.Equal(t, "created gold (version 1)\n", out)

	out, err = dcrm("list")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	require.Regexp(t, `^ID +NAME +VERSION +UPDATED$`, lines[0])
	require.Regexp(t, `^gold +Gold +1 +\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$`, lines[1])
	require.Regexp(t, `^vip +Very important +2 +\d{4}-`, lines[2])

	out, err = dcrm("show", "vip")
	require.NoError(t, err)
	d, err := audience.Parse([]byte(out))
	require.NoError(t, err, "show prints the definition, which add takes back: %s", out)
	require.Equal(t, "Very important", d.Name)
	_, err = dcrm("show", "nobody")
	require.ErrorContains(t, err, "404")

	// A cycle, and a removal of what another names, are refused, saying why.
	cycle := file("cycle.json", `{"id": "vip", "name": "VIP", "rule": {"field": "audiences", "op": "contains", "value": "gold"}}`)
	_, err = dcrm("add", cycle)
	require.ErrorContains(t, err, "409")
	require.ErrorContains(t, err, "form a cycle")
	_, err = dcrm("rm", "vip")
	require.ErrorContains(t, err, "409")
	require.ErrorContains(t, err, `\"vip\" is named by \"gold\"`)

	// A key without the audiences scope reads and changes nothing.
	t.Setenv("DCRM_PROFILE_API_KEY", reader)
	_, err = dcrm("list")
	require.NoError(t, err)
	_, err = dcrm("add", vip)
	require.ErrorContains(t, err, "403")
	require.ErrorContains(t, err, `lacks the \"audiences\" scope, which PUT /v1/audiences/{audienceId} needs`)
	_, err = dcrm("rm", "gold")
	require.ErrorContains(t, err, "403")
	t.Setenv("DCRM_PROFILE_API_KEY", writer)

	// A bad file is refused before any request: here the API is unreachable.
	t.Setenv("DCRM_API_URL", "http://127.0.0.1:1")
	bad := file("bad.json", `{"id": "bad", "name": "Bad", "rule": {"all": [{"field": "traits.plan", "op": "~", "value": "x"}]}}`)
	_, err = dcrm("add", bad)
	require.ErrorContains(t, err, bad+`: invalid audience definition: rule.all[0]: field "traits.plan": op "~"`)
	huge := file("huge.json", `{"id": "huge", "name": "Huge", "rule": {"field": "traits.x", "op": "==", "value": "`+strings.Repeat("x", 40<<10)+`"}}`)
	_, err = dcrm("add", huge)
	require.ErrorContains(t, err, "over 32768 bytes")
	_, err = dcrm("add", filepath.Join(dir, "missing.json"))
	require.ErrorContains(t, err, "no such file")
	t.Setenv("DCRM_API_URL", st.APIURL())

	out, err = dcrm("rm", "gold")
	require.NoError(t, err)
	require.Equal(t, "removed gold\n", out)
	_, err = dcrm("rm", "vip")
	require.NoError(t, err)
	_, err = dcrm("rm", "vip")
	require.ErrorContains(t, err, "404")
	out, err = dcrm("list")
	require.NoError(t, err)
	require.Contains(t, out, "no audiences defined")

	for _, args := range [][]string{{"audience"}, {"audience", "add"}, {"audience", "show"}, {"audience", "rm", "a", "b"},
		{"audience", "list", "x"}, {"audience", "nope", "x"}} {
		require.ErrorIs(t, run(ctx, args, &bytes.Buffer{}), errUsage, "%v", args)
	}
}
