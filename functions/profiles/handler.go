package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// keyChecker finds the profile-API key a caller sent (keystore.Cache).
type keyChecker interface {
	ProfileAPIKey(ctx context.Context, key string) (keystore.APIKey, error)
}

type profiles interface {
	Profile(ctx context.Context, id string) (profile.Profile, error)
	Lookup(ctx context.Context, id identity.ID) (profile.Profile, error)
	History(ctx context.Context, id string, q history.Query) (history.Page, error)
	Export(ctx context.Context, id string, q history.Query) (recording.Person, error)
	EraseAnnounced(ctx context.Context, id string, announce func(context.Context, profile.Profile) error) (recording.Erasure, error)
	SetConsent(ctx context.Context, id string, change map[string]profile.Consent) (string, map[string]profile.Consent, error)
	Merges(ctx context.Context, id string) ([]identity.Merge, error)
	Split(ctx context.Context, id, from string) (recording.Separation, error)
}

type sender interface {
	Send(ctx context.Context, m message.Message) error
}

// putter writes an object to a bucket.
type putter interface {
	Put(ctx context.Context, key string, body []byte) error
}

type handler struct {
	keys      keyChecker
	profiles  profiles
	updates   sender        // the profile-updates queue
	archive   putter        // the archive bucket, where an erasure leaves its request (archive.Erasure)
	reports   reportStore   // the reports bucket
	audiences audienceStore // the Audiences table
	members   memberReader  // the members index (AudienceMembers)
	exports   exportBucket  // the exports bucket
	links     linker        // links to the exports' files; nil: none
	steps     invoker       // this function, invoked asynchronously to carry an export on
	keyStore  keyStore      // the Keys table, for the key routes (keys.go)
	exportCfg exportSettings
	health    healthReader // the Health table (health.go); nil: GET /v1/health is unavailable
	queues    queueDepths  // the queues' depths; nil: none shown
	// activity is the Activity table: the alerts and triggers sent, which GET /v1/alerts serves,
	// and the audit log, which handle writes and GET /v1/audit serves (activity.go); nil: neither.
	activity activityStore
	// pseudonymOf is the keyed hash the activity log names an erased profile by (hashkey's Sum);
	// nil: "erased" alone.
	pseudonymOf func(id string) string
	now         func() time.Time
	log         *slog.Logger

	// The console's sign-in (console.go): its users' tokens are checked by signIn.verifier (nil:
	// no user pool is configured, and tokens are refused).
	signIn consoleSignIn
	// definitions are the audiences and computed traits in force, cached (membership.Source);
	// nil: the profile shows no computed trait values (computed.go).
	definitions recording.AudienceSource

	// The browser-safe route (visitor.go).
	sources  writeKeys        // the write keys' sources (keystore.Cache)
	public   *publicAudiences // the public audiences' ids, cached
	visitors *visitorLimiter  // each source's rate
}

// request is what a route reads of an API Gateway request.
type request struct {
	events.APIGatewayV2HTTPRequest
	id   string          // the profileId path parameter, when the route has one
	key  keystore.APIKey // the caller's key, which may use the route
	note *auditNote      // what the route tells the audit log
}

