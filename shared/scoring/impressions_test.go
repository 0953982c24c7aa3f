package scoring

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/calendar"
	"github.com/dcrm-project/dcrm/shared/lapse"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// Opening emails is not web engagement: the engagement variant, and the lapse risk, read the
// visits alone, and someone only ever reached by email is no visitor.
func TestImpressionsAreNotEngagement(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 9, 0, 0, 0, time.UTC)
	var p profile.Profile
	p.ID = "prf_1"
	apply := func(e beacon.Event, at time.Time) {
		e.MessageID, e.AnonymousID, e.Timestamp = fmt.Sprint("m", p.Counts.Events), "A", at
		a, err := profile.FromEvent(e)
		require.NoError(t, err)
		p = profile.Apply(p, a, nil)
	}
	for d := range 8 { // weekly visits for two months
		apply(beacon.Event{Type: beacon.Page}, t0.Add(time.Duration(d)*7*calendar.Day))
	}
	lastVisit := t0.Add(7 * 7 * calendar.Day)
	for d := range 30 { // then only the newsletter, opened daily
		apply(beacon.Event{Type: beacon.Track, Event: "Email Opened"}, lastVisit.Add(time.Duration(d+1)*calendar.Day))
	}
	now := lastVisit.Add(31 * calendar.Day)

	require.Equal(t, Visitor, KindOf(p))
	v, err := VisitorOf(p)
	require.NoError(t, err)
	require.Equal(t, 8, v.Visits)
	require.Equal(t, 8, v.PageViews)
	require.Equal(t, lastVisit, v.LastSeen, "recency is the last visit, not the last open")

	r, err := lapse.Default.Assess(p, 1, now)
	require.NoError(t, err)
	require.Zero(t, r.Recent, "no visit in the last four weeks, however many opens")
	require.Equal(t, 30, p.Impressions.Count)

	var reached profile.Profile
	a, err := profile.FromEvent(beacon.Event{Type: beacon.Track, Event: "Email Opened", MessageID: "x", UserID: "U", Timestamp: now})
	require.NoError(t, err)
	reached = profile.Apply(reached, a, nil)
	require.Equal(t, Other, KindOf(reached), "only reached by email: not a visitor")
}
