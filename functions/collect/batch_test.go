package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/beaconstream"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
	"github.com/dcrm-project/dcrm/shared/pii"
)

// fakeQueue keeps what is sent to the failed-events queue.
type fakeQueue struct {
	sent []message.FailedEvent
	err  error
}

func (f *fakeQueue) Send(_ context.Context, m message.Message) error {
	if f.err != nil {
		return f.err
	}
	f.sent = append(f.sent, m.(message.FailedEvent))
	return nil
}

type batchResponse struct {
	Success  bool   `json:"success"`
	Error    string `json:"error"`
	Accepted int    `json:"accepted"`
	Rejected []struct {
		Index     int    `json:"index"`
		MessageID string `json:"messageId"`
		Reason    string `json:"reason"`
	} `json:"rejected"`
}

func TestBatchAcceptsItsValidEvents(t *testing.T) {
	big := `{"type":"page","userId":"u","messageId":"m-big","name":"` + strings.Repeat("x", beacon.MaxEventBytes) + `"}`
	body := `{"batch":[` +
		`{"type":"track","userId":"u","event":"A","messageId":"m0"},` +
		`{"type":"track","userId":"u","messageId":"m1","traits":{"email":"Ada@Example.com"}},` +
		big + `,` +
		`{"type":"page","anonymousId":"a","messageId":"m3"},` +
		`{"type":"merge","userId":"u"},` +
		`{"type":"alias","userId":"u","previousId":"a","messageId":"m5"}]}`
	h, _, st := newHandler()
	q := &fakeQueue{}
	h.failed = q
	req := post("/v1/batch", body, "authorization", basic(serverKey))
	req.RequestContext.RequestID = "req-1"
	resp := answer(t, h, req)
	require.Equal(t, 200, resp.StatusCode, resp.Body)

	var got batchResponse
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &got))
	assert.True(t, got.Success)
	assert.Equal(t, 3, got.Accepted)
	require.Len(t, got.Rejected, 3)
	assert.Equal(t, 1, got.Rejected[0].Index)
	assert.Equal(t, "m1", got.Rejected[0].MessageID)
	assert.Equal(t, "track needs an event name (event)", got.Rejected[0].Reason)
	assert.Equal(t, 2, got.Rejected[1].Index)
	assert.Equal(t, fmt.Sprintf("event is %d bytes; the limit is 32768 bytes", len(big)), got.Rejected[1].Reason)
	assert.Equal(t, 4, got.Rejected[2].Index)
	assert.Empty(t, got.Rejected[2].MessageID)
	assert.Contains(t, resp.Body, `{"index":4,"reason":"type \"merge\" is not supported`, "no messageId key when none was sent")

	var ids []string
	for _, e := range st.events {
		ids = append(ids, e.MessageID)
	}
	assert.Equal(t, []string{"m0", "m3", "m5"}, ids, "the valid events go on the stream, in order")

	require.Len(t, q.sent, 1, "the refused events are set aside together")
	f := q.sent[0]
	require.NoError(t, f.Validate())
	assert.Equal(t, "collect", f.Stage)
	assert.Equal(t, "source src_backend, request req-1: 3 of the batch's events refused; first: batch[1] (messageId m1): track needs an event name (event)", f.Reason)
	assert.Equal(t, clock, f.FailedAt)
	hash := sha256.Sum256([]byte("ada@example.com"))
	assert.JSONEq(t, `{"rejected":[
		{"index":1,"messageId":"m1","reason":"track needs an event name (event)",
		 "event":{"type":"track","userId":"u","messageId":"m1","traits":{"email":"sha256:`+hex.EncodeToString(hash[:])+`"}}},
		{"index":2,"reason":"event is `+fmt.Sprint(len(big))+` bytes; the limit is 32768 bytes","event":`+big+`},
		{"index":4,"reason":"type \"merge\" is not supported (track, page, screen, identify, group or alias)","event":{"type":"merge","userId":"u"}}]}`,
		string(f.Data), "each refused event is kept as sent, its email hashed as on the stream")
}