// routes are the profile API's routes, by the route key API Gateway matched (topology.Default's
// routes of this function; a test holds the two together).
var routes = map[string]func(*handler, context.Context, request) (any, error){
	"GET /v1/profiles":                                  (*handler).lookup,
	"GET /v1/profiles/{profileId}":                      (*handler).get,
	"DELETE /v1/profiles/{profileId}":                   (*handler).erase,
	"GET /v1/profiles/{profileId}/events":               (*handler).events,
	"GET /v1/profiles/{profileId}/export":               (*handler).export,
	"PUT /v1/profiles/{profileId}/consent":              (*handler).consent,
	"GET /v1/profiles/{profileId}/merges":               (*handler).merges,
	"GET /v1/profiles/{profileId}/contacts":             (*handler).contacts,
	"POST /v1/profiles/{profileId}/split":               (*handler).split,
	"GET /v1/reports":                                   (*handler).listReports,
	"GET /v1/reports/{period}":                          (*handler).getReport,
	"GET /v1/reports/{period}/{part}":                   (*handler).getReportPart,
	"GET /v1/audiences":                                 (*handler).listAudiences,
	"GET /v1/audiences/{audienceId}":                    (*handler).getAudience,
	"PUT /v1/audiences/{audienceId}":                    (*handler).putAudience,
	"DELETE /v1/audiences/{audienceId}":                 (*handler).deleteAudience,
	"GET /v1/audiences/{audienceId}/members":            (*handler).listMembers,
	"POST /v1/audiences/{audienceId}/exports":           (*handler).startExport,
	"GET /v1/audiences/{audienceId}/exports/{exportId}": (*handler).getExport,
	"GET /v1/audiences/{audienceId}/sizes":              (*handler).audienceSizes,
	"GET /v1/alerts":                                    (*handler).listAlerts,
	"GET /v1/audit":                                     (*handler).listAudit,
	"GET /v1/traits":                                    (*handler).listTraits,
	"GET /v1/traits/{traitId}":                          (*handler).getTrait,
	"PUT /v1/traits/{traitId}":                          (*handler).putTrait,
	"DELETE /v1/traits/{traitId}":                       (*handler).deleteTrait,
	"GET /v1/keys":                                      (*handler).listKeys,
	"POST /v1/keys":                                     (*handler).createKey,
	"DELETE /v1/keys/{keyId}":                           (*handler).revokeKey,
	"GET /v1/health":                                    (*handler).getHealth,
}

// scopes are the scope each route needs (keystore.Scope; admin has them all). A test holds them
// to the topology's routes, so that no route goes without one; a route missing here would need
// admin.
var scopes = map[string]keystore.Scope{
	"GET /v1/profiles":                                  keystore.Read,
	"GET /v1/profiles/{profileId}":                      keystore.Read,
	"GET /v1/profiles/{profileId}/events":               keystore.Read,
	"GET /v1/profiles/{profileId}/merges":               keystore.Read,
	"GET /v1/profiles/{profileId}/contacts":             keystore.Read,
	"GET /v1/profiles/{profileId}/export":               keystore.Export,
	"DELETE /v1/profiles/{profileId}":                   keystore.Erase,
	"PUT /v1/profiles/{profileId}/consent":              keystore.Consent,
	"POST /v1/profiles/{profileId}/split":               keystore.Split,
	"GET /v1/reports":                                   keystore.Read,
	"GET /v1/reports/{period}":                          keystore.Read,
	"GET /v1/reports/{period}/{part}":                   keystore.Read,
	"GET /v1/audiences":                                 keystore.Read,
	"GET /v1/audiences/{audienceId}":                    keystore.Read,
	"PUT /v1/audiences/{audienceId}":                    keystore.Audiences,
	"DELETE /v1/audiences/{audienceId}":                 keystore.Audiences,
	"GET /v1/audiences/{audienceId}/members":            keystore.Read,
	"POST /v1/audiences/{audienceId}/exports":           keystore.Export,
	"GET /v1/audiences/{audienceId}/exports/{exportId}": keystore.Export,
	"GET /v1/audiences/{audienceId}/sizes":              keystore.Read,
	"GET /v1/alerts":                                    keystore.Read,
	"GET /v1/audit":                                     keystore.Admin,
	"GET /v1/traits":                                    keystore.Read,
	"GET /v1/traits/{traitId}":                          keystore.Read,
	"PUT /v1/traits/{traitId}":                          keystore.Audiences,
	"DELETE /v1/traits/{traitId}":                       keystore.Audiences,
	"GET /v1/keys":                                      keystore.Admin,
	"POST /v1/keys":                                     keystore.Admin,
	"DELETE /v1/keys/{keyId}":                           keystore.Admin,
	"GET /v1/health":                                    keystore.Read,
}

// badRequest is a request the API refuses, with what is wrong in words.
type badRequest string

