package beacon

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dcrm-project/dcrm/shared/pii"
)

func TestRedact(t *testing.T) {
	e := Event{
		Traits:       json.RawMessage(`{"email":"ann@example.com","name":"Ann"}`),
		Context:      json.RawMessage(`{"traits":{"phone":"07700 900123"},"locale":"en-GB"}`),
		Properties:   json.RawMessage(`{"to":"bob@example.org","sku":"s-1"}`),
		Integrations: json.RawMessage(`{"Mailer":{"replyTo":"cat@example.net"},"All":true}`),
	}
	kept := e
	kept.RawPII = true
	e.Redact()
	for _, v := range []json.RawMessage{e.Traits, e.Context, e.Properties, e.Integrations} {
		for _, raw := range []string{"ann@", "Ann", "07700", "bob@", "cat@"} {
			if strings.Contains(string(v), raw) {
				t.Errorf("%s keeps %q", v, raw)
			}
		}
	}
	if !strings.Contains(string(e.Context), `"locale":"en-GB"`) || !strings.Contains(string(e.Properties), `"sku":"s-1"`) {
		t.Errorf("what is not personal changed: %s %s", e.Context, e.Properties)
	}
	again := e
	again.Redact()
	if string(again.Traits) != string(e.Traits) || string(again.Integrations) != string(e.Integrations) {
		t.Error("redacting twice changed the event")
	}
	before := kept
	kept.Redact()
	if string(kept.Traits) != string(before.Traits) || string(kept.Properties) != string(before.Properties) {
		t.Error("an event whose source keeps raw data was redacted")
	}
}

// redactJSON, which checks with this package's scanner, answers as pii.RedactJSON; RedactValid
// as Redact for valid JSON.
func FuzzRedactJSONIsPII(f *testing.F) {
	for _, s := range []string{`{"email":"ann@example.com","name":"Ann"}`, `{"traits":{"phone":"07700 900123"}}`, `[1,"bob@example.org"]`,
		`{"a":`, ``, `"x@y.example"`, ` {"Mail" : "a@b.example"} `, `{"email":"a@b.example"} x`} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Add([]byte(`"`+strings.Repeat("a", pii.MaxBytes)+`"`), false)
	f.Fuzz(func(t *testing.T, raw []byte, inTraits bool) {
		want, _ := pii.RedactJSON(raw, inTraits)
		if got := redactJSON(raw, inTraits); string(got) != string(want) {
			t.Fatalf("%q: %q, want %q", raw, got, want)
		}
		if !json.Valid(raw) {
			return
		}
		// RedactValid, which does not check the event again, redacts a valid one as Redact does.
		e := Event{Context: raw, Properties: raw, Integrations: raw, Traits: raw}
		checked := e
		checked.Redact()
		e.RedactValid()
		if string(e.Traits) != string(checked.Traits) || string(e.Context) != string(checked.Context) ||
			string(e.Properties) != string(checked.Properties) || string(e.Integrations) != string(checked.Integrations) {
			t.Fatalf("%q: RedactValid %+v, Redact %+v", raw, e, checked)
		}
	})
}
