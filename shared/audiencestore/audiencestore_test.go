package audiencestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/audience"
	"github.com/dcrm-project/dcrm/shared/computed"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newStore is a store over a fresh Audiences table, its clock at t0 moving a minute a write.
func newStore(t *testing.T) *Store {
	t.Helper()
	e := localawstest.Reachable(t)
	var mu sync.Mutex
	now := t0
	return New(e.Dynamo(), localawstest.NewTopologyTable(t, topology.AudienceTable)).WithClock(func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Minute)
		return now
	})
}

// def parses a definition of id whose rule is given as JSON ("" for a plain one).
func def(t *testing.T, id, rule string) audience.Definition {
	t.Helper()
	if rule == "" {
		rule = `{"field": "orders", "op": ">=", "value": 1}`
	}
	d, err := audience.Parse([]byte(fmt.Sprintf(`{"id": %q, "name": "The %s", "rule": %s}`, id, id, rule)))
	require.NoError(t, err)
	return d
}

// naming is a rule that holds for members of the audience id.
func naming(id string) string {
	return fmt.Sprintf(`{"field": "audiences", "op": "contains", "value": %q}`, id)
}

func ids(all []Stored) []string {
	var out []string
	for _, s := range all {
		out = append(out, s.Definition.ID)
	}
	return out
}

// An audience is created (version 1), replaced (its version moves on, its creation stays), listed
// by id, read back as stored (JSON that parses into the same definition) and removed.
func TestPutGetListDelete(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	all, err := s.List(ctx)
	require.NoError(t, err)
	require.Empty(t, all, "no audience yet")
	_, err = s.Get(ctx, "vip")
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorIs(t, s.Delete(ctx, "vip", "key_1"), ErrNotFound)

	vip := def(t, "vip", `{"all": [{"field": "revenue", "op": ">", "value": 500}, {"field": "lastSeen", "op": "within", "value": "30d"}]}`)
	vip.Description = "Big spenders seen lately."
	created, err := s.Put(ctx, vip, "key_1")
	require.NoError(t, err)
	require.True(t, created.Created)
	require.Equal(t, 1, created.Version)
	require.Equal(t, "key_1", created.UpdatedBy)
	require.Equal(t, created.CreatedAt, created.UpdatedAt)
	again, err := audience.Parse(created.JSON)
	require.NoError(t, err)
	require.Equal(t, vip.Description, again.Description)
	_, err = s.Put(ctx, def(t, "all-buyers", ""), "key_1")
	require.NoError(t, err)

	vip.Name, vip.Public = "Very important", true
	replaced, err := s.Put(ctx, vip, "key_2")
	require.NoError(t, err)
	require.False(t, replaced.Created)
	require.Equal(t, 2, replaced.Version)
	require.Equal(t, created.CreatedAt, replaced.CreatedAt, "created once")
	require.True(t, replaced.UpdatedAt.After(created.UpdatedAt))
	require.Equal(t, "key_2", replaced.UpdatedBy)

	got, err := s.Get(ctx, "vip")
	require.NoError(t, err)
	require.Equal(t, replaced.Version, got.Version)
	require.Equal(t, replaced.UpdatedAt, got.UpdatedAt)
	require.JSONEq(t, string(replaced.JSON), string(got.JSON))
	require.Equal(t, "Very important", got.Definition.Name)
	require.True(t, got.Definition.Public)
	want, err := json.Marshal(got.Definition)
	require.NoError(t, err)
	require.Equal(t, string(want), string(got.JSON), "stored as the package writes it")

	all, err = s.List(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"all-buyers", "vip"}, ids(all))

	require.NoError(t, s.Delete(ctx, "vip", "key_2"))
	_, err = s.Get(ctx, "vip")
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorIs(t, s.Delete(ctx, "vip", "key_2"), ErrNotFound)
	all, err = s.List(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{"all-buyers"}, ids(all))
	recreated, err := s.Put(ctx, vip, "key_3")
	require.NoError(t, err)
	require.True(t, recreated.Created)
	require.Equal(t, 1, recreated.Version, "a new audience of an old name starts again")

	_, err = s.Get(ctx, setKey)
	require.ErrorIs(t, err, ErrNotFound, "the set's item is no audience")
}

