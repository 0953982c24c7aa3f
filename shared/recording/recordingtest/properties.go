package recordingtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// The property tests below deliver random populations of visitors the way the stream does: each
// visitor's events in order on one of two shards, the two shards recorded concurrently, batches
// delivered at least once (a batch, or the start of one, may come again at any later point), and
// the same event sent twice by its client. After it, the stored graph and profiles must satisfy:
//
//   - every identifier resolves to exactly one live profile (Engine.CheckInvariants);
//   - each profile's aggregates equal a recomputation (profile.Apply, in time order) from the
//     distinct events the rules of package identity put on it;
//   - delivering everything again changes no item.
//
// The rules the expectation follows (package identity): a device's anonymous events and the events
// it sends with the user id it identified as first end on that user's profile; events it sends
// later with another user id go to that user's profile, the device staying with the first; a
// device that never identifies keeps a profile of its own; events with only a user id go to that
// user's profile.

// genEvent is one generated event and the shard its visitor's events travel on.
type genEvent struct {
	act     profile.Activity
	claims  recording.Claims // hashed emails: from a browser (untrusted) or a server (trusted)
	visitor string
	device  string // the device (anonymous id) it came from, "" for a server-side user-only event
}

// population is a generated workload: what each shard delivers, batch by batch, and the distinct
// events by message id.
type population struct {
	deliveries [2][][]genEvent
	batches    [2][][]genEvent // each shard's batches once, in order
	events     []genEvent      // distinct events, in stream order per visitor
	devices    []string
	users      []string
}

