package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"
)

func consoleGet(proxy string) events.APIGatewayV2HTTPResponse {
	return serveConsole(events.APIGatewayV2HTTPRequest{PathParameters: map[string]string{"proxy": proxy}},
		"http://127.0.0.1:19229/local_pool", "client-1")
}

func TestConsoleServesItsFiles(t *testing.T) {
	index := consoleGet("")
	require.Equal(t, http.StatusOK, index.StatusCode)
	require.Contains(t, index.Headers["content-type"], "text/html")
	require.Contains(t, index.Body, `<script type="module" src="js/app.js">`)
	csp := index.Headers["content-security-policy"]
	require.Contains(t, csp, "script-src 'self'")
	require.Contains(t, csp, "connect-src 'self' http://127.0.0.1:19229", "the sign-in endpoint, and nothing else")
	require.Contains(t, csp, "frame-ancestors 'none'")

	js := consoleGet("js/app.js")
	require.Equal(t, http.StatusOK, js.StatusCode)
	require.Equal(t, "text/javascript; charset=utf-8", js.Headers["content-type"])

	var cfg consoleConfig
	require.NoError(t, json.Unmarshal([]byte(consoleGet("config.json").Body), &cfg))
	require.Equal(t, consoleConfig{AuthURL: "http://127.0.0.1:19229/", ClientID: "client-1"}, cfg)

	for _, bad := range []string{"nope.js", "../handler.go", "js/../../main.go"} {
		require.Equal(t, http.StatusNotFound, consoleGet(bad).StatusCode, bad)
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
