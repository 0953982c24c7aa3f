package profilestore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// A merge of profile from into profile into runs in three steps, each safe to repeat and to finish
// by whoever comes across it half done:
//
//  1. claim: from is marked mergingInto = into (only if it is not merging already), which also
//     bumps its version, so that no writer adds to from any more; a writer that meets the mark
//     helps the merge on (finishMerge) instead of starting another, so from joins one profile only
//     even when two writers want it at once;
//  2. repoint: each of from's identifiers is moved to into, marked with where it came from;
//  3. fold: from's history is folded into into's live profile, and from is marked mergedInto, in
//     one transaction; then the identifiers' marks are cleared.

// cause is what asks for a merge: an event, from a trusted source or not.
type cause struct {
	MessageID string
	Trusted   bool
}

// merge moves profile from into profile into, for the given cause, through identifier via. It
// returns whether it folded; it does not when the merge is no longer allowed (from became another
// user's profile meanwhile) or when from is merged or merging already (then it helps that merge
// on, and the caller reads again).
func (s *Store) merge(ctx context.Context, from, into string, via identity.ID, why cause) (bool, error) {
	src, found, err := s.get(ctx, from, true)
	if err != nil {
		return false, err
	}
	if src.MergedInto != "" {
		return false, nil
	}
	if src.MergingInto != "" {
		_, err := s.finishMerge(ctx, from, via)
		return false, err
	}
	dst, _, err := s.live(ctx, into, true)
	if err != nil {
		return false, err
	}
	if dst.ID == from || identity.CanMerge(dst.UserID, src.UserID) != nil {
		return false, nil
	}
	claim := s.profiles.Update("profileId", from).Set("mergingInto", dst.ID).Set("version", src.Version+1).
		Set("mergeEvent", why.MessageID).Set("mergeVia", via.String()).Set("mergeTrusted", why.Trusted).
		Set("updatedAt", s.now().UTC()).If("attribute_not_exists('mergingInto') AND attribute_not_exists('mergedInto')")
	if found {
		claim = claim.If("'version' = ?", src.Version)
	} else {
		claim = claim.If("attribute_not_exists('version')") // claimed, never written
	}
	if err := claim.Run(ctx); dynamo.IsCondCheckFailed(err) {
		return false, errConflict
	} else if err != nil {
		return false, fmt.Errorf("claim profile %s for a merge: %w", from, err)
	}
	return s.finishMerge(ctx, from, via)
}

// repoint moves an identifier of profile from to profile into, marking where it came from.
func (s *Store) repoint(ctx context.Context, id identity.ID, from, into string) error {
	err := s.identities.Update("identifier", id.String()).
		Set("profileId", into).Set("mergedFrom", from).Set("updatedAt", s.now().UTC()).
		If("'profileId' = ?", from).Run(ctx)
	if err != nil && !dynamo.IsCondCheckFailed(err) { // already moved (or not there): nothing to do
		return fmt.Errorf("repoint identity %s: %w", id, err)
	}
	return nil
}

// moveTo moves an identifier that still points at a merged profile to the live one. No mark is
// needed: the merge is complete.
func (s *Store) moveTo(ctx context.Context, id identity.ID, merged, live string) error {
	err := s.identities.Update("identifier", id.String()).Set("profileId", live).Set("updatedAt", s.now().UTC()).
		If("'profileId' = ? AND attribute_not_exists('mergedFrom')", merged).Run(ctx)
	if err != nil && !dynamo.IsCondCheckFailed(err) {
		return fmt.Errorf("move identity %s to %s: %w", id, live, err)
	}
	return nil
}

// finishMerge carries a claimed merge of profile from to its end (see merge): it repoints from's
// identifiers (and via, the one it was found by, which from may not list yet), folds from into the live profile it is merging into, unless that happened already,
// and clears the identifiers' marks. It returns whether it folded. It returns errConflict when
// another writer changed either profile first, and errRetry after moving the identifiers back when
// the merge is no longer allowed.
func (s *Store) finishMerge(ctx context.Context, from string, via identity.ID) (bool, error) {
	src, _, err := s.get(ctx, from, true)
	if err != nil {
		return false, err
	}
	ids := withID(src.identifiers(), via)
	target := cmp.Or(src.MergedInto, src.MergingInto)
	if target == "" {
		// Not merging: a mark left behind by a merge that was refused and undone.
		return false, s.clearMarks(ctx, from, ids)
	}
	folded := false
	if src.MergedInto == "" {
		dstItem, err := s.liveItem(ctx, target, true)
		if err != nil {
			return false, err
		}
		if dstItem.ProfileID == from {
			return false, fmt.Errorf("merge %s into itself: %w", from, ErrCorrupt)
		}
		for _, id := range ids {
			if err := s.repoint(ctx, id, from, dstItem.ProfileID); err != nil {
				return false, err
			}
		}
		if folded, err = s.fold(ctx, src, dstItem, via); err != nil {
			return false, err
		}
	}
	// The fold is done: clear the marks, so that readers of these identifiers need not check again.
	return folded, s.clearMarks(ctx, from, ids)
}

