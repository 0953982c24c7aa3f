// Package trigger decides when a customer's behaviour calls for a message: an abandoned basket,
// an abandoned browse, an abandoned form, a returning prospect or a returning lapsed customer.
// Pure rules over the Single Customer View; the caller passes the clock and what fired before.
//
// # Rules (defaults in Default)
//
//   - abandoned-basket: the open basket (profile.Basket.Open), once the customer has been inactive
//     for BasketDelay (1 hour) since its last change.
//   - abandoned-browse: the latest session showed at least BrowseMinProducts (2) products, none
//     put in a basket in it (the basket rule covers that), once the customer has been inactive for
//     BrowseDelay (2 hours). A product counts when it was viewed and last viewed or carted during
//     the session (profile.Products.Last).
//   - abandoned-form: the form last started and not submitted since, once the customer has been
//     inactive for FormDelay (30 minutes).
//   - returning-prospect: someone who never ordered starts a session after at least Away (30
//     days) without activity. Due at once.
//   - returning-lapsed: a customer who ordered before starts a session after at least Away
//     without activity, and was lapsed at its start: the last order at least LapsedAfter (180
//     days) before it, or, when LapsedPAlive is set, P(alive) below it. Due at once.
//
// "Inactive" counts from the profile's last seen, so no one is reminded while still on the site.
// Sessions and last seen are the person's activity on the sites and apps: impressions (an email
// opened, an ad shown, anything loaded through the pixel; see package profile) are neither, so an
// open is no return and postpones no reminder.
//
// # Guards
//
// Nothing fires for a profile merged into another or without identifiers (erased); nor without
// marketing consent: a refusal always blocks, and no answer blocks too unless AssumeConsent is set
// (for sites that record consent elsewhere), because messaging someone who never agreed is the
// costlier mistake. Nothing fires while the customer has an open service case (profile.OpenCases:
// a complaint, a repair, a question being handled, from the help desk's import or events) unless
// SendDuringOpenCases is set: someone waiting on an answer is not sold to; what falls due while a
// case is open and has not expired when it closes fires then. Nothing fires for someone who has
// ordered since the abandoned activity (the
// basket closes at an order; a browse, a form or a return is void once an order follows its
// start).
//
// # Once per episode
//
// Each trigger has a key naming its episode: the kind and the basket's last change, the form and
// its start, or the session's start. State keeps what fired for as long as it can matter
// (Config.Record), so a key fires once however often the rules run. An abandonment fires no later
// than Expire (24 hours) after its activity plus its delay, a return no later than Expire after
// the session's start: a backlog (after an outage, or when triggers are switched on) sends no
// stale messages, and a basket left for weeks is not revived by a later visit. Each kind waits
// Cooldown after it last fired. Late events that move an episode's start give it a new key; the
// cooldown keeps them from sending twice.
//
// Due tells when a profile should next be looked at (so a store can index profiles by it and the
// scheduler never scans them all); Fire returns what fires now.
package trigger

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/shared/calendar"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/prose"
)

// Kinds of trigger. Their names are those of the trigger.fired message (package message), which
// downstream tools route by.
const (
	AbandonedBasket   = message.KindAbandonedBasket
	AbandonedBrowse   = message.KindAbandonedBrowse
	AbandonedForm     = message.KindAbandonedForm
	ReturningProspect = message.KindReturningProspect
	ReturningLapsed   = message.KindReturningLapsed
)

// Config holds the rules' delays and thresholds.
type Config struct {
	BasketDelay       time.Duration
	BrowseDelay       time.Duration
	BrowseMinProducts int
	FormDelay         time.Duration
	Away              time.Duration // the absence that makes a session a return
	LapsedAfter       time.Duration // the age of the last order that makes a customer lapsed
	LapsedPAlive      float64       // P(alive) below which a customer is lapsed; 0: not used
	Expire            time.Duration
	Cooldown          map[string]time.Duration // by kind; a kind not named has none
	AssumeConsent     bool                     // no marketing answer counts as consent
	// SendDuringOpenCases fires triggers while the customer has an open service case; by default
	// they are held until it is closed or solved.
	SendDuringOpenCases bool
}

// Default is the configuration dcrm triggers with.
var Default = Config{
	BasketDelay: time.Hour, BrowseDelay: 2 * time.Hour, BrowseMinProducts: 2, FormDelay: 30 * time.Minute,
	Away: 30 * calendar.Day, LapsedAfter: 180 * calendar.Day, Expire: 24 * time.Hour,
	Cooldown: map[string]time.Duration{
		AbandonedBasket: 24 * time.Hour, AbandonedBrowse: 3 * calendar.Day, AbandonedForm: 24 * time.Hour,
		ReturningProspect: 30 * calendar.Day, ReturningLapsed: 30 * calendar.Day,
	},
}

