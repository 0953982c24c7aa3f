package message

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"
)

// Types and versions of the messages on the profile-updates queue, through which the CRM takes
// every profile change back into its own view of the customer. Each carries a messageId that is
// the same whenever the same change is published again, so consumers drop redeliveries by it.
const (
	TypeProfileUpdated    = "profile.updated"
	ProfileUpdatedVersion = 1
	TypeProfileMerged     = "profile.merged"
	ProfileMergedVersion  = 1
	TypeProfileErased     = "profile.erased"
	ProfileErasedVersion  = 1
	TypeProfileConsent    = "profile.consent"
	ProfileConsentVersion = 1
	TypeProfileSplit      = "profile.split"
	ProfileSplitVersion   = 1
)

// Counts are how many events of each type a profile has seen. They are the profile's counts
// (profile.Counts) as the message carries them: a sender converts them, Counts(p.Counts), so that a
// count added to the profile does not join the message, whose schema would refuse it, unnoticed.
type Counts struct {
	Events     int `json:"events"`
	PageViews  int `json:"pageViews"`
	Tracks     int `json:"tracks"`
	Identifies int `json:"identifies"`
	Screens    int `json:"screens"`
}

// ProfileChanges summarises what one batch of events changed on a profile.
type ProfileChanges struct {
	// IdentifiersAdded are the identifiers ("<type>:<value>", hashed ones hashed) the profile
	// gained, sorted.
	IdentifiersAdded []string `json:"identifiersAdded"`
	// MergedFrom are the profiles folded into this one by the batch, sorted.
	MergedFrom []string `json:"mergedFrom"`
	// TraitsChanged are the names of the traits whose value changed, sorted.
	TraitsChanged []string `json:"traitsChanged"`
	// Events is how many events of the batch were recorded on the profile (0 when the message
	// is published again for a replayed batch).
	Events int `json:"events"`
}

// ProfileUpdated says that a profile changed: it carries the profile's version after the change,
// its state in brief and a summary of the change. Its messageId is profileId and version, so the
// same version published again (a replayed batch) has the same id.
type ProfileUpdated struct {
	Type      string `json:"type"`
	Version   int    `json:"version"`
	MessageID string `json:"messageId"`
	ProfileID string `json:"profileId"`
	// ProfileVersion increases with every change of the profile; a consumer keeps the highest.
	ProfileVersion int       `json:"profileVersion"`
	UserID         string    `json:"userId,omitempty"`
	AnonymousIDs   []string  `json:"anonymousIds"`
	Counts         Counts    `json:"counts"`
	FirstSeen      time.Time `json:"firstSeen,omitzero"`    // on a site or an app; absent while only impressions reached the person
	LastSeen       time.Time `json:"lastSeen,omitzero"`     // impressions do not move it
	Impressions    int       `json:"impressions,omitempty"` // emails and ads that reached the person (never visits)
	// AllMergedFrom are all the profiles ever folded into this one, so a consumer that missed a
	// profile.merged message still learns of the merge.
	AllMergedFrom []string       `json:"allMergedFrom"`
	Changes       ProfileChanges `json:"changes"`
	UpdatedAt     time.Time      `json:"updatedAt"`
	// Audiences are the audiences the person is in at this version, sorted (changes of them also
	// come as audience.entered and audience.exited on the audiences queue).
	Audiences []string `json:"audiences"`
	// Score is the latest scoring of the person in brief; absent before the first.
	Score *ScoreBrief `json:"score,omitempty"`
}

// ScoreBrief is what a profile.updated tells of the person's latest score: the segment, the
// figures a CRM files and the best next action's kind. GET /v1/profiles/{profileId} has the rest
// (reasons, the models' figures).
type ScoreBrief struct {
	ScoredAt time.Time `json:"scoredAt"`
	// RFM is the score R×100 + F×10 + M (543), Segment its segment (Champions, At Risk …; for
	// visitors who never bought, of the engagement variant: Hot Prospects …).
	RFM     int    `json:"rfm,omitempty"`
	Segment string `json:"segment,omitempty"`
	// CLV and PAlive, from the purchase models (buyers only); LapseRisk from the lapse model.
	CLV        *float64 `json:"clv,omitempty"`
	PAlive     *float64 `json:"pAlive,omitempty"`
	LapseRisk  *float64 `json:"lapseRisk,omitempty"`
	Cluster    string   `json:"cluster,omitempty"`
	NextAction string   `json:"nextAction,omitempty"` // the best next action's kind
}

// UpdatedID is the messageId of version of profile id.
func UpdatedID(profileID string, version int) string {
	return profileID + ":" + strconv.Itoa(version)
}

