package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/openapi"
	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// The profile API is held to its OpenAPI document (events/openapi/openapi.yaml): every answer a
// test reads goes through serve, which checks it against the document, and a run of every test
// fails when a response the document describes was produced by none.

// produced are the (route, status) pairs the tests produced.
var produced openapi.Coverage

func TestMain(m *testing.M) { os.Exit(produced.Run(m, servedBy("profiles"))) }

// servedBy selects the operations of a function's routes in the topology.
func servedBy(function string) func(openapi.Operation) bool {
	routes := map[string]bool{}
	for _, r := range topology.Default().Routes {
		routes[r.Method+" "+r.Path] = r.Function == function
	}
	return func(op openapi.Operation) bool { return routes[op.Method+" "+op.Path] }
}

// serve runs the handler on a request for the route its route key names, as API Gateway hands it
// over, and holds the answer to the document: a documented status, headers and body, and the
// request's body when it was served. Route keys API Gateway never sends this function are not in
// the document, and their answers are not checked.
func serve(t *testing.T, h *handler, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	return serveWithin(t, context.Background(), h, req)
}

// serveWithin is serve with the invocation's context (its deadline, as Lambda sets it).
func serveWithin(t *testing.T, ctx context.Context, h *handler, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	resp, err := h.handle(ctx, req)
	require.NoError(t, err)
	method, path, _ := strings.Cut(req.RouteKey, " ")
	path = strings.ReplaceAll(path, "+}", "}") // API Gateway's greedy {name+} is OpenAPI's {name}
	if _, err := openapi.Match(method, path); errors.Is(err, openapi.ErrUndocumented) {
		return resp
	} else if err != nil {
		require.NoError(t, err)
	}
	produced.Add(method, path, resp.StatusCode)
	body := []byte(resp.Body)
	if resp.IsBase64Encoded { // API Gateway sends the bytes
		var err error
		body, err = base64.StdEncoding.DecodeString(resp.Body)
		require.NoError(t, err)
	}
	require.NoError(t, openapi.ValidateResponseAs(method, path, resp.StatusCode, resp.Headers["content-type"], body))
	require.NoError(t, openapi.ValidateHeaders(method, path, resp.StatusCode, resp.Headers))
	if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusCreated {
		body, err := requestBody(req, 1<<20)
		require.NoError(t, err)
		require.NoError(t, openapi.ValidateRequest(method, path, "", body), "the document takes a request the handler served")
	}
	return resp
}

// routeRequest builds a request the route with key routeKey serves, for profile id (with a valid body
// where the route takes one).
func routeRequest(routeKey, id, auth string) events.APIGatewayV2HTTPRequest {
	method, path, _ := strings.Cut(routeKey, " ")
	var req events.APIGatewayV2HTTPRequest
	switch {
	case path == "/v1/profiles":
		req = get(path, map[string]string{"userId": "u-1"}, auth)
	case strings.HasPrefix(path, "/v1/reports"):
		req = get(strings.NewReplacer("{period}", "latest", "{part}", "attribution.json").Replace(path), nil, auth)
	case strings.HasPrefix(path, "/v1/audiences"): // the audience "vip"; PUT defines it
		req = audienceRequest(method, strings.TrimPrefix(path, "/v1/audiences/{audienceId}") != path, "vip", vipDefinition, auth)
		if strings.Contains(path, "{exportId}") {
			req.PathParameters["exportId"] = "exp_20250201T090000Z_0123abcd"
		}
		if method == http.MethodPost {
			req.Body = `{"purpose": "suppression"}`
		}
	case strings.HasPrefix(path, "/v1/traits"): // the computed trait "views-30d"; PUT defines it
		req = traitRequest(method, path != "/v1/traits", "views-30d", viewsDefinition, auth)
	case strings.HasPrefix(path, "/v1/keys"): // a write key made; DELETE revokes a key no one has
		req = keysRequest(method, strings.Replace(path, "{keyId}", "key_000000000000", 1), `{"kind": "write", "name": "shop"}`, auth)
	case method == http.MethodPut:
		req = put(strings.Replace(path, "{profileId}", id, 1), `{"analytics": true}`, auth)
	case method == http.MethodPost:
		req = post(strings.Replace(path, "{profileId}", id, 1), `{"profileId": "prf_other"}`, auth)
	default:
		req = get(strings.Replace(path, "{profileId}", id, 1), nil, auth)
	}
	req.RouteKey, req.RequestContext.HTTP.Method = routeKey, method
	return req
}

