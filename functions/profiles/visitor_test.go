package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/audience"
	"github.com/dcrm-project/dcrm/shared/audiencestore"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/source"
)

const (
	shopOrigin = "https://shop.example"
	shopKey    = "wk_shop"
	serverKey  = "wk_server"
	anyKey     = "wk_any"  // a source that allows every origin ("*")
	slowKey    = "wk_slow" // a source with a rate of one a second
	downKey    = "wk_down" // the Keys table cannot be read
)

// writeKeyTable is the Keys table's write keys.
type writeKeyTable map[string]source.Source

func (k writeKeyTable) Source(_ context.Context, key string) (source.Source, error) {
	if key == downKey {
		return source.Source{}, errors.New("connection refused")
	}
	src, ok := k[key]
	if !ok {
		return source.Source{}, keystore.ErrUnknownKey
	}
	return src, nil
}

var testSources = writeKeyTable{
	shopKey:   {ID: "src_shop", Name: "shop", AllowedOrigins: []string{shopOrigin}},
	serverKey: {ID: "src_server", Name: "crm", Trusted: true, AllowedOrigins: []string{shopOrigin}},
	anyKey:    {ID: "src_any", Name: "any", AllowedOrigins: []string{"*"}},
	slowKey:   {ID: "src_slow", Name: "slow", AllowedOrigins: []string{shopOrigin}, RateLimit: 1},
}

// cookies are live profiles by anonymous id; any other id is unknown.
type cookies struct {
	down
	by map[string]profile.Profile
}

func (c cookies) Lookup(_ context.Context, id identity.ID) (profile.Profile, error) {
	if p, ok := c.by[id.Value]; ok && id.Kind == identity.Anonymous {
		return p, nil
	}
	return profile.Profile{}, profile.ErrNotFound
}

// definitions is an Audiences table holding defs, counting the lists.
type definitions struct {
	downAudiences
	mu    sync.Mutex
	defs  []audiencestore.Stored
	lists int
}

func (d *definitions) List(context.Context) ([]audiencestore.Stored, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.lists++
	return d.defs, nil
}

// storedDef is an audience definition as the store returns it.
func storedDef(t testing.TB, id string, public bool) audiencestore.Stored {
	t.Helper()
	def, err := audience.Parse([]byte(`{"id": "` + id + `", "name": "` + id + `", "public": ` + map[bool]string{true: "true", false: "false"}[public] +
		`, "rule": {"field": "orders", "op": ">=", "value": 1}}`))
	require.NoError(t, err)
	return audiencestore.Stored{Definition: def, Version: 1}
}

// customer is a scored customer with personal data everywhere, in public and private audiences.
var customer = profile.Profile{
	ID: "prf_secret1", UserID: "user-secret-42", AnonymousIDs: []string{"a-ann"},
	Traits:     map[string]any{"email": "ann@example.com", "plan": "gold-secret-plan"},
	OrderCount: 7, Revenue: 1234.56,
	Audiences: []profile.Membership{{Audience: "customers", Since: now}, {Audience: "high-value", Since: now},
		{Audience: "removed", Since: now}, {Audience: "vip", Since: now}},
	Score: &profile.Score{ScoredAt: now, Cluster: "recent frequent-buying high-spending",
		RFM:   &profile.RFMScore{Variant: profile.VariantRFM, Monetary: 1234.56, Score: 555, Segment: "champions"},
		Value: &profile.Value{CLV: 987.65, PAlive: 0.97},
		NextActions: []profile.NextAction{
			{Kind: "resolve-case", Case: "case-secret-9", Score: 1, Reason: "complaint about a refund of 99.99 open since yesterday"},
			{Kind: "remind-viewed", Product: "sku-1", Score: 0.8, Reason: "viewed sku-1 3 times, basket worth 1234.56"},
			{Kind: "explore-category", Category: "shoes", Score: 0.4, Reason: "most interested in shoes"},
		}},
	Consent: map[string]profile.Consent{profile.PurposeAnalytics: {Granted: true, At: now}},
}