// NewProfileUpdated completes u, which holds the profile at its version and the change: its type,
// version and messageId (UpdatedID), its times in UTC, its lists never null and the change's
// sorted, without repeats.
func NewProfileUpdated(u ProfileUpdated) ProfileUpdated {
	u.Type, u.Version, u.MessageID = TypeProfileUpdated, ProfileUpdatedVersion, UpdatedID(u.ProfileID, u.ProfileVersion)
	u.AnonymousIDs, u.AllMergedFrom, u.Audiences = nonNil(u.AnonymousIDs), nonNil(u.AllMergedFrom), sortedSet(u.Audiences)
	if u.Score != nil {
		sc := *u.Score
		sc.ScoredAt = sc.ScoredAt.UTC()
		u.Score = &sc
	}
	u.FirstSeen, u.LastSeen, u.UpdatedAt = u.FirstSeen.UTC(), u.LastSeen.UTC(), u.UpdatedAt.UTC()
	c := u.Changes
	u.Changes = ProfileChanges{IdentifiersAdded: sortedSet(c.IdentifiersAdded), MergedFrom: sortedSet(c.MergedFrom),
		TraitsChanged: sortedSet(c.TraitsChanged), Events: c.Events}
	return u
}

func (ProfileUpdated) MessageType() string { return TypeProfileUpdated }
func (ProfileUpdated) MessageVersion() int { return ProfileUpdatedVersion }

// Validate checks the fields every consumer relies on.
func (u ProfileUpdated) Validate() error {
	switch {
	case u.Type != TypeProfileUpdated || u.Version != ProfileUpdatedVersion:
		return fmt.Errorf("%w: type %q version %d, want %q version %d", ErrInvalid, u.Type, u.Version, TypeProfileUpdated, ProfileUpdatedVersion)
	case u.ProfileID == "" || u.ProfileVersion < 1:
		return fmt.Errorf("%w: profile update without profileId or version", ErrInvalid)
	case u.MessageID != UpdatedID(u.ProfileID, u.ProfileVersion):
		return fmt.Errorf("%w: profile update messageId %q is not profileId:version", ErrInvalid, u.MessageID)
	}
	return nil
}

// ProfileMerged says that profile From was folded into profile Into: From's identifiers and history
// belong to Into from now on, and From is not updated again.
type ProfileMerged struct {
	Type      string    `json:"type"`
	Version   int       `json:"version"`
	MessageID string    `json:"messageId"`
	From      string    `json:"from"`
	Into      string    `json:"into"`
	MergedAt  time.Time `json:"mergedAt"`
}

// NewProfileMerged describes the merge of from into into, seen at.
func NewProfileMerged(from, into string, at time.Time) ProfileMerged {
	return ProfileMerged{Type: TypeProfileMerged, Version: ProfileMergedVersion,
		MessageID: hashID(TypeProfileMerged, from, into), From: from, Into: into, MergedAt: at.UTC()}
}

func (ProfileMerged) MessageType() string { return TypeProfileMerged }
func (ProfileMerged) MessageVersion() int { return ProfileMergedVersion }

// Validate checks the fields every consumer relies on.
func (m ProfileMerged) Validate() error {
	switch {
	case m.Type != TypeProfileMerged || m.Version != ProfileMergedVersion:
		return fmt.Errorf("%w: type %q version %d, want %q version %d", ErrInvalid, m.Type, m.Version, TypeProfileMerged, ProfileMergedVersion)
	case m.MessageID == "" || m.From == "" || m.Into == "" || m.From == m.Into:
		return fmt.Errorf("%w: merge without messageId or two different profiles", ErrInvalid)
	case m.MergedAt.IsZero():
		return fmt.Errorf("%w: merge without mergedAt", ErrInvalid)
	}
	return nil
}

// ProfileErased says that a person is being erased: the CRM must erase them too. It is published
// once, before the erasure starts (nothing is erased when it cannot be sent, and the caller's
// repeat announces again, under the same messageId), so no erasure goes unannounced. It carries
// no personal data, only profile ids.
type ProfileErased struct {
	Type      string `json:"type"`
	Version   int    `json:"version"`
	MessageID string `json:"messageId"`
	ProfileID string `json:"profileId"`
	// MergedProfiles are the profiles merged into ProfileID, erased with it.
	MergedProfiles []string  `json:"mergedProfiles"`
	ErasedAt       time.Time `json:"erasedAt"`
}

// NewProfileErased describes the erasure of profile id and the profiles merged into it.
func NewProfileErased(profileID string, merged []string, at time.Time) ProfileErased {
	return ProfileErased{Type: TypeProfileErased, Version: ProfileErasedVersion,
		MessageID: hashID(TypeProfileErased, profileID), ProfileID: profileID,
		MergedProfiles: sortedSet(merged), ErasedAt: at.UTC()}
}

func (ProfileErased) MessageType() string { return TypeProfileErased }
func (ProfileErased) MessageVersion() int { return ProfileErasedVersion }

