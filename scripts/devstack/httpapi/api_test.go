package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/httpapi"
)

// recorder is a function host in the test process: it keeps the events it gets and answers with
// whatever answer returns.
type recorder struct {
	mu     sync.Mutex
	calls  []call
	answer func(function string, e events.APIGatewayV2HTTPRequest) ([]byte, error)
}

type call struct {
	function string
	event    events.APIGatewayV2HTTPRequest
	raw      []byte
}

func (r *recorder) Invoke(_ context.Context, function string, payload []byte) ([]byte, error) {
	var e events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(payload, &e); err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.calls = append(r.calls, call{function, e, payload})
	r.mu.Unlock()
	if r.answer == nil {
		return []byte(`{"statusCode":204}`), nil
	}
	return r.answer(function, e)
}

func (r *recorder) last(t *testing.T) call {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	require.NotEmpty(t, r.calls, "no function was invoked")
	return r.calls[len(r.calls)-1]
}

var routes = []topology.Route{
	{Method: "POST", Path: "/v1/track", Function: "collect"},
	{Method: "GET", Path: "/v1/profiles", Function: "profiles"},
	{Method: "GET", Path: "/v1/profiles/{profileId}", Function: "profiles"},
	{Method: "GET", Path: "/v1/profiles/export", Function: "exporter"},
	{Method: "GET", Path: "/v1/pixel/{type}/{rest+}", Function: "pixel"},
	{Method: "ANY", Path: "/v1/any", Function: "any"},
	{Method: "DELETE", Path: "/v1/any", Function: "deleter"},
}

var clock = time.Date(2024, 3, 12, 19, 3, 58, 123e6, time.UTC)

func serve(t *testing.T, rec *recorder) *httptest.Server {
	t.Helper()
	api, err := httpapi.New(routes, rec, httpapi.WithClock(func() time.Time { return clock }))
	require.NoError(t, err)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return srv
}

func do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(body)
}

func request(t *testing.T, method, url string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	require.NoError(t, err)
	return req
}

func TestRouting(t *testing.T) {
	rec := &recorder{}
	srv := serve(t, rec)
	cases := []struct {
		method, path string
		function     string
		routeKey     string
		params       map[string]string
	}{
		{"POST", "/v1/track", "collect", "POST /v1/track", nil},
		{"GET", "/v1/profiles", "profiles", "GET /v1/profiles", nil},
		{"GET", "/v1/profiles/p-123", "profiles", "GET /v1/profiles/{profileId}", map[string]string{"profileId": "p-123"}},
		{"GET", "/v1/profiles/a%20b%2Fc", "profiles", "GET /v1/profiles/{profileId}", map[string]string{"profileId": "a b/c"}},
		{"GET", "/v1/profiles/export", "exporter", "GET /v1/profiles/export", nil},
		{"GET", "/v1/pixel/open/a/b.gif", "pixel", "GET /v1/pixel/{type}/{rest+}", map[string]string{"type": "open", "rest": "a/b.gif"}},
		{"PATCH", "/v1/any", "any", "ANY /v1/any", nil},
		{"DELETE", "/v1/any", "deleter", "DELETE /v1/any", nil},
		{"OPTIONS", "/v1/track", "collect", "OPTIONS /v1/track", nil},
	}
	for _, c := range cases {
		resp, _ := do(t, request(t, c.method, srv.URL+c.path, nil))
		assert.Equal(t, http.StatusNoContent, resp.StatusCode, "%s %s", c.method, c.path)
		got := rec.last(t)
		assert.Equal(t, c.function, got.function, "%s %s", c.method, c.path)
		assert.Equal(t, c.routeKey, got.event.RouteKey)
		assert.Equal(t, c.routeKey, got.event.RequestContext.RouteKey)
		assert.Equal(t, c.params, got.event.PathParameters, "%s %s", c.method, c.path)
	}

	calls := len(rec.calls)
	for _, c := range []struct{ method, path string }{
		{"GET", "/v1/track"}, {"POST", "/v1/nothing"}, {"GET", "/v1/profiles/"}, {"GET", "/v1/profiles/a/b"},
		{"GET", "/v1/pixel/open"}, {"OPTIONS", "/v1/nothing"}, {"GET", "/v1/track/"},
	} {
		resp, body := do(t, request(t, c.method, srv.URL+c.path, nil))
		assert.Equal(t, http.StatusNotFound, resp.StatusCode, "%s %s", c.method, c.path)
		assert.Equal(t, `{"message":"Not Found"}`, body)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
		assert.NotEmpty(t, resp.Header.Get("Apigw-Requestid"))
	}
	assert.Len(t, rec.calls, calls, "no function runs for unmatched requests")
}