// visitorHandler serves the route over fakes: the customer's cookie a-ann, a visitor a-none in no
// audience and unscored, the public audiences customers and vip (high-value is private, removed is
// no longer defined).
func visitorHandler(t testing.TB) (*handler, *definitions) {
	defs := &definitions{defs: []audiencestore.Stored{storedDef(t, "customers", true), storedDef(t, "high-value", false), storedDef(t, "vip", true)}}
	return &handler{keys: down{}, profiles: cookies{by: map[string]profile.Profile{
		"a-ann":  customer,
		"a-none": {ID: "prf_none", AnonymousIDs: []string{"a-none"}},
	}}, sources: testSources, audiences: defs, public: &publicAudiences{list: publicOf(defs)}, visitors: &visitorLimiter{},
		now: func() time.Time { return now }, log: quiet}, defs
}

// visitorReq is a page's POST /v1/visitor from origin with the write key (none when ""), as API
// Gateway hands it over.
func visitorReq(origin, key, body string) events.APIGatewayV2HTTPRequest {
	req := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: visitorRoute, RawPath: "/v1/visitor", Body: body,
		Headers: map[string]string{"content-type": "application/json"}}
	req.RequestContext.HTTP.Method = http.MethodPost
	if origin != "" {
		req.Headers["origin"] = origin
	}
	if key != "" {
		req.Headers["authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))
	}
	return req
}

// ask serves a visitor request, held to the document, and returns the answer and its body decoded.
func ask(t *testing.T, h *handler, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, map[string]any) {
	t.Helper()
	resp := serve(t, h, req)
	require.Equal(t, "application/json", resp.Headers["content-type"])
	require.Equal(t, "private, no-store", resp.Headers["cache-control"])
	require.Equal(t, "Origin", resp.Headers["vary"])
	require.Equal(t, "nosniff", resp.Headers["x-content-type-options"])
	var body map[string]any
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &body), resp.Body)
	return resp, body
}

// personal are values of the customer that no answer may hold.
var personal = []string{"prf_", "user-secret", "ann@example.com", "gold-secret", "1234.56", "987.65", "case-secret", "99.99",
	"champions", "high-spending", "high-value", "removed", "complaint", "resolve-case", "score", "reason", "since", "a-ann"}

func TestVisitorAnswersOnlyWhatIsPublic(t *testing.T) {
	h, _ := visitorHandler(t)
	resp, body := ask(t, h, visitorReq(shopOrigin, shopKey, `{"anonymousId": "a-ann"}`))
	require.Equal(t, http.StatusOK, resp.StatusCode, resp.Body)
	require.Equal(t, []string{"audiences", "nextAction"}, slices.Sorted(maps.Keys(body)), "the answer's keys, exactly")
	require.Equal(t, []any{"customers", "vip"}, body["audiences"], "public audiences only, sorted; not high-value (private) or removed (no definition)")
	require.Equal(t, map[string]any{"kind": "remind-viewed", "product": "sku-1"}, body["nextAction"],
		"the best action a page may know of (the service case skipped), its kind and product only")
	for _, v := range personal {
		require.NotContains(t, resp.Body, v)
	}
	require.Equal(t, shopOrigin, resp.Headers["access-control-allow-origin"])
	require.NotContains(t, resp.Headers, "access-control-allow-credentials")
}

// An unknown cookie, and one dcrm cannot tell apart from it, get the very same answer as a known
// visitor in no public audience without a next action.
func TestVisitorUnknownCookieIsAnswered(t *testing.T) {
	h, _ := visitorHandler(t)
	var answers []string
	for _, id := range []string{"a-none", "a-unknown", strings.Repeat("x", beacon.MaxIDBytes)} {
		resp, body := ask(t, h, visitorReq(shopOrigin, shopKey, jsonString(visitorRequest{AnonymousID: id})))
		require.Equal(t, http.StatusOK, resp.StatusCode, id)
		require.Equal(t, map[string]any{"audiences": []any{}}, body, id)
		answers = append(answers, resp.Body)
		require.Equal(t, shopOrigin, resp.Headers["access-control-allow-origin"])
	}
	require.Equal(t, answers[0], answers[1], "a known and an unknown cookie look alike")
}

