package recording

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// Result tells what recording an event did.
type Result struct {
	ProfileID string   // the profile the event is on
	Duplicate bool     // the event had been recorded before; nothing changed
	Created   bool     // the profile was created for this event
	Merged    []string // profiles folded into ProfileID while recording the event
	// Version is the profile's version after the write that recorded the event (for a duplicate,
	// as read or as written for the rest of its batch); Profile is the profile at that version.
	// Added are the identifiers the event attached to it and TraitsChanged the traits whose value
	// it changed (both empty for a duplicate). TraitNotes say what was trimmed or refused of its
	// traits (profile.ApplyNoted): the rest of the event is recorded.
	Version       int
	Profile       profile.Profile
	Added         []string
	TraitsChanged []string
	TraitNotes    []string
}

// Claims are what an event says of who it is beside its anonymousId and userId: the identifiers
// it claims (identity.Claims: hashed email and phone, device, advertising and external ids, the
// linked anonymous id) and whether its source is trusted (a server-side key). The identity rules
// decide what they may join (identity.Refine). Properties are the event's properties as sent,
// kept (bounded) in its touchpoint.
type Claims struct {
	IDs        []identity.ID
	Trusted    bool
	Properties json.RawMessage
}

// Input is one event to record: its activity and its claims.
type Input struct {
	Activity profile.Activity
	Claims   Claims
	// Dedup is what tells the event from others when it is sent again: its message id scoped by
	// its source and visitor under a secret key (stitch: hashkey.Key.Sum("dedup", source,
	// visitor, messageId)), so that message ids chosen by one sender cannot collide with
	// another's. Empty: the message id itself.
	Dedup string
}

// dedup is the input's deduplication key (see Dedup).
func (in Input) dedup() string {
	if in.Dedup != "" {
		return in.Dedup
	}
	return in.Activity.MessageID
}

// Outcome is what recording one input did, or why it was not recorded (Err).
type Outcome struct {
	Result
	Err error
}

// errRetry makes an attempt start over with fresh reads at once (it changed the graph);
// errConflict after a pause (another writer changed what it read).
var (
	errRetry    = errors.New("state changed; read again")
	errConflict = errors.New("lost a race with another writer; read again")
)

// Record records an activity on the profile its identifiers resolve to, creating and merging
// profiles as the identity rules decide. Recording the same message id again changes nothing.
func (e *Engine) Record(ctx context.Context, a profile.Activity) (Result, error) {
	return e.RecordClaims(ctx, a, Claims{})
}

// RecordClaims is Record for an event that also carries the given claims: its claimed identifiers
// are resolved, attached and (from a trusted source) joined like its other identifiers, under the
// rules and limits of package identity.
func (e *Engine) RecordClaims(ctx context.Context, a profile.Activity, c Claims) (Result, error) {
	o := e.RecordAll(ctx, []Input{{Activity: a, Claims: c}})[0]
	return o.Result, o.Err
}

// RecordAll records a batch of events in order, with one write per profile the batch touches
// (a profile is written once per batch, not once per event), and returns one outcome per input.
// An input that fails for good (Permanent) does not stop the others; after an input that fails
// otherwise, the rest are not attempted (ErrNotAttempted).
//
// Each event is first placed: its identifiers are resolved, claimed and merged as the identity
// rules decide (writes to the identity graph happen at once, and any merge first writes what the
// batch has gathered so far). The batch then writes each profile once, if it is still at the
// version read: the events not recorded before are applied, the profile is written with their
// message ids in its recent list, and their touchpoints are written. An event counts as
// recorded before when its message id is in the profile's recent list or its touchpoint is in
// the history of the profile or of one merged into it; the recent list covers a crash between the
// profile write and the touchpoints. A profile that changed meanwhile has its events placed again.
func (e *Engine) RecordAll(ctx context.Context, in []Input) []Outcome {
	out := make([]Outcome, len(in))
	idx := make([]int, len(in))
	for i := range idx {
		idx[i] = i
	}
	e.recordAll(ctx, in, out, idx, 0)
	return out
}

