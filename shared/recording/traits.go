package recording

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/dcrm-project/dcrm/shared/computed"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// Computed traits (package computed) are kept on the profile as the state of each trait
// (Profile.Computed), folded in the write that records a batch's events, under the key
// "<trait id>@<fingerprint of its definition>": a trait defined after the person's events, or
// changed since, has no state under its key, and is computed again from the person's history (the
// newest seedLimit track events of each of the person's profiles); so is every trait after a merge
// or a split. Only the states an evaluation needs are decoded (those the batch's events fold into
// and those audience rules read) and only those are encoded again: the others are kept as stored.

// traitKeys are the keys of a set's traits in Profile.Computed, by trait id, worked out once per
// set (a set is the definitions in force, shared by every evaluation until they change).
var traitKeys sync.Map // *computed.Set → map[string]string

func keysOf(set *computed.Set) map[string]string {
	if k, ok := traitKeys.Load(set); ok {
		return k.(map[string]string)
	}
	keys := map[string]string{}
	for _, d := range set.Definitions() {
		raw, _ := json.Marshal(d)
		sum := sha256.Sum256(raw)
		keys[d.ID] = d.ID + "@" + base64.RawURLEncoding.EncodeToString(sum[:9])
	}
	traitKeys.Store(set, keys)
	return keys
}

// traitsToSeed lists the definitions of set the profile keeps no state of (new, or changed), and
// tells whether it keeps states of traits no longer defined.
func traitsToSeed(set *computed.Set, kept map[string]json.RawMessage) (seed []computed.Definition, extra bool) {
	if set == nil {
		return nil, len(kept) > 0
	}
	keys := keysOf(set)
	for _, d := range set.Definitions() {
		if _, ok := kept[keys[d.ID]]; !ok {
			seed = append(seed, d)
		}
	}
	return seed, len(kept) > len(keys)-len(seed)
}

// decodeStates decodes the states kept of the traits ids (those kept; one unreadable is empty).
func decodeStates(set *computed.Set, kept map[string]json.RawMessage, ids []string) map[string]computed.State {
	keys := keysOf(set)
	states := make(map[string]computed.State, len(ids))
	for _, id := range ids {
		var st computed.State
		if raw, ok := kept[keys[id]]; ok && json.Unmarshal(raw, &st) == nil {
			states[id] = st
		}
	}
	return states
}

// computeTraits folds the batch's events into the states kept on p of the traits of set, seeds
// the traits that need it from the history, and keeps them on p, pruned at now. It returns the
// states of the traits read (the audiences' computed.<id>), decoded.
func (e *Engine) computeTraits(ctx context.Context, set *computed.Set, h *histories, p *profile.Profile, batch []recorded, now time.Time, read []string) (map[string]computed.State, error) {
	if set == nil {
		p.Computed = nil
		return nil, nil
	}
	keys := keysOf(set)
	folds := map[string]bool{}
	for _, k := range set.Events() {
		folds[k] = true
	}
	var events []computed.Event
	touched := slices.Clone(read)
	for _, b := range batch {
		if name := countedName(b.activity); name != "" && folds[name] {
			events = append(events, computed.Event{Name: b.activity.Event, Time: b.activity.At, Properties: properties(b.properties)})
			for _, d := range set.Definitions() {
				if d.Key() == name {
					touched = append(touched, d.ID)
				}
			}
		}
	}
	seed, _ := traitsToSeed(set, p.Computed)
	for _, d := range seed {
		touched = append(touched, d.ID)
	}
	slices.Sort(touched)
	touched = slices.Compact(touched)
	states := decodeStates(set, p.Computed, touched)
	if len(seed) > 0 {
		fresh, err := computed.NewSet(seed)
		if err != nil {
			return nil, err
		}
		ts, err := h.touchpoints(ctx)
		if err != nil {
			return nil, err
		}
		var seeded map[string]computed.State
		for _, t := range ts {
			seeded = fresh.FoldAll(seeded, computed.Event{Name: t.Event, Time: t.At, Properties: properties(t.Properties)})
		}
		for _, d := range seed {
			states[d.ID] = seeded[d.ID]
		}
	}
	for _, ev := range events {
		states = set.FoldAll(states, ev)
	}
	kept := make(map[string]json.RawMessage, len(keys))
	for _, d := range set.Definitions() {
		key := keys[d.ID]
		st, ok := states[d.ID]
		if !ok && slices.Contains(touched, d.ID) {
			ok = true // touched, and empty
		}
		if !ok {
			kept[key] = p.Computed[key] // untouched: as stored
			continue
		}
		st = d.Prune(st, now)
		states[d.ID] = st
		raw, err := json.Marshal(st)
		if err != nil {
			return nil, err
		}
		kept[key] = raw
	}
	p.Computed = kept
	return states, nil
}

// properties decodes an event's properties as kept (compact JSON, bounded); nil when there are
// none or they cannot be read.
func properties(raw json.RawMessage) map[string]any {
	if len(raw) == 0 {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}

// Traits are the values of the computed traits kept on p at now, by id (what audience rules
// read as computed.<id>): those of set's definitions whose state p keeps. A trait not computed
// yet (defined or changed since p was last evaluated) has no value rather than a wrong one.
func Traits(set *computed.Set, p profile.Profile, now time.Time) map[string]any {
	if set == nil {
		return nil
	}
	var ids []string
	for _, d := range set.Definitions() {
		ids = append(ids, d.ID)
	}
	seed, _ := traitsToSeed(set, p.Computed)
	values := set.Values(decodeStates(set, p.Computed, ids), now)
	for _, d := range seed {
		delete(values, d.ID)
	}
	return values
}