// The set stays valid: an audience naming one that is not defined, a cycle (also through a
// replacement, or of an audience with itself) is refused saying which; an audience another names
// (as a member or as a lookalike's seed) is not removed.
func TestTheSetStaysValid(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	_, err := s.Put(ctx, def(t, "gold", naming("platinum")), "k")
	require.ErrorIs(t, err, ErrInvalidSet)
	require.ErrorIs(t, err, audience.ErrInvalid)
	require.ErrorContains(t, err, `audience "gold": rule: audience "platinum" is not defined`)
	require.NotContains(t, err.Error(), "definitions[", "named by id, not by a position")

	_, err = s.Put(ctx, def(t, "platinum", ""), "k")
	require.NoError(t, err)
	_, err = s.Put(ctx, def(t, "gold", naming("platinum")), "k")
	require.NoError(t, err)
	_, err = s.Put(ctx, def(t, "silver", `{"any": [`+naming("gold")+`, {"field": "lookalike.platinum", "op": ">=", "value": 0.8}]}`), "k")
	require.NoError(t, err)

	_, err = s.Put(ctx, def(t, "platinum", naming("silver")), "k")
	require.ErrorIs(t, err, ErrInvalidSet)
	require.ErrorContains(t, err, "form a cycle")
	_, err = s.Put(ctx, def(t, "loner", naming("loner")), "k")
	require.ErrorIs(t, err, ErrInvalidSet)
	require.ErrorContains(t, err, `audiences loner → loner form a cycle`)

	err = s.Delete(ctx, "platinum", "k")
	require.ErrorIs(t, err, ErrReferenced)
	require.ErrorContains(t, err, `"platinum" is named by "gold", "silver"`, "as a member and as a lookalike's seed")
	err = s.Delete(ctx, "gold", "k")
	require.ErrorIs(t, err, ErrReferenced)
	require.ErrorContains(t, err, `"gold" is named by "silver"`)

	require.NoError(t, s.Delete(ctx, "silver", "k"))
	require.NoError(t, s.Delete(ctx, "gold", "k"))
	require.NoError(t, s.Delete(ctx, "platinum", "k"))
	all, err := s.List(ctx)
	require.NoError(t, err)
	require.Empty(t, all)
}

// The set is bounded: a definition's JSON, the number of definitions and their JSON together.
func TestBounds(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	values := make([]string, 100)
	for i := range values {
		values[i] = fmt.Sprintf("%q", strings.Repeat(string(rune('a'+i%26)), 250)+fmt.Sprint(i))
	}
	list := "[" + strings.Join(values, ",") + "]"
	big := def(t, "big", `{"any": [{"field": "traits.a", "op": "in", "value": `+list+`}, {"field": "traits.b", "op": "in", "value": `+list+`}]}`)
	_, err := s.Put(ctx, big, "k")
	require.ErrorIs(t, err, ErrTooLarge)
	require.ErrorContains(t, err, "at most 32768")

	s.maxAudiences = 3
	for _, id := range []string{"a", "b", "c"} {
		_, err := s.Put(ctx, def(t, id, ""), "k")
		require.NoError(t, err)
	}
	_, err = s.Put(ctx, def(t, "d", ""), "k")
	require.ErrorIs(t, err, ErrTooMany)
	require.ErrorContains(t, err, "3 are defined, at most 3")
	_, err = s.Put(ctx, def(t, "c", naming("a")), "k")
	require.NoError(t, err, "a replacement takes no room")

	s.maxAudiences, s.maxSetBytes = MaxAudiences, 400
	_, err = s.Put(ctx, def(t, "e", `{"field": "traits.note", "op": "==", "value": "`+strings.Repeat("x", 200)+`"}`), "k")
	require.ErrorIs(t, err, ErrTooMany)
	require.ErrorContains(t, err, "bytes of JSON together, at most 400")
}