// batch records some inputs: what is placed and not written yet, by profile.
type batch struct {
	e       *Engine
	in      []Input
	out     []Outcome
	groups  map[string]*group // by profile id
	order   []string          // profile ids in the order their groups started
	snap    *snapshot         // what the batch read of the store; nil when it must be read again
	partial bool              // snap lacks what the batch's own merge changed: read that before going on
	pending []int             // the inputs not placed yet, the one being placed first
}

// group is a profile and the events placed on it, not written yet.
type group struct {
	base    Record          // as read; written only if still at its version
	cur     profile.Profile // base with the group's events applied, for placing later events
	claimed []identity.ID   // cur's claimed identifiers
	events  []int           // inputs, in order
	attach  [][]identity.ID // per event, the identifiers it attaches
	adopt   []identity.ID   // identifiers the graph gives the profile that it does not list (see adopt)
	created bool            // the profile did not exist
}

func (e *Engine) recordAll(ctx context.Context, in []Input, out []Outcome, idx []int, attempt int) {
	b := &batch{e: e, in: in, out: out, groups: map[string]*group{}}
	for k, i := range idx {
		b.pending = idx[k:]
		err := b.place(ctx, i)
		if err == nil {
			continue
		}
		out[i].Err = fmt.Errorf("record event %s: %w", in[i].Activity.MessageID, err)
		if !Permanent(err) {
			for _, j := range idx[k+1:] {
				out[j].Err = ErrNotAttempted
			}
			break
		}
	}
	b.flush(ctx, attempt)
}

// place places input i, trying again after a conflict with another writer.
func (b *batch) place(ctx context.Context, i int) error {
	conflicts := 0
	for range maxAttempts {
		if b.snap == nil || b.partial {
			if err := b.prefetch(ctx, b.pending); err != nil {
				return err
			}
		}
		err := b.placeOnce(ctx, i)
		if errors.Is(err, errConflict) || errors.Is(err, errRetry) && !b.partial {
			b.snap = nil // the batch changed the graph, or another writer did: read it again
		}
		switch {
		case errors.Is(err, errRetry):
			continue
		case errors.Is(err, errConflict):
			if err := pause(ctx, conflicts); err != nil {
				return err
			}
			conflicts++
			continue
		}
		return err
	}
	return ErrContention
}

// ref is an identifier as read: its entry and the live profile it leads to, with what the batch
// placed on it so far.
type ref struct {
	entry   *Entry // nil for a new identifier
	base    Record // the live profile as stored
	live    profile.Profile
	claimed []identity.ID // live's claimed identifiers
}

func (r ref) owner() identity.Owner {
	if r.entry == nil {
		return identity.Owner{}
	}
	held := identity.Tally(append(r.live.Identifiers(), r.claimed...))
	return identity.Owner{ProfileID: r.live.ID, UserID: r.live.UserID, Held: held, Apart: r.base.SplitFrom}
}

