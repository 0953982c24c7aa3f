package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/audiencestore"
	"github.com/dcrm-project/dcrm/shared/computed"
	"github.com/dcrm-project/dcrm/shared/keystore"
)

// viewsDefinition is a valid definition of the computed trait "views-30d".
const viewsDefinition = `{"id": "views-30d", "name": "Views, 30 days", "event": "Product Viewed", "aggregate": "count",
	"where": [{"property": "category", "op": "==", "value": "secret-category"}], "within": "30d"}`

// traitRequest is a request of a computed-trait route: GET, PUT or DELETE of /v1/traits/{id}, or
// GET /v1/traits when !withID; body is sent with a PUT.
func traitRequest(method string, withID bool, id, body, auth string) events.APIGatewayV2HTTPRequest {
	req := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: method + " /v1/traits", RawPath: "/v1/traits",
		Headers: map[string]string{"accept": "application/json"}}
	if withID {
		req.RouteKey += "/{traitId}"
		req.RawPath += "/" + id
		req.PathParameters = map[string]string{"traitId": id}
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

// traitDefinition is the JSON of a plain count of "Order Completed" with the id.
func traitDefinition(id string) string {
	return fmt.Sprintf(`{"id": %q, "name": "The %s", "event": "Order Completed", "aggregate": "count"}`, id, id)
}

// The routes keep the computed-trait definitions: created (201) and replaced (200), answered as
// stored, read one by one and listed, removed (204); every refusal says why, and a trait an
// audience reads is not removed.
func TestTraitRoutes(t *testing.T) {
	f := newFixture(t)
	writer := f.addKey(t, keystore.APIKey{Name: "marketing", Scopes: []keystore.Scope{keystore.Read, keystore.Audiences}})
	list := func() []any {
		t.Helper()
		status, body := call(t, f.h, traitRequest(http.MethodGet, false, "", "", writer))
		require.Equal(t, http.StatusOK, status, body)
		return body["traits"].([]any)
	}
	putDef := func(id, def string) (int, map[string]any) {
		t.Helper()
		return call(t, f.h, traitRequest(http.MethodPut, true, id, def, writer))
	}
	require.Empty(t, list())

	status, body := putDef("views-30d", viewsDefinition)
	require.Equal(t, http.StatusCreated, status, body)
	require.Equal(t, "views-30d", body["id"])
	require.Equal(t, "count", body["aggregate"])
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	parsed, err := computed.Parse(raw)
	require.NoError(t, err, "the stored form reads back")
	require.Equal(t, "Product Viewed", parsed.Event)

	status, body = putDef("views-30d", strings.Replace(viewsDefinition, `"Views, 30 days"`, `"Product views"`, 1))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "Product views", body["name"])
	status, body = putDef("orders", traitDefinition("orders"))
	require.Equal(t, http.StatusCreated, status, body)

	status, body = call(t, f.h, traitRequest(http.MethodGet, true, "views-30d", "", writer))
	require.Equal(t, http.StatusOK, status, body)
	require.Equal(t, "Product views", body["name"])
	var ids []string
	for _, d := range list() {
		ids = append(ids, d.(map[string]any)["id"].(string))
	}
	require.Equal(t, []string{"orders", "views-30d"}, ids)

	// An audience reading the trait keeps it.
	status, body = call(t, f.h, audienceRequest(http.MethodPut, true, "browsers", definition("browsers", `{"field": "computed.views-30d", "op": ">=", "value": 3}`), writer))
	require.Equal(t, http.StatusCreated, status, body)

	for _, tc := range []struct {
		name   string
		req    events.APIGatewayV2HTTPRequest
		status int
		error  string
	}{
		{"unknown trait", traitRequest(http.MethodGet, true, "nothing", "", writer), 404, `no computed trait "nothing"; GET /v1/traits lists them`},
		{"not an id", traitRequest(http.MethodGet, true, "Not_An-Id", "", writer), 400, "traitId must be a lower-case slug"},
		{"an overlong id", traitRequest(http.MethodDelete, true, strings.Repeat("a", 65), "", writer), 400, "traitId must be a lower-case slug of 1 to 64 bytes"},
		{"a parameter", func() events.APIGatewayV2HTTPRequest {
			r := traitRequest(http.MethodGet, false, "", "", writer)
			r.QueryStringParameters = map[string]string{"limit": "5"}
			return r
		}(), 400, "takes no parameters"},
		{"a bad operator", traitRequest(http.MethodPut, true, "bad", `{"id": "bad", "name": "Bad", "event": "Order Completed", "aggregate": "sum", "property": "revenue",
			"where": [{"property": "price", "op": "~", "value": 1}]}`, writer),
			400, `invalid computed trait definition: where[0]: property "price": op "~": want one of`},
		{"a missing property", traitRequest(http.MethodPut, true, "bad", `{"id": "bad", "name": "Bad", "event": "Order Completed", "aggregate": "sum"}`, writer),
			400, "invalid computed trait definition"},
		{"not JSON", traitRequest(http.MethodPut, true, "bad", `{"id": `, writer), 400, "invalid computed trait definition: not JSON"},
		{"another id", traitRequest(http.MethodPut, true, "other", viewsDefinition, writer), 400, `the definition's id "views-30d" is not the path's "other"`},
		{"too large", traitRequest(http.MethodPut, true, "big", `{"id": "big", "name": "`+strings.Repeat("x", 33<<10)+`"}`, writer), 413, "bytes, at most 32768"},
		{"read by an audience", traitRequest(http.MethodDelete, true, "views-30d", "", writer), 409,
			`audience in use: computed trait "views-30d" is read by "browsers"; change or remove those first`},
		{"removing an unknown trait", traitRequest(http.MethodDelete, true, "nothing", "", writer), 404, `no computed trait "nothing"`},
	} {
		status, body := call(t, f.h, tc.req)
		require.Equal(t, tc.status, status, "%s: %v", tc.name, body)
		require.Contains(t, body["error"], tc.error, tc.name)
	}
	require.Len(t, list(), 2, "nothing refused was written")

	status, _ = call(t, f.h, traitRequest(http.MethodDelete, true, "orders", "", writer))
	require.Equal(t, http.StatusNoContent, status)
	status, _ = call(t, f.h, audienceRequest(http.MethodDelete, true, "browsers", "", writer))
	require.Equal(t, http.StatusNoContent, status)
	status, _ = call(t, f.h, traitRequest(http.MethodDelete, true, "views-30d", "", writer))
	require.Equal(t, http.StatusNoContent, status)
	require.Empty(t, list())
}

