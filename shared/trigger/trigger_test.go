package trigger

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/events/schemas"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/calendar"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/profile"
)

var t0 = time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)

const day = calendar.Day

func at(d time.Duration) time.Time { return t0.Add(d) }

// customer builds a profile event by event.
type customer struct {
	p profile.Profile
	n int
}

func newCustomer(consent ...bool) *customer {
	c := &customer{p: profile.Profile{ID: "pr1"}}
	if len(consent) > 0 {
		c.p.Consent = map[string]profile.Consent{profile.PurposeMarketing: {Granted: consent[0], At: t0.Add(-100 * day)}}
	}
	return c
}

func (c *customer) apply(typ string, when time.Duration, f func(*profile.Activity)) *customer {
	c.n++
	a := profile.Activity{MessageID: fmt.Sprint("m", c.n), Type: typ, AnonymousID: "A", At: at(when)}
	if f != nil {
		f(&a)
	}
	c.p = profile.Apply(c.p, a, []identity.ID{identity.AnonymousID("A")})
	return c
}

func (c *customer) page(when time.Duration) *customer {
	return c.apply(beacon.Page, when, func(a *profile.Activity) { a.Page = "/" })
}

func (c *customer) track(event string, when time.Duration, f func(*profile.Activity)) *customer {
	return c.apply(beacon.Track, when, func(a *profile.Activity) {
		a.Event = event
		if f != nil {
			f(a)
		}
	})
}

func (c *customer) view(id string, when time.Duration) *customer {
	return c.track("Product Viewed", when, func(a *profile.Activity) { a.Products = []profile.Line{{ProductID: id, Quantity: 1}} })
}

func (c *customer) cart(id string, price float64, when time.Duration) *customer {
	return c.track("Product Added", when, func(a *profile.Activity) { a.Products = []profile.Line{{ProductID: id, Quantity: 1, Price: price}} })
}

func (c *customer) order(id string, when time.Duration) *customer {
	return c.track("Order Completed", when, func(a *profile.Activity) { a.OrderID = id })
}

func (c *customer) form(event, id string, when time.Duration) *customer {
	return c.track(event, when, func(a *profile.Activity) { a.FormID = id })
}

func kindsOf(ts []Trigger) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Kind)
	}
	return out
}

const (
	minute = time.Minute
	hour   = time.Hour
)

