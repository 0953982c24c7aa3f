package profile

import (
	"fmt"
	"maps"
	"time"
)

// Consent purposes a person can grant or refuse.
const (
	PurposeAnalytics = "analytics"
	PurposeMarketing = "marketing"
)

// MaxConsentSource bounds the length of a consent source.
const MaxConsentSource = 200

// Consent is a person's answer for one purpose: granted or not, when they gave it and where
// (the consent banner, the CRM, a support call …).
type Consent struct {
	Granted bool      `json:"granted"`
	At      time.Time `json:"at"`
	Source  string    `json:"source,omitempty"`
}

// ApplyConsent returns the consent state with each purpose of change taken over where it is at
// least as recent as what state holds (the latest answer wins, by when it was given), and whether
// anything changed. The inputs are not modified.
func ApplyConsent(state, change map[string]Consent) (map[string]Consent, bool) {
	out := maps.Clone(state)
	if out == nil {
		out = map[string]Consent{}
	}
	changed := false
	for purpose, c := range change {
		old, ok := out[purpose]
		if ok && c.At.Before(old.At) {
			continue
		}
		c.At = c.At.UTC()
		if !ok || old != c {
			out[purpose] = c
			changed = true
		}
	}
	return out, changed
}

// EventSource is the source of consent answers read from events (context.consent).
const EventSource = "event"

// eventConsent takes an event's consent answers into the state: an answer that repeats the current
// one changes nothing (the state keeps when it was first given), another one wins if it is the
// latest.
func eventConsent(state, answers map[string]Consent) map[string]Consent {
	for purpose, c := range answers {
		if cur, ok := state[purpose]; ok && cur.Granted == c.Granted {
			continue
		}
		state, _ = ApplyConsent(state, map[string]Consent{purpose: c})
	}
	return state
}

// ValidConsentPurpose tells whether purpose is one consent is recorded for.
func ValidConsentPurpose(purpose string) error {
	if purpose != PurposeAnalytics && purpose != PurposeMarketing {
		return fmt.Errorf("%w: unknown consent purpose %q", ErrInvalidEvent, purpose)
	}
	return nil
}