func (b badRequest) Error() string { return string(b) }

// retryAfter is the Retry-After, in seconds, of an answer to a request that met concurrent writes.
const retryAfter = "1"

// maxAuthorization bounds the Authorization header read: "Bearer " and a console user's token
// (a JWT of at most maxToken bytes), with room for spaces; a profile-API key is at most
// keystore.MaxKeyLength.
const maxAuthorization = 8192

// maxToken bounds a console user's token (Cognito's are 1–2 KB).
const maxToken = 8000

// invoke is the function's entry: an export's step ({"export": {...}}, from an asynchronous
// invocation of this function, exports.go), or else an HTTP API request (handle).
func (h *handler) invoke(ctx context.Context, raw json.RawMessage) (any, error) {
	var step stepEvent
	if json.Unmarshal(raw, &step) == nil && step.Export != nil {
		return h.runStep(ctx, *step.Export)
	}
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &req); err != nil {
		return nil, fmt.Errorf("read request: %w", err)
	}
	return h.handle(ctx, req)
}

// handle serves the profile API (see README.md and events/openapi/openapi.yaml) for callers with a
// profile-API key, and the browser-safe route (POST /v1/visitor) for pages with a write key (Authorization: Bearer <key>): it checks the key and its scope for the route
// before anything else of the request is read, runs the route API Gateway matched and answers
// JSON (a stored report as it is stored), mapping the domain's errors to statuses. It logs one
// line per request: the route, the key's id and name (never the key), the status and the outcome;
// and writes a request that changed something (any method but GET), and succeeded, to the audit
// log (activity.go).
func (h *handler) handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	if browserRoutes[req.RouteKey] { // a page's request, with a write key (visitor.go)
		return h.serveBrowser(ctx, req), nil
	}
	if consoleRoutes[req.RouteKey] { // the console's files (console.go): public
		return serveConsole(req, h.signIn.issuer, h.signIn.clientID), nil
	}
	scoped := *h // a copy whose every log line names the route and the key
	scoped.log = h.log.With(slog.String("route", req.RouteKey), slog.String("requestId", req.RequestContext.RequestID))
	key, refused := scoped.authorise(ctx, req)
	if key.ID != "" {
		scoped.log = scoped.log.With(slog.String("keyId", key.ID), slog.String("keyName", key.Name))
	}
	var resp events.APIGatewayV2HTTPResponse
	var outcome string
	if refused != nil {
		resp, outcome = refused.resp, refused.reason
	} else {
		var note *auditNote
		resp, note = scoped.route(ctx, req, key)
		outcome = http.StatusText(resp.StatusCode)
		scoped.audit(ctx, req, key, resp, note) // a change that succeeded: the audit log's entry
	}
	level := slog.LevelInfo
	if resp.StatusCode >= 500 {
		level = slog.LevelError
	}
	scoped.log.LogAttrs(ctx, level, "profile request", slog.Int("status", resp.StatusCode), slog.String("outcome", outcome))
	return resp, nil
}

// refusal is the answer to a request refused before its route ran, and why, for the log.
type refusal struct {
	resp   events.APIGatewayV2HTTPResponse
	reason string
}

