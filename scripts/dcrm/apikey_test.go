package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

func TestParseExpiry(t *testing.T) {
	now := time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"":                          {},
		"90d":                       now.AddDate(0, 0, 90),
		"12h":                       now.Add(12 * time.Hour),
		"2027-01-01":                time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC),
		"2027-01-01T09:00:00+02:00": time.Date(2027, 1, 1, 7, 0, 0, 0, time.UTC),
	} {
		got, err := parseExpiry(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseExpiry(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for in, reason := range map[string]string{
		"2026-12-07": "is not in the future",
		"2020-01-01": "is not in the future",
		"0d":         "a span from now such as 90d",
		"-5d":        "a span from now",
		"99999999d":  "at most 36500 days",
		"90m":        "a span from now",
		"tomorrow":   "give a date",
		"d":          "give a date",
		"1.5d":       "a span from now",
	} {
		if _, err := parseExpiry(in, now); err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("parseExpiry(%q) err = %v, want %q", in, err, reason)
		}
	}
}

func FuzzParseExpiry(f *testing.F) {
	now := time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC)
	for _, s := range []string{"90d", "12h", "2027-01-01", "2027-01-01T09:00:00Z", "x", "d", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseExpiry(s, now)
		if err == nil && s != "" && !got.After(now) {
			t.Fatalf("parseExpiry(%q) = %v, not after now", s, got)
		}
	})
}

// useKeys points the command at a fresh Keys table on DynamoDB Local.
func useKeys(t *testing.T) *keystore.Store {
	e := localawstest.Reachable(t)
	for k, v := range e.Environment() {
		t.Setenv(k, v)
	}
	table := localawstest.NewTopologyTable(t, topology.KeyTable)
	t.Setenv(topology.Default().EnvVar(topology.KeyTable), table)
	return keystore.New(e.Dynamo(), table)
}

