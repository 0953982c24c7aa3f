package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/nextaction"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/source"
)

// The browser-safe route (README.md, "Visitor"): a page asks, with its source's write key and the
// visitor's own anonymous id, what it may show them. The answer holds only what is marked for the
// browser: the audiences the person is in whose definition is public, and the kind of their best
// next action, never an id, trait, score, count or reason. An unknown, erased or merged-away cookie
// is answered like a known one without audiences, so the answer does not tell whether dcrm knows it.

// Route keys of the browser-safe route: not the profile API's (no profile-API key, no scope).
const (
	visitorRoute          = "POST /v1/visitor"
	visitorPreflightRoute = "OPTIONS /v1/visitor"
)

// browserRoutes are the routes this function serves to browsers, with a write key (the topology
// declares them public); every other route is the profile API's (routes, scopes).
var browserRoutes = map[string]bool{visitorRoute: true, visitorPreflightRoute: true}

const (
	// maxVisitorBody bounds the request's body: {"anonymousId": "<at most beacon.MaxIDBytes>"}
	// with room for spaces.
	maxVisitorBody = 1024
	// maxBasicAuthorization bounds the Authorization header read: "Basic " and the base64 of a key
	// of at most keystore.MaxKeyLength and a colon.
	maxBasicAuthorization = 256
	// publicAudiencesTTL is how long an instance trusts the set of public audiences it read: a
	// definition made public, or no longer public, shows within it.
	publicAudiencesTTL = 60 * time.Second
	// visitorRetryAfter is the Retry-After, in seconds, of a 503 of the route.
	visitorRetryAfter = "5"
	// visitorMaxAge is how long (seconds) a browser may keep the preflight's answer.
	visitorMaxAge = "7200"
)

// writeKeys finds the source a write key belongs to (keystore.Cache, as collect reads it).
type writeKeys interface {
	Source(ctx context.Context, writeKey string) (source.Source, error)
}

// visitorRequest is the route's body.
type visitorRequest struct {
	AnonymousID string `json:"anonymousId"`
}

// browserSafeKinds are the kinds of next action a page may be told of. A service case
// (nextaction.ResolveCase) is never hinted at to whoever holds the cookie.
var browserSafeKinds = []string{nextaction.CompleteBasket, nextaction.CompleteForm, nextaction.RemindViewed,
	nextaction.RecommendProduct, nextaction.WinBack, nextaction.ExploreCategory}

// visitorFailure is a refusal of the route: its status and reason, and the cause for the log.
type visitorFailure struct {
	status int
	reason string
	err    error
}

func (f *visitorFailure) Error() string {
	if f.err != nil {
		return f.reason + ": " + f.err.Error()
	}
	return f.reason
}

func refuseVisitor(status int, format string, args ...any) *visitorFailure {
	return &visitorFailure{status: status, reason: fmt.Sprintf(format, args...)}
}

// serveBrowser serves a browser route. It logs one line per request: the route, the source's id
// (never the key, the origin's page or the anonymous id), the status and the outcome.
func (h *handler) serveBrowser(ctx context.Context, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	if req.RouteKey == visitorPreflightRoute {
		return visitorPreflight(req)
	}
	log := h.log.With(slog.String("route", req.RouteKey), slog.String("requestId", req.RequestContext.RequestID))
	view, src, allowed, err := h.visitor(ctx, req)
	if src.ID != "" {
		log = log.With(slog.String("sourceId", src.ID))
	}
	var resp events.APIGatewayV2HTTPResponse
	outcome := "OK"
	var f *visitorFailure
	switch {
	case err == nil:
		resp = visitorRespond(http.StatusOK, view)
	case errors.As(err, &f):
		resp, outcome = visitorRespond(f.status, problem{f.reason}), f.reason
		switch f.status {
		case http.StatusTooManyRequests:
			resp.Headers["retry-after"] = "1" // a bucket holds a second of the rate
		case http.StatusServiceUnavailable:
			resp.Headers["retry-after"] = visitorRetryAfter
		}
	default: // not reached: visitor returns visitorFailures
		resp, outcome = visitorRespond(http.StatusServiceUnavailable, problem{"try again"}), err.Error()
	}
	if allowed != "" { // CORS for the source's own origins only
		resp.Headers["access-control-allow-origin"] = allowed
		if _, ok := resp.Headers["retry-after"]; ok {
			resp.Headers["access-control-expose-headers"] = "Retry-After"
		}
	}
	level := slog.LevelInfo
	if resp.StatusCode >= 500 {
		level = slog.LevelError
		if f != nil && f.err != nil {
			log.ErrorContext(ctx, "visitor request failed", slog.String("error", f.err.Error()))
		}
	}
	log.LogAttrs(ctx, level, "visitor request", slog.Int("status", resp.StatusCode), slog.String("outcome", outcome))
	return resp
}

