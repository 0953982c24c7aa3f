package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/profilestore"
)

type keyChecker interface {
	CheckProfileAPIKey(ctx context.Context, key string) error
}

type profileReader interface {
	Profile(ctx context.Context, id string) (profile.Profile, error)
	Lookup(ctx context.Context, id identity.ID) (profile.Profile, error)
	History(ctx context.Context, id string, q profilestore.HistoryQuery) (profilestore.HistoryPage, error)
	Export(ctx context.Context, id string, q profilestore.HistoryQuery) (profilestore.Person, error)
	Erase(ctx context.Context, id string) (profilestore.Erasure, error)
	SetConsent(ctx context.Context, id string, change map[string]profile.Consent) (string, map[string]profile.Consent, error)
	Merges(ctx context.Context, id string) ([]profilestore.Merge, error)
	Split(ctx context.Context, id, from string) (profilestore.Separation, error)
}

type sender interface {
	Send(ctx context.Context, m message.Message) error
}

type handler struct {
	keys     keyChecker
	profiles profileReader
	updates  sender // the profile-updates queue
	now      func() time.Time
	log      *slog.Logger
}

const prefix = "/v1/profiles"

// Routes (below prefix) and the methods they take.
const (
	routeLookup  = ""        // GET ?<identifier type>=<value>
	routeProfile = "profile" // GET, DELETE /{profileId}
	routeEvents  = "events"  // GET /{profileId}/events?limit=&cursor=&type=
	routeExport  = "export"  // GET /{profileId}/export
	routeConsent = "consent" // PUT /{profileId}/consent
	routeMerges  = "merges"  // GET /{profileId}/merges
	routeSplit   = "split"   // POST /{profileId}/split
)

// subRoutes are the routes below a profile id.
var subRoutes = []string{routeEvents, routeExport, routeConsent, routeMerges, routeSplit}

var methods = map[string][]string{
	routeLookup:  {http.MethodGet},
	routeProfile: {http.MethodGet, http.MethodDelete},
	routeEvents:  {http.MethodGet},
	routeExport:  {http.MethodGet},
	routeConsent: {http.MethodPut},
	routeMerges:  {http.MethodGet},
	routeSplit:   {http.MethodPost},
}