func TestRules(t *testing.T) {
	assume := Default
	assume.AssumeConsent = true
	byPAlive := Default
	byPAlive.LapsedPAlive = 0.3
	erased := newCustomer(true).cart("p1", 10, 0).p
	erased.AnonymousIDs = nil
	merged := newCustomer(true).cart("p1", 10, 0).p
	merged.MergedInto = "pr2"
	for _, c := range []struct {
		name   string
		p      profile.Profile
		cfg    Config
		pAlive float64
		now    time.Duration
		want   []string
		reason string // of the first trigger
	}{
		{"basket after an hour", newCustomer(true).view("p1", 0).cart("p1", 25, minute).p, Default, 1, minute + hour,
			[]string{AbandonedBasket}, "1 item worth 25.00 left in the basket; last seen 1 hour ago"},
		{"basket not before the hour", newCustomer(true).view("p1", 0).cart("p1", 25, minute).p, Default, 1, minute + 59*minute, nil, ""},
		{"basket not while still on the site", newCustomer(true).cart("p1", 25, 0).page(50 * minute).p, Default, 1, hour + minute, nil, ""},
		{"basket bought since", newCustomer(true).cart("p1", 25, 0).order("o1", 10*minute).p, Default, 1, 2 * hour, nil, ""},
		{"basket refused consent", newCustomer(false).cart("p1", 25, 0).p, Default, 1, 2 * hour, nil, ""},
		{"basket no consent answer", newCustomer().cart("p1", 25, 0).p, Default, 1, 2 * hour, nil, ""},
		{"basket no answer, consent assumed", newCustomer().cart("p1", 25, 0).p, assume, 1, 2 * hour, []string{AbandonedBasket}, ""},
		{"basket of an erased profile", erased, assume, 1, 2 * hour, nil, ""},
		{"basket of a merged profile", merged, assume, 1, 2 * hour, nil, ""},
		{"basket gone stale", newCustomer(true).cart("p1", 25, 0).p, Default, 1, hour + 25*hour, nil, ""},

		{"browse after two hours", newCustomer(true).view("p1", 0).view("p2", 5*minute).view("p1", 6*minute).p, Default, 1, 6*minute + 2*hour,
			[]string{AbandonedBrowse}, "viewed 2 products (p1, p2) without buying; last seen 2 hours ago"},
		{"browse of one product", newCustomer(true).view("p1", 0).view("p1", 5*minute).p, Default, 1, 3 * hour, nil, ""},
		{"browse of an earlier session", newCustomer(true).view("p1", 0).view("p2", minute).page(2*hour).view("p3", 2*hour+minute).p,
			Default, 1, 5 * hour, nil, ""},
		{"browse into the basket", newCustomer(true).view("p1", 0).view("p2", minute).cart("p2", 5, 2*minute).p, Default, 1, 3 * hour,
			[]string{AbandonedBasket}, ""},
		{"browse bought since", newCustomer(true).view("p1", 0).view("p2", minute).order("o1", 2*minute).p, Default, 1, 3 * hour, nil, ""},

		{"form after half an hour", newCustomer(true).form("Form Started", "quote", 0).p, Default, 1, 30 * minute,
			[]string{AbandonedForm}, `started form "quote", not submitted; last seen 30 minutes ago`},
		{"form submitted", newCustomer(true).form("Form Started", "quote", 0).form("Form Submitted", "quote", 5*minute).p, Default, 1, hour, nil, ""},
		{"form bought since", newCustomer(true).form("Form Started", "quote", 0).order("o1", 5*minute).p, Default, 1, hour, nil, ""},

		{"prospect back after 40 days", newCustomer(true).page(0).page(40 * day).p, Default, 1, 40*day + minute,
			[]string{ReturningProspect}, "back after 40 days away, never ordered; last seen 1 minute ago"},
		{"prospect back after 10 days", newCustomer(true).page(0).page(10 * day).p, Default, 1, 10*day + minute, nil, ""},
		{"prospect on a first visit", newCustomer(true).page(0).p, Default, 1, minute, nil, ""},
		{"prospect without consent", newCustomer(false).page(0).page(40 * day).p, Default, 1, 40*day + minute, nil, ""},

		{"lapsed by order age", newCustomer(true).order("o1", 0).page(160 * day).page(200 * day).p, Default, 1, 200*day + minute,
			[]string{ReturningLapsed}, "back after 40 days away, last ordered 200 days before; last seen 1 minute ago"},
		{"not lapsed yet", newCustomer(true).order("o1", 0).page(60 * day).page(100 * day).p, Default, 1, 100*day + minute, nil, ""},
		{"lapsed by P(alive)", newCustomer(true).order("o1", 0).page(60 * day).page(100 * day).p, byPAlive, 0.1, 100*day + minute,
			[]string{ReturningLapsed}, "back after 40 days away, P(alive) 0.10; last seen 1 minute ago"},
		{"P(alive) above the threshold", newCustomer(true).order("o1", 0).page(60 * day).page(100 * day).p, byPAlive, 0.5, 100*day + minute, nil, ""},
		{"lapsed but bought on return", newCustomer(true).order("o1", 0).page(160*day).page(200*day).order("o2", 200*day+minute).p,
			Default, 1, 200*day + 2*minute, nil, ""},
		{"lapsed, back without consent answer", newCustomer().order("o1", 0).page(160 * day).page(200 * day).p, Default, 1, 200*day + minute, nil, ""},
	} {
		got := c.cfg.Fire(c.p, c.pAlive, nil, at(c.now))
		if k := kindsOf(got); !reflect.DeepEqual(k, c.want) {
			t.Errorf("%s: fired %v, want %v", c.name, k, c.want)
			continue
		}
		if c.reason != "" && got[0].Reason != c.reason {
			t.Errorf("%s: reason %q, want %q", c.name, got[0].Reason, c.reason)
		}
		due, ok := c.cfg.Due(c.p, c.pAlive, nil, at(c.now))
		if len(c.want) > 0 && (!ok || due.After(at(c.now))) {
			t.Errorf("%s: fired but Due = %v, %v", c.name, due, ok)
		}
	}
}

