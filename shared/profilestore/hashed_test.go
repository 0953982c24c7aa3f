package profilestore

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
)

func email(n int) identity.ID {
	return identity.ID{Kind: identity.EmailSHA256, Value: fmt.Sprintf("%064x", 0xe000+n)}
}

func phone(n int) identity.ID {
	return identity.ID{Kind: identity.PhoneSHA256, Value: fmt.Sprintf("%064x", 0xf000+n)}
}

func (f fixture) recordClaims(t *testing.T, a profile.Activity, trusted bool, hashed ...identity.ID) Result {
	t.Helper()
	r, err := f.RecordClaims(context.Background(), a, Claims{IDs: hashed, Trusted: trusted})
	require.NoError(t, err, "record %s", a.MessageID)
	return r
}

// hashedOf reads the hashed identifiers stored on a profile.
func (f fixture) hashedOf(t *testing.T, id string) []string {
	t.Helper()
	it, found, err := f.get(context.Background(), id, true)
	require.NoError(t, err)
	require.True(t, found)
	return it.Hashed
}

func TestBrowserHashedEmailCannotJoinTwoCustomers(t *testing.T) {
	f := newFixture(t)
	victim := f.recordClaims(t, identify("m1", "A1", "U1", 0, nil), true, email(1))
	attacker := f.recordClaims(t, identify("m2", "A2", "U2", 1, nil), false)
	// The attacker's browser sends the victim's hashed email.
	r := f.recordClaims(t, identify("m3", "A2", "U2", 2, nil), false, email(1))
	require.Equal(t, attacker.ProfileID, r.ProfileID)
	require.Empty(t, r.Merged)
	// Even a trusted source never joins two different users.
	r = f.recordClaims(t, track("m4", "", "U2", 3), true, email(1))
	require.Equal(t, attacker.ProfileID, r.ProfileID)
	require.Empty(t, r.Merged)

	require.Equal(t, victim.ProfileID, f.lookup(t, email(1)).ID, "the email stays with its owner")
	require.Equal(t, []string{email(1).String()}, f.hashedOf(t, victim.ProfileID))
	require.Empty(t, f.hashedOf(t, attacker.ProfileID))
	require.Len(t, f.liveProfiles(t), 2)

	// A browser cannot pull an anonymous visitor into a customer either.
	r = f.recordClaims(t, page("m5", "A3", 4), false, email(1))
	require.NotEqual(t, victim.ProfileID, r.ProfileID)
	require.True(t, r.Created)
	require.Equal(t, 1, f.lookup(t, identity.UserID("U1")).Counts.Events)
}

func TestTrustedHashedEmailJoinsAnAnonymousProfileToTheCustomer(t *testing.T) {
	f := newFixture(t)
	// A visitor leaves their email in a browser form (hashed by collect): it attaches, as nobody has it.
	visitor := f.recordClaims(t, page("m1", "A1", 0), false, email(1))
	require.Equal(t, visitor.ProfileID, f.lookup(t, email(1)).ID)
	customer := f.recordClaims(t, track("m2", "", "U1", 1), true)
	require.NotEqual(t, visitor.ProfileID, customer.ProfileID)

	// The CRM says, server side, that U1 has that email: the visitor joins the customer.
	r := f.recordClaims(t, identify("m3", "", "U1", 2, map[string]any{"plan": "gold"}), true, email(1), phone(1))
	require.Equal(t, customer.ProfileID, r.ProfileID)
	require.Equal(t, []string{visitor.ProfileID}, r.Merged)

	p := f.lookup(t, identity.AnonymousID("A1"))
	require.Equal(t, customer.ProfileID, p.ID)
	require.Equal(t, "U1", p.UserID)
	require.Equal(t, 3, p.Counts.Events)
	require.Equal(t, customer.ProfileID, f.lookup(t, email(1)).ID)
	require.Equal(t, customer.ProfileID, f.lookup(t, phone(1)).ID)
	require.Equal(t, []string{email(1).String(), phone(1).String()}, f.hashedOf(t, customer.ProfileID))
	require.Len(t, f.liveProfiles(t), 1)

	// Replaying changes nothing.
	r = f.recordClaims(t, identify("m3", "", "U1", 2, map[string]any{"plan": "gold"}), true, email(1), phone(1))
	require.True(t, r.Duplicate)
	require.Equal(t, 3, f.lookup(t, email(1)).Counts.Events)
}

