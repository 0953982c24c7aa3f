package recording

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

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

// The states of an erasure.
const (
	ErasureInProgress = "in progress"
	ErasureComplete   = "complete"
)

// Erasure tells how far the erasure of a person has gone, counting the work of every call.
type Erasure struct {
	ProfileID   string // the live profile
	State       string // ErasureInProgress or ErasureComplete
	StartedAt   time.Time
	CompletedAt time.Time // zero while in progress
	Profiles    int       // profile records buried: the live one and those merged into it
	Identifiers int       // identifiers replaced by tombstones
	Touchpoints int       // touchpoints deleted
}

// erasureBudget bounds the steps of an erasure (WithErasureSteps).
type erasureBudget struct {
	page    int
	reserve time.Duration
}

// Erase deletes everything held about the person profile id belongs to: the live profile, the
// profiles merged into it, their history, and their identifiers, which are replaced by
// tombstones under their sealed form (WithTombstoneKey) so that later events carrying any of them
// are refused with ErrErased rather than re-creating the person, while no tombstone says whom it
// was about. It returns profile.ErrNotFound for an id that never was.
//
// An erasure is resumable and bounded. Its first call marks the live profile erased (a version
// change, so any concurrent recording on it fails its condition and reads the graph again, finding
// the mark) and strips it to what the erasure needs: the identifiers and the merged profiles
// left. Then it works in steps, each small (the identifiers of one profile, or one page of
// history), recording on the live profile after each what is done and what is left, as long as
// ctx's deadline is more than the reserve away (at least one step per call). A call that returns
// in progress, or fails, is continued by calling Erase again, by any of the person's profile ids:
// the live profile's identifiers go first, then each merged profile's (identifiers, history,
// then the record, buried), then the live one's history, and the live record is buried last,
// keeping the counts and the time it completed. Erase on a completed erasure returns it.
//
// A profile claimed for a merge into another when the erasure starts is merged first: the person
// is the profile it joins. A merge into a profile being erased is refused and undone, like the
// event that asked for it. Identifiers are found where they are listed, and in the history (the
// userId and anonymousId of each event, such as an earlier userId an alias linked); one that
// points at the person and is found in neither (claimed by an event whose write lost a race) is
// sealed by whoever reads it next. A recording that wrote the profile before the mark and its
// touchpoints after the erasure read the history deletes them itself.
func (e *Engine) Erase(ctx context.Context, id string) (Erasure, error) {
	return e.EraseAnnounced(ctx, id, nil)
}

// EraseAnnounced is Erase, calling announce with the person's live profile before the erasure
// starts: an error from it stops the erasure with nothing changed. A call that continues an
// erasure started before does not announce.
func (e *Engine) EraseAnnounced(ctx context.Context, id string, announce func(context.Context, profile.Profile) error) (Erasure, error) {
	live, err := e.startErasure(ctx, id, announce)
	if err != nil {
		return Erasure{}, fmt.Errorf("erase %s: %w", id, err)
	}
	for first := true; live.Version > 0; first = false {
		if !first && !e.timeLeft(ctx) {
			break
		}
		if live, err = e.eraseStep(ctx, live); err != nil {
			return erasureOf(live), fmt.Errorf("erase %s: %w", id, err)
		}
	}
	return erasureOf(live), nil
}

// erasureOf reads the state of an erasure off the live profile's record: marked (in progress) or
// buried (complete).
func erasureOf(r Record) Erasure {
	out := Erasure{ProfileID: r.Profile.ID, State: ErasureInProgress, StartedAt: r.ErasedAt,
		Profiles: r.Erasure.Profiles, Identifiers: r.Erasure.Identifiers, Touchpoints: r.Erasure.Touchpoints}
	if r.Version == 0 {
		out.State, out.CompletedAt = ErasureComplete, cmp.Or(r.Erasure.CompletedAt, r.ErasedAt)
	}
	return out
}

