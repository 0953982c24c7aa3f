package lambdahost

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The next invocation goes out with its length, not chunked, whatever its size.
func TestNextSendsThePayloadWithItsLength(t *testing.T) {
	e := &environment{fn: &Function{arn: "arn:aws:lambda:us-east-1:000000000000:function:f"},
		handoff: make(chan *invocation), ready: make(chan struct{}), stop: make(chan struct{})}
	srv := httptest.NewServer(e.routes())
	defer srv.Close()
	payload := []byte(`{"body":"` + strings.Repeat("x", 100_000) + `"}`)
	go func() {
		e.handoff <- &invocation{id: "req-1", payload: payload, deadline: time.Now().Add(time.Second), result: make(chan result, 1)}
	}()
	resp, err := http.Get(srv.URL + "/2018-06-01/runtime/invocation/next")
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, payload, got)
	assert.Equal(t, int64(len(payload)), resp.ContentLength)
	assert.Empty(t, resp.TransferEncoding, "not chunked")
	assert.Equal(t, "req-1", resp.Header.Get(headerRequestID))
}

// countingSink records each write it gets.
type countingSink struct{ writes []string }

func (c *countingSink) Write(p []byte) (int, error) {
	c.writes = append(c.writes, string(p))
	return len(p), nil
}

func TestPrefixWriterWritesWholeLinesAtOnce(t *testing.T) {
	sink := &countingSink{}
	w := PrefixWriter(sink, "[stitch] ")
	_, _ = w.Write([]byte("END RequestId: 1\nREPORT RequestId: 1\tDuration: 2.00 ms\npart"))
	assert.Equal(t, []string{"[stitch] END RequestId: 1\n[stitch] REPORT RequestId: 1\tDuration: 2.00 ms\n"}, sink.writes,
		"the lines of one write go out in one write; the partial line waits")
	_, _ = w.Write([]byte("ial line\n"))
	assert.Equal(t, "[stitch] partial line\n", sink.writes[1])
	_, _ = w.Write([]byte("no end yet"))
	assert.Len(t, sink.writes, 2)
}

// Lambda's END and REPORT lines of an invocation reach the log in one write.
func TestReportWritesEndAndReportTogether(t *testing.T) {
	sink := &countingSink{}
	e := &environment{fn: &Function{spec: Spec{Memory: 128}}, out: &lineWriter{dst: sink}}
	e.report("req-1", time.Now())
	require.Len(t, sink.writes, 1)
	lines := strings.Split(strings.TrimSuffix(sink.writes[0], "\n"), "\n")
	require.Len(t, lines, 2)
	assert.Equal(t, "END RequestId: req-1", lines[0])
	assert.True(t, strings.HasPrefix(lines[1], "REPORT RequestId: req-1\tDuration: "), lines[1])
	assert.True(t, bytes.HasSuffix([]byte(lines[1]), []byte("\tMemory Size: 128 MB")), lines[1])
}