func TestTrustedHashedEmailOfAKnownCustomerTakesANewUserIDsEventOnlyWhenAnonymous(t *testing.T) {
	f := newFixture(t)
	anon := f.recordClaims(t, page("m1", "A1", 0), false, email(1))
	// A server event of a new user id carrying the anonymous profile's email: that profile becomes
	// the user's (no new profile).
	r := f.recordClaims(t, track("m2", "", "U1", 1), true, email(1))
	require.Equal(t, anon.ProfileID, r.ProfileID)
	require.False(t, r.Created)
	require.Equal(t, "U1", f.lookup(t, identity.UserID("U1")).UserID)
	require.Equal(t, anon.ProfileID, f.lookup(t, identity.UserID("U1")).ID)

	// Another new user id with the same email: a profile of its own; the email stays.
	r = f.recordClaims(t, track("m3", "", "U2", 2), true, email(1))
	require.True(t, r.Created)
	require.Equal(t, anon.ProfileID, f.lookup(t, email(1)).ID)
}

func TestIdentifierLimitsPerProfile(t *testing.T) {
	f := newFixture(t)
	first := f.recordClaims(t, track("m0", "", "U1", 0), true)
	for i := range identity.MaxEmailHashes + 2 {
		f.recordClaims(t, track(fmt.Sprintf("e%d", i), "", "U1", 1), true, email(i), phone(i))
	}
	hashed := f.hashedOf(t, first.ProfileID)
	var emails, phones int
	for _, h := range hashed {
		switch {
		case strings.HasPrefix(h, "emailSha256:"):
			emails++
		case strings.HasPrefix(h, "phoneSha256:"):
			phones++
		}
	}
	require.Equal(t, identity.MaxEmailHashes, emails)
	require.Equal(t, identity.MaxPhoneHashes, phones)
	require.Equal(t, first.ProfileID, f.lookup(t, email(0)).ID, "the first ones stay")
	_, err := f.Lookup(context.Background(), email(identity.MaxEmailHashes))
	require.ErrorIs(t, err, profile.ErrNotFound, "one past the limit is not attached")

	for i := range identity.MaxAnonymousIDs + 3 {
		f.record(t, track(fmt.Sprintf("a%d", i), fmt.Sprintf("cookie-%03d", i), "U1", 2))
	}
	p := f.lookup(t, identity.UserID("U1"))
	require.Len(t, p.AnonymousIDs, identity.MaxAnonymousIDs)
	require.Equal(t, 1+identity.MaxEmailHashes+2+identity.MaxAnonymousIDs+3, p.Counts.Events, "every event is recorded")
	_, err = f.Lookup(context.Background(), identity.AnonymousID(fmt.Sprintf("cookie-%03d", identity.MaxAnonymousIDs)))
	require.ErrorIs(t, err, profile.ErrNotFound)

	// A cookie past the limit starts a profile of its own, and does not merge into the full one.
	extra := fmt.Sprintf("cookie-%03d", identity.MaxAnonymousIDs+1)
	own := f.record(t, page("x1", extra, 3), track("x2", extra, "U1", 4))
	require.True(t, own[0].Created)
	require.Empty(t, own[1].Merged)
	require.Equal(t, p.ID, own[1].ProfileID, "the event of the user goes to the user's profile")
	require.NotEqual(t, p.ID, f.lookup(t, identity.AnonymousID(extra)).ID)
}
