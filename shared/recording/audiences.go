package recording

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/dcrm-project/dcrm/shared/audience"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/computed"
	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// Audience membership. The audiences a person is in are kept on the profile (Profile.Audiences),
// evaluated (package audience) whenever their inputs change:
//
//   - recording evaluates them in the write that records a batch's events on the profile;
//   - Reevaluate does it for one profile on demand: after a scoring run changed what rules read,
//     for a definition added or changed (the hourly scoring run back-fills), and when a window
//     expires — Profile.AudiencesDue is the time membership next changes by the clock alone
//     (audience.Set's Next), which joins the due index: the due time is the earlier of the
//     triggers' and the audiences'.
//
// Every change is announced (Announcer) before the write that records it, so that a crash between
// the two announces it again rather than never; the write is conditional on the version read, as
// every write of a profile is, so an evaluation made on a stale profile is made again.

// AudienceSet is the audience definitions in force, and the computed traits they may read.
type AudienceSet struct {
	Set    *audience.Set // nil: no audience is defined
	Traits *computed.Set // nil: no computed trait is defined
	// Version moves on with every change of the definitions (audiencestore's set version).
	Version int
}

// AudienceSource gives the audience definitions in force (a cache over audiencestore).
type AudienceSource interface {
	Audiences(ctx context.Context) (AudienceSet, error)
}

// AudienceChange is a person entering or leaving an audience.
type AudienceChange struct {
	Audience string
	Entered  bool      // false: left it
	At       time.Time // when it was evaluated
	Since    time.Time // when the person entered (for an exit, the entry it ends)
	// Profile is the profile as recorded with the change, at ProfileVersion: the write that
	// records the change makes that version, so a change announced again after a crash carries
	// the same one.
	Profile        profile.Profile
	ProfileVersion int
	// Claimed are the profile's claimed identifiers (hashed email and phone, device, advertising
	// and external ids), which destinations match people by.
	Claimed []identity.ID
}

// Announcer tells downstream tools of audience changes before they are recorded. When it fails
// nothing is recorded, and the events are recorded again later (as any transient failure).
type Announcer interface {
	Announce(ctx context.Context, changes []AudienceChange) error
}

// WithAudiences makes the engine keep audience membership on profiles, with the definitions src
// gives, announcing every change to ann.
func WithAudiences(src AudienceSource, ann Announcer) Option {
	return func(e *Engine) { e.audiences, e.announcer = src, ann }
}

// ErrAudiences wraps a failure to read the audience definitions or to announce a change: a
// transient one, after which nothing was recorded.
var ErrAudiences = errors.New("audiences")

// definitions returns the definitions in force (no set when the engine keeps none).
func (e *Engine) definitions(ctx context.Context) (AudienceSet, error) {
	if e.audiences == nil {
		return AudienceSet{}, nil
	}
	s, err := e.audiences.Audiences(ctx)
	if err != nil {
		return AudienceSet{}, fmt.Errorf("%w: read definitions: %w", ErrAudiences, err)
	}
	return s, nil
}

// evaluation is what evaluating a profile's audiences changes.
type evaluation struct {
	p       profile.Profile // with its memberships, counted events, computed traits and AudiencesDue
	changes []AudienceChange
}

// recorded is an event of a batch applied to a profile: what audiences count and computed traits
// fold.
type recorded struct {
	activity   profile.Activity
	properties json.RawMessage
}

// evaluate evaluates the definitions of defs on r's profile p (r as stored, p as about to be
// written: with a batch's events applied) at now. batch are the events of the batch applied to
// p: they are counted and folded into the computed traits. What the profile never counted or
// computed (a name a rule counts, a trait new or changed) is read from its history.
func (e *Engine) evaluate(ctx context.Context, defs AudienceSet, r Record, p profile.Profile, batch []recorded, now time.Time) (evaluation, error) {
	h := &histories{e: e, r: r}
	var read []string // the computed traits rules read
	if defs.Set != nil {
		read = defs.Set.Inputs().Computed
	}
	computed, err := e.computeTraits(ctx, defs.Traits, h, &p, batch, now, read)
	if err != nil {
		return evaluation{}, err
	}
	set := defs.Set
	if set == nil { // no audience is defined: the person leaves any they were in
		p.EventTimes = nil
		return membership(p, nil, time.Time{}, now), nil
	}
	in := set.Inputs()
	times := p.EventTimes
	for _, b := range batch {
		if name := countedName(b.activity); name != "" {
			if _, ok := in.Events[name]; ok {
				if _, seen := times[name]; seen {
					times = profile.AddEventTimes(times, name, b.activity.At)
				}
			}
		}
	}
	for name, window := range in.Events {
		if _, ok := times[name]; ok {
			continue
		}
		seed, err := h.times(ctx, name, now.Add(-window))
		if err != nil {
			return evaluation{}, err
		}
		for _, b := range batch { // the batch's own, not in the history yet
			if countedName(b.activity) == name {
				seed = append(seed, b.activity.At)
			}
		}
		times = profile.AddEventTimes(times, name, seed...)
	}
	p.EventTimes = profile.PruneEventTimes(times, in.Events, now)
	m, err := evaluateSet(defs, p, computed, now)
	if err != nil {
		// A rule that cannot be evaluated (an input missing) leaves membership as it was; the
		// definitions were checked when saved, so this is a fault of the code, not of the data.
		return evaluation{p: p}, nil
	}
	return membership(p, m.Audiences, m.Next, now), nil
}

