package profilestore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"

	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/beacon"
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
	// it changed (both empty for a duplicate).
	Version       int
	Profile       profile.Profile
	Added         []string
	TraitsChanged []string
}

// Claims are what an event says of who it is beside its anonymousId and userId: the identifiers
// it claims (identity.Claims: hashed email and phone, device, advertising and external ids, the
// linked anonymous id) and whether its source is trusted (a server-side key). The identity rules
// decide what they may join (identity.Refine). Properties are the event's properties as sent,
// kept (bounded, see MaxTouchpointProperties) in its touchpoint.
type Claims struct {
	IDs        []identity.ID
	Trusted    bool
	Properties json.RawMessage
}

// Input is one event to record: its activity and its claims.
type Input struct {
	Activity profile.Activity
	Claims   Claims
}

// Outcome is what recording one input did, or why it was not recorded (Err).
type Outcome struct {
	Result
	Err error
}

// ErrNotAttempted is the error of the inputs of a batch after one that failed with an error that
// recording again may cure: they were left alone, so that the batch can be retried from there.
var ErrNotAttempted = errors.New("not recorded: an earlier event of the batch failed")

// Permanent tells whether recording an event failed for good (recording it again fails the same
// way): it carries an erased identifier, or the database rejects it.
func Permanent(err error) bool { return errors.Is(err, ErrErased) || errors.Is(err, ErrRejected) }

// errRetry makes an attempt start over with fresh reads at once (it changed the graph);
// errConflict after a pause (another writer changed what it read).
var (
	errRetry    = errors.New("state changed; read again")
	errConflict = errors.New("lost a race with another writer; read again")
)

// Record records an activity on the profile its identifiers resolve to, creating and merging
// profiles as the identity rules decide. Recording the same message id again changes nothing.
func (s *Store) Record(ctx context.Context, a profile.Activity) (Result, error) {
	return s.RecordClaims(ctx, a, Claims{})
}

// RecordClaims is Record for an event that also carries the given claims: its claimed identifiers
// are resolved, attached and (from a trusted source) joined like its other identifiers, under the
// rules and limits of package identity.
func (s *Store) RecordClaims(ctx context.Context, a profile.Activity, c Claims) (Result, error) {
	o := s.RecordAll(ctx, []Input{{Activity: a, Claims: c}})[0]
	return o.Result, o.Err
}

// RecordAll records a batch of events in order, with one write per profile the batch touches
// (the write units of a profile are paid once per batch, not once per event), and returns one
// outcome per input. An input that fails for good (Permanent) does not stop the others; after an
// input that fails otherwise, the rest are not attempted (ErrNotAttempted).
//
// Each event is first placed: its identifiers are resolved, claimed and merged as the identity
// rules decide (writes to the identity graph happen at once, and any merge first writes what the
// batch has gathered so far). The batch then writes each profile once, if it is still at the
// version read: the events not recorded before are applied, the profile is written with their
// message ids in its recent list, and their touchpoints are written. An event counts as
// recorded before when its message id is in the profile's recent list or its touchpoint is in
// the history of the profile or of one merged into it; the recent list covers a crash between the
// profile write and the touchpoints. A profile that changed meanwhile has its events placed again.
func (s *Store) RecordAll(ctx context.Context, in []Input) []Outcome {
	out := make([]Outcome, len(in))
	idx := make([]int, len(in))
	for i := range idx {
		idx[i] = i
	}
	s.recordAll(ctx, in, out, idx, 0)
	return out
}

// batch records some inputs: what is placed and not written yet, by profile.
type batch struct {
	s      *Store
	in     []Input
	out    []Outcome
	groups map[string]*group // by profile id
	order  []string          // profile ids in the order their groups started
}

// group is a profile and the events placed on it, not written yet.
type group struct {
	base    profileItem     // as read; written only if still at its version
	cur     profile.Profile // base with the group's events applied, for placing later events
	hashed  []string        // cur's hashed identifiers
	events  []int           // inputs, in order
	attach  [][]identity.ID // per event, the identifiers it attaches
	created bool            // the profile did not exist
}

func (s *Store) recordAll(ctx context.Context, in []Input, out []Outcome, idx []int, attempt int) {
	b := &batch{s: s, in: in, out: out, groups: map[string]*group{}}
	for k, i := range idx {
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
		err := b.placeOnce(ctx, i)
		switch {
		case errors.Is(err, errRetry):
			continue
		case errors.Is(err, errConflict):
			if err := pause(ctx, conflicts); err != nil {
				return err
			}
			conflicts++
			continue
		case rejected(err):
			return fmt.Errorf("%w: %w", ErrRejected, err)
		}
		return err
	}
	return ErrContention
}