// The person's consent: no answer when analytics was refused, no next action when marketing was.
func TestVisitorFollowsConsent(t *testing.T) {
	h, _ := visitorHandler(t)
	refused := func(purpose string) profile.Profile {
		p := customer
		p.Consent = map[string]profile.Consent{purpose: {Granted: false, At: now}}
		return p
	}
	h.profiles = cookies{by: map[string]profile.Profile{"a-no-analytics": refused(profile.PurposeAnalytics), "a-no-marketing": refused(profile.PurposeMarketing)}}
	_, body := ask(t, h, visitorReq(shopOrigin, shopKey, `{"anonymousId": "a-no-analytics"}`))
	require.Equal(t, map[string]any{"audiences": []any{}}, body)
	_, body = ask(t, h, visitorReq(shopOrigin, shopKey, `{"anonymousId": "a-no-marketing"}`))
	require.Equal(t, map[string]any{"audiences": []any{"customers", "vip"}}, body)
}

func TestVisitorNextActionIsBrowserSafe(t *testing.T) {
	for _, c := range []struct {
		actions []profile.NextAction
		want    *visitorAction
	}{
		{nil, nil},
		{[]profile.NextAction{{Kind: "resolve-case", Case: "c-1", Reason: "open"}}, nil},
		{[]profile.NextAction{{Kind: "complete-basket", Score: 1, Reason: "2 items worth 99.90"}}, &visitorAction{Kind: "complete-basket"}},
		{[]profile.NextAction{{Kind: "complete-form", Form: "signup"}}, &visitorAction{Kind: "complete-form", Form: "signup"}},
		{[]profile.NextAction{{Kind: "win-back", Reason: "lapsed, 12 orders worth 400"}}, &visitorAction{Kind: "win-back"}},
		{[]profile.NextAction{{Kind: "a-kind-added-later", Product: "x"}, {Kind: "explore-category", Category: "mugs"}},
			&visitorAction{Kind: "explore-category", Category: "mugs"}},
	} {
		require.Equal(t, c.want, nextActionFor(profile.Profile{Score: &profile.Score{NextActions: c.actions}}), "%+v", c.actions)
	}
	require.Nil(t, nextActionFor(profile.Profile{}), "unscored")
}

func TestVisitorRefusals(t *testing.T) {
	h, _ := visitorHandler(t)
	for name, c := range map[string]struct {
		req    events.APIGatewayV2HTTPRequest
		status int
		error  string
	}{
		"no key":              {visitorReq(shopOrigin, "", `{"anonymousId": "a-ann"}`), http.StatusUnauthorized, "missing write key"},
		"unknown key":         {visitorReq(shopOrigin, "wk_nobody", `{"anonymousId": "a-ann"}`), http.StatusUnauthorized, "unknown write key"},
		"a profile-API key":   {withHeader(visitorReq(shopOrigin, "", `{"anonymousId": "a-ann"}`), "authorization", "Bearer pk_x"), http.StatusUnauthorized, "missing write key"},
		"not base64":          {withHeader(visitorReq(shopOrigin, "", `{"anonymousId": "a-ann"}`), "authorization", "Basic %%%"), http.StatusUnauthorized, "not valid basic auth"},
		"overlong header":     {withHeader(visitorReq(shopOrigin, "", `{}`), "authorization", "Basic "+strings.Repeat("A", 400)), http.StatusUnauthorized, "longer than 256 bytes"},
		"wrong origin":        {visitorReq("https://evil.example", shopKey, `{"anonymousId": "a-ann"}`), http.StatusForbidden, "origin https://evil.example may not use this write key"},
		"no origin":           {visitorReq("", shopKey, `{"anonymousId": "a-ann"}`), http.StatusForbidden, "needs the Origin"},
		"opaque origin":       {visitorReq("null", shopKey, `{"anonymousId": "a-ann"}`), http.StatusForbidden, "needs the Origin"},
		"server key":          {visitorReq(shopOrigin, serverKey, `{"anonymousId": "a-ann"}`), http.StatusForbidden, "trusted"},
		"server key, no page": {visitorReq("", serverKey, `{"anonymousId": "a-ann"}`), http.StatusForbidden, "trusted"},
	} {
		resp, body := ask(t, h, c.req)
		require.Equal(t, c.status, resp.StatusCode, name)
		require.Contains(t, body["error"], c.error, name)
		require.Equal(t, []string{"error"}, slices.Sorted(maps.Keys(body)), name)
		require.NotContains(t, resp.Headers, "access-control-allow-origin", "%s: no CORS for an origin not known to be allowed", name)
		require.NotContains(t, resp.Body, shopKey, name)
	}
}

