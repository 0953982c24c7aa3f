package lapse

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/events/schemas"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/calendar"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/profile"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const day = calendar.Day

// visitor builds a profile with one visit of hits page views at each of the given days before now.
func visitor(hits int, daysAgo ...float64) profile.Profile {
	p := profile.Profile{ID: "pr1", UserID: "u1"}
	n := 0
	for _, d := range daysAgo {
		for h := range hits {
			n++
			at := now.Add(-time.Duration(d*float64(day)) + time.Duration(h)*time.Minute)
			p = profile.Apply(p, profile.Activity{MessageID: fmt.Sprint(n), Type: beacon.Page, UserID: "u1", At: at, Page: "/"},
				[]identity.ID{identity.UserID("u1")})
		}
	}
	return p
}

// every returns the days before now from first down to last (exclusive), step apart.
func every(step, first, last float64) []float64 {
	var out []float64
	for d := first; d > last; d -= step {
		out = append(out, d)
	}
	return out
}

func TestPoissonCDF(t *testing.T) {
	// Closed forms: P(X ≤ 0) = e^−λ; P(X ≤ 2) = e^−λ(1 + λ + λ²/2), for λ = 3: 8.5·e^−3 = 0.4231900811
	// (R: ppois(2, 3) = 0.4231901).
	for _, c := range []struct {
		k      int
		lambda float64
		want   float64
	}{
		{0, 3, math.Exp(-3)}, {2, 3, 0.4231900811}, {-1, 3, 0}, {5, 0, 1}, {2000, 400, 1},
	} {
		if got := poissonCDF(c.k, c.lambda); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("P(X ≤ %d; %v) = %v, want %v", c.k, c.lambda, got, c.want)
		}
	}
	// Far in the body of a large mean the sum still behaves: the median of Poisson(400) is 400.
	if got := poissonCDF(400, 400); got < 0.5 || got > 0.53 {
		t.Errorf("P(X ≤ 400; 400) = %v", got)
	}
}

func TestAssess(t *testing.T) {
	// Weekly visits since before the baseline: 12 in its 84 days, 4 in the last 28.
	weekly := every(7, 125, 0)
	stopped := every(7, 125, 28) // the same, none in the last 28 days
	rise := append(every(7, 125, 28), every(1, 27, 0)...)
	rising := Default
	rising.Rise = true
	for _, c := range []struct {
		name     string
		p        profile.Profile
		cfg      Config
		pAlive   float64
		recent   int
		expected float64
		activity float64
		risk     float64
	}{
		{"as usual", visitor(1, weekly...), Default, 1, 4, 4, 0, 0},
		{"stopped", visitor(1, stopped...), Default, 1, 0, 4, 1 - 2*math.Exp(-4), 1 - 2*math.Exp(-4)},
		{"one visit of four", visitor(1, append(stopped, 3)...), Default, 1, 1, 4, 1 - 2*5*math.Exp(-4), 1 - 2*5*math.Exp(-4)},
		{"P(alive) alone", visitor(1, weekly...), Default, 0.3, 4, 4, 0, 0.7},
		{"both", visitor(1, stopped...), Default, 0.5, 0, 4, 1 - 2*math.Exp(-4), 1 - 0.5*2*math.Exp(-4)},
		{"a newcomer has no baseline", visitor(1, 10, 9, 8), Default, 1, 3, 0, 0, 0},
		{"too thin a baseline for a drop", visitor(1, 100, 50), Default, 1, 0, 0.78, 0, 0}, // 2 visits in 72 days seen
		{"a rise, watched for", visitor(1, rise...), rising, 1, 27, 4, 1, 1},
		{"a rise, not watched for", visitor(1, rise...), Default, 1, 27, 4, 0, 0},
		{"a drop, watching for rises", visitor(1, stopped...), rising, 1, 0, 4, 0, 0},
		// 20 hits a visit, daily: the 200-hit window spans ten days, no baseline.
		{"too busy for a baseline", visitor(20, every(1, 111, 0)...), Default, 1, 10, 0, 0, 0},
	} {
		r, err := c.cfg.Assess(c.p, c.pAlive, now)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		round := func(x float64) float64 { return math.Round(x*1e4) / 1e4 }
		if r.Recent != c.recent || r.Expected != c.expected || r.Activity != round(c.activity) || r.Score != round(c.risk) {
			t.Errorf("%s: %+v, want recent %d, expected %v, activity %v, risk %v", c.name, r, c.recent, c.expected, round(c.activity), round(c.risk))
		}
	}
	for _, bad := range []float64{-0.1, 1.5, math.NaN()} {
		if _, err := Default.Assess(visitor(1, 1), bad, now); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("P(alive) %v: %v", bad, err)
		}
	}
}

