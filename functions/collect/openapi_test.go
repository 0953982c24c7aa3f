package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/openapi"
	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/beaconstream"
)

// The collection API is held to its OpenAPI document (events/openapi/openapi.yaml): every answer a
// test reads goes through answer (or check), which checks it against the document, and a run of
// every test fails when a response the document describes was produced by none.

// produced are the (route, status) pairs the tests produced.
var produced openapi.Coverage

func TestMain(m *testing.M) {
	routes := map[string]bool{}
	for _, r := range topology.Default().Routes {
		routes[r.Method+" "+r.Path] = r.Function == "collect"
	}
	os.Exit(produced.Run(m, func(op openapi.Operation) bool { return routes[op.Method+" "+op.Path] }))
}

// answer runs the handler on a request and holds the answer to the document (see check).
func answer(t testing.TB, h *handler, req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	resp, err := h.handle(context.Background(), req)
	require.NoError(t, err, "a refusal is a response, not a Lambda error")
	check(t, req, resp)
	return resp
}

// check holds an answer to the document: for the route API Gateway would have matched, a
// documented status, headers and body, and the request's body when the call was taken whole.
// Requests API Gateway would not route here (another method, another path) are not in the
// document and not checked. It reports with Errorf, so a server's goroutine may call it.
func check(t testing.TB, req events.APIGatewayV2HTTPRequest, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	method, path, ok := strings.Cut(req.RouteKey, " ")
	if !ok { // $default: the route is the request's method and path
		method, path = getRoute(req)
	}
	op, err := openapi.Match(method, path)
	if errors.Is(err, openapi.ErrUndocumented) {
		return
	}
	if err != nil {
		t.Errorf("%v", err)
		return
	}
	produced.Add(op.Method, op.Path, resp.StatusCode)
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			t.Errorf("%s %s: body is not base64: %v", op.Method, op.Path, err)
		}
	}
	if err := openapi.ValidateResponse(op.Method, op.Path, resp.StatusCode, body); err != nil {
		t.Errorf("%v", err)
	}
	if err := openapi.ValidateHeaders(op.Method, op.Path, resp.StatusCode, resp.Headers); err != nil {
		t.Errorf("%v", err)
	}
	if op.Method == http.MethodPost && resp.StatusCode == http.StatusOK && resp.Body == `{"success":true}` {
		in, err := readBody(req, []byte(req.Body))
		if err != nil {
			t.Errorf("%s %s: a taken body cannot be read again: %v", op.Method, op.Path, err)
			return
		}
		if err := openapi.ValidateRequest(op.Method, op.Path, header(req, "Content-Type"), in); err != nil {
			t.Errorf("the document refuses a call the endpoint took: %v", err)
		}
	}
}

// Every call answers every status the document gives it: taken, refused for its body, its key, its
// origin or its content type, and failing when the stream or the key table does.
func TestEveryCallAnswersAsDocumented(t *testing.T) {
	valid := map[string]string{
		"track":    `{"anonymousId":"a1","event":"Clicked"}`,
		"page":     `{"anonymousId":"a1","name":"Home"}`,
		"screen":   `{"anonymousId":"a1","name":"Basket"}`,
		"identify": `{"userId":"u1","traits":{"plan":"gold"}}`,
		"group":    `{"userId":"u1","groupId":"acme"}`,
		"alias":    `{"previousId":"a1","userId":"u1"}`,
		"batch":    `{"batch":[{"type":"track","anonymousId":"a1","event":"Clicked"}]}`,
	}
	require.Len(t, valid, len(topology.CollectionCalls))
	for _, call := range topology.CollectionCalls {
		path := "/v1/" + call
		for _, tc := range []struct {
			name         string
			req          events.APIGatewayV2HTTPRequest
			keys, stream error
			status       int
		}{
			{"taken", post(path, valid[call], "authorization", basic(serverKey)), nil, nil, 200},
			{"not JSON", post(path, `{`, "authorization", basic(serverKey)), nil, nil, 400},
			{"no write key", post(path, valid[call]), nil, nil, 401},
			{"a foreign origin", post(path, valid[call], "authorization", basic(browserKey), "origin", "https://evil.example"), nil, nil, 403},
			{"too large", post(path, `{"anonymousId":"a1","p":"`+strings.Repeat("x", beacon.MaxBatchBytes)+`"}`, "authorization", basic(serverKey)), nil, nil, 413},
			{"multipart", post(path, valid[call], "authorization", basic(serverKey), "content-type", "multipart/form-data; boundary=x"), nil, nil, 415},
			{"stream throttled", post(path, valid[call], "authorization", basic(serverKey)), nil, fmt.Errorf("put: %w", beaconstream.ErrThrottled), 429},
			{"a bug", post(path, valid[call], "authorization", basic(serverKey)), nil, errors.New("encode event: boom"), 500},
			{"key table down", post(path, valid[call], "authorization", basic(serverKey)), errors.New("connection refused"), nil, 503},
		} {
			h, keys, st := newHandler()
			keys.err, st.err = tc.keys, tc.stream
			resp := answer(t, h, tc.req)
			assert.Equal(t, tc.status, resp.StatusCode, "%s, %s: %s", path, tc.name, resp.Body)
		}
	}

	// The pixel answers as a POST would, in a GIF.
	ev := data(base64.StdEncoding, `{"writeKey":"`+browserKey+`","anonymousId":"a1","event":"Opened"}`)
	for _, tc := range []struct {
		stream error
		status int
	}{{fmt.Errorf("put: %w", beaconstream.ErrThrottled), 429}, {errors.New("encode event: boom"), 500}} {
		h, _, st := newHandler()
		st.err = tc.stream
		resp := answer(t, h, pixel("track", ev))
		assert.Equal(t, tc.status, resp.StatusCode)
		assertGIF(t, resp)
	}
}
