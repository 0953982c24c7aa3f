package recordingtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/audience"
	"github.com/dcrm-project/dcrm/shared/computed"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// Definitions is a set of audience definitions the engine reads (recording.AudienceSource), which a
// test changes at will.
type Definitions struct {
	mu  sync.Mutex
	set recording.AudienceSet
	err error
}

// Define replaces the definitions, moving the version on.
func (d *Definitions) Define(t *testing.T, defs ...string) {
	t.Helper()
	var parsed []audience.Definition
	for _, s := range defs {
		def, err := audience.Parse([]byte(s))
		require.NoError(t, err)
		parsed = append(parsed, def)
	}
	set, err := audience.NewSet(parsed)
	require.NoError(t, err)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.set = recording.AudienceSet{Set: set, Traits: d.set.Traits, Version: d.set.Version + 1}
}

// DefineTraits replaces the computed traits, moving the version on.
func (d *Definitions) DefineTraits(t *testing.T, defs ...string) {
	t.Helper()
	var parsed []computed.Definition
	for _, s := range defs {
		def, err := computed.Parse([]byte(s))
		require.NoError(t, err)
		parsed = append(parsed, def)
	}
	var set *computed.Set
	if len(parsed) > 0 {
		var err error
		set, err = computed.NewSet(parsed)
		require.NoError(t, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.set = recording.AudienceSet{Set: d.set.Set, Traits: set, Version: d.set.Version + 1}
}

// Fail makes reading the definitions fail with err (nil: succeed again).
func (d *Definitions) Fail(err error) { d.mu.Lock(); defer d.mu.Unlock(); d.err = err }

// Audiences implements recording.AudienceSource.
func (d *Definitions) Audiences(context.Context) (recording.AudienceSet, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.set, d.err
}

// Announced keeps what the engine announces (recording.Announcer), or fails when told.
type Announced struct {
	mu      sync.Mutex
	changes []recording.AudienceChange
	err     error
}

// Announce implements recording.Announcer.
func (a *Announced) Announce(_ context.Context, cs []recording.AudienceChange) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.err != nil {
		return a.err
	}
	a.changes = append(a.changes, cs...)
	return nil
}

// Fail makes announcing fail with err (nil: succeed again).
func (a *Announced) Fail(err error) { a.mu.Lock(); defer a.mu.Unlock(); a.err = err }

// Take returns what was announced since the last call, as "+audience@version" and
// "-audience@version", in the order announced.
func (a *Announced) Take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, c := range a.changes {
		sign := "-"
		if c.Entered {
			sign = "+"
		}
		out = append(out, fmt.Sprintf("%s%s@%d", sign, c.Audience, c.ProfileVersion))
	}
	a.changes = nil
	return out
}

// audienceFixture is a fixture whose engine keeps audiences, with its clock at T0.
func audienceFixture(t *testing.T, ns NewStorage) (Fixture, *Definitions, *Announced) {
	defs, ann := &Definitions{}, &Announced{}
	f := New(t, ns, recording.WithAudiences(defs, ann))
	f.Clock.Set(T0)
	return f, defs, ann
}

// viewed is a Product Viewed event at minute m.
func viewed(id, anon string, m int) profile.Activity {
	a := Track(id, anon, "", m)
	a.Event = "Product Viewed"
	return a
}

const (
	browsers = `{"id": "browsers", "name": "Browsing", "rule": {"field": "event.Product Viewed.count", "op": ">=", "value": 2, "within": "1h"}}`
	buyers   = `{"id": "buyers", "name": "Buyers", "rule": {"field": "orders", "op": ">=", "value": 1}}`
	lurkers  = `{"id": "lurkers", "name": "Browsing, not buying", "rule": {"all": [
		{"field": "audiences", "op": "contains", "value": "browsers"},
		{"not": {"field": "audiences", "op": "contains", "value": "buyers"}}]}}`
)

func membersOf(r recording.Record) []string { return r.Profile.AudienceIDs() }