func TestEveryRouteRefusesWithoutAKey(t *testing.T) {
	h := &handler{keys: down{}, profiles: down{}, log: quiet}
	for key := range routes {
		status, body := call(t, h, routeRequest(key, "p1", ""))
		require.Equal(t, http.StatusUnauthorized, status, key)
		require.Contains(t, body["error"], "missing credentials", key)
	}
}

func TestEveryRouteRefusesAnOverlongProfileID(t *testing.T) {
	h := &handler{keys: allow{}, profiles: down{}, log: quiet}
	for key := range routes {
		if !strings.Contains(key, "{profileId}") {
			continue
		}
		status, body := call(t, h, routeRequest(key, strings.Repeat("p", profile.MaxIDLength+1), "Bearer k"))
		require.Equal(t, http.StatusBadRequest, status, key)
		require.Equal(t, "profileId longer than 512 bytes", body["error"], key)
	}
}

func TestEveryRouteIsA503WhenTheStoreIsDown(t *testing.T) {
	h := &handler{keys: allow{}, profiles: down{}, updates: &recorder{}, reports: reportStore{down{}}, audiences: downAudiences{},
		keyStore: down{}, activity: downActivity{}, now: func() time.Time { return now }, log: quiet}
	for key := range routes {
		resp := serve(t, h, routeRequest(key, "p1", "Bearer k"))
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, key)
		var body problem
		require.NoError(t, json.Unmarshal([]byte(resp.Body), &body))
		if strings.HasPrefix(key, "GET /v1/reports") { // the archive bucket: repeat after a while
			require.Equal(t, "reports are unavailable right now; try again", body.Error, key)
			require.Equal(t, reportsRetryAfter, resp.Headers["retry-after"], key)
			continue
		}
		if key == "GET /v1/health" { // the Health table
			require.Equal(t, "health is unavailable right now; try again", body.Error, key)
			continue
		}
		if strings.Contains(key, " /v1/traits") {
			require.Equal(t, "computed traits are unavailable right now; try again", body.Error, key)
			require.Equal(t, reportsRetryAfter, resp.Headers["retry-after"], key)
			continue
		}
		if strings.Contains(key, " /v1/alerts") || strings.Contains(key, " /v1/audit") {
			require.Equal(t, activityUnavailable, body.Error, key)
			require.Equal(t, reportsRetryAfter, resp.Headers["retry-after"], key)
			continue
		}
		if strings.Contains(key, " /v1/audiences") {
			require.Equal(t, "audiences are unavailable right now; try again", body.Error, key)
			require.Equal(t, reportsRetryAfter, resp.Headers["retry-after"], key)
			continue
		}
		require.Equal(t, "profiles are unavailable right now; try again", body.Error, key)
	}
}

