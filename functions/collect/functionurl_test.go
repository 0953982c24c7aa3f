package main

import (
	"encoding/base64"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// asFunctionURL is req as a Lambda function URL hands it over (infra's beaconFunctionUrl): the
// same payload format 2.0, but one "$default" route, so no route key or path parameters to go by.
func asFunctionURL(req events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPRequest {
	req.RouteKey, req.PathParameters, req.RequestContext.Stage = "$default", nil, "$default"
	return req
}

// Every collection route answers through collect's function URL as through the HTTP API.
func TestFunctionURLServesEveryCollectionRoute(t *testing.T) {
	h, _, st := newHandler()

	resp := answer(t, h, asFunctionURL(post("/v1/batch", `{"batch":[{"type":"page","anonymousId":"a1"},{"type":"track","anonymousId":"a1","event":"E"}]}`,
		"content-type", "text/plain;charset=UTF-8", "authorization", basic(browserKey), "origin", "https://shop.example")))
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	assert.Equal(t, "https://shop.example", resp.Headers["Access-Control-Allow-Origin"])
	require.Len(t, st.events, 2)

	preflight := post("/v1/batch", "", "origin", "https://shop.example")
	preflight.RequestContext.HTTP.Method = "OPTIONS"
	resp = answer(t, h, asFunctionURL(preflight))
	assert.Equal(t, 204, resp.StatusCode)
	assert.Equal(t, "https://shop.example", resp.Headers["Access-Control-Allow-Origin"])

	resp = answer(t, h, asFunctionURL(getReq("/t.js", "/t.js", "")))
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, string(trackerJS), resp.Body)

	data := base64.RawURLEncoding.EncodeToString([]byte(`{"writeKey":"` + browserKey + `","anonymousId":"a2","name":"Home"}`))
	resp = answer(t, h, asFunctionURL(getReq("/v1/pixel/{type}", "/v1/pixel/page", "data="+data, "origin", "https://shop.example")))
	assert.Equal(t, 200, resp.StatusCode, resp.Body)
	require.Len(t, st.events, 3)
	assert.Equal(t, "a2", st.events[2].AnonymousID)

	resp = answer(t, h, asFunctionURL(post("/v1/nowhere", `{}`, "authorization", basic(browserKey))))
	assert.Equal(t, 404, resp.StatusCode)
}
