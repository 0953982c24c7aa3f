package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/audience"
	"github.com/dcrm-project/dcrm/shared/audiencestore"
	"github.com/dcrm-project/dcrm/shared/computed"
	"github.com/dcrm-project/dcrm/shared/keystore"
)

// vipDefinition is a valid definition of the audience "vip".
const vipDefinition = `{"id": "vip", "name": "VIP", "description": "Big spenders.", "rule": {"all": [
	{"field": "revenue", "op": ">=", "value": 500},
	{"field": "traits.plan", "op": "==", "value": "gold-secret-plan"}]}}`

// audienceRequest is a request of an audience route: GET, PUT or DELETE of /v1/audiences/{id}, or
// GET /v1/audiences when !withID; body is sent with a PUT.
func audienceRequest(method string, withID bool, id, body, auth string) events.APIGatewayV2HTTPRequest {
	req := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: method + " /v1/audiences", RawPath: "/v1/audiences",
		Headers: map[string]string{"accept": "application/json"}}
	if withID {
		req.RouteKey += "/{audienceId}"
		req.RawPath += "/" + id
		req.PathParameters = map[string]string{"audienceId": id}
	}
	req.RequestContext.HTTP.Method = method
	if method == http.MethodPut {
		req.Body = body
		req.Headers["content-type"] = "application/json"
	}
	if auth != "" {
		req.Headers["authorization"] = auth
	}
	return req
}

// definition is the JSON of a definition of id whose rule is given ("" for a plain one).
func definition(id, rule string) string {
	if rule == "" {
		rule = `{"field": "orders", "op": ">=", "value": 1}`
	}
	return fmt.Sprintf(`{"id": %q, "name": "The %s", "rule": %s}`, id, id, rule)
}

func member(id string) string {
	return fmt.Sprintf(`{"field": "audiences", "op": "contains", "value": %q}`, id)
}

