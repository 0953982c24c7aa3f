package beacon

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/source"
)

var (
	received = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)
	shop     = source.Source{ID: "src_shop", Name: "shop"}
)

func counter() func() string {
	n := 0
	return func() string { n++; return fmt.Sprintf("id-%d", n) }
}

// parse is Decode followed by Events, as the endpoint does it.
func parse(t *testing.T, kind, body string) ([]Event, error) {
	t.Helper()
	p, err := Decode(kind, []byte(body))
	if err != nil {
		return nil, err
	}
	return p.Events(shop, received, counter())
}

func mustParse(t *testing.T, kind, body string) []Event {
	t.Helper()
	evs, err := parse(t, kind, body)
	if err != nil {
		t.Fatalf("parse %s %s: %v", kind, body, err)
	}
	return evs
}

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestClockSkewIsCorrected(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       time.Time // received at 12:00:00
	}{
		{
			// The sender's clock is 5 minutes fast; the event happened 10 s before it was sent.
			name: "originalTimestamp and sentAt",
			body: `{"userId":"u","event":"E","originalTimestamp":"2024-03-01T12:04:50Z","sentAt":"2024-03-01T12:05:00Z"}`,
			want: at("2024-03-01T11:59:50Z"),
		},
		{
			// The sender's clock is 1 h 30 min slow, in another zone, with milliseconds.
			name: "timestamp stands for originalTimestamp",
			body: `{"userId":"u","event":"E","timestamp":"2024-03-01T11:29:57.750+01:00","sentAt":"2024-03-01T11:30:00.000+01:00"}`,
			want: at("2024-03-01T11:59:57.75Z"),
		},
		{
			name: "originalTimestamp wins over timestamp",
			body: `{"userId":"u","event":"E","timestamp":"2020-01-01T00:00:00Z","originalTimestamp":"2024-03-01T08:00:00Z","sentAt":"2024-03-01T08:00:30Z"}`,
			want: at("2024-03-01T11:59:30Z"),
		},
		{
			name: "timestamp without sentAt is taken as given",
			body: `{"userId":"u","event":"E","timestamp":"2024-02-27T18:00:00Z"}`,
			want: at("2024-02-27T18:00:00Z"),
		},
		{
			name: "no timestamp: received",
			body: `{"userId":"u","event":"E","sentAt":"2024-03-01T13:00:00Z"}`,
			want: received,
		},
		{
			name: "an event sent before it happened is not put in the future",
			body: `{"userId":"u","event":"E","originalTimestamp":"2024-03-01T12:00:10Z","sentAt":"2024-03-01T12:00:00Z"}`,
			want: received,
		},
		{
			name: "zone-less ISO-8601 is UTC",
			body: `{"userId":"u","event":"E","timestamp":"2024-02-29T10:00:00.5"}`,
			want: at("2024-02-29T10:00:00.5Z"),
		},
		{
			name: "offset without a colon",
			body: `{"userId":"u","event":"E","timestamp":"2024-02-29T10:00:00.000+0200"}`,
			want: at("2024-02-29T08:00:00Z"),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := mustParse(t, Track, tc.body)[0]
			if !e.Timestamp.Equal(tc.want) {
				t.Errorf("timestamp = %s, want %s", e.Timestamp, tc.want)
			}
			if e.Timestamp.Location() != time.UTC {
				t.Errorf("timestamp is in %s, want UTC", e.Timestamp.Location())
			}
			if !e.ReceivedAt.Equal(received) {
				t.Errorf("receivedAt = %s, want %s", e.ReceivedAt, received)
			}
		})
	}
}