// evaluateSet evaluates the audiences of defs on p, with its counted events and computed traits'
// states, at now. Next is when membership may change by the clock alone: a window of a rule, or,
// when rules read computed traits, a window of one of those.
func evaluateSet(defs AudienceSet, p profile.Profile, states map[string]computed.State, now time.Time) (audience.Membership, error) {
	in := defs.Set.Inputs()
	var values map[string]any
	if defs.Traits != nil && len(in.Computed) > 0 {
		values = defs.Traits.Values(states, now)
	}
	sub := audience.FromProfile(p, values, nil)
	for name := range in.Events {
		sub.SetEvents(name, p.EventTimes[name])
	}
	m, err := defs.Set.Evaluate(sub, now)
	if err != nil {
		return m, err
	}
	if len(values) > 0 || len(in.Computed) > 0 && defs.Traits != nil {
		m.Next = earliest(m.Next, defs.Traits.NextChange(states, now))
	}
	return m, nil
}

// membership sets the memberships of p to ids, and lists the changes.
func membership(p profile.Profile, ids []string, next, now time.Time) evaluation {
	ev := evaluation{}
	p.AudiencesDue = next.UTC()
	if next.IsZero() {
		p.AudiencesDue = time.Time{}
	}
	var out []profile.Membership
	for _, id := range ids {
		if i := slices.IndexFunc(p.Audiences, func(m profile.Membership) bool { return m.Audience == id }); i >= 0 {
			out = append(out, p.Audiences[i])
			continue
		}
		out = append(out, profile.Membership{Audience: id, Since: now.UTC()})
		ev.changes = append(ev.changes, AudienceChange{Audience: id, Entered: true, At: now.UTC(), Since: now.UTC()})
	}
	for _, m := range p.Audiences {
		if !slices.Contains(ids, m.Audience) {
			ev.changes = append(ev.changes, AudienceChange{Audience: m.Audience, At: now.UTC(), Since: m.Since})
		}
	}
	p.Audiences = out
	ev.p = p
	return ev
}

// countedName is the name an activity is counted under by "event.<name>.count": a track event's
// EventKey; "" for anything else.
func countedName(a profile.Activity) string {
	if a.Type != beacon.Track {
		return ""
	}
	return profile.EventKey(a.Event)
}

// seedLimit bounds the touchpoints a seed reads per profile: the newest, which is what a window
// counts.
const seedLimit = 2 * profile.MaxEventTimes

// histories reads the history of a record's profile (and of those merged into it) once per
// evaluation, when something must be seeded from it.
type histories struct {
	e    *Engine
	r    Record
	read bool
	ts   []history.Touchpoint
}

// touchpoints are the newest track events of the profile's history, at most seedLimit of each
// profile.
func (h *histories) touchpoints(ctx context.Context) ([]history.Touchpoint, error) {
	if h.read || h.r.Version == 0 {
		return h.ts, nil
	}
	for _, id := range append([]string{h.r.Profile.ID}, h.r.Profile.MergedFrom...) {
		ts, err := h.e.st.Touchpoints(ctx, id, nil, "track", seedLimit)
		if err != nil {
			return nil, fmt.Errorf("read history of %s for audiences: %w", id, err)
		}
		h.ts = append(h.ts, ts...)
	}
	h.read = true
	return h.ts, nil
}

// times are the times after from of the history's events counted as name.
func (h *histories) times(ctx context.Context, name string, from time.Time) ([]time.Time, error) {
	ts, err := h.touchpoints(ctx)
	if err != nil {
		return nil, err
	}
	var out []time.Time
	for _, t := range ts {
		if t.At.After(from) && profile.EventKey(t.Event) == name {
			out = append(out, t.At)
		}
	}
	return out, nil
}

// earliest is the earlier of two times, zero meaning never.
func earliest(a, b time.Time) time.Time {
	switch {
	case a.IsZero():
		return b
	case b.IsZero() || a.Before(b):
		return a
	}
	return b
}