// No room for another trait is a 409 saying so; a write that lost a race a 503 with Retry-After: 1.
func TestTraitWritesRefusedByTheStore(t *testing.T) {
	h := &handler{keys: allow{}, audiences: fullTraits{}, log: quiet}
	status, body := call(t, h, traitRequest(http.MethodPut, true, "views-30d", viewsDefinition, "Bearer k"))
	require.Equal(t, http.StatusConflict, status, body)
	require.Contains(t, body["error"], "100 computed traits are defined, at most 100")

	h.audiences = racing{}
	for _, req := range []events.APIGatewayV2HTTPRequest{
		traitRequest(http.MethodPut, true, "views-30d", viewsDefinition, "Bearer k"),
		traitRequest(http.MethodDelete, true, "views-30d", "", "Bearer k"),
	} {
		resp := serve(t, h, req)
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, resp.Body)
		require.Equal(t, retryAfter, resp.Headers["retry-after"])
		require.Contains(t, resp.Body, "changed under a concurrent write; try again")
	}
}

// A key that may read sees the traits and changes none.
func TestTraitScopes(t *testing.T) {
	f := newFixture(t)
	reader := f.addKey(t, keystore.APIKey{Name: "reporting", Scopes: []keystore.Scope{keystore.Read}})
	status, body := call(t, f.h, traitRequest(http.MethodPut, true, "views-30d", viewsDefinition, reader))
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, body["error"], `lacks the "audiences" scope, which PUT /v1/traits/{traitId} needs; its scopes: read`)
	status, body = call(t, f.h, traitRequest(http.MethodDelete, true, "views-30d", "", reader))
	require.Equal(t, http.StatusForbidden, status, body)
	status, _ = call(t, f.h, traitRequest(http.MethodGet, false, "", "", reader))
	require.Equal(t, http.StatusOK, status)
}

// Each write is logged with the trait and the key, never the definition's values.
func TestTraitWritesAreLogged(t *testing.T) {
	f := newFixture(t)
	var logs bytes.Buffer
	f.h.log = slog.New(slog.NewJSONHandler(&logs, nil))
	auth := f.addKey(t, keystore.APIKey{Name: "marketing", Scopes: []keystore.Scope{keystore.Audiences}})
	status, _ := call(t, f.h, traitRequest(http.MethodPut, true, "views-30d", viewsDefinition, auth))
	require.Equal(t, http.StatusCreated, status)
	status, _ = call(t, f.h, traitRequest(http.MethodDelete, true, "views-30d", "", auth))
	require.Equal(t, http.StatusNoContent, status)
	var writes []string
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		require.NotContains(t, l, "secret-category", "a definition's values are not logged")
		var line map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &line), l)
		require.Equal(t, "marketing", line["keyName"], l)
		if line["msg"] != "profile request" {
			writes = append(writes, fmt.Sprint(line["msg"], " ", line["traitId"], " ", line["created"]))
		}
	}
	require.Equal(t, []string{"computed trait written views-30d true", "computed trait removed views-30d <nil>"}, writes)
}

// The handler's check of a path's id agrees with the language's.
func TestTraitIDsAreTheLanguages(t *testing.T) {
	for _, id := range []string{"views", "a", "views-30d", "9", strings.Repeat("a", 64), strings.Repeat("a", 65),
		"", "-a", "a-", "A", "a_b", "a b", "é", "a.b", "#traits", "a--b"} {
		_, parseErr := computed.Parse([]byte(traitDefinition(id)))
		_, pathErr := traitID(request{APIGatewayV2HTTPRequest: events.APIGatewayV2HTTPRequest{PathParameters: map[string]string{"traitId": id}}})
		require.Equal(t, parseErr == nil, pathErr == nil, "%q: parse %v, path %v", id, parseErr, pathErr)
	}
}

// fullTraits is an Audiences table with no room for another computed trait.
type fullTraits struct{ downAudiences }

func (fullTraits) PutTrait(context.Context, computed.Definition, string) (bool, error) {
	return false, fmt.Errorf("%w: 100 computed traits are defined, at most 100; remove one first", audiencestore.ErrTooMany)
}
