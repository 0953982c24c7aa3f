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
)

// Event is one Segment-shaped call. Fields the endpoint adds (ReceivedAt, SourceID, Trusted) are
// set by collect and travel on the stream; senders cannot set them.
type Event struct {
	Type              string          `json:"type"`
	MessageID         string          `json:"messageId"`
	AnonymousID       string          `json:"anonymousId,omitempty"`
	UserID            string          `json:"userId,omitempty"`
	Event             string          `json:"event,omitempty"` // track: the event name
	Name              string          `json:"name,omitempty"`  // page: the page name
	Properties        json.RawMessage `json:"properties,omitempty"`
	Traits            json.RawMessage `json:"traits,omitempty"`
	Context           json.RawMessage `json:"context,omitempty"`
	Integrations      json.RawMessage `json:"integrations,omitempty"`
	Timestamp         time.Time       `json:"timestamp"`
	OriginalTimestamp *time.Time      `json:"originalTimestamp,omitempty"`
	SentAt            *time.Time      `json:"sentAt,omitempty"`

	ReceivedAt time.Time `json:"receivedAt"`
	SourceID   string    `json:"sourceId"`
	Trusted    bool      `json:"trusted,omitempty"`
}

// Visitor is the id the stream partitions on, so that one visitor's events stay in order on one
// shard: the anonymous id when there is one (it is stable across a login), else the user id.
func (e Event) Visitor() string {
	if e.AnonymousID != "" {
		return e.AnonymousID
	}
	return e.UserID
}