// lookup reads an identifier of input i and the live profile it leads to. A merge it finds half
// done is finished first, and counted as input i's.
func (b *batch) lookup(ctx context.Context, i int, id identity.ID) (ref, error) {
	var r ref
	entry, found, erased, err := b.entry(ctx, id)
	if err != nil {
		return r, err
	}
	if !found {
		// New, unless its person was erased: their identifiers are kept sealed, as tombstones.
		if erased {
			err = fmt.Errorf("a %s identifier: %w", id.Kind, ErrErased)
		}
		return r, err
	}
	if !entry.ErasedAt.IsZero() {
		return r, fmt.Errorf("a %s identifier: %w", id.Kind, ErrErased)
	}
	r.entry = &entry
	if entry.MovedFrom != "" {
		// A merge moved this identifier: finish it (or clear the mark if it is done).
		if err := b.finishMerge(ctx, i, entry.MovedFrom, id); err != nil {
			return r, err
		}
		entry.MovedFrom = ""
	}
	live, err := b.live(ctx, entry.ProfileID)
	if err != nil {
		return r, err
	}
	switch {
	case !live.ErasedAt.IsZero():
		// Claimed for the person but not listed on their profile when it was erased.
		b.snap.forget(id)
		err := b.e.st.Tombstone(ctx, id, b.e.sealed(id), live.ErasedAt, entry.ProfileID)
		if err != nil && !errors.Is(err, ErrConflict) {
			return r, fmt.Errorf("a %s identifier: write tombstone: %w", id.Kind, err)
		}
		return r, fmt.Errorf("a %s identifier: profile %s: %w", id.Kind, live.Profile.ID, ErrErased)
	case live.MergingInto != "":
		if err := b.finishMerge(ctx, i, live.Profile.ID, id); err != nil {
			return r, err
		}
		return r, errRetry
	}
	r.base, r.live, r.claimed = live, live.Profile, live.Claimed
	if g := b.groups[live.Profile.ID]; g != nil {
		r.live, r.claimed = g.cur, g.claimed
	}
	return r, nil
}

// finishMerge finishes a merge from profile from that input i came across. A merge storage refuses
// to fold is undone (fold) and is no fault of input i's, which is placed again.
func (b *batch) finishMerge(ctx context.Context, i int, from string, via identity.ID) error {
	b.snap = nil // the merge moves identifiers and writes profiles
	folded, err := b.e.finishMerge(ctx, from, via)
	if folded {
		b.out[i].Merged = append(b.out[i].Merged, from)
	}
	if errors.Is(err, ErrRejected) {
		return errRetry
	}
	return err
}

// placeOnce makes one attempt at placing input i. It returns errRetry after changing the graph (a
// merge) and errConflict after losing a race (a claim).
func (b *batch) placeOnce(ctx context.Context, i int) error {
	a, c := b.in[i].Activity, b.in[i].Claims
	refs := map[identity.ID]ref{}
	read := func(id identity.ID) error {
		r, err := b.lookup(ctx, i, id)
		if err == nil {
			refs[id] = r
		}
		return err
	}
	alias := a.Type == beacon.Alias && a.PreviousID != ""
	anon, user := identity.AnonymousID(a.AnonymousID), identity.UserID(a.UserID)
	if alias {
		anon = identity.AnonymousID(a.PreviousID)
	}
	var erased error
	for _, id := range append([]identity.ID{anon, user}, c.IDs...) {
		if id.IsZero() {
			continue
		}
		if err := read(id); errors.Is(err, ErrErased) {
			// Read the others all the same: one this event claimed for the person before the
			// erasure refused it gets sealed on the way.
			erased = cmp.Or(erased, err)
		} else if err != nil {
			return err
		}
	}
	if erased != nil {
		return erased
	}
	var plan identity.Plan
	if alias {
		// previousId is an anonymous id, unless the graph knows it only as a user id.
		prev := anon
		if refs[anon].entry == nil {
			if err := read(identity.UserID(a.PreviousID)); err != nil {
				return err
			}
			if refs[identity.UserID(a.PreviousID)].entry != nil {
				prev = identity.UserID(a.PreviousID)
			}
		}
		plan = identity.ResolveAlias(prev, a.UserID, refs[prev].owner(), refs[user].owner())
	} else {
		plan = identity.Resolve(a.AnonymousID, a.UserID, refs[anon].owner(), refs[user].owner())
	}
	owners := make(map[identity.ID]identity.Owner, len(refs))
	for id, r := range refs {
		owners[id] = r.owner()
	}
	plan = identity.Refine(plan, c.IDs, owners, c.Trusted)
	if plan.MergeFrom != "" {
		return b.merge(ctx, i, plan, owners, anon)
	}

	g := b.groups[plan.Profile]
	if g == nil {
		g = &group{base: Record{Profile: profile.Profile{ID: plan.Profile}}}
		if plan.Profile == "" {
			g.base.Profile.ID = b.e.newID()
		}
		for _, r := range refs {
			if r.entry != nil && r.live.ID == g.base.Profile.ID {
				g.base = r.base
			}
		}
		g.cur, g.claimed, g.created = g.base.Profile, g.base.Claimed, g.base.Version == 0
	}
	id := g.base.Profile.ID
	attach := plan.Attach
	for ident, r := range refs {
		if r.entry == nil {
			continue
		}
		if err := b.moveToLive(ctx, ident, r); err != nil {
			return err
		}
		switch {
		case r.live.ID != id:
			b.adopt(ident, r)
		case !lists(r.live, r.claimed, ident) && !slices.Contains(attach, ident):
			attach = append(attach, ident)
		}
	}
	for _, ident := range plan.Attach {
		if refs[ident].entry != nil {
			continue
		}
		at := b.e.now().UTC()
		if err := b.e.st.Claim(ctx, ident, id, at); errors.Is(err, ErrConflict) {
			return errConflict
		} else if err != nil {
			return fmt.Errorf("claim a %s identifier: %w", ident.Kind, err)
		}
		b.snap.claimed(Entry{ID: ident, ProfileID: id, CreatedAt: at}, g.base)
	}
	if b.groups[id] == nil {
		b.groups[id] = g
		b.order = append(b.order, id)
	}
	g.events, g.attach = append(g.events, i), append(g.attach, attach)
	// Placing the batch's later events needs no more of the group's profile than who it is;
	// prepare applies the events in full.
	g.cur = profile.AttachShallow(g.cur, attach...)
	g.claimed = withClaimed(g.claimed, attach)
	return nil
}