// authorise finds the request's profile-API key and checks that it may use the route: it returns
// the key (when found) and, when it may not, the refusal.
func (h *handler) authorise(ctx context.Context, req events.APIGatewayV2HTTPRequest) (keystore.APIKey, *refusal) {
	token, err := bearer(req.Headers)
	if err != nil {
		return keystore.APIKey{}, &refusal{unauthorized(err.Error()), err.Error()}
	}
	var key keystore.APIKey
	if isJWT(token) {
		// A console user's token: who signed in, and what their role allows (console.go).
		var refused *refusal
		if key, refused = h.consoleUser(ctx, token); refused != nil {
			return key, refused
		}
	} else {
		key, err = h.keys.ProfileAPIKey(ctx, token)
		switch {
		case errors.Is(err, keystore.ErrUnknownKey):
			return key, &refusal{unauthorized("unknown profile API key"), "unknown key"}
		case err != nil:
			return key, &refusal{h.unavailable(ctx, err), "keys unavailable"}
		}
		if err := key.Usable(h.clock()); err != nil { // "revoked at …", "expired at …"
			return key, &refusal{unauthorized(fmt.Sprintf("profile API key %s (%s) %v", key.ID, key.Name, err)), err.Error()}
		}
	}
	if _, ok := routes[req.RouteKey]; !ok {
		return key, nil // no such route: a 404 whatever the key's scopes
	}
	scope, ok := scopes[req.RouteKey]
	if !ok {
		scope = keystore.Admin
	}
	if !key.Allows(scope) {
		msg := fmt.Sprintf("profile API key %s (%s) lacks the %q scope, which %s needs; its scopes: %s",
			key.ID, key.Name, scope, req.RouteKey, key.ScopeList())
		if key.Legacy {
			msg += " (it was made before keys had scopes and may only read: make a key with the scopes it needs, `dcrm apikey add --scopes …`, and revoke this one)"
		}
		return key, &refusal{respond(http.StatusForbidden, problem{msg}), "missing scope " + string(scope)}
	}
	return key, nil
}

// route serves a request whose key may use it, and returns what the route noted for the audit log.
func (h *handler) route(ctx context.Context, req events.APIGatewayV2HTTPRequest, key keystore.APIKey) (events.APIGatewayV2HTTPResponse, *auditNote) {
	note := &auditNote{}
	resp, _ := h.serveRoute(ctx, req, key, note)
	return resp, note
}

// serveRoute runs the route and answers its result.
func (h *handler) serveRoute(ctx context.Context, req events.APIGatewayV2HTTPRequest, key keystore.APIKey, note *auditNote) (events.APIGatewayV2HTTPResponse, error) {
	serve, ok := routes[req.RouteKey]
	if !ok {
		return respond(http.StatusNotFound, problem{"no such route"}), nil
	}
	r := request{APIGatewayV2HTTPRequest: req, id: req.PathParameters["profileId"], key: key, note: note}
	if len(r.id) > profile.MaxIDLength {
		return respond(http.StatusBadRequest, problem{fmt.Sprintf("profileId longer than %d bytes", profile.MaxIDLength)}), nil
	}
	body, err := serve(h, ctx, r)
	var bad badRequest
	var missing notFound
	var unserved unservable
	var again retryable
	var refused conflict
	var large tooLarge
	var lost raced
	switch {
	case errors.As(err, &bad):
		return respond(http.StatusBadRequest, problem{bad.Error()}), nil
	case errors.As(err, &missing):
		return respond(http.StatusNotFound, problem{missing.Error()}), nil
	case errors.As(err, &refused):
		return respond(http.StatusConflict, problem{refused.Error()}), nil
	case errors.As(err, &large):
		return respond(http.StatusRequestEntityTooLarge, problem{large.Error()}), nil
	case errors.As(err, &lost):
		h.log.WarnContext(ctx, "profile request met contention", slog.String("error", err.Error()))
		resp := respond(http.StatusServiceUnavailable, problem{lost.reason})
		resp.Headers["retry-after"] = retryAfter
		return resp, nil
	case errors.As(err, &unserved):
		h.log.ErrorContext(ctx, "stored object not served", slog.String("error", err.Error()))
		return respond(http.StatusBadGateway, problem{unserved.reason}), nil
	case errors.As(err, &again):
		h.log.ErrorContext(ctx, "profile request failed", slog.String("error", err.Error()))
		resp := respond(http.StatusServiceUnavailable, problem{again.reason})
		resp.Headers["retry-after"] = reportsRetryAfter
		return resp, nil
	case errors.Is(err, profile.ErrNotFound):
		return respond(http.StatusNotFound, problem{"profile not found"}), nil
	case errors.Is(err, history.ErrBadCursor):
		return respond(http.StatusBadRequest, problem{"cursor is not one this API returned; start again without it"}), nil
	case errors.Is(err, recording.ErrNotMerged):
		return respond(http.StatusConflict, problem{"the profile named in the body is not merged into this one; GET /v1/profiles/{profileId}/merges lists those that are"}), nil
	case errors.Is(err, recording.ErrTooLong):
		return respond(http.StatusUnprocessableEntity, problem{"the person's history is too long to split in one request; nothing was changed"}), nil
	case errors.Is(err, recording.ErrContention):
		// Transient: concurrent writes kept changing the profile. The request is safe to repeat.
		h.log.WarnContext(ctx, "profile request met contention", slog.String("error", err.Error()))
		resp := respond(http.StatusServiceUnavailable, problem{"the profile kept changing under concurrent writes; try again"})
		resp.Headers["retry-after"] = retryAfter
		return resp, nil
	case err != nil:
		return h.unavailable(ctx, err), nil
	}
	if s, ok := body.(stored); ok {
		return s.response(), nil
	}
	if _, ok := body.(noContent); ok {
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusNoContent,
			Headers: map[string]string{"cache-control": "no-store", "x-content-type-options": "nosniff"}}, nil
	}
	status := http.StatusOK
	if s, ok := body.(interface{ status() int }); ok {
		status = s.status() // an answer whose status tells its state (an erasure in progress)
	}
	return respond(status, body), nil
}

