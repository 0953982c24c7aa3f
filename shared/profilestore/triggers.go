package profilestore

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/trigger"
)

// The due index. A profile for which a trigger can fire carries dueAt, the time the next one falls
// due (trigger.Config.Due), and dueShard, a hash of its id; together they key the Profiles table's
// sparse global secondary index DueIndex, which holds only the profiles that carry them, keys only.
// The triggers schedule queries each shard for dueAt <= now and so reads the due profiles and no
// others, however many profiles there are.
//
// Whoever writes what the due time depends on writes the due time in the same conditional write:
// recording (the behaviour, consent from events), folding a merge (the merged profile leaves the
// index), and the triggers schedule (the fired state, SaveFired). Each writes the index attributes
// only when they change: an index write costs write units of its own (one to enter or leave the
// index, two to move in it), a profile write that leaves them alone costs the index nothing.
//
// An entry may be early (the profile changed in a way the writer did not see, or a trigger's
// expiry passed): the schedule reads the profile, fires nothing and moves or removes the entry.
// It is never late for what recording knew, since recording and the schedule both check the
// profile's version.

// DueIndex is the name of the due index (topology.DueIndex).
const DueIndex = "due"

// DueShards is how many partitions the due index is spread over, so that a burst of writes does
// not all land on one index partition. Changing it leaves entries in shards no longer read.
const DueShards = 16

// firedItem is a trigger.Fired as stored.
type firedItem struct {
	Kind string    `dynamo:"kind"`
	Key  string    `dynamo:"key"`
	At   time.Time `dynamo:"at"`
}

func (it profileItem) triggerState() trigger.State {
	st := make(trigger.State, 0, len(it.Fired))
	for _, f := range it.Fired {
		st = append(st, trigger.Fired{Kind: f.Kind, Key: f.Key, At: f.At})
	}
	return st
}

func firedItems(st trigger.State) []firedItem {
	out := make([]firedItem, 0, len(st))
	for _, f := range st {
		out = append(out, firedItem{Kind: f.Kind, Key: f.Key, At: f.At.UTC()})
	}
	return out
}

// pAlive is the customer's probability of being alive from the last scoring with a purchase
// model, 1 when the profile has none.
func pAlive(p profile.Profile) float64 {
	if p.Score != nil && p.Score.Value != nil {
		return p.Score.Value.PAlive
	}
	return 1
}

// DueShard is the due-index partition of a profile.
func DueShard(profileID string) string {
	h := fnv.New32a()
	h.Write([]byte(profileID))
	return strconv.Itoa(int(h.Sum32() % DueShards))
}

// dueKey is a due time as the index sorts it: fixed-width RFC 3339 with nanoseconds, exact.
func dueKey(t time.Time) string { return t.UTC().Format(keyTime) }

// dueAt is the due-index sort key of profile p with trigger state st as of now; "" when no trigger
// can fire for it.
func (s *Store) dueAt(p profile.Profile, st trigger.State, now time.Time) string {
	at, ok := s.triggers.Due(p, pAlive(p), st, now)
	if !ok {
		return ""
	}
	return dueKey(at)
}

// setDue makes u move the profile's due-index entry from the stored item's to dueAt ("": out of
// the index). It adds nothing when the entry stays as it is.
func setDue(u *dynamo.Update, stored profileItem, dueAt string) {
	switch {
	case !dueChanged(stored, dueAt):
	case dueAt == "":
		u.Remove("dueShard", "dueAt")
	default:
		u.Set("dueShard", DueShard(stored.ProfileID)).Set("dueAt", dueAt)
	}
}

func dueChanged(stored profileItem, dueAt string) bool {
	return dueAt != stored.DueAt || dueAt != "" && stored.DueShard != DueShard(stored.ProfileID)
}

// foldDue sets on the write of a fold what fired for either profile, and the due time of the
// folded profile out (the merged one leaves the index with its mark, see fold).
func (s *Store) foldDue(write *dynamo.Update, dst, src profileItem, out profile.Profile, now time.Time) {
	st := s.triggers.Record(append(dst.triggerState(), src.triggerState()...), nil, now)
	if len(src.Fired) > 0 {
		write.Set("triggersFired", firedItems(st))
	}
	setDue(write, dst, s.dueAt(out, st, now))
}