// moveToLive moves an identifier that points at a merged profile to the live one: it was claimed
// for a profile whose write lost to a merge (the merge moved only what the profile listed).
func (b *batch) moveToLive(ctx context.Context, ident identity.ID, r ref) error {
	if r.entry.ProfileID == r.live.ID {
		return nil
	}
	b.snap.forget(ident)
	err := b.e.st.Move(ctx, Move{ID: ident, From: r.entry.ProfileID, To: r.live.ID, At: b.e.now().UTC()})
	if err != nil && !errors.Is(err, ErrConflict) { // moved already (or marked by a merge under way)
		return fmt.Errorf("move a %s identifier to %s: %w", ident.Kind, r.live.ID, err)
	}
	return nil
}

// adopt makes the live profile an identifier leads to list it, when the event carrying it goes
// elsewhere (the event's own profile attaches its identifiers with the event): the batch's write
// of that profile lists it from then on.
func (b *batch) adopt(ident identity.ID, r ref) {
	if lists(r.live, r.claimed, ident) {
		return // where it belongs (r.live has what the batch placed on it)
	}
	g := b.groups[r.live.ID]
	if g == nil {
		g = &group{base: r.base, cur: r.base.Profile, claimed: r.base.Claimed}
		b.groups[r.live.ID] = g
		b.order = append(b.order, r.live.ID)
	}
	g.adopt = append(g.adopt, ident)
	g.cur, g.claimed = profile.AttachShallow(g.cur, ident), withClaimed(g.claimed, []identity.ID{ident})
}

// merge carries out a plan that merges: what the batch gathered on the two profiles is written
// first, so that the merge folds it in. What it gathered on others stays to be written with the
// rest of the batch: the merge changes nothing of theirs.
func (b *batch) merge(ctx context.Context, i int, plan identity.Plan, owners map[identity.ID]identity.Owner, anon identity.ID) error {
	b.flush(ctx, 0, plan.MergeFrom, plan.Profile)
	via := anon
	for _, id := range plan.Attach {
		if owners[id].ProfileID == plan.MergeFrom {
			via = id
			break
		}
	}
	a := b.in[i]
	joined, err := b.e.merge(ctx, plan.MergeFrom, plan.Profile, Cause{MessageID: a.Activity.MessageID, Via: via, Trusted: a.Claims.Trusted})
	if err != nil || joined == "" {
		b.snap = nil // it may have finished or undone other merges on the way: read everything again
		return cmp.Or(err, errRetry)
	}
	b.out[i].Merged = append(b.out[i].Merged, plan.MergeFrom)
	// The merge changed the two profiles and moved the merged one's identifiers, nothing else:
	// the rest of what the batch read stands.
	b.snap.merged(plan.MergeFrom, joined)
	b.partial = b.snap != nil
	return errRetry
}