func audiencesFollowEventsAndWindows(t *testing.T, ns NewStorage) {
	f, defs, ann := audienceFixture(t, ns)
	defs.Define(t, browsers, buyers, lurkers)
	ctx := context.Background()

	id := f.Record(t, viewed("v1", "a-1", 0))[0].ProfileID
	require.Empty(t, membersOf(f.Stored(t, id)))
	require.Empty(t, ann.Take())

	// The second view within the hour: in, with the audience built on it, at once.
	f.setMin(10)
	f.Record(t, viewed("v2", "a-1", 10))
	r := f.Stored(t, id)
	require.Equal(t, []string{"browsers", "lurkers"}, membersOf(r))
	require.Equal(t, []string{"+browsers@2", "+lurkers@2"}, ann.Take())
	require.Equal(t, At(10), r.Profile.Audiences[0].Since)
	// The first view leaves the window an hour after it: membership is due to change then.
	require.Equal(t, At(60), r.Profile.AudiencesDue)
	require.Equal(t, At(60), r.DueAt)
	require.Empty(t, f.Due(t, At(59)))
	require.Equal(t, []string{id}, f.Due(t, At(60)))

	// The same event again changes nothing, and announces nothing.
	f.Record(t, viewed("v2", "a-1", 10))
	require.Empty(t, ann.Take())

	// When the window slides past the first view, re-evaluation takes the person out.
	changes, err := f.Reevaluate(ctx, id, At(60))
	require.NoError(t, err)
	require.Len(t, changes, 2)
	require.Equal(t, []string{"-browsers@3", "-lurkers@3"}, ann.Take())
	r = f.Stored(t, id)
	require.Empty(t, membersOf(r))
	require.True(t, r.Profile.AudiencesDue.IsZero(), "nothing left that time alone changes")
	require.True(t, r.DueAt.IsZero())
	require.Equal(t, []time.Time{At(10)}, r.Profile.EventTimes["productviewed"], "only what a window still counts is kept")

	// Evaluating again changes nothing and writes nothing.
	changes, err = f.Reevaluate(ctx, id, At(61))
	require.NoError(t, err)
	require.Empty(t, changes)
	require.Equal(t, 3, f.Stored(t, id).Version)

	// An order: a buyer, and no lurker even when browsing again.
	f.setMin(72)
	f.Record(t, Order("o1", "a-1", "", 70), viewed("v3", "a-1", 71), viewed("v4", "a-1", 72))
	require.Equal(t, []string{"browsers", "buyers"}, membersOf(f.Stored(t, id)))
}

func audienceChangeIsAnnouncedBeforeItIsRecorded(t *testing.T, ns NewStorage) {
	f, defs, ann := audienceFixture(t, ns)
	defs.Define(t, buyers)
	ctx := context.Background()
	down := errors.New("queue down")

	ann.Fail(down)
	_, err := f.Engine.Record(ctx, Order("o1", "a-1", "", 0))
	require.ErrorIs(t, err, recording.ErrAudiences)
	require.False(t, recording.Permanent(err), "recorded again later")
	_, err = f.Engine.Lookup(ctx, identity.AnonymousID("a-1"))
	require.ErrorIs(t, err, profile.ErrNotFound, "nothing recorded: the profile was not written")

	// The same event again, with the queue back: announced at the same version.
	ann.Fail(nil)
	res := f.Record(t, Order("o1", "a-1", "", 0))[0]
	require.Equal(t, []string{"+buyers@1"}, ann.Take())
	require.Equal(t, []string{"buyers"}, membersOf(f.Stored(t, res.ProfileID)))
	require.Equal(t, []string{"buyers"}, res.Profile.AudienceIDs(), "the result holds the profile as written")

	// Definitions that cannot be read: nothing recorded, for now.
	defs.Fail(down)
	_, err = f.Engine.Record(ctx, Order("o2", "a-2", "", 1))
	require.ErrorIs(t, err, recording.ErrAudiences)
	_, err = f.Reevaluate(ctx, res.ProfileID, At(2))
	require.ErrorIs(t, err, recording.ErrAudiences)
}

