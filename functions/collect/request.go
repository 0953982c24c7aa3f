package main

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

// call is one request to the endpoint, read from its HTTP form but not yet authorised.
type call struct {
	writeKey string // from basic auth, else from the body
	origin   string
	pixel    bool   // GET /v1/pixel/{type}: the key is in a URL (emails, proxy logs)
	kind     string // the call's type (beacon.Batch or an event type)
	payload  *beacon.Payload
}

// refusal is a request the endpoint turns down before it reaches the domain: the status and the
// reason the sender reads, and the cause when it is ours.
type refusal struct {
	status int
	reason string
	header map[string]string
	err    error
	quiet  bool // not logged (one of many alike)
}

func (r *refusal) Error() string {
	if r.err != nil {
		return r.reason + ": " + r.err.Error()
	}
	return r.reason
}

func (r *refusal) Unwrap() error { return r.err }

func refuse(status int, format string, args ...any) *refusal {
	return &refusal{status: status, reason: fmt.Sprintf(format, args...)}
}

// kinds maps the endpoint's paths to the kind of call they take.
var kinds = map[string]string{
	"/v1/track":    beacon.Track,
	"/v1/page":     beacon.Page,
	"/v1/screen":   beacon.Screen,
	"/v1/identify": beacon.Identify,
	"/v1/group":    beacon.Group,
	"/v1/alias":    beacon.Alias,
	"/v1/batch":    beacon.Batch,
}

// readCall reads an API Gateway HTTP API request (payload format 2.0) up to its body: route,
// content type and encoding, size, and the write key when basic auth carries it, so that the key
// can be checked before the body is read (see readPayload). body is the request's body as the event
// carries it (base64 when req.IsBase64Encoded). A pixel is read whole: its event is small.
func readCall(req events.APIGatewayV2HTTPRequest, body []byte) (call, error) {
	if typ, ok := pixelKind(req); ok { // GET /v1/pixel/{type} (pixel.go)
		return readPixel(req, typ)
	}
	c := call{origin: header(req, "Origin")}
	var err error
	if c.kind, err = route(req); err != nil {
		return c, err
	}
	if err := contentType(header(req, "Content-Type")); err != nil {
		return c, err
	}
	if err := checkBodySize(req, body); err != nil {
		return c, err
	}
	c.writeKey, err = basicAuthUser(header(req, "Authorization"))
	return c, err
}

// readPayload decodes the body, and takes the write key from it when basic auth carried none.
func (c *call) readPayload(req events.APIGatewayV2HTTPRequest, raw []byte) error {
	if c.payload != nil {
		return nil
	}
	body, err := readBody(req, raw)
	if err != nil {
		return err
	}
	if c.payload, err = beacon.Decode(c.kind, body); err != nil {
		return err
	}
	if c.writeKey == "" {
		c.writeKey = c.payload.WriteKey
	}
	if c.writeKey == "" {
		return refuse(http.StatusUnauthorized, "missing write key: send it as the basic-auth user name or as writeKey in the body")
	}
	return nil
}

// route finds the kind of call from the path. The HTTP API gives the path with the stage in front
// of it (unless the stage is $default) and the route key as "METHOD /path".
func route(req events.APIGatewayV2HTTPRequest) (string, error) {
	method, path := req.RequestContext.HTTP.Method, req.RawPath
	if path == "" {
		path = req.RequestContext.HTTP.Path
	}
	if st := req.RequestContext.Stage; st != "" && st != "$default" {
		path = strings.TrimPrefix(path, "/"+st)
	}
	if m, p, ok := strings.Cut(req.RouteKey, " "); ok && kinds[p] != "" {
		if method == "" {
			method = m
		}
		path = p
	}
	path = strings.TrimSuffix(path, "/")
	kind, ok := kinds[path]
	if !ok {
		return "", refuse(http.StatusNotFound, "no endpoint at %s: use POST /v1/track, /v1/page, /v1/screen, /v1/identify, /v1/group, /v1/alias or /v1/batch", path)
	}
	if method != http.MethodPost {
		r := refuse(http.StatusMethodNotAllowed, "method %s is not allowed on %s: use POST", method, path)
		r.header = map[string]string{"Allow": http.MethodPost}
		return "", r
	}
	return kind, nil
}