func TestVisitorBadInputIsA400(t *testing.T) {
	h, _ := visitorHandler(t)
	for name, c := range map[string]struct {
		body, contentType string
		base64            bool
		error             string
	}{
		"oversized body":    {body: `{"anonymousId": "a-ann"` + strings.Repeat(" ", maxVisitorBody) + `}`, error: "body larger than 1024 bytes"},
		"oversized, base64": {body: strings.Repeat("a", 2000), base64: true, error: "body larger than 1024 bytes"},
		"overlong id":       {body: jsonString(visitorRequest{AnonymousID: strings.Repeat("x", beacon.MaxIDBytes+1)}), error: "anonymousId is 257 bytes; the limit is 256"},
		"empty id":          {body: `{"anonymousId": ""}`, error: "anonymousId is required"},
		"no id":             {body: `{}`, error: "anonymousId is required"},
		"null":              {body: `null`, error: "anonymousId is required"},
		"a number":          {body: `{"anonymousId": 42}`, error: "anonymousId must be a string"},
		"another member":    {body: `{"anonymousId": "a-ann", "userId": "u-1"}`, error: `unknown field "userId"`},
		"an array":          {body: `["a-ann"]`, error: "not a JSON object"},
		"not JSON":          {body: `anonymousId=a-ann`, error: "not valid JSON"},
		"two values":        {body: `{"anonymousId": "a"} {"anonymousId": "b"}`, error: "more than one JSON value"},
		"empty":             {body: ``, error: "empty"},
		"text/plain":        {body: `{"anonymousId": "a-ann"}`, contentType: "text/plain", error: `content type "text/plain"`},
		"no content type":   {body: `{"anonymousId": "a-ann"}`, contentType: "-", error: `content type ""`},
		"bad base64":        {body: `{{{{`, base64: true, error: "not valid base64"},
		"bad content type":  {body: `{}`, contentType: "application/json; charset", error: "send application/json"},
		"form":              {body: `anonymousId=a`, contentType: "application/x-www-form-urlencoded", error: "send application/json"},
		"unterminated":      {body: `{"anonymousId": "a-ann"`, error: "not valid JSON"},
		"id is an object":   {body: `{"anonymousId": {"a": 1}}`, error: "anonymousId must be a string"},
		"a repeated member": {body: `{"anonymousId": "x", "anonymousId": ""}`, error: "anonymousId is required"},
	} {
		req := visitorReq(shopOrigin, shopKey, c.body)
		switch c.contentType {
		case "":
		case "-":
			delete(req.Headers, "content-type")
		default:
			req.Headers["content-type"] = c.contentType
		}
		req.IsBase64Encoded = c.base64
		resp, body := ask(t, h, req)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, name)
		require.Contains(t, body["error"], c.error, name)
		require.Equal(t, shopOrigin, resp.Headers["access-control-allow-origin"], "%s: the page may read why", name)
	}

	// A body API Gateway hands over in base64 is read as any other.
	req := visitorReq(shopOrigin, shopKey, base64.StdEncoding.EncodeToString([]byte(`{"anonymousId": "a-ann"}`)))
	req.IsBase64Encoded = true
	resp, body := ask(t, h, req)
	require.Equal(t, http.StatusOK, resp.StatusCode, resp.Body)
	require.Equal(t, []any{"customers", "vip"}, body["audiences"])
}