// A time far ahead would stay a profile's latest activity for ever: beyond MaxFutureSkew the event
// happened when received, and its originalTimestamp keeps what the sender said. A time far back
// is refused: a week back for a browser source, twenty years for a trusted one.
func TestEventTimesAreBounded(t *testing.T) {
	server := source.Source{ID: "src_server", Name: "server", Trusted: true}
	for _, tc := range []struct {
		name, body string
		src        source.Source
		want       time.Time // the timestamp, when accepted
		believed   bool      // SenderTime is the sender's time
		refused    string
	}{
		{"the year 9999", `{"timestamp":"9999-12-31T23:59:59Z"}`, shop, received, false, ""},
		{"the year 9999 from a server", `{"timestamp":"9999-12-31T23:59:59Z"}`, server, received, false, ""},
		{"a server clock 4 minutes ahead", `{"timestamp":"2024-03-01T12:04:00Z"}`, server, at("2024-03-01T12:04:00Z"), true, ""},
		{"6 minutes ahead", `{"timestamp":"2024-03-01T12:06:00Z"}`, shop, received, false, ""},
		{"a device clock a year ahead, corrected", `{"originalTimestamp":"2025-03-01T11:59:00Z","sentAt":"2025-03-01T12:00:00Z"}`, shop, at("2024-03-01T11:59:00Z"), false, ""},
		{"6 days back from a browser", `{"timestamp":"2024-02-24T12:00:00Z"}`, shop, at("2024-02-24T12:00:00Z"), true, ""},
		{"8 days back from a browser", `{"timestamp":"2024-02-22T12:00:00Z"}`, shop, time.Time{}, false,
			"timestamp is 8 days before receipt; a browser source's events may be at most 7 days old: send history from a server (trusted) source"},
		{"8 days back, corrected", `{"originalTimestamp":"2024-02-22T12:00:00Z","sentAt":"2024-03-01T12:00:00Z"}`, shop, time.Time{}, false,
			"timestamp, corrected by sentAt for the sender's clock, is 8 days before receipt; a browser source's events may be at most 7 days old: send history from a server (trusted) source"},
		{"an import of 2005", `{"timestamp":"2005-03-01T12:00:00Z"}`, server, at("2005-03-01T12:00:00Z"), true, ""},
		{"the zero date", `{"timestamp":"1970-01-01T00:00:00Z"}`, server, time.Time{}, false, "timestamp is 19783 days before receipt; events may be at most 20 years old"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"userId":"u","event":"E",` + tc.body[1:]
			p, err := Decode(Track, []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			evs, err := p.Events(tc.src, received, counter())
			if tc.refused != "" {
				if err == nil || err.Error() != tc.refused {
					t.Fatalf("err = %v, want %q", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			e := evs[0]
			if !e.Timestamp.Equal(tc.want) {
				t.Errorf("timestamp = %s, want %s", e.Timestamp, tc.want)
			}
			if e.OriginalTimestamp == nil {
				t.Fatal("the sender's time is not kept")
			}
			if got := e.SenderTime(); (got != nil) != tc.believed || (got != nil && !got.Equal(*e.OriginalTimestamp)) {
				t.Errorf("SenderTime = %v, want believed %v", got, tc.believed)
			}
		})
	}
}

func TestBatchSentAtAppliesToEventsWithoutTheirOwn(t *testing.T) {
	evs := mustParse(t, Batch, `{"sentAt":"2024-03-01T12:10:00Z","batch":[
		{"type":"track","userId":"u","event":"A","timestamp":"2024-03-01T12:09:00Z"},
		{"type":"track","userId":"u","event":"B","timestamp":"2024-03-01T12:09:00Z","sentAt":"2024-03-01T12:09:30Z"}]}`)
	if want := at("2024-03-01T11:59:00Z"); !evs[0].Timestamp.Equal(want) {
		t.Errorf("A: timestamp = %s, want %s (batch sentAt)", evs[0].Timestamp, want)
	}
	if want := at("2024-03-01T11:59:30Z"); !evs[1].Timestamp.Equal(want) {
		t.Errorf("B: timestamp = %s, want %s (own sentAt)", evs[1].Timestamp, want)
	}
	if evs[0].SentAt == nil || !evs[0].SentAt.Equal(at("2024-03-01T12:10:00Z")) {
		t.Errorf("A: sentAt = %v, want the batch's", evs[0].SentAt)
	}
	if evs[0].OriginalTimestamp == nil || !evs[0].OriginalTimestamp.Equal(at("2024-03-01T12:09:00Z")) {
		t.Errorf("A: originalTimestamp = %v, want the sender's timestamp", evs[0].OriginalTimestamp)
	}
}

func TestIDsBecomeStrings(t *testing.T) {
	for _, tc := range []struct{ sent, want string }{
		{`"user-1"`, "user-1"},
		{`42`, "42"},
		{`-7`, "-7"},
		{`0`, "0"},
		{`12345678901234567890123`, "12345678901234567890123"}, // beyond int64: kept digit for digit
		{`1e3`, "1000"},
		{`42.0`, "42"},
		{`"  spaced "`, "  spaced "},
	} {
		e := mustParse(t, Identify, `{"userId":`+tc.sent+`,"anonymousId":`+tc.sent+`,"messageId":`+tc.sent+`}`)[0]
		if e.UserID != tc.want || e.AnonymousID != tc.want || e.MessageID != tc.want {
			t.Errorf("ids sent as %s = %q/%q/%q, want %q", tc.sent, e.UserID, e.AnonymousID, e.MessageID, tc.want)
		}
	}
	for _, sent := range []string{`1.5`, `1e300`, `true`, `{"id":1}`, `["a"]`} {
		_, err := parse(t, Identify, `{"userId":`+sent+`}`)
		var ie *InvalidError
		if !errors.As(err, &ie) || !strings.Contains(ie.Reason, "userId must be a string") {
			t.Errorf("userId %s: err = %v, want userId must be a string", sent, err)
		}
	}
}

func TestEventsAreStampedFromTheSource(t *testing.T) {
	server := source.Source{ID: "src_backend", Trusted: true}
	p, err := Decode(Track, []byte(`{"type":"identify","userId":"u1","event":"Order Completed","receivedAt":"2000-01-01T00:00:00Z","sourceId":"forged","trusted":false,"pixel":true,"properties":{"total": 30}}`))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := p.Events(server, received.In(time.FixedZone("CET", 3600)), nil)
	if err != nil {
		t.Fatal(err)
	}
	e := evs[0]
	if e.Type != Track {
		t.Errorf("type = %q, want the path's %q", e.Type, Track)
	}
	if e.SourceID != "src_backend" || !e.Trusted || e.Pixel {
		t.Errorf("source = %q trusted=%v pixel=%v, want src_backend trusted, not through the pixel (senders cannot set them)", e.SourceID, e.Trusted, e.Pixel)
	}
	if !e.ReceivedAt.Equal(received) || e.ReceivedAt.Location() != time.UTC {
		t.Errorf("receivedAt = %s, want %s in UTC", e.ReceivedAt, received)
	}
	if !strings.HasPrefix(e.MessageID, "dcrm-") || len(e.MessageID) != len("dcrm-")+32 {
		t.Errorf("generated messageId = %q, want dcrm-<32 hex>", e.MessageID)
	}
	if other := NewMessageID(); other == e.MessageID {
		t.Errorf("two generated message ids are equal: %s", other)
	}
	if string(e.Properties) != `{"total": 30}` {
		t.Errorf("properties = %s", e.Properties)
	}
}

func TestBatchContextAppliesToEventsWithoutTheirOwn(t *testing.T) {
	evs := mustParse(t, Batch, `{"context":{"library":{"name":"analytics-go"}},"integrations":{"All":true},"batch":[
		{"type":"page","anonymousId":"a","name":"Home"},
		{"type":"identify","userId":"u","context":{"ip":"1.2.3.4"},"traits":{"plan":"gold"}}]}`)
	if string(evs[0].Context) != `{"library":{"name":"analytics-go"}}` || string(evs[0].Integrations) != `{"All":true}` {
		t.Errorf("page: context %s integrations %s, want the batch's", evs[0].Context, evs[0].Integrations)
	}
	if string(evs[1].Context) != `{"ip":"1.2.3.4"}` {
		t.Errorf("identify: context %s, want its own", evs[1].Context)
	}
	if evs[0].Type != Page || evs[0].Name != "Home" || evs[1].Type != Identify || string(evs[1].Traits) != `{"plan":"gold"}` {
		t.Errorf("events = %+v", evs)
	}
	if evs[0].MessageID != "id-1" || evs[1].MessageID != "id-2" {
		t.Errorf("message ids = %q, %q; want one new id each", evs[0].MessageID, evs[1].MessageID)
	}
}

func TestWriteKeyFromTheBody(t *testing.T) {
	for _, tc := range []struct{ kind, body, want string }{
		{Track, `{"writeKey":"wk_1","userId":"u","event":"E"}`, "wk_1"},
		{Track, `{"userId":"u","event":"E"}`, ""},
		{Batch, `{"writeKey":"wk_1","batch":[{"type":"page","userId":"u"}]}`, "wk_1"},
		{Batch, `{"batch":[{"type":"page","userId":"u"},{"type":"page","userId":"u","writeKey":"wk_2"}]}`, "wk_2"},
	} {
		p, err := Decode(tc.kind, []byte(tc.body))
		if err != nil || p.WriteKey != tc.want {
			t.Errorf("Decode(%s) write key = %v, %v; want %q", tc.body, p, err, tc.want)
		}
	}
}

func TestRejections(t *testing.T) {
	big := strings.Repeat("x", MaxEventBytes)
	item := `{"type":"track","userId":"u","event":"E","properties":{"p":"` + strings.Repeat("y", 20<<10) + `"}}`
	oversized := `{"userId":"u","event":"E","properties":{"p":"` + big + `"}}`
	batch := `{"batch":[` + strings.Repeat(item+",", 25) + item + `]}` // 26 events of 20 KB each
	bigItem := `{"type":"page","userId":"u","name":"` + big + `"}`
	for _, tc := range []struct {
		name, kind, body string
		index            int
		reason           string
	}{
		{"empty body", Track, " \n", -1, "body is empty"},
		{"malformed JSON", Track, `{"userId":"u",`, -1, "body is not valid JSON: unexpected end of JSON input"},
		{"syntax error", Page, `{"userId" "u"}`, -1, "body is not valid JSON: invalid character '\"' after object key (at byte 11)"},
		{"trailing garbage", Page, `{"userId":"u"} x`, -1, "body is not valid JSON"},
		{"array body", Track, `[{"userId":"u"}]`, -1, "body must be a JSON object, not array"},
		{"null body", Track, `null`, -1, "body must be a JSON object, not null"},
		{"no ids", Track, `{"event":"E"}`, -1, "anonymousId or userId is required"},
		{"empty ids", Page, `{"userId":"","anonymousId":null}`, -1, "anonymousId or userId is required"},
		{"track without event", Track, `{"userId":"u"}`, -1, "track needs an event name (event)"},
		{"event not a string", Track, `{"userId":"u","event":7}`, -1, "event must be a string"},
		{"properties not an object", Track, `{"userId":"u","event":"E","properties":[1]}`, -1, "properties must be a JSON object"},
		{"traits not an object", Identify, `{"userId":"u","traits":"gold"}`, -1, "traits must be a JSON object"},
		{"bad timestamp", Page, `{"userId":"u","timestamp":"yesterday"}`, -1, `timestamp "yesterday" is not an ISO-8601 date`},
		{"numeric timestamp", Page, `{"userId":"u","timestamp":1709290000}`, -1, "timestamp must be an ISO-8601 date string"},
		{"ancient timestamp", Page, `{"userId":"u","timestamp":"0001-01-01T00:00:00Z"}`, -1, `timestamp "0001-01-01T00:00:00Z" is out of range`},
		{"long id", Page, `{"userId":"` + strings.Repeat("u", 300) + `"}`, -1, "userId is 300 bytes; the limit is 256 bytes"},
		{"writeKey not a string", Page, `{"userId":"u","writeKey":1}`, -1, "writeKey must be a string"},
		{"oversized event", Track, oversized, -1, fmt.Sprintf("event is %d bytes; the limit is 32768 bytes", len(oversized))},
		{"batch missing", Batch, `{"events":[]}`, -1, `batch is missing: send {"batch": [events]}`},
		{"batch not an array", Batch, `{"batch":{"type":"track"}}`, -1, "batch must be an array of events"},
		{"empty batch", Batch, `{"batch":[]}`, -1, "batch has no events"},
		{"oversized batch", Batch, batch, -1, fmt.Sprintf("batch is %d bytes; the limit is 512000 bytes", len(batch))},
		{"oversized event in a batch", Batch, `{"batch":[{"type":"page","userId":"u"},` + bigItem + `]}`, 1, fmt.Sprintf("event is %d bytes; the limit is 32768 bytes", len(bigItem))},
		{"batch item not an object", Batch, `{"batch":[{"type":"page","userId":"u"},"page"]}`, 1, "event must be a JSON object, not string"},
		{"batch item without type", Batch, `{"batch":[{"userId":"u"}]}`, 0, "type is missing (track, page, screen, identify, group or alias)"},
		{"batch item of unknown type", Batch, `{"batch":[{"type":"page","userId":"u"},{"type":"page","userId":"u"},{"type":"merge","userId":"u","previousId":"a"}]}`, 2, `type "merge" is not supported (track, page, screen, identify, group or alias)`},
		{"alias without previousId", Alias, `{"userId":"u"}`, -1, "alias needs the earlier id (previousId)"},
		{"alias without userId", Alias, `{"anonymousId":"a","previousId":"a"}`, -1, "alias needs the new id (userId)"},
		{"alias in a batch without userId", Batch, `{"batch":[{"type":"alias","anonymousId":"a","previousId":"p"}]}`, 0, "alias needs the new id (userId)"},
		{"previousId not a string", Alias, `{"userId":"u","previousId":{}}`, -1, "previousId must be a string"},
		{"group without groupId", Group, `{"userId":"u","traits":{"name":"Acme"}}`, -1, "group needs a group id (groupId)"},
		{"long groupId", Group, `{"userId":"u","groupId":"` + strings.Repeat("g", 300) + `"}`, -1, "groupId is 300 bytes; the limit is 256 bytes"},
		{"screen without ids", Screen, `{"name":"Home"}`, -1, "anonymousId or userId is required"},
		{"batch item without ids", Batch, `{"batch":[{"type":"page","userId":"u"},{"type":"track","event":"E"}]}`, 1, "anonymousId or userId is required"},
		{"batch items with two write keys", Batch, `{"writeKey":"a","batch":[{"type":"page","userId":"u","writeKey":"b"}]}`, 0, "writeKey differs from the rest of the batch"},
		{"bad batch sentAt", Batch, `{"sentAt":"now","batch":[{"type":"page","userId":"u"}]}`, -1, `sentAt "now" is not an ISO-8601 date`},
		{"unknown kind", "merge", `{"userId":"u"}`, -1, `unknown call type "merge"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := parse(t, tc.kind, tc.body)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v (events %v), want ErrInvalid", err, evs)
			}
			var ie *InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("err %T is not an *InvalidError", err)
			}
			if !strings.HasPrefix(ie.Reason, tc.reason) {
				t.Errorf("reason = %q, want it to start with %q", ie.Reason, tc.reason)
			}
			if ie.Index != tc.index {
				t.Errorf("index = %d, want %d", ie.Index, tc.index)
			}
			if tc.index >= 0 && !strings.HasPrefix(err.Error(), fmt.Sprintf("batch[%d]: ", tc.index)) {
				t.Errorf("error %q does not name the batch item", err)
			}
		})
	}
}