// Trigger is a message a downstream tool should send, with what it needs to write it.
type Trigger struct {
	Kind      string    `json:"kind"`
	Key       string    `json:"key"` // the episode: fires once
	ProfileID string    `json:"profileId"`
	UserID    string    `json:"userId,omitempty"`
	FiredAt   time.Time `json:"firedAt"`
	Since     time.Time `json:"since"` // the basket's last change, the form's or the session's start
	LastSeen  time.Time `json:"lastSeen"`
	// Basket is the open basket (abandoned-basket); Products the products browsed, latest first
	// (abandoned-browse); FormID the form (abandoned-form); LastOrder the last order
	// (returning-lapsed).
	Basket    *profile.OpenBasket `json:"basket,omitempty"`
	Products  []string            `json:"products,omitempty"`
	FormID    string              `json:"formId,omitempty"`
	LastOrder time.Time           `json:"lastOrder,omitzero"`
	Reason    string              `json:"reason"`
}

// Message is the trigger.fired message that has a downstream tool send what t calls for.
func (t Trigger) Message() message.TriggerFired {
	m := message.TriggerFired{Kind: t.Kind, Key: t.Key, ProfileID: t.ProfileID, UserID: t.UserID, FiredAt: t.FiredAt,
		Since: t.Since, LastSeen: t.LastSeen, Products: t.Products, FormID: t.FormID, LastOrder: t.LastOrder, Reason: t.Reason}
	if t.Basket != nil {
		m.Basket = &message.Basket{Items: make([]message.BasketItem, len(t.Basket.Items)), Value: t.Basket.Value, UpdatedAt: t.Basket.UpdatedAt}
		for i, it := range t.Basket.Items {
			m.Basket.Items[i] = message.BasketItem(it)
		}
	}
	return message.NewTriggerFired(m)
}

// candidate is a trigger the profile calls for, with when it falls due and when it expires.
type candidate struct {
	Trigger
	due, expires time.Time
}

// Fired is a trigger that fired.
type Fired struct {
	Kind string    `json:"kind"`
	Key  string    `json:"key"`
	At   time.Time `json:"at"`
}

// State is what fired for a profile, oldest first.
type State []Fired

// Record returns the state with the fired triggers added and what can no longer matter dropped:
// a trigger older than the longest delay plus Expire cannot fire again, and one older than its
// kind's cooldown holds nothing back.
func (c Config) Record(st State, fired []Trigger, now time.Time) State {
	out := slices.Clone(st)
	for _, t := range fired {
		out = append(out, Fired{Kind: t.Kind, Key: t.Key, At: t.FiredAt})
	}
	keep := max(c.BasketDelay, c.BrowseDelay, c.FormDelay) + c.Expire
	for _, d := range c.Cooldown {
		keep = max(keep, d)
	}
	out = slices.DeleteFunc(out, func(f Fired) bool { return now.Sub(f.At) > keep })
	slices.SortStableFunc(out, func(a, b Fired) int { return a.At.Compare(b.At) })
	return out
}

func (st State) fired(key string) bool {
	return slices.ContainsFunc(st, func(f Fired) bool { return f.Key == key })
}

// cooledAt is when kind may fire again.
func (c Config) cooledAt(st State, kind string) time.Time {
	var last time.Time
	for _, f := range st {
		if f.Kind == kind && f.At.After(last) {
			last = f.At
		}
	}
	if last.IsZero() {
		return last
	}
	return last.Add(c.Cooldown[kind])
}

