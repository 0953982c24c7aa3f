package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/activation"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

func hash(n int) string { return fmt.Sprintf("%064x", n) }

// memberRequest is a request of the members and export routes of audience id.
func memberRequest(method, sub, id string, query map[string]string, body, auth string) events.APIGatewayV2HTTPRequest {
	req := audienceRequest(http.MethodGet, true, id, "", auth)
	req.RouteKey = method + " /v1/audiences/{audienceId}/" + sub
	req.RawPath += "/" + sub
	req.RequestContext.HTTP.Method = method
	req.QueryStringParameters = query
	if method == http.MethodPost && body != "" {
		req.Body = body
		req.Headers["content-type"] = "application/json"
	}
	if exportID, ok := strings.CutPrefix(sub, "exports/"); ok {
		req.RouteKey = method + " /v1/audiences/{audienceId}/exports/{exportId}"
		req.PathParameters["exportId"] = exportID
	}
	return req
}

// The members route pages through the index; the export writes every file, the customer-match
// files holding only hashes under their header, leaving out who refused marketing unless the
// export is for suppression; an erased person is in no later page or export.
func TestMembersAndExports(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	store, exports := f.storage, f.exports
	reader := f.addKey(t, keystore.APIKey{Name: "reader", Scopes: []keystore.Scope{keystore.Read}})
	exporter := f.addKey(t, keystore.APIKey{Name: "exporter", Scopes: []keystore.Scope{keystore.Read, keystore.Export, keystore.Erase}})
	admin := f.addKey(t, keystore.APIKey{Name: "admin", Scopes: []keystore.Scope{keystore.Audiences}})
	status, body := call(t, f.h, audienceRequest(http.MethodPut, true, "vip", definition("vip", ""), admin))
	require.Equal(t, http.StatusCreated, status, body)

	// Twelve members: written as the engine writes memberships, through Commit.
	consent := []string{activation.Granted, activation.Denied, activation.Unknown}
	var ids []string
	for i := range 12 {
		id := fmt.Sprintf("prf_m%02d", i)
		ids = append(ids, id)
		base, err := store.Profile(ctx, id, true)
		require.NoError(t, err)
		next := base
		next.Profile.UserID = fmt.Sprintf("u-%d", i)
		next.Profile.Audiences = []profile.Membership{{Audience: "vip", Since: now.Add(-time.Hour)}}
		next.Claimed = []identity.ID{{Kind: identity.EmailSHA256, Value: hash(i)}, {Kind: identity.PhoneSHA256, Value: hash(1000 + i)}}
		if c := consent[i%3]; c != activation.Unknown {
			next.Profile.Consent = map[string]profile.Consent{profile.PurposeMarketing: {Granted: c == activation.Granted, At: now}}
		}
		require.NoError(t, store.Commit(ctx, recording.Change{Puts: []recording.Put{{Base: base, Next: next}}}))
	}
	page := func(auth string, query map[string]string) (int, map[string]any) {
		return call(t, f.h, memberRequest(http.MethodGet, "members", "vip", query, "", auth))
	}
	seen := map[string]bool{}
	cursor := ""
	for {
		q := map[string]string{"limit": "5"}
		if cursor != "" {
			q["cursor"] = cursor
		}
		status, body := page(reader, q)
		require.Equal(t, http.StatusOK, status, body)
		for _, m := range body["members"].([]any) {
			mv := m.(map[string]any)
			require.NotContains(t, mv, "emailSha256", "a read key sees no identifiers")
			seen[mv["profileId"].(string)] = true
		}
		next, ok := body["next"].(string)
		if !ok {
			break
		}
		cursor = next
	}
	require.Len(t, seen, 12)
	status, body = page(exporter, nil)
	require.Equal(t, http.StatusOK, status, body)
	first := body["members"].([]any)[0].(map[string]any)
	require.Equal(t, []any{hash(0)}, first["emailSha256"], "an export key sees the hashed identifiers")
	require.Equal(t, "granted", first["marketingConsent"])
	status, _ = page(reader, map[string]string{"cursor": "nope"})
	require.Equal(t, http.StatusBadRequest, status)
	status, _ = page(reader, map[string]string{"limit": "1001"})
	require.Equal(t, http.StatusBadRequest, status)
	status, _ = call(t, f.h, memberRequest(http.MethodGet, "members", "nobody", nil, "", reader))
	require.Equal(t, http.StatusNotFound, status)

	export := func(body string) map[string]any {
		t.Helper()
		status, m := call(t, f.h, memberRequest(http.MethodPost, "exports", "vip", nil, body, exporter))
		require.Equal(t, http.StatusAccepted, status, m)
		require.Equal(t, "running", m["state"])
		require.Empty(t, m["files"], "no files before the export is done")
		f.steps.Wait()
		status, m = call(t, f.h, memberRequest(http.MethodGet, "exports/"+m["exportId"].(string), "vip", nil, "", exporter))
		require.Equal(t, http.StatusOK, status, m)
		require.Equal(t, "done", m["state"], m)
		return m
	}
	file := func(m map[string]any, name string) []string {
		t.Helper()
		b, err := exports.Get(ctx, topology.ExportsPrefix+"vip/"+m["exportId"].(string)+"/"+name, 1<<20)
		require.NoError(t, err, name)
		return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	}
	onlyHashes := func(lines []string, header string, want int) {
		t.Helper()
		require.Equal(t, header, lines[0])
		for _, l := range lines[1:] {
			require.True(t, activation.IsHash(l), l)
		}
		require.Len(t, lines[1:], want)
	}
	seed := export(`{}`)
	require.Equal(t, "seed", seed["purpose"])
	require.Len(t, file(seed, "members.csv"), 13)
	require.Len(t, file(seed, "members.jsonl"), 12)
	onlyHashes(file(seed, "seed-google-email.csv"), "Email", 8) // the four who refused marketing left out
	onlyHashes(file(seed, "seed-google-phone.csv"), "Phone", 8)
	onlyHashes(file(seed, "seed-meta-email.csv"), "email", 8)
	suppression := export(`{"purpose": "suppression"}`)
	onlyHashes(file(suppression, "suppression-google-email.csv"), "Email", 12)
	status, _ = call(t, f.h, memberRequest(http.MethodPost, "exports", "vip", nil, `{"purpose": "everyone"}`, exporter))
	require.Equal(t, http.StatusBadRequest, status)
	status, _ = call(t, f.h, memberRequest(http.MethodPost, "exports", "vip", nil, `{}`, reader))
	require.Equal(t, http.StatusForbidden, status)
	status, _ = call(t, f.h, memberRequest(http.MethodPost, "exports", "nobody", nil, `{}`, exporter))
	require.Equal(t, http.StatusNotFound, status, "no such audience")

	status, got := call(t, f.h, memberRequest(http.MethodGet, "exports/"+seed["exportId"].(string), "vip", nil, "", exporter))
	require.Equal(t, http.StatusOK, status, got)
	require.Equal(t, seed["files"], got["files"])
	status, _ = call(t, f.h, memberRequest(http.MethodGet, "exports/exp_20250201T090000Z_0123abcd", "vip", nil, "", exporter))
	require.Equal(t, http.StatusNotFound, status)
	status, _ = call(t, f.h, memberRequest(http.MethodGet, "exports/nope", "vip", nil, "", exporter))
	require.Equal(t, http.StatusBadRequest, status)

	// The first member erased: in no later page or export.
	for {
		e, err := f.h.profiles.(*recording.Engine).Erase(ctx, ids[0])
		require.NoError(t, err)
		if !e.CompletedAt.IsZero() {
			break
		}
	}
	after := export(`{"purpose": "all"}`)
	require.Len(t, file(after, "members.jsonl"), 11)
	for _, name := range []string{"members.csv", "members.jsonl", "seed-google-email.csv", "suppression-google-email.csv", "suppression-meta-email.csv"} {
		for _, l := range file(after, name) {
			require.NotContains(t, l, ids[0], name)
			require.NotContains(t, l, hash(0), name)
		}
	}
}