// DueProfiles calls fn with the id of every profile due at or before now, reading each shard of
// the due index in a goroutine of its own, earliest first; fn must be safe for concurrent use. The
// index is eventually consistent: read the profile (Fire) before acting on it. The first error
// from fn or from reading stops the reading and is returned.
func (s *Store) DueProfiles(ctx context.Context, now time.Time, fn func(ctx context.Context, profileID string) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for shard := range DueShards {
		wg.Go(func() {
			iter := s.profiles.Get("dueShard", strconv.Itoa(shard)).Index(DueIndex).
				Range("dueAt", dynamo.LessOrEqual, dueKey(now)).Iter()
			var key struct {
				ProfileID string `dynamo:"profileId"`
			}
			for iter.Next(ctx, &key) {
				if err := fn(ctx, key.ProfileID); err != nil {
					cancel(err)
					return
				}
			}
			if err := iter.Err(); err != nil {
				cancel(fmt.Errorf("read due shard %d: %w", shard, err))
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// Firing is what the triggers of one profile do at one time: what fires, and what SaveFired then
// records. Fire makes it.
type Firing struct {
	ProfileID string
	// Fired are the triggers that fire, in the order of their kinds; none when the profile is
	// merged, erased or gone, or nothing is due after all.
	Fired []trigger.Trigger
	// Next is when the profile is due next after recording Fired; zero when nothing can fire.
	Next time.Time

	stored profileItem       // as read; empty when gone
	record []trigger.Trigger // what to add to the state: Fired and what was sent before
	state  trigger.State     // the state after recording
	dueAt  string
	live   bool
}

// Fire reads profile id (consistently) and works out what fires for it at now. Sent are triggers
// of the profile sent already but not recorded (an attempt whose SaveFired lost a race): they are
// not returned again, and SaveFired records them with the rest, whether or not they would still
// fire.
func (s *Store) Fire(ctx context.Context, id string, now time.Time, sent ...trigger.Trigger) (Firing, error) {
	it, found, err := s.get(ctx, id, true)
	if err != nil {
		return Firing{}, fmt.Errorf("fire triggers of %s: %w", id, err)
	}
	f := Firing{ProfileID: id, stored: it}
	if !found || it.MergedInto != "" || it.MergingInto != "" || !it.ErasedAt.IsZero() || it.Version == 0 {
		return f, nil // the index entry goes (SaveFired), or the merge under way takes it away
	}
	p, st := it.profile(), it.triggerState()
	f.live = true
	recorded := func(st trigger.State, key string) bool {
		return slices.ContainsFunc(st, func(x trigger.Fired) bool { return x.Key == key })
	}
	sent = slices.DeleteFunc(slices.Clone(sent), func(t trigger.Trigger) bool { return recorded(st, t.Key) })
	f.Fired = slices.DeleteFunc(s.triggers.Fire(p, pAlive(p), st, now), func(t trigger.Trigger) bool {
		return slices.ContainsFunc(sent, func(x trigger.Trigger) bool { return x.Key == t.Key })
	})
	f.record = append(sent, f.Fired...)
	f.state = s.triggers.Record(st, f.record, now)
	if at, ok := s.triggers.Due(p, pAlive(p), f.state, now); ok {
		f.Next, f.dueAt = at, dueKey(at)
	}
	return f, nil
}

// SaveFired records a Firing on the profile: the fired triggers in its trigger state (their keys
// are what keeps an episode from firing twice) and its next due time. The write is conditional on
// the version Fire read and changes it, as recording does: when the profile changed since (an
// event, a merge, an erasure, or another run that recorded first), nothing is written and
// ErrChanged is returned, and recording never overwrites what was fired with a state it read
// before. A Firing that changes nothing writes nothing; one of a merged or erased profile only
// takes it out of the index.
func (s *Store) SaveFired(ctx context.Context, f Firing) error {
	it := f.stored
	var u *dynamo.Update
	switch {
	case it.ProfileID == "" || it.MergingInto != "" || it.DueAt == "" && !f.live:
		return nil
	case !f.live:
		// Merged or erased: out of the index, if it still is what Fire read.
		u = s.profiles.Update("profileId", it.ProfileID).Remove("dueShard", "dueAt").
			If("'version' = ? AND (attribute_exists('mergedInto') OR attribute_exists('erasedAt'))", it.Version)
	case len(f.record) == 0 && !dueChanged(it, f.dueAt):
		return nil
	default:
		u = s.profiles.Update("profileId", it.ProfileID).Set("version", it.Version+1).If("'version' = ?", it.Version)
		if len(f.record) > 0 || len(f.state) != len(it.Fired) {
			setOrRemove(u, "triggersFired", firedItems(f.state), len(f.state))
		}
		setDue(u, it, f.dueAt)
	}
	err := u.Run(ctx)
	if dynamo.IsCondCheckFailed(err) {
		return fmt.Errorf("record triggers fired for %s: %w", it.ProfileID, ErrChanged)
	}
	if err != nil {
		return fmt.Errorf("record triggers fired for %s: %w", it.ProfileID, err)
	}
	return nil
}