// A source whose origins are "*" answers every page (the audiences it marks public are public).
func TestVisitorAnyOrigin(t *testing.T) {
	h, _ := visitorHandler(t)
	resp, body := ask(t, h, visitorReq("https://blog.example", anyKey, `{"anonymousId": "a-ann"}`))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "https://blog.example", resp.Headers["access-control-allow-origin"], "the request's origin, never *")
	require.Equal(t, []any{"customers", "vip"}, body["audiences"])
}

func TestVisitorRate(t *testing.T) {
	h, _ := visitorHandler(t)
	at := now
	h.now = func() time.Time { return at }
	resp, _ := ask(t, h, visitorReq(shopOrigin, slowKey, `{"anonymousId": "a-ann"}`))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, body := ask(t, h, visitorReq(shopOrigin, slowKey, `{"anonymousId": "a-ann"}`))
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	require.Contains(t, body["error"], "over its rate of 1 requests per second")
	require.Equal(t, "1", resp.Headers["retry-after"])
	require.Equal(t, shopOrigin, resp.Headers["access-control-allow-origin"])
	require.Equal(t, "Retry-After", resp.Headers["access-control-expose-headers"])
	resp, _ = ask(t, h, visitorReq(shopOrigin, shopKey, `{"anonymousId": "a-ann"}`))
	require.Equal(t, http.StatusOK, resp.StatusCode, "another source is not slowed")
	at = at.Add(time.Second)
	resp, _ = ask(t, h, visitorReq(shopOrigin, slowKey, `{"anonymousId": "a-ann"}`))
	require.Equal(t, http.StatusOK, resp.StatusCode, "a second later")
}

func TestVisitorOutagesAreA503(t *testing.T) {
	for name, c := range map[string]struct {
		h    func(*handler)
		key  string
		cors bool
	}{
		"keys":      {func(*handler) {}, downKey, false},
		"no keys":   {func(h *handler) { h.sources = nil }, shopKey, false},
		"profiles":  {func(h *handler) { h.profiles = down{} }, shopKey, true},
		"audiences": {func(h *handler) { h.public = &publicAudiences{list: publicOf(downAudiences{})} }, shopKey, true},
	} {
		h, _ := visitorHandler(t)
		c.h(h)
		resp, body := ask(t, h, visitorReq(shopOrigin, c.key, `{"anonymousId": "a-ann"}`))
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, name)
		require.Equal(t, visitorRetryAfter, resp.Headers["retry-after"], name)
		require.NotContains(t, body["error"], "connection refused", name)
		_, cors := resp.Headers["access-control-allow-origin"]
		require.Equal(t, c.cors, cors, name)
	}
}

