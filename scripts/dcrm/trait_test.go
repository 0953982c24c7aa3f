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
	"github.com/dcrm-project/dcrm/shared/computed"
	"github.com/dcrm-project/dcrm/shared/keystore"
)

// TestTraitCommands keeps computed-trait definitions through the profile API of a local stack
// running the real functions: added from a file and from standard input (created, then
// replaced), listed, shown, removed; a trait an audience reads is not removed; a key without the
// audiences scope is refused; a bad file never leaves.
func TestTraitCommands(t *testing.T) {
	ctx := context.Background()
	st, keys := devtest.Stack(t, "traits")
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
	views := `{"id": "views-30d", "name": "Views, 30 days", "event": "Product Viewed", "aggregate": "count", "within": "30d"}`
	viewsFile := file("views.json", views)
	spend := file("spend.json", `{"id": "spend", "name": "Spend", "event": "Order Completed", "aggregate": "sum", "property": "revenue"}`)
	dcrm := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"trait"}, args...), &out)
		return out.String(), err
	}

	out, err := dcrm("list")
	require.NoError(t, err)
	require.Contains(t, out, "no computed traits defined")
	out, err = dcrm("add", viewsFile)
	require.NoError(t, err)
	require.Equal(t, "created views-30d\n", out)
	stdin = strings.NewReader(strings.Replace(views, `"Views, 30 days"`, `"Product views"`, 1))
	t.Cleanup(func() { stdin = os.Stdin })
	out, err = dcrm("add", "-")
	require.NoError(t, err)
	require.Equal(t, "replaced views-30d\n", out)
	out, err = dcrm("add", spend)
	require.NoError(t, err)
	require.Equal(t, "created spend\n", out)

	out, err = dcrm("list")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	require.Regexp(t, `^ID +NAME +EVENT +AGGREGATE +WITHIN$`, lines[0])
	require.Regexp(t, `^spend +Spend +Order Completed +sum revenue +all time$`, lines[1])
	require.Regexp(t, `^views-30d +Product views +Product Viewed +count +30d$`, lines[2])

	out, err = dcrm("show", "views-30d")
	require.NoError(t, err)
	d, err := computed.Parse([]byte(out))
	require.NoError(t, err, "show prints the definition, which add takes back: %s", out)
	require.Equal(t, "Product views", d.Name)
	_, err = dcrm("show", "nothing")
	require.ErrorContains(t, err, "404")

	// A trait an audience reads is not removed, saying which.
	aud := file("browsers.json", `{"id": "browsers", "name": "Browsers", "rule": {"field": "computed.views-30d", "op": ">=", "value": 3}}`)
	require.NoError(t, run(ctx, []string{"audience", "add", aud}, &bytes.Buffer{}))
	_, err = dcrm("rm", "views-30d")
	require.ErrorContains(t, err, "409")
	require.ErrorContains(t, err, `computed trait \"views-30d\" is read by \"browsers\"`)

	// A key without the audiences scope reads and changes nothing.
	t.Setenv("DCRM_PROFILE_API_KEY", reader)
	_, err = dcrm("list")
	require.NoError(t, err)
	_, err = dcrm("add", spend)
	require.ErrorContains(t, err, "403")
	require.ErrorContains(t, err, `lacks the \"audiences\" scope, which PUT /v1/traits/{traitId} needs`)
	_, err = dcrm("rm", "spend")
	require.ErrorContains(t, err, "403")
	t.Setenv("DCRM_PROFILE_API_KEY", writer)

	// A bad file is refused before any request: here the API is unreachable.
	t.Setenv("DCRM_API_URL", "http://127.0.0.1:1")
	bad := file("bad.json", `{"id": "bad", "name": "Bad", "event": "Order Completed", "aggregate": "sum", "property": "revenue",
		"where": [{"property": "price", "op": "~", "value": 1}]}`)
	_, err = dcrm("add", bad)
	require.ErrorContains(t, err, bad+`: invalid computed trait definition: where[0]: property "price": op "~"`)
	huge := file("huge.json", `{"id": "huge", "name": "`+strings.Repeat("x", 40<<10)+`"}`)
	_, err = dcrm("add", huge)
	require.ErrorContains(t, err, "over 32768 bytes")
	stdin = strings.NewReader(`{"id": "nameless"}`)
	_, err = dcrm("add", "-")
	require.ErrorContains(t, err, "standard input: invalid computed trait definition")
	_, err = dcrm("add", filepath.Join(dir, "missing.json"))
	require.ErrorContains(t, err, "no such file")
	t.Setenv("DCRM_API_URL", st.APIURL())

	require.NoError(t, run(ctx, []string{"audience", "rm", "browsers"}, &bytes.Buffer{}))
	out, err = dcrm("rm", "views-30d")
	require.NoError(t, err)
	require.Equal(t, "removed views-30d\n", out)
	_, err = dcrm("rm", "spend")
	require.NoError(t, err)
	_, err = dcrm("rm", "spend")
	require.ErrorContains(t, err, "404")
	out, err = dcrm("list")
	require.NoError(t, err)
	require.Contains(t, out, "no computed traits defined")

	for _, args := range [][]string{{"trait"}, {"trait", "add"}, {"trait", "show"}, {"trait", "rm", "a", "b"},
		{"trait", "list", "x"}, {"trait", "nope", "x"}} {
		require.ErrorIs(t, run(ctx, args, &bytes.Buffer{}), errUsage, "%v", args)
	}
}