func TestRequestEvent(t *testing.T) {
	rec := &recorder{}
	srv := serve(t, rec)

	req := request(t, "POST", srv.URL+"/v1/track?a=1&b=x%20y&a=2&flag", strings.NewReader(`{"event":"Viewed"}`))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Add("X-Repeated", "one")
	req.Header.Add("X-Repeated", "two")
	req.Header.Set("User-Agent", "test-agent/1.0")
	req.Header.Add("Cookie", "ajs_anonymous_id=abc; session=s1")
	req.Header.Add("Cookie", "third=3")
	resp, _ := do(t, req)
	require.Equal(t, http.StatusNoContent, resp.StatusCode)

	c := rec.last(t)
	e := c.event
	assert.Equal(t, "2.0", e.Version)
	assert.Equal(t, "/v1/track", e.RawPath)
	assert.Equal(t, "a=1&b=x%20y&a=2&flag", e.RawQueryString)
	assert.Equal(t, map[string]string{"a": "1,2", "b": "x y", "flag": ""}, e.QueryStringParameters)
	assert.Equal(t, []string{"ajs_anonymous_id=abc", "session=s1", "third=3"}, e.Cookies)
	assert.Equal(t, "one,two", e.Headers["x-repeated"])
	assert.Equal(t, "application/json; charset=utf-8", e.Headers["content-type"])
	assert.Equal(t, "18", e.Headers["content-length"])
	assert.Equal(t, strings.TrimPrefix(srv.URL, "http://"), e.Headers["host"])
	assert.Equal(t, "127.0.0.1", e.Headers["x-forwarded-for"])
	assert.Equal(t, "http", e.Headers["x-forwarded-proto"])
	assert.Regexp(t, `^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$`, e.Headers["x-amzn-trace-id"], "an X-Ray trace id")
	assert.NotContains(t, e.Headers, "cookie")
	for k := range e.Headers {
		assert.Equal(t, strings.ToLower(k), k, "header names are lower case")
	}
	assert.Equal(t, `{"event":"Viewed"}`, e.Body)
	assert.False(t, e.IsBase64Encoded)

	rc := e.RequestContext
	assert.Equal(t, "POST", rc.HTTP.Method)
	assert.Equal(t, "/v1/track", rc.HTTP.Path)
	assert.Equal(t, "HTTP/1.1", rc.HTTP.Protocol)
	assert.Equal(t, "127.0.0.1", rc.HTTP.SourceIP)
	assert.Equal(t, "test-agent/1.0", rc.HTTP.UserAgent)
	assert.Equal(t, "$default", rc.Stage)
	assert.Equal(t, clock.UnixMilli(), rc.TimeEpoch)
	assert.Equal(t, "12/Mar/2024:19:03:58 +0000", rc.Time)
	assert.Equal(t, resp.Header.Get("Apigw-Requestid"), rc.RequestID)
	assert.Equal(t, "127.0.0.1", rc.DomainName)

	var raw map[string]any
	require.NoError(t, json.Unmarshal(c.raw, &raw))
	assert.Equal(t, false, raw["isBase64Encoded"], "isBase64Encoded is always present")
}

func TestBodiesThatAreNotTextArriveBase64Encoded(t *testing.T) {
	rec := &recorder{}
	srv := serve(t, rec)
	binary := []byte("h\u00e9llo \x01")
	cases := []struct {
		contentType, encoding string
		base64                bool
	}{
		{"text/plain;charset=UTF-8", "", false},
		{"application/vnd.api+json", "", false},
		{"application/octet-stream", "", true},
		{"application/x-www-form-urlencoded", "", true},
		{"", "", true},
		{"application/json", "gzip", true},
	}
	for _, c := range cases {
		req := request(t, "POST", srv.URL+"/v1/track", bytes.NewReader(binary))
		if c.contentType != "" {
			req.Header.Set("Content-Type", c.contentType)
		}
		if c.encoding != "" {
			req.Header.Set("Content-Encoding", c.encoding)
		}
		do(t, req)
		e := rec.last(t).event
		assert.Equal(t, c.base64, e.IsBase64Encoded, "%q %q", c.contentType, c.encoding)
		if c.base64 {
			assert.Equal(t, base64.StdEncoding.EncodeToString(binary), e.Body)
		} else {
			assert.Equal(t, string(binary), e.Body)
		}
	}

	resp, body := do(t, request(t, "POST", srv.URL+"/v1/track", bytes.NewReader(make([]byte, httpapi.MaxBody+1))))
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	assert.Equal(t, `{"message":"Request Entity Too Large"}`, body)
}

