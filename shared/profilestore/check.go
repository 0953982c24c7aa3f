package profilestore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// ErrInvariant is returned by CheckInvariants for each way the stored graph breaks the invariants.
var ErrInvariant = errors.New("identity graph invariant broken")

// CheckInvariants reads the whole Profiles and Identities tables and returns the ways they break
// the invariants of the identity graph, joined, or nil. It is meant for a quiescent store (no
// recording under way): a merge in flight legitimately leaves an identifier marked (mergedFrom)
// and pointing past a profile that is not marked merged yet, which is reported here.
//
// The invariants, for every identity item that is not a tombstone (erasedAt):
//   - it points at a profile item that exists, is live (not merged into another, not erased) and
//     carries no merge mark: every identifier resolves to exactly one live profile, directly;
//   - that profile lists it: its userId (or, for an earlier user id an alias linked, any userId:
//     the profile must have one), one of its anonymousIds or one of its hashedIds;
//
// and for every live profile:
//   - each identifier it lists has an identity item pointing at it;
//   - no other live profile has the same userId;
//   - following mergedInto from any merged profile reaches a live profile in at most maxHops.
func (s *Store) CheckInvariants(ctx context.Context) error {
	var profiles []profileItem
	if err := s.profiles.Scan().Consistent(true).All(ctx, &profiles); err != nil {
		return fmt.Errorf("scan profiles: %w", err)
	}
	var idents []identityItem
	if err := s.identities.Scan().Consistent(true).All(ctx, &idents); err != nil {
		return fmt.Errorf("scan identities: %w", err)
	}
	byID := make(map[string]profileItem, len(profiles))
	for _, p := range profiles {
		byID[p.ProfileID] = p
	}
	var errs []error
	broken := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrInvariant, fmt.Sprintf(format, args...)))
	}
	owner := map[string]string{} // identifier -> profile id, for live tombstone-free items
	for _, it := range idents {
		if !it.ErasedAt.IsZero() {
			continue
		}
		owner[it.Identifier] = it.ProfileID
		if it.MergedFrom != "" {
			broken("identity %s still marked as moved from %s", it.Identifier, it.MergedFrom)
		}
		p, ok := byID[it.ProfileID]
		switch {
		case !ok:
			broken("identity %s points at profile %s, which does not exist", it.Identifier, it.ProfileID)
			continue
		case p.MergedInto != "":
			broken("identity %s points at profile %s, merged into %s", it.Identifier, it.ProfileID, p.MergedInto)
			continue
		case !p.ErasedAt.IsZero():
			broken("identity %s points at erased profile %s", it.Identifier, it.ProfileID)
			continue
		}
		id, err := identity.Parse(it.Identifier)
		if err != nil {
			broken("identity %q cannot be read: %v", it.Identifier, err)
			continue
		}
		if !lists(p.profile(), p.Hashed, id) {
			broken("identity %s points at profile %s, which does not list it", it.Identifier, it.ProfileID)
		}
	}
	users := map[string]string{}
	for _, p := range profiles {
		if p.MergedInto != "" {
			if _, err := s.follow(byID, p.ProfileID); err != nil {
				broken("%v", err)
			}
			continue
		}
		if !p.ErasedAt.IsZero() {
			continue
		}
		if p.UserID != "" {
			if other, dup := users[p.UserID]; dup {
				broken("live profiles %s and %s share userId %s", other, p.ProfileID, p.UserID)
			}
			users[p.UserID] = p.ProfileID
		}
		for _, id := range p.identifiers() {
			if got, ok := owner[id.String()]; !ok || got != p.ProfileID {
				broken("profile %s lists %s, whose identity item points at %q", p.ProfileID, id, got)
			}
		}
	}
	return errors.Join(errs...)
}

// lists tells whether profile p, with its hashed identifiers, holds identifier id: for a user id,
// any user id will do (an earlier user id an alias linked leads to the profile of the later one).
func lists(p profile.Profile, hashed []string, id identity.ID) bool {
	switch id.Kind {
	case identity.User:
		return p.UserID != ""
	case identity.Anonymous:
		return slices.Contains(p.AnonymousIDs, id.Value)
	default:
		return slices.Contains(hashed, id.String())
	}
}

// follow follows mergedInto from id through the scanned profiles to a live one.
func (s *Store) follow(byID map[string]profileItem, id string) (string, error) {
	start := id
	for range maxHops {
		p, ok := byID[id]
		if !ok {
			return "", fmt.Errorf("profile %s is merged into %s, which does not exist", start, id)
		}
		if p.MergedInto == "" {
			return id, nil
		}
		id = p.MergedInto
	}
	return "", fmt.Errorf("follow merges from %s: %w", start, ErrCorrupt)
}
