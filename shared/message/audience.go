package message

import (
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Types and version of the messages on the audiences queue.
const (
	TypeAudienceEntered    = "audience.entered"
	TypeAudienceExited     = "audience.exited"
	AudienceChangedVersion = 1
)

// AttrAudience is the message attribute that carries an audience change's audience id, so that a
// consumer (or a subscription filter) takes the audiences it activates without parsing bodies.
const AttrAudience = "audience"

// Consent answers as an audience change carries them.
const (
	ConsentGranted = "granted"
	ConsentDenied  = "denied"
	ConsentUnknown = "unknown"
)

// AudienceChanged says that a person entered an audience (Type audience.entered) or left it
// (audience.exited), with the identifiers a destination matches people by, so that a downstream
// tool adds them to a list, a suppression file or an ad platform's audience, or takes them off.
//
// Its messageId is a hash of the type, profileId, audienceId and profileVersion, the version of
// the profile that records the change: a change announced again (a retry after a crash before the
// profile was written) has the same messageId, and consumers drop repeats by it. A change is
// announced before it is recorded, so in rare cases (the write lost a race) the same entry is
// announced again at another version: membership is a state, so applying an entry twice is
// harmless.
type AudienceChanged struct {
	Type           string `json:"type"`
	Version        int    `json:"version"`
	MessageID      string `json:"messageId"`
	AudienceID     string `json:"audienceId"`
	ProfileID      string `json:"profileId"`
	ProfileVersion int    `json:"profileVersion"`
	UserID         string `json:"userId,omitempty"`
	// AnonymousIDs are the person's cookie and device-scoped anonymous ids; Identifiers the
	// others it is known by ("<type>:<value>": hashed email and phone as emailSha256: and
	// phoneSha256:, advertising and device ids, external ids), sorted.
	AnonymousIDs []string `json:"anonymousIds"`
	Identifiers  []string `json:"identifiers"`
	// MarketingConsent is the person's latest answer for marketing: granted, denied or unknown.
	MarketingConsent string `json:"marketingConsent"`
	// At is when the change was found; Since when the person entered (for an exit, the entry it
	// ends).
	At    time.Time `json:"at"`
	Since time.Time `json:"since"`
}

// NewAudienceChanged completes m: its type (entered or exited), version and messageId, times in
// UTC, lists never null.
func NewAudienceChanged(m AudienceChanged, entered bool) AudienceChanged {
	m.Type = TypeAudienceExited
	if entered {
		m.Type = TypeAudienceEntered
	}
	m.Version = AudienceChangedVersion
	m.MessageID = AudienceChangeID(m.Type, m.ProfileID, m.AudienceID, m.ProfileVersion)
	m.AnonymousIDs, m.Identifiers = nonNil(m.AnonymousIDs), nonNil(m.Identifiers)
	slices.Sort(m.Identifiers)
	m.At, m.Since = m.At.UTC(), m.Since.UTC()
	return m
}

// AudienceChangeID is the messageId of a change of type typ of a profile's membership of an
// audience, recorded at the profile's version.
func AudienceChangeID(typ, profileID, audienceID string, version int) string {
	return hashID(typ, profileID, audienceID, strconv.Itoa(version))
}

func (m AudienceChanged) MessageType() string { return m.Type }
func (AudienceChanged) MessageVersion() int   { return AudienceChangedVersion }

// MessageAttributes are the attributes beside type and version: the audience.
func (m AudienceChanged) MessageAttributes() map[string]string {
	return map[string]string{AttrAudience: m.AudienceID}
}

// Validate checks the fields every consumer relies on.
func (m AudienceChanged) Validate() error {
	switch {
	case m.Type != TypeAudienceEntered && m.Type != TypeAudienceExited || m.Version != AudienceChangedVersion:
		return fmt.Errorf("%w: type %q version %d, want %q or %q version %d", ErrInvalid, m.Type, m.Version, TypeAudienceEntered, TypeAudienceExited, AudienceChangedVersion)
	case m.AudienceID == "" || m.ProfileID == "" || m.ProfileVersion < 1:
		return fmt.Errorf("%w: audience change without audienceId, profileId or profileVersion", ErrInvalid)
	case m.MessageID != AudienceChangeID(m.Type, m.ProfileID, m.AudienceID, m.ProfileVersion):
		return fmt.Errorf("%w: audience change with a messageId not made of its type, profileId, audienceId and profileVersion", ErrInvalid)
	case m.At.IsZero() || m.Since.IsZero() || m.Since.After(m.At):
		return fmt.Errorf("%w: audience change without at and since, or since after at", ErrInvalid)
	case !slices.Contains([]string{ConsentGranted, ConsentDenied, ConsentUnknown}, m.MarketingConsent):
		return fmt.Errorf("%w: marketingConsent %q, want granted, denied or unknown", ErrInvalid, m.MarketingConsent)
	}
	return nil
}