// Due returns when the profile should next be looked at: the earliest time a trigger that has
// not fired yet can fire (at or before now when one is due already), and false when none can.
// pAlive is the customer's probability of being alive from the purchase model, 1 when unknown.
func (c Config) Due(p profile.Profile, pAlive float64, st State, now time.Time) (time.Time, bool) {
	var next time.Time
	for _, t := range c.candidates(p, pAlive) {
		if st.fired(t.Key) {
			continue
		}
		at := t.due
		if cooled := c.cooledAt(st, t.Kind); cooled.After(at) {
			at = cooled
		}
		if at.After(t.expires) || now.After(t.expires) {
			continue // it can no longer fire
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next, !next.IsZero()
}

// Fire returns the triggers that fire at now, in the order of their kinds. Record them in the
// state so they do not fire again.
func (c Config) Fire(p profile.Profile, pAlive float64, st State, now time.Time) []Trigger {
	var out []Trigger
	for _, t := range c.candidates(p, pAlive) {
		if t.due.After(now) || now.After(t.expires) || st.fired(t.Key) || c.cooledAt(st, t.Kind).After(now) {
			continue
		}
		t.FiredAt = now
		t.Reason += "; last seen " + prose.Ago(p.LastSeen, now)
		out = append(out, t.Trigger)
	}
	return out
}

// candidates are the triggers the profile calls for, each with when it falls due: at most one of
// each kind.
func (c Config) candidates(p profile.Profile, pAlive float64) []candidate {
	if !p.Addressable() || p.ID == "" || !c.consents(p) || (!c.SendDuringOpenCases && len(p.OpenCases()) > 0) {
		return nil
	}
	var out []candidate
	base := candidate{Trigger: Trigger{ProfileID: p.ID, UserID: p.UserID, LastSeen: p.LastSeen}}
	// An abandonment is due once the customer has been idle for the delay, and expires Expire
	// after the activity plus the delay: a basket left for weeks is not revived by a later visit.
	idle := func(t *candidate, since time.Time, delay time.Duration) {
		t.due, t.expires = later(since, p.LastSeen).Add(delay), since.Add(delay+c.Expire)
	}
	lastOrder := lastOrder(p)

	if b := p.Basket.Open(); b != nil && lastOrder.Before(b.UpdatedAt) {
		t := base
		t.Kind, t.Since, t.Basket = AbandonedBasket, b.UpdatedAt, b
		idle(&t, b.UpdatedAt, c.BasketDelay)
		t.Reason = fmt.Sprintf("%s worth %s left in the basket", prose.Count(len(b.Items), "item"), strconv.FormatFloat(b.Value, 'f', 2, 64))
		out = append(out, t)
	}

	if s := p.Session; s != nil && lastOrder.Before(s.Start) {
		start := s.Start.Truncate(time.Second)
		var browsed []string
		for id, at := range p.Products.Last {
			if p.Products.Viewed[id] > 0 && !at.Before(start) {
				browsed = append(browsed, id)
			}
		}
		slices.SortFunc(browsed, func(a, b string) int {
			return cmp.Or(p.Products.Last[b].Compare(p.Products.Last[a]), cmp.Compare(a, b))
		})
		carted := false
		for _, ch := range p.Basket.Changes {
			carted = carted || (ch.Quantity > 0 && !ch.At.Before(s.Start))
		}
		if len(browsed) >= max(c.BrowseMinProducts, 1) && !carted {
			t := base
			t.Kind, t.Since, t.Products = AbandonedBrowse, s.Start, browsed
			idle(&t, s.End, c.BrowseDelay)
			t.Reason = fmt.Sprintf("viewed %s (%s) without buying", prose.Count(len(browsed), "product"), strings.Join(browsed, ", "))
			out = append(out, t)
		}
	}

	if forms := p.OpenForms(); len(forms) > 0 {
		f := forms[len(forms)-1]
		if lastOrder.Before(f.StartedAt) {
			t := base
			t.Kind, t.Since, t.FormID = AbandonedForm, f.StartedAt, f.FormID
			idle(&t, f.StartedAt, c.FormDelay)
			t.Reason = fmt.Sprintf("started form %q, not submitted", f.FormID)
			out = append(out, t)
		}
	}

	if s, away := returned(p); s != nil && away >= c.Away && lastOrder.Before(s.Start) {
		t := base
		t.Since, t.due, t.expires = s.Start, s.Start, s.Start.Add(c.Expire)
		back := "back after " + prose.Count(calendar.Days(away), "day") + " away"
		switch {
		case p.OrderCount == 0:
			t.Kind, t.Reason = ReturningProspect, back+", never ordered"
			out = append(out, t)
		case s.Start.Sub(lastOrder) >= c.LapsedAfter:
			t.Kind, t.LastOrder = ReturningLapsed, lastOrder
			t.Reason = back + ", last ordered " + prose.Count(calendar.Days(s.Start.Sub(lastOrder)), "day") + " before"
			out = append(out, t)
		case c.LapsedPAlive > 0 && pAlive < c.LapsedPAlive:
			t.Kind, t.LastOrder = ReturningLapsed, lastOrder
			t.Reason = back + ", P(alive) " + strconv.FormatFloat(pAlive, 'f', 2, 64)
			out = append(out, t)
		}
	}
	for i, t := range out {
		out[i].Key = strings.Join(slices.DeleteFunc([]string{t.Kind, t.FormID, t.Since.UTC().Format(time.RFC3339Nano)},
			func(s string) bool { return s == "" }), ":")
	}
	return out
}

// consents tells whether the profile may receive marketing.
func (c Config) consents(p profile.Profile) bool {
	if answer, ok := p.Consent[profile.PurposeMarketing]; ok {
		return answer.Granted
	}
	return c.AssumeConsent
}

// returned returns the latest session and how long the customer had been away before it; nil on
// a first visit.
func returned(p profile.Profile) (*profile.Session, time.Duration) {
	sessions := p.Sessions()
	if len(sessions) == 0 {
		return nil, 0
	}
	s := sessions[len(sessions)-1]
	prev := p.Settled.Until
	if len(sessions) > 1 {
		prev = sessions[len(sessions)-2].End
	}
	if prev.IsZero() {
		return nil, 0
	}
	return &s, s.Start.Sub(prev)
}

// lastOrder is when the customer last ordered (by event time); zero if never.
func lastOrder(p profile.Profile) time.Time {
	last := p.Basket.ClearedAt // the basket closes at every order
	if n := len(p.Orders); n > 0 {
		last = later(last, p.Orders[n-1].At)
	}
	return later(last, p.Settled.OrdersUntil)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// Firing is what the triggers of one profile do at one time: the triggers that fire, in the order
// of their kinds (none when the profile is merged, erased or gone, or nothing is due after all),
// and when the profile is due next after recording them (zero when nothing can fire).
type Firing struct {
	ProfileID string
	Fired     []Trigger
	Next      time.Time
}