// contentType accepts JSON, and text/plain as browsers' sendBeacon sends it. A request without a
// content type is read as JSON, and so is one labelled application/x-www-form-urlencoded: RudderStack's
// Node.js SDK sends its gzipped JSON batches with that label (its HTTP client's default), and it is a
// CORS-safelisted type like text/plain, so accepting it opens nothing new to browsers. The body must
// be JSON whatever the label.
func contentType(v string) error {
	if v == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(v)
	if err != nil || (mt != "application/json" && mt != "text/plain" && mt != "application/x-www-form-urlencoded") {
		return refuse(http.StatusUnsupportedMediaType, "content type %q is not supported: send application/json (or text/plain)", v)
	}
	return nil
}

// readBody undoes API Gateway's base64 and the sender's gzip in body, the request's body as the
// event carries it. Decompression stops past beacon.MaxBatchBytes, so a small body cannot expand
// without bound.
func readBody(req events.APIGatewayV2HTTPRequest, body []byte) ([]byte, error) {
	if err := checkBodySize(req, body); err != nil {
		return nil, err
	}
	if req.IsBase64Encoded {
		b := make([]byte, base64.StdEncoding.DecodedLen(len(body)))
		n, err := base64.StdEncoding.Decode(b, body)
		if err != nil {
			return nil, refuse(http.StatusBadRequest, "body is not valid base64: %v", err)
		}
		body = b[:n]
	}
	switch enc := strings.ToLower(strings.TrimSpace(header(req, "Content-Encoding"))); enc {
	case "", "identity":
		return body, nil
	case "gzip", "x-gzip":
		return gunzip(body)
	default:
		return nil, refuse(http.StatusUnsupportedMediaType, "content encoding %q is not supported: send gzip or none", enc)
	}
}

// checkBodySize refuses a body that cannot be within beacon.MaxBatchBytes before anything reads
// it (API Gateway takes up to 10 MB). A gzip stream is never much smaller than what it holds when
// that is larger than it: deflate's worst case adds 5 bytes per 16 KB block, and the header 18.
func checkBodySize(req events.APIGatewayV2HTTPRequest, body []byte) error {
	size := len(body)
	if req.IsBase64Encoded {
		size = base64.StdEncoding.DecodedLen(size)
	}
	if size > beacon.MaxBatchBytes+beacon.MaxBatchBytes/1024+64 { // room for gzip's overhead
		return refuse(http.StatusRequestEntityTooLarge, "body is %d bytes; the limit is %d bytes per batch", size, beacon.MaxBatchBytes)
	}
	return nil
}

func gunzip(body []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "body is not valid gzip: %v", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, beacon.MaxBatchBytes+1))
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "body is not valid gzip: %v", err)
	}
	if len(out) > beacon.MaxBatchBytes {
		return nil, refuse(http.StatusRequestEntityTooLarge, "body is more than %d bytes decompressed", beacon.MaxBatchBytes)
	}
	return out, nil
}

// basicAuthUser returns the user name of an HTTP Basic Authorization header ("" when there is no
// such header): Segment's SDKs send the write key as user name with an empty password.
func basicAuthUser(v string) (string, error) {
	scheme, cred, _ := strings.Cut(strings.TrimSpace(v), " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", nil
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return "", refuse(http.StatusUnauthorized, "authorization header is not valid basic auth: %v", err)
	}
	user, _, _ := strings.Cut(string(b), ":")
	return user, nil
}

// header reads a request header. API Gateway gives header names in lower case; other hosts may not.
func header(req events.APIGatewayV2HTTPRequest, name string) string {
	if v, ok := req.Headers[strings.ToLower(name)]; ok {
		return v
	}
	for k, v := range req.Headers {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}
