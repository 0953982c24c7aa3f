package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// eventSeeds are HTTP API events: the samples in events/apigw and the corners of decodeEvent.
func eventSeeds(t testing.TB) [][]byte {
	files, err := filepath.Glob("../../events/apigw/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	var seeds [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		seeds = append(seeds, b)
	}
	return append(seeds,
		[]byte(`{"rawPath":"/v1/track","body":"{\"a\":\"\\u00e9\\ud83d\\ude00 \\ud800 \\/\\b\\f\\n\\r\\t\\\\ <&>\"}","isBase64Encoded":false}`),
		[]byte("{\"body\":\"caf\xc3\xa9 \xff\xfe \\ud800\\u0041 \\udc00\"}"),
		[]byte(`{"body":"first","Body":"second","BODY":null}`),
		[]byte(`{"b\u006fdy":"escaped name","headers":{"content-type":"text/plain"}}`),
		[]byte(`{"body":12}`),
		[]byte(`{"body":"a","body":{}}`),
		[]byte(`{"headers":{"a":1}}`),
		[]byte(` {"body":""} `),
		[]byte(`null`),
		[]byte(`[1]`),
		[]byte(`{"body":"unterminated`),
		[]byte(``),
	)
}

// checkDecodeEvent compares decodeEvent with encoding/json decoding the same event.
func checkDecodeEvent(t *testing.T, payload []byte) {
	var want events.APIGatewayV2HTTPRequest
	wantErr := json.Unmarshal(payload, &want)
	got, body, err := decodeEvent(payload)
	if wantErr != nil {
		assert.Error(t, err, "%q", payload)
		return
	}
	if string(payload) == "null" {
		assert.Error(t, err, "null is no event")
		return
	}
	require.NoError(t, err, "%q", payload)
	assert.Empty(t, got.Body, "the body comes apart")
	got.Body = string(body)
	assert.Equal(t, want, got, "%q", payload)
}

func TestDecodeEventReadsAsEncodingJSON(t *testing.T) {
	for _, p := range eventSeeds(t) {
		checkDecodeEvent(t, p)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, p := range eventSeeds(f) {
		f.Add(p)
	}
	f.Fuzz(checkDecodeEvent)
}

// The runtime's entry answers as aws-lambda-go's reflection over handle does, byte for byte.
func TestInvocationAnswersAsTheReflectedHandler(t *testing.T) {
	ctx := context.Background()
	for _, p := range eventSeeds(t) {
		var probe events.APIGatewayV2HTTPRequest
		if json.Unmarshal(p, &probe) != nil || string(p) == "null" {
			continue
		}
		h, _, _ := newHandler()
		want, wantErr := lambda.NewHandler(h.handle).Invoke(ctx, p)
		h, _, _ = newHandler()
		got, err := invocations(h).Invoke(ctx, p)
		require.NoError(t, wantErr)
		require.NoError(t, err)
		assert.JSONEq(t, string(want), string(got), "%s", p)
		assert.Equal(t, string(want), string(got))
	}
}