func TestScreenGroupAndAlias(t *testing.T) {
	screen := mustParse(t, Screen, `{"anonymousId":"a1","name":"Basket","properties":{"items":2}}`)[0]
	if screen.Type != Screen || screen.Name != "Basket" || string(screen.Properties) != `{"items":2}` {
		t.Errorf("screen = %+v", screen)
	}
	group := mustParse(t, Group, `{"userId":"u1","groupId":42,"traits":{"name":"Acme","plan":"pro"}}`)[0]
	if group.Type != Group || group.GroupID != "42" || string(group.Traits) != `{"name":"Acme","plan":"pro"}` {
		t.Errorf("group = %+v", group)
	}
	alias := mustParse(t, Alias, `{"previousId":"a1","userId":"u1"}`)[0]
	if alias.Type != Alias || alias.PreviousID != "a1" || alias.UserID != "u1" || alias.Visitor() != "u1" {
		t.Errorf("alias = %+v", alias)
	}
	evs := mustParse(t, Batch, `{"batch":[`+
		`{"type":"screen","anonymousId":"a1","name":"Home"},`+
		`{"type":"group","anonymousId":"a1","groupId":"g1"},`+
		`{"type":"alias","anonymousId":"a1","previousId":"a1","userId":"u1"}]}`)
	var got []string
	for _, e := range evs {
		got = append(got, e.Type+":"+e.Name+e.GroupID+e.PreviousID)
	}
	if want := []string{"screen:Home", "group:g1", "alias:a1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("batch = %v, want %v", got, want)
	}
	b, err := json.Marshal(alias)
	if err != nil || !strings.Contains(string(b), `"previousId":"a1"`) || strings.Contains(string(b), "groupId") {
		t.Errorf("alias JSON = %s, %v", b, err)
	}
}

