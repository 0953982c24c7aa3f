package enrich

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/pii"
	"github.com/dcrm-project/dcrm/shared/source"
)

// FuzzScrubExternalIDs checks, for any context a sender may write, that enrichment leaves a valid
// context and no external id of type email or phone in it, unless the source keeps raw data.
func FuzzScrubExternalIDs(f *testing.F) {
	for _, seed := range []string{
		`{"externalIds":[{"id":"a@b.example","type":"email"},{"id":"1","type":"crm_id"}]}`,
		`{"externalIds":[{"id":"07700 900123","type":" Phone ","collection":"users"}],"ip":"203.0.113.9"}`,
		`{"externalIds":[{"id":"x","type":"\u0065mail"}],"ExternalIds":[{"id":"y","type":"EMAIL"}]}`,
		`{"externalIds":[{"id":["a@b"],"type":"email"},null,7]}`,
		`{"externalIds":{"id":"a@b","type":"email"}}`,
		`{"traits":{"email":"a@b.example"},"externalIds":[]}`,
	} {
		f.Add([]byte(seed), false)
	}
	f.Fuzz(func(t *testing.T, ctx []byte, keep bool) {
		if !json.Valid(ctx) {
			return // the endpoint refuses a call whose context is not JSON
		}
		e := beacon.Event{Type: beacon.Track, MessageID: "m", AnonymousID: "a", ReceivedAt: received, Context: ctx}
		evs := []beacon.Event{e}
		New(agents).Events(evs, Request{Source: source.Source{ID: "s", KeepRawPII: keep}, SourceIP: "203.0.113.1", UserAgent: chrome})
		out := evs[0]
		if !json.Valid(out.Context) {
			t.Fatalf("context %s became %s, not JSON", ctx, out.Context)
		}
		if keep {
			return
		}
		for _, x := range out.ContextIDs().ExternalIDs {
			if typ := strings.ToLower(strings.TrimSpace(x.Type)); typ == "email" || typ == "phone" {
				t.Fatalf("context %s keeps an external id of type %s: %s", ctx, typ, out.Context)
			}
		}
	})
}

// FuzzScrubPersonalData checks, for any traits, properties and context a sender may write, that
// enrichment leaves them valid JSON with no email address readable in them (pii.RedactText finds
// none), unless the source keeps raw data, and that enriching again changes none of them.
func FuzzScrubPersonalData(f *testing.F) {
	for _, seed := range [][3]string{
		{`{"Email":"A@b.example","contact":{"email":"c@d.example","phone":"+44 7700 900123"}}`, `{"email":"e@f.example","tel":1}`, `{"Traits":{"e_mail":"g@h.example"}}`},
		{`{"emails":["a@b.example",{"work":"c@d.example"}],"name":"Ann"}`, `{"url":"https://x.example/?e=a%40b.example"}`, `{"page":{"url":"mailto:a@b.example"}}`},
		{`{"phone":"07700 900123","phoneNumber":"x","email":"n/a"}`, `[]`, `{"externalIds":[{"id":"a@b.example","type":"email"}]}`},
		{`{"\u0065mail":"a\u0040b.example"}`, `"a@b.example"`, `{"traits":null}`},
	} {
		f.Add([]byte(seed[0]), []byte(seed[1]), []byte(seed[2]), false)
	}
	f.Fuzz(func(t *testing.T, traits, props, ctx []byte, keep bool) {
		if !json.Valid(traits) || !json.Valid(props) || !json.Valid(ctx) {
			return // the endpoint refuses a call whose members are not JSON
		}
		e := beacon.Event{Type: beacon.Identify, MessageID: "m", AnonymousID: "a", ReceivedAt: received, Traits: traits, Properties: props, Context: ctx}
		evs := []beacon.Event{e}
		r := Request{Source: source.Source{ID: "s", KeepRawPII: keep}, SourceIP: "203.0.113.1", UserAgent: chrome}
		New(agents).Events(evs, r)
		out := evs[0]
		for name, v := range map[string][]byte{"traits": out.Traits, "properties": out.Properties, "context": out.Context} {
			if !json.Valid(v) {
				t.Fatalf("%s became %s, not JSON", name, v)
			}
			if !keep && pii.RedactText(string(v)) != string(v) {
				t.Fatalf("%s keeps an email address: %s", name, v)
			}
		}
		if keep {
			return
		}
		again := []beacon.Event{out}
		New(agents).Events(again, r)
		if string(again[0].Traits) != string(out.Traits) || string(again[0].Properties) != string(out.Properties) || string(again[0].Context) != string(out.Context) {
			t.Fatalf("enriching again changed the event:\n%s %s %s\n%s %s %s", out.Traits, out.Properties, out.Context,
				again[0].Traits, again[0].Properties, again[0].Context)
		}
	})
}
