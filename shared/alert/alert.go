// Package alert defines the messages dcrm hands to downstream tools and operators through queues.
// Every message is a JSON object whose "type" and "version" also travel as message attributes, so a
// consumer can route or filter without parsing the body; each has a JSON Schema under
// events/schemas (alert-lapse.v1.json, alert-lapse.v2.json, failed-event.v1.json).
package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/scoring"
)

// ErrInvalid is returned by Validate for a message that misses a required field.
var ErrInvalid = errors.New("invalid alert")

// Message is anything the queues carry.
type Message interface {
	MessageType() string
	MessageVersion() int
	Validate() error
}

// Types and versions of the messages.
const (
	TypeLapse          = "lapse"
	LapseVersion       = 1
	TypeFailedEvent    = "failed-event"
	FailedEventVersion = 1
)

// Lapse says that a customer has not been seen for longer than the lapse period. It is raised once
// per lapse; its AlertID is the same whenever the same lapse is reported again (after a crash, for
// instance), so consumers can drop repeats.
type Lapse struct {
	Type         string    `json:"type"`
	Version      int       `json:"version"`
	AlertID      string    `json:"alertId"`
	ProfileID    string    `json:"profileId"`
	UserID       string    `json:"userId,omitempty"`
	AnonymousIDs []string  `json:"anonymousIds"`
	LastSeen     time.Time `json:"lastSeen"`
	InactiveDays int       `json:"inactiveDays"`
	RaisedAt     time.Time `json:"raisedAt"`
}

// NewLapse is the lapse alert for a profile, raised at raisedAt.
func NewLapse(p profile.Profile, raisedAt time.Time) Lapse {
	anon := slices.Clone(p.AnonymousIDs)
	if anon == nil {
		anon = []string{}
	}
	return Lapse{
		Type: TypeLapse, Version: LapseVersion,
		AlertID:   LapseID(p.ID, p.LastSeen),
		ProfileID: p.ID, UserID: p.UserID, AnonymousIDs: anon,
		LastSeen:     p.LastSeen.UTC(),
		InactiveDays: scoring.DaysSince(p.LastSeen, raisedAt),
		RaisedAt:     raisedAt.UTC(),
	}
}

// LapseID identifies the lapse of a profile that started when it was last seen.
func LapseID(profileID string, lastSeen time.Time) string {
	sum := sha256.Sum256([]byte("lapse\x00" + profileID + "\x00" + lastSeen.UTC().Format(time.RFC3339Nano)))
	return hex.EncodeToString(sum[:16])
}

func (Lapse) MessageType() string { return TypeLapse }
func (Lapse) MessageVersion() int { return LapseVersion }

// Validate checks the fields every consumer relies on.
func (l Lapse) Validate() error {
	switch {
	case l.Type != TypeLapse || l.Version != LapseVersion:
		return fmt.Errorf("%w: type %q version %d, want %q version %d", ErrInvalid, l.Type, l.Version, TypeLapse, LapseVersion)
	case l.AlertID == "" || l.ProfileID == "":
		return fmt.Errorf("%w: lapse without alertId or profileId", ErrInvalid)
	case l.LastSeen.IsZero() || l.RaisedAt.IsZero():
		return fmt.Errorf("%w: lapse without lastSeen or raisedAt", ErrInvalid)
	}
	return nil
}

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
	// Data is the record (its first MaxFailedData bytes; Truncated says whether there was more).
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
