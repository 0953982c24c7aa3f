package recording

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/trigger"
)

// The due time. A profile for which a trigger can fire carries DueAt, the time the next one falls
// due (trigger.Config.Due); storage indexes profiles by it (Profiles.Due), so that the triggers
// schedule reads the due profiles and no others, however many profiles there are.
//
// Whoever writes what the due time depends on writes the due time in the same conditional write:
// recording (the behaviour, consent from events), consent, folding a merge (the merged profile
// leaves the index), a split, and the triggers schedule (the fired state, SaveFired).
//
// An entry may be early (the profile changed in a way the writer did not see, or a trigger's
// expiry passed): the schedule reads the profile, fires nothing and moves or removes the entry.
// It is never late for what recording knew, since recording and the schedule both check the
// profile's version.

// pAlive is the customer's probability of being alive from the last scoring with a purchase
// model, 1 when the profile has none.
func pAlive(p profile.Profile) float64 {
	if p.Score != nil && p.Score.Value != nil {
		return p.Score.Value.PAlive
	}
	return 1
}

// dueAt is when profile p with trigger state st falls due as of now: the earlier of when its next
// trigger does and audiences, its audiences' next change (Profile.AudiencesDue); zero when neither
// can.
func (e *Engine) dueAt(p profile.Profile, st trigger.State, now, audiences time.Time) time.Time {
	at, ok := e.triggers.Due(p, pAlive(p), st, now)
	if !ok {
		return audiences.UTC()
	}
	return earliest(at.UTC(), audiences.UTC())
}

// Due calls fn with the id of every profile due at or before now (see Profiles.Due): read the
// profile (Fire) before acting on it.
func (e *Engine) Due(ctx context.Context, now time.Time, fn func(ctx context.Context, profileID string) error) error {
	return e.st.Due(ctx, now, fn)
}

// Firing is what the triggers of one profile do at one time: what fires, and what SaveFired then
// records. Fire makes it.
type Firing struct {
	trigger.Firing

	stored      Record            // as read
	record      []trigger.Trigger // what to add to the state: Fired and what was sent before
	state       trigger.State     // the state after recording
	dueAt       time.Time
	audienceDue time.Time
	live        bool
}

// Fire reads profile id (consistently) and works out what fires for it at now. Sent are triggers
// of the profile sent already but not recorded (an attempt whose SaveFired lost a race): they are
// not returned again, and SaveFired records them with the rest, whether or not they would still
// fire.
func (e *Engine) Fire(ctx context.Context, id string, now time.Time, sent ...trigger.Trigger) (Firing, error) {
	r, err := e.st.Profile(ctx, id, true)
	if err != nil {
		return Firing{}, fmt.Errorf("fire triggers of %s: %w", id, err)
	}
	f := Firing{Firing: trigger.Firing{ProfileID: id}, stored: r}
	if !r.written() || r.Profile.MergedInto != "" || r.MergingInto != "" {
		return f, nil // the index entry goes (SaveFired), or the merge under way takes it away
	}
	p, st := r.Profile, r.Fired
	f.live = true
	recorded := func(st trigger.State, key string) bool {
		return slices.ContainsFunc(st, func(x trigger.Fired) bool { return x.Key == key })
	}
	sent = slices.DeleteFunc(slices.Clone(sent), func(t trigger.Trigger) bool { return recorded(st, t.Key) })
	f.Fired = slices.DeleteFunc(e.triggers.Fire(p, pAlive(p), st, now), func(t trigger.Trigger) bool {
		return slices.ContainsFunc(sent, func(x trigger.Trigger) bool { return x.Key == t.Key })
	})
	f.record = append(sent, f.Fired...)
	f.state = e.triggers.Record(st, f.record, now)
	if at, ok := e.triggers.Due(p, pAlive(p), f.state, now); ok {
		f.Next = at
	}
	// An audience change due by now was evaluated before (Reevaluate); one still due is of an
	// engine that keeps no audiences, and leaves the index.
	f.audienceDue = r.Profile.AudiencesDue
	if !f.audienceDue.After(now) {
		f.audienceDue = time.Time{}
	}
	f.dueAt = e.dueAt(p, f.state, now, f.audienceDue)
	return f, nil
}

// SaveFired records a Firing on the profile: the fired triggers in its trigger state (their keys
// are what keeps an episode from firing twice) and its next due time. The write is conditional on
// the version Fire read and changes it, as recording does: when the profile changed since (an
// event, a merge, an erasure, or another run that recorded first), nothing is written and
// ErrChanged is returned, and recording never overwrites what was fired with a state it read
// before. A Firing that changes nothing writes nothing; one of a merged or erased profile only
// takes it out of the index.
func (e *Engine) SaveFired(ctx context.Context, f Firing) error {
	r := f.stored
	next := r
	switch {
	case r.MergingInto != "" || r.DueAt.IsZero() && !f.live:
		return nil
	case !f.live:
		next.DueAt = time.Time{} // merged or being erased: out of the index
	case len(f.record) == 0 && f.dueAt.Equal(r.DueAt) && f.audienceDue.Equal(r.Profile.AudiencesDue):
		return nil
	default:
		next.Fired, next.DueAt, next.Profile.AudiencesDue = f.state, f.dueAt, f.audienceDue
	}
	err := e.st.Commit(ctx, Change{Puts: []Put{{Base: r, Next: next}}})
	if errors.Is(err, ErrConflict) {
		return fmt.Errorf("record triggers fired for %s: %w", r.Profile.ID, ErrChanged)
	}
	if err != nil {
		return fmt.Errorf("record triggers fired for %s: %w", r.Profile.ID, err)
	}
	return nil
}
