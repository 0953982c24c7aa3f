package recording

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dcrm-project/dcrm/shared/audience"
	"github.com/dcrm-project/dcrm/shared/beacon"
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

// AudienceSet is the audience definitions in force.
type AudienceSet struct {
	Set *audience.Set // nil: no audience is defined
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

// definitions returns the audiences in force, nil when the engine keeps none.
func (e *Engine) definitions(ctx context.Context) (*audience.Set, error) {
	if e.audiences == nil {
		return nil, nil
	}
	s, err := e.audiences.Audiences(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: read definitions: %w", ErrAudiences, err)
	}
	return s.Set, nil
}

// evaluation is what evaluating a profile's audiences changes.
type evaluation struct {
	p       profile.Profile // with its memberships, counted events and AudiencesDue
	changes []AudienceChange
}

// evaluate evaluates the audiences of set on r's profile p (r as stored, p as about to be
// written: with a batch's events applied) at now. counted are the events of the batch applied
// to p. Names a rule counts that the profile never counted are read from its history (seed).
func (e *Engine) evaluate(ctx context.Context, set *audience.Set, r Record, p profile.Profile, counted []profile.Activity, now time.Time) (evaluation, error) {
	if set == nil { // no audience is defined: the person leaves any they were in
		p.EventTimes = nil
		return membership(p, nil, time.Time{}, now), nil
	}
	in := set.Inputs()
	times := p.EventTimes
	for _, a := range counted {
		if name := countedName(a); name != "" {
			if _, ok := in.Events[name]; ok {
				if _, seen := times[name]; seen {
					times = profile.AddEventTimes(times, name, a.At)
				}
			}
		}
	}
	for name, window := range in.Events {
		if _, ok := times[name]; ok {
			continue
		}
		seed, err := e.seed(ctx, r, name, now.Add(-window))
		if err != nil {
			return evaluation{}, err
		}
		for _, a := range counted { // the batch's own, not in the history yet
			if countedName(a) == name {
				seed = append(seed, a.At)
			}
		}
		times = profile.AddEventTimes(times, name, seed...)
	}
	p.EventTimes = profile.PruneEventTimes(times, in.Events, now)
	sub := audience.FromProfile(p, nil, nil)
	for name := range in.Events {
		sub.SetEvents(name, p.EventTimes[name])
	}
	m, err := set.Evaluate(sub, now)
	if err != nil {
		// A rule that cannot be evaluated (an input missing) leaves membership as it was; the
		// definitions were checked when saved, so this is a fault of the code, not of the data.
		return evaluation{p: p}, nil
	}
	return membership(p, m.Audiences, m.Next, now), nil
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

// seed reads from the history of r's profile (and those merged into it) the times after from of
// the events counted as name.
func (e *Engine) seed(ctx context.Context, r Record, name string, from time.Time) ([]time.Time, error) {
	if r.Version == 0 {
		return nil, nil
	}
	var out []time.Time
	for _, id := range append([]string{r.Profile.ID}, r.Profile.MergedFrom...) {
		ts, err := e.st.Touchpoints(ctx, id, nil, "track", seedLimit)
		if err != nil {
			return nil, fmt.Errorf("read history of %s for audience counts: %w", id, err)
		}
		for _, t := range ts {
			if t.At.After(from) && profile.EventKey(t.Event) == name {
				out = append(out, t.At)
			}
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
	set, err := e.definitions(ctx)
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
		ev, err := e.evaluate(ctx, set, r, r.Profile, nil, now)
		if err != nil {
			return nil, err
		}
		next := r
		next.Profile = ev.p
		next.DueAt = e.dueAt(ev.p, r.Fired, now, ev.p.AudiencesDue)
		if len(ev.changes) == 0 && ev.p.AudiencesDue.Equal(r.Profile.AudiencesDue) && next.DueAt.Equal(r.DueAt) &&
			sameTimes(r.Profile.EventTimes, ev.p.EventTimes) {
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
func Stale(set *audience.Set, p profile.Profile, now time.Time) bool {
	if set == nil {
		return len(p.Audiences) > 0 || p.EventTimes != nil || !p.AudiencesDue.IsZero()
	}
	in := set.Inputs()
	for name := range in.Events {
		if _, ok := p.EventTimes[name]; !ok {
			return true
		}
	}
	times := profile.PruneEventTimes(p.EventTimes, in.Events, now)
	sub := audience.FromProfile(p, nil, nil)
	for name := range in.Events {
		sub.SetEvents(name, times[name])
	}
	m, err := set.Evaluate(sub, now)
	if err != nil {
		return false // as evaluate: membership stays as it is
	}
	return !slices.Equal(m.Audiences, p.AudienceIDs()) || !m.Next.Equal(p.AudiencesDue)
}