func TestSettledActivityIsNotCounted(t *testing.T) {
	// Daily visits of 5 hits for 111 days: the window keeps the last 40 visits, so the baseline is
	// the 12 visible days before the recent window; with MinBaseline lowered to 10 it is used.
	p := visitor(5, every(1, 111, 0)...)
	if p.Settled.Until.IsZero() {
		t.Fatal("nothing settled")
	}
	cfg := Default
	cfg.MinBaseline = 10 * day
	r, err := cfg.Assess(p, 1, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Recent != 28 || r.Expected < 24 || r.Expected > 30 || r.Activity != 0 {
		t.Errorf("%+v: want about 28 expected from the visible baseline, and no drop", r)
	}
}

func TestCheckAlertsOncePerCrossing(t *testing.T) {
	p := visitor(1, every(7, 111, 0)...) // activity as usual: the risk is 1 − P(alive)
	cfg := Default
	cfg.MinValue = 100
	var st State
	var alerts []int
	for i, step := range []struct {
		pAlive, value float64
	}{
		{0.9, 500},  // 0: below
		{0.1, 500},  // 1: crosses: alert
		{0.05, 500}, // 2: still above
		{0.9, 500},  // 3: below
		{0.1, 500},  // 4: crosses again within the cooldown
		{0.9, 500},  // 5
		{0.1, 50},   // 6: at risk, not valuable
		{0.1, 500},  // 7: becomes valuable while at risk, after the cooldown: alert
	} {
		at := now.Add(time.Duration(i) * 5 * day)
		a, next, err := cfg.Check(p, step.pAlive, step.value, at, st)
		if err != nil {
			t.Fatal(err)
		}
		if a != nil {
			alerts = append(alerts, i)
			if a.At != at || next.AlertedAt != at || a.Value != step.value || a.ProfileID != "pr1" || a.UserID != "u1" {
				t.Errorf("step %d: alert %+v, state %+v", i, a, next)
			}
		}
		st = next
	}
	if fmt.Sprint(alerts) != "[1 7]" {
		t.Errorf("alerts at steps %v, want [1 7]", alerts)
	}

	merged := p
	merged.MergedInto = "other"
	erased := p
	erased.UserID = ""
	for name, q := range map[string]profile.Profile{"merged": merged, "erased": erased} {
		if a, next, err := cfg.Check(q, 0, 500, now, State{}); a != nil || next != (State{}) || err != nil {
			t.Errorf("%s: %+v, %+v, %v", name, a, next, err)
		}
	}
	if _, _, err := cfg.Check(p, 0.5, math.Inf(1), now, State{}); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("infinite value: %v", err)
	}
}

// An alert names the customer's open service cases: the likely reason, for whoever calls.
func TestAlertNamesOpenCases(t *testing.T) {
	p := visitor(1, every(7, 111, 0)...)
	p.Cases = map[string]profile.Case{
		"T-7": {OpenedAt: now.Add(-12 * day), Status: profile.CaseOpen, Topic: "late delivery"},
		"T-2": {OpenedAt: now.Add(-40 * day), Status: profile.CaseClosed},
	}
	a, _, err := Default.Check(p, 0.1, 300, now, State{})
	if err != nil || a == nil {
		t.Fatalf("alert %+v, %v", a, err)
	}
	if want := "lapse risk 0.90: P(alive) 0.10; value 300.00; open case T-7 (late delivery) since 12 days ago"; a.Reason != want {
		t.Errorf("reason %q, want %q", a.Reason, want)
	}
}

