package profilestore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// Person is everything the store holds about one person: the live profile, the profiles merged
// into it, every identifier of them, and their whole history.
type Person struct {
	Profile     profile.Profile
	Merged      []string      // ids of the profiles merged into Profile
	Identifiers []identity.ID // sorted by kind, then value
	Touchpoints []Touchpoint  // newest first
}

// person reads the live profile that id leads to and the profiles merged into it.
func (s *Store) person(ctx context.Context, id string) (profileItem, []profileItem, error) {
	live, err := s.liveItem(ctx, id, true)
	if err != nil {
		return profileItem{}, nil, err
	}
	if live.Version == 0 {
		return profileItem{}, nil, fmt.Errorf("profile %s: %w", id, profile.ErrNotFound)
	}
	var merged []profileItem
	for _, m := range live.MergedFrom {
		it, found, err := s.get(ctx, m, true)
		if err != nil {
			return profileItem{}, nil, err
		}
		if !found {
			it = profileItem{ProfileID: m} // claimed, never written
		}
		merged = append(merged, it)
	}
	return live, merged, nil
}

// identifiersOf lists the identifiers of the given profiles, once each, sorted.
func identifiersOf(items ...profileItem) []identity.ID {
	var ids []identity.ID
	for _, it := range items {
		ids = append(ids, it.identifiers()...)
	}
	slices.SortFunc(ids, func(a, b identity.ID) int {
		return cmp.Or(strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.Value, b.Value))
	})
	return slices.Compact(ids)
}

// allTouchpoints reads the whole history of the given profiles, newest first.
func (s *Store) allTouchpoints(ctx context.Context, ids []string) ([]touchpointItem, error) {
	var all []touchpointItem
	for _, id := range ids {
		items, err := s.touchpoints(ctx, id, nil, "", 0)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
	}
	slices.SortFunc(all, func(a, b touchpointItem) int {
		return cmp.Or(strings.Compare(b.Key, a.Key), strings.Compare(b.ProfileID, a.ProfileID))
	})
	return all, nil
}

// Export returns everything held about the person profile id belongs to (a data-subject access
// request), or profile.ErrNotFound. The Events ledger is not part of it: it holds only message
// ids, profile ids, event types and times, and expires (see eventItem).
func (s *Store) Export(ctx context.Context, id string) (Person, error) {
	live, merged, err := s.person(ctx, id)
	if err != nil {
		return Person{}, fmt.Errorf("export %s: %w", id, err)
	}
	if !live.ErasedAt.IsZero() {
		return Person{}, fmt.Errorf("export %s: %w", id, profile.ErrNotFound)
	}
	ids := append([]string{live.ProfileID}, live.MergedFrom...)
	items, err := s.allTouchpoints(ctx, ids)
	if err != nil {
		return Person{}, fmt.Errorf("export %s: %w", id, err)
	}
	p := Person{
		Profile: live.profile(), Merged: slices.Clone(live.MergedFrom),
		Identifiers: identifiersOf(append([]profileItem{live}, merged...)...),
		Touchpoints: make([]Touchpoint, 0, len(items)),
	}
	for _, it := range items {
		p.Touchpoints = append(p.Touchpoints, it.touchpoint())
	}
	return p, nil
}

// Erasure tells what Erase removed.
type Erasure struct {
	ProfileID   string `json:"profileId"`   // the live profile
	Profiles    int    `json:"profiles"`    // profile items deleted: the live one and those merged into it
	Identifiers int    `json:"identifiers"` // identifiers replaced by tombstones
	Touchpoints int    `json:"touchpoints"` // history items deleted
}

// Erase deletes everything held about the person profile id belongs to: the live profile, the
// profiles merged into it, their history, and their identifiers, which it replaces by tombstones
// (an identity item with erasedAt and no profile) so that later events carrying any of them are
// refused with ErrErased rather than re-creating the person. It returns profile.ErrNotFound for an
// unknown (or already erased) id.
//
// It first marks the live profile erased (a version change, so any concurrent recording on it
// fails its condition and reads the graph again, finding the mark or the tombstones), then writes
// the tombstones, deletes the history and deletes the profiles last: if it stops half-way, erasing
// again by any of the person's profile ids finishes the work.
//
// The Events ledger is left as it is: its items hold only a message id, a profile id, an event
// type and two times, nothing about the person, and expire by TTL (see eventItem).
func (s *Store) Erase(ctx context.Context, id string) (Erasure, error) {
	var (
		live   profileItem
		merged []profileItem
	)
	for attempt := 0; ; attempt++ {
		var err error
		live, merged, err = s.person(ctx, id)
		if err != nil {
			return Erasure{}, fmt.Errorf("erase %s: %w", id, err)
		}
		if !live.ErasedAt.IsZero() {
			break // an erasure that stopped half-way: finish it
		}
		now := s.now().UTC()
		err = ifVersion(s.profiles.Update("profileId", live.ProfileID).
			Set("erasedAt", now).Set("updatedAt", now).Set("version", live.Version+1), live.Version).Run(ctx)
		if err == nil {
			live.ErasedAt = now
			break
		}
		if !dynamo.IsCondCheckFailed(err) {
			return Erasure{}, fmt.Errorf("erase %s: mark profile: %w", id, err)
		}
		if attempt == maxAttempts {
			return Erasure{}, fmt.Errorf("erase %s: %w", id, ErrContention)
		}
		if err := pause(ctx, attempt); err != nil {
			return Erasure{}, fmt.Errorf("erase %s: %w", id, err)
		}
	}
	out := Erasure{ProfileID: live.ProfileID}
	now := s.now().UTC()
	for _, ident := range identifiersOf(append([]profileItem{live}, merged...)...) {
		err := s.identities.Put(identityItem{Identifier: ident.String(), ErasedAt: now, CreatedAt: now}).Run(ctx)
		if err != nil {
			return out, fmt.Errorf("erase %s: write tombstone: %w", id, err)
		}
		out.Identifiers++
	}
	ids := append([]string{live.ProfileID}, live.MergedFrom...)
	items, err := s.allTouchpoints(ctx, ids)
	if err != nil {
		return out, fmt.Errorf("erase %s: %w", id, err)
	}
	keys := make([]dynamo.Keyed, 0, len(items))
	for _, it := range items {
		keys = append(keys, dynamo.Keys{it.ProfileID, it.Key})
	}
	if len(keys) > 0 {
		n, err := s.touch.Batch("profileId", "at").Write().Delete(keys...).Run(ctx)
		out.Touchpoints = n
		if err != nil {
			return out, fmt.Errorf("erase %s: delete history: %w", id, err)
		}
	}
	// Merged profiles first, the live one (which holds the mark) last.
	for _, pid := range append(slices.Clone(live.MergedFrom), live.ProfileID) {
		if err := s.profiles.Delete("profileId", pid).Run(ctx); err != nil {
			return out, fmt.Errorf("erase %s: delete profile %s: %w", id, pid, err)
		}
		out.Profiles++
	}
	return out, nil
}
