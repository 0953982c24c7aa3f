package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/beaconstream"
	"github.com/dcrm-project/dcrm/shared/enrich"
	"github.com/dcrm-project/dcrm/shared/message"
)

// Encodings of a fuzzed body.
const (
	asSent    = iota // body as is
	gzipped64        // gzip, then base64 with isBase64Encoded (as API Gateway hands it over)
	claimGzip        // body as is, labelled gzip: fuzzes the decompressor
)

// FuzzParse feeds arbitrary requests to the request parser and the validator: they never panic,
// and either refuse the input with a 4xx reason or return events that can go on the stream.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join(samples, "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no sample requests in %s: %v", samples, err)
	}
	for _, file := range files {
		req := readSample(f, file)
		body := []byte(req.Body)
		if req.IsBase64Encoded {
			body, _ = base64.StdEncoding.DecodeString(req.Body)
		}
		enc := asSent
		if header(req, "Content-Encoding") == "gzip" {
			enc = claimGzip
		}
		f.Add(req.RawPath, header(req, "Content-Type"), uint8(enc), body)
	}
	for _, s := range []struct {
		path, body string
	}{
		{"/v1/track", `{"writeKey":"k","userId":12345678901234567890,"event":"E","timestamp":"2024-02-29T10:00:00+0200","sentAt":"2024-02-29T10:00:01Z"}`},
		{"/v1/identify", `{"writeKey":"k","anonymousId":1e3,"traits":null,"context":{"a":[1,{"b":null}]}}`},
		{"/v1/page", `{"writeKey":"k","anonymousId":"` + "\u00e9\u00e9" + `","properties":{},"originalTimestamp":"9999-12-31T23:59:59Z","sentAt":"1970-01-01T00:00:00Z"}`},
		{"/v1/batch", `{"writeKey":"k","sentAt":"2024-01-01","batch":[{"type":"track","userId":"u","event":"E"},{"type":"page","anonymousId":"a","writeKey":"k"}]}`},
		{"/v1/batch", `{"batch":[1,"x",null,[],{}]}`},
		{"/v1/track", `{"writeKey":"k","userId":"u","event":"E","timestamp":"9999-12-31T23:59:59Z"}`},
		{"/v1/track", `{"writeKey":"k","userId":"u","event":"E","timestamp":"2024-02-23T12:00:00Z"}`},
		{"/v1/track", `{"writeKey":"k","userId":"u","event":"E","originalTimestamp":"2024-02-20T12:00:00Z","sentAt":"2024-02-28T12:00:00Z"}`},
		{"/v1/batch", `{"batch":[{"type":"screen","anonymousId":"a","name":"S"},{"type":"group","userId":"u","groupId":7},{"type":"alias","previousId":"a","userId":"u"}]}`},
		{"/v1/alias", `{"writeKey":"k","previousId":"a","userId":"u"}`},
		{"/v1/track", `{"userId":"u","event":"E"} {}`},
		{"/v1/track", "\xff\xfe{\"userId\":\"u\"}"},
	} {
		f.Add(s.path, "application/json", uint8(asSent), []byte(s.body))
		f.Add(s.path, "text/plain", uint8(gzipped64), []byte(s.body))
	}

	f.Fuzz(func(t *testing.T, path, contentType string, enc uint8, body []byte) {
		req := events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: "$default", RawPath: path, Body: string(body),
			Headers: map[string]string{"content-type": contentType},
		}
		req.RequestContext.HTTP.Method = "POST"
		switch enc % 3 {
		case gzipped64:
			req.Body, req.IsBase64Encoded = base64.StdEncoding.EncodeToString(gzipped(t, string(body))), true
			req.Headers["content-encoding"] = "gzip"
		case claimGzip:
			req.Headers["content-encoding"] = "gzip"
		}

		c, err := readCall(req, []byte(req.Body))
		if err == nil {
			err = c.readPayload(req, []byte(req.Body))
		}
		if err != nil {
			refused(t, err)
			return
		}
		evs, rejected := c.payload.Split(shop, clock, counter())
		if len(evs)+len(rejected) != c.payload.Len() || c.payload.Len() == 0 {
			t.Fatalf("%d events and %d rejections from a payload of %d", len(evs), len(rejected), c.payload.Len())
		}
		for _, r := range rejected {
			refused(t, r.Err)
		}
		checkRefusedParts(t, rejected)
		// Enrichment reads the events without checking their JSON again (Split validated it).
		edge.Events(evs, enrich.Request{Source: shop, SourceIP: "203.0.113.9", UserAgent: "Mozilla/5.0"})
		for _, e := range evs {
			switch {
			case e.Type != beacon.Track && e.Type != beacon.Page && e.Type != beacon.Identify &&
				e.Type != beacon.Screen && e.Type != beacon.Group && e.Type != beacon.Alias:
				t.Fatalf("event of type %q accepted", e.Type)
			case e.Type == beacon.Track && e.Event == "":
				t.Fatal("track without an event name accepted")
			case e.Type == beacon.Alias && (e.PreviousID == "" || e.UserID == ""):
				t.Fatal("alias without previousId and userId accepted")
			case e.Type == beacon.Group && e.GroupID == "":
				t.Fatal("group without groupId accepted")
			case e.MessageID == "" || e.SourceID != shop.ID || !e.ReceivedAt.Equal(clock) || e.Timestamp.After(clock) && e.SentAt != nil:
				t.Fatalf("event not stamped: %+v", e)
			case e.Timestamp.After(clock.Add(beacon.MaxFutureSkew)) || e.Timestamp.Before(clock.Add(-beacon.MaxBrowserAge)):
				t.Fatalf("a browser's event dated %s taken at %s", e.Timestamp, clock)
			case e.SenderTime() != nil && e.SenderTime().After(clock.Add(beacon.MaxFutureSkew)):
				t.Fatalf("a sender's time %s believed at %s", e.SenderTime(), clock)
			}
			if _, err := beaconstream.Record(e); err != nil {
				t.Fatalf("accepted event cannot go on the stream: %v", err)
			}
		}
	})
}