func TestTriggerCarriesWhatDownstreamNeeds(t *testing.T) {
	c := newCustomer(true).view("p1", 0).cart("p1", 25, minute).cart("p2", 5, 2*minute)
	c.p.UserID = "u1"
	got := Default.Fire(c.p, 1, nil, at(3*hour))
	if len(got) != 1 {
		t.Fatalf("fired %+v", got)
	}
	want := Trigger{Kind: AbandonedBasket, Key: "abandoned-basket:2025-06-01T10:02:00Z", ProfileID: "pr1", UserID: "u1",
		FiredAt: at(3 * hour), Since: at(2 * minute), LastSeen: at(2 * minute),
		Basket: &profile.OpenBasket{Items: []profile.BasketItem{{ProductID: "p1", Quantity: 1, Price: 25}, {ProductID: "p2", Quantity: 1, Price: 5}},
			Value: 30, UpdatedAt: at(2 * minute)},
		Reason: "2 items worth 30.00 left in the basket; last seen 2 hours ago"}
	if !reflect.DeepEqual(got[0], want) {
		t.Errorf("trigger\n%+v\nwant\n%+v", got[0], want)
	}
	raw, err := json.Marshal(got[0])
	if err != nil || !strings.Contains(string(raw), `"basket":{"items":[`) || strings.Contains(string(raw), "lastOrder") {
		t.Errorf("json %s, %v", raw, err)
	}
}

// Every kind of trigger, as the rules make it, gives a trigger.fired message that validates,
// matches the schema and carries its kind's own field and none of the others'.
func TestMessages(t *testing.T) {
	fire := func(p profile.Profile, now time.Time) Trigger {
		t.Helper()
		ts := Default.Fire(p, 1, nil, now)
		if len(ts) != 1 {
			t.Fatalf("fired %d triggers: %+v", len(ts), ts)
		}
		return ts[0]
	}
	basket := newCustomer(true).cart("tent", 49.5, 0)
	basket.p.UserID = "u1"
	cases := map[string]Trigger{
		AbandonedBasket:   fire(basket.p, at(2*hour)),
		AbandonedBrowse:   fire(newCustomer(true).view("tent", 0).view("stove", minute).p, at(3*hour)),
		AbandonedForm:     fire(newCustomer(true).form("Form Started", "quote", 0).p, at(hour)),
		ReturningProspect: fire(newCustomer(true).page(0).page(40*day).p, at(40*day+minute)),
		ReturningLapsed:   fire(newCustomer(true).order("o1", 0).page(160*day).page(200*day).p, at(200*day+minute)),
	}
	own := map[string]string{AbandonedBasket: "basket", AbandonedBrowse: "products", AbandonedForm: "formId", ReturningLapsed: "lastOrder"}
	for kind, tr := range cases {
		if tr.Kind != kind {
			t.Errorf("%s: the rules fired %s", kind, tr.Kind)
			continue
		}
		m := tr.Message()
		if err := m.Validate(); err != nil {
			t.Errorf("%s: %v", kind, err)
		}
		if m.Kind != tr.Kind || m.Key != tr.Key || m.ProfileID != tr.ProfileID || m.Reason != tr.Reason || !m.FiredAt.Equal(tr.FiredAt) ||
			m.MessageID != message.TriggerID(tr.ProfileID, tr.Key) {
			t.Errorf("%s: message %+v of trigger %+v", kind, m, tr)
		}
		if got := m.MessageAttributes(); !reflect.DeepEqual(got, map[string]string{message.AttrKind: kind}) {
			t.Errorf("%s: attributes %v", kind, got)
		}
		body, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := schemas.Validate(m.MessageType(), m.MessageVersion(), body); err != nil {
			t.Errorf("%s: %v", kind, err)
		}
		var fields map[string]any
		_ = json.Unmarshal(body, &fields)
		for k, field := range own {
			if _, has := fields[field]; has != (k == kind) {
				t.Errorf("%s: has %s = %v", kind, field, has)
			}
		}
	}
	m := cases[AbandonedBasket].Message()
	if want := (message.Basket{Items: []message.BasketItem{{ProductID: "tent", Quantity: 1, Price: 49.5}}, Value: 49.5, UpdatedAt: t0}); !reflect.DeepEqual(*m.Basket, want) || m.UserID != "u1" {
		t.Errorf("basket message %+v, basket %+v", m, *m.Basket)
	}
}