// flush writes every group, or those of the profiles only names, then places again the events of
// groups that lost a race.
func (b *batch) flush(ctx context.Context, attempt int, only ...string) {
	order := b.order
	if len(only) > 0 {
		order = slices.DeleteFunc(slices.Clone(b.order), func(id string) bool { return !slices.Contains(only, id) })
	}
	var again [][]int
	var written []pendingHistory
	fail := func(g *group, err error) {
		for _, i := range g.events {
			b.out[i].Err = fmt.Errorf("record event %s: %w", b.in[i].Activity.MessageID, err)
		}
	}
	writes := b.prepareAll(ctx, order)
	for _, w := range writes {
		g := w.g
		err := w.err
		if err == nil {
			err = b.commit(ctx, w)
		}
		if err == nil && w.next != nil {
			b.snap.wrote(*w.next, g.base.Version+1)
		} else if err != nil {
			b.snap.written(g.base.Profile.ID)
		}
		switch {
		case err == nil:
			if len(w.h.touch)+len(w.h.receipts) > 0 {
				written = append(written, w.h)
			}
		case errors.Is(err, errConflict):
			again = append(again, g.events)
		case errors.Is(err, ErrRejected) && len(g.events) > 1:
			// One of the events made the profile too big: record them one by one to find it.
			for _, i := range g.events {
				again = append(again, []int{i})
			}
		default:
			fail(g, err)
		}
	}
	for _, id := range order {
		delete(b.groups, id)
	}
	b.order = slices.DeleteFunc(b.order, func(id string) bool { return b.groups[id] == nil })
	b.writeHistories(ctx, written)
	for _, idx := range again {
		if attempt+1 >= maxAttempts {
			for _, i := range idx {
				b.out[i].Err = fmt.Errorf("record event %s: %w", b.in[i].Activity.MessageID, ErrContention)
			}
			continue
		}
		if err := pause(ctx, attempt); err != nil {
			for _, i := range idx {
				b.out[i].Err = fmt.Errorf("record event %s: %w", b.in[i].Activity.MessageID, err)
			}
			continue
		}
		b.e.recordAll(ctx, b.in, b.out, idx, attempt+1)
	}
}

// prepareAll prepares the write of every group, then announces the audience changes of them all
// at once (one call, not one per profile), before any is written: a group whose changes could
// not be announced is not written.
func (b *batch) prepareAll(ctx context.Context, order []string) []*groupWrite {
	writes := make([]*groupWrite, len(order))
	var set AudienceSet
	var setErr error
	if b.e.audiences != nil && len(order) > 0 {
		set, setErr = b.e.definitions(ctx)
	}
	var changes []AudienceChange
	for k, id := range order {
		w := &groupWrite{g: b.groups[id]}
		writes[k] = w
		if setErr != nil {
			w.err = setErr
			continue
		}
		w.err = b.prepare(ctx, w, set)
		if w.err == nil && w.next != nil {
			changes = append(changes, w.changes...)
		}
	}
	if err := b.e.announce(ctx, changes); err != nil {
		for _, w := range writes {
			if w.err == nil && len(w.changes) > 0 {
				w.err = err
			}
		}
	}
	return writes
}

// pendingHistory is what a group's write leaves to write of its history.
type pendingHistory struct {
	g        *group
	touch    []history.Touchpoint
	receipts []history.Receipt
}