// visitor answers POST /v1/visitor: it checks the write key (401), that the key is a browser
// source's and the request's Origin one of its origins (403), the source's rate (429), then the
// body (400), and looks the anonymous id up. It returns the answer, the source and the origin
// CORS may name (once it is known to be allowed).
func (h *handler) visitor(ctx context.Context, req events.APIGatewayV2HTTPRequest) (visitorView, source.Source, string, error) {
	empty := visitorView{Audiences: []string{}}
	key, err := basicWriteKey(headerValue(req.Headers, "authorization"))
	if err != nil {
		return empty, source.Source{}, "", err
	}
	if h.sources == nil {
		return empty, source.Source{}, "", &visitorFailure{http.StatusServiceUnavailable, "write keys cannot be checked right now; try again", errors.New("no write-key store")}
	}
	src, err := h.sources.Source(ctx, key)
	switch {
	case errors.Is(err, keystore.ErrUnknownKey):
		return empty, src, "", refuseVisitor(http.StatusUnauthorized, "unknown write key")
	case err != nil:
		return empty, src, "", &visitorFailure{http.StatusServiceUnavailable, "write keys cannot be checked right now; try again", err}
	}
	origin := strings.TrimSpace(headerValue(req.Headers, "origin"))
	switch {
	case src.Trusted:
		return empty, src, "", refuseVisitor(http.StatusForbidden, "a server (trusted) write key may not be used here: "+
			"servers read profiles through the profile API; use a browser source's key")
	case origin == "" || origin == "null":
		return empty, src, "", refuseVisitor(http.StatusForbidden, "this route answers pages: the request needs the Origin of one of the source's allowed origins")
	case !src.AllowsOrigin(origin):
		return empty, src, "", refuseVisitor(http.StatusForbidden, "origin %s may not use this write key", origin)
	}
	if !h.visitors.admit(src, h.clock()) {
		return empty, src, origin, refuseVisitor(http.StatusTooManyRequests, "this source is over its rate of %d requests per second; retry later", src.Rate())
	}
	anon, err := readVisitorRequest(req)
	if err != nil {
		return empty, src, origin, err
	}
	p, err := h.profiles.Lookup(ctx, identity.AnonymousID(anon))
	switch {
	case errors.Is(err, profile.ErrNotFound):
		return empty, src, origin, nil // unknown, erased: the same answer as a known cookie in no public audience
	case err != nil:
		return empty, src, origin, &visitorFailure{http.StatusServiceUnavailable, "visitors are unavailable right now; try again", err}
	}
	public, err := h.public.ids(ctx, h.clock())
	if err != nil {
		return empty, src, origin, &visitorFailure{http.StatusServiceUnavailable, "visitors are unavailable right now; try again", err}
	}
	return visitorViewOf(p, public), src, origin, nil
}