// lookup serves GET /v1/profiles?<identifier type>=<value>: the live profile of any identifier.
func (h *handler) lookup(ctx context.Context, r request) (any, error) {
	id, err := identifier(r.QueryStringParameters)
	if err != nil {
		return nil, err
	}
	p, err := h.profiles.Lookup(ctx, id)
	return h.viewWithTraits(ctx, p, err)
}

// get serves GET /v1/profiles/{profileId}: the live profile, also for a merged profile's id.
func (h *handler) get(ctx context.Context, r request) (any, error) {
	p, err := h.profiles.Profile(ctx, r.id)
	return h.viewWithTraits(ctx, p, err)
}

// events serves GET /v1/profiles/{profileId}/events?limit=&cursor=&type=: a page of the history.
func (h *handler) events(ctx context.Context, r request) (any, error) {
	q, err := historyQuery(r.QueryStringParameters)
	if err != nil {
		return nil, err
	}
	page, err := h.profiles.History(ctx, r.id, q)
	return historyPageOf(page), err
}

// export serves GET /v1/profiles/{profileId}/export?limit=&cursor=: everything held about the
// person, for a data-subject access request, the history paged (history.MaxLimit by default).
func (h *handler) export(ctx context.Context, r request) (any, error) {
	q, err := historyQuery(r.QueryStringParameters)
	if err != nil {
		return nil, err
	}
	if q.Type != "" {
		return nil, badRequest("an export holds every touchpoint: type is not a parameter of it")
	}
	if q.Limit == 0 {
		q.Limit = history.MaxLimit
	}
	p, err := h.profiles.Export(ctx, r.id, q)
	return exportOf(p), err
}

// historyQuery reads the paging and filter parameters of a history request.
func historyQuery(query map[string]string) (history.Query, error) {
	q := history.Query{Cursor: query["cursor"], Type: query["type"]}
	for k := range query {
		if !slices.Contains([]string{"limit", "cursor", "type"}, k) {
			return q, badRequest(fmt.Sprintf("unknown parameter %q: use limit, cursor or type", k))
		}
	}
	if v, ok := query["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > history.MaxLimit {
			return q, badRequest(fmt.Sprintf("limit must be a whole number from 1 to %d", history.MaxLimit))
		}
		q.Limit = n
	}
	return q, nil
}