// generate makes a population. With chaos, any event may carry any user's email, from a browser
// or a server, before or after its device identified: where such emails end depends on the
// order of delivery, so only what holds for every order can be checked.
func generate(r *rand.Rand, prefix string, chaos bool) population {
	var pop population
	minutes := r.Perm(5000) // distinct event times, in random order: events arrive out of order
	next := 0
	msg := 0
	newAct := func(typ, anon, user string) profile.Activity {
		msg++
		a := profile.Activity{MessageID: fmt.Sprintf("%s-m%d", prefix, msg), Type: typ, AnonymousID: anon, UserID: user,
			At: T0.Add(time.Duration(minutes[next]) * time.Minute)}
		next++
		switch typ {
		case beacon.Page:
			a.Page, a.Engaged = fmt.Sprintf("/p%d", r.IntN(4)), r.IntN(3)*10
		case beacon.Track:
			a.Event = "Clicked"
			switch r.IntN(6) {
			case 0, 1: // an email open: an impression, not a visit
				a.Event, a.Impression, a.Channel = "Email Opened", profile.ImpressionOpen, beacon.ChannelEmail
				a.Campaign = profile.Campaign{Name: fmt.Sprintf("c%d", r.IntN(3))}
			case 2: // an order, online or in a store, its id now and then reported twice
				a.Event, a.OrderID, a.Revenue = "Order Completed", fmt.Sprintf("%s-o%d", prefix, r.IntN(8)), float64(10+5*r.IntN(3))
				if r.IntN(2) == 0 {
					a.SalesChannel, a.Store = "store", fmt.Sprintf("s%d", r.IntN(2))
				}
			case 3: // a return
				a.Event, a.OrderID, a.Revenue = "Order Refunded", fmt.Sprintf("%s-o%d", prefix, r.IntN(8)), 5
			case 4: // a service case opened, updated or closed
				a.Event = []string{"Case Opened", "Case Updated", "Case Closed"}[r.IntN(3)]
				status := map[string]string{"Case Opened": profile.CaseOpen, "Case Closed": profile.CaseClosed}[a.Event]
				a.Case = &profile.CaseActivity{ID: fmt.Sprintf("%s-c%d", prefix, r.IntN(3)), Status: status, Topic: []string{"", "delivery", "refund"}[r.IntN(3)]}
			}
		case beacon.Identify:
			a.Traits = map[string]any{"plan": fmt.Sprintf("plan-%d", r.IntN(5))}
		case beacon.Alias:
			a.AnonymousID, a.PreviousID = "", anon
		}
		return a
	}
	streams := map[string][]genEvent{} // by visitor, in stream order
	var visitors []string
	emit := func(visitor, device string, a profile.Activity, c recording.Claims) {
		if _, ok := streams[visitor]; !ok {
			visitors = append(visitors, visitor)
		}
		streams[visitor] = append(streams[visitor], genEvent{act: a, claims: c, visitor: visitor, device: device})
	}
	// A device's events name its own user's email now and then, once it has identified (before,
	// the email would tie the device to whoever sent it first, an order the rules leave open).
	anyEmail := func() recording.Claims {
		if r.IntN(3) != 0 {
			return recording.Claims{}
		}
		return recording.Claims{IDs: []identity.ID{userEmail(pop.users[r.IntN(len(pop.users))])}, Trusted: r.IntN(2) == 0}
	}
	browserEmail := func(user string) recording.Claims {
		if chaos {
			return anyEmail()
		}
		if user == "" || r.IntN(4) != 0 {
			return recording.Claims{}
		}
		return recording.Claims{IDs: []identity.ID{userEmail(user)}}
	}
	nUsers := 3 + r.IntN(4)
	for u := range nUsers {
		pop.users = append(pop.users, fmt.Sprintf("%s-u%d", prefix, u))
	}
	device := func(name, user string) {
		pop.devices = append(pop.devices, name)
		identified := user == "" // a stranger never identifies
		for range 3 + r.IntN(8) {
			switch k := r.IntN(10); {
			case user != "" && !identified && k < 3, user != "" && identified && k == 0:
				typ := beacon.Identify
				if r.IntN(4) == 0 {
					typ = beacon.Alias
				}
				who := user
				if identified && r.IntN(3) == 0 {
					who = pop.users[r.IntN(nUsers)] // a shared device: someone else logs in on it
				}
				c := recording.Claims{}
				if who == user {
					c = browserEmail(user)
				}
				emit(name, name, newAct(typ, name, who), c)
				identified = true
			default:
				typ := beacon.Page
				if k >= 7 {
					typ = beacon.Track
				}
				login := ""
				if identified && user != "" && r.IntN(2) == 0 {
					login = user
				}
				c := recording.Claims{}
				if identified || chaos {
					c = browserEmail(user)
				}
				emit(name, name, newAct(typ, name, login), c)
			}
		}
	}
	for u, user := range pop.users {
		for d := range 1 + r.IntN(4) {
			device(fmt.Sprintf("%s-d%d-%d", prefix, u, d), user)
		}
		for range r.IntN(4) { // server-side events naming only the user
			typ := []string{beacon.Track, beacon.Identify, beacon.Page}[r.IntN(3)]
			c := recording.Claims{}
			if r.IntN(2) == 0 {
				c = recording.Claims{IDs: []identity.ID{userEmail(user)}, Trusted: true}
			}
			if chaos {
				c = anyEmail()
			}
			emit(user, "", newAct(typ, "", user), c)
		}
	}
	for s := range r.IntN(3) {
		device(fmt.Sprintf("%s-s%d", prefix, s), "")
	}
	// Clients send some events twice: a copy later in the same visitor's stream.
	for _, v := range visitors {
		st := streams[v]
		for i := range st {
			if r.IntN(8) == 0 {
				at := i + 1 + r.IntN(len(st)-i)
				st = slices.Insert(st, at, st[i])
			}
		}
		streams[v] = st
	}
	seen := map[string]bool{}
	var shard [2][]genEvent
	queues := map[string][]genEvent{}
	var active [2][]string
	for _, v := range visitors {
		for _, e := range streams[v] {
			if !seen[e.act.MessageID] {
				seen[e.act.MessageID] = true
				pop.events = append(pop.events, e)
			}
		}
		queues[v] = streams[v]
		s := r.IntN(2)
		active[s] = append(active[s], v)
	}
	// Each shard interleaves its visitors' streams at random, keeping each visitor's order.
	for s := range 2 {
		for len(active[s]) > 0 {
			i := r.IntN(len(active[s]))
			v := active[s][i]
			shard[s] = append(shard[s], queues[v][0])
			queues[v] = queues[v][1:]
			if len(queues[v]) == 0 {
				active[s] = slices.Delete(active[s], i, i+1)
			}
		}
		for rest := shard[s]; len(rest) > 0; {
			n := min(1+r.IntN(5), len(rest))
			pop.batches[s] = append(pop.batches[s], rest[:n])
			rest = rest[n:]
		}
		// Delivery is at least once: after any batch, an earlier batch, or the start of the one
		// just delivered, may come again.
		for i, b := range pop.batches[s] {
			pop.deliveries[s] = append(pop.deliveries[s], b)
			switch r.IntN(6) {
			case 0:
				pop.deliveries[s] = append(pop.deliveries[s], pop.batches[s][r.IntN(i+1)])
			case 1:
				pop.deliveries[s] = append(pop.deliveries[s], b[:1+r.IntN(len(b))])
			}
		}
	}
	return pop
}

