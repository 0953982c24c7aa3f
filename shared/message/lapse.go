package message

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"time"
)

// LapseVersion is the version of the lapse alert: a valuable customer whose lapse risk crossed the
// alert threshold (package lapse). Version 1, which said only that a customer had been inactive for
// a fixed period, is no longer sent.
const LapseVersion = 2

// Lapse says that a valuable customer is slipping away: their lapse risk crossed the threshold.
// It is raised once per crossing; its AlertID is the same whenever the same crossing is reported
// again (a retry after a crash between sending and recording), so consumers can drop repeats.
type Lapse struct {
	Type         string    `json:"type"`
	Version      int       `json:"version"`
	AlertID      string    `json:"alertId"`
	ProfileID    string    `json:"profileId"`
	UserID       string    `json:"userId,omitempty"`
	AnonymousIDs []string  `json:"anonymousIds"`
	LastSeen     time.Time `json:"lastSeen"`
	InactiveDays int       `json:"inactiveDays"`
	// Risk is 1 − P(alive)·(1 − activity risk), with what it is made of.
	Risk           float64 `json:"risk"`
	PAlive         float64 `json:"pAlive"`
	Activity       float64 `json:"activity"`
	RecentVisits   int     `json:"recentVisits"`
	ExpectedVisits float64 `json:"expectedVisits"`
	// Value is what made the customer worth the alert: the CLV when the purchase models scored
	// them (then also in CLV), else the revenue so far.
	Value   float64  `json:"value"`
	CLV     *float64 `json:"clv,omitempty"`
	Revenue float64  `json:"revenue"`
	Segment string   `json:"segment,omitempty"` // the RFM segment, when scored
	// Reason says it in words, e.g. "lapse risk 0.91: P(alive) 0.09; value 312.40".
	Reason   string    `json:"reason"`
	RaisedAt time.Time `json:"raisedAt"`
}

// NewLapse completes l, which holds the customer and their risk: its type, version and the
// alertId of the crossing (see LapseID; previous is when the profile's last lapse alert was raised,
// zero if never), its times in UTC and anonymousIds never null.
func NewLapse(l Lapse, previous time.Time) Lapse {
	l.Type, l.Version, l.AlertID = TypeLapse, LapseVersion, LapseID(l.ProfileID, previous)
	l.AnonymousIDs, l.LastSeen, l.RaisedAt = nonNil(l.AnonymousIDs), l.LastSeen.UTC(), l.RaisedAt.UTC()
	return l
}

// LapseID identifies a crossing by the profile and its previous alert: until the crossing is
// recorded (which moves the previous alert), every report of it has the same id.
func LapseID(profileID string, previous time.Time) string {
	prev := ""
	if !previous.IsZero() {
		prev = previous.UTC().Format(time.RFC3339Nano)
	}
	// The prefix is part of the id: changing it would give a crossing already sent a new id.
	sum := sha256.Sum256([]byte("lapse.v2\x00" + profileID + "\x00" + prev))
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
	case l.RaisedAt.IsZero() || l.Reason == "":
		return fmt.Errorf("%w: lapse without raisedAt or reason", ErrInvalid)
	case !(l.Risk >= 0 && l.Risk <= 1) || !(l.PAlive >= 0 && l.PAlive <= 1):
		return fmt.Errorf("%w: lapse risk %v, P(alive) %v: want probabilities", ErrInvalid, l.Risk, l.PAlive)
	case math.IsNaN(l.Value) || math.IsInf(l.Value, 0):
		return fmt.Errorf("%w: lapse value %v", ErrInvalid, l.Value)
	}
	return nil
}