// The routes keep the definitions: created (201) and replaced (200) with the stored form, read
// one by one and listed, removed (204); every refusal says why.
func TestAudienceRoutes(t *testing.T) {
	f := newFixture(t)
	writer := f.addKey(t, keystore.APIKey{Name: "marketing", Scopes: []keystore.Scope{keystore.Read, keystore.Audiences}})
	k, err := f.keys.ProfileAPIKey(context.Background(), strings.TrimPrefix(writer, "Bearer "))
	require.NoError(t, err)
	list := func() []any {
		t.Helper()
		status, body := call(t, f.h, audienceRequest(http.MethodGet, false, "", "", writer))
		require.Equal(t, http.StatusOK, status, body)
		return body["audiences"].([]any)
	}
	putDef := func(id, def string) (int, map[string]any) {
		t.Helper()
		return call(t, f.h, audienceRequest(http.MethodPut, true, id, def, writer))
	}
	require.Empty(t, list())

	status, body := putDef("vip", vipDefinition)
	require.Equal(t, http.StatusCreated, status, body)
	require.Equal(t, "vip", body["id"])
	require.Equal(t, "VIP", body["name"])
	require.Equal(t, "Big spenders.", body["description"])
	require.Equal(t, false, body["public"])
	require.Equal(t, 1.0, body["version"])
	require.Equal(t, k.ID, body["updatedBy"], "the key's id, never the key")
	require.Equal(t, "2025-03-01T12:00:00Z", body["createdAt"])
	def, err := json.Marshal(body["definition"])
	require.NoError(t, err)
	parsed, err := audience.Parse(def)
	require.NoError(t, err, "the stored form reads back")
	require.Equal(t, "vip", parsed.ID)

	status, body = putDef("vip", strings.Replace(vipDefinition, `"VIP"`, `"Very important"`, 1))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, 2.0, body["version"])
	require.Equal(t, "Very important", body["name"])

	status, body = putDef("gold", definition("gold", member("vip")))
	require.Equal(t, http.StatusCreated, status, body)
	status, body = call(t, f.h, audienceRequest(http.MethodGet, true, "vip", "", writer))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, 2.0, body["version"])
	var ids []string
	for _, a := range list() {
		ids = append(ids, a.(map[string]any)["id"].(string))
		require.Contains(t, a, "definition")
	}
	require.Equal(t, []string{"gold", "vip"}, ids)

	// Refusals.
	for _, tc := range []struct {
		name   string
		req    events.APIGatewayV2HTTPRequest
		status int
		error  string
	}{
		{"unknown audience", audienceRequest(http.MethodGet, true, "nobody", "", writer), 404, `no audience "nobody"; GET /v1/audiences lists them`},
		{"not an id", audienceRequest(http.MethodGet, true, "Not_An-Id", "", writer), 400, "audienceId must be a lower-case slug"},
		{"an overlong id", audienceRequest(http.MethodDelete, true, strings.Repeat("a", 65), "", writer), 400, "audienceId must be a lower-case slug of 1 to 64 bytes"},
		{"a parameter", func() events.APIGatewayV2HTTPRequest {
			r := audienceRequest(http.MethodGet, false, "", "", writer)
			r.QueryStringParameters = map[string]string{"limit": "5"}
			return r
		}(), 400, "takes no parameters"},
		{"a bad operator", audienceRequest(http.MethodPut, true, "bad", definition("bad", `{"all": [{"field": "orders", "op": ">=", "value": 1}, {"field": "traits.plan", "op": "~", "value": "x"}]}`), writer),
			400, `invalid audience definition: rule.all[1]: field "traits.plan": op "~": want one of`},
		{"not JSON", audienceRequest(http.MethodPut, true, "bad", `{"id": `, writer), 400, "invalid audience definition: not JSON"},
		{"another id", audienceRequest(http.MethodPut, true, "other", vipDefinition, writer), 400, `the definition's id "vip" is not the path's "other"`},
		{"an unknown audience named", audienceRequest(http.MethodPut, true, "silver", definition("silver", member("bronze")), writer),
			409, `audience "silver": rule: audience "bronze" is not defined`},
		{"a cycle", audienceRequest(http.MethodPut, true, "vip", definition("vip", member("gold")), writer), 409, "audiences gold → vip → gold form a cycle"},
		{"too large", audienceRequest(http.MethodPut, true, "big", definition("big", `{"field": "traits.x", "op": "==", "value": "`+strings.Repeat("x", 33<<10)+`"}`), writer),
			413, "bytes, at most 32768"},
		{"named by another", audienceRequest(http.MethodDelete, true, "vip", "", writer), 409, `audience in use: "vip" is named by "gold"; change or remove those first`},
		{"removing an unknown audience", audienceRequest(http.MethodDelete, true, "nobody", "", writer), 404, `no audience "nobody"`},
	} {
		status, body := call(t, f.h, tc.req)
		require.Equal(t, tc.status, status, "%s: %v", tc.name, body)
		require.Contains(t, body["error"], tc.error, tc.name)
	}
	require.Equal(t, 2.0, getVersion(t, f, writer, "vip"), "nothing refused was written")

	status, _ = call(t, f.h, audienceRequest(http.MethodDelete, true, "gold", "", writer))
	require.Equal(t, http.StatusNoContent, status)
	status, _ = call(t, f.h, audienceRequest(http.MethodDelete, true, "vip", "", writer))
	require.Equal(t, http.StatusNoContent, status)
	require.Empty(t, list())
}

func getVersion(t *testing.T, f fixture, auth, id string) float64 {
	t.Helper()
	status, body := call(t, f.h, audienceRequest(http.MethodGet, true, id, "", auth))
	require.Equal(t, http.StatusOK, status, body)
	return body["version"].(float64)
}

// A key that may read sees the audiences and changes none; the audiences scope changes them.
func TestAudienceScopes(t *testing.T) {
	f := newFixture(t)
	reader := f.addKey(t, keystore.APIKey{Name: "reporting", Scopes: []keystore.Scope{keystore.Read}})
	status, body := call(t, f.h, audienceRequest(http.MethodPut, true, "vip", vipDefinition, reader))
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, body["error"], `lacks the "audiences" scope, which PUT /v1/audiences/{audienceId} needs; its scopes: read`)
	status, _ = call(t, f.h, audienceRequest(http.MethodGet, false, "", "", reader))
	require.Equal(t, http.StatusOK, status)
}

// A write that lost a race is a 503 with Retry-After: 1, to be repeated.
func TestALostRaceIsRetryable(t *testing.T) {
	h := &handler{keys: allow{}, audiences: racing{}, log: quiet}
	for _, req := range []events.APIGatewayV2HTTPRequest{
		audienceRequest(http.MethodPut, true, "vip", vipDefinition, "Bearer k"),
		audienceRequest(http.MethodDelete, true, "vip", "", "Bearer k"),
	} {
		resp := serve(t, h, req)
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, resp.Body)
		require.Equal(t, retryAfter, resp.Headers["retry-after"])
		require.Contains(t, resp.Body, "the audiences changed under a concurrent write; try again")
	}
}