// The public audiences are read once a minute per instance, not once a page view.
func TestVisitorPublicAudiencesAreCached(t *testing.T) {
	h, defs := visitorHandler(t)
	at := now
	h.now = func() time.Time { return at }
	for range 5 {
		resp, _ := ask(t, h, visitorReq(shopOrigin, shopKey, `{"anonymousId": "a-ann"}`))
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	require.Equal(t, 1, defs.lists)

	defs.mu.Lock()
	defs.defs = []audiencestore.Stored{storedDef(t, "customers", true), storedDef(t, "high-value", true), storedDef(t, "vip", false)}
	defs.mu.Unlock()
	at = at.Add(publicAudiencesTTL - time.Second)
	_, body := ask(t, h, visitorReq(shopOrigin, shopKey, `{"anonymousId": "a-ann"}`))
	require.Equal(t, []any{"customers", "vip"}, body["audiences"], "within the minute")
	at = at.Add(time.Second)
	_, body = ask(t, h, visitorReq(shopOrigin, shopKey, `{"anonymousId": "a-ann"}`))
	require.Equal(t, []any{"customers", "high-value"}, body["audiences"], "a minute on, the flags as they now are")
	require.Equal(t, 2, defs.lists)

	// An unknown cookie reads no definitions at all.
	at = at.Add(time.Hour)
	ask(t, h, visitorReq(shopOrigin, shopKey, `{"anonymousId": "a-unknown"}`))
	require.Equal(t, 2, defs.lists)
}

func TestVisitorPreflight(t *testing.T) {
	h, _ := visitorHandler(t)
	req := visitorReq("https://any.example", "", "")
	req.RouteKey, req.RequestContext.HTTP.Method = visitorPreflightRoute, http.MethodOptions
	req.Headers["access-control-request-headers"] = "authorization,content-type"
	resp := serve(t, h, req)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)
	require.Empty(t, resp.Body)
	require.Equal(t, "https://any.example", resp.Headers["access-control-allow-origin"])
	require.Equal(t, "POST", resp.Headers["access-control-allow-methods"])
	require.Equal(t, "Content-Type, Authorization", resp.Headers["access-control-allow-headers"])
	require.Equal(t, "7200", resp.Headers["access-control-max-age"])
}

// The route's log line names the source, never the key, the cookie or what was answered.
func TestVisitorLogs(t *testing.T) {
	h, _ := visitorHandler(t)
	var logs bytes.Buffer
	h.log = slog.New(slog.NewJSONHandler(&logs, nil))
	ask(t, h, visitorReq(shopOrigin, shopKey, `{"anonymousId": "a-ann"}`))
	ask(t, h, visitorReq("https://evil.example", shopKey, `{"anonymousId": "a-ann"}`))
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	require.Len(t, lines, 2)
	require.Contains(t, lines[0], `"msg":"visitor request","route":"POST /v1/visitor"`)
	require.Contains(t, lines[0], `"sourceId":"src_shop","status":200,"outcome":"OK"`)
	require.Contains(t, lines[1], `"status":403`)
	for _, secret := range []string{shopKey, "a-ann", "vip", "sku-1"} {
		require.NotContains(t, logs.String(), secret)
	}
}

// The browser routes are not the profile API's: no profile-API key opens them, and they are in
// the document.
func TestBrowserRoutesAreApart(t *testing.T) {
	for route := range browserRoutes {
		require.NotContains(t, routes, route)
		require.NotContains(t, scopes, route)
	}
	h, _ := visitorHandler(t)
	h.keys = allow{}
	req := visitorReq(shopOrigin, "", `{"anonymousId": "a-ann"}`)
	req.Headers["authorization"] = "Bearer pk_admin"
	resp, _ := ask(t, h, req)
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode, "an admin profile-API key is not a write key")
}

