package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/consoleauth"
	"github.com/dcrm-project/dcrm/shared/keystore"
)

// consoleRoutes are the console's files.
var consoleRoutes = map[string]bool{"GET /console": true, "GET /console/{proxy+}": true}

// consoleSignIn is the user pool the console signs in with.
type consoleSignIn struct {
	issuer, clientID string
	verifier         tokenVerifier // nil: none configured
}

// tokenVerifier checks a console user's token (consoleauth.Verifier).
type tokenVerifier interface {
	Verify(ctx context.Context, token string) (consoleauth.Principal, error)
}

// isJWT tells a console user's token (three base64url parts, a JSON header) from a profile-API
// key, which has no dot.
func isJWT(token string) bool {
	return strings.Count(token, ".") == 2 && strings.HasPrefix(token, "eyJ")
}

// consoleUser checks a console user's token and returns what the request runs as: a key named
// after the user ("user:<username>", the audit log's who), with the scopes of the user's roles.
func (h *handler) consoleUser(ctx context.Context, token string) (keystore.APIKey, *refusal) {
	if h.signIn.verifier == nil {
		return keystore.APIKey{}, &refusal{unauthorized("console sign-in is not configured here: use a profile API key"), "no user pool"}
	}
	p, err := h.signIn.verifier.Verify(ctx, token)
	switch {
	case errors.Is(err, consoleauth.ErrKeySet):
		return keystore.APIKey{}, &refusal{h.unavailable(ctx, err), "user pool keys unavailable"}
	case errors.Is(err, consoleauth.ErrNoRole):
		return keystore.APIKey{}, &refusal{respond(http.StatusForbidden, problem{"your user has no dcrm role (viewer, marketer, operator or admin): ask an administrator"}), "no role"}
	case err != nil:
		return keystore.APIKey{}, &refusal{unauthorized("sign in again: " + err.Error()), "bad token"}
	}
	return keystore.APIKey{ID: "user:" + p.Username, Name: p.Username, Scopes: p.Scopes}, nil
}

// The console: a few static files (console/: HTML, CSS and plain JavaScript modules, no build
// step), served under /console/ by this function, so that it is on the profile API's own origin
// wherever the API is (the local host, or the HTTP API on AWS) and calls nothing but the API's
// documented routes and the user pool's sign-in. The files are public; every answer of the API
// they call needs the signed-in user's token.

//go:embed console
var consoleFiles embed.FS

// consoleConfig is console/config.json: where the console signs in.
type consoleConfig struct {
	// AuthURL is the user pool's endpoint for InitiateAuth (Cognito's, or the local host's).
	AuthURL  string `json:"authUrl"`
	ClientID string `json:"clientId"`
}

// authURLOf is the InitiateAuth endpoint of a user pool's issuer
// (https://cognito-idp.<region>.amazonaws.com/<pool id> → https://cognito-idp.<region>.amazonaws.com/).
func authURLOf(issuer string) string {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host + "/"
}

// serveConsole answers GET /console/{proxy+} with the file, and GET /console with a redirect to
// the page.
func serveConsole(r events.APIGatewayV2HTTPRequest, issuer, clientID string) events.APIGatewayV2HTTPResponse {
	auth := authURLOf(issuer)
	hdr := consoleHeaders(auth)
	name := strings.TrimPrefix(path.Clean("/"+r.PathParameters["proxy"]), "/")
	if r.RouteKey == "GET /console" || name == "" || name == "." {
		// The page is /console/index.html, so that its files resolve under /console/ (a greedy
		// route takes no empty rest, and a <base> the policy forbids).
		hdr["location"] = "/console/index.html"
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusFound, Headers: hdr}
	}
	if name == "config.json" {
		b, _ := json.Marshal(consoleConfig{AuthURL: auth, ClientID: clientID})
		hdr["content-type"] = "application/json"
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK, Headers: hdr, Body: string(b)}
	}
	b, err := fs.ReadFile(consoleFiles, "console/"+name)
	if err != nil {
		hdr["content-type"] = "text/plain; charset=utf-8"
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusNotFound, Headers: hdr, Body: "no such file of the console"}
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if strings.HasSuffix(name, ".js") {
		ct = "text/javascript; charset=utf-8"
	}
	hdr["content-type"] = ct
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK, Headers: hdr, Body: string(b)}
}

// consoleHeaders are every console answer's: nothing but the console's own files and the API run
// (the sign-in endpoint besides), no framing, no sniffing, revalidated on each load.
func consoleHeaders(auth string) map[string]string {
	connect := "'self'"
	if auth != "" {
		connect += " " + strings.TrimSuffix(auth, "/")
	}
	return map[string]string{
		"content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src " + connect +
			"; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
		"x-content-type-options": "nosniff",
		"referrer-policy":        "no-referrer",
		"cache-control":          "no-cache",
	}
}
