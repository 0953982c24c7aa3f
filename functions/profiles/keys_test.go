package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/source"
)

// keysRequest is a request of a key route: GET or POST /v1/keys, or DELETE /v1/keys/{keyId} when
// path names one; body is sent with a POST.
func keysRequest(method, path, body, auth string) events.APIGatewayV2HTTPRequest {
	req := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: method + " /v1/keys", RawPath: path,
		Headers: map[string]string{"accept": "application/json"}}
	if id, ok := strings.CutPrefix(path, "/v1/keys/"); ok {
		req.RouteKey += "/{keyId}"
		req.PathParameters = map[string]string{"keyId": id}
	}
	req.RequestContext.HTTP.Method = method
	if method == http.MethodPost {
		req.Body = body
		req.Headers["content-type"] = "application/json"
	}
	if auth != "" {
		req.Headers["authorization"] = auth
	}
	return req
}

// An admin makes a write key and a profile-API key (each answered once, with the key), lists them
// page by page without the keys, and revokes them; the write key made opens collect's source, and
// once revoked no longer does.
func TestKeyRoutes(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin := f.addKey(t, keystore.APIKey{Name: "ops", Scopes: []keystore.Scope{keystore.Admin}})

	status, made := call(t, f.h, keysRequest(http.MethodPost, "/v1/keys",
		`{"kind": "write", "name": " Shop ", "allowedOrigins": ["https://Shop.example/", "https://shop.example", "http://localhost:8080"]}`, admin))
	require.Equal(t, http.StatusCreated, status, made)
	write := made["key"].(string)
	require.Regexp(t, `^wk_[0-9a-f]{36}$`, write)
	require.Equal(t, "key_"+keystore.Hash(write)[:12], made["keyId"])
	require.Equal(t, "Shop", made["name"])
	require.Equal(t, write[len(write)-4:], made["last4"])
	require.Equal(t, float64(30), made["takesEffectWithinSeconds"])
	src := made["source"].(map[string]any)
	require.Equal(t, []any{"https://shop.example", "http://localhost:8080"}, src["allowedOrigins"])
	require.Equal(t, "src_"+keystore.Hash(write)[:12], src["sourceId"])
	stored, err := f.keys.Source(ctx, write)
	require.NoError(t, err)
	require.Equal(t, source.Source{ID: src["sourceId"].(string), Name: "Shop", AllowedOrigins: []string{"https://shop.example", "http://localhost:8080"}}, stored)

	status, made = call(t, f.h, keysRequest(http.MethodPost, "/v1/keys",
		`{"kind": "profile-api", "name": "crm-sync", "scopes": ["export", "read"], "expires": "2026-01-01T00:00:00Z"}`, admin))
	require.Equal(t, http.StatusCreated, status, made)
	api := made["key"].(string)
	require.Equal(t, []any{"read", "export"}, made["scopes"])
	require.Equal(t, "2026-01-01T00:00:00Z", made["expires"])
	k, err := f.keys.ProfileAPIKey(ctx, api)
	require.NoError(t, err)
	require.Equal(t, []keystore.Scope{keystore.Read, keystore.Export}, k.Scopes)
	status, _ = call(t, f.h, get("/v1/profiles/"+f.live, nil, "Bearer "+api))
	require.Equal(t, http.StatusOK, status, "the new profile-API key reads")

	// The list, two a page: every key once, never a key or a whole hash.
	seen := map[string]map[string]any{}
	cursor := ""
	for {
		q := map[string]string{"limit": "2"}
		if cursor != "" {
			q["cursor"] = cursor
		}
		req := keysRequest(http.MethodGet, "/v1/keys", "", admin)
		req.QueryStringParameters = q
		resp := serve(t, f.h, req)
		require.Equal(t, http.StatusOK, resp.StatusCode, resp.Body)
		for _, secret := range []string{write, api, f.apiKey, f.writeKey} {
			require.NotContains(t, resp.Body, secret)
			require.NotContains(t, resp.Body, keystore.Hash(secret)[:20])
		}
		_, body := call(t, f.h, req)
		for _, v := range body["keys"].([]any) {
			key := v.(map[string]any)
			require.NotContains(t, seen, key["keyId"])
			seen[key["keyId"].(string)] = key
		}
		if body["next"] == nil {
			break
		}
		cursor = body["next"].(string)
	}
	require.Len(t, seen, 5) // the fixture's two, ops, and the two made here
	w := seen["key_"+keystore.Hash(write)[:12]]
	require.Equal(t, "write", w["kind"])
	require.Equal(t, "active", w["status"])
	require.Equal(t, "profile-api", seen["key_"+keystore.Hash(api)[:12]]["kind"])

	// Revoke: 200 with the time, the same again; collect's look-up then refuses the key.
	id := w["keyId"].(string)
	status, revoked := call(t, f.h, keysRequest(http.MethodDelete, "/v1/keys/"+id, "", admin))
	require.Equal(t, http.StatusOK, status, revoked)
	require.Equal(t, "revoked", revoked["status"])
	require.Equal(t, now.Format(time.RFC3339), revoked["revoked"])
	_, err = f.keys.Source(ctx, write)
	require.True(t, errors.Is(err, keystore.ErrUnknownKey) && errors.Is(err, keystore.ErrRevokedKey), "%v", err)
	status, again := call(t, f.h, keysRequest(http.MethodDelete, "/v1/keys/"+id, "", admin))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, revoked["revoked"], again["revoked"])

	apiID := "key_" + keystore.Hash(api)[:12]
	status, _ = call(t, f.h, keysRequest(http.MethodDelete, "/v1/keys/"+apiID, "", admin))
	require.Equal(t, http.StatusOK, status)
	status, body := call(t, f.h, get("/v1/profiles/"+f.live, nil, "Bearer "+api))
	require.Equal(t, http.StatusUnauthorized, status, "a revoked profile-API key (the fixture reads the table uncached)")
	require.Contains(t, body["error"], "revoked at")

	status, body = call(t, f.h, keysRequest(http.MethodDelete, "/v1/keys/key_000000000000", "", admin))
	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, "no key has the id key_000000000000", body["error"])
}

