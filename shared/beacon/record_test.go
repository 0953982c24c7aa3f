package beacon

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// recordEvents are the events of the golden record testdata/record-v2.json.
func recordEvents() []Event {
	at := time.Date(2025, 2, 1, 9, 0, 0, 0, time.UTC)
	return []Event{
		{Type: Page, MessageID: "m1", AnonymousID: "a1", Name: "Home", Timestamp: at, ReceivedAt: at, SourceID: "src_shop"},
		{Type: Track, MessageID: "m2", AnonymousID: "a1", Event: "Product Viewed", Properties: json.RawMessage(`{"sku":"X-1","price":59.9}`),
			Timestamp: at.Add(time.Minute), ReceivedAt: at.Add(time.Minute), SourceID: "src_shop"},
		{Type: Alias, MessageID: "m3", AnonymousID: "a1", PreviousID: "a1", UserID: "u-7", Timestamp: at.Add(2 * time.Minute),
			ReceivedAt: at.Add(2 * time.Minute), SourceID: "src_shop"},
		{Type: Group, MessageID: "m4", AnonymousID: "a1", UserID: "u-7", GroupID: "acme", Traits: json.RawMessage(`{"name":"Acme"}`),
			Timestamp: at.Add(3 * time.Minute), ReceivedAt: at.Add(3 * time.Minute), SourceID: "src_shop", Trusted: true},
	}
}

func TestGoldenRecordRoundTrip(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "record-v2.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := EncodeRecord(recordEvents())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.TrimSpace(want)) {
		t.Errorf("record =\n%s\nwant\n%s", got, want)
	}
	back, err := DecodeRecord(want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, recordEvents()) {
		t.Errorf("decoded =\n%+v\nwant\n%+v", back, recordEvents())
	}
	var sum int
	for _, e := range recordEvents() {
		b, _ := json.Marshal(e)
		sum += len(b)
	}
	if n := RecordOverhead + sum + len(recordEvents()) - 1; n != len(got) {
		t.Errorf("record is %d bytes; RecordOverhead says %d", len(got), n)
	}
}

// Records written before events were packed hold one event, without a wrapper.
func TestVersion1RecordsAreRead(t *testing.T) {
	v1, err := os.ReadFile(filepath.Join("testdata", "record-v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := DecodeRecord(v1)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].MessageID != "m2" || evs[0].Event != "Product Viewed" {
		t.Errorf("events = %+v", evs)
	}
	raw, err := SplitRecord(v1)
	if err != nil || len(raw) != 1 || !bytes.Equal(raw[0], bytes.TrimSpace(v1)) {
		t.Errorf("split = %s, %v", raw, err)
	}
}

func TestBadRecords(t *testing.T) {
	for _, tc := range []struct{ name, data, reason string }{
		{"empty", "", "not a JSON object"},
		{"array", `[{"type":"page"}]`, "not a JSON object"},
		{"not JSON", `{"recordVersion":2,`, "unexpected end of JSON input"},
		{"future version", `{"recordVersion":3,"events":[{}]}`, "record version 3 is not supported (this reader knows 2)"},
		{"version not a number", `{"recordVersion":"2","events":[{}]}`, "cannot unmarshal string"},
		{"no events", `{"recordVersion":2,"events":[]}`, "no events"},
		{"event not an object", `{"recordVersion":2,"events":[{"type":"page"},7]}`, "event 1 is not a JSON object"},
		{"event of the wrong shape", `{"recordVersion":2,"events":[{"type":7}]}`, "event 0: json: cannot unmarshal number"},
		{"v1 of the wrong shape", `{"messageId":["x"]}`, "event 0: json: cannot unmarshal array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeRecord([]byte(tc.data))
			if !errors.Is(err, ErrRecord) || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("err = %v, want ErrRecord saying %q", err, tc.reason)
			}
		})
	}
	if _, err := EncodeRecord(nil); !errors.Is(err, ErrRecord) {
		t.Errorf("EncodeRecord(nil) err = %v", err)
	}
}

// FuzzDecodeRecord: any data either decodes into events that encode back into a record that
// decodes to the same events, or is refused with ErrRecord; never a panic.
func FuzzDecodeRecord(f *testing.F) {
	for _, name := range []string{"record-v1.json", "record-v2.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"recordVersion":2,"events":[{},{"type":"page"}]}`))
	f.Add([]byte(`{"recordVersion":1e400}`))
	f.Add([]byte(`{"events":[{"type":"page"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := DecodeRecord(data)
		if err != nil {
			if !errors.Is(err, ErrRecord) {
				t.Fatalf("error %v does not match ErrRecord", err)
			}
			return
		}
		if len(evs) == 0 {
			t.Fatal("a record without events decoded")
		}
		again, err := EncodeRecord(evs)
		if err != nil {
			return // e.g. a raw field that is not valid JSON once re-encoded
		}
		back, err := DecodeRecord(again)
		if err != nil {
			t.Fatalf("re-encoded record does not decode: %v\n%s", err, again)
		}
		if len(back) != len(evs) {
			t.Fatalf("%d events, then %d", len(evs), len(back))
		}
		for i := range back {
			if back[i].MessageID != evs[i].MessageID || back[i].Type != evs[i].Type || !back[i].Timestamp.Equal(evs[i].Timestamp) {
				t.Fatalf("event %d changed: %+v then %+v", i, evs[i], back[i])
			}
		}
	})
}
