package recording

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// Separation tells what Split did.
type Separation struct {
	ProfileID   string // the live profile the other was split from
	SplitID     string // the profile that is live again
	Identifiers int    // identifiers that went back to it
	Touchpoints int    // events recorded on the live profile through them, moved back with them
}

// Split undoes a merge, as an operator's correction: profile from, merged into the live profile
// of id, becomes a profile of its own again, and the two never merge again (identity.Owner.Apart).
//
// The split profile gets back its identifiers as they were when it joined, its history, and the
// events recorded since on the live profile through them (those whose anonymous id is one of
// them, unless they name the live profile's user): its profile is what it was when it joined,
// with those events applied again. The live profile keeps the rest and is derived again from its
// remaining history, so what it holds of events past the history's retention (purchases never
// expire) is lost from its aggregates. No event is lost.
//
// Split derives the live profile again from its history in one request, so it refuses a person
// whose history holds more events than the split limit (WithSplitLimit) with ErrTooLong.
//
// The touchpoints it moves are first copied, then the two profiles and the identifiers are
// written in one commit, then the originals are deleted: a replay at any moment finds each event
// once on the profile it resolves to. If Split stops after the commit, calling it again finishes
// the move.
func (e *Engine) Split(ctx context.Context, id, from string) (Separation, error) {
	live, err := e.live(ctx, id, true)
	if err != nil {
		return Separation{}, fmt.Errorf("split %s from %s: %w", from, id, err)
	}
	if !live.written() {
		return Separation{}, fmt.Errorf("split %s from %s: %w", from, id, profile.ErrNotFound)
	}
	liveID := live.Profile.ID
	src, err := e.st.Profile(ctx, from, true)
	if err != nil {
		return Separation{}, fmt.Errorf("split %s from %s: %w", from, id, err)
	}
	out := Separation{ProfileID: liveID, SplitID: from}
	if src.Version > 0 && src.Profile.MergedInto == "" && slices.Contains(src.SplitFrom, liveID) {
		// Split before and stopped after the commit: finish moving the history.
		moved, _, _, err := e.divideHistory(ctx, live, src)
		if err == nil {
			out.Touchpoints, err = len(moved), e.deleteHistory(ctx, moved)
		}
		return out, err
	}
	if src.Version == 0 || src.Profile.MergedInto != liveID {
		return Separation{}, fmt.Errorf("split %s from %s: %w", from, liveID, ErrNotMerged)
	}
	moved, kept, stale, err := e.divideHistory(ctx, live, src)
	if err == nil && stale != nil {
		err = fmt.Errorf("touchpoint %s of %s was written before touchpoints kept their activity: the profile cannot be derived again", stale.MessageID, stale.ProfileID)
	}
	if err != nil {
		return Separation{}, fmt.Errorf("split %s from %s: %w", from, liveID, err)
	}
	copies := make([]history.Touchpoint, len(moved))
	for i, t := range moved {
		t.ProfileID = from
		copies[i] = t
	}
	if len(copies) > 0 {
		if err := e.st.Append(ctx, copies, nil); err != nil {
			return Separation{}, fmt.Errorf("split %s from %s: copy history: %w", from, liveID, err)
		}
	}
	n, err := e.separate(ctx, live, src, moved, kept)
	if err != nil {
		return Separation{}, fmt.Errorf("split %s from %s: %w", from, liveID, err)
	}
	out.Identifiers, out.Touchpoints = n, len(moved)
	if err := e.deleteHistory(ctx, moved); err != nil {
		return out, fmt.Errorf("split %s from %s: %w", from, liveID, err)
	}
	return out, nil
}

// sides are the profiles whose histories hold the split profile's: itself and the profiles
// merged into it before it joined.
func sides(src Record) []string { return append([]string{src.Profile.ID}, src.Profile.MergedFrom...) }

// others are the profiles whose histories hold the live profile's but src's side.
func others(live, src Record) []string {
	return slices.DeleteFunc(append([]string{live.Profile.ID}, live.Profile.MergedFrom...), func(id string) bool {
		return slices.Contains(sides(src), id)
	})
}

