package main

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// getReq builds a GET request as API Gateway hands it over for route (e.g. "/v1/pixel/{type}");
// headers come as name, value pairs.
func getReq(route, path, rawQuery string, headers ...string) events.APIGatewayV2HTTPRequest {
	req := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "GET " + route, RawPath: path, RawQueryString: rawQuery,
		Headers: map[string]string{},
	}
	req.RequestContext.HTTP.Method = "GET"
	req.RequestContext.HTTP.Path = path
	req.RequestContext.Stage = "$default"
	if typ, ok := strings.CutPrefix(path, "/v1/pixel/"); ok {
		req.PathParameters = map[string]string{"type": typ}
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Headers[headers[i]] = headers[i+1]
	}
	return req
}

func TestTrackerIsSmall(t *testing.T) {
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	require.NoError(t, err)
	_, err = zw.Write(trackerJS)
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	assert.Less(t, b.Len(), 5120, "t.js is %d bytes gzipped; the budget is 5 KB", b.Len())
	assert.Less(t, len(tracker.gzipped), 5120, "served t.js is %d bytes gzipped", len(tracker.gzipped))
	assert.Contains(t, string(trackerJS), `name: 'dcrm.js'`)
}

func TestServeScript(t *testing.T) {
	h, _, st := newHandler()

	plain := answer(t, h, getReq("/t.js", "/t.js", ""))
	assert.Equal(t, 200, plain.StatusCode)
	assert.Equal(t, "application/javascript; charset=utf-8", plain.Headers["Content-Type"])
	assert.Equal(t, "public, max-age=3600", plain.Headers["Cache-Control"])
	assert.Equal(t, "Accept-Encoding", plain.Headers["Vary"])
	assert.False(t, plain.IsBase64Encoded)
	assert.Empty(t, plain.Headers["Content-Encoding"])
	assert.Equal(t, string(trackerJS), plain.Body)
	etag := plain.Headers["ETag"]
	require.Regexp(t, `^"[0-9a-f]{24}"$`, etag)

	zipped := answer(t, h, getReq("/t.js", "/t.js", "", "accept-encoding", "gzip, deflate, br"))
	assert.Equal(t, 200, zipped.StatusCode)
	assert.Equal(t, "gzip", zipped.Headers["Content-Encoding"])
	assert.Equal(t, etag, zipped.Headers["ETag"])
	require.True(t, zipped.IsBase64Encoded, "binary bodies go to API Gateway in base64")
	raw, err := base64.StdEncoding.DecodeString(zipped.Body)
	require.NoError(t, err)
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	require.NoError(t, err)
	js, err := io.ReadAll(zr)
	require.NoError(t, err)
	assert.Equal(t, trackerJS, js)

	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		resp := answer(t, h, getReq("/t.js", "/t.js", "", "if-none-match", inm, "accept-encoding", "gzip"))
		assert.Equal(t, 304, resp.StatusCode, "If-None-Match: %s", inm)
		assert.Empty(t, resp.Body)
		assert.Equal(t, etag, resp.Headers["ETag"])
		assert.Equal(t, "public, max-age=3600", resp.Headers["Cache-Control"])
	}
	stale := answer(t, h, getReq("/t.js", "/t.js", "", "if-none-match", `"0123"`))
	assert.Equal(t, 200, stale.StatusCode)

	// A stage in the path and a trailing slash still find the script.
	staged := getReq("/t.js", "/prod/t.js/", "")
	staged.RequestContext.Stage = "prod"
	resp := answer(t, h, staged)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, string(trackerJS), resp.Body)

	assert.Empty(t, st.events)
}

func TestAcceptsGzip(t *testing.T) {
	for v, want := range map[string]bool{
		"":                       false,
		"gzip":                   true,
		"GZIP":                   true,
		"deflate, gzip;q=0.5":    true,
		"gzip;q=0":               false,
		"gzip; q=0.0, br":        false,
		"br, *":                  true,
		"identity":               false,
		"x-gzip":                 true,
		"gzipped":                false,
		"deflate;q=1, gzip;q=1 ": true,
	} {
		assert.Equal(t, want, acceptsGzip(v), "Accept-Encoding: %q", v)
	}
}
