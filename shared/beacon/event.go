// Package beacon is dcrm's wire format: events in the shape of the Segment Tracking API, as they
// arrive at the collection endpoint and as they travel on the stream after validation and enrichment.
package beacon

import (
	"encoding/json"
	"time"
)

// Event types accepted by the endpoint.
const (
	Track    = "track"
	Page     = "page"
	Identify = "identify"
	Screen   = "screen" // a mobile app's page view
	Group    = "group"  // the user belongs to a group (an account, a company)
	Alias    = "alias"  // previousId and userId are the same person
)

// Event is one Segment-shaped call. Fields the endpoint adds (ReceivedAt, SourceID, Trusted, Pixel)
// are set by collect and travel on the stream; senders cannot set them.
type Event struct {
	Type              string          `json:"type"`
	MessageID         string          `json:"messageId"`
	AnonymousID       string          `json:"anonymousId,omitempty"`
	UserID            string          `json:"userId,omitempty"`
	Event             string          `json:"event,omitempty"` // track: the event name
	Name              string          `json:"name,omitempty"`  // page, screen: its name
	Properties        json.RawMessage `json:"properties,omitempty"`
	Traits            json.RawMessage `json:"traits,omitempty"`
	Context           json.RawMessage `json:"context,omitempty"` // as sent, personal data scrubbed; see ContextIDs
	Integrations      json.RawMessage `json:"integrations,omitempty"`
	Timestamp         time.Time       `json:"timestamp"`
	OriginalTimestamp *time.Time      `json:"originalTimestamp,omitempty"`
	SentAt            *time.Time      `json:"sentAt,omitempty"`

	ReceivedAt time.Time `json:"receivedAt"`
	SourceID   string    `json:"sourceId"`
	Trusted    bool      `json:"trusted,omitempty"`
	// Pixel is set on an event loaded through the pixel API (GET /v1/pixel/{type}): an image in an
	// email or an ad, so a track event is an impression rather than a visit (see package profile).
	Pixel bool `json:"pixel,omitempty"`

	// PreviousID is the alias call's earlier identity of the user: an anonymous id or an earlier
	// user id.
	PreviousID string `json:"previousId,omitempty"`
	// GroupID is the group call's group.
	GroupID string `json:"groupId,omitempty"`

	// Enrichment is what the endpoint learned about the event beside what the sender says (see
	// Enrichment).
	Enrichment *Enrichment `json:"enrichment,omitempty"`
	// Hashed holds SHA-256 hashes of the personal data the event carried (see Enrichment), e.g.
	// "email_sha256", "phone_sha256", and per-destination variants such as "email_sha256_google"
	// where a destination normalises differently.
	Hashed map[string]string `json:"hashed,omitempty"`
	// RawPII says that the event's source keeps personal data as sent (source.KeepRawPII): the
	// endpoint hashed the person's email and phone into Hashed but redacted nothing else, and
	// stitch leaves the event as it is. Without it, stitch redacts the event again before
	// keeping anything of it (an event put on the stream by an older endpoint).
	RawPII bool `json:"rawPII,omitempty"`
}

// Visitor is the id the stream partitions on, so that one visitor's events stay in order on one
// shard: the anonymous id when there is one (it is stable across a login), else the user id.
func (e Event) Visitor() string {
	if e.AnonymousID != "" {
		return e.AnonymousID
	}
	return e.UserID
}