// handle serves the profile API for callers with a profile-API key (Authorization: Bearer <key>):
// GET /v1/profiles/{profileId}, GET /v1/profiles?<identifier type>=<value> and
// GET /v1/profiles/{profileId}/events (the history, newest first, paged) and
// GET /v1/profiles/{profileId}/export (everything held about the person, for a data-subject access
// request) and DELETE /v1/profiles/{profileId} (erase the person, leaving tombstones of their
// identifiers so later events carrying them are dropped), PUT /v1/profiles/{profileId}/consent,
// GET /v1/profiles/{profileId}/merges (how the merged profiles joined) and
// POST /v1/profiles/{profileId}/split (undo a merge).
func (h *handler) handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	key, ok := bearer(req.Headers)
	if !ok {
		return unauthorized("missing credentials: send Authorization: Bearer <profile API key>"), nil
	}
	if err := h.keys.CheckProfileAPIKey(ctx, key); errors.Is(err, keystore.ErrUnknownKey) {
		return unauthorized("unknown profile API key"), nil
	} else if err != nil {
		return h.unavailable(ctx, err), nil
	}
	route, id, msg := parseRoute(req)
	if msg != "" {
		return problem(http.StatusNotFound, msg), nil
	}
	method := req.RequestContext.HTTP.Method
	if method == "" {
		method = http.MethodGet
	}
	if allowed := methods[route]; !slices.Contains(allowed, method) {
		resp := problem(http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; use %s", method, strings.Join(allowed, " or ")))
		resp.Headers["allow"] = strings.Join(allowed, ", ")
		return resp, nil
	}

	var (
		body any
		err  error
	)
	switch route {
	case routeLookup:
		ident, msg := identifier(req.QueryStringParameters)
		if msg != "" {
			return problem(http.StatusBadRequest, msg), nil
		}
		var p profile.Profile
		p, err = h.profiles.Lookup(ctx, ident)
		body = p.View()
	case routeProfile:
		if method == http.MethodDelete {
			body, err = h.erase(ctx, id)
			break
		}
		var p profile.Profile
		p, err = h.profiles.Profile(ctx, id)
		body = p.View()
	case routeEvents:
		q, msg := historyQuery(req.QueryStringParameters)
		if msg != "" {
			return problem(http.StatusBadRequest, msg), nil
		}
		body, err = h.profiles.History(ctx, id, q)
	case routeExport:
		q, msg := historyQuery(req.QueryStringParameters)
		if msg != "" {
			return problem(http.StatusBadRequest, msg), nil
		}
		if q.Limit == 0 {
			q.Limit = profilestore.MaxHistoryLimit
		}
		var p profilestore.Person
		p, err = h.profiles.Export(ctx, id, q)
		body = exportDocument(p)
	case routeConsent:
		change, msg := consentChange(req, h.now())
		if msg != "" {
			return problem(http.StatusBadRequest, msg), nil
		}
		body, err = h.consent(ctx, id, change)
	case routeMerges:
		body, err = h.merges(ctx, id)
	case routeSplit:
		from, msg := splitRequest(req)
		if msg != "" {
			return problem(http.StatusBadRequest, msg), nil
		}
		body, err = h.split(ctx, id, from)
	}
	switch {
	case errors.Is(err, profile.ErrNotFound):
		return problem(http.StatusNotFound, "profile not found"), nil
	case errors.Is(err, profilestore.ErrBadCursor):
		return problem(http.StatusBadRequest, "cursor is not one this API returned; start again without it"), nil
	case errors.Is(err, profilestore.ErrNotMerged):
		return problem(http.StatusConflict, "the profile named in the body is not merged into this one; GET /v1/profiles/{profileId}/merges lists those that are"), nil
	case errors.Is(err, profilestore.ErrContention):
		// Transient: concurrent writes kept changing the profile. The request is safe to repeat.
		h.log.WarnContext(ctx, "profile request met contention", slog.String("error", err.Error()))
		resp := problem(http.StatusServiceUnavailable, "the profile kept changing under concurrent writes; try again")
		resp.Headers["retry-after"] = retryAfter
		return resp, nil
	case err != nil:
		return h.unavailable(ctx, err), nil
	}
	return respond(http.StatusOK, body), nil
}

// parseRoute tells which route a request is for and the profile id it names, or why there is no
// such route. The id comes from the route parameter when API Gateway matched one, else from the
// raw path.
func parseRoute(req events.APIGatewayV2HTTPRequest) (route, id, msg string) {
	path := strings.TrimSuffix(req.RawPath, "/")
	if id := req.PathParameters["profileId"]; path == "" && id != "" {
		// No raw path: the route key says which route matched.
		for _, r := range subRoutes {
			if strings.HasSuffix(req.RouteKey, "/"+r) {
				return r, id, ""
			}
		}
		return routeProfile, id, ""
	}
	if path == prefix || path == "" {
		return routeLookup, "", ""
	}
	if !strings.HasPrefix(path, prefix+"/") {
		return "", "", "no such route"
	}
	segments := strings.Split(path[len(prefix)+1:], "/")
	id, byParam := req.PathParameters["profileId"]
	if !byParam {
		var err error
		if id, err = url.PathUnescape(segments[0]); err != nil {
			return "", "", "profile id is not a valid path segment"
		}
	}
	if id == "" {
		return "", "", "no such route"
	}
	switch {
	case len(segments) == 1:
		return routeProfile, id, ""
	case len(segments) == 2 && slices.Contains(subRoutes, segments[1]):
		return segments[1], id, ""
	}
	return "", "", "no such route"
}

