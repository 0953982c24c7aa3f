// Package activation is what dcrm hands the destinations of an audience (ad platforms, email
// tools, the CRM): the audience's members as the members index keeps them (Member: the profile,
// since when, its userId, its hashed email and phone identifiers and its marketing consent, so
// that neither the members route nor an export reads a profile), and the files an export writes
// (files.go): the members as CSV and JSON Lines, and the customer-match files the big ad
// platforms take for hashed uploads. Pure Go: the storage adapters keep the index (profilestore in
// DynamoDB, memstore in memory), the profile API serves it.
package activation

import (
	"slices"
	"time"

	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// Marketing consent as a member carries it.
const (
	Granted = "granted"
	Denied  = "denied"
	Unknown = "" // the person never answered
)

// Member is one person in one audience, as the members index keeps it.
type Member struct {
	Audience  string
	ProfileID string
	Since     time.Time
	UserID    string
	// Emails and Phones are the profile's claimed identifiers of kinds emailSha256 and
	// phoneSha256: SHA-256 hex of the normalised address or number (package pii), sorted. dcrm
	// holds no raw email or phone.
	Emails []string
	Phones []string
	// Marketing is the person's marketing consent: Granted, Denied or Unknown.
	Marketing string
}

// Of is the member item of r's profile in the audience of m.
func Of(r recording.Record, m profile.Membership) Member {
	out := Member{Audience: m.Audience, ProfileID: r.Profile.ID, Since: m.Since.UTC(), UserID: r.Profile.UserID, Marketing: Marketing(r.Profile)}
	for _, id := range r.Claimed {
		switch id.Kind {
		case identity.EmailSHA256:
			out.Emails = append(out.Emails, id.Value)
		case identity.PhoneSHA256:
			out.Phones = append(out.Phones, id.Value)
		}
	}
	slices.Sort(out.Emails)
	slices.Sort(out.Phones)
	out.Emails, out.Phones = slices.Compact(out.Emails), slices.Compact(out.Phones)
	return out
}

// Marketing is a profile's marketing consent as a member carries it.
func Marketing(p profile.Profile) string {
	c, ok := p.Consent[profile.PurposeMarketing]
	switch {
	case !ok:
		return Unknown
	case c.Granted:
		return Granted
	}
	return Denied
}

// Equal tells whether two members are the same item.
func (m Member) Equal(o Member) bool {
	return m.Audience == o.Audience && m.ProfileID == o.ProfileID && m.Since.Equal(o.Since) && m.UserID == o.UserID &&
		slices.Equal(m.Emails, o.Emails) && slices.Equal(m.Phones, o.Phones) && m.Marketing == o.Marketing
}

// Write is one change of the members index: Member written (Delete false) or removed.
type Write struct {
	Member Member
	Delete bool
}

// Changes are the index writes that take a profile from base to next: a member item written for
// each audience next holds that base did not, or whose item differs (since, userId, hashed ids,
// consent); removed for each audience base held and next does not. None when the two agree, so
// that a write that changes nothing an item holds costs the index nothing. Either record may be
// version 0 (absent) or a tombstone (no memberships).
func Changes(base, next recording.Record) []Write {
	var out []Write
	old := make(map[string]Member, len(base.Profile.Audiences))
	for _, m := range base.Profile.Audiences {
		old[m.Audience] = Of(base, m)
	}
	for _, m := range next.Profile.Audiences {
		it := Of(next, m)
		if was, ok := old[m.Audience]; !ok || !was.Equal(it) {
			out = append(out, Write{Member: it})
		}
		delete(old, m.Audience)
	}
	for _, m := range base.Profile.Audiences {
		if was, ok := old[m.Audience]; ok {
			out = append(out, Write{Member: was, Delete: true})
		}
	}
	return out
}

// Reconcile are the writes that make the items of audiences in ids what next says, whatever they
// hold now: written where next is a member, removed where it is not.
func Reconcile(next recording.Record, ids []string) []Write {
	out := make([]Write, 0, len(ids))
	for _, id := range ids {
		i := slices.IndexFunc(next.Profile.Audiences, func(m profile.Membership) bool { return m.Audience == id })
		if i >= 0 {
			out = append(out, Write{Member: Of(next, next.Profile.Audiences[i])})
		} else {
			out = append(out, Write{Member: Member{Audience: id, ProfileID: next.Profile.ID}, Delete: true})
		}
	}
	return out
}

// Index is the members of every audience as a store's index holds them (for checks at rest): by
// audience, then profile id.
type Index map[string]map[string]Member

// Expected is the index that the records' memberships call for.
func Expected(records []recording.Record) Index {
	out := Index{}
	for _, r := range records {
		for _, m := range r.Profile.Audiences {
			if out[m.Audience] == nil {
				out[m.Audience] = map[string]Member{}
			}
			out[m.Audience][r.Profile.ID] = Of(r, m)
		}
	}
	return out
}
