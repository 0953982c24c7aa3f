package profilestore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// Person is everything the store holds about one person: the live profile, the profiles merged
// into it, every identifier of them, and their whole history.
type Person struct {
	Profile     profile.Profile
	Merged      []string      // ids of the profiles merged into Profile
	Merges      []Merge       // how each of them joined, oldest first
	Identifiers []identity.ID // sorted by kind, then value
	Touchpoints []Touchpoint  // newest first, one page
	Next        string        // the cursor of the next page of touchpoints; empty on the last
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

// Merge explains one merge: profile From joined profile Into at At, asked for by the event
// MessageID (from a trusted, server-side source or not), through identifier Via, which both held.
type Merge struct {
	From      string    `json:"from"`
	Into      string    `json:"into"`
	At        time.Time `json:"at"`
	MessageID string    `json:"messageId,omitempty"`
	Via       string    `json:"via,omitempty"`
	Trusted   bool      `json:"trusted"`
}

// Merges returns how the profiles merged into the live profile of id joined, oldest first, or
// profile.ErrNotFound.
func (s *Store) Merges(ctx context.Context, id string) ([]Merge, error) {
	live, merged, err := s.person(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("merges of %s: %w", id, err)
	}
	if !live.ErasedAt.IsZero() {
		return nil, fmt.Errorf("merges of %s: %w", id, profile.ErrNotFound)
	}
	return merges(merged), nil
}

func merges(items []profileItem) []Merge {
	out := make([]Merge, 0, len(items))
	for _, it := range items {
		if it.MergedInto == "" {
			continue
		}
		out = append(out, Merge{From: it.ProfileID, Into: it.MergedInto, At: it.MergedAt,
			MessageID: it.MergeEvent, Via: it.MergeVia, Trusted: it.MergeTrusted})
	}
	slices.SortFunc(out, func(a, b Merge) int { return cmp.Or(a.At.Compare(b.At), strings.Compare(a.From, b.From)) })
	return out
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
// request), or profile.ErrNotFound: the profile, its merges and identifiers, and one page of the
// history (as History pages it: Person.Next continues it), so that a long history never makes one
// answer too big.
func (s *Store) Export(ctx context.Context, id string, q HistoryQuery) (Person, error) {
	live, merged, err := s.person(ctx, id)
	if err != nil {
		return Person{}, fmt.Errorf("export %s: %w", id, err)
	}
	if !live.ErasedAt.IsZero() {
		return Person{}, fmt.Errorf("export %s: %w", id, profile.ErrNotFound)
	}
	q.Type = ""
	page, err := s.History(ctx, live.ProfileID, q)
	if err != nil {
		return Person{}, fmt.Errorf("export %s: %w", id, err)
	}
	return Person{
		Profile: live.profile(), Merged: slices.Clone(live.MergedFrom), Merges: merges(merged),
		Identifiers: identifiersOf(append([]profileItem{live}, merged...)...),
		Touchpoints: page.Touchpoints, Next: page.Next,
	}, nil
}

// profileTombstone is what is left of an erased profile.
type profileTombstone struct {
	ProfileID string    `dynamo:"profileId,hash"`
	ErasedAt  time.Time `dynamo:"erasedAt"`
}

// Erasure tells what Erase removed.
type Erasure struct {
	ProfileID   string `json:"profileId"`   // the live profile
	Profiles    int    `json:"profiles"`    // profile items deleted: the live one and those merged into it
	Identifiers int    `json:"identifiers"` // identifiers replaced by tombstones
	Touchpoints int    `json:"touchpoints"` // history items deleted
}

// Erase deletes everything held about the person profile id belongs to: the live profile, the
// profiles merged into it, their history, and their identifiers. Identifiers and profiles are
// replaced by tombstones (an item with erasedAt and nothing about the person) so that later events
// carrying any of them are refused with ErrErased rather than re-creating the person. It returns profile.ErrNotFound for an
// unknown (or already erased) id.
//
// It first marks the live profile erased (a version change, so any concurrent recording on it
// fails its condition and reads the graph again, finding the mark or the tombstones), then writes
// the tombstones, deletes the history and replaces the profiles last: if it stops half-way, erasing
// again by any of the person's profile ids finishes the work. A recording that wrote the profile
// before the mark and its touchpoints after Erase read the history deletes them itself.
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
	// Merged profiles first, the live one (which holds the mark) last. Each is replaced by a
	// tombstone that holds nothing but its id and the time, so that an identifier claimed for it
	// but not listed on it yet still leads to an erased profile (and gets a tombstone of its own);
	// its version 0 says the erasure is complete.
	for _, pid := range append(slices.Clone(live.MergedFrom), live.ProfileID) {
		if err := s.profiles.Put(profileTombstone{ProfileID: pid, ErasedAt: live.ErasedAt}).Run(ctx); err != nil {
			return out, fmt.Errorf("erase %s: delete profile %s: %w", id, pid, err)
		}
		out.Profiles++
	}
	return out, nil
}