func newAudiencesAreBackFilledFromTheHistory(t *testing.T, ns NewStorage) {
	f, defs, ann := audienceFixture(t, ns)
	ctx := context.Background()
	// Events recorded while no audience counted them.
	res := f.Record(t, viewed("v1", "a-1", 0), viewed("v2", "a-1", 5), Page("p1", "a-1", 6))
	id := res[0].ProfileID
	require.Nil(t, f.Stored(t, id).Profile.EventTimes)

	defs.Define(t, browsers)
	changes, err := f.Reevaluate(ctx, id, At(30))
	require.NoError(t, err)
	require.Len(t, changes, 1)
	require.Equal(t, []string{"+browsers@4"}, ann.Take())
	r := f.Stored(t, id)
	require.Equal(t, []time.Time{At(0), At(5)}, r.Profile.EventTimes["productviewed"], "seeded from the history")

	// A new event counts with the seeded ones.
	f.setMin(40)
	f.Record(t, viewed("v3", "a-1", 40))
	require.Equal(t, []time.Time{At(0), At(5), At(40)}, f.Stored(t, id).Profile.EventTimes["productviewed"])

	// The definition removed: the person leaves, and nothing is counted any more.
	defs.Define(t)
	_, err = f.Reevaluate(ctx, id, At(41))
	require.NoError(t, err)
	require.Equal(t, []string{"-browsers@6"}, ann.Take())
	require.Nil(t, f.Stored(t, id).Profile.EventTimes)
}

// AudienceProperties runs the property test of audience membership (below) on cases random
// histories.
func AudienceProperties(t *testing.T, ns NewStorage, cases int) {
	audienceMembershipMatchesARecomputation(t, ns, cases)
}

// audienceMembershipMatchesARecomputation: for random events, delivered in random batches, some
// twice, with the clock moving on and the due index followed as the triggers schedule follows
// it, the membership kept on each profile is at every step what evaluating the definitions on the
// profile's events from scratch gives.
func audienceMembershipMatchesARecomputation(t *testing.T, ns NewStorage, cases int) {
	defsJSON := []string{browsers, buyers, lurkers,
		`{"id": "regulars", "name": "Regulars", "rule": {"all": [
			{"field": "event.Product Viewed.count", "op": ">=", "value": 3, "within": "3h"},
			{"field": "lastSeen", "op": "within", "value": "2h"}]}}`,
		`{"id": "recent-buyers", "name": "Recent buyers", "rule": {"field": "orders", "op": ">=", "value": 1, "within": "2h"}}`,
		`{"id": "tent-fans", "name": "Looking at tents", "rule": {"field": "computed.tent-views", "op": ">=", "value": 2}}`,
	}
	ctx := context.Background()
	for c := range cases {
		rng := rand.New(rand.NewPCG(uint64(c), 7))
		f, defs, _ := audienceFixture(t, ns)
		defs.DefineTraits(t, tentViews)
		defs.Define(t, defsJSON...)
		set, _ := defs.Audiences(ctx)
		props := map[string]json.RawMessage{}
		var sent []profile.Activity
		minute := 0
		for step := range 4 + rng.IntN(8) {
			minute += rng.IntN(90)
			f.setMin(minute)
			var batch []profile.Activity
			for k := range 1 + rng.IntN(4) {
				id := fmt.Sprintf("c%d-s%d-e%d", c, step, k)
				at := minute - rng.IntN(30) // events arrive a little late, out of order
				anon := fmt.Sprintf("a-%d", rng.IntN(2))
				switch rng.IntN(4) {
				case 0:
					batch = append(batch, Order(id, anon, "", at))
				case 1:
					batch = append(batch, Page(id, anon, at))
				default:
					batch = append(batch, viewed(id, anon, at))
					props[id] = json.RawMessage(fmt.Sprintf(`{"category": %q}`, []string{"tents", "stoves"}[rng.IntN(2)]))
				}
			}
			if len(sent) > 0 && rng.IntN(3) == 0 {
				batch = append(batch, sent[rng.IntN(len(sent))]) // a replay
			}
			for _, o := range f.RecordAll(ctx, recordInputs(batch, props)) {
				require.NoError(t, o.Err)
			}
			sent = append(sent, batch...)
			// The schedule runs at a random later time, evaluating whatever fell due.
			minute += rng.IntN(60)
			now := At(minute)
			f.Clock.Set(now)
			for _, id := range f.Due(t, now) {
				_, err := f.Reevaluate(ctx, id, now)
				require.NoError(t, err)
			}
			for _, anon := range []string{"a-0", "a-1"} {
				p, err := f.Engine.Lookup(ctx, identity.AnonymousID(anon))
				if errors.Is(err, profile.ErrNotFound) {
					continue
				}
				require.NoError(t, err)
				want := recompute(t, set, p, sent, props, anon, now)
				require.Equal(t, want, p.AudienceIDs(), "case %d step %d, %s at %s: kept %v, recomputed %v", c, step, anon, now, p.AudienceIDs(), want)
			}
		}
	}
}

