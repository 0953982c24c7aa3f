// Package httpapi emulates an API Gateway HTTP API with Lambda proxy integrations (payload format
// 2.0): it matches the topology's routes, turns each request into an
// events.APIGatewayV2HTTPRequest, invokes the route's function and turns its answer into the HTTP
// response, with API Gateway's own answers where API Gateway gives them ({"message":"Not Found"},
// {"message":"Internal Server Error"}, {"message":"Request Entity Too Large"}).
//
// Emulated: route matching (literal, {param} and {greedy+} segments, most specific first, ANY),
// the request event (rawPath, rawQueryString, lower-cased headers with repeated values joined by
// commas, cookies, query and path parameters, requestContext with http, routeKey, requestId, time,
// timeEpoch, base64 bodies for non-text content types or encoded content), the response (status,
// headers, multiValueHeaders, cookies, base64 bodies, the inferred 200 for answers without a
// statusCode), the 10 MB request limit.
//
// Not emulated: authorizers (routes are open; functions check their own credentials), stages other
// than $default, CORS configuration (an OPTIONS request on a path that has routes but no OPTIONS
// route goes to the function of the most specific route, with routeKey "OPTIONS <path>"; in AWS it
// would get 404 unless the topology declares an OPTIONS route), throttling, custom domains, TLS,
// the 30 s integration timeout.
package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/awsid"
	"github.com/dcrm-project/dcrm/scripts/devstack/jsonscan"
)

// MaxBody is the HTTP API's limit on a request body.
const MaxBody = 10 << 20

// invoker runs a function by its topology name.
type invoker interface {
	Invoke(ctx context.Context, function string, payload []byte) ([]byte, error)
}

// API is an http.Handler serving the routes.
type API struct {
	routes  []route
	invoker invoker
	now     func() time.Time
	log     *slog.Logger
	account string
}

// Option configures an API.
type Option func(*API)

// WithClock sets the clock used for requestContext.time.
func WithClock(now func() time.Time) Option { return func(a *API) { a.now = now } }

// WithLogger reports function failures and bad responses.
func WithLogger(l *slog.Logger) Option { return func(a *API) { a.log = l } }

