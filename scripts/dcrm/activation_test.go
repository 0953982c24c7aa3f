package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/shared/audiencestore"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// TestAudienceActivationCommands reads an audience's members (a table, JSON Lines, paged, the
// first N), exports them (the links serve the files, members.csv guarded against formulas) and
// shows its sizes by scoring run, through the profile API of a local stack running the real
// functions; a key without the export scope exports nothing and sees no hashes.
func TestAudienceActivationCommands(t *testing.T) {
	ctx := context.Background()
	// Export steps of one page of two members: five members take three chained invocations of
	// the profiles function (its real binary, through the local Invoke API), then the last.
	st, keys := devtest.StackWith(t, "activation", devtest.BuildFunctions(t), func(cfg *stack.Config) {
		top := topology.Default()
		for i, f := range top.Functions {
			if f.Name == "profiles" {
				f.Settings = maps.Clone(f.Settings)
				f.Settings["DCRM_EXPORT_PAGE"], f.Settings["DCRM_EXPORT_STEP_PAGES"] = "2", "1"
				top.Functions[i] = f
			}
		}
		cfg.Topology = &top
	})
	exportPoll = 50 * time.Millisecond
	writer, _, err := keys.AddProfileAPIKey(ctx, profileKey("marketing", keystore.Read, keystore.Audiences, keystore.Export))
	require.NoError(t, err)
	reader, _, err := keys.AddProfileAPIKey(ctx, profileKey("reporting", keystore.Read))
	require.NoError(t, err)
	t.Setenv("DCRM_API_URL", st.APIURL())
	t.Setenv("DCRM_PROFILE_API_KEY", writer)
	dcrm := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, append([]string{"audience"}, args...), &out)
		return out.String(), err
	}
	require.NoError(t, run(ctx, []string{"audience", "add", writeFile(t, "vip.json",
		`{"id": "vip", "name": "VIP", "rule": {"field": "revenue", "op": ">=", "value": 500}}`)}, &bytes.Buffer{}))

	out, err := dcrm("members", "vip")
	require.NoError(t, err)
	require.Contains(t, out, "no members in vip")
	out, err = dcrm("sizes", "vip")
	require.NoError(t, err)
	require.Equal(t, "no scoring run counted vip in the last 30 days\n", out)

	// Five members, written to the members index as the engine writes memberships; one user id
	// would be a formula in a spreadsheet.
	res := st.Resources()
	db := localawstest.Reachable(t).Dynamo()
	store := profilestore.New(db, profilestore.Tables{Profiles: res[topology.ProfileTable], Identities: res[topology.IdentityTable],
		Touchpoints: res[topology.TouchpointTable], AudienceMembers: res[topology.AudienceMemberTable]})
	since := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	for i := range 5 {
		base, err := store.Profile(ctx, fmt.Sprintf("prf_m%d", i), true)
		require.NoError(t, err)
		next := base
		next.Profile.UserID = fmt.Sprintf("u-%d", i)
		if i == 0 {
			next.Profile.UserID = `=HYPERLINK("http://evil.example")`
		}
		next.Profile.Audiences = []profile.Membership{{Audience: "vip", Since: since}}
		next.Claimed = []identity.ID{{Kind: identity.EmailSHA256, Value: fmt.Sprintf("%064x", i)}}
		if i == 1 {
			next.Profile.Consent = map[string]profile.Consent{profile.PurposeMarketing: {Granted: false, At: since}}
		}
		require.NoError(t, store.Commit(ctx, recording.Change{Puts: []recording.Put{{Base: base, Next: next}}}))
	}

	maxMembersPage = 2 // pages of two: the command follows the cursor
	t.Cleanup(func() { maxMembersPage = 1000 })
	out, err = dcrm("members", "vip")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 6, out)
	require.Regexp(t, `^PROFILE ID +SINCE +USER ID +MARKETING +EMAILS +PHONES$`, lines[0])
	require.Regexp(t, `^prf_m\d +\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z +\S.* +(granted|denied|unknown) +1 +0$`, lines[1])
	require.Contains(t, out, "prf_m1 ")
	require.Regexp(t, `prf_m1 .* denied +1 +0`, out)
	out, err = dcrm("members", "vip", "--limit", "3")
	require.NoError(t, err)
	require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 4, out)
	out, err = dcrm("members", "--json", "vip")
	require.NoError(t, err)
	lines = strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 5, out)
	seen := map[string]bool{}
	for _, l := range lines {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		require.Contains(t, m, "emailSha256", "the export scope sees the hashes")
		seen[m["profileId"].(string)] = true
	}
	require.Len(t, seen, 5, "each member once")

	// An export: the manifest's files, each with a link that serves it.
	out, err = dcrm("export", "vip", "--purpose", "all")
	require.NoError(t, err)
	require.Regexp(t, `^export exp_\d{8}T\d{6}Z_[0-9a-f]{8} of vip: 5 members, purpose all, as of \d{4}-.*, kept until \d{4}-`, out)
	exportID := regexp.MustCompile(`exp_\S+`).FindString(out)
	steps := func() int {
		t.Helper()
		answer, err := callAPI(ctx, http.MethodGet, "/v1/audiences/vip/exports/"+exportID, nil)
		require.NoError(t, err)
		var m exportManifest
		require.NoError(t, json.Unmarshal(answer, &m))
		require.Equal(t, "done", m.State)
		return m.Steps
	}
	require.GreaterOrEqual(t, steps(), 3, "three chained steps at least")
	csvLink := regexp.MustCompile(`(?m)^members\.csv +5 +(http\S+)$`).FindStringSubmatch(out)
	require.NotNil(t, csvLink, out)
	require.Regexp(t, `(?m)^seed-google-email\.csv +4 +http`, out, "who refused marketing is not in a seed file")
	require.Regexp(t, `(?m)^suppression-google-email\.csv +5 +http`, out)
	resp, err := http.Get(csvLink[1])
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Contains(t, string(body), `"'=HYPERLINK(""http://evil.example"")"`, "a formula is written as text")
	for _, name := range []string{"members.csv", "suppression-google-email.csv"} {
		link := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` +\d+ +(http\S+)$`).FindStringSubmatch(out)
		require.NotNil(t, link, out)
		resp, err := http.Get(link[1])
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		seen := map[string]int{}
		for _, l := range strings.Split(strings.TrimSpace(string(body)), "\n")[1:] {
			seen[strings.SplitN(l, ",", 2)[0]]++
		}
		require.Len(t, seen, 5, "%s: each member once\n%s", name, body)
		for k, n := range seen {
			require.Equal(t, 1, n, "%s: %s", name, k)
		}
	}
	// Without waiting: the export is running, and the GET route then shows it done.
	out, err = dcrm("export", "vip", "--no-wait")
	require.NoError(t, err)
	require.Regexp(t, `^export exp_\S+ of vip: running; GET /v1/audiences/vip/exports/exp_\S+ shows its state`, out)
	exportID = regexp.MustCompile(`exp_\S+`).FindString(out)
	require.Eventually(t, func() bool {
		answer, err := callAPI(ctx, http.MethodGet, "/v1/audiences/vip/exports/"+exportID, nil)
		require.NoError(t, err)
		var m exportManifest
		require.NoError(t, json.Unmarshal(answer, &m))
		return m.State == "done" && m.Members == 5
	}, 30*time.Second, 50*time.Millisecond)
	_, err = dcrm("export", "vip", "--purpose", "everyone")
	require.ErrorContains(t, err, `--purpose "everyone": want seed, suppression or all`)
	_, err = dcrm("export", "nobody")
	require.ErrorContains(t, err, "404")

	// Sizes by scoring run: a whole run, then one some of whose parts have not counted.
	sizes := audiencestore.New(db, res[topology.AudienceTable])
	runAt := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Hour)
	require.NoError(t, sizes.RecordSizes(ctx, runAt, 0, 1, map[string]int64{"vip": 5}))
	require.NoError(t, sizes.RecordSizes(ctx, runAt.Add(time.Hour), 0, 2, map[string]int64{"vip": 3}))
	out, err = dcrm("sizes", "vip", "--days", "2")
	require.NoError(t, err)
	lines = strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, out)
	require.Regexp(t, `^RUN +MEMBERS`, lines[0])
	require.Regexp(t, `^`+runAt.Format(time.RFC3339)+` +5\s*$`, lines[1])
	require.Regexp(t, `^`+runAt.Add(time.Hour).Format(time.RFC3339)+` +3 +partial`, lines[2])
	_, err = dcrm("sizes", "vip", "--days", "91")
	require.ErrorContains(t, err, "400")
	require.ErrorContains(t, err, "days must be a whole number from 1 to 90")

	// A key without the export scope reads the members without their hashes, and exports nothing.
	t.Setenv("DCRM_PROFILE_API_KEY", reader)
	out, err = dcrm("members", "vip", "--json", "--limit", "1")
	require.NoError(t, err)
	require.NotContains(t, out, "emailSha256")
	require.Len(t, strings.Split(strings.TrimSpace(out), "\n"), 1)
	_, err = dcrm("sizes", "vip")
	require.NoError(t, err)
	_, err = dcrm("export", "vip")
	require.ErrorContains(t, err, "403")
	require.ErrorContains(t, err, `lacks the \"export\" scope, which POST /v1/audiences/{audienceId}/exports needs`)

	for _, args := range [][]string{{"audience", "members"}, {"audience", "members", "a", "b"}, {"audience", "members", "a", "--limit", "x"},
		{"audience", "members", "a", "--limit", "-1"}, {"audience", "export"}, {"audience", "sizes"}, {"audience", "sizes", "a", "--days", "x"}} {
		require.ErrorIs(t, run(ctx, args, &bytes.Buffer{}), errUsage, "%v", args)
	}
}

// profileKey is a profile-API key of the name with the scopes.
func profileKey(name string, scopes ...keystore.Scope) keystore.APIKey {
	return keystore.APIKey{Name: name, Scopes: scopes, Created: time.Now()}
}

// writeFile writes content to a file of the test's folder and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o644))
	return path
}