// recompute evaluates the set on profile p at now, its events counted and its computed traits
// folded from what was sent rather than from what the profile kept.
func recompute(t *testing.T, defs recording.AudienceSet, p profile.Profile, sent []profile.Activity, props map[string]json.RawMessage, anon string, now time.Time) []string {
	t.Helper()
	seen := map[string]bool{}
	var views []time.Time
	var states map[string]computed.State
	for _, a := range sent {
		if a.AnonymousID != anon || seen[a.MessageID] {
			continue
		}
		seen[a.MessageID] = true
		if a.Event == "Product Viewed" {
			views = append(views, a.At)
			var m map[string]any
			require.NoError(t, json.Unmarshal(props[a.MessageID], &m))
			states = defs.Traits.FoldAll(states, computed.Event{Name: a.Event, Time: a.At, Properties: m})
		}
	}
	sub := audience.FromProfile(p, defs.Traits.Values(states, now), nil).SetEvents("Product Viewed", views)
	m, err := defs.Set.Evaluate(sub, now)
	require.NoError(t, err)
	if m.Audiences == nil {
		return []string{}
	}
	return slices.Clone(m.Audiences)
}

// recordInputs are the inputs of activities, with their properties by message id.
func recordInputs(acts []profile.Activity, props map[string]json.RawMessage) []recording.Input {
	in := make([]recording.Input, len(acts))
	for i, a := range acts {
		in[i] = recording.Input{Activity: a, Claims: recording.Claims{Properties: props[a.MessageID]}}
	}
	return in
}

// tentViews counts the person's views of tents over the last two hours.
const tentViews = `{"id": "tent-views", "name": "Tents viewed, 2 hours", "event": "Product Viewed", "aggregate": "count",
	"where": [{"property": "category", "op": "==", "value": "tents"}], "within": "2h"}`