// TestScenario: a customer who visited about twice a week stops; a daily check with a P(alive)
// that slowly falls raises one alert, when the silence becomes improbable.
func TestScenario(t *testing.T) {
	var days []float64
	for d := 150.0; d > 30; d -= 3.5 {
		days = append(days, d)
	}
	p := visitor(3, days...)
	cfg := Default
	cfg.MinValue = 200
	var st State
	var alerts []*Alert
	var on []int
	for d := range 60 { // checks from 30 days before now (the last visit) to 30 days after
		at := now.Add(time.Duration(d-30) * day)
		pAlive := 0.95 - 0.005*float64(d)
		a, next, err := cfg.Check(p, pAlive, 850, at, st)
		if err != nil {
			t.Fatal(err)
		}
		if a != nil {
			alerts, on = append(alerts, a), append(on, d-30)
		}
		st = next
	}
	if len(alerts) != 1 {
		t.Fatalf("%d alerts (days %v), want one", len(alerts), on)
	}
	a := alerts[0]
	t.Logf("day %d: %s", on[0], a.Reason)
	// Eight visits expected in 28 days; the alert comes after the last visit (day −30), once fewer
	// than half of them were seen, and before a whole window has passed in silence.
	if a.Expected != 8 || a.Recent > 4 || a.Score < 0.8 || on[0] <= -30 || on[0] >= -2 {
		t.Errorf("alert on day %d: %+v", on[0], a)
	}
}

// An alert's message carries the customer as the score function saw them, and its alertId names
// the crossing.
func TestAlertMessage(t *testing.T) {
	lastSeen := time.Date(2025, 1, 10, 9, 30, 0, 0, time.UTC)
	raisedAt := time.Date(2025, 2, 20, 12, 0, 0, 0, time.UTC)
	previous := raisedAt.AddDate(0, -2, 0)
	p := profile.Profile{ID: "prf_1", UserID: "u-1", AnonymousIDs: []string{"a-1", "a-2"}, LastSeen: lastSeen, Revenue: 312.404}
	a := Alert{ProfileID: "prf_1", UserID: "u-1", At: raisedAt, Risk: Risk{Score: 0.9123, PAlive: 0.0877, Recent: 1, Expected: 4.5},
		Value: 45.5, Reason: "lapse risk 0.91: P(alive) 0.09; value 45.50"}
	sc := profile.Score{Value: &profile.Value{PAlive: 0.0877, CLV: 45.5}, RFM: &profile.RFMScore{Segment: "At Risk"}}

	m := a.Message(p, sc, previous)
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	want := message.NewLapse(message.Lapse{ProfileID: "prf_1", UserID: "u-1", AnonymousIDs: []string{"a-1", "a-2"},
		LastSeen: lastSeen, InactiveDays: 41, Risk: 0.9123, PAlive: 0.0877, RecentVisits: 1, ExpectedVisits: 4.5,
		Value: 45.5, CLV: m.CLV, Revenue: 312.4, Segment: "At Risk", Reason: a.Reason, RaisedAt: raisedAt}, previous)
	if !reflect.DeepEqual(m, want) || m.CLV == nil || *m.CLV != 45.5 || m.AlertID != message.LapseID("prf_1", previous) {
		t.Errorf("message\n%+v\nwant\n%+v (CLV 45.5)", m, want)
	}
	body, _ := json.Marshal(m)
	if err := schemas.Validate(m.MessageType(), m.MessageVersion(), body); err != nil {
		t.Error(err)
	}
	// Without a purchase model nor RFM: no CLV, no segment.
	bare := a.Message(profile.Profile{ID: "prf_2", LastSeen: lastSeen, Revenue: 80}, profile.Score{}, time.Time{})
	if bare.CLV != nil || bare.Segment != "" || bare.AnonymousIDs == nil {
		t.Errorf("bare message %+v", bare)
	}
	body, _ = json.Marshal(bare)
	if err := schemas.Validate(bare.MessageType(), bare.MessageVersion(), body); err != nil {
		t.Error(err)
	}
}