// recorded completes an evaluation's changes with the profile that records them, written at
// version with its claimed identifiers.
func (ev evaluation) recorded(version int, claimed []identity.ID) []AudienceChange {
	out := slices.Clone(ev.changes)
	for i := range out {
		out[i].Profile, out[i].ProfileVersion, out[i].Claimed = ev.p, version, claimed
	}
	return out
}

// announce announces changes before they are recorded.
func (e *Engine) announce(ctx context.Context, changes []AudienceChange) error {
	if len(changes) == 0 || e.announcer == nil {
		return nil
	}
	if err := e.announcer.Announce(ctx, changes); err != nil {
		return fmt.Errorf("%w: announce audience changes: %w", ErrAudiences, err)
	}
	return nil
}

// Reevaluate evaluates the audiences of profile id at now, and records what changed: its
// memberships (announced first), the events it counts, and when they next change. It reads the
// profile consistently and writes only if something changed, on the version read (another
// writer's change makes it read again). It returns the changes recorded; a profile not live
// (unknown, merged, being merged or erased) has none.
func (e *Engine) Reevaluate(ctx context.Context, id string, now time.Time) ([]AudienceChange, error) {
	if e.audiences == nil {
		return nil, nil
	}
	defs, err := e.definitions(ctx)
	if err != nil {
		return nil, err
	}
	for n := range maxAttempts {
		r, err := e.st.Profile(ctx, id, true)
		if err != nil {
			return nil, fmt.Errorf("reevaluate audiences of %s: %w", id, err)
		}
		if !r.written() || r.Profile.MergedInto != "" || r.MergingInto != "" {
			return nil, nil
		}
		ev, err := e.evaluate(ctx, defs, r, r.Profile, nil, now)
		if err != nil {
			return nil, err
		}
		next := r
		next.Profile = ev.p
		next.DueAt = e.dueAt(ev.p, r.Fired, now, ev.p.AudiencesDue)
		if len(ev.changes) == 0 && ev.p.AudiencesDue.Equal(r.Profile.AudiencesDue) && next.DueAt.Equal(r.DueAt) &&
			sameTimes(r.Profile.EventTimes, ev.p.EventTimes) && maps.EqualFunc(r.Profile.Computed, ev.p.Computed, func(a, b json.RawMessage) bool { return bytes.Equal(a, b) }) {
			return nil, nil
		}
		changes := ev.recorded(r.Version+1, r.Claimed)
		if err := e.announce(ctx, changes); err != nil {
			return nil, err
		}
		err = e.st.Commit(ctx, Change{Puts: []Put{{Base: r, Next: next}}})
		if errors.Is(err, ErrConflict) {
			if err := pause(ctx, n); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("record audiences of %s: %w", id, err)
		}
		return changes, nil
	}
	return nil, fmt.Errorf("reevaluate audiences of %s: %w", id, ErrContention)
}

// sameTimes tells whether two EventTimes maps hold the same names and times.
func sameTimes(a, b map[string][]time.Time) bool {
	if len(a) != len(b) {
		return false
	}
	for name, x := range a {
		y, ok := b[name]
		if !ok || !slices.EqualFunc(x, y, time.Time.Equal) {
			return false
		}
	}
	return true
}

// Stale tells whether evaluating set on profile p at now would change what p keeps of its
// audiences: its memberships, when they next change, or the events it counts (a name it never
// counted). A scan of profiles (the score function's) asks it of each profile it holds, and calls
// Reevaluate, which reads the profile again and writes, only for those it names: a definition
// added, changed or removed is back-filled so, and a score that changed what rules read is taken
// in. nil set: no audience is defined.
func Stale(defs AudienceSet, p profile.Profile, now time.Time) bool {
	if seed, extra := traitsToSeed(defs.Traits, p.Computed); len(seed) > 0 || extra {
		return true // a trait to compute from the history, or states of traits no longer defined
	}
	set := defs.Set
	if set == nil {
		return len(p.Audiences) > 0 || p.EventTimes != nil || !p.AudiencesDue.IsZero()
	}
	in := set.Inputs()
	for name := range in.Events {
		if _, ok := p.EventTimes[name]; !ok {
			return true
		}
	}
	p.EventTimes = profile.PruneEventTimes(p.EventTimes, in.Events, now)
	var states map[string]computed.State
	if defs.Traits != nil {
		states = decodeStates(defs.Traits, p.Computed, in.Computed)
	}
	m, err := evaluateSet(defs, p, states, now)
	if err != nil {
		return false // as evaluate: membership stays as it is
	}
	return !slices.Equal(m.Audiences, p.AudienceIDs()) || !m.Next.Equal(p.AudiencesDue)
}