// The key a request uses is not revoked by that request unless it says so.
func TestRevokingTheKeyInUse(t *testing.T) {
	f := newFixture(t)
	admin := f.addKey(t, keystore.APIKey{Name: "ops", Scopes: []keystore.Scope{keystore.Admin}})
	self := "key_" + keystore.Hash(strings.TrimPrefix(admin, "Bearer "))[:12]
	status, body := call(t, f.h, keysRequest(http.MethodDelete, "/v1/keys/"+self, "", admin))
	require.Equal(t, http.StatusConflict, status)
	require.Contains(t, body["error"], "is the key this request uses")
	status, _ = call(t, f.h, get("/v1/profiles/"+f.live, nil, admin))
	require.Equal(t, http.StatusOK, status, "still usable")

	req := keysRequest(http.MethodDelete, "/v1/keys/"+self, "", admin)
	req.QueryStringParameters = map[string]string{"confirm": "self"}
	status, body = call(t, f.h, req)
	require.Equal(t, http.StatusOK, status, body)
	status, _ = call(t, f.h, get("/v1/profiles/"+f.live, nil, admin))
	require.Equal(t, http.StatusUnauthorized, status)
}

// Every refusal says why, and nothing is stored.
func TestKeyRequestsRefused(t *testing.T) {
	f := newFixture(t)
	admin := f.addKey(t, keystore.APIKey{Name: "ops", Scopes: []keystore.Scope{keystore.Admin}})
	long := strings.Repeat("n", maxKeyName+1)
	for body, reason := range map[string]string{
		``:                                  "body is not a key request (empty)",
		`[]`:                                "not a JSON object",
		`{"kind": "write", "name": "a"} {}`: "more than one JSON value",
		`{"kind": "read", "name": "a"}`:     `kind must be "write" or "profile-api"`,
		`{"name": "a"}`:                     `kind must be`,
		`{"kind": "write", "name": ""}`:     "name must be 1 to 100 characters",
		`{"kind": "write", "name": "  "}`:   "name must be 1 to 100 characters",
		`{"kind": "write", "name": "` + long + `"}`:                                                   "name must be 1 to 100 characters",
		`{"kind": "write", "name": "a\u0007b"}`:                                                       "control characters",
		`{"kind": "write", "name": "a", "allowedOrigins": ["shop.example"]}`:                          `allowedOrigins: "shop.example" is not an origin`,
		`{"kind": "write", "name": "a", "allowedOrigins": ["https://a.example/x"]}`:                   "is not an origin",
		`{"kind": "write", "name": "a", "allowedOrigins": "https://a.example"}`:                       "allowedOrigins must be a []string",
		`{"kind": "write", "name": "a", "trusted": true, "allowedOrigins": ["*"]}`:                    "a trusted (server) source has no allowed origins",
		`{"kind": "write", "name": "a", "scopes": ["read"]}`:                                          `"scopes" is not a field of a write key`,
		`{"kind": "write", "name": "a", "phoneCountryCode": "+44"}`:                                   "phoneCountryCode",
		`{"kind": "write", "name": "a", "rateLimit": -1}`:                                             "rateLimit",
		`{"kind": "write", "name": "a", "Trusted": true}`:                                             `"Trusted" is not a field of a write key`,
		`{"kind": "write", "name": "a", "owner": "x"}`:                                                `unknown field "owner"`,
		`{"kind": "profile-api", "name": "a"}`:                                                        "scopes: name 1 to 7 of read, export",
		`{"kind": "profile-api", "name": "a", "scopes": ["write"]}`:                                   `scopes: unknown scope "write"; known scopes: read,export`,
		`{"kind": "profile-api", "name": "a", "scopes": ["read,admin"]}`:                              `unknown scope "read,admin"`,
		`{"kind": "profile-api", "name": "a", "scopes": ["read"], "expires": "2026"}`:                 "expires must be an RFC 3339 time",
		`{"kind": "profile-api", "name": "a", "scopes": ["read"], "expires": "2020-01-01T00:00:00Z"}`: "expires must be in the future",
		`{"kind": "profile-api", "name": "a", "scopes": ["read"], "expires": "2999-01-01T00:00:00Z"}`: "expires must be within 36500 days",
		`{"kind": "profile-api", "name": "a", "scopes": ["read"], "allowedOrigins": []}`:              `"allowedOrigins" is not a field of a profile-api key`,
		`{"kind": "write", "name": "` + strings.Repeat("x", maxKeyBody) + `"}`:                        "body larger than 4096 bytes",
	} {
		status, got := call(t, f.h, keysRequest(http.MethodPost, "/v1/keys", body, admin))
		require.Equal(t, http.StatusBadRequest, status, body)
		require.Contains(t, got["error"], reason, body)
	}
	for query, reason := range map[string]string{"limit=0": "limit must be a whole number from 1 to 100", "limit=101": "limit must be",
		"cursor=nope": "cursor is not one this API returned", "sort=name": `unknown parameter "sort"`} {
		req := keysRequest(http.MethodGet, "/v1/keys", "", admin)
		k, v, _ := strings.Cut(query, "=")
		req.QueryStringParameters = map[string]string{k: v}
		status, got := call(t, f.h, req)
		require.Equal(t, http.StatusBadRequest, status, query)
		require.Contains(t, got["error"], reason, query)
	}
	for _, id := range []string{"src_0123456789ab", "key_XYZ", strings.Repeat("k", 600)} {
		status, got := call(t, f.h, keysRequest(http.MethodDelete, "/v1/keys/"+id, "", admin))
		require.Equal(t, http.StatusBadRequest, status, id)
		require.Contains(t, got["error"], "keyId is key_ and 12 hex digits")
	}
	page, err := f.keys.Keys(context.Background(), keystore.MaxPage, "")
	require.NoError(t, err)
	require.Len(t, page.Keys, 3, "nothing stored but the fixture's keys and ops")
}

