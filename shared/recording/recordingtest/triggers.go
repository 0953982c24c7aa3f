package recordingtest

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/trigger"
)

// triggerFixture is a fixture whose clock starts at T0, when the tests' events begin.
func triggerFixture(t *testing.T, ns NewStorage) Fixture {
	f := New(t, ns)
	f.Clock.Set(T0)
	return f
}

func (f Fixture) setMin(m int) { f.Clock.Set(At(m)) }

func recordingKeepsTheDueTime(t *testing.T, ns NewStorage) {
	f := triggerFixture(t, ns)
	id := f.Record(t, Cart("m1", "a-1", "tent", 0))[0].ProfileID
	require.Equal(t, At(60), f.Stored(t, id).DueAt, "an hour after the basket")
	require.Empty(t, f.Due(t, At(59)))
	require.Equal(t, []string{id}, f.Due(t, At(60)))

	// Still on the site: the basket falls due an hour after the last activity.
	f.setMin(20)
	f.Record(t, Page("m2", "a-1", 20))
	require.Equal(t, At(80), f.Stored(t, id).DueAt)
	require.Empty(t, f.Due(t, At(60)))

	// An order closes the basket: nothing can fire, and the profile leaves the index.
	f.setMin(30)
	f.Record(t, Order("m3", "a-1", "", 30))
	require.True(t, f.Stored(t, id).DueAt.IsZero())
	require.Empty(t, f.Due(t, At(24*60)))

	// Without a marketing answer nothing can fire: never in the index.
	f.setMin(40)
	a := Cart("m4", "a-2", "tent", 40)
	a.Consent = nil
	other := f.Record(t, a)[0].ProfileID
	require.True(t, f.Stored(t, other).DueAt.IsZero())

	// Consent given through the profile API puts the basket in the index at once.
	_, _, err := f.SetConsent(context.Background(), other, Marketing)
	require.NoError(t, err)
	require.Equal(t, At(100), f.Stored(t, other).DueAt)
}

func fireRecordsOncePerEpisode(t *testing.T, ns NewStorage) {
	f := triggerFixture(t, ns)
	ctx := context.Background()
	id := f.Record(t, Cart("m1", "a-1", "tent", 0))[0].ProfileID

	early, err := f.Fire(ctx, id, At(59))
	require.NoError(t, err)
	require.Empty(t, early.Fired)
	require.NoError(t, f.SaveFired(ctx, early), "nothing to record")
	require.Equal(t, 1, f.Stored(t, id).Version, "a look that changes nothing writes nothing")

	// Two runs read the profile at once: both see the basket, one records.
	a, err := f.Fire(ctx, id, At(61))
	require.NoError(t, err)
	b, err := f.Fire(ctx, id, At(62))
	require.NoError(t, err)
	require.Len(t, a.Fired, 1)
	require.Equal(t, trigger.AbandonedBasket, a.Fired[0].Kind)
	require.Equal(t, a.Fired[0].Key, b.Fired[0].Key, "the same episode")
	require.NoError(t, f.SaveFired(ctx, a))
	require.ErrorIs(t, f.SaveFired(ctx, b), recording.ErrChanged)

	r := f.Stored(t, id)
	require.Equal(t, 2, r.Version)
	require.Equal(t, trigger.State{{Kind: trigger.AbandonedBasket, Key: a.Fired[0].Key, At: At(61)}}, r.Fired)
	require.True(t, r.DueAt.IsZero(), "nothing else can fire")
	require.True(t, a.Next.IsZero())
	again, err := f.Fire(ctx, id, At(120))
	require.NoError(t, err)
	require.Empty(t, again.Fired)

	// Recording reads the fired state: the basket changed again is held back by the cooldown, so
	// it falls due a day after the first fired, not an hour after the change.
	f.setMin(180)
	f.Record(t, Cart("m2", "a-1", "stove", 180))
	require.Equal(t, At(61+24*60), f.Stored(t, id).DueAt)
	require.Equal(t, 3, f.Stored(t, id).Version, "recording builds on the version SaveFired wrote")
}

