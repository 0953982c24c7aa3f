package recording

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// A merge of profile from into profile into runs in three steps, each safe to repeat and to finish
// by whoever comes across it half done:
//
//  1. claim: from is marked MergingInto = into (a Put, so only if nobody changed it since it was
//     read, which also bumps its version so that no writer adds to from any more), unless into is
//     claimed for a merge itself (that one ends first); a writer that meets the mark helps the
//     merge on (finishMerge) instead of starting another, so from joins one profile only even
//     when two writers want it at once. Two writers may still claim two profiles into each other
//     at the same moment: whoever finds the claims in a loop undoes the one of the greatest
//     profile id, so that all agree on which merge goes on;
//  2. move: each of from's identifiers is moved to into, marked with where it came from (also one
//     an earlier attempt moved to a profile that has merged on since);
//  3. fold: from's history is folded into into's live profile, and from is marked merged, in one
//     commit; then the identifiers' marks are cleared. A fold that storage refuses (ErrRejected:
//     the folded profile would outgrow a record) is undone like a merge no longer allowed: the
//     identifiers go back, the claim is dropped, and the event that asked for it fails for good.

// merge moves profile from into profile into, for the given cause. It returns the live profile
// it folded from into (into, or the one into was merged into), and "" when it did not fold: the
// merge is no longer allowed (from became another user's profile meanwhile), or from is merged
// or merging already (then it helps that merge on, and the caller reads again). Only a merge that
// folds changes nothing but the two profiles and from's identifiers.
func (e *Engine) merge(ctx context.Context, from, into string, why Cause) (string, error) {
	src, err := e.st.Profile(ctx, from, true)
	if err != nil {
		return "", err
	}
	if src.Profile.MergedInto != "" {
		return "", nil
	}
	if src.MergingInto != "" {
		_, err := e.finishMerge(ctx, from, why.Via)
		return "", err
	}
	dst, err := e.live(ctx, into, true)
	if err != nil {
		return "", err
	}
	if !src.ErasedAt.IsZero() || !dst.ErasedAt.IsZero() {
		return "", errRetry // a person being erased joins no one: read again, and find it erased
	}
	if dst.Profile.ID == from || identity.CanMerge(dst.Profile.UserID, src.Profile.UserID) != nil {
		return "", nil
	}
	if dst.MergingInto != "" {
		// The profile to join is joining another: that merge ends first (or is undone, refused by
		// storage), then this one is decided again on where everything is.
		if _, err := e.finishMerge(ctx, dst.Profile.ID, identity.ID{}); err != nil && !errors.Is(err, errRetry) && !errors.Is(err, ErrRejected) {
			return "", err
		}
		return "", errRetry
	}
	claim := src
	claim.MergingInto, claim.Cause = dst.Profile.ID, why
	claim.Profile.UpdatedAt = e.now().UTC()
	if err := e.st.Commit(ctx, Change{Puts: []Put{{Base: src, Next: claim}}}); errors.Is(err, ErrConflict) {
		return "", errConflict
	} else if err != nil {
		return "", fmt.Errorf("claim profile %s for a merge: %w", from, err)
	}
	// Carried on from what was just read and written, not read again: every later write is
	// conditional, so one that another writer got ahead of fails as a conflict, read afresh.
	claim.Version = src.Version + 1
	folded, err := e.carryOn(ctx, claim, &dst, why.Via)
	if !folded {
		return "", err
	}
	return dst.Profile.ID, err
}

// finishMerge carries a claimed merge of profile from to its end (see merge): it moves from's
// identifiers (and via, the one it was found by, which from may not list yet) to the live profile
// it is merging into, folds from into it, unless that happened already, and clears the
// identifiers' marks. It returns whether it folded. It returns errConflict when another writer
// changed either profile first, and errRetry after moving the identifiers back when the merge is
// no longer allowed.
func (e *Engine) finishMerge(ctx context.Context, from string, via identity.ID) (bool, error) {
	src, err := e.st.Profile(ctx, from, true)
	if err != nil {
		return false, err
	}
	return e.carryOn(ctx, src, nil, via)
}

