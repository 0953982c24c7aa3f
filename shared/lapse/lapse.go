// Package lapse rates how likely a customer is to be slipping away and raises an alert when a
// valuable one crosses the line. Pure functions; the caller passes the clock, the customer's
// P(alive) from the purchase model and their value (lifetime value or revenue).
//
// # Activity against the customer's own baseline
//
// Visits (sessions, see profile.Sessions) in the Recent window (the last 28 days) are compared
// with the rate of the Baseline window before it (the 84 days before that): expected = baseline
// visits × Recent / baseline length. The baseline is cut to what the profile can see: not before
// it was first seen nor before its activity window (profile.MaxHits hits; older activity is
// settled into totals), and with less than MinBaseline (14 days) of it there is no activity
// signal. The window reaches further back as recent activity falls, so a drop widens the
// baseline it is measured against; only a customer so busy that MaxHits hits span less than
// MinBaseline shows no activity signal when they stop, and is left to P(alive).
//
// Visits are taken as Poisson with the expected rate, and the activity risk is how improbable so
// few recent visits are: 1 − 2·P(X ≤ recent), floored at 0. It is 0 when the customer visits as
// often as usual or more, and nears 1 as their silence becomes unlikely (no visit against 3
// expected: 0.90; against 6: 0.995). A drop needs a baseline that expected at least MinExpected
// (3) visits: fewer say too little. With Rise set the signal watches for a rise instead
// (1 − 2·P(X ≥ recent)), for businesses where a burst of visits (comparing offers, reading the
// cancellation page) comes before leaving.
//
// # Risk
//
// risk = 1 − P(alive) · (1 − activity risk): the customer is at risk when the purchase model
// thinks they may be gone, or their visits fell improbably, and most when both. Without a
// purchase model pass P(alive) = 1: the risk is the activity risk alone.
//
// # Alert
//
// Check alerts when a customer whose value exceeds MinValue has a risk of at least Threshold
// (0.8), once per crossing: only when the previous check (State) was not already over the line,
// and not within Cooldown (30 days) of the last alert. Its reason names the customer's open service
// cases, if any. Lapse alerts go to the business (a
// call, an account manager), not to the customer, so marketing consent does not apply; profiles
// merged into another or without identifiers (erased) are never alerted on.
package lapse

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/dcrm-project/dcrm/shared/calendar"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/prose"
)

// ErrInvalidInput is returned for a P(alive) or value that cannot be rated.
var ErrInvalidInput = errors.New("invalid lapse input")

// Config holds the windows and thresholds.
type Config struct {
	Recent      time.Duration
	Baseline    time.Duration
	MinBaseline time.Duration
	MinExpected float64
	Rise        bool // watch for a rise in activity instead of a drop
	Threshold   float64
	MinValue    float64 // only customers worth more than this are alerted on
	Cooldown    time.Duration
}

// Default is the configuration dcrm rates with. MinValue is 0: any customer with some value;
// set it to what makes a customer worth a call.
var Default = Config{Recent: 28 * calendar.Day, Baseline: 84 * calendar.Day, MinBaseline: 14 * calendar.Day, MinExpected: 3, Threshold: 0.8,
	Cooldown: 30 * calendar.Day}

// Risk is a customer's lapse risk and what it is made of.
type Risk struct {
	Score    float64 `json:"risk"`     // the risk, to four decimals
	PAlive   float64 `json:"pAlive"`   // as given
	Activity float64 `json:"activity"` // the activity risk, to four decimals
	Recent   int     `json:"recentVisits"`
	Expected float64 `json:"expectedVisits"` // 0 without a usable baseline
}

// Assess rates the customer at now.
func (c Config) Assess(p profile.Profile, pAlive float64, now time.Time) (Risk, error) {
	if math.IsNaN(pAlive) || pAlive < 0 || pAlive > 1 {
		return Risk{}, fmt.Errorf("%w: P(alive) %v is not a probability", ErrInvalidInput, pAlive)
	}
	r := Risk{PAlive: pAlive}
	recentFrom := now.Add(-c.Recent)
	from := now.Add(-c.Recent - c.Baseline)
	if p.FirstSeen.After(from) {
		from = p.FirstSeen
	}
	if p.Settled.Until.After(from) {
		from = p.Settled.Until.Add(time.Nanosecond) // settled activity is no longer in sessions
	}
	baseLen := recentFrom.Sub(from)
	base := 0
	for _, s := range p.Sessions() {
		switch {
		case s.Start.Before(from) || s.Start.After(now):
		case s.Start.Before(recentFrom):
			base++
		default:
			r.Recent++
		}
	}
	if baseLen >= c.MinBaseline && baseLen > 0 {
		expected := float64(base) * float64(c.Recent) / float64(baseLen)
		switch {
		case c.Rise:
			r.Activity = max(0, 1-2*(1-poissonCDF(r.Recent-1, expected)))
		case expected >= c.MinExpected:
			r.Activity = max(0, 1-2*poissonCDF(r.Recent, expected))
		}
		r.Expected = math.Round(expected*100) / 100
	}
	r.Activity = math.Round(r.Activity*1e4) / 1e4
	r.Score = math.Round((1-pAlive*(1-r.Activity))*1e4) / 1e4
	return r, nil
}