func TestBatchWithNoValidEventIsRefused(t *testing.T) {
	h, _, st := newHandler()
	q := &fakeQueue{}
	h.failed = q
	for _, tc := range []struct {
		body, error string
		refused     int
	}{
		{`{"batch":[{"type":"track","userId":"u"}]}`, "batch[0]: track needs an event name (event)", 1},
		{`{"batch":[{"type":"track","userId":"u"},"x",{"type":"group","userId":"u"}]}`,
			"all 3 events of the batch were refused; first: batch[0]: track needs an event name (event)", 3},
	} {
		q.sent = nil
		resp := answer(t, h, post("/v1/batch", tc.body, "authorization", basic(serverKey)))
		require.Equal(t, 400, resp.StatusCode, resp.Body)
		var got batchResponse
		require.NoError(t, json.Unmarshal([]byte(resp.Body), &got))
		assert.False(t, got.Success)
		assert.Equal(t, tc.error, got.Error)
		assert.Len(t, got.Rejected, tc.refused)
		require.Len(t, q.sent, 1)
		assert.Contains(t, q.sent[0].Reason, fmt.Sprintf("%d of the batch's events refused", tc.refused))
	}
	assert.Empty(t, st.events)

	// A single call is one event: refused whole, as before, and not queued.
	q.sent = nil
	resp := answer(t, h, post("/v1/track", `{"userId":"u"}`, "authorization", basic(serverKey)))
	assert.Equal(t, 400, resp.StatusCode)
	assert.Equal(t, "track needs an event name (event)", errorBody(t, resp))
	assert.Empty(t, q.sent)
}

func TestBatchLeftForARetryIsNotSetAside(t *testing.T) {
	h, _, st := newHandler()
	q := &fakeQueue{}
	h.failed = q
	st.err = fmt.Errorf("put records: %w", beaconstream.ErrUnavailable)
	resp := answer(t, h, post("/v1/batch",
		`{"batch":[{"type":"track","userId":"u","event":"E"},{"type":"track","userId":"u"}]}`, "authorization", basic(serverKey)))
	assert.Equal(t, 503, resp.StatusCode)
	assert.Empty(t, q.sent, "the sender retries the whole batch; its refusals are reported then")
}

func TestQueueOutageDoesNotLoseTheValidEvents(t *testing.T) {
	h, _, st := newHandler()
	h.failed = &fakeQueue{err: errors.New("queue down")}
	resp := answer(t, h, post("/v1/batch",
		`{"batch":[{"type":"track","userId":"u","event":"E"},{"type":"track","userId":"u"}]}`, "authorization", basic(serverKey)))
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, resp.Body, `"accepted":1`)
	assert.Len(t, st.events, 1)
}

// The failed-events queue of the real wiring (setup) on the local SQS server.
func TestRefusedEventsReachTheFailedEventsQueue(t *testing.T) {
	ctx := context.Background()
	e := localawstest.Reachable(t)
	h, env := wiredHandler(t, 1)
	queue := env[topology.Default().EnvVar(topology.FailedQueue)]

	// 500 KB of two-byte invalid events: refused whole, nothing queued (the first message read
	// below is the next request's).
	tiny := answer(t, h, post("/v1/batch", `{"batch":[`+strings.Repeat("1,", 255_990)+`1]}`, "authorization", basic(serverKey)))
	require.Equal(t, 413, tiny.StatusCode)
	assert.Less(t, len(tiny.Body), 200)

	resp := answer(t, h, post("/v1/batch",
		`{"batch":[{"type":"page","userId":"u"},{"type":"group","userId":"u","messageId":"g-1"}]}`, "authorization", basic(serverKey)))
	require.Equal(t, 200, resp.StatusCode, resp.Body)

	q := messagequeue.New(e.SQSClient(), queue)
	var got []messagequeue.Delivery
	require.Eventually(t, func() bool {
		ds, err := q.Receive(ctx, 10, 0)
		require.NoError(t, err)
		got = append(got, ds...)
		return len(got) >= 1
	}, 10*time.Second, 50*time.Millisecond)
	require.Len(t, got, 1)
	assert.Equal(t, message.TypeFailedEvent, got[0].Type)
	var f message.FailedEvent
	require.NoError(t, json.Unmarshal(got[0].Body, &f))
	assert.Equal(t, "collect", f.Stage)
	assert.Contains(t, f.Reason, "batch[1] (messageId g-1): group needs a group id (groupId)")
	assert.JSONEq(t, `{"rejected":[{"index":1,"messageId":"g-1","reason":"group needs a group id (groupId)",
		"event":{"type":"group","userId":"u","messageId":"g-1"}}]}`, string(f.Data))

	// The largest batch of refusals: every one of them on the queue, in a few messages.
	body := `{"batch":[{"type":"page","userId":"u"},` + strings.Repeat(`{"type":"track","userId":"u"},`, beacon.MaxBatchEvents-2) + `{"type":"track","userId":"u"}]}`
	resp = answer(t, h, post("/v1/batch", body, "authorization", basic(serverKey)))
	require.Equal(t, 200, resp.StatusCode)
	assert.Less(t, len(resp.Body), 8<<10, "response bytes")
	indexes := map[int]bool{}
	var messages int
	require.Eventually(t, func() bool {
		ds, err := q.Receive(ctx, 10, 0)
		require.NoError(t, err)
		for _, d := range ds {
			messages++
			var f message.FailedEvent
			require.NoError(t, json.Unmarshal(d.Body, &f))
			var data struct{ Rejected []refusedEntry }
			require.NoError(t, json.Unmarshal(f.Data, &data))
			for _, r := range data.Rejected {
				indexes[r.Index] = true
			}
		}
		return len(indexes) >= beacon.MaxBatchEvents-1
	}, 10*time.Second, 50*time.Millisecond)
	assert.Len(t, indexes, beacon.MaxBatchEvents-1, "every refused event is on the queue")
	assert.LessOrEqual(t, messages, 3, "in a few messages")
}

