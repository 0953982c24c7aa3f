package recording

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// Person is everything held about one person: the live profile, the profiles merged into it,
// every identifier of them, and a page of their history.
type Person struct {
	Profile     profile.Profile
	Merged      []string         // ids of the profiles merged into Profile
	Merges      []identity.Merge // how each of them joined, oldest first
	Identifiers []identity.ID    // sorted by kind, then value
	Touchpoints []history.Touchpoint
	Next        string // the cursor of the next page of touchpoints; empty on the last
}

// person reads the live profile that id leads to and the profiles merged into it.
func (e *Engine) person(ctx context.Context, id string) (Record, []Record, error) {
	live, err := e.live(ctx, id, true)
	if err != nil {
		return Record{}, nil, err
	}
	if live.Version == 0 {
		return Record{}, nil, fmt.Errorf("profile %s: %w", id, profile.ErrNotFound)
	}
	var merged []Record
	for _, m := range live.Profile.MergedFrom {
		r, err := e.st.Profile(ctx, m, true)
		if err != nil {
			return Record{}, nil, err
		}
		merged = append(merged, r)
	}
	return live, merged, nil
}

// History returns a page of the history of the person that profile id belongs to: the touchpoints
// recorded on the live profile and on every profile merged into it, newest first. It returns
// profile.ErrNotFound for an unknown id, history.ErrBadCursor for a cursor it did not make.
func (e *Engine) History(ctx context.Context, id string, q history.Query) (history.Page, error) {
	limit := q.Size()
	var after *history.Cursor
	if q.Cursor != "" {
		c, err := history.DecodeCursor(q.Cursor)
		if err != nil {
			return history.Page{}, err
		}
		after = &c
	}
	p, err := e.Profile(ctx, id)
	if err != nil {
		return history.Page{}, err
	}
	all, err := e.touchpoints(ctx, append([]string{p.ID}, p.MergedFrom...), after, q.Type, limit+1)
	if err != nil {
		return history.Page{}, err
	}
	page := history.Page{ProfileID: p.ID, Touchpoints: []history.Touchpoint{}}
	for i, t := range all {
		if i == limit {
			page.Next = history.Cursor(all[i-1].Key()).Encode()
			break
		}
		page.Touchpoints = append(page.Touchpoints, t)
	}
	return page, nil
}

// touchpoints reads the history of the given profiles, newest first: after the cursor when there
// is one, of the type typ selects, at most limit of each profile (all when limit is 0).
func (e *Engine) touchpoints(ctx context.Context, ids []string, after *history.Cursor, typ string, limit int) ([]history.Touchpoint, error) {
	var all []history.Touchpoint
	for _, id := range ids {
		ts, err := e.st.Touchpoints(ctx, id, after, typ, limit)
		if err != nil {
			return nil, fmt.Errorf("read history of %s: %w", id, err)
		}
		all = append(all, ts...)
	}
	slices.SortFunc(all, history.Newest)
	return all, nil
}

// Merges returns how the profiles merged into the live profile of id joined, oldest first, or
// profile.ErrNotFound.
func (e *Engine) Merges(ctx context.Context, id string) ([]identity.Merge, error) {
	live, merged, err := e.person(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("merges of %s: %w", id, err)
	}
	if !live.ErasedAt.IsZero() {
		return nil, fmt.Errorf("merges of %s: %w", id, profile.ErrNotFound)
	}
	return merges(merged), nil
}

func merges(rs []Record) []identity.Merge {
	out := make([]identity.Merge, 0, len(rs))
	for _, r := range rs {
		if r.Profile.MergedInto == "" {
			continue
		}
		out = append(out, identity.Merge{From: r.Profile.ID, Into: r.Profile.MergedInto, At: r.MergedAt,
			MessageID: r.Cause.MessageID, Via: r.Cause.Via, Trusted: r.Cause.Trusted})
	}
	slices.SortFunc(out, func(a, b identity.Merge) int { return cmp.Or(a.At.Compare(b.At), strings.Compare(a.From, b.From)) })
	return out
}

// identifiersOf lists the identifiers of the given records, once each, sorted by kind, then value.
func identifiersOf(rs ...Record) []identity.ID {
	var ids []identity.ID
	for _, r := range rs {
		ids = append(ids, r.identifiers()...)
	}
	slices.SortFunc(ids, func(a, b identity.ID) int {
		return cmp.Or(strings.Compare(string(a.Kind), string(b.Kind)), strings.Compare(a.Value, b.Value))
	})
	return slices.Compact(ids)
}

// Export returns everything held about the person profile id belongs to (a data-subject access
// request), or profile.ErrNotFound: the profile, its merges and identifiers, and one page of the
// history (as History pages it: Person.Next continues it), so that a long history never makes one
// answer too big.
func (e *Engine) Export(ctx context.Context, id string, q history.Query) (Person, error) {
	live, merged, err := e.person(ctx, id)
	if err != nil {
		return Person{}, fmt.Errorf("export %s: %w", id, err)
	}
	if !live.ErasedAt.IsZero() {
		return Person{}, fmt.Errorf("export %s: %w", id, profile.ErrNotFound)
	}
	q.Type = ""
	page, err := e.History(ctx, live.Profile.ID, q)
	if err != nil {
		return Person{}, fmt.Errorf("export %s: %w", id, err)
	}
	return Person{
		Profile: live.Profile, Merged: slices.Clone(live.Profile.MergedFrom), Merges: merges(merged),
		Identifiers: identifiersOf(append([]Record{live}, merged...)...),
		Touchpoints: page.Touchpoints, Next: page.Next,
	}, nil
}