// divideHistory reads the history the live profile holds beside src's side and divides it: moved
// are the touchpoints recorded through an anonymous id of src, without the live profile's user;
// kept are the activities of the others, which the live profile keeps. stale is a kept touchpoint
// written before touchpoints kept their activity, if any: the live profile cannot be derived
// again from its history then.
func (e *Engine) divideHistory(ctx context.Context, live, src Record) (moved []history.Touchpoint, kept []profile.Activity, stale *history.Touchpoint, err error) {
	var ts []history.Touchpoint
	for _, id := range others(live, src) {
		// Read at most one more than the limit in all: a split holds the history in memory.
		page, err := e.st.Touchpoints(ctx, id, nil, "", e.splitLimit+1-len(ts))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("read history of %s: %w", id, err)
		}
		if ts = append(ts, page...); len(ts) > e.splitLimit {
			return nil, nil, nil, fmt.Errorf("more than %d events: %w", e.splitLimit, ErrTooLong)
		}
	}
	for _, t := range ts {
		a := t.Activity
		switch {
		case t.Derivable() && slices.Contains(src.Profile.AnonymousIDs, a.AnonymousID) && (a.UserID == "" || a.UserID == src.Profile.UserID):
			moved = append(moved, t)
		case t.Derivable():
			kept = append(kept, a)
		case stale == nil:
			stale = &t
		}
	}
	return moved, kept, stale, nil
}

// separate writes both profiles and moves src's identifiers back, in one commit. It returns how
// many identifiers moved.
func (e *Engine) separate(ctx context.Context, live, src Record, moved []history.Touchpoint, kept []profile.Activity) (int, error) {
	now := e.now().UTC()
	// The split profile: as it was when it joined, with the events recorded through it since.
	split := src
	split.Profile.MergedInto = ""
	for _, t := range moved {
		split.Profile = profile.Apply(split.Profile, t.Activity, nil)
	}
	split.Profile.UpdatedAt = now
	split.MergedAt, split.Cause = time.Time{}, Cause{}
	split.SplitFrom, split.SplitAt = append(slices.Clone(src.SplitFrom), live.Profile.ID), now
	split.HighWater, split.MergedWater = "", "" // its history now holds events recorded on the live profile: found again
	// Both profiles' audiences are evaluated again at once (by the due index: Reevaluate), their
	// counted events read again from the histories they now have.
	split.Profile.EventTimes, split.Profile.Computed, split.Profile.AudiencesDue = nil, nil, now
	split.DueAt = e.dueAt(split.Profile, src.Fired, now, split.Profile.AudiencesDue)

	// The live profile: its identifiers but src's, derived again from the history it keeps.
	rest := profile.Profile{ID: live.Profile.ID, UserID: live.Profile.UserID, Consent: live.Profile.Consent,
		MergedFrom: others(live, src)[1:]} // the merged-in profiles it keeps: others but itself
	for _, a := range live.Profile.AnonymousIDs {
		if !slices.Contains(src.Profile.AnonymousIDs, a) {
			rest.AnonymousIDs = append(rest.AnonymousIDs, a)
		}
	}
	slices.SortFunc(kept, func(a, b profile.Activity) int { return a.At.Compare(b.At) })
	for _, a := range kept {
		rest = profile.Apply(rest, a, nil)
	}
	rest.UserID, rest.UpdatedAt = live.Profile.UserID, now
	rest.Audiences = live.Profile.Audiences // until evaluated again: leaving one is announced then
	// (its counted events and computed traits are read again from the history it keeps)
	keep := live
	keep.Profile = rest
	keep.Profile.AudiencesDue = now
	keep.Claimed = slices.DeleteFunc(slices.Clone(live.Claimed), func(id identity.ID) bool { return slices.Contains(src.Claimed, id) })
	keep.DueAt = e.dueAt(keep.Profile, live.Fired, now, keep.Profile.AudiencesDue)

	c := Change{Puts: []Put{{Base: live, Next: keep}, {Base: src, Next: split}}}
	for _, id := range src.identifiers() {
		entry, found, err := e.st.Entry(ctx, id, true)
		if err != nil {
			return 0, fmt.Errorf("get a %s identifier: %w", id.Kind, err)
		}
		if !found || entry.ProfileID != live.Profile.ID || !entry.ErasedAt.IsZero() {
			continue // not the live profile's (any more): leave it
		}
		c.Moves = append(c.Moves, Move{ID: id, From: live.Profile.ID, To: src.Profile.ID, At: now})
	}
	if err := e.st.Commit(ctx, c); err != nil {
		if errors.Is(err, ErrConflict) {
			return 0, fmt.Errorf("profiles changed while splitting, try again: %w", ErrContention)
		}
		return 0, fmt.Errorf("write the split: %w", err)
	}
	return len(c.Moves), nil
}

// deleteHistory deletes the originals of moved touchpoints.
func (e *Engine) deleteHistory(ctx context.Context, moved []history.Touchpoint) error {
	if len(moved) == 0 {
		return nil
	}
	keys := make([]history.Key, len(moved))
	for i, t := range moved {
		keys[i] = t.Key()
	}
	if _, err := e.st.Delete(ctx, keys); err != nil {
		return fmt.Errorf("delete moved history: %w", err)
	}
	return nil
}
