package profilestore

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/profile"
)

// ErrNotMerged is returned by Split for a profile that is not merged into the given live profile.
var ErrNotMerged = errors.New("profile is not merged into this one")

// Separation tells what Split did.
type Separation struct {
	ProfileID   string `json:"profileId"`   // the live profile the other was split from
	SplitID     string `json:"splitId"`     // the profile that is live again
	Identifiers int    `json:"identifiers"` // identifiers that went back to it
	Touchpoints int    `json:"touchpoints"` // events recorded on the live profile through them, moved back with them
}

// Split undoes a merge, as an operator's correction: profile from, merged into the live profile
// of id, becomes a profile of its own again, and the two never merge again (identity.Owner.Apart).
//
// The split profile gets back its identifiers as they were when it joined, its history, and the
// events recorded since on the live profile through them (those whose anonymous id is one of
// them, unless they name the live profile's user): its profile is what it was when it joined,
// with those events applied again. The live profile keeps the rest and is derived again from its
// remaining history, so what it holds of events past the history's retention
// (WithTouchpointTTL; purchases never expire) is lost from its aggregates. No event is lost.
//
// The touchpoints it moves are first copied, then the two profiles and the identifiers are
// written in one transaction, then the originals are deleted: a replay at any moment finds each
// event once on the profile it resolves to. If Split stops after the transaction, calling it
// again finishes the move.
func (s *Store) Split(ctx context.Context, id, from string) (Separation, error) {
	live, err := s.liveItem(ctx, id, true)
	if err != nil {
		return Separation{}, fmt.Errorf("split %s from %s: %w", from, id, err)
	}
	if live.Version == 0 || !live.ErasedAt.IsZero() {
		return Separation{}, fmt.Errorf("split %s from %s: %w", from, id, profile.ErrNotFound)
	}
	src, found, err := s.get(ctx, from, true)
	if err != nil {
		return Separation{}, fmt.Errorf("split %s from %s: %w", from, id, err)
	}
	out := Separation{ProfileID: live.ProfileID, SplitID: from}
	if found && src.MergedInto == "" && slices.Contains(src.SplitFrom, live.ProfileID) {
		// Split before and stopped after the transaction: finish moving the history.
		moved, _, _, err := s.divideHistory(ctx, live, src)
		if err == nil {
			out.Touchpoints, err = len(moved), s.deleteHistory(ctx, moved)
		}
		return out, err
	}
	if !found || src.MergedInto != live.ProfileID {
		return Separation{}, fmt.Errorf("split %s from %s: %w", from, live.ProfileID, ErrNotMerged)
	}
	moved, kept, stale, err := s.divideHistory(ctx, live, src)
	if err == nil && stale != nil {
		err = fmt.Errorf("touchpoint %s of %s was written before touchpoints kept their activity: the profile cannot be derived again", stale.MessageID, stale.ProfileID)
	}
	if err != nil {
		return Separation{}, fmt.Errorf("split %s from %s: %w", from, live.ProfileID, err)
	}
	copies := make([]any, len(moved))
	for i, t := range moved {
		t.ProfileID = from
		copies[i] = t
	}
	if len(copies) > 0 {
		if _, err := s.touch.Batch("profileId", "at").Write().Put(copies...).Run(ctx); err != nil {
			return Separation{}, fmt.Errorf("split %s from %s: copy history: %w", from, live.ProfileID, err)
		}
	}
	n, err := s.separate(ctx, live, src, moved, kept)
	if err != nil {
		return Separation{}, fmt.Errorf("split %s from %s: %w", from, live.ProfileID, err)
	}
	out.Identifiers, out.Touchpoints = n, len(moved)
	if err := s.deleteHistory(ctx, moved); err != nil {
		return out, fmt.Errorf("split %s from %s: %w", from, live.ProfileID, err)
	}
	return out, nil
}

// sides are the profiles whose partitions hold the split profile's history: itself and the
// profiles merged into it before it joined.
func sides(src profileItem) []string { return append([]string{src.ProfileID}, src.MergedFrom...) }

// others are the profiles whose partitions hold the live profile's history but src's side.
func others(live, src profileItem) []string {
	return slices.DeleteFunc(append([]string{live.ProfileID}, live.MergedFrom...), func(id string) bool {
		return slices.Contains(sides(src), id)
	})
}

