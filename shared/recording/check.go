package recording

import (
	"context"
	"errors"
	"fmt"
)

// ErrInvariant is returned by CheckInvariants for each way the stored graph breaks the invariants.
var ErrInvariant = errors.New("identity graph invariant broken")

// CheckInvariants reads every profile record and identity entry and returns the ways they break
// the invariants of the identity graph, joined, or nil. It is meant for a store at rest (no
// recording under way): a merge in flight legitimately leaves an identifier marked and pointing
// past a profile that is not marked merged yet, and an erasure in progress identifiers pointing at
// a profile being erased, which are reported here.
//
// The invariants, for every tombstone: it holds the identifier's sealed form and when it was
// erased, nothing else (no identifier, profile or other time); for every entry that is not one:
//   - it points at a profile record that exists, is live (not merged into another, not erased)
//     and carries no merge mark: every identifier resolves to exactly one live profile, directly;
//   - that profile lists it: its userId (or, for an earlier user id an alias linked, any userId:
//     the profile must have one), one of its anonymousIds or one of its claimed identifiers;
//
// and for every live profile:
//   - each identifier it lists has an entry pointing at it;
//   - no other live profile has the same userId;
//   - following MergedInto from any merged profile reaches a live profile in at most maxHops.
func (e *Engine) CheckInvariants(ctx context.Context) error {
	byID := map[string]Record{}
	var order []string
	err := e.st.EachProfile(ctx, func(r Record) error {
		byID[r.Profile.ID] = r
		order = append(order, r.Profile.ID)
		return nil
	})
	if err != nil {
		return fmt.Errorf("read profiles: %w", err)
	}
	var entries []Entry
	if err := e.st.EachEntry(ctx, func(en Entry) error { entries = append(entries, en); return nil }); err != nil {
		return fmt.Errorf("read identities: %w", err)
	}
	var errs []error
	broken := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrInvariant, fmt.Sprintf(format, args...)))
	}
	owner := map[string]string{} // identifier -> profile id, for entries that are not tombstones
	for _, en := range entries {
		if !en.ErasedAt.IsZero() || en.Sealed != "" {
			if en.Sealed == "" || en != (Entry{Sealed: en.Sealed, ErasedAt: en.ErasedAt}) {
				broken("a tombstone keeps more than its sealed form and time (a %s identifier, profile %q)", en.ID.Kind, en.ProfileID)
			}
			continue
		}
		owner[en.ID.String()] = en.ProfileID
		if en.MovedFrom != "" {
			broken("identity %s still marked as moved from %s", en.ID, en.MovedFrom)
		}
		r, ok := byID[en.ProfileID]
		switch {
		case !ok:
			broken("identity %s points at profile %s, which does not exist", en.ID, en.ProfileID)
			continue
		case r.Profile.MergedInto != "":
			broken("identity %s points at profile %s, merged into %s", en.ID, en.ProfileID, r.Profile.MergedInto)
			continue
		case !r.ErasedAt.IsZero():
			broken("identity %s points at erased profile %s", en.ID, en.ProfileID)
			continue
		}
		if !lists(r.Profile, r.Claimed, en.ID) {
			broken("identity %s points at profile %s, which does not list it", en.ID, en.ProfileID)
		}
	}
	users := map[string]string{}
	for _, id := range order {
		r := byID[id]
		if r.Profile.MergedInto != "" {
			if err := follow(byID, id); err != nil {
				broken("%v", err)
			}
			continue
		}
		if !r.ErasedAt.IsZero() {
			continue
		}
		if u := r.Profile.UserID; u != "" {
			if other, dup := users[u]; dup {
				broken("live profiles %s and %s share userId %s", other, id, u)
			}
			users[u] = id
		}
		for _, ident := range r.identifiers() {
			if got, ok := owner[ident.String()]; !ok || got != id {
				broken("profile %s lists %s, whose identity item points at %q", id, ident, got)
			}
		}
	}
	return errors.Join(errs...)
}

// follow follows MergedInto from id through the records to a live one.
func follow(byID map[string]Record, id string) error {
	start := id
	for range maxHops {
		r, ok := byID[id]
		if !ok {
			return fmt.Errorf("profile %s is merged into %s, which does not exist", start, id)
		}
		if r.Profile.MergedInto == "" {
			return nil
		}
		id = r.Profile.MergedInto
	}
	return fmt.Errorf("follow merges from %s: %w", start, ErrCorrupt)
}
