// Package recordingtest holds the recording engine's tests, written once against its storage port
// and run against every implementation of it: the in-memory store (package memstore, thousands of
// random cases in seconds) and DynamoDB Local (package profilestore, the integration check). Only
// tests import it.
package recordingtest

import (
	"context"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/hashkey"
	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// NewStorage returns an empty storage for one test.
type NewStorage func(t *testing.T) recording.Storage

var (
	// T0 is the time of the tests' events: minute m is At(m).
	T0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	// Now is the fixed clock of the tests that do not set one.
	Now = time.Date(2025, 3, 2, 8, 0, 0, 0, time.UTC)
)

// Retention is the history retention in tests: long, so that DynamoDB Local's TTL sweeper cannot
// expire what tests with past-dated events wrote.
const Retention = 100 * 365 * 24 * time.Hour

// At is minute m of the tests' timeline.
func At(m int) time.Time { return T0.Add(time.Duration(m) * time.Minute) }

// Clock is a settable clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now reads the clock.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Set sets the clock.
func (c *Clock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

// Fixture is an engine over a fresh storage, with a settable clock (at Now).
type Fixture struct {
	*recording.Engine
	St    recording.Storage
	Clock *Clock
}

// Key is the tests' tombstone key: every fixture seals erased identifiers alike.
var Key = func() hashkey.Key {
	k, err := hashkey.New([]byte("recordingtest: a key of the tests, 32 bytes and more"))
	if err != nil {
		panic(err)
	}
	return k
}()

// New makes a fixture over a fresh storage, with the given engine options after the fixture's own.
func New(t *testing.T, newStorage NewStorage, opts ...recording.Option) Fixture {
	t.Helper()
	st := newStorage(t)
	c := &Clock{t: Now}
	opts = append([]recording.Option{recording.WithClock(c.Now), recording.WithRetention(Retention), recording.WithTombstoneKey(Key)}, opts...)
	return Fixture{Engine: recording.New(st, opts...), St: st, Clock: c}
}

// The events of the tests carry their sender's time, as SDKs and the tracker send it.

// Page is a page view of device anon at minute m.
func Page(id, anon string, m int) profile.Activity {
	return profile.Activity{MessageID: id, Type: beacon.Page, AnonymousID: anon, At: At(m), ClientAt: At(m)}
}

// Track is a track event.
func Track(id, anon, user string, m int) profile.Activity {
	return profile.Activity{MessageID: id, Type: beacon.Track, AnonymousID: anon, UserID: user, At: At(m), ClientAt: At(m)}
}

// Identify is an identify call with traits.
func Identify(id, anon, user string, m int, traits map[string]any) profile.Activity {
	return profile.Activity{MessageID: id, Type: beacon.Identify, AnonymousID: anon, UserID: user, At: At(m), ClientAt: At(m), Traits: traits}
}

// Alias joins previous to user.
func Alias(id, previous, user string, m int) profile.Activity {
	return profile.Activity{MessageID: id, Type: beacon.Alias, PreviousID: previous, UserID: user, At: At(m)}
}

// Order is an order of 20 with id "o-<id>".
func Order(id, anon, user string, m int) profile.Activity {
	a := Track(id, anon, user, m)
	a.Event, a.OrderID, a.Revenue = "Order Completed", "o-"+id, 20
	return a
}

// Marketing is a marketing consent given before the tests' events.
var Marketing = map[string]profile.Consent{profile.PurposeMarketing: {Granted: true, At: At(-60)}}

// Cart puts a product in the basket, with marketing consent.
func Cart(id, anon, product string, m int) profile.Activity {
	a := Track(id, anon, "", m)
	a.Event, a.Products, a.Consent = "Product Added", []profile.Line{{ProductID: product, Quantity: 1, Price: 20}}, Marketing
	return a
}

// Record records activities one by one, failing the test on an error.
func (f Fixture) Record(t *testing.T, acts ...profile.Activity) []recording.Result {
	t.Helper()
	var rs []recording.Result
	for _, a := range acts {
		r, err := f.Engine.Record(context.Background(), a)
		require.NoError(t, err, "record %s", a.MessageID)
		rs = append(rs, r)
	}
	return rs
}

// RecordClaims records an activity with claimed identifiers.
func (f Fixture) RecordClaims(t *testing.T, a profile.Activity, trusted bool, ids ...identity.ID) recording.Result {
	t.Helper()
	r, err := f.Engine.RecordClaims(context.Background(), a, recording.Claims{IDs: ids, Trusted: trusted})
	require.NoError(t, err, "record %s", a.MessageID)
	return r
}

// Lookup finds the live profile of an identifier.
func (f Fixture) Lookup(t *testing.T, id identity.ID) profile.Profile {
	t.Helper()
	p, err := f.Engine.Lookup(context.Background(), id)
	require.NoError(t, err, "lookup %s", id)
	return p
}

// Stored reads a profile record.
func (f Fixture) Stored(t *testing.T, id string) recording.Record {
	t.Helper()
	r, err := f.St.Profile(context.Background(), id, true)
	require.NoError(t, err)
	return r
}

// Rewrite changes a stored profile record behind the engine's back, at the version read (as a
// crash, another writer or an earlier version of the code would have left it).
func (f Fixture) Rewrite(t *testing.T, id string, change func(*recording.Record)) {
	t.Helper()
	r := f.Stored(t, id)
	next := r
	change(&next)
	require.NoError(t, f.St.Commit(context.Background(), recording.Change{Puts: []recording.Put{{Base: r, Next: next}}}))
}

// Entry reads an identifier's entry.
func (f Fixture) Entry(t *testing.T, id identity.ID) recording.Entry {
	t.Helper()
	e, found, err := f.St.Entry(context.Background(), id, true)
	require.NoError(t, err)
	require.True(t, found, "entry of %s", id)
	return e
}

// Records reads every profile record, by id.
func (f Fixture) Records(t *testing.T) map[string]recording.Record {
	t.Helper()
	out := map[string]recording.Record{}
	require.NoError(t, f.St.EachProfile(context.Background(), func(r recording.Record) error {
		out[r.Profile.ID] = r
		return nil
	}))
	return out
}

// Entries reads every identity entry, by identifier, and every tombstone, by "sealed:<sealed form>".
func (f Fixture) Entries(t *testing.T) map[string]recording.Entry {
	t.Helper()
	out := map[string]recording.Entry{}
	require.NoError(t, f.St.EachEntry(context.Background(), func(e recording.Entry) error {
		if e.Sealed != "" {
			out["sealed:"+e.Sealed] = e
		} else {
			out[e.ID.String()] = e
		}
		return nil
	}))
	return out
}

// LiveProfiles reads the live profiles (written, not merged, not erased), sorted by id.
func (f Fixture) LiveProfiles(t *testing.T) []profile.Profile {
	t.Helper()
	var ps []profile.Profile
	for _, r := range f.Records(t) {
		if r.Version > 0 && r.Profile.MergedInto == "" && r.ErasedAt.IsZero() {
			ps = append(ps, r.Profile)
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].ID < ps[j].ID })
	return ps
}

// Touchpoints reads every touchpoint of every stored profile, by message id.
func (f Fixture) Touchpoints(t *testing.T) map[string]history.Touchpoint {
	t.Helper()
	out := map[string]history.Touchpoint{}
	for id := range f.Records(t) {
		ts, err := f.St.Touchpoints(context.Background(), id, nil, "", 0)
		require.NoError(t, err)
		for _, tp := range ts {
			if _, dup := out[tp.MessageID]; dup {
				t.Fatalf("event %s in two histories", tp.MessageID)
			}
			out[tp.MessageID] = tp
		}
	}
	return out
}

// Snapshot is everything stored, for comparisons.
type Snapshot struct {
	Records     map[string]recording.Record
	Entries     map[string]recording.Entry
	Touchpoints map[string]history.Touchpoint
}

// Snapshot reads everything stored.
func (f Fixture) Snapshot(t *testing.T) Snapshot {
	t.Helper()
	return Snapshot{Records: f.Records(t), Entries: f.Entries(t), Touchpoints: f.Touchpoints(t)}
}

// History reads the whole history of a profile page by page.
func (f Fixture) History(t *testing.T, id string, q history.Query) []history.Touchpoint {
	t.Helper()
	var all []history.Touchpoint
	for range 100 {
		page, err := f.Engine.History(context.Background(), id, q)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page.Touchpoints), max(q.Limit, 1))
		all = append(all, page.Touchpoints...)
		if page.Next == "" {
			return all
		}
		q.Cursor = page.Next
	}
	t.Fatal("history does not end")
	return nil
}

// Due lists the profiles due at now, sorted.
func (f Fixture) Due(t *testing.T, now time.Time) []string {
	t.Helper()
	var mu sync.Mutex
	var ids []string
	require.NoError(t, f.Engine.Due(context.Background(), now, func(_ context.Context, id string) error {
		mu.Lock()
		defer mu.Unlock()
		ids = append(ids, id)
		return nil
	}))
	slices.Sort(ids)
	return ids
}

// MessageIDs lists the message ids of touchpoints, in order.
func MessageIDs(ts []history.Touchpoint) []string {
	var ids []string
	for _, tp := range ts {
		ids = append(ids, tp.MessageID)
	}
	return ids
}

// Claimed lists the claimed identifiers stored on a profile, as text.
func (f Fixture) Claimed(t *testing.T, id string) []string {
	t.Helper()
	var out []string
	for _, c := range f.Stored(t, id).Claimed {
		out = append(out, c.String())
	}
	return out
}