// groupWrite is the write of a group's profile: prepared (prepare), then committed (commit).
type groupWrite struct {
	g       *group
	next    *Record // nil: nothing to write
	changes []AudienceChange
	isNew   map[int]bool
	first   int // the first input applied, -1 for none
	p       profile.Profile
	h       pendingHistory
	err     error
}

// prepare works out the write of a group's profile, with the events not recorded before and the
// audiences and computed traits evaluated on the result (set: none when the engine keeps none),
// and the touchpoints to write after it (writeHistories).
func (b *batch) prepare(ctx context.Context, w *groupWrite, set AudienceSet) error {
	g := w.g
	base := g.base
	id := base.Profile.ID
	water, known := b.e.highWater(ctx, base)
	done, err := b.recorded(ctx, g, water, known)
	if err != nil {
		return err
	}
	now := b.e.now()
	p, claimed := base.Profile, base.Claimed
	var applied []string
	var activities []recorded
	var touch []history.Touchpoint
	var receipts []history.Receipt
	kept := map[string]bool{} // the touchpoints' keys: one event per key in the history
	keep := func(i int) {
		a := b.in[i].Activity
		t := b.e.retention.Touchpoint(id, a, b.in[i].Claims.Properties, now)
		touch, kept[t.Sort] = append(touch, t), true
		if history.NeedsReceipt(a) {
			r := b.e.retention.Receipt(a, now)
			r.MessageID = b.in[i].dedup()
			receipts = append(receipts, r)
		}
	}
	w.isNew, w.first = map[int]bool{}, -1
	for k, i := range g.events {
		a, key := b.in[i].Activity, b.in[i].dedup()
		b.out[i].Added, b.out[i].TraitsChanged, b.out[i].TraitNotes = nil, nil, nil
		switch {
		case done[key] || kept[history.SortKey(a)]:
			continue
		case base.Recent.has(key):
			// Written to the profile, but its touchpoint was not: write it now.
			keep(i)
			done[key] = true
			continue
		}
		before, claimedBefore := p, claimed
		p, b.out[i].TraitNotes = profile.ApplyNoted(p, a, g.attach[k])
		claimed = withClaimed(claimed, g.attach[k])
		b.out[i].Added, b.out[i].TraitsChanged = added(before, claimedBefore, p, claimed), changedTraits(before.Traits, p.Traits)
		applied = append(applied, key)
		activities = append(activities, recorded{activity: a, properties: b.in[i].Claims.Properties})
		w.isNew[i] = true
		keep(i)
		done[key] = true
		if w.first < 0 {
			w.first = i
		}
	}
	adopted := false
	for _, ident := range g.adopt {
		if !lists(p, claimed, ident) {
			p, claimed, adopted = profile.Attach(p, ident), withClaimed(claimed, []identity.ID{ident}), true
		}
	}
	if len(applied) > 0 || adopted {
		p.UpdatedAt = now.UTC()
		next := base
		if b.e.audiences != nil {
			ev, err := b.e.evaluate(ctx, set, base, p, activities, now)
			if err != nil {
				return err
			}
			p = ev.p
			w.changes = ev.recorded(base.Version+1, claimed)
		}
		next.Profile, next.Claimed = p, claimed
		if len(applied) > 0 {
			next.Recent = base.Recent.add(applied)
		}
		next.HighWater = ""
		if known {
			newest := ""
			for _, t := range touch {
				newest = max(newest, t.Sort)
			}
			next.HighWater = max(water, noHistory, waterMark(newest)) // the mark of the newest key, made once
		}
		next.DueAt = b.e.dueAt(p, base.Fired, p.UpdatedAt, p.AudiencesDue)
		w.next = &next
	}
	w.p = p
	w.h = pendingHistory{g: g, touch: touch, receipts: receipts}
	return nil
}