// `dcrm apikey add` stores a key with its scopes and expiry and prints the key once; `list` shows
// every key without its secret; `revoke` revokes it by id.
func TestAPIKeyCommands(t *testing.T) {
	ctx := context.Background()
	keys := useKeys(t)
	now := time.Now().UTC().Truncate(time.Second)

	var printed, info bytes.Buffer
	require.NoError(t, addAPIKey(ctx, []string{"--name", "crm-sync", "--scopes", "export,read", "--expires", "90d"}, &printed, &info, now))
	secret := strings.TrimSpace(printed.String())
	require.Regexp(t, `^pk_[0-9a-f]{36}$`, secret)
	k, err := keys.ProfileAPIKey(ctx, secret)
	require.NoError(t, err)
	require.Equal(t, []keystore.Scope{keystore.Read, keystore.Export}, k.Scopes)
	require.Equal(t, now.AddDate(0, 0, 90), k.Expires)
	require.Contains(t, info.String(), k.ID+" (crm-sync): scopes read,export, expires "+k.Expires.Format(time.RFC3339))
	require.NotContains(t, info.String(), secret)

	var ops bytes.Buffer
	require.NoError(t, run(ctx, []string{"apikey", "add", "--name", "ops", "--scopes", "admin"}, &ops))
	opsKey, err := keys.ProfileAPIKey(ctx, strings.TrimSpace(ops.String()))
	require.NoError(t, err)
	require.True(t, opsKey.Expires.IsZero())

	for args, reason := range map[string]string{
		"--name x":                "usage",
		"--scopes read":           "usage",
		"--name x --scopes write": `--scopes: unknown scope "write"`,
		"--name x --scopes read --expires 2001-01-01": "--expires: 2001-01-01T00:00:00Z is not in the future",
		"--name x --scopes read extra":                "usage",
	} {
		err := run(ctx, append([]string{"apikey", "add"}, strings.Fields(args)...), &bytes.Buffer{})
		require.ErrorContains(t, err, reason, args)
	}

	// A key stored before keys had scopes.
	old := keystore.NewKey("pk_")
	require.NoError(t, localawstest.Reachable(t).Dynamo().Table(os.Getenv(topology.Default().EnvVar(topology.KeyTable))).
		Put(map[string]any{"keyHash": keystore.Hash(old), "kind": "profile-api", "name": "old-crm"}).Run(ctx))
	legacy, err := keys.ProfileAPIKey(ctx, old)
	require.NoError(t, err)

	var list bytes.Buffer
	require.NoError(t, run(ctx, []string{"apikey", "list"}, &list))
	for _, secret := range []string{secret, old} {
		require.NotContains(t, list.String(), secret)
		require.NotContains(t, list.String(), keystore.Hash(secret))
	}
	lines := strings.Split(strings.TrimSpace(list.String()), "\n")
	require.Len(t, lines, 4, list.String())
	require.Regexp(t, `^ID +NAME +SCOPES +CREATED +EXPIRES +REVOKED +KEY +STATUS$`, lines[0])
	require.Regexp(t, "^"+legacy.ID+` +old-crm +read \(made before scopes\) +- +- +- +- +active, read only$`, lines[1])
	lines = lines[1:]
	require.Regexp(t, "^"+k.ID+` +crm-sync +read,export +`+regexp.QuoteMeta(now.Format(time.RFC3339))+" +"+
		regexp.QuoteMeta(k.Expires.Format(time.RFC3339))+` +- +…`+secret[len(secret)-4:]+` +active$`, lines[1])
	require.Regexp(t, "^"+opsKey.ID+` +ops +admin +\S+ +- +- +…\S{4} +active$`, lines[2])

	var revoked bytes.Buffer
	require.NoError(t, run(ctx, []string{"apikey", "revoke", k.ID}, &revoked))
	require.Contains(t, revoked.String(), k.ID+" (crm-sync) revoked at ")
	require.Contains(t, revoked.String(), "within 30s")
	require.ErrorIs(t, keys.CheckProfileAPIKey(ctx, secret), keystore.ErrRevokedKey)
	list.Reset()
	require.NoError(t, run(ctx, []string{"apikey", "list"}, &list))
	require.Regexp(t, `(?m)^`+k.ID+` .* revoked$`, list.String())

	require.ErrorIs(t, run(ctx, []string{"apikey", "revoke", "key_000000000000"}, &bytes.Buffer{}), keystore.ErrNoSuchID)
	for _, args := range [][]string{{"apikey", "revoke"}, {"apikey", "revoke", "pk_x"}, {"apikey", "list", "x"}, {"apikey", "nope"}} {
		require.True(t, errors.Is(run(ctx, args, &bytes.Buffer{}), errUsage), args)
	}
}

// Keys made by the command work on the profile API of a local stack running the real functions:
// a read key reads and may not erase, a revoked key is refused.
func TestAPIKeysOnTheProfileAPI(t *testing.T) {
	ctx := context.Background()
	st, _ := devtest.Stack(t, "apikey")
	for k, v := range st.Env() {
		t.Setenv(k, v)
	}
	add := func(args ...string) string {
		var out bytes.Buffer
		require.NoError(t, run(ctx, append([]string{"apikey", "add"}, args...), &out))
		return strings.TrimSpace(out.String())
	}
	reader, revoked := add("--name", "reader", "--scopes", "read"), add("--name", "gone", "--scopes", "admin")
	gone, err := keystore.New(localawstest.Reachable(t).Dynamo(), st.Env()[topology.Default().EnvVar(topology.KeyTable)]).ProfileAPIKey(ctx, revoked)
	require.NoError(t, err)
	require.NoError(t, run(ctx, []string{"apikey", "revoke", gone.ID}, &bytes.Buffer{}))

	do := func(method, path, key string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, method, st.APIURL()+path, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var body bytes.Buffer
		_, _ = body.ReadFrom(resp.Body)
		return resp.StatusCode, body.String()
	}
	status, body := do(http.MethodGet, "/v1/profiles/prf_nobody", reader)
	require.Equal(t, http.StatusNotFound, status, body)
	status, body = do(http.MethodDelete, "/v1/profiles/prf_nobody", reader)
	require.Equal(t, http.StatusForbidden, status, body)
	require.Contains(t, body, `lacks the \"erase\" scope`)
	status, body = do(http.MethodGet, "/v1/profiles/prf_nobody", revoked)
	require.Equal(t, http.StatusUnauthorized, status, body)
	require.Contains(t, body, gone.ID+" (gone) revoked at")
}
