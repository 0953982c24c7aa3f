package archive

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/parquet-go/parquet-go"
)

// FuzzFromEvent: whatever an event's raw JSON and strings hold, its row has valid UTF-8 in every
// string column, writes, and reads back equal.
func FuzzFromEvent(f *testing.F) {
	f.Add([]byte(`{"category":"Docs"}`), []byte(`{"page":{"url":"https://x"}}`), "u-1", "Home")
	f.Add([]byte("{\"k\":\"v\xff\"}"), []byte("null"), "\xfe", "")
	f.Add([]byte(`{"category":7}`), []byte(nil), "", "\x00")
	f.Fuzz(func(t *testing.T, props, ctx []byte, userID, name string) {
		e := fullEvent()
		e.Properties, e.Context, e.UserID, e.Name = json.RawMessage(props), json.RawMessage(ctx), userID, name
		e.RawPII = true // the raw fields as given (redaction is pii's to fuzz)
		r := FromEvent(e, "p-1")
		v := reflect.ValueOf(r)
		for i := range v.NumField() {
			if s := v.Field(i); s.Kind() == reflect.String && !utf8.ValidString(s.String()) {
				t.Fatalf("column %s is not valid UTF-8: %q", v.Type().Field(i).Name, s.String())
			}
		}
		w := NewWriter[Event](Tables[0], Options{})
		if err := w.Write(r.Date(), r); err != nil {
			t.Fatal(err)
		}
		files, err := w.Flush()
		if err != nil {
			t.Fatal(err)
		}
		back, err := parquet.Read[Event](bytes.NewReader(files[0].Body), int64(len(files[0].Body)))
		if err != nil || len(back) != 1 || !reflect.DeepEqual(back[0], r) {
			t.Fatalf("read back %+v, %v; wrote %+v", back, err, r)
		}
	})
}