// Two writers that each make a valid change, which together would form a cycle, cannot both
// succeed: whichever commits second finds the set moved on (ErrChanged), and on repeating finds
// the cycle. The set stays valid.
func TestConcurrentPutsFormingACycle(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for round := range 8 {
		a, b := fmt.Sprintf("a-%d", round), fmt.Sprintf("b-%d", round)
		for _, id := range []string{a, b} {
			_, err := s.Put(ctx, def(t, id, ""), "k")
			require.NoError(t, err)
		}
		start := make(chan struct{})
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, d := range []audience.Definition{def(t, a, naming(b)), def(t, b, naming(a))} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, errs[i] = s.Put(ctx, d, fmt.Sprint("k", i))
			}()
		}
		close(start)
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case errors.Is(err, ErrChanged), errors.Is(err, ErrInvalidSet):
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		require.LessOrEqual(t, won, 1, "round %d: both changes were written: %v", round, errs)
		all, err := s.List(ctx)
		require.NoError(t, err)
		var defs []audience.Definition
		for _, st := range all {
			defs = append(defs, st.Definition)
		}
		require.NoError(t, audience.ValidateSet(defs), "round %d", round)
	}
}

// The race made certain: a write between another's read and its commit makes the other's commit
// fail with ErrChanged, and nothing of it is written; repeated, it is checked against the set as
// it now is.
func TestALostRaceIsErrChanged(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, id := range []string{"a", "b"} {
		_, err := s.Put(ctx, def(t, id, ""), "k")
		require.NoError(t, err)
	}
	other := *s
	racer := s.WithClock(s.now)
	racer.beforeCommit = func() {
		_, err := other.Put(ctx, def(t, "b", naming("a")), "k-other")
		require.NoError(t, err)
	}
	_, err := racer.Put(ctx, def(t, "a", naming("b")), "k-racer")
	require.ErrorIs(t, err, ErrChanged)
	got, err := s.Get(ctx, "a")
	require.NoError(t, err)
	require.Equal(t, 1, got.Version, "the loser wrote nothing")
	racer.beforeCommit = nil
	_, err = racer.Put(ctx, def(t, "a", naming("b")), "k-racer")
	require.ErrorIs(t, err, ErrInvalidSet, "repeated, it meets the winner's change")
	require.ErrorContains(t, err, "form a cycle")

	// A removal races a definition that comes to name what it removes.
	_, err = s.Put(ctx, def(t, "c", ""), "k")
	require.NoError(t, err)
	racer.beforeCommit = func() {
		_, err := other.Put(ctx, def(t, "d", naming("c")), "k-other")
		require.NoError(t, err)
	}
	require.ErrorIs(t, racer.Delete(ctx, "c", "k-racer"), ErrChanged)
	racer.beforeCommit = nil
	err = racer.Delete(ctx, "c", "k-racer")
	require.ErrorIs(t, err, ErrReferenced)
	require.ErrorContains(t, err, `named by "d"`)
	_, err = s.Get(ctx, "c")
	require.NoError(t, err, "still there")
}

// Version moves with every change, and Current gives the definitions with the version they are
// read at: what recording's cache of the definitions checks and reads.
func TestVersionAndCurrent(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	v, err := s.Version(ctx)
	require.NoError(t, err)
	require.Zero(t, v, "never defined")
	v, defs, _, err := s.Current(ctx)
	require.NoError(t, err)
	require.Zero(t, v)
	require.Empty(t, defs)

	_, err = s.Put(ctx, def(t, "vip", ""), "key_1")
	require.NoError(t, err)
	_, err = s.Put(ctx, def(t, "all", ""), "key_1")
	require.NoError(t, err)
	v, err = s.Version(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, v)
	v, defs, _, err = s.Current(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, v)
	require.Equal(t, []string{"all", "vip"}, []string{defs[0].ID, defs[1].ID})

	require.NoError(t, s.Delete(ctx, "all", "key_1"))
	v, defs, _, err = s.Current(ctx)
	require.NoError(t, err)
	require.Equal(t, 3, v)
	require.Len(t, defs, 1)
}

