// Package message defines the messages dcrm sends to downstream tools and operators through its
// queues: failed events, profile changes, lapse alerts and fired triggers. Every message is a JSON
// object whose "type" and "version" also travel as message attributes, so a consumer can route or
// filter without parsing the body; each has a JSON Schema under events/schemas
// (alert-lapse.v2.json, failed-event.v1.json, ...).
//
// The messages are a contract with tools outside dcrm, so this package has its own types and
// depends on no other part of dcrm: a change to the profile or to a model does not change a
// message unnoticed. The package that owns what a message reports fills it in (lapse.Alert.Message,
// trigger.Trigger.Message, the stitch and profiles functions for profile changes), and the New…
// function of the message completes it with what the contract fixes: type, version, the id
// consumers drop repeats by, times in UTC, lists never null.
package message

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// ErrInvalid is returned by Validate for a message that misses a required field.
var ErrInvalid = errors.New("invalid message")

// Message is anything the queues carry.
type Message interface {
	MessageType() string
	MessageVersion() int
	Validate() error
}

// Types and versions of the messages.
const (
	TypeLapse          = "lapse"
	TypeFailedEvent    = "failed-event"
	FailedEventVersion = 1
)

// MaxFailedData is how much of a failed record a FailedEvent carries; queues limit message size.
const MaxFailedData = 128 << 10

// FailedEvent is an event dcrm could not process, with the reason in words. It carries the record
// as received (base64 in JSON), so an operator can correct and replay it.
type FailedEvent struct {
	Type    string `json:"type"`
	Version int    `json:"version"`
	// Reason says what is wrong, for a person.
	Reason string `json:"reason"`
	// Stage is the function that gave up on the event, e.g. "stitch".
	Stage string `json:"stage"`
	// Where the record came from: the stream record's event id, sequence number and partition key.
	EventID        string `json:"eventId,omitempty"`
	SequenceNumber string `json:"sequenceNumber,omitempty"`
	PartitionKey   string `json:"partitionKey,omitempty"`
	// Data is the record (its first MaxFailedData bytes; Truncated says whether there was more),
	// its personal data redacted by the function that sends it (package pii): the queue is read by
	// people.
	Data      []byte    `json:"data"`
	Truncated bool      `json:"truncated,omitempty"`
	FailedAt  time.Time `json:"failedAt"`
}

// NewFailedEvent describes a record that failed at stage for reason.
func NewFailedEvent(stage, reason string, data []byte, failedAt time.Time) FailedEvent {
	f := FailedEvent{
		Type: TypeFailedEvent, Version: FailedEventVersion, Reason: reason, Stage: stage,
		Data: slices.Clone(data), FailedAt: failedAt.UTC(),
	}
	if f.Data == nil {
		f.Data = []byte{}
	}
	if len(f.Data) > MaxFailedData {
		f.Data, f.Truncated = f.Data[:MaxFailedData], true
	}
	return f
}

func (FailedEvent) MessageType() string { return TypeFailedEvent }
func (FailedEvent) MessageVersion() int { return FailedEventVersion }

// Validate checks the fields every consumer relies on.
func (f FailedEvent) Validate() error {
	switch {
	case f.Type != TypeFailedEvent || f.Version != FailedEventVersion:
		return fmt.Errorf("%w: type %q version %d, want %q version %d", ErrInvalid, f.Type, f.Version, TypeFailedEvent, FailedEventVersion)
	case f.Reason == "" || f.Stage == "":
		return fmt.Errorf("%w: failed event without reason or stage", ErrInvalid)
	case f.FailedAt.IsZero():
		return fmt.Errorf("%w: failed event without failedAt", ErrInvalid)
	}
	return nil
}
