package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/profile"
)

type keyChecker interface {
	CheckProfileAPIKey(ctx context.Context, key string) error
}

type profileReader interface {
	Profile(ctx context.Context, id string) (profile.Profile, error)
	Lookup(ctx context.Context, id identity.ID) (profile.Profile, error)
}

type handler struct {
	keys     keyChecker
	profiles profileReader
	log      *slog.Logger
}

const prefix = "/v1/profiles"

// handle serves GET /v1/profiles/{profileId} and GET /v1/profiles?<identifier type>=<value>, for
// callers with a profile-API key (Authorization: Bearer <key>).
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
	method := req.RequestContext.HTTP.Method
	if method != "" && method != http.MethodGet {
		resp := problem(http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed; use GET", method))
		resp.Headers["allow"] = http.MethodGet
		return resp, nil
	}

	var (
		p   profile.Profile
		err error
	)
	path := strings.TrimSuffix(req.RawPath, "/")
	switch id, byID := req.PathParameters["profileId"]; {
	case byID:
		p, err = h.profiles.Profile(ctx, id)
	case strings.HasPrefix(path, prefix+"/") && !strings.Contains(path[len(prefix)+1:], "/"):
		id, uerr := url.PathUnescape(path[len(prefix)+1:])
		if uerr != nil {
			return problem(http.StatusBadRequest, "profile id is not a valid path segment"), nil
		}
		p, err = h.profiles.Profile(ctx, id)
	case path == prefix || path == "":
		ident, msg := identifier(req.QueryStringParameters)
		if msg != "" {
			return problem(http.StatusBadRequest, msg), nil
		}
		p, err = h.profiles.Lookup(ctx, ident)
	default:
		return problem(http.StatusNotFound, "no such route"), nil
	}
	if errors.Is(err, profile.ErrNotFound) {
		return problem(http.StatusNotFound, "profile not found"), nil
	}
	if err != nil {
		return h.unavailable(ctx, err), nil
	}
	return respond(http.StatusOK, p.View()), nil
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
