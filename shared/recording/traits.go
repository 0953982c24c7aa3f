package recording

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"time"

	"github.com/dcrm-project/dcrm/shared/computed"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// Computed traits (package computed) are kept on the profile as the state of each trait
// (Profile.Computed), folded in the write that records a batch's events. A state carries the
// fingerprint of the definition it was computed for: a trait defined after the person's events,
// or changed since, is computed again from the person's history (the newest seedLimit track
// events of each of the person's profiles), and so is every trait after a merge or a split.

// storedTrait is a trait's entry in Profile.Computed.
type storedTrait struct {
	Definition string         `json:"d"` // fingerprint of the definition the state is of
	State      computed.State `json:"s"`
}

// fingerprint names a definition's content: a state computed for another one is not its state.
func fingerprint(d computed.Definition) string {
	raw, _ := json.Marshal(d)
	sum := sha256.Sum256(raw)
	return base64.RawURLEncoding.EncodeToString(sum[:9])
}

// traitStates reads the states kept for the traits of set, and lists the definitions whose state
// must be computed from the history (absent, of another definition, or unreadable).
func traitStates(set *computed.Set, kept map[string]json.RawMessage) (map[string]computed.State, []computed.Definition) {
	if set == nil {
		return nil, nil
	}
	states := map[string]computed.State{}
	var seed []computed.Definition
	for _, d := range set.Definitions() {
		var st storedTrait
		raw, ok := kept[d.ID]
		if !ok || json.Unmarshal(raw, &st) != nil || st.Definition != fingerprint(d) {
			seed = append(seed, d)
			continue
		}
		states[d.ID] = st.State
	}
	return states, seed
}

// computeTraits folds the batch's events into the states of the traits of set kept on p, seeds
// the traits that need it from the history, prunes them at now, and keeps them on p. It returns
// the states.
func (e *Engine) computeTraits(ctx context.Context, set *computed.Set, h *histories, p *profile.Profile, batch []recorded, now time.Time) (map[string]computed.State, error) {
	if set == nil {
		p.Computed = nil
		return nil, nil
	}
	states, seed := traitStates(set, p.Computed)
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
		for id, st := range seeded {
			states[id] = st
		}
	}
	keys := map[string]bool{}
	for _, k := range set.Events() {
		keys[k] = true
	}
	for _, b := range batch {
		if a := b.activity; countedName(a) != "" && keys[countedName(a)] {
			states = set.FoldAll(states, computed.Event{Name: a.Event, Time: a.At, Properties: properties(b.properties)})
		}
	}
	states = set.Prune(states, now)
	p.Computed = make(map[string]json.RawMessage, len(set.Definitions()))
	for _, d := range set.Definitions() {
		raw, err := json.Marshal(storedTrait{Definition: fingerprint(d), State: states[d.ID]})
		if err != nil {
			return nil, err
		}
		p.Computed[d.ID] = raw
	}
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
// read as computed.<id>): those of set's definitions whose state p keeps, computed for them.
func Traits(set *computed.Set, p profile.Profile, now time.Time) map[string]any {
	if set == nil {
		return nil
	}
	states, seed := traitStates(set, p.Computed)
	for _, d := range seed {
		delete(states, d.ID)
	}
	values := set.Values(states, now)
	for _, d := range seed {
		delete(values, d.ID) // not computed yet: no value rather than a wrong one
	}
	return values
}