// commit writes a prepared group's profile, if it is still at the version read, and reports
// every event's outcome. It returns errConflict when the profile changed since it was read.
func (b *batch) commit(ctx context.Context, w *groupWrite) error {
	g, base := w.g, w.g.base
	version := base.Version
	if w.next != nil {
		err := b.e.st.Commit(ctx, Change{Puts: []Put{{Base: base, Next: *w.next}}})
		if errors.Is(err, ErrConflict) {
			return errConflict
		}
		if err != nil {
			return fmt.Errorf("write profile %s: %w", base.Profile.ID, err)
		}
		version++
	}
	for _, i := range g.events {
		r := &b.out[i].Result
		r.ProfileID, r.Version, r.Profile = base.Profile.ID, version, w.p
		r.Duplicate = !w.isNew[i]
		r.Created = g.created && i == w.first
	}
	return nil
}

// writeHistories writes the touchpoints of the groups written, all at once. If a person was
// erased meanwhile (after the profile was written, before or while Erase deleted its history), it
// deletes theirs again and their events fail with ErrErased: Erase marks the profile before it
// reads the history, so whichever of the two comes second removes them.
func (b *batch) writeHistories(ctx context.Context, written []pendingHistory) {
	if len(written) == 0 {
		return
	}
	fail := func(h pendingHistory, err error) {
		for _, i := range h.g.events {
			b.out[i].Err = fmt.Errorf("record event %s: %w", b.in[i].Activity.MessageID, err)
		}
	}
	var touch []history.Touchpoint
	var receipts []history.Receipt
	ids := make([]string, len(written))
	for k, h := range written {
		touch, receipts = append(touch, h.touch...), append(receipts, h.receipts...)
		ids[k] = h.g.base.Profile.ID
	}
	err := b.e.st.Append(ctx, touch, receipts)
	var erased map[string]bool
	if err == nil {
		erased, err = b.e.st.Erased(ctx, ids)
	}
	for k, h := range written {
		id := ids[k]
		switch {
		case err != nil:
			fail(h, fmt.Errorf("write history of %s: %w", id, err))
		case erased[id]:
			keys := make([]history.Key, len(h.touch))
			for i, t := range h.touch {
				keys[i] = t.Key()
			}
			if _, err := b.e.st.Delete(ctx, keys); err != nil {
				fail(h, fmt.Errorf("delete history of erased %s: %w", id, err))
			} else {
				fail(h, fmt.Errorf("profile %s: %w", id, ErrErased))
			}
		}
	}
}

// noHistory is the high-water mark of a profile that recorded no event: below every touchpoint
// key (a time, written from the year 0001 on), and not empty, which would mean "not known".
const noHistory = "0"

// waterMark is the high-water mark a touchpoint key (history.SortKey: a fixed-width time, "#",
// the message id) raises the profile's to: its time followed by "$", which sorts after "#".
// Every key of that time or before is below it and looked up; every later one is above.
func waterMark(sort string) string {
	at, _, ok := strings.Cut(sort, "#")
	if !ok {
		return sort
	}
	return at + "$"
}

// knownWater is the record's high-water mark, if the record knows it.
func (r Record) knownWater() (string, bool) {
	return r.HighWater, r.Version == 0 || r.HighWater != ""
}

// mergedWater is the high-water mark of the histories merged into the record's profile and
// whether it is known: below every key when none was merged in.
func (r Record) mergedWater() (string, bool) {
	if len(r.Profile.MergedFrom) == 0 {
		return noHistory, true
	}
	return r.MergedWater, r.MergedWater != ""
}

// highWater is the high-water mark of a record's history (Record.HighWater) and whether it is
// known: a record never written has no history; one written before the mark was kept has it
// found once, from the newest touchpoint of the profile and of those merged into it.
func (e *Engine) highWater(ctx context.Context, r Record) (string, bool) {
	if water, ok := r.knownWater(); ok {
		return water, true
	}
	water := ""
	for _, id := range append([]string{r.Profile.ID}, r.Profile.MergedFrom...) {
		ts, err := e.st.Touchpoints(ctx, id, nil, "", 1)
		if err != nil {
			return "", false // no history to read: every event is looked up, as before
		}
		if len(ts) > 0 {
			water = max(water, waterMark(ts[0].Sort))
		}
	}
	return water, true
}