// refused fails unless err is a refusal of the sender's input (4xx with a reason).
func refused(t *testing.T, err error) {
	t.Helper()
	var r *refusal
	switch {
	case errors.As(err, &r):
		if r.status < 400 || r.status > 499 || r.reason == "" {
			t.Fatalf("refusal %d %q is not a 4xx with a reason", r.status, r.reason)
		}
	case errors.Is(err, beacon.ErrInvalid):
		if err.Error() == "" {
			t.Fatal("invalid input without a reason")
		}
	default:
		t.Fatalf("error %v (%T) is neither a refusal nor invalid input", err, err)
	}
}

// checkRefusedParts holds the failed-events data of a batch's refusals to its promise: every
// refused event once, in order, in parts of valid JSON within a message's data.
func checkRefusedParts(t *testing.T, rejected []beacon.Rejected) {
	t.Helper()
	var next int
	for _, p := range refusedParts(rejected) {
		if len(p.data) > message.MaxFailedData {
			t.Fatalf("a part of %d bytes", len(p.data))
		}
		var data struct{ Rejected []refusedEntry }
		if err := json.Unmarshal(p.data, &data); err != nil {
			t.Fatalf("a part is not JSON: %v", err)
		}
		if len(data.Rejected) != p.count || p.count == 0 {
			t.Fatalf("a part of %d entries says %d", len(data.Rejected), p.count)
		}
		for _, e := range data.Rejected {
			if next >= len(rejected) || e.Index != rejected[next].Index || e.Reason == "" || (e.Event == nil) == (e.Bytes == 0) {
				t.Fatalf("entry %+v, want refusal %d of %d", e, next, len(rejected))
			}
			next++
		}
	}
	if next != len(rejected) {
		t.Fatalf("%d of %d refusals in the parts", next, len(rejected))
	}
}