func TestSplitAcceptsTheValidEventsOfABatch(t *testing.T) {
	big := `{"type":"page","userId":"u","messageId":"m-big","name":"` + strings.Repeat("x", MaxEventBytes) + `"}`
	body := `{"writeKey":"wk","batch":[` +
		`{"type":"page","userId":"u","messageId":"m0"},` +
		`{"type":"track","userId":"u","messageId":"m1"},` +
		big + `,` +
		`"not an event",` +
		`{"type":"page","anonymousId":"a","messageId":7},` +
		`{"type":"page","userId":"u","writeKey":"other","messageId":"m5"}]}`
	p, err := Decode(Batch, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	evs, rejected := p.Split(shop, received, counter())
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.MessageID)
	}
	if want := []string{"m0", "7"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("accepted %v, want %v", ids, want)
	}
	type rej struct {
		Index            int
		MessageID, Start string
	}
	var got []rej
	for _, r := range rejected {
		got = append(got, rej{r.Index, r.MessageID, r.Reason()[:min(20, len(r.Reason()))]})
		if r.Err.Index != r.Index || !errors.Is(r.Err, ErrInvalid) {
			t.Errorf("rejection %d: error %v", r.Index, r.Err)
		}
	}
	want := []rej{
		{1, "m1", "track needs an event"},
		{2, "", fmt.Sprintf("event is %d bytes", len(big))},
		{3, "", "event must be a JSON"},
		{5, "m5", "writeKey differs fro"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rejected\n%v\nwant\n%v", got, want)
	}
	if string(rejected[2].Raw) != `"not an event"` {
		t.Errorf("raw = %s", rejected[2].Raw)
	}
	// Events refuses the whole payload on the first invalid event.
	if _, err := p.Events(shop, received, counter()); err == nil || err.Error() != "batch[1]: track needs an event name (event)" {
		t.Errorf("Events error = %v", err)
	}
}