// poissonCDF is P(X ≤ k) for X Poisson with mean lambda.
func poissonCDF(k int, lambda float64) float64 {
	if k < 0 {
		return 0
	}
	if lambda <= 0 {
		return 1
	}
	sum, logL := 0.0, math.Log(lambda)
	for i := 0; i <= k; i++ {
		lg, _ := math.Lgamma(float64(i + 1))
		sum += math.Exp(-lambda + float64(i)*logL - lg)
	}
	return min(sum, 1)
}

// State is what Check remembers between checks.
type State struct {
	Above     bool      `json:"above"`              // the customer was valuable and at risk at the last check
	AlertedAt time.Time `json:"alertedAt,omitzero"` // the last alert; zero if none
}

// Alert tells the business that a valuable customer is slipping away.
type Alert struct {
	ProfileID string    `json:"profileId"`
	UserID    string    `json:"userId,omitempty"`
	At        time.Time `json:"at"`
	Risk
	Value  float64 `json:"value"`
	Reason string  `json:"reason"`
}

// Check rates the customer at now and returns an alert (nil when none is due) and the state to
// pass to the next check.
func (c Config) Check(p profile.Profile, pAlive, value float64, now time.Time, prev State) (*Alert, State, error) {
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return nil, prev, fmt.Errorf("%w: value %v", ErrInvalidInput, value)
	}
	r, err := c.Assess(p, pAlive, now)
	if err != nil {
		return nil, prev, err
	}
	if !p.Addressable() {
		return nil, prev, nil
	}
	next := State{Above: value > c.MinValue && r.Score >= c.Threshold, AlertedAt: prev.AlertedAt}
	if !next.Above || prev.Above || (!prev.AlertedAt.IsZero() && now.Sub(prev.AlertedAt) < c.Cooldown) {
		return nil, next, nil
	}
	next.AlertedAt = now
	return &Alert{ProfileID: p.ID, UserID: p.UserID, At: now, Risk: r, Value: value, Reason: reason(r, value, c) + openCases(p, now)}, next, nil
}

// Message is the lapse alert of the alerts queue for a, raised on profile p scored sc. previous is
// when p's last lapse alert was raised (zero if never): it names the crossing (message.LapseID).
func (a Alert) Message(p profile.Profile, sc profile.Score, previous time.Time) message.Lapse {
	l := message.Lapse{
		ProfileID: p.ID, UserID: p.UserID, AnonymousIDs: p.AnonymousIDs,
		LastSeen: p.LastSeen, InactiveDays: calendar.DaysSince(p.LastSeen, a.At),
		Risk: a.Score, PAlive: a.PAlive, Activity: a.Activity, RecentVisits: a.Recent, ExpectedVisits: a.Expected,
		Value: a.Value, Revenue: math.Round(p.Revenue*100) / 100, Reason: a.Reason, RaisedAt: a.At,
	}
	if sc.Value != nil {
		clv := sc.Value.CLV
		l.CLV = &clv
	}
	if sc.RFM != nil {
		l.Segment = sc.RFM.Segment
	}
	return message.NewLapse(l, previous)
}

// openCases names the customer's open service cases for the alert's reason ("" when none): a
// complaint waiting on an answer may be why they are slipping away, and the person who calls
// them should know of it.
func openCases(p profile.Profile, now time.Time) string {
	var s string
	for _, c := range p.OpenCases() {
		s += "; open " + c.Describe() + " since " + prose.Ago(c.OpenedAt, now)
	}
	return s
}

func reason(r Risk, value float64, c Config) string {
	s := "lapse risk " + strconv.FormatFloat(r.Score, 'f', 2, 64)
	if r.PAlive < 1 {
		s += ": P(alive) " + strconv.FormatFloat(r.PAlive, 'f', 2, 64)
	}
	if r.Activity > 0 {
		visits := strconv.Itoa(r.Recent) + " visits"
		if r.Recent == 1 {
			visits = "1 visit"
		}
		s += fmt.Sprintf("; %s in the last %d days against %s expected", visits, calendar.Days(c.Recent),
			strconv.FormatFloat(r.Expected, 'f', -1, 64))
	}
	return s + "; value " + strconv.FormatFloat(value, 'f', 2, 64)
}
