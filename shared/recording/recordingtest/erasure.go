package recordingtest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// person records a customer on two devices whose phone profile merged into the desktop's, with a
// hashed email and a history of n page views besides: it returns the live and the merged profile
// ids and the person's identifiers.
func (f Fixture) person(t *testing.T, n int) (live, merged string, ids []identity.ID) {
	t.Helper()
	live = f.Record(t, Page("p1", "a-desk", 0), Identify("p2", "a-desk", "u-1", 1, map[string]any{"name": "Ann"}))[0].ProfileID
	merged = f.Record(t, Page("p3", "a-phone", 2))[0].ProfileID
	f.RecordClaims(t, Identify("p4", "a-phone", "u-1", 3, nil), true, Email(1))
	for i := range n {
		f.Record(t, Page(fmt.Sprintf("v%d", i), []string{"a-desk", "a-phone"}[i%2], 10+i))
	}
	require.Equal(t, live, f.Lookup(t, identity.AnonymousID("a-phone")).ID)
	return live, merged, []identity.ID{identity.AnonymousID("a-desk"), identity.AnonymousID("a-phone"), identity.UserID("u-1"), Email(1)}
}

// requireErased checks that nothing of the person is left but tombstones of their profiles and
// identifiers, beside the other visitor's profile and the kept identifiers; that the graph's
// invariants hold; and that events carrying the erased identifiers are refused.
func (f Fixture) requireErased(t *testing.T, ids []identity.ID, other string, kept ...identity.ID) {
	t.Helper()
	for id, r := range f.Records(t) {
		if id != other {
			RequireTombstone(t, r)
		}
	}
	for _, tp := range f.Touchpoints(t) {
		require.Equal(t, other, tp.ProfileID, "only the other visitor's history is left")
	}
	RequireSealed(t, f.Entries(t), ids, kept...)
	require.NoError(t, f.CheckInvariants(context.Background()))
	for _, id := range ids {
		_, err := f.Engine.RecordClaims(context.Background(), Identify("after-"+id.Value, "a-new", "", 90, nil),
			recording.Claims{IDs: []identity.ID{id}, Trusted: true})
		if id.Kind == identity.Anonymous {
			_, err = f.Engine.Record(context.Background(), Page("after-"+id.Value, id.Value, 90))
		}
		require.ErrorIs(t, err, recording.ErrErased, "an event carrying %s is refused", id)
	}
}