// Each write is logged with the audience, the version and the key (id and name), never the key
// itself nor the definition's values.
func TestAudienceWritesAreLogged(t *testing.T) {
	f := newFixture(t)
	var logs bytes.Buffer
	f.h.log = slog.New(slog.NewJSONHandler(&logs, nil))
	auth := f.addKey(t, keystore.APIKey{Name: "marketing", Scopes: []keystore.Scope{keystore.Audiences}})
	secret := strings.TrimPrefix(auth, "Bearer ")
	k, err := f.keys.ProfileAPIKey(context.Background(), secret)
	require.NoError(t, err)
	status, _ := call(t, f.h, audienceRequest(http.MethodPut, true, "vip", vipDefinition, auth))
	require.Equal(t, http.StatusCreated, status)
	status, _ = call(t, f.h, audienceRequest(http.MethodDelete, true, "vip", "", auth))
	require.Equal(t, http.StatusNoContent, status)

	var writes []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		require.NotContains(t, l, secret)
		require.NotContains(t, l, "gold-secret-plan", "a definition's values are not logged")
		var line map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &line), l)
		require.Equal(t, k.ID, line["keyId"], l)
		require.Equal(t, "marketing", line["keyName"], l)
		if line["msg"] != "profile request" {
			writes = append(writes, fmt.Sprint(line["msg"], " ", line["audienceId"], " ", line["version"], " ", line["created"]))
		}
	}
	require.Equal(t, []string{"audience written vip 1 true", "audience removed vip <nil> <nil>"}, writes)
}

// The handler's check of a path's id agrees with the language's.
func TestAudienceIDsAreTheLanguages(t *testing.T) {
	for _, id := range []string{"vip", "a", "high-value-lapsing", "9", "a-b-c", strings.Repeat("a", 64), strings.Repeat("a", 65),
		"", "-a", "a-", "A", "a_b", "a b", "é", "a.b", "#set", "a--b"} {
		_, parseErr := audience.Parse([]byte(definition(id, "")))
		_, pathErr := audienceID(request{APIGatewayV2HTTPRequest: events.APIGatewayV2HTTPRequest{PathParameters: map[string]string{"audienceId": id}}})
		require.Equal(t, parseErr == nil, pathErr == nil, "%q: parse %v, path %v", id, parseErr, pathErr)
	}
}

// downAudiences is an Audiences table that cannot be reached.
type downAudiences struct{}

func (downAudiences) List(context.Context) ([]audiencestore.Stored, error) {
	return nil, errors.New("connection refused")
}
func (downAudiences) Get(context.Context, string) (audiencestore.Stored, error) {
	return audiencestore.Stored{}, errors.New("connection refused")
}
func (downAudiences) Put(context.Context, audience.Definition, string) (audiencestore.Stored, error) {
	return audiencestore.Stored{}, errors.New("connection refused")
}
func (downAudiences) Delete(context.Context, string, string) error {
	return errors.New("connection refused")
}

// racing is an Audiences table where every write loses a race.
type racing struct{ downAudiences }

func (racing) Put(context.Context, audience.Definition, string) (audiencestore.Stored, error) {
	return audiencestore.Stored{}, fmt.Errorf("put: %w", audiencestore.ErrChanged)
}
func (racing) Delete(context.Context, string, string) error {
	return fmt.Errorf("delete: %w", audiencestore.ErrChanged)
}
func (downAudiences) Traits(context.Context) ([]computed.Definition, error) {
	return nil, errors.New("connection refused")
}
func (downAudiences) Trait(context.Context, string) (computed.Definition, error) {
	return computed.Definition{}, errors.New("connection refused")
}
func (downAudiences) PutTrait(context.Context, computed.Definition, string) (bool, error) {
	return false, errors.New("connection refused")
}
func (downAudiences) DeleteTrait(context.Context, string, string) error {
	return errors.New("connection refused")
}
func (downAudiences) Sizes(context.Context, string, int, time.Time) ([]audiencestore.Size, error) {
	return nil, errors.New("connection refused")
}
func (racing) PutTrait(context.Context, computed.Definition, string) (bool, error) {
	return false, fmt.Errorf("put: %w", audiencestore.ErrChanged)
}
func (racing) DeleteTrait(context.Context, string, string) error {
	return fmt.Errorf("delete: %w", audiencestore.ErrChanged)
}
