package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

// The pixel API, GET /v1/pixel/{track,page}?data=<base64 JSON of one event>, is for places that can
// only load an image: emails (opens) and ad or social impressions. The event carries its writeKey and
// goes through the same checks as a POST; the answer is always a 1×1 transparent GIF, with the status
// (and, when refused, the reason in X-Dcrm-Error) a person debugging it can read.

// transparentGIF is the smallest transparent 1×1 GIF (43 bytes).
var transparentGIF = []byte{
	'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff,
	0x21, 0xf9, 4, 1, 0, 0, 0, 0, 0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0, 0x3b,
}

// pixelKinds are the event types the pixel API takes.
var pixelKinds = map[string]string{"track": beacon.Track, "page": beacon.Page}

const pixelPrefix = "/v1/pixel/"

// pixelKind tells whether the request is GET /v1/pixel/{type}, and the type asked for.
func pixelKind(req events.APIGatewayV2HTTPRequest) (string, bool) {
	method, path := getRoute(req)
	if method != http.MethodGet {
		return "", false
	}
	if t, ok := req.PathParameters["type"]; ok && strings.HasSuffix(req.RouteKey, " /v1/pixel/{type}") {
		return t, true
	}
	t, ok := strings.CutPrefix(path, pixelPrefix)
	return t, ok
}

// readPixel reads a pixel request as a call: the event is the base64 JSON in the data parameter
// (standard or URL-safe alphabet, padded or not) and carries its write key.
func readPixel(req events.APIGatewayV2HTTPRequest, typ string) (call, error) {
	c := call{origin: header(req, "Origin"), pixel: true}
	kind, ok := pixelKinds[typ]
	if !ok {
		return c, refuse(http.StatusNotFound, "no pixel for type %q: use /v1/pixel/track or /v1/pixel/page", typ)
	}
	data, err := queryParam(req, "data")
	if err != nil {
		return c, err
	}
	if data == "" {
		return c, refuse(http.StatusBadRequest, "data is missing: send ?data=<base64 JSON of one event, with writeKey>")
	}
	if len(data) > base64.StdEncoding.EncodedLen(beacon.MaxEventBytes) {
		return c, refuse(http.StatusBadRequest, "data is %d characters; an event may be %d bytes (base64: %d characters)",
			len(data), beacon.MaxEventBytes, base64.StdEncoding.EncodedLen(beacon.MaxEventBytes))
	}
	body, err := decodeBase64(data)
	if err != nil {
		return c, refuse(http.StatusBadRequest, "data is not valid base64: %v", err)
	}
	if c.payload, err = beacon.Decode(kind, body); err != nil {
		return c, err
	}
	c.payload.Pixel = true // downstream, its track events are impressions, not visits
	if c.writeKey = c.payload.WriteKey; c.writeKey == "" {
		return c, refuse(http.StatusUnauthorized, "missing write key: put writeKey in the event")
	}
	return c, nil
}

// queryParam reads one query parameter from the raw query string (falling back to the parameters
// API Gateway decoded).
func queryParam(req events.APIGatewayV2HTTPRequest, name string) (string, error) {
	if req.RawQueryString == "" {
		return req.QueryStringParameters[name], nil
	}
	q, err := url.ParseQuery(req.RawQueryString)
	if err != nil {
		return "", refuse(http.StatusBadRequest, "query string is malformed: %v", err)
	}
	return q.Get(name), nil
}

// decodeBase64 takes either alphabet, with or without padding. A '+' that reached us unescaped
// in a query string was read as a space: it is put back.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	s = strings.NewReplacer(" ", "+", "-", "+", "_", "/").Replace(s)
	return base64.RawStdEncoding.DecodeString(s)
}

// gifResponse turns the endpoint's answer to a pixel request into the GIF: same status, never
// cached, the refusal's reason in X-Dcrm-Error.
func gifResponse(resp events.APIGatewayV2HTTPResponse) events.APIGatewayV2HTTPResponse {
	h := map[string]string{
		"Content-Type":  "image/gif",
		"Cache-Control": "no-cache, no-store, must-revalidate",
		"Pragma":        "no-cache",
		"Expires":       "0",
	}
	for _, k := range []string{"Retry-After", "Allow", "Access-Control-Allow-Origin", "Vary"} {
		if v, ok := resp.Headers[k]; ok {
			h[k] = v
		}
	}
	if resp.StatusCode >= 400 {
		var body struct {
			Error string `json:"error"`
		}
		if json.Unmarshal([]byte(resp.Body), &body) != nil || body.Error == "" {
			body.Error = http.StatusText(resp.StatusCode)
		}
		h["X-Dcrm-Error"] = headerValue(body.Error)
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: resp.StatusCode, Headers: h,
		Body: base64.StdEncoding.EncodeToString(transparentGIF), IsBase64Encoded: true}
}

// headerValue makes a reason safe for a header: printable ASCII, at most 512 bytes.
func headerValue(s string) string {
	b := make([]byte, 0, min(len(s), 512))
	for i := 0; i < len(s) && len(b) < 512; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f {
			b = append(b, c)
		} else {
			b = append(b, '?')
		}
	}
	return string(b)
}
