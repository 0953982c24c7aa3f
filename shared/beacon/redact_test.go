package beacon

import (
	"encoding/json"
	"strings"
	"testing"
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