// An erasure short of time does one step per call and says how far it got; each call goes on
// where the last stopped, by any of the person's profile ids; the person is unreachable from the
// first call on, and erasing a completed erasure answers it.
func erasureResumesStepByStep(t *testing.T, ns NewStorage) {
	f := New(t, ns, recording.WithErasureSteps(3, time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // less than the reserve: one step a call
	defer cancel()
	live, merged, ids := f.person(t, 8)
	other := f.Record(t, Page("x1", "a-other", 5))[0].ProfileID

	var last recording.Erasure
	calls := 0
	for ; calls < 50; calls++ {
		by := []string{live, merged}[calls%2]
		e, err := f.Erase(ctx, by)
		require.NoError(t, err, "call %d", calls)
		require.Equal(t, live, e.ProfileID)
		require.Equal(t, Now, e.StartedAt)
		require.GreaterOrEqual(t, e.Touchpoints, last.Touchpoints, "progress only grows")
		require.GreaterOrEqual(t, e.Identifiers, last.Identifiers)
		require.GreaterOrEqual(t, e.Profiles, last.Profiles)
		last = e
		if e.State == recording.ErasureComplete {
			break
		}
		require.Equal(t, recording.ErasureInProgress, e.State)
		require.Zero(t, e.CompletedAt)
		_, err = f.Profile(ctx, by)
		require.ErrorIs(t, err, profile.ErrNotFound, "a person being erased is not served")
		_, err = f.Engine.Record(ctx, Page(fmt.Sprintf("during%d", calls), "a-phone", 60))
		require.ErrorIs(t, err, recording.ErrErased, "nor recorded")
	}
	require.Greater(t, calls, 4, "the erasure took several calls")
	require.Equal(t, recording.Erasure{ProfileID: live, State: recording.ErasureComplete, StartedAt: Now, CompletedAt: Now,
		Profiles: 2, Identifiers: 4, Touchpoints: 12}, last)
	f.requireErased(t, ids, other, identity.AnonymousID("a-other"))
	for _, id := range []string{live, merged} {
		again, err := f.Erase(ctx, id)
		require.NoError(t, err)
		require.Equal(t, last, again, "a completed erasure answers what it did")
	}
}

// crashing is a storage whose writes fail from the n-th on, as if the process stopped there.
type crashing struct {
	recording.Storage
	left *atomic.Int64
}

var errCrash = errors.New("the process stopped here")

func (c crashing) write() error {
	if c.left.Add(-1) < 0 {
		return errCrash
	}
	return nil
}

func (c crashing) Commit(ctx context.Context, ch recording.Change) error {
	if err := c.write(); err != nil {
		return err
	}
	return c.Storage.Commit(ctx, ch)
}

func (c crashing) Bury(ctx context.Context, id string, at time.Time, p recording.Progress) error {
	if err := c.write(); err != nil {
		return err
	}
	return c.Storage.Bury(ctx, id, at, p)
}

func (c crashing) Tombstone(ctx context.Context, id identity.ID, sealed string, at time.Time, ifProfile string) error {
	if err := c.write(); err != nil {
		return err
	}
	return c.Storage.Tombstone(ctx, id, sealed, at, ifProfile)
}

func (c crashing) Claim(ctx context.Context, id identity.ID, profileID string, at time.Time) error {
	if err := c.write(); err != nil {
		return err
	}
	return c.Storage.Claim(ctx, id, profileID, at)
}

func (c crashing) Move(ctx context.Context, m recording.Move) error {
	if err := c.write(); err != nil {
		return err
	}
	return c.Storage.Move(ctx, m)
}

func (c crashing) Delete(ctx context.Context, keys []history.Key) (int, error) {
	if err := c.write(); err != nil {
		return 0, err
	}
	return c.Storage.Delete(ctx, keys)
}

// An erasure that stops after any of its writes is finished by the next call, by either of the
// person's profile ids, and leaves the same as one that never stopped.
func erasureStoppedAnywhereIsFinished(t *testing.T, ns NewStorage) {
	for crashAfter := 0; ; crashAfter++ {
		f := New(t, ns, recording.WithErasureSteps(2, 0))
		live, merged, ids := f.person(t, 3)
		other := f.Record(t, Page("x1", "a-other", 5))[0].ProfileID
		left := &atomic.Int64{}
		left.Store(int64(crashAfter))
		stopping := recording.New(crashing{f.St, left}, recording.WithClock(f.Clock.Now), recording.WithTombstoneKey(Key), recording.WithErasureSteps(2, 0))
		_, err := stopping.Erase(context.Background(), live)
		if err == nil {
			require.Greater(t, crashAfter, 5, "an erasure writes more than that")
			return // it never stopped: every place was tried
		}
		require.ErrorIs(t, err, errCrash)
		e, err := f.Erase(context.Background(), []string{live, merged}[crashAfter%2])
		require.NoError(t, err, "after %d writes", crashAfter)
		require.Equal(t, recording.ErasureComplete, e.State, "after %d writes", crashAfter)
		require.Equal(t, live, e.ProfileID)
		require.Equal(t, 2, e.Profiles, "after %d writes", crashAfter)
		f.requireErased(t, ids, other, identity.AnonymousID("a-other"))
		if t.Failed() {
			return
		}
	}
}

// A profile claimed for a merge when its erasure starts is merged first, and erased with the
// profile it joins: the person is both. A merge claimed into a person being erased is refused and
// undone: the other profile stays as it was.
func erasureOfAProfileClaimedForAMerge(t *testing.T, ns NewStorage) {
	ctx := context.Background()
	t.Run("the erased profile is joining another", func(t *testing.T) {
		f := New(t, ns)
		rs := f.Record(t, Identify("m1", "A1", "U", 0, nil), Page("m2", "A2", 5))
		known, anon := rs[0].ProfileID, rs[1].ProfileID
		f.claimForMerge(t, anon, known, identity.AnonymousID("A2"))
		e, err := f.Erase(ctx, anon)
		require.NoError(t, err)
		require.Equal(t, known, e.ProfileID, "the merge ended first: the person is the profile it joined")
		require.Equal(t, recording.ErasureComplete, e.State)
		require.Equal(t, 2, e.Profiles)
		f.requireErased(t, []identity.ID{identity.AnonymousID("A1"), identity.AnonymousID("A2"), identity.UserID("U")}, "")
	})
	t.Run("another profile is joining the erased one", func(t *testing.T) {
		f := New(t, ns)
		rs := f.Record(t, Identify("m1", "A1", "U", 0, nil), Page("m2", "A2", 5), Page("x1", "a-other", 6))
		known, anon := rs[0].ProfileID, rs[1].ProfileID
		f.claimForMerge(t, anon, known, identity.AnonymousID("A2"))
		e, err := f.Erase(ctx, known)
		require.NoError(t, err)
		require.Equal(t, recording.ErasureComplete, e.State)
		require.Equal(t, 1, e.Profiles, "the profile claimed into it had not joined it")

		r := f.Record(t, Page("m3", "A2", 7))[0]
		require.Equal(t, anon, r.ProfileID, "the claim is undone: A2 is its own profile's again")
		require.Empty(t, r.Merged)
		require.Equal(t, 2, f.Lookup(t, identity.AnonymousID("A2")).Counts.Events)
		require.Empty(t, f.Stored(t, anon).MergingInto)
		require.NoError(t, f.CheckInvariants(ctx))
		_, err = f.Engine.Record(ctx, Identify("m4", "A2", "U", 8, nil))
		require.ErrorIs(t, err, recording.ErrErased, "an event joining it to the erased person is refused")
	})
}

// An operator lifts the tombstone of an identifier whose person came back with consent: it is
// recorded again, on a new profile; the other tombstones stay.
func liftedTombstoneRecordsAgain(t *testing.T, ns NewStorage) {
	ctx := context.Background()
	f := New(t, ns)
	live, _, _ := f.person(t, 0)
	_, err := f.Erase(ctx, live)
	require.NoError(t, err)

	lifted, err := f.Lift(ctx, identity.UserID("u-1"))
	require.NoError(t, err)
	require.True(t, lifted)
	lifted, err = f.Lift(ctx, identity.UserID("u-1"))
	require.NoError(t, err)
	require.False(t, lifted, "lifted already")

	r := f.Record(t, Identify("back", "a-new", "u-1", 100, nil))[0]
	require.True(t, r.Created)
	require.NotEqual(t, live, r.ProfileID)
	p := f.Lookup(t, identity.UserID("u-1"))
	require.Equal(t, 1, p.Counts.Events, "nothing of before comes back")
	_, err = f.Engine.Record(ctx, Page("old-device", "a-desk", 101))
	require.ErrorIs(t, err, recording.ErrErased, "the identifiers not lifted are still refused")
	require.NoError(t, f.CheckInvariants(ctx))
}

// A split reads the history it divides at once: a person whose history holds more events than
// the split limit is refused with ErrTooLong, and nothing changes.
func splitOfAHistoryTooLongIsRefused(t *testing.T, ns NewStorage) {
	f := New(t, ns, recording.WithSplitLimit(4))
	live, merged, _ := f.person(t, 4)
	before := f.Snapshot(t)
	_, err := f.Split(context.Background(), live, merged)
	require.ErrorIs(t, err, recording.ErrTooLong)
	require.Equal(t, before, f.Snapshot(t))

	f = New(t, ns, recording.WithSplitLimit(40))
	live, merged, _ = f.person(t, 4)
	_, err = f.Split(context.Background(), live, merged)
	require.NoError(t, err, "under the limit it splits")
}

// The errors of recording and erasure reach the functions' logs: they name an identifier by its
// kind, never by its value, whatever write fails and whatever refuses the event.
func errorsNameNoIdentifier(t *testing.T, ns NewStorage) {
	secret := []string{"secret-device-1", "secret-device-2", "secret-user-1", Email(9).Value}
	check := func(err error) {
		t.Helper()
		if err == nil {
			return
		}
		for _, v := range secret {
			require.NotContains(t, err.Error(), v)
		}
	}
	events := func() []recording.Input {
		return []recording.Input{
			{Activity: Page("s1", "secret-device-1", 0)},
			{Activity: Page("s2", "secret-device-2", 1)},
			{Activity: Identify("s3", "secret-device-2", "secret-user-1", 2, nil), Claims: recording.Claims{IDs: []identity.ID{Email(9)}, Trusted: true}},
			{Activity: Identify("s4", "secret-device-1", "secret-user-1", 3, nil)},
		}
	}
	for crashAfter := 0; ; crashAfter++ {
		f := New(t, ns)
		left := &atomic.Int64{}
		left.Store(int64(crashAfter))
		failing := recording.New(crashing{f.St, left}, recording.WithClock(f.Clock.Now), recording.WithTombstoneKey(Key))
		crashed := false
		for _, o := range failing.RecordAll(context.Background(), events()) {
			check(o.Err)
			crashed = crashed || errors.Is(o.Err, errCrash)
		}
		for _, o := range f.RecordAll(context.Background(), events()) {
			require.NoError(t, o.Err)
		}
		p := f.Lookup(t, identity.UserID("secret-user-1"))
		left.Store(int64(crashAfter))
		_, err := failing.Erase(context.Background(), p.ID)
		check(err)
		crashed = crashed || errors.Is(err, errCrash)
		_, err = f.Erase(context.Background(), p.ID)
		require.NoError(t, err)
		for _, o := range f.RecordAll(context.Background(), events()) {
			require.ErrorIs(t, o.Err, recording.ErrErased)
			check(o.Err)
		}
		_, err = f.Engine.Lookup(context.Background(), identity.UserID("secret-user-1"))
		require.ErrorIs(t, err, profile.ErrNotFound)
		check(err)
		if !crashed {
			return // every write has failed once
		}
	}
}