func TestFiresOncePerEpisode(t *testing.T) {
	c := newCustomer(true).view("p1", 0).cart("p1", 25, minute)
	due, ok := Default.Due(c.p, 1, nil, at(minute))
	if !ok || !due.Equal(at(minute+hour)) {
		t.Fatalf("due %v, %v; want an hour after the basket", due, ok)
	}
	var st State
	fired := Default.Fire(c.p, 1, st, due)
	st = Default.Record(st, fired, due)
	if len(fired) != 1 {
		t.Fatalf("fired %v", kindsOf(fired))
	}
	for _, later := range []time.Duration{0, minute, 5 * hour} {
		if again := Default.Fire(c.p, 1, st, due.Add(later)); len(again) != 0 {
			t.Errorf("fired again %v after %v", kindsOf(again), later)
		}
	}
	if next, ok := Default.Due(c.p, 1, st, due); ok {
		t.Errorf("still due at %v after firing", next)
	}

	// A late event from before the basket's last change is the same episode.
	c.cart("p3", 1, 30*time.Second)
	if again := Default.Fire(c.p, 1, st, at(3*hour)); len(again) != 0 {
		t.Errorf("late addition fired %v", kindsOf(again))
	}
	// A new change is a new episode, held back by the cooldown until a day after the first.
	c.cart("p2", 10, 2*hour)
	if got := Default.Fire(c.p, 1, st, at(3*hour+minute)); len(got) != 0 {
		t.Errorf("fired %v during the cooldown", kindsOf(got))
	}
	next, ok := Default.Due(c.p, 1, st, at(3*hour+minute))
	if cooled := due.Add(24 * hour); !ok || !next.Equal(cooled) {
		t.Fatalf("due %v, %v; want the end of the cooldown %v", next, ok, cooled)
	}
	got := Default.Fire(c.p, 1, st, next)
	if len(got) != 1 || got[0].Key == fired[0].Key || got[0].Basket.Value != 36 {
		t.Errorf("after the cooldown: %+v", got)
	}
	// Without a cooldown it would have fired as soon as due.
	noCooldown := Default
	noCooldown.Cooldown = nil
	if got := noCooldown.Fire(c.p, 1, st, at(3*hour+minute)); len(got) != 1 {
		t.Errorf("without cooldown fired %v", kindsOf(got))
	}
}

func TestLateOrderCancelsTheTrigger(t *testing.T) {
	c := newCustomer(true).cart("p1", 25, 0)
	if due, ok := Default.Due(c.p, 1, nil, at(0)); !ok || !due.Equal(at(hour)) {
		t.Fatalf("due %v %v", due, ok)
	}
	// The order happened ten minutes after the addition but reaches the profile after the hour.
	c.order("o1", 10*minute)
	if got := Default.Fire(c.p, 1, nil, at(hour+5*minute)); len(got) != 0 {
		t.Errorf("fired %v for someone who bought", kindsOf(got))
	}
	if due, ok := Default.Due(c.p, 1, nil, at(hour+5*minute)); ok {
		t.Errorf("still due at %v", due)
	}
}

// While the customer has an open service case, nothing fires and nothing is due; once it closes,
// what has not expired fires. SendDuringOpenCases fires regardless.
func TestOpenServiceCaseHoldsTriggers(t *testing.T) {
	c := newCustomer(true).cart("p1", 25, 0)
	status := func(st string) func(*profile.Activity) {
		return func(a *profile.Activity) {
			a.Case = &profile.CaseActivity{ID: "c1", Status: st, Topic: "late delivery"}
		}
	}
	c.track("Case Opened", 30*minute, status(profile.CaseOpen))
	if got := Default.Fire(c.p, 1, nil, at(hour+5*minute)); len(got) != 0 {
		t.Errorf("fired %v during an open case", kindsOf(got))
	}
	if due, ok := Default.Due(c.p, 1, nil, at(hour+5*minute)); ok {
		t.Errorf("due at %v during an open case", due)
	}
	send := Default
	send.SendDuringOpenCases = true
	if got := send.Fire(c.p, 1, nil, at(hour+5*minute)); !reflect.DeepEqual(kindsOf(got), []string{AbandonedBasket}) {
		t.Errorf("SendDuringOpenCases: fired %v", kindsOf(got))
	}
	c.track("Case Closed", 2*hour, status(profile.CaseClosed))
	if due, ok := Default.Due(c.p, 1, nil, at(2*hour)); !ok || !due.Equal(at(hour)) {
		t.Errorf("after the case: due %v %v, want the basket's hour", due, ok)
	}
	if got := Default.Fire(c.p, 1, nil, at(2*hour)); !reflect.DeepEqual(kindsOf(got), []string{AbandonedBasket}) {
		t.Errorf("after the case: fired %v", kindsOf(got))
	}
}

func TestStateKeepsWhatCanMatter(t *testing.T) {
	var st State
	for i := range 60 {
		st = Default.Record(st, []Trigger{{Kind: AbandonedForm, Key: fmt.Sprint(i), FiredAt: at(time.Duration(i) * day)}}, at(time.Duration(i)*day))
	}
	// The longest cooldown (30 days) is what the default state must remember.
	if len(st) != 31 || st[0].Key != "29" || st[30].Key != "59" {
		t.Errorf("state of %d: %+v … %+v", len(st), st[0], st[len(st)-1])
	}
	short := Default
	short.Cooldown = nil
	if st := short.Record(st, nil, at(60*day)); len(st) != 1 || st[0].Key != "59" {
		t.Errorf("without cooldowns %+v, want the one of the last 26 hours", st)
	}
}