// Through the recording engine and DynamoDB Local: a cookie merged into another profile answers
// with the live profile's public audiences and next action; an erased person's cookies are
// answered as unknown ones. The memberships are the ones recording keeps on the profile
// (Profile.Audiences); they are set on the live profile here by a wrapper of the engine.
func TestVisitorThroughTheEngine(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	wk := keystore.NewKey("wk_")
	require.NoError(t, f.keys.PutSource(ctx, wk, source.Source{ID: "src_site", Name: "site", AllowedOrigins: []string{shopOrigin}}))
	for _, d := range []string{
		`{"id": "customers", "name": "Customers", "public": true, "rule": {"field": "orders", "op": ">=", "value": 1}}`,
		`{"id": "big-spenders", "name": "Big spenders", "rule": {"field": "revenue", "op": ">=", "value": 500}}`,
	} {
		def, err := audience.Parse([]byte(d))
		require.NoError(t, err)
		_, err = f.audiences.Put(ctx, def, "key_test")
		require.NoError(t, err)
	}
	require.NoError(t, f.scores.SaveScore(ctx, f.live, profile.Score{ScoredAt: now, NextActions: []profile.NextAction{
		{Kind: "recommend-product", Product: "sku-9", Score: 0.7, Reason: "people who bought sku-1 bought sku-9 (lift 3)"}}}))
	cache := keystore.NewCache(f.keys, keystore.CacheTTL)
	h := &handler{keys: cache, sources: cache, profiles: memberships{f.store, map[string][]string{f.live: {"big-spenders", "customers"}}},
		audiences: f.audiences, public: &publicAudiences{list: publicOf(f.audiences)}, visitors: &visitorLimiter{},
		now: func() time.Time { return now }, log: quiet}

	want := map[string]any{"audiences": []any{"customers"}, "nextAction": map[string]any{"kind": "recommend-product", "product": "sku-9"}}
	for _, cookie := range []string{"a-desk", "a-phone"} { // a-phone's profile was merged into a-desk's
		resp, body := ask(t, h, visitorReq(shopOrigin, wk, jsonString(visitorRequest{AnonymousID: cookie})))
		require.Equal(t, http.StatusOK, resp.StatusCode, resp.Body)
		require.Equal(t, want, body, cookie)
		require.NotContains(t, resp.Body, f.live)
		require.NotContains(t, resp.Body, f.merged)
	}
	for _, cookie := range []string{"a-other", "a-never-seen"} {
		_, body := ask(t, h, visitorReq(shopOrigin, wk, jsonString(visitorRequest{AnonymousID: cookie})))
		require.Equal(t, map[string]any{"audiences": []any{}}, body, cookie)
	}
	resp, _ := ask(t, h, visitorReq("https://evil.example", wk, `{"anonymousId": "a-desk"}`))
	require.Equal(t, http.StatusForbidden, resp.StatusCode)

	for {
		e, err := f.store.Erase(ctx, f.live)
		require.NoError(t, err)
		if e.State == recording.ErasureComplete {
			break
		}
	}
	for _, cookie := range []string{"a-desk", "a-phone"} {
		resp, body := ask(t, h, visitorReq(shopOrigin, wk, jsonString(visitorRequest{AnonymousID: cookie})))
		require.Equal(t, http.StatusOK, resp.StatusCode, "an erased cookie is no 404")
		require.Equal(t, map[string]any{"audiences": []any{}}, body, cookie)
	}
}

// memberships is the engine with the audiences given here on the live profiles it returns.
type memberships struct {
	*recording.Engine
	by map[string][]string // audience ids by live profile id
}

func (m memberships) Lookup(ctx context.Context, id identity.ID) (profile.Profile, error) {
	p, err := m.Engine.Lookup(ctx, id)
	for _, a := range m.by[p.ID] {
		p.Audiences = append(p.Audiences, profile.Membership{Audience: a, Since: now})
	}
	return p, err
}

// Whatever the body, its content type and encoding, the request is read into a bounded id or
// refused with a 400 saying why, never both, never a panic.
func FuzzVisitorRequest(f *testing.F) {
	for _, s := range []string{`{"anonymousId": "a-1"}`, `{}`, `null`, `[]`, `{"anonymousId": 1}`, `{"anonymousId": "a"}x`, "", `"a"`,
		`{"anonymousId": "\u0000"}`, `{"anonymousId":"` + strings.Repeat("é", 200) + `"}`} {
		f.Add(s, "application/json", false)
		f.Add(base64.StdEncoding.EncodeToString([]byte(s)), "application/json; charset=utf-8", true)
	}
	f.Add(`{"anonymousId": "a"}`, "text/plain", false)
	f.Fuzz(func(t *testing.T, body, contentType string, b64 bool) {
		req := visitorReq(shopOrigin, shopKey, body)
		req.Headers["content-type"], req.IsBase64Encoded = contentType, b64
		id, err := readVisitorRequest(req)
		var refused *visitorFailure
		switch {
		case err == nil && (id == "" || len(id) > beacon.MaxIDBytes):
			t.Fatalf("read an id of %d bytes", len(id))
		case err != nil && (id != "" || !errors.As(err, &refused) || refused.status != http.StatusBadRequest || refused.reason == ""):
			t.Fatalf("refused %q with %v", id, err)
		}
	})
}