// New compiles the routes.
func New(routes []topology.Route, inv invoker, opts ...Option) (*API, error) {
	a := &API{invoker: inv, now: time.Now, log: slog.New(slog.DiscardHandler), account: "000000000000"}
	seen := map[string]bool{}
	for _, r := range routes {
		c, err := compile(r)
		if err != nil {
			return nil, err
		}
		key := c.Method + " " + c.Path
		if seen[key] {
			return nil, fmt.Errorf("%w: %s declared twice", ErrBadRoute, key)
		}
		seen[key] = true
		a.routes = append(a.routes, c)
	}
	for _, o := range opts {
		o(a)
	}
	return a, nil
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := awsid.APIRequestID()
	w.Header().Set("Apigw-Requestid", requestID)
	rt, params, ok := find(a.routes, r.Method, r.URL.EscapedPath())
	if !ok {
		message(w, http.StatusNotFound, "Not Found")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil {
		message(w, http.StatusBadRequest, "Bad Request")
		return
	}
	if len(body) > MaxBody {
		message(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	event := a.Event(r, body, rt.Method+" "+rt.Path, params, requestID)
	payload, err := json.Marshal(event)
	if err != nil {
		message(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	out, err := a.invoker.Invoke(r.Context(), rt.Function, payload)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			a.log.Warn("function failed", "function", rt.Function, "route", event.RouteKey, "requestId", requestID, "error", err)
		}
		message(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	if err := writeResponse(w, r, out); err != nil {
		a.log.Warn("malformed function response", "function", rt.Function, "route", event.RouteKey, "requestId", requestID, "error", err)
		message(w, http.StatusInternalServerError, "Internal Server Error")
	}
}

// Event is the payload format 2.0 event API Gateway would send for the request.
func (a *API) Event(r *http.Request, body []byte, routeKey string, params map[string]string, requestID string) events.APIGatewayV2HTTPRequest {
	now := a.now()
	headers := map[string]string{}
	for k, vs := range r.Header {
		k = strings.ToLower(k)
		if k == "cookie" {
			continue
		}
		headers[k] = strings.Join(vs, ",")
	}
	headers["host"] = r.Host
	sourceIP, port := remote(r)
	if prior := headers["x-forwarded-for"]; prior != "" {
		headers["x-forwarded-for"] = prior + ", " + sourceIP
	} else {
		headers["x-forwarded-for"] = sourceIP
	}
	headers["x-forwarded-proto"] = "http"
	if port != "" {
		headers["x-forwarded-port"] = port
	}
	if len(body) > 0 && headers["content-length"] == "" {
		headers["content-length"] = strconv.Itoa(len(body))
	}
	headers["x-amzn-trace-id"] = "Root=" + awsid.TraceRoot(now)

	var cookies []string
	for _, c := range r.Header.Values("Cookie") {
		for _, part := range strings.Split(c, ";") {
			if part = strings.TrimSpace(part); part != "" {
				cookies = append(cookies, part)
			}
		}
	}

	var query map[string]string
	if r.URL.RawQuery != "" {
		values, _ := url.ParseQuery(r.URL.RawQuery)
		if len(values) > 0 {
			query = map[string]string{}
			for k, vs := range values {
				query[k] = strings.Join(vs, ",")
			}
		}
	}

	e := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              routeKey,
		RawPath:               r.URL.EscapedPath(),
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     routeKey,
			AccountID:    a.account,
			Stage:        "$default",
			RequestID:    requestID,
			APIID:        "local",
			DomainName:   hostOnly(r.Host),
			DomainPrefix: strings.SplitN(hostOnly(r.Host), ".", 2)[0],
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP,
				UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if isText(r.Header.Get("Content-Type")) && r.Header.Get("Content-Encoding") == "" {
			e.Body = string(body)
		} else {
			e.Body = base64.StdEncoding.EncodeToString(body)
			e.IsBase64Encoded = true
		}
	}
	return e
}

// isText says whether API Gateway passes a body of this content type as text; everything else
// (and a body without a content type) arrives base64-encoded.
func isText(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch {
	case strings.HasPrefix(mt, "text/"),
		mt == "application/json", strings.HasSuffix(mt, "+json"),
		mt == "application/xml", strings.HasSuffix(mt, "+xml"),
		mt == "application/javascript":
		return true
	}
	return false
}

// writeResponse translates the function's answer. A JSON object with a statusCode is a response
// document; any other valid JSON is the body of a 200 application/json response.
func writeResponse(w http.ResponseWriter, r *http.Request, out []byte) error {
	// Whether the answer is a response document: its statusCode member alone is looked at, not
	// decoded with the rest, which is decoded once below.
	if _, found, ok := jsonscan.Member(out, "statusCode"); !ok || !found {
		if !json.Valid(out) {
			return errors.New("response is not JSON")
		}
		body := out
		var s string
		if json.Unmarshal(out, &s) == nil {
			body = []byte(s)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			_, _ = w.Write(body)
		}
		return nil
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		return fmt.Errorf("decode response: %w", err)
	}
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		return fmt.Errorf("status code %d", resp.StatusCode)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			return fmt.Errorf("decode base64 body: %w", err)
		}
	}
	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		h.Add("Set-Cookie", c)
	}
	if h.Get("Content-Type") == "" {
		h["Content-Type"] = nil // no sniffing: API Gateway sends no content type it was not given
	}
	w.WriteHeader(resp.StatusCode)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return nil
}

func message(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"message": msg})
	_, _ = w.Write(b)
}

func remote(r *http.Request) (ip, port string) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ctxAddr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		_, port, _ = net.SplitHostPort(ctxAddr.String())
	}
	return host, port
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// RouteKey is the route key ("POST /v1/batch") of the route that takes the request, or "" when none
// does.
func (a *API) RouteKey(r *http.Request) string {
	rt, _, ok := find(a.routes, r.Method, r.URL.EscapedPath())
	if !ok {
		return ""
	}
	return rt.Method + " " + rt.Path
}
