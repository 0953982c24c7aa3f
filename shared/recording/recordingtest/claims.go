package recordingtest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
)

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// Email and Phone are hashed identifiers of person n.
func Email(n int) identity.ID {
	return identity.ID{Kind: identity.EmailSHA256, Value: fmt.Sprintf("%064x", 0xe000+n)}
}

func Phone(n int) identity.ID {
	return identity.ID{Kind: identity.PhoneSHA256, Value: fmt.Sprintf("%064x", 0xf000+n)}
}

func browserHashedEmailCannotJoinTwoCustomers(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	victim := f.RecordClaims(t, Identify("m1", "A1", "U1", 0, nil), true, Email(1))
	attacker := f.RecordClaims(t, Identify("m2", "A2", "U2", 1, nil), false)
	// The attacker's browser sends the victim's hashed email.
	r := f.RecordClaims(t, Identify("m3", "A2", "U2", 2, nil), false, Email(1))
	require.Equal(t, attacker.ProfileID, r.ProfileID)
	require.Empty(t, r.Merged)
	// Even a trusted source never joins two different users.
	r = f.RecordClaims(t, Track("m4", "", "U2", 3), true, Email(1))
	require.Equal(t, attacker.ProfileID, r.ProfileID)
	require.Empty(t, r.Merged)

	require.Equal(t, victim.ProfileID, f.Lookup(t, Email(1)).ID, "the email stays with its owner")
	require.Equal(t, []string{Email(1).String()}, f.Claimed(t, victim.ProfileID))
	require.Empty(t, f.Claimed(t, attacker.ProfileID))
	require.Len(t, f.LiveProfiles(t), 2)

	// A browser cannot pull an anonymous visitor into a customer either.
	r = f.RecordClaims(t, Page("m5", "A3", 4), false, Email(1))
	require.NotEqual(t, victim.ProfileID, r.ProfileID)
	require.True(t, r.Created)
	require.Equal(t, 1, f.Lookup(t, identity.UserID("U1")).Counts.Events)
}

func trustedHashedEmailJoinsAnAnonymousProfile(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	// A visitor leaves their email in a browser form (hashed by collect): it attaches, as nobody has it.
	visitor := f.RecordClaims(t, Page("m1", "A1", 0), false, Email(1))
	require.Equal(t, visitor.ProfileID, f.Lookup(t, Email(1)).ID)
	customer := f.RecordClaims(t, Track("m2", "", "U1", 1), true)
	require.NotEqual(t, visitor.ProfileID, customer.ProfileID)

	// The CRM says, server side, that U1 has that email: the visitor joins the customer.
	r := f.RecordClaims(t, Identify("m3", "", "U1", 2, map[string]any{"plan": "gold"}), true, Email(1), Phone(1))
	require.Equal(t, customer.ProfileID, r.ProfileID)
	require.Equal(t, []string{visitor.ProfileID}, r.Merged)

	p := f.Lookup(t, identity.AnonymousID("A1"))
	require.Equal(t, customer.ProfileID, p.ID)
	require.Equal(t, "U1", p.UserID)
	require.Equal(t, 3, p.Counts.Events)
	require.Equal(t, customer.ProfileID, f.Lookup(t, Email(1)).ID)
	require.Equal(t, customer.ProfileID, f.Lookup(t, Phone(1)).ID)
	require.Equal(t, []string{Email(1).String(), Phone(1).String()}, f.Claimed(t, customer.ProfileID))
	require.Len(t, f.LiveProfiles(t), 1)

	// Replaying changes nothing.
	r = f.RecordClaims(t, Identify("m3", "", "U1", 2, map[string]any{"plan": "gold"}), true, Email(1), Phone(1))
	require.True(t, r.Duplicate)
	require.Equal(t, 3, f.Lookup(t, Email(1)).Counts.Events)
}

func trustedEmailOfAKnownCustomerTakesANewUserID(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	anon := f.RecordClaims(t, Page("m1", "A1", 0), false, Email(1))
	// A server event of a new user id carrying the anonymous profile's email: that profile becomes
	// the user's (no new profile).
	r := f.RecordClaims(t, Track("m2", "", "U1", 1), true, Email(1))
	require.Equal(t, anon.ProfileID, r.ProfileID)
	require.False(t, r.Created)
	require.Equal(t, "U1", f.Lookup(t, identity.UserID("U1")).UserID)
	require.Equal(t, anon.ProfileID, f.Lookup(t, identity.UserID("U1")).ID)

	// Another new user id with the same email: a profile of its own; the email stays.
	r = f.RecordClaims(t, Track("m3", "", "U2", 2), true, Email(1))
	require.True(t, r.Created)
	require.Equal(t, anon.ProfileID, f.Lookup(t, Email(1)).ID)
}

func identifierLimitsPerProfile(t *testing.T, ns NewStorage) {
	f := New(t, ns)
	first := f.RecordClaims(t, Track("m0", "", "U1", 0), true)
	for i := range identity.MaxEmailHashes + 2 {
		f.RecordClaims(t, Track(fmt.Sprintf("e%d", i), "", "U1", 1), true, Email(i), Phone(i))
	}
	var emails, phones int
	for _, h := range f.Claimed(t, first.ProfileID) {
		switch {
		case strings.HasPrefix(h, "emailSha256:"):
			emails++
		case strings.HasPrefix(h, "phoneSha256:"):
			phones++
		}
	}
	require.Equal(t, identity.MaxEmailHashes, emails)
	require.Equal(t, identity.MaxPhoneHashes, phones)
	require.Equal(t, first.ProfileID, f.Lookup(t, Email(0)).ID, "the first ones stay")
	_, err := f.Engine.Lookup(context.Background(), Email(identity.MaxEmailHashes))
	require.ErrorIs(t, err, profile.ErrNotFound, "one past the limit is not attached")

	for i := range identity.MaxAnonymousIDs + 3 {
		f.Record(t, Track(fmt.Sprintf("a%d", i), fmt.Sprintf("cookie-%03d", i), "U1", 2))
	}
	p := f.Lookup(t, identity.UserID("U1"))
	require.Len(t, p.AnonymousIDs, identity.MaxAnonymousIDs)
	require.Equal(t, 1+identity.MaxEmailHashes+2+identity.MaxAnonymousIDs+3, p.Counts.Events, "every event is recorded")
	_, err = f.Engine.Lookup(context.Background(), identity.AnonymousID(fmt.Sprintf("cookie-%03d", identity.MaxAnonymousIDs)))
	require.ErrorIs(t, err, profile.ErrNotFound)

	// A cookie past the limit starts a profile of its own, and does not merge into the full one.
	extra := fmt.Sprintf("cookie-%03d", identity.MaxAnonymousIDs+1)
	own := f.Record(t, Page("x1", extra, 3), Track("x2", extra, "U1", 4))
	require.True(t, own[0].Created)
	require.Empty(t, own[1].Merged)
	require.Equal(t, p.ID, own[1].ProfileID, "the event of the user goes to the user's profile")
	require.NotEqual(t, p.ID, f.Lookup(t, identity.AnonymousID(extra)).ID)
}