// Erasure tells what Erase removed.
type Erasure struct {
	ProfileID   string // the live profile
	Profiles    int    // profile records buried: the live one and those merged into it
	Identifiers int    // identifiers replaced by tombstones
	Touchpoints int    // touchpoints deleted
}

// Erase deletes everything held about the person profile id belongs to: the live profile, the
// profiles merged into it, their history, and their identifiers. Identifiers and profiles are
// replaced by tombstones (nothing about the person but the time) so that later events carrying
// any of them are refused with ErrErased rather than re-creating the person. It returns
// profile.ErrNotFound for an unknown (or already erased) id.
//
// It first marks the live profile erased (a version change, so any concurrent recording on it
// fails its condition and reads the graph again, finding the mark or the tombstones), then writes
// the tombstones, deletes the history and buries the profiles last: if it stops half-way, erasing
// again by any of the person's profile ids finishes the work. A recording that wrote the profile
// before the mark and its touchpoints after Erase read the history deletes them itself.
func (e *Engine) Erase(ctx context.Context, id string) (Erasure, error) {
	var (
		live   Record
		merged []Record
	)
	for attempt := 0; ; attempt++ {
		var err error
		live, merged, err = e.person(ctx, id)
		if err != nil {
			return Erasure{}, fmt.Errorf("erase %s: %w", id, err)
		}
		if !live.ErasedAt.IsZero() {
			break // an erasure that stopped half-way: finish it
		}
		now := e.now().UTC()
		mark := live
		mark.ErasedAt, mark.Profile.UpdatedAt = now, now
		err = e.st.Commit(ctx, Change{Puts: []Put{{Base: live, Next: mark}}})
		if err == nil {
			live = mark
			break
		}
		if !errors.Is(err, ErrConflict) {
			return Erasure{}, fmt.Errorf("erase %s: mark profile: %w", id, err)
		}
		if attempt == maxAttempts {
			return Erasure{}, fmt.Errorf("erase %s: %w", id, ErrContention)
		}
		if err := pause(ctx, attempt); err != nil {
			return Erasure{}, fmt.Errorf("erase %s: %w", id, err)
		}
	}
	out := Erasure{ProfileID: live.Profile.ID}
	now := e.now().UTC()
	for _, ident := range identifiersOf(append([]Record{live}, merged...)...) {
		if err := e.st.Tombstone(ctx, ident, now, now, ""); err != nil {
			return out, fmt.Errorf("erase %s: write tombstone: %w", id, err)
		}
		out.Identifiers++
	}
	ids := append([]string{live.Profile.ID}, live.Profile.MergedFrom...)
	ts, err := e.touchpoints(ctx, ids, nil, "", 0)
	if err != nil {
		return out, fmt.Errorf("erase %s: %w", id, err)
	}
	if len(ts) > 0 {
		keys := make([]history.Key, len(ts))
		for i, t := range ts {
			keys[i] = t.Key()
		}
		n, err := e.st.Delete(ctx, keys)
		out.Touchpoints = n
		if err != nil {
			return out, fmt.Errorf("erase %s: delete history: %w", id, err)
		}
	}
	// Merged profiles first, the live one (which holds the mark) last. Each is replaced by a
	// tombstone, so that an identifier claimed for it but not listed on it yet still leads to an
	// erased profile (and gets a tombstone of its own); its version 0 says the erasure is complete.
	for _, pid := range append(slices.Clone(live.Profile.MergedFrom), live.Profile.ID) {
		if err := e.st.Bury(ctx, pid, live.ErasedAt); err != nil {
			return out, fmt.Errorf("erase %s: delete profile %s: %w", id, pid, err)
		}
		out.Profiles++
	}
	return out, nil
}

// SetConsent records consent answers on the live profile of id: per purpose, the latest answer (by
// its time) wins, so answers may arrive in any order. It returns the live profile id and the
// consent state after the change, or profile.ErrNotFound. It changes the profile's version, like
// recording does (which takes the consent answers of events, see profile.Apply), so that neither
// overwrites the other: a concurrent change makes it read again.
func (e *Engine) SetConsent(ctx context.Context, id string, change map[string]profile.Consent) (string, map[string]profile.Consent, error) {
	for range maxAttempts {
		r, err := e.live(ctx, id, true)
		if err != nil {
			return "", nil, err
		}
		if !r.written() {
			return "", nil, fmt.Errorf("set consent on %s: %w", id, profile.ErrNotFound)
		}
		if r.MergingInto != "" {
			// Being merged into another: finish the merge, then write on the profile that is live.
			if _, err := e.finishMerge(ctx, r.Profile.ID, identity.ID{}); err != nil && !errors.Is(err, errRetry) && !errors.Is(err, errConflict) {
				return "", nil, fmt.Errorf("set consent on %s: %w", id, err)
			}
			continue
		}
		state, changed := profile.ApplyConsent(r.Profile.Consent, change)
		if !changed {
			return r.Profile.ID, state, nil
		}
		next := r
		next.Profile.Consent = state
		// Marketing consent decides whether a trigger can fall due.
		next.DueAt = e.dueAt(next.Profile, r.Fired, e.now().UTC())
		err = e.st.Commit(ctx, Change{Puts: []Put{{Base: r, Next: next}}})
		if errors.Is(err, ErrConflict) {
			continue // changed, merged or erased meanwhile: read again
		}
		if err != nil {
			return "", nil, fmt.Errorf("set consent on %s: %w", r.Profile.ID, err)
		}
		return r.Profile.ID, state, nil
	}
	return "", nil, fmt.Errorf("set consent on %s: %w", id, ErrContention)
}