// timeLeft tells whether there is time for another step before ctx's deadline.
func (e *Engine) timeLeft(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	deadline, ok := ctx.Deadline()
	return !ok || time.Until(deadline) > e.erasure.reserve
}

// startErasure returns the record that holds the erasure of the person profile id belongs to:
// the live profile, marked erased now (announced first) or before, or its tombstone when the
// erasure is complete.
func (e *Engine) startErasure(ctx context.Context, id string, announce func(context.Context, profile.Profile) error) (Record, error) {
	for attempt := 0; ; attempt++ {
		r, err := e.live(ctx, id, true)
		if err != nil {
			return Record{}, err
		}
		switch {
		case r.Version == 0 && r.ErasedAt.IsZero():
			return Record{}, profile.ErrNotFound
		case r.Version == 0 && r.Erasure.Of != "":
			// A merged profile buried by its person's erasure: that erasure is the one.
			if r, err = e.st.Profile(ctx, r.Erasure.Of, true); err != nil {
				return Record{}, err
			}
			if r.ErasedAt.IsZero() {
				return Record{}, fmt.Errorf("erased with %s, which is not erased: %w", r.Profile.ID, ErrCorrupt)
			}
			return r, nil
		case !r.ErasedAt.IsZero():
			return r, nil // under way, or complete
		case r.MergingInto != "":
			// Being merged into another: the person is the profile it joins. Merge, then erase.
			if _, err := e.finishMerge(ctx, r.Profile.ID, identity.ID{}); err != nil && !errors.Is(err, errRetry) && !errors.Is(err, errConflict) {
				return Record{}, err
			}
		default:
			if announce != nil {
				if err := announce(ctx, r.Profile); err != nil {
					return Record{}, err
				}
			}
			now := e.now().UTC()
			mark := Record{Profile: profile.Profile{ID: r.Profile.ID, UserID: r.Profile.UserID, AnonymousIDs: r.Profile.AnonymousIDs,
				MergedFrom: r.Profile.MergedFrom, UpdatedAt: now}, Claimed: r.Claimed, ErasedAt: now}
			err := e.st.Commit(ctx, Change{Puts: []Put{{Base: r, Next: mark}}})
			if err == nil {
				mark.Version = r.Version + 1
				return mark, nil
			}
			if !errors.Is(err, ErrConflict) {
				return Record{}, fmt.Errorf("mark profile: %w", err)
			}
		}
		if attempt == maxAttempts {
			return Record{}, ErrContention
		}
		if err := pause(ctx, attempt); err != nil {
			return Record{}, err
		}
	}
}