// carryOn is finishMerge from src, the record of from as read, and into, the live profile it is
// merging into as read (nil: read it).
func (e *Engine) carryOn(ctx context.Context, src Record, into *Record, via identity.ID) (bool, error) {
	from := src.Profile.ID
	ids := withID(src.identifiers(), via)
	target := cmp.Or(src.Profile.MergedInto, src.MergingInto)
	if target == "" {
		// Not merging: marks left behind by a merge that was refused and undone. What they mark
		// goes back.
		if err := e.gather(ctx, from, from, ids); err != nil {
			return false, err
		}
		return false, e.unmark(ctx, from, from, ids)
	}
	var dst Record
	var err error
	if into != nil && into.Profile.ID == target {
		dst = *into
	} else if dst, err = e.live(ctx, target, true); err != nil {
		return false, err
	}
	if dst.Profile.ID == from {
		return false, fmt.Errorf("merge %s into itself: %w", from, ErrCorrupt)
	}
	if src.Profile.MergedInto == "" && !dst.ErasedAt.IsZero() {
		// The profile to join is being erased since the claim: the merge is refused (the event
		// that asked for it carries an erased identifier) and src stays as it was.
		if err := e.undoMerge(ctx, src, via); err != nil {
			return false, err
		}
		return false, errRetry
	}
	if src.Profile.MergedInto == "" && dst.MergingInto != "" {
		loser, loop, err := e.claimLoop(ctx, from, dst)
		if err != nil {
			return false, err
		}
		if loop {
			if err := e.undoClaim(ctx, loser); err != nil {
				return false, err
			}
			return false, errRetry
		}
	}
	if err := e.gather(ctx, from, dst.Profile.ID, ids); err != nil {
		return false, err
	}
	folded := false
	if src.Profile.MergedInto == "" {
		if folded, err = e.fold(ctx, src, dst, via); err != nil {
			return false, err
		}
	}
	// The fold is done: clear the marks, so that readers of these identifiers need not check again.
	return folded, e.unmark(ctx, from, dst.Profile.ID, ids)
}

// claimLoop follows the merge claims from dst, claimed itself, and tells whether they lead back to
// from, which is claimed into dst: a loop that no merge of it can end. The loser is the profile of
// the greatest id in the loop, whose claim is undone, whoever finds the loop.
func (e *Engine) claimLoop(ctx context.Context, from string, dst Record) (loser string, loop bool, err error) {
	loser, cur := max(from, dst.Profile.ID), dst
	for range maxHops {
		if cur.MergingInto == "" {
			return "", false, nil
		}
		if cur, err = e.live(ctx, cur.MergingInto, true); err != nil {
			return "", false, err
		}
		if cur.Profile.ID == from {
			return loser, true, nil
		}
		loser = max(loser, cur.Profile.ID)
	}
	return "", false, fmt.Errorf("follow merge claims from %s: %w", from, ErrCorrupt)
}

// undoClaim undoes the merge claim on profile id, if it still has one.
func (e *Engine) undoClaim(ctx context.Context, id string) error {
	r, err := e.st.Profile(ctx, id, true)
	if err != nil || r.MergingInto == "" || r.Profile.MergedInto != "" {
		return err
	}
	return e.undoMerge(ctx, r, r.Cause.Via)
}

// gather moves the identifiers of profile from to profile to: those that still point at from,
// and those a merge of from moved (marked from) to a profile that is not to, because it has
// merged on since or because the merge was undone (to is from then). They are marked from on the
// way, unless they go back to from.
func (e *Engine) gather(ctx context.Context, from, to string, ids []identity.ID) error {
	now := e.now().UTC()
	entries, _, err := e.st.Entries(ctx, ids, nil)
	if err != nil {
		return fmt.Errorf("gather the identifiers of %s: %w", from, err)
	}
	for _, id := range ids {
		entry, found := entries[id]
		if !found || !entry.ErasedAt.IsZero() || entry.ProfileID == to {
			continue
		}
		m := Move{ID: id, From: entry.ProfileID, To: to, At: now}
		switch {
		case entry.ProfileID == from:
			m.Mark, m.AnyMark = from, true
		case entry.MovedFrom == from:
			m.IfMark = from
			if to != from {
				m.Mark = from
			}
		default:
			continue // not from's any more
		}
		if err := e.st.Move(ctx, m); err != nil && !errors.Is(err, ErrConflict) { // moved meanwhile: nothing to do
			return fmt.Errorf("move a %s identifier: %w", id.Kind, err)
		}
	}
	return nil
}

// unmark removes the marks a merge of profile from left on its identifiers where they belong, at
// profile at. A mark on an identifier elsewhere stays, so that whoever reads it next moves it (a
// writer that acted on a merge already ended can move an identifier after it was gathered).
func (e *Engine) unmark(ctx context.Context, from, at string, ids []identity.ID) error {
	now := e.now().UTC()
	for _, id := range ids {
		err := e.st.Move(ctx, Move{ID: id, From: at, To: at, IfMark: from, At: now})
		if err != nil && !errors.Is(err, ErrConflict) {
			return fmt.Errorf("clear merge mark on a %s identifier: %w", id.Kind, err)
		}
	}
	return nil
}