func TestResponseTranslation(t *testing.T) {
	rec := &recorder{}
	srv := serve(t, rec)
	answer := func(out string, err error) {
		rec.answer = func(string, events.APIGatewayV2HTTPRequest) ([]byte, error) { return []byte(out), err }
	}

	answer(`{"statusCode":201,"headers":{"Content-Type":"application/json","X-One":"1"},
		"multiValueHeaders":{"X-Multi":["a","b"]},"cookies":["c1=v1; Path=/","c2=v2"],"body":"{\"ok\":true}"}`, nil)
	resp, body := do(t, request(t, "GET", srv.URL+"/v1/profiles", nil))
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, `{"ok":true}`, body)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(t, "1", resp.Header.Get("X-One"))
	assert.Equal(t, []string{"a", "b"}, resp.Header.Values("X-Multi"))
	assert.Equal(t, []string{"c1=v1; Path=/", "c2=v2"}, resp.Header.Values("Set-Cookie"))

	answer(`{"statusCode":200,"isBase64Encoded":true,"headers":{"content-type":"image/gif"},"body":"`+base64.StdEncoding.EncodeToString([]byte{0x47, 0x49, 0x46, 0})+`"}`, nil)
	resp, body = do(t, request(t, "GET", srv.URL+"/v1/profiles", nil))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "GIF\x00", body)
	assert.Equal(t, "image/gif", resp.Header.Get("Content-Type"))

	answer(`{"profileId":"p1"}`, nil)
	resp, body = do(t, request(t, "GET", srv.URL+"/v1/profiles", nil))
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a JSON answer without statusCode is a 200")
	assert.JSONEq(t, `{"profileId":"p1"}`, body)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))

	answer(`{"data":{"statusCode":500},"note":"\"statusCode\":500"}`, nil)
	resp, body = do(t, request(t, "GET", srv.URL+"/v1/profiles", nil))
	assert.Equal(t, http.StatusOK, resp.StatusCode, "only a top-level statusCode makes a response document")
	assert.JSONEq(t, `{"data":{"statusCode":500},"note":"\"statusCode\":500"}`, body)

	answer(`"Hello from Lambda!"`, nil)
	_, body = do(t, request(t, "GET", srv.URL+"/v1/profiles", nil))
	assert.Equal(t, "Hello from Lambda!", body)

	for _, bad := range []struct {
		out string
		err error
	}{
		{"", errors.New("function error")},
		{`not json`, nil},
		{`{"statusCode":200,"isBase64Encoded":true,"body":"%%%"}`, nil},
		{`{"statusCode":42}`, nil},
		{`{"statusCode":null}`, nil},
		{`{"statusCode":200,"body":"x",}`, nil},
		{`{"statusCode":200,"body":"x"`, nil},
	} {
		answer(bad.out, bad.err)
		resp, body = do(t, request(t, "GET", srv.URL+"/v1/profiles", nil))
		assert.Equal(t, http.StatusInternalServerError, resp.StatusCode, bad.out)
		assert.Equal(t, `{"message":"Internal Server Error"}`, body)
	}
}

func TestNewRejectsBadRoutes(t *testing.T) {
	for _, r := range []topology.Route{
		{Method: "GET", Path: "no-slash", Function: "f"},
		{Method: "GET", Path: "/a/{rest+}/b", Function: "f"},
		{Method: "", Path: "/a", Function: "f"},
	} {
		_, err := httpapi.New([]topology.Route{r}, &recorder{})
		assert.ErrorIs(t, err, httpapi.ErrBadRoute, "%+v", r)
	}
	_, err := httpapi.New([]topology.Route{{Method: "GET", Path: "/a", Function: "f"}, {Method: "GET", Path: "/a", Function: "g"}}, &recorder{})
	assert.ErrorIs(t, err, httpapi.ErrBadRoute)
}