// identifier reads the one identifier a lookup names.
func identifier(query map[string]string) (identity.ID, error) {
	var known []string
	for _, k := range identity.AllKinds() {
		known = append(known, string(k))
	}
	usage := "name one identifier: ?" + strings.Join(known, "=… or ?") + "=…"
	if len(query) != 1 {
		if len(query) > 1 {
			usage = "name exactly one identifier; " + usage
		}
		return identity.ID{}, badRequest(usage)
	}
	for name, value := range query {
		kind, err := identity.ParseKind(name)
		if err != nil {
			slices.Sort(known)
			return identity.ID{}, badRequest(fmt.Sprintf("unknown identifier type %q; known types: %s", name, strings.Join(known, ", ")))
		}
		if value == "" {
			return identity.ID{}, badRequest(name + " is empty")
		}
		if len(value) > profile.MaxIDLength {
			return identity.ID{}, badRequest(fmt.Sprintf("%s longer than %d bytes", name, profile.MaxIDLength))
		}
		return identity.ID{Kind: kind, Value: value}, nil
	}
	return identity.ID{}, badRequest(usage)
}

// bearer returns the token of an Authorization: Bearer header (header names in any case), or
// why there is none.
func bearer(headers map[string]string) (string, error) {
	const missing = "missing credentials: send Authorization: Bearer <profile API key>"
	for name, value := range headers {
		if !strings.EqualFold(name, "authorization") {
			continue
		}
		if len(value) > maxAuthorization {
			return "", fmt.Errorf("Authorization header longer than %d bytes", maxAuthorization)
		}
		scheme, token, ok := strings.Cut(strings.TrimSpace(value), " ")
		token = strings.TrimSpace(token)
		switch {
		case !ok || !strings.EqualFold(scheme, "bearer") || token == "":
			return "", errors.New(missing)
		case isJWT(token) && len(token) > maxToken:
			return "", fmt.Errorf("token longer than %d characters", maxToken)
		case !isJWT(token) && len(token) > keystore.MaxKeyLength:
			return "", fmt.Errorf("profile API key longer than %d characters", keystore.MaxKeyLength)
		}
		return token, nil
	}
	return "", errors.New(missing)
}

// clock is the time now (h.now, or the wall clock where a test left it unset).
func (h *handler) clock() time.Time {
	if h.now == nil {
		return time.Now()
	}
	return h.now()
}

func (h *handler) unavailable(ctx context.Context, err error) events.APIGatewayV2HTTPResponse {
	h.log.ErrorContext(ctx, "profile request failed", slog.String("error", err.Error()))
	return respond(http.StatusServiceUnavailable, problem{"profiles are unavailable right now; try again"})
}

func unauthorized(msg string) events.APIGatewayV2HTTPResponse {
	resp := respond(http.StatusUnauthorized, problem{msg})
	resp.Headers["www-authenticate"] = `Bearer realm="dcrm profiles"`
	return resp
}

// respond answers JSON.
func respond(status int, body any) events.APIGatewayV2HTTPResponse {
	b, err := json.Marshal(body)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode the response"}`)
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: headers("application/json"), Body: string(b)}
}

// headers are every answer's: its content type, never cached, never sniffed for another.
func headers(contentType string) map[string]string {
	return map[string]string{"content-type": contentType, "cache-control": "no-store", "x-content-type-options": "nosniff"}
}

// stored is an answer that is a stored object, sent as it is with its content type and headers
// of its own.
type stored struct {
	contentType string
	headers     map[string]string
	body        []byte
}

// response is the 200 answering the object: its text as it is, or base64 where the text is not
// UTF-8 or, escaped as the Lambda runtime escapes it in its JSON, would be longer than base64 of
// the largest object served (maxReportObject), so that the answer stays within Lambda's limit.
func (s stored) response() events.APIGatewayV2HTTPResponse {
	resp := events.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK, Headers: headers(s.contentType), Body: string(s.body)}
	maps.Copy(resp.Headers, s.headers)
	if escaped, _ := json.Marshal(resp.Body); !utf8.Valid(s.body) || len(escaped) > base64.StdEncoding.EncodedLen(maxReportObject) {
		resp.Body, resp.IsBase64Encoded = base64.StdEncoding.EncodeToString(s.body), true
	}
	return resp
}