// Computed traits are kept beside the audiences, under the same version: an audience cannot name
// a trait that is not defined, nor a trait an audience reads be removed.
func TestComputedTraits(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	views, err := computed.Parse([]byte(`{"id": "views-30d", "name": "Views", "event": "Product Viewed", "aggregate": "count", "within": "30d"}`))
	require.NoError(t, err)
	reader := def(t, "browsers", `{"field": "computed.views-30d", "op": ">=", "value": 3}`)

	_, err = s.Put(ctx, reader, "key_1")
	require.ErrorIs(t, err, ErrInvalidSet, "a trait not defined")
	require.ErrorContains(t, err, "computed.views-30d")

	created, err := s.PutTrait(ctx, views, "key_1")
	require.NoError(t, err)
	require.True(t, created)
	v, err := s.Version(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, v, "a trait moves the version recording's cache checks")
	_, err = s.Put(ctx, reader, "key_1")
	require.NoError(t, err)

	v, auds, traits, err := s.Current(ctx)
	require.NoError(t, err)
	require.Equal(t, 2, v)
	require.Len(t, auds, 1)
	require.Equal(t, []string{"views-30d"}, []string{traits[0].ID})

	views.Name = "Views, last 30 days"
	created, err = s.PutTrait(ctx, views, "key_2")
	require.NoError(t, err)
	require.False(t, created)
	got, err := s.Trait(ctx, "views-30d")
	require.NoError(t, err)
	require.Equal(t, "Views, last 30 days", got.Name)

	require.ErrorIs(t, s.DeleteTrait(ctx, "views-30d", "key_1"), ErrReferenced)
	require.ErrorIs(t, s.DeleteTrait(ctx, "nope", "key_1"), ErrTraitNotFound)
	require.NoError(t, s.Delete(ctx, "browsers", "key_1"))
	require.NoError(t, s.DeleteTrait(ctx, "views-30d", "key_1"))
	all, err := s.Traits(ctx)
	require.NoError(t, err)
	require.Empty(t, all)
}

// Each part of a scoring run adds its counts once; a run is whole when every part has.
func TestSizes(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	run := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	require.NoError(t, s.RecordSizes(ctx, run, 0, 2, map[string]int64{"vip": 3, "all": 10}))
	sizes, err := s.Sizes(ctx, "vip", 2, run)
	require.NoError(t, err)
	require.Equal(t, []Size{{At: run, Members: 3, Partial: true}}, sizes)

	// The same part again (a retry) adds nothing; the other part completes the run.
	require.NoError(t, s.RecordSizes(ctx, run, 0, 2, map[string]int64{"vip": 3, "all": 10}))
	require.NoError(t, s.RecordSizes(ctx, run, 1, 2, map[string]int64{"vip": 2, "all": 7}))
	next := run.Add(time.Hour)
	require.NoError(t, s.RecordSizes(ctx, next, 0, 1, map[string]int64{"vip": 4}))
	yesterday := run.AddDate(0, 0, -1)
	require.NoError(t, s.RecordSizes(ctx, yesterday, 0, 1, map[string]int64{"vip": 1}))

	sizes, err = s.Sizes(ctx, "vip", 2, next)
	require.NoError(t, err)
	require.Equal(t, []Size{{At: yesterday, Members: 1}, {At: run, Members: 5}, {At: next, Members: 4}}, sizes)
	sizes, err = s.Sizes(ctx, "all", 1, next)
	require.NoError(t, err)
	require.Equal(t, []Size{{At: run, Members: 17}, {At: next, Members: 0}}, sizes, "an audience no part counted has none")
}