// recorded returns the deduplication keys (Input.dedup) of a group's events that were recorded
// before: whose touchpoints are in the history of its profile or of a profile merged into it, or,
// for events sent without a time of their own, whose receipt is there. The store names a found
// touchpoint by its message id; when events of the group with different touchpoint keys share a
// message id (different senders), each of them is looked up on its own.
//
// An event whose touchpoint key is above the profile's high-water mark, when it is known, was not
// recorded before: its history is not read; one above the mark of the histories merged into it
// (Record.MergedWater) is looked up in the profile's own history alone.
func (b *batch) recorded(ctx context.Context, g *group, water string, known bool) (map[string]bool, error) {
	var keys []history.Key
	var receipts []string
	own := map[int][]history.Key{}
	sorts := map[string]map[string]bool{} // by message id, the touchpoint keys of the group's events
	merged, mergedKnown := g.base.mergedWater()
	for _, i := range g.events {
		a := b.in[i].Activity
		if history.NeedsReceipt(a) {
			receipts = append(receipts, b.in[i].dedup())
			continue
		}
		sort := history.SortKey(a)
		if known && sort > water {
			continue
		}
		own[i] = append(own[i], history.Key{ProfileID: g.base.Profile.ID, Sort: sort})
		if !mergedKnown || sort <= merged {
			for _, pid := range g.base.Profile.MergedFrom {
				own[i] = append(own[i], history.Key{ProfileID: pid, Sort: sort})
			}
		}
		keys = append(keys, own[i]...)
		if sorts[a.MessageID] == nil {
			sorts[a.MessageID] = map[string]bool{}
		}
		sorts[a.MessageID][sort] = true
	}
	found, err := b.e.st.Recorded(ctx, keys, receipts)
	if err != nil {
		return nil, fmt.Errorf("read history of %s: %w", g.base.Profile.ID, err)
	}
	done := map[string]bool{}
	for _, i := range g.events {
		a, key := b.in[i].Activity, b.in[i].dedup()
		switch {
		case history.NeedsReceipt(a):
			done[key] = done[key] || found[key]
		case own[i] == nil: // above the high-water mark: not looked up
		case !found[a.MessageID]:
		case len(sorts[a.MessageID]) == 1:
			done[key] = true
		default: // a shared message id: is this event's own touchpoint there?
			mine, err := b.e.st.Recorded(ctx, own[i], nil)
			if err != nil {
				return nil, fmt.Errorf("read history of %s: %w", g.base.Profile.ID, err)
			}
			done[key] = done[key] || mine[a.MessageID]
		}
	}
	return done, nil
}

// withClaimed returns the sorted union of claimed and the claimed ones of ids: every kind but an
// event's own (anonymousId and userId), which the profile holds in fields of their own.
func withClaimed(claimed []identity.ID, ids []identity.ID) []identity.ID {
	out := slices.Clone(claimed)
	for _, id := range ids {
		if !slices.Contains(identity.Kinds(), id.Kind) && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	slices.SortFunc(out, func(a, b identity.ID) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// added lists the identifiers after holds (with its claimed ones) that before did not, as text.
func added(before profile.Profile, claimedBefore []identity.ID, after profile.Profile, claimedAfter []identity.ID) []string {
	had := map[identity.ID]bool{}
	for _, id := range append(before.Identifiers(), claimedBefore...) {
		had[id] = true
	}
	var out []string
	for _, id := range append(after.Identifiers(), claimedAfter...) {
		if !had[id] {
			out = append(out, id.String())
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// changedTraits lists the traits whose value differs between before and after, sorted.
func changedTraits(before, after map[string]any) []string {
	var out []string
	for k, v := range after {
		if old, ok := before[k]; !ok || !reflect.DeepEqual(old, v) {
			out = append(out, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
