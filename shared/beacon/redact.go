package beacon

import "github.com/dcrm-project/dcrm/shared/pii"

// Redact takes the personal data out of the event's traits, context, properties and integrations
// options where it is
// (pii.RedactJSON: emails hashed, phones, names, addresses and the like redacted), unless its
// source keeps raw personal data (RawPII). The person's email and phone, hashed into Hashed by the
// endpoint, are not touched. Redacting an event twice changes nothing.
func (e *Event) Redact() {
	if e.RawPII {
		return
	}
	e.Traits = redactJSON(e.Traits, true)
	e.Context = redactJSON(e.Context, false)
	e.Properties = redactJSON(e.Properties, false)
	e.Integrations = redactJSON(e.Integrations, false)
}

// RedactValid is Redact of an event whose raw fields are known to be valid JSON, as Payload.Split
// gives them and enrichment writes them: they are not checked again. Raw fields that are not valid
// JSON are the caller's error.
func (e *Event) RedactValid() {
	if e.RawPII {
		return
	}
	e.Traits, _ = pii.RedactValidJSON(e.Traits, true)
	e.Context, _ = pii.RedactValidJSON(e.Context, false)
	e.Properties, _ = pii.RedactValidJSON(e.Properties, false)
	e.Integrations, _ = pii.RedactValidJSON(e.Integrations, false)
}

// redactJSON is pii.RedactJSON, with raw checked by this package's scanner rather than json.Valid.
func redactJSON(raw []byte, inTraits bool) []byte {
	if validJSON(raw) {
		out, _ := pii.RedactValidJSON(raw, inTraits)
		return out
	}
	out, _ := pii.RedactJSON(raw, inTraits) // invalid (kept as it is), or nothing
	return out
}