// expected computes, from the distinct events, the profile each owner ends with: "user:<id>" for
// a user, "device:<id>" for a device that never identified. The expectation holds the identifiers
// and the aggregates; its id is the owner key.
func (pop population) expected() (map[string]profile.Profile, map[string]string) {
	first := map[string]string{} // device -> the user it identified as first (stream order)
	for _, e := range pop.events {
		if e.device == "" {
			continue
		}
		if _, ok := first[e.device]; !ok && e.act.UserID != "" {
			first[e.device] = e.act.UserID
		}
	}
	ownerOf := func(e genEvent) string {
		switch {
		case e.act.UserID != "":
			return "user:" + e.act.UserID
		case first[e.device] != "":
			return "user:" + first[e.device]
		}
		return "device:" + e.device
	}
	byOwner := map[string][]profile.Activity{}
	for _, e := range pop.events {
		o := ownerOf(e)
		byOwner[o] = append(byOwner[o], e.act)
	}
	want := map[string]profile.Profile{}
	for o, acts := range byOwner {
		slices.SortFunc(acts, func(a, b profile.Activity) int { return a.At.Compare(b.At) })
		p := profile.Profile{ID: o}
		for _, a := range acts {
			p = profile.Apply(p, a, nil)
		}
		want[o] = p
	}
	devOwner := map[string]string{}
	for _, d := range pop.devices {
		o := "device:" + d
		if u := first[d]; u != "" {
			o = "user:" + u
		}
		devOwner[d] = o
		if _, ok := want[o]; !ok {
			continue // a device with no events
		}
		p := want[o]
		p.AnonymousIDs = append(p.AnonymousIDs, d)
		slices.Sort(p.AnonymousIDs)
		want[o] = p
	}
	for o, p := range want {
		if u, ok := cutPrefix(o, "user:"); ok {
			p.UserID = u
			want[o] = p
		}
	}
	return want, devOwner
}

// userEmail is the hashed email of a generated user.
func userEmail(user string) identity.ID {
	sum := sha256.Sum256([]byte(user + "@example.com"))
	return identity.ID{Kind: identity.EmailSHA256, Value: hex.EncodeToString(sum[:])}
}

// emails are the hashed identifiers each owner's profile must hold.
// Only a user's own events carry its email, so its profile holds exactly the one it was sent.
func (pop population) emails() map[string][]string {
	owner := map[identity.ID]string{}
	for _, u := range pop.users {
		owner[userEmail(u)] = "user:" + u
	}
	out := map[string][]string{}
	for _, e := range pop.events {
		for _, h := range e.claims.IDs {
			out[owner[h]] = []string{h.String()}
		}
	}
	return out
}

func cutPrefix(s, prefix string) (string, bool) {
	if len(s) >= len(prefix) && s[:len(prefix)] == prefix {
		return s[len(prefix):], true
	}
	return s, false
}

// deliver records every delivery of both shards, the two shards concurrently, each batch in one
// RecordAll, as the stitcher does.
func (f Fixture) deliver(t *testing.T, deliveries [2][][]genEvent) (merges int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	merged := make([]int, 2)
	for s := range 2 {
		wg.Go(func() { merged[s], errs[s] = f.deliverShard(deliveries[s]) })
	}
	wg.Wait()
	for s, err := range errs {
		require.NoError(t, err, "shard %d", s)
	}
	return merged[0] + merged[1]
}

// deliverShard records a shard's deliveries in order and returns how many merges they made.
func (f Fixture) deliverShard(deliveries [][]genEvent) (int, error) {
	merges := 0
	for _, b := range deliveries {
		in := make([]recording.Input, len(b))
		for i, e := range b {
			in[i] = recording.Input{Activity: e.act, Claims: e.claims}
		}
		for _, o := range f.RecordAll(context.Background(), in) {
			if o.Err != nil {
				return merges, o.Err
			}
			merges += len(o.Merged)
		}
	}
	return merges, nil
}

// SeedEnv fixes the seed of the first random case (the others follow it), to replay a failure.
const SeedEnv = "DCRM_INVARIANT_SEED"

func firstSeed(t *testing.T) uint64 {
	if v := os.Getenv(SeedEnv); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		require.NoError(t, err, "%s must be an unsigned integer", SeedEnv)
		return seed
	}
	return uint64(time.Now().UnixNano())
}