func computedTraitsFollowEventsAndWindows(t *testing.T, ns NewStorage) {
	f, defs, ann := audienceFixture(t, ns)
	ctx := context.Background()
	defs.DefineTraits(t, tentViews, `{"id": "favourite-category", "name": "Favourite category", "event": "Product Viewed",
		"aggregate": "mostFrequent", "property": "category"}`)
	defs.Define(t, `{"id": "tent-fans", "name": "Looking at tents", "rule": {"field": "computed.tent-views", "op": ">=", "value": 2}}`)
	view := func(id string, m int, category string) recording.Input {
		return recording.Input{Activity: viewed(id, "a-1", m), Claims: recording.Claims{Properties: json.RawMessage(`{"category": "` + category + `"}`)}}
	}
	record := func(in ...recording.Input) string {
		var id string
		for _, o := range f.RecordAll(ctx, in) {
			require.NoError(t, o.Err)
			id = o.ProfileID
		}
		return id
	}
	f.setMin(10)
	id := record(view("v1", 0, "tents"), view("v2", 5, "stoves"), view("v3", 10, "tents"))
	r := f.Stored(t, id)
	require.Equal(t, []string{"tent-fans"}, membersOf(r))
	require.Equal(t, []string{"+tent-fans@1"}, ann.Take())
	set, _ := defs.Audiences(ctx)
	require.Equal(t, map[string]any{"tent-views": 2.0, "favourite-category": "tents"}, recording.Traits(set.Traits, r.Profile, At(10)))
	require.Equal(t, At(120), r.Profile.AudiencesDue, "the first tent view leaves the trait's window two hours after it")

	// The window slides past it: out, on the due index's evaluation.
	require.Equal(t, []string{id}, f.Due(t, At(120)))
	_, err := f.Reevaluate(ctx, id, At(120))
	require.NoError(t, err)
	require.Equal(t, []string{"-tent-fans@2"}, ann.Take())
	require.Equal(t, 1.0, recording.Traits(set.Traits, f.Stored(t, id).Profile, At(120))["tent-views"])

	// A trait defined later is computed from the history, as a new audience is back-filled.
	defs.DefineTraits(t, tentViews, `{"id": "stove-views", "name": "Stoves viewed", "event": "Product Viewed", "aggregate": "count",
		"where": [{"property": "category", "op": "==", "value": "stoves"}]}`)
	set, _ = defs.Audiences(ctx)
	require.True(t, recording.Stale(set, f.Stored(t, id).Profile, At(121)))
	require.Nil(t, recording.Traits(set.Traits, f.Stored(t, id).Profile, At(121))["stove-views"], "not computed yet: no value")
	_, err = f.Reevaluate(ctx, id, At(121))
	require.NoError(t, err)
	p := f.Stored(t, id).Profile
	require.Equal(t, map[string]any{"tent-views": 1.0, "stove-views": 1.0}, recording.Traits(set.Traits, p, At(121)))
	require.False(t, recording.Stale(set, p, At(121)))
	_, dropped := p.Computed["favourite-category"]
	require.False(t, dropped, "the state of a trait no longer defined is dropped")
}

func staleNamesWhatAScanMustReevaluate(t *testing.T, ns NewStorage) {
	f, defs, _ := audienceFixture(t, ns)
	ctx := context.Background()
	id := f.Record(t, viewed("v1", "a-1", 0), Order("o1", "a-1", "", 1))[0].ProfileID
	set := func() recording.AudienceSet { s, _ := defs.Audiences(ctx); return s }
	p := func() profile.Profile { return f.Stored(t, id).Profile }

	require.False(t, recording.Stale(set(), p(), At(2)), "no audience, none kept")
	defs.Define(t, buyers)
	require.True(t, recording.Stale(set(), p(), At(2)), "a new definition: back-fill")
	_, err := f.Reevaluate(ctx, id, At(2))
	require.NoError(t, err)
	require.False(t, recording.Stale(set(), p(), At(3)), "evaluated")

	defs.Define(t, buyers, browsers)
	require.True(t, recording.Stale(set(), p(), At(3)), "a counted name never counted: seeded by Reevaluate")
	_, err = f.Reevaluate(ctx, id, At(3))
	require.NoError(t, err)
	require.False(t, recording.Stale(set(), p(), At(3)))

	// A rule with a window the profile's membership does not show: only when it next changes does.
	defs.Define(t, buyers, browsers, `{"id": "lapsing", "name": "Bought, gone quiet", "rule": {"any": [
		{"field": "audiences", "op": "contains", "value": "buyers"}, {"field": "lastSeen", "op": "within", "value": "1h"}]}}`)
	_, err = f.Reevaluate(ctx, id, At(3))
	require.NoError(t, err)
	require.False(t, recording.Stale(set(), p(), At(4)))

	defs.Define(t)
	require.True(t, recording.Stale(set(), p(), At(4)), "every definition removed: the memberships go")
}