// The stream carries Event as JSON; stitch reads these names.
func TestEventJSONOnTheStream(t *testing.T) {
	e := mustParse(t, Track, `{"anonymousId":"a1","userId":99,"event":"Viewed","properties":{ "sku" : "X" },"originalTimestamp":"2024-03-01T12:00:01Z","sentAt":"2024-03-01T12:00:02Z"}`)[0]
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"track","messageId":"id-1","anonymousId":"a1","userId":"99","event":"Viewed","properties":{"sku":"X"},` +
		`"timestamp":"2024-03-01T11:59:59Z","originalTimestamp":"2024-03-01T12:00:01Z","sentAt":"2024-03-01T12:00:02Z",` +
		`"receivedAt":"2024-03-01T12:00:00Z","sourceId":"src_shop"}`
	if string(b) != want {
		t.Errorf("JSON =\n%s\nwant\n%s", b, want)
	}
	var back Event
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back.Visitor(), "a1") || back.MessageID != "id-1" {
		t.Errorf("round trip = %+v, %v", back, err)
	}
}

func ExampleDecode() {
	body := []byte(`{"writeKey":"wk_123","userId":"u1","event":"Signed Up","sentAt":"2024-03-01T12:00:05Z","originalTimestamp":"2024-03-01T12:00:00Z"}`)
	p, err := Decode(Track, body)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("write key:", p.WriteKey)
	// ... look the write key up, check the origin, then:
	receivedAt := time.Date(2024, 3, 1, 11, 0, 0, 0, time.UTC)
	evs, err := p.Events(source.Source{ID: "src_1"}, receivedAt, func() string { return "m1" })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(evs[0].Type, evs[0].Event, evs[0].MessageID, evs[0].Timestamp.Format(time.RFC3339))
	// Output:
	// write key: wk_123
	// track Signed Up m1 2024-03-01T10:59:55Z
}

func TestValidJSONNestsAsDeepAsEncodingJSON(t *testing.T) {
	for _, n := range []int{1, 9999, 10000, 10001} {
		doc := []byte(strings.Repeat("[", n) + strings.Repeat("]", n))
		if got, want := validJSON(doc), json.Valid(doc); got != want {
			t.Errorf("%d levels: validJSON %v, json.Valid %v", n, got, want)
		}
	}
}

// FuzzScanner checks the one-pass reading against encoding/json: the same documents are valid,
// objects have the same fields and strings decode alike.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{
		`{"type":"track","userId":"u","event":"E","properties":{"a":[1,2.5e-3,true,null]}}`,
		`{"\u0074ype":"page","type":"x","userId":"a\"b\\c\u00e9","batch":[{},[],"s",-0.0]}`,
		"{\"writeKey\":\"\xff\",\"\xffname\":1}", `[1,{"a":"b"}]`, `"x"`, `01`, `1.`, `-`, `{"a":1,}`,
		`{"a" : 1 , "b":[ ] }  `, "\f{}", "{}\u00a0", `{"a":"\ud800"}`, `{"a":"\x"}`, "{\"a\":\"\t\"}", `tru`, `nul`, `1e+`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid %v", b, got, want)
		}
		fast, errFast := decodeObject(b, "body", false)
		slow, errSlow := decodeObjectSlowly(b, "body")
		if fmt.Sprint(errFast) != fmt.Sprint(errSlow) {
			t.Fatalf("%q: error %v, encoding/json %v", b, errFast, errSlow)
		}
		if errSlow != nil {
			return
		}
		for f := range fast {
			if string(fast[f]) != string(slow[f]) || (fast[f] == nil) != (slow[f] == nil) {
				t.Fatalf("%q: %s is %q, encoding/json %q", b, fieldNames[f], fast[f], slow[f])
			}
			if raw := field(fast, f); raw != nil && raw[0] == '"' {
				var want string
				if err := json.Unmarshal(raw, &want); err != nil || unquote(raw) != want {
					t.Fatalf("unquote(%q) = %q, encoding/json %q (%v)", raw, unquote(raw), want, err)
				}
			}
		}
		members, ok := Members(b)
		if !ok {
			t.Fatalf("%q: Members refuses an object", b)
		}
		var m map[string]json.RawMessage
		_ = json.Unmarshal(b, &m)
		for _, mb := range members {
			if _, found := m[mb.Name]; !found {
				t.Fatalf("%q: member %q unknown to encoding/json", b, mb.Name)
			}
			m[mb.Name] = mb.Value // the last one wins
		}
		got, _ := json.Marshal(m)
		var want map[string]json.RawMessage
		_ = json.Unmarshal(b, &want)
		if w, _ := json.Marshal(want); string(got) != string(w) {
			t.Fatalf("%q: members give %s, encoding/json %s", b, got, w)
		}
	})
}

func TestOnlyJSONWhiteSpaceSurroundsABody(t *testing.T) {
	for _, body := range []string{"\f{\"userId\":\"u\",\"event\":\"E\"}", "{\"userId\":\"u\",\"event\":\"E\"}\u00a0", "\v{}"} {
		_, err := Decode(Track, []byte(body))
		var want map[string]json.RawMessage
		if json.Unmarshal([]byte(body), &want) == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "not valid JSON") {
			t.Errorf("%q: %v", body, err)
		}
	}
}

// Members, which checks each member as it cuts it out, answers as validJSON followed by
// appendMembers: the same members, and the same refusals; so does MembersOfValid of valid JSON.
func FuzzMembersInOnePass(f *testing.F) {
	for _, s := range []string{`{}`, ` { } `, `{"a":1,"b":[true,{"c":"\u00e9"}],"a":null}`, `{"a":1,}`, `{"a" 1}`, `{"a":1} x`,
		`{"a":"\"}`, `{"\u0061":{"x":[1,2]}}`, `[1]`, `{`, `{"a":1}}`, "{\"a\":\"\xff\"}", `{"a":` + strings.Repeat("[", 10001)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := Members(b)
		raw := bytes.TrimSpace(b)
		wantOK := len(raw) > 0 && raw[0] == '{' && validJSON(raw)
		if ok != wantOK {
			t.Fatalf("%q: Members says %v, validJSON %v", b, ok, wantOK)
		}
		if !ok {
			if got != nil {
				t.Fatalf("%q: refused, yet members %v", b, got)
			}
			return
		}
		want := appendMembers(nil, raw)
		if unchecked, _ := MembersOfValid(b); len(unchecked) != len(want) {
			t.Fatalf("%q: MembersOfValid gives %d members, want %d", b, len(unchecked), len(want))
		} else {
			for i := range want {
				if unchecked[i].Name != want[i].Name || string(unchecked[i].Value) != string(want[i].Value) {
					t.Fatalf("%q: MembersOfValid's member %d is %q: %s, want %q: %s", b, i, unchecked[i].Name, unchecked[i].Value, want[i].Name, want[i].Value)
				}
			}
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d members, want %d", b, len(got), len(want))
		}
		for i := range want {
			if got[i].Name != want[i].Name || string(got[i].Value) != string(want[i].Value) {
				t.Fatalf("%q: member %d is %q: %s, want %q: %s", b, i, got[i].Name, got[i].Value, want[i].Name, want[i].Value)
			}
		}
	})
}

// plainRun stops at the word of the first byte that is not plain in a string, whatever the byte
// and wherever it is, and never before a word of plain bytes.
func TestPlainRun(t *testing.T) {
	first := func(b []byte) int { // the byte-by-byte answer
		for i, c := range b {
			if !plainInString[c] {
				return i
			}
		}
		return len(b)
	}
	for c := range 256 {
		for at := range 24 {
			b := bytes.Repeat([]byte{'a'}, 24)
			b[at] = byte(c)
			got, want := plainRun(b, 0), first(b)
			if got > want || want-got >= 8 && got+8 <= len(b) {
				t.Fatalf("byte %#x at %d: plainRun = %d, first non-plain byte at %d", c, at, got, want)
			}
		}
	}
}