// TestSchedulerNeverRepeats runs the rules the way the scheduler does, at the times Due names,
// over random journeys: no episode fires twice, nothing fires for someone without consent, and
// after a run the profile is never due in the past.
func TestSchedulerNeverRepeats(t *testing.T) {
	kinds := map[string]int{}
	defer func() {
		for _, k := range []string{AbandonedBasket, AbandonedBrowse, AbandonedForm, ReturningProspect, ReturningLapsed} {
			if kinds[k] == 0 {
				t.Errorf("no %s in any journey: the simulation misses a rule (%v)", k, kinds)
			}
		}
	}()
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 3))
		c := newCustomer(r.IntN(5) > 0)
		var st State
		seen := map[string]bool{}
		clock, last := time.Duration(0), at(0)
		pAlive := r.Float64()
		cfg := Default
		cfg.LapsedPAlive = 0.2
		run := func(now time.Time) {
			fired := cfg.Fire(c.p, pAlive, st, now)
			for _, f := range fired {
				if seen[f.Key] {
					t.Fatalf("seed %d: %s fired twice", seed, f.Key)
				}
				if !c.p.Consent[profile.PurposeMarketing].Granted {
					t.Fatalf("seed %d: fired without consent", seed)
				}
				seen[f.Key] = true
				kinds[f.Kind]++
			}
			st = cfg.Record(st, fired, now)
			if due, ok := cfg.Due(c.p, pAlive, st, now); ok && !due.After(now) {
				t.Fatalf("seed %d: due at %v, not after %v", seed, due, now)
			}
		}
		for range 40 {
			clock += []time.Duration{time.Duration(r.IntN(20)) * minute, time.Duration(r.IntN(5)) * hour, time.Duration(r.IntN(60)) * day}[r.IntN(3)]
			// The scheduler visits every due time before the next event arrives.
			for {
				due, ok := cfg.Due(c.p, pAlive, st, last)
				if !ok || due.After(at(clock)) {
					break
				}
				last = later(due, last)
				run(last)
			}
			p := fmt.Sprint("p", r.IntN(6))
			switch r.IntN(7) {
			case 0:
				c.page(clock)
			case 1, 2:
				c.view(p, clock)
			case 3:
				c.cart(p, 10, clock)
			case 4:
				c.order(fmt.Sprint("o", clock), clock)
			case 5:
				c.form("Form Started", "f", clock)
			case 6:
				c.form("Form Submitted", "f", clock)
			}
			if r.IntN(10) == 0 { // an event arrives late
				c.view(p, clock-time.Duration(r.IntN(120))*minute)
			}
		}
	}
}

// TestScenario follows one shopper through a few weeks.
func TestScenario(t *testing.T) {
	c := newCustomer(true)
	var st State
	var log []string
	step := func(now time.Duration) {
		fired := Default.Fire(c.p, 1, st, at(now))
		st = Default.Record(st, fired, at(now))
		for _, f := range fired {
			log = append(log, fmt.Sprintf("%v %s", now, f.Kind))
		}
	}
	// Day 0: browses two tents and leaves.
	c.page(0).view("tent-a", minute).view("tent-b", 3*minute)
	step(hour)
	step(3 * hour) // abandoned browse
	// Day 1: puts a tent in the basket, starts the quote form, leaves.
	c.page(day).cart("tent-b", 199, day+2*minute).form("Form Started", "quote", day+3*minute)
	step(day + 40*minute)  // the form (30 minutes idle)
	step(day + 2*hour)     // the basket (an hour idle)
	step(day + 3*hour)     // nothing more
	c.order("o1", 2*day)   // Day 2: buys
	step(2*day + 3*hour)   // nothing
	c.page(50 * day)       // returns seven weeks later: a customer, not lapsed
	step(50*day + minute)  // nothing
	c.page(400 * day)      // more than a year later: lapsed, back
	step(400*day + minute) // returning lapsed
	step(400*day + 2*minute)
	want := []string{"3h0m0s abandoned-browse", "24h40m0s abandoned-form", "26h0m0s abandoned-basket", "9600h1m0s returning-lapsed"}
	if !reflect.DeepEqual(log, want) {
		t.Errorf("fired\n%v\nwant\n%v", log, want)
	}
}
