package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/hashkey"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

// Every route of the topology's profiles function needs a scope, named in one table, so that a
// new route cannot be served to any key by default; but the public ones (browserRoutes), which take
// a write key and no profile-API key.
func TestEveryRouteHasAScope(t *testing.T) {
	var declared []string
	for _, r := range topology.Default().Routes {
		if r.Function == "profiles" && !r.Public {
			declared = append(declared, r.Method+" "+r.Path)
		}
	}
	require.ElementsMatch(t, declared, slices.Collect(maps.Keys(scopes)))
	for route, scope := range scopes {
		require.Contains(t, keystore.AllScopes(), scope, route)
	}
}

// addKey stores a profile-API key and returns its Authorization header.
func (f fixture) addKey(t *testing.T, k keystore.APIKey) string {
	t.Helper()
	if k.Created.IsZero() {
		k.Created = now.Add(-time.Hour)
	}
	secret, _, err := f.keys.AddProfileAPIKey(context.Background(), k)
	require.NoError(t, err)
	return "Bearer " + secret
}

// addLegacyKey stores a profile-API key as keys were stored before they had scopes.
func (f fixture) addLegacyKey(t *testing.T) string {
	t.Helper()
	secret := keystore.NewKey("pk_")
	item := map[string]any{"keyHash": keystore.Hash(secret), "kind": "profile-api", "name": "old-crm"}
	require.NoError(t, localawstest.Reachable(t).Dynamo().Table(f.keyTable).Put(item).Run(context.Background()))
	return "Bearer " + secret
}

// A key may use the routes of its scopes and no other (403 naming the missing scope); admin may
// use every route; a key made before keys had scopes may only read.
func TestScopes(t *testing.T) {
	f := newFixture(t)
	admin := f.addKey(t, keystore.APIKey{Name: "ops", Scopes: []keystore.Scope{keystore.Admin}})
	legacy := f.addLegacyKey(t)
	for route, scope := range scopes {
		var others []keystore.Scope
		for _, s := range keystore.AllScopes() {
			if s != scope && s != keystore.Admin {
				others = append(others, s)
			}
		}
		without := f.addKey(t, keystore.APIKey{Name: "no-" + string(scope), Scopes: others})
		status, body := call(t, f.h, routeRequest(route, f.anon, without))
		require.Equal(t, http.StatusForbidden, status, route)
		require.Contains(t, body["error"], `lacks the "`+string(scope)+`" scope, which `+route+" needs", route)

		only := f.addKey(t, keystore.APIKey{Name: "only-" + string(scope), Scopes: []keystore.Scope{scope}})
		for _, auth := range []string{only, admin} {
			status, body = call(t, f.h, routeRequest(route, f.anon, auth))
			require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, status, "%s: %v", route, body)
		}

		status, body = call(t, f.h, routeRequest(route, f.anon, legacy))
		if scope == keystore.Read {
			require.NotContains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, status, "%s: %v", route, body)
			continue
		}
		require.Equal(t, http.StatusForbidden, status, route)
		require.Contains(t, body["error"], "made before keys had scopes and may only read", route)
	}
}

// An expired or revoked key gets a 401 saying so, on every route.
func TestExpiredAndRevokedKeys(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	expired := f.addKey(t, keystore.APIKey{Name: "temp", Scopes: []keystore.Scope{keystore.Admin}, Expires: now})
	revoked := f.addKey(t, keystore.APIKey{Name: "gone", Scopes: []keystore.Scope{keystore.Admin}, Expires: now.Add(time.Hour)})
	k, err := f.keys.ProfileAPIKey(ctx, strings.TrimPrefix(revoked, "Bearer "))
	require.NoError(t, err)
	_, err = f.keys.RevokeAPIKey(ctx, k.ID, now.Add(-time.Minute))
	require.NoError(t, err)

	for route := range scopes {
		status, body := call(t, f.h, routeRequest(route, f.live, expired))
		require.Equal(t, http.StatusUnauthorized, status, route)
		require.Regexp(t, `^profile API key key_[0-9a-f]{12} \(temp\) expired at 2025-03-01T12:00:00Z$`, body["error"], route)
		status, body = call(t, f.h, routeRequest(route, f.live, revoked))
		require.Equal(t, http.StatusUnauthorized, status, route)
		require.Equal(t, "profile API key "+k.ID+" (gone) revoked at 2025-03-01T11:59:00Z", body["error"], route)
	}
	// A key that expires later works until then.
	later := f.addKey(t, keystore.APIKey{Name: "later", Scopes: []keystore.Scope{keystore.Read}, Expires: now.Add(time.Second)})
	status, _ := call(t, f.h, get("/v1/profiles/"+f.live, nil, later))
	require.Equal(t, http.StatusOK, status)
}

// The key and its scope are checked before the body is read: a large body that is not JSON,
// sent without a usable key, is refused for the key (401, 403), never parsed into a 400.
func TestKeyIsCheckedBeforeTheBody(t *testing.T) {
	f := newFixture(t)
	reader := f.addKey(t, keystore.APIKey{Name: "reader", Scopes: []keystore.Scope{keystore.Read}})
	junk := strings.Repeat("{not json", 1<<17) // ~1.1 MB
	for _, route := range []string{"PUT /v1/profiles/{profileId}/consent", "POST /v1/profiles/{profileId}/split", "PUT /v1/audiences/{audienceId}"} {
		for auth, want := range map[string]int{"": 401, "Bearer pk_unknown": 401, reader: 403} {
			req := routeRequest(route, f.live, auth)
			req.Body = junk
			status, body := call(t, f.h, req)
			require.Equal(t, want, status, "%s with %q: %v", route, auth, body)
		}
	}
}