// eraseStep does the next step of the erasure live holds, and returns the live record after it:
// marked, with what is left, or buried when the erasure is complete.
func (e *Engine) eraseStep(ctx context.Context, live Record) (Record, error) {
	person := func(profileID string) bool {
		return profileID == live.Profile.ID || slices.Contains(live.Profile.MergedFrom, profileID)
	}
	if ids := live.identifiers(); len(ids) > 0 {
		n, err := e.sealListed(ctx, live.ErasedAt, ids, person, true)
		if err != nil {
			return live, err
		}
		return e.saveErasure(ctx, live, func(r *Record) {
			r.Profile.UserID, r.Profile.AnonymousIDs, r.Claimed = "", nil, nil
			r.Erasure.Identifiers += n
		})
	}
	if len(live.Profile.MergedFrom) > 0 {
		m := live.Profile.MergedFrom[0]
		rec, err := e.st.Profile(ctx, m, true)
		if err != nil {
			return live, err
		}
		if ids := rec.identifiers(); rec.Version > 0 && len(ids) > 0 {
			n, err := e.sealListed(ctx, live.ErasedAt, ids, person, false) // mostly listed on the live one too
			if err != nil {
				return live, err
			}
			// The merged record keeps only where it went, until it is buried.
			stripped := Record{Profile: profile.Profile{ID: m, MergedInto: rec.Profile.MergedInto, UpdatedAt: e.now().UTC()}, ErasedAt: live.ErasedAt}
			if err := e.st.Commit(ctx, Change{Puts: []Put{{Base: rec, Next: stripped}}}); err != nil && !errors.Is(err, ErrConflict) {
				return live, fmt.Errorf("strip merged profile %s: %w", m, err)
			}
			return e.saveErasure(ctx, live, func(r *Record) { r.Erasure.Identifiers += n })
		}
		done, tn, idn, err := e.erasePage(ctx, live, m, person)
		if err != nil || !done {
			if err == nil {
				live, err = e.saveErasure(ctx, live, func(r *Record) { r.Erasure.Touchpoints += tn; r.Erasure.Identifiers += idn })
			}
			return live, err
		}
		buried := 0
		if rec.Version > 0 || !rec.ErasedAt.IsZero() {
			if err := e.st.Bury(ctx, m, live.ErasedAt, Progress{Of: live.Profile.ID}); err != nil {
				return live, fmt.Errorf("bury merged profile %s: %w", m, err)
			}
			buried = 1
		}
		return e.saveErasure(ctx, live, func(r *Record) {
			r.Profile.MergedFrom = slices.DeleteFunc(slices.Clone(r.Profile.MergedFrom), func(id string) bool { return id == m })
			r.Erasure.Touchpoints += tn
			r.Erasure.Identifiers += idn
			r.Erasure.Profiles += buried
		})
	}
	done, tn, idn, err := e.erasePage(ctx, live, live.Profile.ID, person)
	if err != nil {
		return live, err
	}
	if !done {
		return e.saveErasure(ctx, live, func(r *Record) { r.Erasure.Touchpoints += tn; r.Erasure.Identifiers += idn })
	}
	// Last, the live record, which held the erasure's state: its tombstone keeps the counts.
	final := live.Erasure
	final.Touchpoints, final.Identifiers, final.Profiles = final.Touchpoints+tn, final.Identifiers+idn, final.Profiles+1
	final.CompletedAt = e.now().UTC()
	if err := e.st.Bury(ctx, live.Profile.ID, live.ErasedAt, final); err != nil {
		return live, fmt.Errorf("bury profile %s: %w", live.Profile.ID, err)
	}
	return Record{Profile: profile.Profile{ID: live.Profile.ID}, ErasedAt: live.ErasedAt, Erasure: final}, nil
}

// saveErasure writes the progress of an erasure on the live record, at the version read; if
// another call wrote it meanwhile, on what that one wrote. It returns the record as written.
func (e *Engine) saveErasure(ctx context.Context, live Record, change func(*Record)) (Record, error) {
	for attempt := 0; ; attempt++ {
		next := live
		change(&next)
		next.Profile.UpdatedAt = e.now().UTC()
		err := e.st.Commit(ctx, Change{Puts: []Put{{Base: live, Next: next}}})
		if err == nil {
			next.Version = live.Version + 1
			return next, nil
		}
		if !errors.Is(err, ErrConflict) {
			return live, fmt.Errorf("record progress: %w", err)
		}
		if attempt == maxAttempts {
			return live, ErrContention
		}
		if live, err = e.st.Profile(ctx, live.Profile.ID, true); err != nil {
			return live, err
		}
		if live.Version == 0 || live.ErasedAt.IsZero() {
			return live, nil // completed by another call
		}
	}
}

// sealListed replaces the entries of identifiers listed on the person's records by tombstones,
// and makes sure each has one; an entry that points at another person's profile is theirs now and
// stays. It returns how many it sealed, counting those sealed before it when counted is set.
func (e *Engine) sealListed(ctx context.Context, at time.Time, ids []identity.ID, person func(string) bool, counted bool) (int, error) {
	n := 0
	for _, id := range ids {
		now, before, err := e.seal(ctx, at, id, person)
		if err != nil {
			return n, err
		}
		if now || before && counted {
			n++
		}
	}
	return n, nil
}

