package beacon

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// decodeSeeds are events as collect writes them and as others might: every field, escapes, names
// in other cases, duplicates, nulls, wrong types, invalid JSON.
func decodeSeeds(tb testing.TB) [][]byte {
	at := time.Date(2026, 12, 1, 9, 0, 0, 123456789, time.UTC)
	full := Event{Type: Track, MessageID: "ajs-1", AnonymousID: "a-1", UserID: "u-1", Event: "Order Completed", Name: "n",
		Properties: json.RawMessage(`{"revenue":12.5,"products":[{"product_id":"p1"}]}`), Traits: json.RawMessage(`{"plan":"pro"}`),
		Context:      json.RawMessage(`{"page":{"path":"/checkout","title":"Pay \u0026 go"},"userAgent":"Mozilla/5.0"}`),
		Integrations: json.RawMessage(`{"All":true}`), Timestamp: at, OriginalTimestamp: &at, SentAt: &at, ReceivedAt: at.Add(time.Second),
		SourceID: "src_web", Trusted: true, Pixel: true, PreviousID: "p-1", GroupID: "g-1", RawPII: true,
		Enrichment: &Enrichment{IP: "192.0.2.0", Device: &Device{Browser: "Chrome", Class: "desktop"}, Bot: Bot{IsBot: true, Reason: "ua"},
			Campaign: &Campaign{Source: "newsletter", Medium: "email"}, Referrer: "www.google.com", Channel: "email"},
		Hashed: map[string]string{"email_sha256": "ab12"},
	}
	var seeds [][]byte
	for _, e := range append(recordEvents(), full) {
		b, err := json.Marshal(e)
		if err != nil {
			tb.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	for _, s := range []string{
		`{"type":"track","messageId":"m\u00e9\ud83d\ude00","anonymousId":"a\"b","timestamp":"2026-12-01T09:00:00Z","receivedAt":"2026-12-01T09:00:00+01:00","sourceId":"s"}`,
		`{"Type":"page","messageId":"m"}`, `{"type":"page","type":"track"}`, `{"type":null,"messageId":"m"}`,
		`{"type":"page","properties":null}`, `{"type":"page","trusted":"yes"}`, `{"type":1}`, `{"timestamp":"yesterday"}`,
		`{"timestamp":12}`, `{"sentAt":null}`, `{"enrichment":{"ip":1}}`, `{"hashed":{"a":1}}`, `{"hashed":[]}`, `{"unknown":{"x":[1,2]},"type":"page"}`,
		`{"ſourceId":"long s"}`, `{"type":"page"`, `[]`, `null`, `"x"`, ``, `  {"type" : "page" , "pixel" : false}  `, "{\"type\":\"\xff\"}",
		`{"properties":{"a":1}, "traits" : [1 , 2]}`, `{"rawpii":true}`, `{"enrichment":null}`,
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// DecodeEvent reads every event as json.Unmarshal does, its error included.
func TestDecodeEventReadsAsEncodingJSON(t *testing.T) {
	for _, s := range decodeSeeds(t) {
		checkDecodeEvent(t, s)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, s := range decodeSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(checkDecodeEvent)
}

func checkDecodeEvent(t *testing.T, data []byte) {
	var want Event
	wantErr := json.Unmarshal(data, &want)
	got, err := DecodeEvent(data)
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("DecodeEvent(%q) error %v, encoding/json's %v", data, err, wantErr)
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeEvent(%q) =\n%+v\nencoding/json reads\n%+v", data, got, want)
	}
}

// The events the record is written with are decoded from it without encoding/json.
func TestCollectsEventsAreDecodedWithoutEncodingJSON(t *testing.T) {
	for _, s := range decodeSeeds(t)[:len(recordEvents())+1] {
		if _, ok := decodeEvent(s); !ok {
			t.Errorf("left to encoding/json: %s", s)
		}
	}
	rec, err := EncodeRecord(recordEvents())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := splitRecord(rec); !ok {
		t.Errorf("record left to encoding/json: %s", rec)
	}
}

var recordSeeds = []string{
	`{"recordVersion":2,"events":[{"type":"page"},{"type":"track"}]}`, `{"recordVersion":2,"events":[]}`,
	`{"recordVersion":3,"events":[{}]}`, `{"recordVersion":2.0,"events":[{}]}`, `{"recordVersion":2,"events":[{},1]}`,
	`{"events":[{}],"recordVersion":2,"other":null}`, `{"RecordVersion":2,"events":[{}]}`, `{"recordVersion":2,"Events":[{}]}`,
	`{"recordVersion":2,"events":[{}],"events":[{},{}]}`, `{"recordVersion":2,"events":null}`, `{"type":"page","messageId":"v1"}`,
	`{"recordVersion":2, "events" : [ {"a":1} , { } ] }`, `{"recordVersion":2,"events":[{}]`, `{"recordVersion":"2","events":[{}]}`,
}

// SplitRecord reads every record as its encoding/json reading does, error included.
func TestSplitRecordReadsAsEncodingJSON(t *testing.T) {
	for _, s := range recordSeeds {
		checkSplitRecord(t, []byte(s))
	}
}

func FuzzSplitRecord(f *testing.F) {
	for _, s := range recordSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkSplitRecord)
}

func checkSplitRecord(t *testing.T, data []byte) {
	got, err := SplitRecord(data)
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return // refused before either reading
	}
	want, wantErr := splitRecordJSON(trimmed)
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("SplitRecord(%q) error %v, encoding/json's %v", data, err, wantErr)
	}
	if len(got) != len(want) {
		t.Fatalf("SplitRecord(%q) = %q, encoding/json's %q", data, got, want)
	}
	for i := range got {
		if string(got[i]) != string(want[i]) {
			t.Fatalf("SplitRecord(%q) = %q, encoding/json's %q", data, got, want)
		}
	}
}