func mergedAndErasedProfilesLeaveTheIndex(t *testing.T, ns NewStorage) {
	f := triggerFixture(t, ns)
	ctx := context.Background()
	// A visitor starts a form and fills a basket anonymously; the form's trigger fires, the
	// basket's is pending. Then the visitor logs in on a profile of its own (a user id seen on
	// another device, with a basket too) and the two merge.
	form := Track("m1", "a-1", "", 0)
	form.Event, form.FormID, form.Consent = "Form Started", "quote", Marketing
	anon := f.Record(t, form)[0].ProfileID
	f.setMin(10)
	f.Record(t, Cart("m2", "a-1", "tent", 10))
	fired, err := f.Fire(ctx, anon, At(40))
	require.NoError(t, err)
	require.Len(t, fired.Fired, 1)
	require.Equal(t, trigger.AbandonedForm, fired.Fired[0].Kind)
	require.NoError(t, f.SaveFired(ctx, fired))
	require.Equal(t, At(70), f.Stored(t, anon).DueAt, "the basket is pending")

	f.setMin(62)
	userCart := Cart("m3", "a-2", "stove", 62)
	userCart.UserID = "u-1"
	user := f.Record(t, userCart)[0].ProfileID
	require.False(t, f.Stored(t, user).DueAt.IsZero())
	f.setMin(63)
	rs := f.Record(t, Identify("m4", "a-1", "u-1", 63, nil))
	require.NotEmpty(t, rs[0].Merged)
	live := rs[0].ProfileID
	merged := anon
	if live == anon {
		merged = user
	}
	m := f.Stored(t, merged)
	require.NotEmpty(t, m.Profile.MergedInto)
	require.True(t, m.DueAt.IsZero(), "the merged profile left the index")
	l := f.Stored(t, live)
	require.False(t, l.DueAt.IsZero())
	require.Contains(t, l.Fired, trigger.Fired{Kind: trigger.AbandonedForm, Key: fired.Fired[0].Key, At: At(40)},
		"the live profile knows what fired for the merged one")
	require.Equal(t, []string{live}, f.Due(t, At(10*24*60)))

	// A merged profile left in the index (by an earlier version of the rules) is taken out when
	// it comes up.
	f.Rewrite(t, merged, func(r *recording.Record) { r.DueAt = At(64) })
	gone, err := f.Fire(ctx, merged, At(70))
	require.NoError(t, err)
	require.Empty(t, gone.Fired)
	require.NoError(t, f.SaveFired(ctx, gone))
	require.True(t, f.Stored(t, merged).DueAt.IsZero())

	// Erased: the profile and its entry are gone.
	_, err = f.Erase(ctx, live)
	require.NoError(t, err)
	require.Empty(t, f.Due(t, At(10*24*60)))
	nothing, err := f.Fire(ctx, live, At(200))
	require.NoError(t, err)
	require.Empty(t, nothing.Fired)
	require.NoError(t, f.SaveFired(ctx, nothing))
}

func fireLeavesAnErasureUnderWayAlone(t *testing.T, ns NewStorage) {
	f := triggerFixture(t, ns)
	ctx := context.Background()
	id := f.Record(t, Cart("m1", "a-1", "tent", 0))[0].ProfileID
	// The erasure marked the profile and stopped.
	f.Rewrite(t, id, func(r *recording.Record) { r.ErasedAt = At(5) })
	fr, err := f.Fire(ctx, id, At(120))
	require.NoError(t, err)
	require.Empty(t, fr.Fired)
	require.NoError(t, f.SaveFired(ctx, fr))
	after := f.Stored(t, id)
	require.True(t, after.DueAt.IsZero())
	require.Equal(t, At(5), after.ErasedAt, "still marked for the erasure to finish")
	_, err = f.Profile(ctx, id)
	require.ErrorIs(t, err, profile.ErrNotFound)
}

func dueStopsOnError(t *testing.T, ns NewStorage) {
	f := triggerFixture(t, ns)
	for i, anon := range []string{"a-1", "a-2", "a-3"} {
		f.setMin(i)
		f.Record(t, Cart("m"+anon, anon, "tent", i))
	}
	err := f.Engine.Due(context.Background(), At(24*60), func(context.Context, string) error { return errStop })
	require.ErrorIs(t, err, errStop)
	require.Len(t, f.Due(t, At(24*60)), 3)
}