// A profile with everything a profile can show (a scored customer with a session from a campaign,
// products, an order, a basket, an open form, a group and consent) and its history and export
// match the document, each optional part included.
func TestEveryPartOfAProfileMatchesTheDocument(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	auth := "Bearer " + f.apiKey
	t0 := time.Date(2025, 2, 10, 9, 0, 0, 0, time.UTC)
	n := 0
	record := func(a profile.Activity, properties string) {
		n++
		a.MessageID, a.AnonymousID, a.UserID = fmt.Sprintf("rich-%d", n), "a-rich", "u-rich"
		a.At = t0.Add(time.Duration(n) * time.Minute)
		_, err := f.store.RecordClaims(ctx, a, recording.Claims{Properties: json.RawMessage(properties)})
		require.NoError(t, err)
	}
	shoes := []profile.Line{{ProductID: "sku-1", Quantity: 1, Price: 59.9, Category: "shoes"}}
	record(profile.Activity{Type: beacon.Page, Page: "/shoes", Channel: beacon.ChannelPaidSearch,
		Campaign: profile.Campaign{Source: "google", Medium: "cpc", Name: "spring", ClickID: "g-1"}}, `{"path":"/shoes"}`)
	record(profile.Activity{Type: beacon.Track, Event: "Order Completed", OrderID: "o-1", Revenue: 20,
		Products: []profile.Line{{ProductID: "sku-2", Quantity: 2, Price: 10, Category: "socks"}}}, `{"order_id":"o-1","revenue":20}`)
	record(profile.Activity{Type: beacon.Track, Event: "Order Completed", OrderID: "s-1", Revenue: 35, SalesChannel: "store", Store: "Leeds"},
		`{"order_id":"s-1","revenue":35,"channel":"store","store":"Leeds"}`)
	record(profile.Activity{Type: beacon.Track, Event: "Order Refunded", OrderID: "o-1", Revenue: 10}, `{"order_id":"o-1","revenue":-10}`)
	record(profile.Activity{Type: beacon.Track, Event: "Case Closed", Case: &profile.CaseActivity{ID: "case-1", Status: profile.CaseClosed, Topic: "late"}},
		`{"case_id":"case-1","topic":"late"}`)
	record(profile.Activity{Type: beacon.Track, Event: "Product Viewed", Products: shoes}, `{"note":"`+strings.Repeat("x", 5000)+`"}`)
	record(profile.Activity{Type: beacon.Track, Event: "Product Added", Products: shoes}, "")
	record(profile.Activity{Type: beacon.Track, Event: "Form Started", FormID: "newsletter"}, "")
	record(profile.Activity{Type: beacon.Track, Event: "Page Ping", Engaged: 15}, "")
	record(profile.Activity{Type: beacon.Group, GroupID: "acme"}, "")
	record(profile.Activity{Type: beacon.Identify, Traits: map[string]any{"plan": "gold", "age": 41.0}}, "")
	p, err := f.store.Lookup(ctx, identity.UserID("u-rich"))
	require.NoError(t, err)
	_, _, err = f.store.SetConsent(ctx, p.ID, map[string]profile.Consent{profile.PurposeMarketing: {Granted: true, At: t0, Source: "banner"}})
	require.NoError(t, err)
	require.NoError(t, f.scores.SaveScore(ctx, p.ID, profile.Score{
		ScoredAt: now, ModelVersion: 3, FirstOrderAt: t0,
		RFM:   &profile.RFMScore{Variant: profile.VariantRFM, RecencyDays: 19, Frequency: 1, Monetary: 20, R: 4, F: 1, M: 2, Score: 412, Segment: "new customer"},
		Value: &profile.Value{PAlive: 0.9, PAlivePareto: 0.85, ExpectedPurchases: 1.2, ExpectedSpend: 25, CLV: 30.5, CLVPareto: 28.1, HorizonWeeks: 52},
		Lapse: &profile.LapseRisk{Risk: 0.2, PAlive: 0.9, Activity: 1.1, RecentVisits: 1, ExpectedVisits: 1.5},
		NextActions: []profile.NextAction{
			{Kind: "complete-basket", Product: "sku-1", Score: 0.9, Reason: "left in the basket"},
			{Kind: "explore-category", Category: "shoes", Score: 0.4, Reason: "viewed shoes"},
			{Kind: "complete-form", Form: "newsletter", Score: 0.5, Reason: "started the form"},
		},
		Cluster: "recent frequent-visiting", Lookalikes: map[string]float64{"frequent": 0.42},
		LookalikeRanks: map[string]int{"frequent": 1234},
	}))

	status, body := call(t, f.h, get("/v1/profiles/"+p.ID, nil, auth))
	require.Equal(t, http.StatusOK, status, body)
	for _, part := range []string{"userId", "groups", "score", "session", "lastChannel", "products", "basket", "openForms",
		"returns", "firstOrder", "lastOrder", "acquisition", "cases"} {
		require.Contains(t, body, part, "the profile shows %s", part)
	}
	require.Equal(t, 45.0, body["revenue"], "20 + 35 - 10")
	require.Equal(t, map[string]any{"count": 1.0, "value": 10.0}, body["returns"])
	require.Equal(t, "online", body["firstOrder"].(map[string]any)["channel"])
	require.Equal(t, "store", body["lastOrder"].(map[string]any)["channel"])
	require.Equal(t, beacon.ChannelPaidSearch, body["acquisition"].(map[string]any)["channel"], "the first visit's channel")
	c := body["cases"].([]any)[0].(map[string]any)
	require.Equal(t, []any{"case-1", "closed", false, "late"}, []any{c["caseId"], c["status"], c["open"], c["topic"]})
	require.Contains(t, c, "closedAt")
	require.Contains(t, body["session"], "campaign")
	require.Contains(t, body["products"], "categories")
	require.Contains(t, body["consent"], profile.PurposeMarketing)
	for _, part := range []string{"rfm", "value", "lapse", "nextActions", "modelVersion", "firstOrderAt", "lookalikes", "lookalikeRanks"} {
		require.Contains(t, body["score"], part)
	}
	require.Equal(t, map[string]any{"frequent": 1234.0}, body["score"].(map[string]any)["lookalikeRanks"])

	status, body = call(t, f.h, get("/v1/profiles/"+p.ID+"/events", nil, auth))
	require.Equal(t, http.StatusOK, status, body)
	seen := map[string]bool{}
	for _, tp := range body["touchpoints"].([]any) {
		for field := range tp.(map[string]any) {
			seen[field] = true
		}
	}
	for _, field := range []string{"event", "channel", "properties", "propertiesTruncated", "purchase", "orderId", "revenue", "expiresAt"} {
		require.True(t, seen[field], "a touchpoint shows %s", field)
	}
	status, body = call(t, f.h, get("/v1/profiles/"+p.ID+"/export", map[string]string{"limit": "3"}, auth))
	require.Equal(t, http.StatusOK, status, body)
	require.Contains(t, body, "next")
}