func TestPreflight(t *testing.T) {
	h, _, st := newHandler()
	options := func(path string, headers ...string) events.APIGatewayV2HTTPRequest {
		req := post(path, "", headers...)
		req.RouteKey = "OPTIONS " + path
		req.RequestContext.HTTP.Method = "OPTIONS"
		return req
	}
	for _, path := range []string{"/v1/track", "/v1/page", "/v1/screen", "/v1/identify", "/v1/group", "/v1/alias", "/v1/batch"} {
		resp := answer(t, h, options(path, "origin", "https://anywhere.example",
			"access-control-request-method", "POST", "access-control-request-headers", "content-type,authorization"))
		assert.Equal(t, 204, resp.StatusCode, path)
		assert.Empty(t, resp.Body)
		assert.Equal(t, "https://anywhere.example", resp.Headers["Access-Control-Allow-Origin"])
		assert.Equal(t, "POST", resp.Headers["Access-Control-Allow-Methods"])
		assert.Equal(t, "Content-Type, Authorization, Content-Encoding", resp.Headers["Access-Control-Allow-Headers"])
		assert.Equal(t, "7200", resp.Headers["Access-Control-Max-Age"])
		assert.Contains(t, resp.Headers["Vary"], "Origin")
	}
	assert.Empty(t, st.events)

	// No origin: still 204, without an origin to allow.
	resp := answer(t, h, options("/v1/track"))
	assert.Equal(t, 204, resp.StatusCode)
	assert.NotContains(t, resp.Headers, "Access-Control-Allow-Origin")

	// An unknown path is still a 404.
	resp = answer(t, h, options("/v1/nothing", "origin", "https://shop.example"))
	assert.Equal(t, 404, resp.StatusCode)

	// The POST that follows still enforces the source's origins.
	resp = answer(t, h, post("/v1/track", `{"anonymousId":"a1","event":"E"}`,
		"authorization", basic(browserKey), "origin", "https://anywhere.example"))
	assert.Equal(t, 403, resp.StatusCode)
}