// readVisitorRequest reads the body: JSON (application/json), at most maxVisitorBody bytes, an
// object with exactly a non-empty anonymousId of at most beacon.MaxIDBytes, as collect takes it.
func readVisitorRequest(req events.APIGatewayV2HTTPRequest) (string, error) {
	ct := headerValue(req.Headers, "content-type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return "", refuseVisitor(http.StatusBadRequest, "content type %q: send application/json", truncate(ct, 64))
	}
	raw := []byte(req.Body)
	if req.IsBase64Encoded {
		if base64.StdEncoding.DecodedLen(len(raw)) > maxVisitorBody+3 {
			return "", refuseVisitor(http.StatusBadRequest, "body larger than %d bytes", maxVisitorBody)
		}
		var err error
		if raw, err = base64.StdEncoding.DecodeString(req.Body); err != nil {
			return "", refuseVisitor(http.StatusBadRequest, "body is not valid base64")
		}
	}
	if len(raw) > maxVisitorBody {
		return "", refuseVisitor(http.StatusBadRequest, "body larger than %d bytes", maxVisitorBody)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var body *visitorRequest
	if err := dec.Decode(&body); err != nil {
		return "", refuseVisitor(http.StatusBadRequest, "body: %s; send {\"anonymousId\": \"…\"}", jsonProblem(err))
	}
	if dec.More() {
		return "", refuseVisitor(http.StatusBadRequest, "body: more than one JSON value; send {\"anonymousId\": \"…\"}")
	}
	switch {
	case body == nil || body.AnonymousID == "":
		return "", refuseVisitor(http.StatusBadRequest, "anonymousId is required")
	case len(body.AnonymousID) > beacon.MaxIDBytes:
		return "", refuseVisitor(http.StatusBadRequest, "anonymousId is %d bytes; the limit is %d bytes", len(body.AnonymousID), beacon.MaxIDBytes)
	}
	return body.AnonymousID, nil
}

// basicWriteKey reads the write key of an Authorization: Basic header (the user name, as
// Segment's SDKs and the tracker send it), or the 401 saying why there is none.
func basicWriteKey(v string) (string, error) {
	const missing = "missing write key: send Authorization: Basic base64(<write key>:)"
	if len(v) > maxBasicAuthorization {
		return "", refuseVisitor(http.StatusUnauthorized, "Authorization header longer than %d bytes", maxBasicAuthorization)
	}
	scheme, cred, _ := strings.Cut(strings.TrimSpace(v), " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", refuseVisitor(http.StatusUnauthorized, missing)
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", refuseVisitor(http.StatusUnauthorized, "Authorization header is not valid basic auth")
	}
	user, _, _ := strings.Cut(string(b), ":")
	if user == "" {
		return "", refuseVisitor(http.StatusUnauthorized, missing)
	}
	return user, nil
}

// visitorPreflight answers the CORS preflight. Preflights carry no credentials, so the source
// whose origins are allowed is not known: any origin may ask, and the POST that follows is
// refused (403, without CORS headers) when its origin is not one of its source's.
func visitorPreflight(req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	h := map[string]string{
		"access-control-allow-methods": http.MethodPost,
		"access-control-allow-headers": "Content-Type, Authorization",
		"access-control-max-age":       visitorMaxAge,
		"vary":                         "Origin, Access-Control-Request-Headers",
		"x-content-type-options":       "nosniff",
	}
	if origin := strings.TrimSpace(headerValue(req.Headers, "origin")); origin != "" {
		h["access-control-allow-origin"] = origin
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusNoContent, Headers: h}
}

// visitorRespond answers JSON for a page: private to the browser and never stored, varying by
// Origin.
func visitorRespond(status int, body any) events.APIGatewayV2HTTPResponse {
	resp := respond(status, body)
	resp.Headers["cache-control"] = "private, no-store"
	resp.Headers["vary"] = "Origin"
	return resp
}

// headerValue reads a request header. API Gateway gives header names in lower case; other hosts
// may not.
func headerValue(headers map[string]string, name string) string {
	if v, ok := headers[name]; ok {
		return v
	}
	for k, v := range headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// publicAudiences remembers, for publicAudiencesTTL, which audiences are public, so that a page
// view does not read the Audiences table: one List per instance and minute.
type publicAudiences struct {
	mu    sync.Mutex
	set   map[string]bool
	until time.Time
	// list reads the definitions (the handler's audience store), set by the handler.
	list func(ctx context.Context) (map[string]bool, error)
}

// ids returns the ids of the public audiences, read again when what was read is older than the TTL.
// A failed read is not remembered.
func (c *publicAudiences) ids(ctx context.Context, now time.Time) (map[string]bool, error) {
	if c == nil || c.list == nil {
		return nil, errors.New("no audience store")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.set != nil && now.Before(c.until) {
		return c.set, nil
	}
	set, err := c.list(ctx)
	if err != nil {
		return nil, fmt.Errorf("list the audiences: %w", err)
	}
	c.set, c.until = set, now.Add(publicAudiencesTTL)
	return set, nil
}

// publicOf reads the public audiences' ids from the audience store.
func publicOf(store audienceStore) func(ctx context.Context) (map[string]bool, error) {
	return func(ctx context.Context) (map[string]bool, error) {
		all, err := store.List(ctx)
		if err != nil {
			return nil, err
		}
		set := map[string]bool{}
		for _, st := range all {
			if st.Definition.Public {
				set[st.Definition.ID] = true
			}
		}
		return set, nil
	}
}

// visitorLimiter keeps each source to its rate (source.Source.Rate) of visitor requests per second
// in this instance, as collect keeps its events (functions/collect/ratelimit.go): a token bucket
// per source holding at most a second of its rate.
type visitorLimiter struct {
	mu      sync.Mutex
	buckets map[string]*visitorBucket // by source id
}

type visitorBucket struct {
	tokens float64
	at     time.Time
}

// maxVisitorBuckets bounds the limiter's memory; past it the buckets start afresh.
const maxVisitorBuckets = 10_000

// admit takes a token of src's bucket, and tells whether there was one (always, without a limiter).
func (l *visitorLimiter) admit(src source.Source, now time.Time) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	rate := float64(src.Rate())
	b, ok := l.buckets[src.ID]
	if !ok {
		if l.buckets == nil || len(l.buckets) >= maxVisitorBuckets {
			l.buckets = map[string]*visitorBucket{}
		}
		b = &visitorBucket{tokens: rate, at: now}
		l.buckets[src.ID] = b
	}
	if elapsed := now.Sub(b.at); elapsed > 0 {
		b.tokens = min(rate, b.tokens+rate*elapsed.Seconds())
		b.at = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// nextActionFor is the best next action a page may be told of: the first of the profile's scored
// actions whose kind is browser-safe, or nil.
func nextActionFor(p profile.Profile) *visitorAction {
	if p.Score == nil {
		return nil
	}
	for _, a := range p.Score.NextActions {
		if slices.Contains(browserSafeKinds, a.Kind) {
			return &visitorAction{Kind: a.Kind, Product: a.Product, Category: a.Category, Form: a.Form}
		}
	}
	return nil
}