// The Authorization header and the key are bounded: longer ones are refused without a look-up.
func TestAuthorizationIsBounded(t *testing.T) {
	h := &handler{keys: down{}, profiles: down{}, log: quiet} // a look-up would answer 503
	for auth, reason := range map[string]string{
		"Bearer " + strings.Repeat("k", keystore.MaxKeyLength+1):               "profile API key longer than 128 characters",
		"Bearer " + strings.Repeat("k", maxAuthorization):                      "Authorization header longer than 8192 bytes",
		"Bearer eyJ" + strings.Repeat("k.", 2) + strings.Repeat("k", maxToken): "token longer than 8000 characters",
	} {
		status, body := call(t, h, get("/v1/profiles/p1", nil, auth))
		require.Equal(t, http.StatusUnauthorized, status)
		require.Equal(t, reason, body["error"])
	}
}

// Every line the profile API logs for a request names the route and the key by id and name,
// never by the key itself; the request's line says what came of it.
func TestLogsNameTheKey(t *testing.T) {
	f := newFixture(t)
	var logs bytes.Buffer
	f.h.log = slog.New(slog.NewJSONHandler(&logs, nil))
	auth := f.addKey(t, keystore.APIKey{Name: "crm-sync", Scopes: []keystore.Scope{keystore.Read, keystore.Erase}})
	secret := strings.TrimPrefix(auth, "Bearer ")
	k, err := f.keys.ProfileAPIKey(context.Background(), secret)
	require.NoError(t, err)

	call(t, f.h, get("/v1/profiles/"+f.live, nil, auth))
	call(t, f.h, routeRequest("DELETE /v1/profiles/{profileId}", f.anon, auth)) // the erasure logs a line of its own
	call(t, f.h, routeRequest("GET /v1/profiles/{profileId}/export", f.live, auth))
	call(t, f.h, get("/v1/profiles/"+f.live, nil, "Bearer pk_unknown"))
	call(t, f.h, get("/v1/profiles/"+f.live, nil, ""))

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		require.NotContains(t, l, secret)
		require.NotContains(t, l, "pk_unknown")
		var line map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &line), l)
		lines = append(lines, line)
	}
	var requests []string
	for _, l := range lines {
		require.NotEmpty(t, l["route"], l)
		if l["msg"] == "profile request" {
			requests = append(requests, l["route"].(string)+" "+jsonString(l["status"])+" "+l["outcome"].(string))
		}
		if l["keyId"] != nil || l["msg"] != "profile request" {
			require.Equal(t, k.ID, l["keyId"], l)
			require.Equal(t, "crm-sync", l["keyName"], l)
		}
	}
	require.Equal(t, []string{
		"GET /v1/profiles/{profileId} 200 OK",
		"DELETE /v1/profiles/{profileId} 200 OK",
		`GET /v1/profiles/{profileId}/export 403 missing scope export`,
		"GET /v1/profiles/{profileId} 401 unknown key",
		"GET /v1/profiles/{profileId} 401 missing credentials: send Authorization: Bearer <profile API key>",
	}, requests)
	require.Len(t, lines, 6, "one line per request and the erasure's")
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

// The function looks keys up through keystore's cache (a revocation takes effect within
// keystore.CacheTTL).
func TestKeysAreCached(t *testing.T) {
	top := topology.Default()
	fn, _ := top.Function("profiles")
	env := map[string]string{"AWS_REGION": "eu-west-1"}
	for _, u := range fn.Uses {
		env[top.EnvVar(u.Resource)] = "http://127.0.0.1:9324/000000000000/" + u.Resource
	}
	env[hashkey.EnvKey] = "a test key of the profile API, 32 bytes or more"
	h, err := setup(context.Background(), func(k string) string { return env[k] }, quiet)
	require.NoError(t, err)
	require.IsType(t, &keystore.Cache{}, h.keys)
}

// Whatever the Authorization header, bearer returns a bounded token or a reason, never both.
func FuzzBearer(f *testing.F) {
	for _, s := range []string{"Bearer pk_abc", "bearer  x ", "Basic a", "Bearer", "", "Bearer a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		token, err := bearer(map[string]string{"Authorization": header})
		if (err == nil) == (token == "") {
			t.Fatalf("bearer(%q) = %q, %v", header, token, err)
		}
		if len(token) > keystore.MaxKeyLength && !isJWT(token) || len(token) > maxToken || len(header) > maxAuthorization && err == nil {
			t.Fatalf("bearer(%q) took an overlong token %q", header, token)
		}
	})
}

// When the keys cannot be read, the error's line and the request's line both name the route.
func TestKeyOutageLogsTheRoute(t *testing.T) {
	var logs bytes.Buffer
	h := &handler{keys: down{}, profiles: down{}, log: slog.New(slog.NewJSONHandler(&logs, nil))}
	status, _ := call(t, h, get("/v1/profiles/p1", nil, "Bearer pk_k"))
	require.Equal(t, http.StatusServiceUnavailable, status)
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 2)
	for _, l := range lines {
		var line map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &line))
		require.Equal(t, "GET /v1/profiles/{profileId}", line["route"], l)
		require.Equal(t, "ERROR", line["level"], l)
	}
	require.Contains(t, lines[1], `"outcome":"keys unavailable"`)
}