// divideHistory reads the history the live profile holds beside src's side and divides it: moved
// are the touchpoints recorded through an anonymous id of src, without the live profile's user;
// kept are the activities of the others, which the live profile keeps. stale is a kept touchpoint
// written before touchpoints kept their activity, if any: the live profile cannot be derived
// again from its history then.
func (s *Store) divideHistory(ctx context.Context, live, src profileItem) (moved []touchpointItem, kept []profile.Activity, stale *touchpointItem, err error) {
	items, err := s.allTouchpoints(ctx, others(live, src))
	if err != nil {
		return nil, nil, nil, err
	}
	for _, t := range items {
		a, ok := t.activity()
		switch {
		case ok && slices.Contains(src.AnonymousIDs, a.AnonymousID) && (a.UserID == "" || a.UserID == src.UserID):
			moved = append(moved, t)
		case ok:
			kept = append(kept, a)
		case stale == nil:
			stale = &t
		}
	}
	return moved, kept, stale, nil
}

// separate writes both profiles and moves src's identifiers back, in one transaction. It returns
// how many identifiers moved.
func (s *Store) separate(ctx context.Context, live, src profileItem, moved []touchpointItem, kept []profile.Activity) (int, error) {
	now := s.now().UTC()
	back := src.identifiers()
	// The split profile: as it was when it joined, with the events recorded through it since.
	split := src.profile()
	split.MergedInto = ""
	for _, t := range moved {
		if a, ok := t.activity(); ok {
			split = profile.Apply(split, a, nil)
		}
	}
	split.UpdatedAt = now
	// The live profile: its identifiers but src's, derived again from the history it keeps.
	rest := profile.Profile{ID: live.ProfileID, UserID: live.UserID, Consent: toConsent(live.Consent),
		MergedFrom: others(live, src)[1:]} // the merged-in profiles it keeps: others but itself
	for _, a := range live.AnonymousIDs {
		if !slices.Contains(src.AnonymousIDs, a) {
			rest.AnonymousIDs = append(rest.AnonymousIDs, a)
		}
	}
	slices.SortFunc(kept, func(a, b profile.Activity) int { return a.At.Compare(b.At) })
	for _, a := range kept {
		rest = profile.Apply(rest, a, nil)
	}
	rest.UserID, rest.UpdatedAt = live.UserID, now
	hashed := slices.DeleteFunc(slices.Clone(live.Hashed), func(h string) bool { return slices.Contains(src.Hashed, h) })

	keep := s.writeProfile(rest, live.Version)
	setOrRemove(keep, "hashedIds", hashed, len(hashed))
	setDue(keep, live, s.dueAt(rest, live.triggerState(), now))
	undo := s.writeProfile(split, src.Version).Remove("mergedInto", "mergedAt", "mergeEvent", "mergeVia", "mergeTrusted").
		Set("splitFrom", append(slices.Clone(src.SplitFrom), live.ProfileID)).Set("splitAt", now)
	setOrRemove(undo, "hashedIds", src.Hashed, len(src.Hashed))
	setDue(undo, src, s.dueAt(split, src.triggerState(), now))
	tx := s.db.WriteTx().Idempotent(true).Update(keep).Update(undo)
	n := 0
	for _, id := range back {
		var it identityItem
		err := s.identities.Get("identifier", id.String()).Consistent(true).One(ctx, &it)
		if errors.Is(err, dynamo.ErrNotFound) || err == nil && (it.ProfileID != live.ProfileID || !it.ErasedAt.IsZero()) {
			continue // not the live profile's (any more): leave it
		}
		if err != nil {
			return 0, fmt.Errorf("get identity %s: %w", id, err)
		}
		tx = tx.Update(s.identities.Update("identifier", id.String()).Set("profileId", src.ProfileID).
			Set("updatedAt", now).If("'profileId' = ? AND attribute_not_exists('mergedFrom')", live.ProfileID))
		n++
	}
	if err := tx.Run(ctx); err != nil {
		if r := cancellations(err); r.conflict() || slices.Contains(r, "ConditionalCheckFailed") {
			return 0, fmt.Errorf("profiles changed while splitting, try again: %w", ErrContention)
		}
		return 0, fmt.Errorf("write the split: %w", err)
	}
	return n, nil
}

// deleteHistory deletes the originals of moved touchpoints.
func (s *Store) deleteHistory(ctx context.Context, moved []touchpointItem) error {
	if len(moved) == 0 {
		return nil
	}
	keys := make([]dynamo.Keyed, len(moved))
	for i, t := range moved {
		keys[i] = dynamo.Keys{t.ProfileID, t.Key}
	}
	if _, err := s.touch.Batch("profileId", "at").Write().Delete(keys...).Run(ctx); err != nil {
		return fmt.Errorf("delete moved history: %w", err)
	}
	return nil
}