// Validate checks the fields every consumer relies on.
func (e ProfileErased) Validate() error {
	switch {
	case e.Type != TypeProfileErased || e.Version != ProfileErasedVersion:
		return fmt.Errorf("%w: type %q version %d, want %q version %d", ErrInvalid, e.Type, e.Version, TypeProfileErased, ProfileErasedVersion)
	case e.MessageID == "" || e.ProfileID == "" || e.ErasedAt.IsZero():
		return fmt.Errorf("%w: erasure without messageId, profileId or erasedAt", ErrInvalid)
	}
	return nil
}

// ProfileConsent says what a person consented to, per purpose, after a consent change.
type ProfileConsent struct {
	Type      string             `json:"type"`
	Version   int                `json:"version"`
	MessageID string             `json:"messageId"`
	ProfileID string             `json:"profileId"`
	Consent   map[string]Consent `json:"consent"`
}

// Consent is a person's latest answer for one purpose: the profile's consent (profile.Consent) as
// the message carries it, converted by the sender, Consent(c).
type Consent struct {
	Granted bool      `json:"granted"`
	At      time.Time `json:"at"`
	Source  string    `json:"source,omitempty"`
}

// NewProfileConsent describes the consent state c of profile id. The messageId is a hash of the
// profile id and the state, so the same state published again has the same id.
func NewProfileConsent(profileID string, c map[string]Consent) ProfileConsent {
	parts := []string{TypeProfileConsent, profileID}
	for _, k := range slices.Sorted(maps.Keys(c)) {
		parts = append(parts, k, strconv.FormatBool(c[k].Granted), c[k].At.UTC().Format(time.RFC3339Nano), c[k].Source)
	}
	return ProfileConsent{Type: TypeProfileConsent, Version: ProfileConsentVersion,
		MessageID: hashID(parts...), ProfileID: profileID, Consent: c}
}

func (ProfileConsent) MessageType() string { return TypeProfileConsent }
func (ProfileConsent) MessageVersion() int { return ProfileConsentVersion }

// Validate checks the fields every consumer relies on.
func (c ProfileConsent) Validate() error {
	switch {
	case c.Type != TypeProfileConsent || c.Version != ProfileConsentVersion:
		return fmt.Errorf("%w: type %q version %d, want %q version %d", ErrInvalid, c.Type, c.Version, TypeProfileConsent, ProfileConsentVersion)
	case c.MessageID == "" || c.ProfileID == "" || len(c.Consent) == 0:
		return fmt.Errorf("%w: consent without messageId, profileId or state", ErrInvalid)
	}
	return nil
}

// ProfileSplit says that an operator undid a merge: profile SplitID, merged into ProfileID before,
// is a profile of its own again, with the identifiers it joined with and the events recorded
// through them, and the two are never merged again. The CRM splits its own record likewise. It is
// published after the split; the caller repeats a split whose publication failed, and the repeat
// publishes again under the same messageId (with the counts of what the repeat moved, usually 0).
type ProfileSplit struct {
	Type      string `json:"type"`
	Version   int    `json:"version"`
	MessageID string `json:"messageId"`
	ProfileID string `json:"profileId"` // the live profile the other was split from
	SplitID   string `json:"splitId"`   // the profile that is live again
	// Identifiers and Touchpoints are how many identifiers and history events went back to SplitID.
	Identifiers int       `json:"identifiers"`
	Touchpoints int       `json:"touchpoints"`
	SplitAt     time.Time `json:"splitAt"`
}

// NewProfileSplit describes the split of splitID from profileID, done at. The messageId is a hash of
// the two ids, so the same split published again has the same id.
func NewProfileSplit(profileID, splitID string, identifiers, touchpoints int, at time.Time) ProfileSplit {
	return ProfileSplit{Type: TypeProfileSplit, Version: ProfileSplitVersion,
		MessageID: hashID(TypeProfileSplit, profileID, splitID), ProfileID: profileID, SplitID: splitID,
		Identifiers: identifiers, Touchpoints: touchpoints, SplitAt: at.UTC()}
}

func (ProfileSplit) MessageType() string { return TypeProfileSplit }
func (ProfileSplit) MessageVersion() int { return ProfileSplitVersion }

// Validate checks the fields every consumer relies on.
func (s ProfileSplit) Validate() error {
	switch {
	case s.Type != TypeProfileSplit || s.Version != ProfileSplitVersion:
		return fmt.Errorf("%w: type %q version %d, want %q version %d", ErrInvalid, s.Type, s.Version, TypeProfileSplit, ProfileSplitVersion)
	case s.MessageID == "" || s.ProfileID == "" || s.SplitID == "" || s.ProfileID == s.SplitID:
		return fmt.Errorf("%w: split without messageId or two different profiles", ErrInvalid)
	case s.Identifiers < 0 || s.Touchpoints < 0:
		return fmt.Errorf("%w: split with a negative count", ErrInvalid)
	case s.SplitAt.IsZero():
		return fmt.Errorf("%w: split without splitAt", ErrInvalid)
	}
	return nil
}

func hashID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}

func sortedSet(s []string) []string {
	out := nonNil(s)
	slices.Sort(out)
	return slices.Compact(out)
}
