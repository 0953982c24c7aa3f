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
	e.Traits, _ = pii.RedactJSON(e.Traits, true)
	e.Context, _ = pii.RedactJSON(e.Context, false)
	e.Properties, _ = pii.RedactJSON(e.Properties, false)
	e.Integrations, _ = pii.RedactJSON(e.Integrations, false)
}
