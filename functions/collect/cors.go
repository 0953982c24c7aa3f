package main

import (
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// corsMaxAge is how long (seconds) a browser may cache a preflight's answer. Browsers cap it
// (Chromium at 2 hours), so asking for more changes nothing.
const corsMaxAge = "7200"

// preflight answers a CORS preflight (OPTIONS) on the collection routes. The write key, and so the
// source whose origins are allowed, is not known until the real request (preflights carry no
// credentials), so the preflight lets any origin ask; the POST that follows is refused with a 403
// when its origin is not one of its source's.
func preflight(req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, bool) {
	method, path := getRoute(req)
	if method != http.MethodOptions {
		return events.APIGatewayV2HTTPResponse{}, false
	}
	if _, ok := kinds[path]; !ok {
		return events.APIGatewayV2HTTPResponse{}, false // the route answers 404 as for any method
	}
	h := map[string]string{
		"Access-Control-Allow-Methods": http.MethodPost,
		"Access-Control-Allow-Headers": "Content-Type, Authorization, Content-Encoding",
		"Access-Control-Max-Age":       corsMaxAge,
		"Vary":                         "Origin, Access-Control-Request-Headers",
	}
	if origin := strings.TrimSpace(header(req, "Origin")); origin != "" {
		h["Access-Control-Allow-Origin"] = origin
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusNoContent, Headers: h}, true
}
