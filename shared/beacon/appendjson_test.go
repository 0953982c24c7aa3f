package beacon

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// checkAppendJSON compares AppendJSON with json.Marshal: the same bytes, or both an error.
func checkAppendJSON(t *testing.T, e Event) {
	t.Helper()
	want, wantErr := json.Marshal(e)
	got, err := e.AppendJSON([]byte("prefix"))
	if wantErr != nil {
		assert.Error(t, err, "json.Marshal: %v", wantErr)
		assert.Equal(t, "prefix", string(got), "dst as it was")
		return
	}
	require.NoError(t, err)
	assert.Equal(t, "prefix"+string(want), string(got))
}

func TestAppendJSONIsJSONMarshal(t *testing.T) {
	ts := time.Date(2024, 3, 1, 11, 59, 58, 120_000_000, time.UTC)
	local := time.Date(2024, 3, 1, 12, 0, 0, 1, time.FixedZone("", 3600))
	checkAppendJSON(t, Event{})
	checkAppendJSON(t, Event{Type: Track, MessageID: "m", AnonymousID: "a", Timestamp: ts, ReceivedAt: ts, SourceID: "s"})
	checkAppendJSON(t, Event{
		Type: Page, MessageID: "m<&>\u2028\u2029\"\\\b\f\n\r\t\x01\x7f é \xff", UserID: "u", Event: "e", Name: "n",
		Properties:   json.RawMessage(" { \"a\" : [ 1 , 2.5e3 , \"<b>&\u2028\" , \"\\\" \\\\ \" ] , \"b\" : null } "),
		Traits:       json.RawMessage(`{"email":"\xff bad utf-8 passes"}`),
		Context:      json.RawMessage("{\"page\":{\"url\":\"https://x.example/?a=1&b=<2>\"},\n\t\"ip\":\"203.0.113.9\"}"),
		Integrations: json.RawMessage(`true`),
		Timestamp:    local, OriginalTimestamp: &ts, SentAt: &local, ReceivedAt: ts, SourceID: "src", Trusted: true, Pixel: true,
		PreviousID: "p", GroupID: "g",
		Enrichment: &Enrichment{IP: "203.0.113.0", Device: &Device{OS: "iOS", Class: DeviceMobile},
			Bot: Bot{IsBot: true, Reason: BotHeadless}, Campaign: &Campaign{Medium: "email", ClickID: "x", ClickIDType: "gclid"},
			Referrer: "www.google.com", Channel: ChannelEmail, LinkerID: "l"},
		Hashed: map[string]string{"phone_sha256": "2", "email_sha256": "1", "email_sha256_google": "3"},
		RawPII: true,
	})
	checkAppendJSON(t, Event{Enrichment: &Enrichment{Device: &Device{}, Campaign: &Campaign{}}})
	checkAppendJSON(t, Event{Enrichment: &Enrichment{Device: &Device{BrowserVersion: "1", OSVersion: "2"}, Campaign: &Campaign{ID: "i"}}})
	checkAppendJSON(t, Event{Properties: json.RawMessage(`{"a":`)})                    // invalid: an error
	checkAppendJSON(t, Event{Context: json.RawMessage(`{} {}`)})                       // two values: an error
	checkAppendJSON(t, Event{Timestamp: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}) // year out of range: an error
	checkAppendJSON(t, Event{Properties: json.RawMessage{}, Hashed: map[string]string{}})
}

// Every field of Event, Enrichment, Device, Bot and Campaign set: a field added to one of them but
// not to AppendJSON makes the bytes differ.
func TestAppendJSONWritesEveryField(t *testing.T) {
	var e Event
	fill(reflect.ValueOf(&e).Elem())
	checkAppendJSON(t, e)
}

// fill sets every field of v to a value that is not empty.
func fill(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.Type().String())
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64:
		v.SetInt(7)
	case reflect.Slice: // json.RawMessage
		v.SetBytes([]byte(`{"k":"v"}`))
	case reflect.Map:
		v.Set(reflect.ValueOf(map[string]string{"k": "v"}))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2024, 3, 1, 12, 0, 0, 5, time.UTC)))
			return
		}
		for i := range v.NumField() {
			fill(v.Field(i))
		}
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("track", "m<1>", "a\u2028", []byte(`{"a": [1, "<&>"]}`), []byte(" {\"x\":\"\xff\"} "), int64(1709294400), true)
	f.Add("", "", "", []byte(`{`), []byte(``), int64(-1), false)
	f.Fuzz(func(t *testing.T, typ, id, anon string, props, ctx []byte, unix int64, bot bool) {
		ts := time.Unix(unix, unix%1e9).UTC()
		checkAppendJSON(t, Event{Type: typ, MessageID: id, AnonymousID: anon, Properties: props, Context: ctx,
			Timestamp: ts, SentAt: &ts, SourceID: id, Hashed: map[string]string{anon: typ, typ: id},
			Enrichment: &Enrichment{IP: typ, Bot: Bot{IsBot: bot, Reason: anon}, Campaign: &Campaign{Term: id}}})
	})
}