func withID(ids []identity.ID, id identity.ID) []identity.ID {
	if id.IsZero() || slices.Contains(ids, id) {
		return ids
	}
	return append(ids, id)
}

// fold folds profile src, claimed for a merge, into the live profile dst and marks src merged, in
// one commit.
func (e *Engine) fold(ctx context.Context, src, dst Record, via identity.ID) (bool, error) {
	out, err := profile.Fold(dst.Profile, src.Profile)
	if errors.Is(err, identity.ErrDifferentUsers) {
		// src had a user of its own: move its identifiers back and drop the claim.
		if err := e.undoMerge(ctx, src, via); err != nil {
			return false, err
		}
		return false, errRetry
	}
	if err != nil {
		return false, fmt.Errorf("fold profile %s into %s: %w", src.Profile.ID, dst.Profile.ID, err)
	}
	now := e.now().UTC()
	out.UpdatedAt = now
	// The merged profile leaves the due index; the live one takes what fired for either.
	mark := src
	mark.MergingInto, mark.MergedAt, mark.DueAt = "", now, time.Time{}
	mark.Profile.MergedInto, mark.Profile.UpdatedAt = dst.Profile.ID, now
	// The merged profile is in no audience any more (profile.merged tells consumers it joined the
	// live one, whose memberships are evaluated with the event that merged them).
	mark.Profile.Audiences, mark.Profile.EventTimes, mark.Profile.AudiencesDue = nil, nil, time.Time{}
	folded := dst
	folded.Profile = out
	if len(src.Recent) > 0 {
		folded.Recent = dst.Recent.join(src.Recent)
	}
	folded.Claimed = withClaimed(dst.Claimed, src.Claimed)
	folded.HighWater, folded.MergedWater = "", ""
	if sw, ok := src.knownWater(); ok { // the source's mark covers the profiles merged into it too
		if dw, ok := dst.knownWater(); ok {
			folded.HighWater = max(dw, sw)
		}
		if dm, ok := dst.mergedWater(); ok {
			folded.MergedWater = max(dm, sw, noHistory)
		}
	}
	st := e.triggers.Record(append(slices.Clone(dst.Fired), src.Fired...), nil, now)
	if len(src.Fired) > 0 {
		folded.Fired = st
	}
	if e.audiences != nil {
		// The live profile's audiences change with what it folded in: evaluated by the write of
		// the event that merged (or, should that not come, by the due index at once), its
		// computed traits computed again from both histories.
		folded.Profile.AudiencesDue = now
	}
	folded.Profile.Computed = nil
	folded.DueAt = e.dueAt(out, st, now, folded.Profile.AudiencesDue)
	err = e.st.Commit(ctx, Change{Puts: []Put{{Base: dst, Next: folded}, {Base: src, Next: mark}}})
	if errors.Is(err, ErrConflict) {
		return false, errConflict
	}
	if errors.Is(err, ErrRejected) {
		// Storage refuses the folded profile (grown past what a record may hold): it would refuse
		// it every time, so the merge is undone, both profiles staying as they were, and the
		// event that asked for it fails for good instead of finding the claim again and again.
		if err := e.undoMerge(ctx, src, via); err != nil {
			return false, err
		}
		return false, fmt.Errorf("fold profile %s into %s: refused by storage, merge undone: %w", src.Profile.ID, dst.Profile.ID, err)
	}
	if err != nil {
		return false, fmt.Errorf("fold profile %s into %s: %w", src.Profile.ID, dst.Profile.ID, err)
	}
	return true, nil
}

// undoMerge moves the identifiers of a claimed profile whose merge is refused back to it, and drops
// the claim.
func (e *Engine) undoMerge(ctx context.Context, src Record, via identity.ID) error {
	ids := withID(src.identifiers(), via)
	if err := e.gather(ctx, src.Profile.ID, src.Profile.ID, ids); err != nil {
		return err
	}
	undone := src
	undone.MergingInto, undone.Cause = "", Cause{}
	err := e.st.Commit(ctx, Change{Puts: []Put{{Base: src, Next: undone}}})
	if err != nil && !errors.Is(err, ErrConflict) {
		return fmt.Errorf("drop merge claim on %s: %w", src.Profile.ID, err)
	}
	return e.unmark(ctx, src.Profile.ID, src.Profile.ID, ids)
}