// seal replaces the entry of an identifier listed on the person's records by its tombstone, or
// writes the tombstone if there is no entry and none: it tells whether it wrote one now, or found
// one written before. An entry that changes meanwhile (sealed by a recording that met it, moved by
// a merge) is read again.
func (e *Engine) seal(ctx context.Context, at time.Time, id identity.ID, person func(string) bool) (now, before bool, err error) {
	for range maxAttempts {
		entry, found, err := e.st.Entry(ctx, id, true)
		if err != nil {
			return false, false, err
		}
		ifProfile := ""
		switch {
		case found && !person(entry.ProfileID) && entry.ErasedAt.IsZero():
			return false, false, nil // another person's now
		case found:
			ifProfile = entry.ProfileID
		default:
			sealed, err := e.st.Tombstoned(ctx, e.sealed(id))
			if err != nil || sealed {
				return false, sealed, err
			}
		}
		err = e.st.Tombstone(ctx, id, e.sealed(id), at, ifProfile)
		if err == nil {
			return true, false, nil
		}
		if !errors.Is(err, ErrConflict) {
			return false, false, fmt.Errorf("seal a %s identifier: %w", id.Kind, err)
		}
	}
	return false, false, ErrContention
}

// erasePage deletes the newest page of the history of profile pid, first sealing the
// identifiers its events carry that point at the person (person tells their profiles). done tells
// that the history is empty now.
func (e *Engine) erasePage(ctx context.Context, live Record, pid string, person func(string) bool) (done bool, touchpoints, identifiers int, err error) {
	page := e.erasure.page
	ts, err := e.st.Touchpoints(ctx, pid, nil, "", page)
	if err != nil {
		return false, 0, 0, fmt.Errorf("read history of %s: %w", pid, err)
	}
	var carried []identity.ID
	for _, t := range ts {
		a := t.Activity
		for _, id := range []identity.ID{identity.AnonymousID(a.AnonymousID), identity.UserID(a.UserID),
			identity.AnonymousID(a.PreviousID), identity.UserID(a.PreviousID)} {
			if !id.IsZero() && !slices.Contains(carried, id) {
				carried = append(carried, id)
			}
		}
	}
	for _, id := range carried {
		entry, found, err := e.st.Entry(ctx, id, true)
		if err != nil {
			return false, 0, identifiers, err
		}
		if !found || !entry.ErasedAt.IsZero() || !person(entry.ProfileID) {
			continue
		}
		err = e.st.Tombstone(ctx, id, e.sealed(id), live.ErasedAt, entry.ProfileID)
		if err != nil && !errors.Is(err, ErrConflict) { // moved on: not the person's any more
			return false, 0, identifiers, fmt.Errorf("seal a %s identifier: %w", id.Kind, err)
		}
		if err == nil {
			identifiers++
		}
	}
	if len(ts) > 0 {
		keys := make([]history.Key, len(ts))
		for i, t := range ts {
			keys[i] = t.Key()
		}
		if _, err := e.st.Delete(ctx, keys); err != nil {
			return false, 0, identifiers, fmt.Errorf("delete history of %s: %w", pid, err)
		}
	}
	return len(ts) < page, len(ts), identifiers, nil
}

// Lift removes the tombstone of an identifier whose person was erased, so that it is recorded
// again (the person came back and consented), and tells whether there was one.
func (e *Engine) Lift(ctx context.Context, id identity.ID) (bool, error) {
	found, err := e.st.Lift(ctx, e.sealed(id))
	if err != nil {
		return false, fmt.Errorf("lift the tombstone of a %s identifier: %w", id.Kind, err)
	}
	return found, nil
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
		// Marketing consent decides whether a trigger can fall due; audiences may read consent,
		// so they are evaluated again at once (by the due index, when the engine keeps them).
		if e.audiences != nil {
			next.Profile.AudiencesDue = e.now().UTC()
		}
		next.DueAt = e.dueAt(next.Profile, r.Fired, e.now().UTC(), next.Profile.AudiencesDue)
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