// ref is an identifier as read: its graph entry and the live profile it leads to, with what the
// batch placed on it so far.
type ref struct {
	item   *identityItem // nil for a new identifier
	base   profileItem   // the live profile as stored
	live   profile.Profile
	hashed []string // live's hashed identifiers
}

func (r ref) owner() identity.Owner {
	if r.item == nil {
		return identity.Owner{}
	}
	held := map[identity.Kind]int{identity.Anonymous: len(r.live.AnonymousIDs)}
	if r.live.UserID != "" {
		held[identity.User] = 1
	}
	for k, n := range identity.Tally(parseIDs(r.hashed)) {
		held[k] += n
	}
	return identity.Owner{ProfileID: r.live.ID, UserID: r.live.UserID, Held: held, Apart: r.base.SplitFrom}
}

// lookup reads an identifier of input i and the live profile it leads to. A merge it finds half
// done is finished first, and counted as input i's.
func (b *batch) lookup(ctx context.Context, i int, id identity.ID) (ref, error) {
	var r ref
	var it identityItem
	err := b.s.identities.Get("identifier", id.String()).Consistent(true).One(ctx, &it)
	if errors.Is(err, dynamo.ErrNotFound) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("get identity %s: %w", id, err)
	}
	if !it.ErasedAt.IsZero() {
		return r, fmt.Errorf("identity %s: %w", id, ErrErased)
	}
	r.item = &it
	if it.MergedFrom != "" {
		// A merge moved this identifier: finish it (or clear the mark if it is done).
		if err := b.finishMerge(ctx, i, it.MergedFrom, id); err != nil {
			return r, err
		}
		it.MergedFrom = ""
	}
	live, err := b.s.liveItem(ctx, it.ProfileID, true)
	if err != nil {
		return r, err
	}
	switch {
	case !live.ErasedAt.IsZero():
		// Claimed for the person but not listed on their profile when it was erased.
		tomb := identityItem{Identifier: id.String(), ErasedAt: live.ErasedAt, CreatedAt: it.CreatedAt}
		if err := b.s.identities.Put(tomb).If("'profileId' = ?", it.ProfileID).Run(ctx); err != nil && !dynamo.IsCondCheckFailed(err) {
			return r, fmt.Errorf("identity %s: write tombstone: %w", id, err)
		}
		return r, fmt.Errorf("identity %s: profile %s: %w", id, live.ProfileID, ErrErased)
	case live.MergingInto != "":
		if err := b.finishMerge(ctx, i, live.ProfileID, id); err != nil {
			return r, err
		}
		return r, errRetry
	}
	r.base, r.live, r.hashed = live, live.profile(), live.Hashed
	if g := b.groups[live.ProfileID]; g != nil {
		r.live, r.hashed = g.cur, g.hashed
	}
	return r, nil
}