// A refused event is redacted before it is set aside, even from a source that keeps raw personal
// data on the stream: the queue is read by people. Its reason is too, when it quotes an address.
func TestRefusedEventsAreRedactedWhateverTheSource(t *testing.T) {
	h, keys, _ := newHandler()
	keep := backend
	keep.KeepRawPII = true
	keys.sources[serverKey] = keep
	q := &fakeQueue{}
	h.failed = q
	body := `{"batch":[{"type":"track","userId":"u","event":"A","messageId":"m0"},` +
		`{"type":"track","userId":"u","messageId":"m1","traits":{"Email":"Ada@Example.com","contact":{"phone":"+44 7700 900123"}},"properties":{"e_mail":"bob@example.org"}},` +
		`{"type":"ann@example.com","userId":"u","messageId":"m2"}]}`
	resp := answer(t, h, post("/v1/batch", body, "authorization", basic(serverKey)))
	require.Equal(t, 200, resp.StatusCode, resp.Body)
	require.Len(t, q.sent, 1, "the batch's refusals together")
	f := q.sent[0]
	for _, raw := range []string{"Ada@", "7700", "bob@", "ann@"} {
		assert.NotContains(t, string(f.Data)+f.Reason, raw, "a failed event keeps no raw personal data")
	}
	assert.Contains(t, string(f.Data), `"Email":"sha256:`+pii.Hash("ada@example.com")+`"`)
	assert.Contains(t, string(f.Data), `type \"sha256:`+pii.Hash("ann@example.com")+`\" is not supported`)
}

// countingQueue counts the sends to the failed-events queue and keeps the last message.
type countingQueue struct {
	sends int
	last  message.FailedEvent
}

func (c *countingQueue) Send(_ context.Context, m message.Message) error {
	c.sends, c.last = c.sends+1, m.(message.FailedEvent)
	return nil
}

// A 500 KB batch of two-byte invalid events was 255,990 refusals: as many queue sends and a 17 MB
// answer. It is now refused whole before any event is looked at.
func TestTinyInvalidEventsDoNotFanOut(t *testing.T) {
	body := `{"batch":[` + strings.Repeat("1,", 255_990) + `1]}`
	require.LessOrEqual(t, len(body), beacon.MaxBatchBytes)
	h, _, st := newHandler()
	q := &countingQueue{}
	h.failed = q
	resp := answer(t, h, post("/v1/batch", body, "authorization", basic(serverKey)))
	assert.Equal(t, 413, resp.StatusCode)
	assert.Equal(t, "batch has more than 2500 events: send them in several batches", errorBody(t, resp))
	assert.Zero(t, q.sends, "queue sends")
	assert.Less(t, len(resp.Body), 200, "response bytes")
	assert.Empty(t, st.events)
}

// The largest batch of invalid events the endpoint reads costs a few queue sends and an answer of
// a few kilobytes.
func TestAFullBatchOfInvalidEventsIsBounded(t *testing.T) {
	body := `{"batch":[` + strings.Repeat(`{"type":"track","userId":"u"},`, beacon.MaxBatchEvents-1) + `{"type":"track","userId":"u"}]}`
	h, _, _ := newHandler()
	q := &countingQueue{}
	h.failed = q
	resp := answer(t, h, post("/v1/batch", body, "authorization", basic(serverKey)))
	require.Equal(t, 400, resp.StatusCode)
	var got struct {
		batchResponse
		RejectedCount int `json:"rejectedCount"`
	}
	require.NoError(t, json.Unmarshal([]byte(resp.Body), &got))
	assert.Equal(t, beacon.MaxBatchEvents, got.RejectedCount)
	assert.Len(t, got.Rejected, 100, "the first 100 are listed")
	assert.Equal(t, 99, got.Rejected[99].Index)
	assert.Less(t, len(resp.Body), 8<<10, "response bytes")
	assert.LessOrEqual(t, q.sends, 3, "queue sends")
	assert.Contains(t, q.last.Reason, "2500 of the batch's events refused (part ")
}

// Refused events fill failed-events messages up to their size, never past it, whatever they hold.
func TestRefusedPartsStayWithinAMessage(t *testing.T) {
	angled := `{"type":"track","userId":"u","p":"` + strings.Repeat("<", beacon.MaxEventBytes-60) + `"}`
	var rejected []beacon.Rejected
	for i := range 20 {
		rejected = append(rejected, beacon.Rejected{Index: i, Err: &beacon.InvalidError{Reason: "track needs an event name (event)", Index: i}, Raw: []byte(angled)})
	}
	parts := refusedParts(rejected)
	assert.Equal(t, 7, len(parts), "three events of 32 KB per 128 KB message")
	for _, p := range parts {
		assert.LessOrEqual(t, len(p.data), message.MaxFailedData)
		assert.True(t, json.Valid(p.data))
		assert.NotContains(t, string(p.data), `\u003c`, "the event is kept as sent")
	}
	checkRefusedParts(t, rejected)
}