// forEachSeed runs check on cases random cases in parallel, each named by its seed and telling
// how to replay it when it fails.
func forEachSeed(t *testing.T, cases int, check func(t *testing.T, seed uint64)) {
	base := firstSeed(t)
	for i := range uint64(cases) {
		seed := base + i
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			t.Parallel()
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("replay with %s=%d go test -run '%s$'", SeedEnv, seed, t.Name())
				}
			})
			check(t, seed)
		})
	}
}

// Properties runs the property tests on cases random populations each, every case on a fresh
// storage (see the comment above generate).
func Properties(t *testing.T, newStorage NewStorage, cases int) {
	t.Run("InvariantsUnderConcurrentDuplicatedOutOfOrderDelivery", func(t *testing.T) {
		forEachSeed(t, cases, func(t *testing.T, seed uint64) { checkInvariantCase(t, newStorage, seed) })
	})
	t.Run("InvariantsUnderChaos", func(t *testing.T) {
		forEachSeed(t, cases, func(t *testing.T, seed uint64) { checkChaosCase(t, newStorage, seed) })
	})
	t.Run("ErasureUnderConcurrentDelivery", func(t *testing.T) {
		forEachSeed(t, cases, func(t *testing.T, seed uint64) { checkErasureCase(t, newStorage, seed) })
	})
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

func checkInvariantCase(t *testing.T, ns NewStorage, seed uint64) {
	r := newRand(seed)
	pop := generate(r, fmt.Sprintf("c%d", seed%100000), false)
	f := New(t, ns)
	ctx := context.Background()

	merges := f.deliver(t, pop.deliveries)
	require.NoError(t, f.CheckInvariants(ctx))

	want, devOwner := pop.expected()
	emails := pop.emails()
	t.Logf("%d users, %d devices, %d distinct events in %d+%d deliveries, %d merges, %d live profiles expected",
		len(pop.users), len(pop.devices), len(pop.events), len(pop.deliveries[0]), len(pop.deliveries[1]), merges, len(want))
	live := f.LiveProfiles(t)
	require.Len(t, live, len(want), "one live profile per user with events and per device that never identified")
	got := map[string]profile.Profile{} // by owner key
	for _, p := range live {
		key := "user:" + p.UserID
		if p.UserID == "" {
			require.Len(t, p.AnonymousIDs, 1, "an anonymous profile holds one device: %+v", p.AnonymousIDs)
			key = "device:" + p.AnonymousIDs[0]
		}
		_, dup := got[key]
		require.False(t, dup, "two live profiles for %s", key)
		got[key] = p
	}
	for key, w := range want {
		g, ok := got[key]
		require.True(t, ok, "no live profile for %s", key)
		require.Equal(t, w.UserID, g.UserID, key)
		require.Equal(t, w.AnonymousIDs, g.AnonymousIDs, "devices of %s", key)
		require.Equal(t, Aggregates(w), Aggregates(g), "aggregates of %s", key)
		require.Equal(t, w.TraitTimes, g.TraitTimes, "trait times of %s", key)
		require.Equal(t, emails[key], f.Claimed(t, g.ID), "hashed identifiers of %s", key)
	}
	for d, key := range devOwner {
		if _, ok := want[key]; !ok {
			continue
		}
		require.Equal(t, got[key].ID, f.Lookup(t, identity.AnonymousID(d)).ID, "device %s resolves to the profile of %s", d, key)
	}
	for _, u := range pop.users {
		key := "user:" + u
		if _, ok := want[key]; !ok {
			continue
		}
		require.Equal(t, got[key].ID, f.Lookup(t, identity.UserID(u)).ID, "user %s resolves to its profile", u)
	}
	// The history holds each distinct event once.
	require.Len(t, f.Touchpoints(t), len(pop.events))

	// Delivering everything again, and any prefix of it, changes nothing.
	before := f.Snapshot(t)
	again := pop.deliveries
	for s := range 2 {
		again[s] = again[s][:r.IntN(len(again[s])+1)]
	}
	require.Zero(t, f.deliver(t, again), "a replay merged profiles")
	require.Zero(t, f.deliver(t, pop.deliveries), "a replay merged profiles")
	require.Equal(t, before, f.Snapshot(t), "replaying changed stored items")
	require.NoError(t, f.CheckInvariants(ctx))
}

// With chaos (any event may carry any user's email, from a browser or a server, so that one
// anonymous profile may be joined to two users' profiles at once from the two shards), where each
// email ends depends on the order of delivery; what must hold whatever the order: the graph
// invariants, each distinct event counted once on exactly one live profile, each user on one
// profile, and replays changing nothing.
func checkChaosCase(t *testing.T, ns NewStorage, seed uint64) {
	pop := generate(newRand(seed), fmt.Sprintf("x%d", seed%100000), true)
	f := New(t, ns)
	ctx := context.Background()
	f.deliver(t, pop.deliveries)
	require.NoError(t, f.CheckInvariants(ctx))

	events, users := 0, map[string]string{}
	for _, p := range f.LiveProfiles(t) {
		events += p.Counts.Events
		if p.UserID != "" {
			require.NotContains(t, users, p.UserID, "two live profiles of one user")
			users[p.UserID] = p.ID
		}
	}
	require.Equal(t, len(pop.events), events, "each distinct event counted once")
	require.Len(t, f.Touchpoints(t), len(pop.events))
	for _, u := range pop.users {
		if id, ok := users[u]; ok {
			require.Equal(t, id, f.Lookup(t, identity.UserID(u)).ID, "user %s resolves to its profile", u)
		}
	}

	before := f.Snapshot(t)
	require.Zero(t, f.deliver(t, pop.deliveries), "a replay merged profiles")
	require.Equal(t, before, f.Snapshot(t), "replaying changed stored items")
}

// With an erasure of a random person, one step per call, while the second half of the deliveries
// is recorded (events of the person, merges into it, new devices joining it): the erasure
// completes, leaves nothing of the person but tombstones, every identifier the person had when it
// started is sealed and refused, and the graph invariants hold, also after everything is delivered
// again.
func checkErasureCase(t *testing.T, ns NewStorage, seed uint64) {
	r := newRand(seed)
	pop := generate(r, fmt.Sprintf("z%d", seed%100000), r.IntN(2) == 0)
	f := New(t, ns, recording.WithErasureSteps(1+r.IntN(3), time.Hour))
	ctx := context.Background()
	var first, second [2][][]genEvent
	for s := range 2 {
		cut := r.IntN(len(pop.deliveries[s]) + 1)
		first[s], second[s] = pop.deliveries[s][:cut], pop.deliveries[s][cut:]
	}
	require.NoError(t, f.deliverTolerant(first))
	live := f.LiveProfiles(t)
	if len(live) == 0 {
		return
	}
	victim := live[r.IntN(len(live))].ID
	before, err := f.Export(ctx, victim, history.Query{Limit: 1})
	require.NoError(t, err)

	var wg sync.WaitGroup
	var deliverErr error
	wg.Go(func() { deliverErr = f.deliverTolerant(second) })
	short, cancel := context.WithTimeout(ctx, time.Minute) // less than the reserve: one step a call
	defer cancel()
	var e recording.Erasure
	for calls := 0; e.State != recording.ErasureComplete; calls++ {
		require.Less(t, calls, 10000, "the erasure never completes")
		e, err = f.Erase(short, victim)
		require.NoError(t, err)
	}
	wg.Wait()
	require.NoError(t, deliverErr)
	require.NoError(t, f.deliverTolerant(pop.deliveries), "delivering everything again")

	require.NoError(t, f.CheckInvariants(ctx))
	for _, id := range before.Identifiers {
		_, found, err := f.St.Entry(ctx, id, true)
		require.NoError(t, err)
		require.False(t, found, "the entry of %s is gone", id)
		sealed, err := f.St.Tombstoned(ctx, Key.Sum("tombstone", id.String()))
		require.NoError(t, err)
		require.True(t, sealed, "%s is sealed", id)
	}
	for id, rec := range f.Records(t) {
		if rec.ErasedAt.IsZero() {
			continue
		}
		RequireTombstone(t, rec)
		ts, err := f.St.Touchpoints(ctx, id, nil, "", 0)
		require.NoError(t, err)
		require.Empty(t, ts, "history of erased %s", id)
	}
	for _, p := range append([]string{before.Profile.ID}, before.Merged...) {
		require.False(t, f.Stored(t, p).ErasedAt.IsZero(), "%s is erased", p)
	}
}

// deliverTolerant is deliver for deliveries that may carry erased identifiers: events refused
// for good (recording.Permanent) are left out, as the stitcher sets them aside.
func (f Fixture) deliverTolerant(deliveries [2][][]genEvent) error {
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for s := range 2 {
		wg.Go(func() {
			for _, b := range deliveries[s] {
				in := make([]recording.Input, len(b))
				for i, e := range b {
					in[i] = recording.Input{Activity: e.act, Claims: e.claims}
				}
				for _, o := range f.RecordAll(context.Background(), in) {
					if o.Err != nil && !recording.Permanent(o.Err) {
						errs[s] = o.Err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
