package enrich

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/dcrm-project/dcrm/shared/beacon"
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