// finishMerge finishes a merge from profile from that input i came across.
func (b *batch) finishMerge(ctx context.Context, i int, from string, via identity.ID) error {
	folded, err := b.s.finishMerge(ctx, from, via)
	if folded {
		b.out[i].Merged = append(b.out[i].Merged, from)
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
	for _, id := range append([]identity.ID{anon, user}, c.IDs...) {
		if id.IsZero() {
			continue
		}
		if err := read(id); err != nil {
			return err
		}
	}
	var plan identity.Plan
	if alias {
		// previousId is an anonymous id, unless the graph knows it only as a user id.
		prev := anon
		if refs[anon].item == nil {
			if err := read(identity.UserID(a.PreviousID)); err != nil {
				return err
			}
			if refs[identity.UserID(a.PreviousID)].item != nil {
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
		g = &group{base: profileItem{ProfileID: plan.Profile}}
		if plan.Profile == "" {
			g.base.ProfileID = b.s.newID()
		}
		for _, r := range refs {
			if r.item != nil && r.live.ID == g.base.ProfileID {
				g.base = r.base
			}
		}
		g.cur, g.hashed, g.created = g.base.profile(), g.base.Hashed, g.base.Version == 0
	}
	attach := plan.Attach
	for id, r := range refs {
		// An identifier claimed for a profile whose write lost to a merge points at the merged
		// profile: move it to the live one, which must list it.
		if r.item == nil || r.live.ID != g.base.ProfileID {
			continue
		}
		if r.item.ProfileID != r.live.ID {
			if err := b.s.moveTo(ctx, id, r.item.ProfileID, r.live.ID); err != nil {
				return err
			}
		}
		if !lists(r.live, r.hashed, id) && !slices.Contains(attach, id) {
			attach = append(attach, id)
		}
	}
	for _, id := range plan.Attach {
		if refs[id].item != nil {
			continue
		}
		if won, err := b.s.claim(ctx, id, g.base.ProfileID); err != nil || !won {
			return cmpErr(err, errConflict)
		}
	}
	if b.groups[g.base.ProfileID] == nil {
		b.groups[g.base.ProfileID] = g
		b.order = append(b.order, g.base.ProfileID)
	}
	g.events, g.attach = append(g.events, i), append(g.attach, attach)
	g.cur = profile.Apply(g.cur, a, attach)
	g.hashed = withHashed(g.hashed, attach)
	return nil
}

// merge carries out a plan that merges: what the batch gathered is written first, so that the
// merge folds it in.
func (b *batch) merge(ctx context.Context, i int, plan identity.Plan, owners map[identity.ID]identity.Owner, anon identity.ID) error {
	b.flush(ctx, 0)
	via := anon
	for _, id := range plan.Attach {
		if owners[id].ProfileID == plan.MergeFrom {
			via = id
			break
		}
	}
	folded, err := b.s.merge(ctx, plan.MergeFrom, plan.Profile, via, cause{MessageID: b.in[i].Activity.MessageID, Trusted: b.in[i].Claims.Trusted})
	if err != nil {
		return err
	}
	if folded {
		b.out[i].Merged = append(b.out[i].Merged, plan.MergeFrom)
	}
	return errRetry
}

// flush writes every group, then places again the events of groups that lost a race.
func (b *batch) flush(ctx context.Context, attempt int) {
	var again [][]int
	for _, id := range b.order {
		g := b.groups[id]
		err := b.write(ctx, g)
		switch {
		case err == nil:
		case errors.Is(err, errConflict):
			again = append(again, g.events)
		case rejected(err) && len(g.events) > 1:
			// One of the events made the profile too big: record them one by one to find it.
			for _, i := range g.events {
				again = append(again, []int{i})
			}
		default:
			if rejected(err) {
				err = fmt.Errorf("%w: %w", ErrRejected, err)
			}
			for _, i := range g.events {
				b.out[i].Err = fmt.Errorf("record event %s: %w", b.in[i].Activity.MessageID, err)
			}
		}
	}
	b.groups, b.order = map[string]*group{}, nil
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
		b.s.recordAll(ctx, b.in, b.out, idx, attempt+1)
	}
}

// write writes a group's profile once, with the events not recorded before, and their
// touchpoints. It returns errConflict when the profile changed since it was read.
func (b *batch) write(ctx context.Context, g *group) error {
	base := g.base
	done, err := b.recorded(ctx, g)
	if err != nil {
		return err
	}
	recent := recentIDs(base.Recent)
	p, hashed := base.profile(), base.Hashed
	var applied []string
	var touch []touchpointItem
	var ledger []ledgerItem
	history := func(i int) {
		a := b.in[i].Activity
		touch = append(touch, b.s.touchpoint(base.ProfileID, a, b.in[i].Claims.Properties))
		if l, ok := b.s.ledger(a); ok {
			ledger = append(ledger, l)
		}
	}
	isNew := map[int]bool{}
	first := -1
	for k, i := range g.events {
		a := b.in[i].Activity
		b.out[i].Added, b.out[i].TraitsChanged = nil, nil
		switch {
		case done[a.MessageID]:
			continue
		case recent.has(a.MessageID):
			// Written to the profile, but its touchpoint was not: write it now.
			history(i)
			done[a.MessageID] = true
			continue
		}
		before, hashedBefore := p, hashed
		p = profile.Apply(p, a, g.attach[k])
		hashed = withHashed(hashed, g.attach[k])
		b.out[i].Added, b.out[i].TraitsChanged = added(before, hashedBefore, p, hashed), changedTraits(before.Traits, p.Traits)
		applied = append(applied, a.MessageID)
		isNew[i] = true
		history(i)
		done[a.MessageID] = true
		if first < 0 {
			first = i
		}
	}
	version := base.Version
	if len(applied) > 0 {
		p.UpdatedAt = b.s.now().UTC()
		w := b.s.writeProfile(p, version).Set("recentIds", []byte(recent.add(applied)))
		setOrRemove(w, "hashedIds", hashed, len(hashed))
		setDue(w, base, b.s.dueAt(p, base.triggerState(), p.UpdatedAt))
		err := w.Run(ctx)
		if dynamo.IsCondCheckFailed(err) {
			return errConflict
		}
		if err != nil {
			return fmt.Errorf("write profile %s: %w", base.ProfileID, err)
		}
		version++
	}
	if len(touch) > 0 && b.s.touchpointTable != "" {
		if err := b.writeHistory(ctx, base.ProfileID, touch, ledger); err != nil {
			return err
		}
	}
	for _, i := range g.events {
		r := &b.out[i].Result
		r.ProfileID, r.Version, r.Profile = base.ProfileID, version, p
		r.Duplicate = !isNew[i]
		r.Created = g.created && i == first
	}
	return nil
}

// writeHistory writes touchpoints of profile id. If the person was erased meanwhile (after the
// profile was written, before or while Erase deleted its history), it deletes them again and
// returns ErrErased: Erase marks the profile before it reads the history, so whichever of the two
// comes second removes them.
func (b *batch) writeHistory(ctx context.Context, id string, touch []touchpointItem, ledger []ledgerItem) error {
	items := make([]any, 0, len(touch)+len(ledger))
	for _, t := range touch {
		items = append(items, t)
	}
	for _, l := range ledger {
		items = append(items, l)
	}
	if _, err := b.s.touch.Batch("profileId", "at").Write().Put(items...).Run(ctx); err != nil {
		return fmt.Errorf("write history of %s: %w", id, err)
	}
	it, _, err := b.s.get(ctx, id, true)
	if err != nil {
		return err
	}
	if it.ErasedAt.IsZero() {
		return nil
	}
	keys := make([]dynamo.Keyed, len(touch))
	for i, t := range touch {
		keys[i] = dynamo.Keys{id, t.Key}
	}
	if _, err := b.s.touch.Batch("profileId", "at").Write().Delete(keys...).Run(ctx); err != nil {
		return fmt.Errorf("delete history of erased %s: %w", id, err)
	}
	return fmt.Errorf("profile %s: %w", id, ErrErased)
}

// recorded returns the message ids among a group's events that were recorded before: whose
// touchpoints are in the history of its profile or of a profile merged into it, or, for events
// whose time the endpoint assigned, whose dedup record is there (see ledgerItem).
func (b *batch) recorded(ctx context.Context, g *group) (map[string]bool, error) {
	done := map[string]bool{}
	if b.s.touchpointTable == "" {
		return done, nil
	}
	var keys []dynamo.Keyed
	for _, i := range g.events {
		a := b.in[i].Activity
		if _, ok := b.s.ledger(a); ok {
			keys = append(keys, ledgerKey(a.MessageID))
			continue
		}
		for _, pid := range append([]string{g.base.ProfileID}, g.base.MergedFrom...) {
			keys = append(keys, dynamo.Keys{pid, historyKey(a)})
		}
	}
	var found []touchpointItem
	err := b.s.touch.Batch("profileId", "at").Get(keys...).Project("profileId", "at", "messageId").Consistent(true).All(ctx, &found)
	if err != nil && !errors.Is(err, dynamo.ErrNotFound) {
		return nil, fmt.Errorf("read history of %s: %w", g.base.ProfileID, err)
	}
	for _, t := range found {
		done[t.MessageID] = true
	}
	return done, nil
}

// recentIDs are the message ids of the latest events written to a profile, as 64-bit FNV-1a
// hashes (8 bytes each, oldest first). They tell that an event was recorded even if its
// touchpoint was not written (a crash between the two writes), for as long as the event is among
// the latest recentKept (or among those of the latest write).
type recentIDs []byte

const recentKept = 64

func hashID(id string) [8]byte {
	h := fnv.New64a()
	h.Write([]byte(id))
	var out [8]byte
	binary.BigEndian.PutUint64(out[:], h.Sum64())
	return out
}

func (r recentIDs) has(id string) bool {
	h := hashID(id)
	for i := 0; i+8 <= len(r); i += 8 {
		if [8]byte(r[i:i+8]) == h {
			return true
		}
	}
	return false
}

// join returns the list with the merged profile's list before it (older), keeping at most
// 2 × recentKept: a profile that joins another brings the events it wrote last, whose touchpoints
// a crash may have kept from being written.
func (r recentIDs) join(merged recentIDs) recentIDs {
	out := append(slices.Clone(merged[:len(merged)/8*8]), r[:len(r)/8*8]...)
	if keep := 2 * recentKept * 8; len(out) > keep {
		out = out[len(out)-keep:]
	}
	return out
}

// add returns the list with ids appended, keeping the latest recentKept, or all of ids if more.
func (r recentIDs) add(ids []string) recentIDs {
	out := slices.Clone(r[:len(r)/8*8])
	for _, id := range ids {
		h := hashID(id)
		out = append(out, h[:]...)
	}
	if keep := max(recentKept, len(ids)) * 8; len(out) > keep {
		out = out[len(out)-keep:]
	}
	return out
}
