package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	_ "embed" // the tracker
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// The tracker sites load with the snippet (see README.md in this folder, "Tracker"): plain JavaScript, served as is.
//
//go:embed tracker/t.js
var trackerJS []byte

// tracker is the script as served: its bytes, gzipped once, and the entity tag of both.
var tracker = newScript(trackerJS)

// scriptMaxAge is how long browsers and CDNs may keep the tracker without asking again.
const scriptMaxAge = 3600

type script struct {
	plain, gzipped []byte
	etag           string
}

func newScript(js []byte) script {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression) // the level is valid
	_, _ = zw.Write(js)                                      // writes to a bytes.Buffer do not fail
	_ = zw.Close()
	sum := sha256.Sum256(js)
	return script{plain: js, gzipped: buf.Bytes(), etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// isScript tells whether the request is GET /t.js.
func isScript(req events.APIGatewayV2HTTPRequest) bool {
	method, path := getRoute(req)
	return method == http.MethodGet && path == "/t.js"
}

// serveScript answers GET /t.js: cacheable for an hour, revalidated by ETag (304), gzipped when the
// browser accepts it (base64 body, as API Gateway wants binary bodies).
func serveScript(req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	h := map[string]string{
		"Content-Type":                 "application/javascript; charset=utf-8",
		"Cache-Control":                "public, max-age=" + strconv.Itoa(scriptMaxAge),
		"ETag":                         tracker.etag,
		"Vary":                         "Accept-Encoding",
		"X-Content-Type-Options":       "nosniff",
		"Cross-Origin-Resource-Policy": "cross-origin",
	}
	if etagMatches(header(req, "If-None-Match"), tracker.etag) {
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusNotModified, Headers: h}
	}
	if acceptsGzip(header(req, "Accept-Encoding")) {
		h["Content-Encoding"] = "gzip"
		return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK, Headers: h,
			Body: base64.StdEncoding.EncodeToString(tracker.gzipped), IsBase64Encoded: true}
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK, Headers: h, Body: string(tracker.plain)}
}

// etagMatches reads If-None-Match: "*" or a list of entity tags, weak ones compared as strong
// (RFC 9110 uses the weak comparison for If-None-Match).
func etagMatches(ifNoneMatch, etag string) bool {
	for _, t := range strings.Split(ifNoneMatch, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// acceptsGzip reads Accept-Encoding: gzip (or x-gzip, or *) with a quality above zero.
func acceptsGzip(v string) bool {
	for _, part := range strings.Split(v, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.ToLower(strings.TrimSpace(coding))
		if coding != "gzip" && coding != "x-gzip" && coding != "*" {
			continue
		}
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			if k, val, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
					q = f
				}
			}
		}
		return q > 0
	}
	return false
}

// getRoute is the method and path of a request, without the stage and a trailing slash. API Gateway
// gives the path with the stage in front of it (unless the stage is $default).
func getRoute(req events.APIGatewayV2HTTPRequest) (method, path string) {
	method, path = req.RequestContext.HTTP.Method, req.RawPath
	if path == "" {
		path = req.RequestContext.HTTP.Path
	}
	if st := req.RequestContext.Stage; st != "" && st != "$default" {
		path = strings.TrimPrefix(path, "/"+st)
	}
	if m, _, ok := strings.Cut(req.RouteKey, " "); ok && method == "" {
		method = m
	}
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	return strings.ToUpper(method), path
}