// clearMarks removes the marks a merge from profile from left on identifiers.
func (s *Store) clearMarks(ctx context.Context, from string, ids []identity.ID) error {
	for _, id := range ids {
		err := s.identities.Update("identifier", id.String()).Remove("mergedFrom").
			If("'mergedFrom' = ?", from).Run(ctx)
		if err != nil && !dynamo.IsCondCheckFailed(err) {
			return fmt.Errorf("clear merge mark on %s: %w", id, err)
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

// fold folds profile src, claimed for a merge, into the live profile dstItem and marks src merged,
// in one transaction.
func (s *Store) fold(ctx context.Context, src, dstItem profileItem, via identity.ID) (bool, error) {
	dst := dstItem.profile()
	out, err := profile.Fold(dst, src.profile())
	if errors.Is(err, identity.ErrDifferentUsers) {
		// src had a user of its own: move its identifiers back and drop the claim.
		if err := s.undoMerge(ctx, src, dst.ID, via); err != nil {
			return false, err
		}
		return false, errRetry
	}
	if err != nil {
		return false, fmt.Errorf("fold profile %s into %s: %w", src.ProfileID, dst.ID, err)
	}
	now := s.now().UTC()
	out.UpdatedAt = now
	// The merged profile leaves the due index; the live one takes what fired for either.
	mark := s.profiles.Update("profileId", src.ProfileID).Remove("mergingInto", "dueShard", "dueAt").
		Set("mergedInto", dst.ID).Set("mergedAt", now).Set("updatedAt", now).Set("version", src.Version+1).
		If("'version' = ? AND 'mergingInto' = ?", src.Version, src.MergingInto)
	write := s.writeProfile(out, dstItem.Version)
	if len(src.Recent) > 0 {
		write.Set("recentIds", []byte(recentIDs(dstItem.Recent).join(src.Recent)))
	}
	hashed := withHashed(dstItem.Hashed, parseIDs(src.Hashed))
	setOrRemove(write, "hashedIds", hashed, len(hashed))
	s.foldDue(write, dstItem, src, out, now)
	err = s.db.WriteTx().Idempotent(true).Update(write).Update(mark).Run(ctx)
	if r := cancellations(err); err != nil {
		if r.failed(0) || r.failed(1) || r.conflict() {
			return false, errConflict
		}
		return false, fmt.Errorf("fold profile %s into %s: %w", src.ProfileID, dst.ID, err)
	}
	return true, nil
}

// undoMerge moves the identifiers of a claimed profile whose merge is refused back to it, and drops
// the claim.
func (s *Store) undoMerge(ctx context.Context, src profileItem, into string, via identity.ID) error {
	for _, id := range withID(src.identifiers(), via) {
		err := s.identities.Update("identifier", id.String()).
			Set("profileId", src.ProfileID).Remove("mergedFrom").Set("updatedAt", s.now().UTC()).
			If("'profileId' = ? AND 'mergedFrom' = ?", into, src.ProfileID).Run(ctx)
		if err != nil && !dynamo.IsCondCheckFailed(err) {
			return fmt.Errorf("move identity %s back: %w", id, err)
		}
	}
	err := s.profiles.Update("profileId", src.ProfileID).Remove("mergingInto", "mergeEvent", "mergeVia", "mergeTrusted").Set("version", src.Version+1).
		If("'version' = ? AND 'mergingInto' = ?", src.Version, src.MergingInto).Run(ctx)
	if err != nil && !dynamo.IsCondCheckFailed(err) {
		return fmt.Errorf("drop merge claim on %s: %w", src.ProfileID, err)
	}
	return nil
}
