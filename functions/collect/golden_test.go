package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current behaviour")

// samples are API Gateway HTTP API (payload format 2.0) requests as SDKs and browsers send them.
const samples = "../../events/apigw"

// outcome is what one request leads to: the response and the events put on the stream.
type outcome struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
	Events  []beacon.Event    `json:"events"`
}

// readSample decodes a sample request, refusing fields that payload format 2.0 does not have.
func readSample(t testing.TB, path string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var req events.APIGatewayV2HTTPRequest
	require.NoError(t, dec.Decode(&req), "%s is not an API Gateway v2 HTTP request", path)
	require.Equal(t, "2.0", req.Version, "%s: payload format", path)
	return req
}

func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(samples, "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no sample requests in %s", samples)
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			req := readSample(t, file)
			h, _, st := newHandler()
			resp := answer(t, h, req)
			require.True(t, json.Valid([]byte(resp.Body)), "body %q is not JSON", resp.Body)
			got, err := json.MarshalIndent(outcome{resp.StatusCode, resp.Headers, json.RawMessage(resp.Body), st.events}, "", "  ")
			require.NoError(t, err)
			got = append(got, '\n')

			golden := filepath.Join("testdata", "golden", name+".json")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, got, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "run go test ./functions/collect -run TestGolden -update to create it")
			assert.Equal(t, string(want), string(got))
		})
	}
}