// Each response type of api.go (and the consent request of writes.go) has the schema of the same
// name in the document, with the same fields: required where Go always writes them, and no others.
func TestContractTypesAreTheDocuments(t *testing.T) {
	types := map[string]reflect.Type{}
	for _, v := range []any{profileView{}, counts{}, consent{}, score{}, rfmScore{}, value{}, lapseRisk{}, nextAction{},
		session{}, campaign{}, products{}, categories{}, openBasket{}, basketItem{}, openForm{}, touchpoint{}, historyPage{},
		merge{}, mergeLog{}, exportDocument{}, exportedID{}, erasure{}, separation{}, consentState{}, problem{},
		impressions{}, impressionGroup{}, impression{}, serviceCase{}, reportList{}, reportSummary{}, audienceView{}, audienceList{}, audienceSizes{}, audienceSize{}, traitList{},
		visitorView{}, visitorAction{}, alertsPage{}, alertView{}, contactList{}, auditPage{}, actionView{}} {
		typ := reflect.TypeOf(v)
		types[typ.Name()] = typ
	}
	require.ElementsMatch(t, structTypes(t, "api.go"), slices.Collect(maps.Keys(types)), "the types of api.go are the ones checked here")
	types["consentRequest"] = reflect.TypeOf(consentBody{})
	types["visitorRequest"] = reflect.TypeOf(visitorRequest{})
	types["touch"] = reflect.TypeOf(profile.Touch{})

	for name, typ := range types {
		schema, err := openapi.Schema(name)
		require.NoError(t, err, name)
		var fields, required []string
		for i := range typ.NumField() {
			tag, opts, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			fields = append(fields, tag)
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
				required = append(required, tag)
			}
		}
		var props []string
		for p := range schema["properties"].(map[string]any) {
			props = append(props, p)
		}
		require.ElementsMatch(t, fields, props, "%s: the document's properties are the type's fields", name)
		require.Equal(t, false, schema["additionalProperties"], "%s: a Go type is closed", name)
		if name == "consentRequest" {
			continue // every field is optional in the request: null or absent leave a purpose alone
		}
		var documented []string
		list, _ := schema["required"].([]any)
		for _, r := range list {
			documented = append(documented, r.(string))
		}
		require.ElementsMatch(t, required, documented, "%s: required are the fields Go always writes", name)
	}
}

// structTypes lists the struct types a file of this package declares.
func structTypes(t *testing.T, file string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	require.NoError(t, err)
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		if ts, ok := n.(*ast.TypeSpec); ok {
			if _, ok := ts.Type.(*ast.StructType); ok {
				out = append(out, ts.Name.Name)
			}
		}
		return true
	})
	return out
}