// export is the document GET /{profileId}/export returns: everything held about a person.
type export struct {
	ProfileID      string                    `json:"profileId"`
	Profile        profile.View              `json:"profile"`
	MergedProfiles []string                  `json:"mergedProfiles"`
	Merges         []profilestore.Merge      `json:"merges"` // how each merged profile joined
	Identifiers    []exportedID              `json:"identifiers"`
	Touchpoints    []profilestore.Touchpoint `json:"touchpoints"` // newest first, one page
	// Next continues the touchpoints: GET …/export?cursor=<next> (empty on the last page).
	Next string `json:"next,omitempty"`
}

type exportedID struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

func exportDocument(p profilestore.Person) export {
	doc := export{
		ProfileID: p.Profile.ID, Profile: p.Profile.View(), MergedProfiles: append([]string{}, p.Merged...),
		Merges:      append([]profilestore.Merge{}, p.Merges...),
		Identifiers: []exportedID{}, Touchpoints: append([]profilestore.Touchpoint{}, p.Touchpoints...), Next: p.Next,
	}
	for _, id := range p.Identifiers {
		doc.Identifiers = append(doc.Identifiers, exportedID{Type: string(id.Kind), Value: id.Value})
	}
	return doc
}

// historyQuery reads the paging and filter parameters of a history request, or says what is wrong.
func historyQuery(query map[string]string) (profilestore.HistoryQuery, string) {
	q := profilestore.HistoryQuery{Cursor: query["cursor"], Type: query["type"]}
	if v, ok := query["limit"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > profilestore.MaxHistoryLimit {
			return q, fmt.Sprintf("limit must be a whole number from 1 to %d", profilestore.MaxHistoryLimit)
		}
		q.Limit = n
	}
	return q, ""
}

// bearer returns the token of an Authorization: Bearer header (header names in any case).
func bearer(headers map[string]string) (string, bool) {
	for name, value := range headers {
		if !strings.EqualFold(name, "authorization") {
			continue
		}
		scheme, token, ok := strings.Cut(strings.TrimSpace(value), " ")
		token = strings.TrimSpace(token)
		return token, ok && strings.EqualFold(scheme, "bearer") && token != ""
	}
	return "", false
}

// identifier reads the one identifier a lookup names, or says what is wrong with the query.
func identifier(query map[string]string) (identity.ID, string) {
	var known []string
	for _, k := range identity.Kinds() {
		known = append(known, string(k))
	}
	usage := "name one identifier: ?" + strings.Join(known, "=… or ?") + "=…"
	if len(query) == 0 {
		return identity.ID{}, usage
	}
	if len(query) > 1 {
		return identity.ID{}, "name exactly one identifier; " + usage
	}
	for name, value := range query {
		kind, err := identity.ParseKind(name)
		if err != nil {
			return identity.ID{}, fmt.Sprintf("unknown identifier type %q; known types: %s", name, strings.Join(sorted(known), ", "))
		}
		if value == "" {
			return identity.ID{}, fmt.Sprintf("%s is empty", name)
		}
		if len(value) > profile.MaxIDLength {
			return identity.ID{}, fmt.Sprintf("%s longer than %d bytes", name, profile.MaxIDLength)
		}
		return identity.ID{Kind: kind, Value: value}, ""
	}
	return identity.ID{}, usage
}

func sorted(s []string) []string { sort.Strings(s); return s }

func (h *handler) unavailable(ctx context.Context, err error) events.APIGatewayV2HTTPResponse {
	h.log.ErrorContext(ctx, "profile request failed", slog.String("error", err.Error()))
	return problem(http.StatusServiceUnavailable, "profiles are unavailable right now; try again")
}

func unauthorized(msg string) events.APIGatewayV2HTTPResponse {
	resp := problem(http.StatusUnauthorized, msg)
	resp.Headers["www-authenticate"] = `Bearer realm="dcrm profiles"`
	return resp
}

func problem(status int, msg string) events.APIGatewayV2HTTPResponse {
	return respond(status, map[string]string{"error": msg})
}

func respond(status int, body any) events.APIGatewayV2HTTPResponse {
	b, err := json.Marshal(body)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"cannot encode the response"}`)
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    map[string]string{"content-type": "application/json", "cache-control": "no-store"},
		Body:       string(b),
	}
}
