package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/consoleauth"
)

func consoleGet(t *testing.T, proxy string) events.APIGatewayV2HTTPResponse {
	h := &handler{signIn: consoleSignIn{issuer: "http://127.0.0.1:19229/local_pool", clientID: "client-1"}}
	req := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "GET /console/{proxy+}", RawPath: "/console/" + proxy,
		PathParameters: map[string]string{"proxy": proxy}}
	if proxy == "" {
		req.RouteKey, req.RawPath, req.PathParameters = "GET /console", "/console", nil
	}
	req.RequestContext.HTTP.Method = http.MethodGet
	return serve(t, h, req)
}

func TestConsoleServesItsFiles(t *testing.T) {
	root := consoleGet(t, "")
	require.Equal(t, http.StatusFound, root.StatusCode)
	require.Equal(t, "/console/index.html", root.Headers["location"])
	index := consoleGet(t, "index.html")
	require.Equal(t, http.StatusOK, index.StatusCode)
	require.Contains(t, index.Headers["content-type"], "text/html")
	require.Contains(t, index.Body, `<script type="module" src="js/app.js">`)
	csp := index.Headers["content-security-policy"]
	require.Contains(t, csp, "script-src 'self'")
	require.Contains(t, csp, "connect-src 'self' http://127.0.0.1:19229;", "the sign-in endpoint, and nothing else")
	require.Contains(t, csp, "frame-ancestors 'none'")

	js := consoleGet(t, "js/app.js")
	require.Equal(t, http.StatusOK, js.StatusCode)
	require.Equal(t, "text/javascript; charset=utf-8", js.Headers["content-type"])

	var cfg consoleConfig
	require.NoError(t, json.Unmarshal([]byte(consoleGet(t, "config.json").Body), &cfg))
	require.Equal(t, consoleConfig{AuthURL: "http://127.0.0.1:19229/", ClientID: "client-1"}, cfg)

	for _, bad := range []string{"nope.js", "../handler.go", "js/../../main.go"} {
		require.Equal(t, http.StatusNotFound, consoleGet(t, bad).StatusCode, bad)
	}
}

// No page builds HTML from text: every element is made with the DOM (dom.js's h), so a customer's
// trait cannot inject markup into an operator's page.
func TestConsoleNeverWritesHTML(t *testing.T) {
	entries, err := consoleFiles.ReadDir("console/js")
	require.NoError(t, err)
	for _, e := range entries {
		b, err := consoleFiles.ReadFile("console/js/" + e.Name())
		require.NoError(t, err)
		for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
			require.False(t, strings.Contains(string(b), sink), "%s uses %s", e.Name(), sink)
		}
	}
}

// users stands for the user pool: a token "eyJ.<name>.sig" is the user <name> with the roles the
// map gives; anything else is refused as the verifier would.
type users map[string][]consoleauth.Role

func (u users) Verify(_ context.Context, token string) (consoleauth.Principal, error) {
	name := strings.Split(token, ".")[1]
	roles, ok := u[name]
	switch {
	case !ok:
		return consoleauth.Principal{}, consoleauth.ErrSignature
	case len(roles) == 0:
		return consoleauth.Principal{}, consoleauth.ErrNoRole
	}
	return consoleauth.Principal{Username: name, Roles: roles, Scopes: consoleauth.ScopesOf(roles)}, nil
}

// A console user's token is a credential with the scopes of the user's role: a viewer reads and
// may not split; an operator splits; a token the pool did not sign, or of a user without a role,
// is refused.
func TestConsoleUsersActWithTheirRolesScopes(t *testing.T) {
	f := newFixture(t)
	f.h.signIn = consoleSignIn{issuer: "http://127.0.0.1:19229/p", clientID: "c",
		verifier: users{"vera": {consoleauth.Viewer}, "otto": {consoleauth.Operator}, "nora": {}}}
	status, body := call(t, f.h, get("/v1/profiles/"+f.live, nil, "Bearer eyJ.vera.sig"))
	require.Equal(t, http.StatusOK, status, body)

	status, body = call(t, f.h, post("/v1/profiles/"+f.live+"/split", `{"profileId": "`+f.merged+`"}`, "Bearer eyJ.vera.sig"))
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, body["error"], `lacks the "split" scope`)
	require.Contains(t, body["error"], "vera", "the refusal names who")

	status, body = call(t, f.h, get("/v1/profiles/"+f.live, nil, "Bearer eyJ.mallory.sig"))
	require.Equal(t, http.StatusUnauthorized, status)
	require.Contains(t, body["error"], "sign in again")
	status, body = call(t, f.h, get("/v1/profiles/"+f.live, nil, "Bearer eyJ.nora.sig"))
	require.Equal(t, http.StatusForbidden, status)
	require.Contains(t, body["error"], "no dcrm role")

	// Without a user pool, tokens are refused and keys still work.
	f.h.signIn = consoleSignIn{}
	status, _ = call(t, f.h, get("/v1/profiles/"+f.live, nil, "Bearer eyJ.vera.sig"))
	require.Equal(t, http.StatusUnauthorized, status)
	status, _ = call(t, f.h, get("/v1/profiles/"+f.live, nil, "Bearer "+f.apiKey))
	require.Equal(t, http.StatusOK, status)
}

// A console user's change is in the audit log under "user:<name>"; only an admin reads the log.
func TestConsoleUsersChangesAreAudited(t *testing.T) {
	f := newFixture(t)
	f.h.signIn = consoleSignIn{issuer: "http://127.0.0.1:19229/p", clientID: "c",
		verifier: users{"vera": {consoleauth.Viewer}, "otto": {consoleauth.Operator}, "ada": {consoleauth.Admin}}}
	status, body := call(t, f.h, post("/v1/profiles/"+f.live+"/split", `{"profileId": "`+f.merged+`"}`, "Bearer eyJ.otto.sig"))
	require.Equal(t, http.StatusOK, status, body)
	for _, who := range []string{"vera", "otto"} {
		status, body = call(t, f.h, activityRequest("/v1/audit", nil, "Bearer eyJ."+who+".sig"))
		require.Equal(t, http.StatusForbidden, status, who)
		require.Contains(t, body["error"], `lacks the "admin" scope`)
	}
	status, body = call(t, f.h, activityRequest("/v1/audit", nil, "Bearer eyJ.ada.sig"))
	require.Equal(t, http.StatusOK, status, body)
	actions := body["actions"].([]any)
	require.Len(t, actions, 1)
	a := actions[0].(map[string]any)
	require.Equal(t, "user:otto", a["keyId"])
	require.Equal(t, "otto", a["keyName"])
	require.Equal(t, "POST /v1/profiles/{profileId}/split", a["route"])
}