// The key routes need admin: a console marketer's or viewer's role, or a key of any other scope,
// is refused (403), before the body is read.
func TestKeyRoutesNeedAdmin(t *testing.T) {
	f := newFixture(t)
	var all []keystore.Scope
	for _, s := range keystore.AllScopes() {
		if s != keystore.Admin {
			all = append(all, s)
		}
	}
	everything := f.addKey(t, keystore.APIKey{Name: "all-but-admin", Scopes: all})
	for _, req := range []events.APIGatewayV2HTTPRequest{
		keysRequest(http.MethodGet, "/v1/keys", "", everything),
		keysRequest(http.MethodPost, "/v1/keys", `not json`, everything),
		keysRequest(http.MethodDelete, "/v1/keys/key_000000000000", "", everything),
	} {
		status, body := call(t, f.h, req)
		require.Equal(t, http.StatusForbidden, status, req.RouteKey)
		require.Contains(t, body["error"], `lacks the "admin" scope`)
	}
}

// What the store answers when it cannot be read: every route is a 503 (TestEveryRouteIsA503WhenTheStoreIsDown).
func (down) Keys(context.Context, int, string) (keystore.KeyPage, error) {
	return keystore.KeyPage{}, errors.New("keys down")
}

func (down) AddSource(context.Context, source.Source, time.Time) (string, keystore.Key, error) {
	return "", keystore.Key{}, errors.New("keys down")
}

func (down) AddProfileAPIKey(context.Context, keystore.APIKey) (string, keystore.APIKey, error) {
	return "", keystore.APIKey{}, errors.New("keys down")
}

func (down) Revoke(context.Context, string, time.Time) (keystore.Key, error) {
	return keystore.Key{}, errors.New("keys down")
}

func TestKeyName(t *testing.T) {
	for in, want := range map[string]string{" shop ": "shop", "Boutique Café": "Boutique Café", strings.Repeat("é", maxKeyName): strings.Repeat("é", maxKeyName)} {
		got, err := keyName(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got)
	}
	for _, in := range []string{"", " ", strings.Repeat("é", maxKeyName+1), "a\nb", "a\x00", "\xff"} {
		_, err := keyName(in)
		require.Error(t, err, in)
	}
}