func withHeader(req events.APIGatewayV2HTTPRequest, name, value string) events.APIGatewayV2HTTPRequest {
	req.Headers[name] = value
	return req
}

// The memberships as recording keeps them (recording.WithAudiences): a customer who ordered is in
// the public audience "customers" and the private "big-spenders", and a cookie of a profile that
// merged into theirs answers with the public one only.
func TestVisitorMembershipKeptByRecording(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var defs []audience.Definition
	for _, d := range []string{
		`{"id": "customers", "name": "Customers", "public": true, "rule": {"field": "orders", "op": ">=", "value": 1}}`,
		`{"id": "big-spenders", "name": "Big spenders", "rule": {"field": "revenue", "op": ">=", "value": 500}}`,
	} {
		def, err := audience.Parse([]byte(d))
		require.NoError(t, err)
		_, err = f.audiences.Put(ctx, def, "key_test")
		require.NoError(t, err)
		defs = append(defs, def)
	}
	set, err := audience.NewSet(defs)
	require.NoError(t, err)
	engine := recording.New(profilestore.New(f.db, f.tables), recording.WithTombstoneKey(testKey),
		recording.WithRetention(100*365*24*time.Hour), recording.WithClock(func() time.Time { return now }),
		recording.WithAudiences(fixedAudiences{recording.AudienceSet{Set: set, Version: 1}}, noAnnouncer{}))
	t0 := now.Add(-time.Hour)
	for i, a := range []profile.Activity{
		{Type: beacon.Track, Event: "Order Completed", OrderID: "o-1", Revenue: 600, AnonymousID: "b-shop", UserID: "u-b"},
		{Type: beacon.Page, AnonymousID: "b-phone"},
		{Type: beacon.Identify, AnonymousID: "b-phone", UserID: "u-b"},
	} {
		a.MessageID, a.At = "b-"+strconv.Itoa(i), t0.Add(time.Duration(i)*time.Minute)
		_, err := engine.Record(ctx, a)
		require.NoError(t, err)
	}
	p, err := engine.Lookup(ctx, identity.AnonymousID("b-phone"))
	require.NoError(t, err)
	require.Equal(t, []string{"big-spenders", "customers"}, p.AudienceIDs(), "recording kept the memberships")

	wk := keystore.NewKey("wk_")
	require.NoError(t, f.keys.PutSource(ctx, wk, source.Source{ID: "src_site", Name: "site", AllowedOrigins: []string{shopOrigin}}))
	cache := keystore.NewCache(f.keys, keystore.CacheTTL)
	h := &handler{keys: cache, sources: cache, profiles: engine, audiences: f.audiences, public: &publicAudiences{list: publicOf(f.audiences)},
		visitors: &visitorLimiter{}, now: func() time.Time { return now }, log: quiet}
	for _, cookie := range []string{"b-shop", "b-phone"} {
		resp, body := ask(t, h, visitorReq(shopOrigin, wk, jsonString(visitorRequest{AnonymousID: cookie})))
		require.Equal(t, http.StatusOK, resp.StatusCode, resp.Body)
		require.Equal(t, map[string]any{"audiences": []any{"customers"}}, body, cookie)
	}
}

type fixedAudiences struct{ set recording.AudienceSet }

func (a fixedAudiences) Audiences(context.Context) (recording.AudienceSet, error) { return a.set, nil }

type noAnnouncer struct{}

func (noAnnouncer) Announce(context.Context, []recording.AudienceChange) error { return nil }
