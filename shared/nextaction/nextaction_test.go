package nextaction

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/calendar"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const day = calendar.Day

// ago is the time d before now.
func before(d time.Duration) time.Time { return now.Add(-d) }

// shopper builds a profile from track events.
type shopper struct {
	p profile.Profile
	n int
}

func newShopper(id string) *shopper {
	return &shopper{p: profile.Profile{ID: id, AnonymousIDs: []string{"a-" + id}}}
}

func (s *shopper) track(event string, at time.Time, f func(*profile.Activity)) *shopper {
	s.n++
	a := profile.Activity{MessageID: fmt.Sprintf("%s-%d", s.p.ID, s.n), Type: beacon.Track, Event: event, AnonymousID: "a-" + s.p.ID, At: at}
	if f != nil {
		f(&a)
	}
	s.p = profile.Apply(s.p, a, []identity.ID{identity.AnonymousID("a-" + s.p.ID)})
	return s
}

func line(id, cat string, q int, price float64) profile.Line {
	return profile.Line{ProductID: id, Category: cat, Quantity: q, Price: price}
}

func (s *shopper) view(id, cat string, at time.Time) *shopper {
	return s.track("Product Viewed", at, func(a *profile.Activity) { a.Products = []profile.Line{line(id, cat, 1, 0)} })
}

func (s *shopper) cart(id, cat string, price float64, at time.Time) *shopper {
	return s.track("Product Added", at, func(a *profile.Activity) { a.Products = []profile.Line{line(id, cat, 1, price)} })
}

func (s *shopper) order(id string, at time.Time, lines ...profile.Line) *shopper {
	return s.track("Order Completed", at, func(a *profile.Activity) { a.OrderID, a.Products = id, lines })
}

func (s *shopper) form(event, id string, at time.Time) *shopper {
	return s.track(event, at, func(a *profile.Activity) { a.FormID = id })
}

func (s *shopper) caseEvent(id, status, topic string, at time.Time) *shopper {
	return s.track("Case Updated", at, func(a *profile.Activity) { a.Case = &profile.CaseActivity{ID: id, Status: status, Topic: topic} })
}

func TestAffinity(t *testing.T) {
	hl := Config{HalfLife: 10 * day}
	score := func(s *shopper, id string) float64 {
		for _, a := range hl.Products(s.p, now) {
			if a.ID == id {
				return a.Score
			}
		}
		t.Fatalf("no affinity to %s", id)
		return 0
	}
	views := func(n int) *shopper {
		s := newShopper("v")
		for range n {
			s.view("p", "", now)
		}
		return s
	}
	for _, c := range []struct {
		name string
		got  float64
		want float64
	}{
		{"one view", score(views(1), "p"), 1},
		{"three views count twice one (diminishing returns)", score(views(3), "p"), 2},
		{"seven views count three times one", score(views(7), "p"), 3},
		{"a basket addition weighs three views' worth of log", score(newShopper("c").cart("p", "", 1, now), "p"), 3},
		{"interest halves in a half-life", score(newShopper("d").view("p", "", before(10*day)), "p"), 0.5},
		{"and again in the next", score(newShopper("e").view("p", "", before(20*day)), "p"), 0.25},
		{"a purchase dates from its order", score(newShopper("f").order("o", before(10*day), line("p", "", 1, 1)), "p"), 1.5},
		{"no half-life, no decay", Config{}.Products(newShopper("g").view("p", "", before(99*day)).p, now)[0].Score, 1},
	} {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s: %v, want %v", c.name, c.got, c.want)
		}
	}

	// Strongest first, ties by id; categories alike.
	s := newShopper("s").view("b", "Bags", now).view("a", "Bags", now).cart("z", "Shoes", 1, now).view("y", "Shoes", before(30*day))
	var ids []string
	for _, a := range hl.Products(s.p, now) {
		ids = append(ids, a.ID)
	}
	if want := []string{"z", "a", "b", "y"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("order %v, want %v", ids, want)
	}
	cats := hl.Categories(s.p, now)
	if len(cats) != 2 || cats[0].ID != "Shoes" || cats[0].Viewed != 1 || cats[0].Carted != 1 || cats[1].ID != "Bags" || cats[1].Viewed != 2 {
		t.Errorf("categories %+v", cats)
	}
}

// summaries is a population where people who look at a tent buy a sleeping bag far more often
// than others do.
func population(n int, seed uint64) []Summary {
	r := rand.New(rand.NewPCG(seed, 1))
	var out []Summary
	for range n {
		var s Summary
		if r.IntN(4) == 0 {
			s.Viewed = append(s.Viewed, "tent")
			if r.IntN(2) == 0 {
				s.Bought = append(s.Bought, "sleeping-bag")
			}
		}
		for range r.IntN(4) {
			s.Viewed = append(s.Viewed, fmt.Sprintf("p%d", r.IntN(12)))
		}
		for range r.IntN(2) {
			s.Bought = append(s.Bought, fmt.Sprintf("p%d", r.IntN(12)))
		}
		out = append(out, s)
	}
	return out
}

func tallyOf(ss []Summary) Tally {
	var t Tally
	for _, s := range ss {
		t.Add(s)
	}
	return t
}

func TestModelCountsLift(t *testing.T) {
	// 10 profiles: 4 looked at x, 3 of them bought y; 5 bought y in all; 2 bought z after x.
	ss := []Summary{
		{Viewed: []string{"x"}, Bought: []string{"y", "z"}},
		{Viewed: []string{"x", "x"}, Bought: []string{"y", "z"}}, // duplicates count once
		{Viewed: []string{"x"}, Bought: []string{"y"}},
		{Viewed: []string{"x"}},
		{Bought: []string{"y"}}, {Bought: []string{"y"}},
		{Bought: []string{"z"}}, {Bought: []string{"z"}}, {Bought: []string{"z"}},
		{},
	}
	tally := tallyOf(ss)
	if tally.Profiles != 10 || tally.Viewed["x"] != 4 || tally.Bought["y"] != 5 || tally.ViewedBought["x"]["y"] != 3 ||
		tally.BoughtBought["y"]["z"] != 2 || tally.BoughtBought["z"]["y"] != 2 {
		t.Fatalf("tally %+v", tally)
	}
	m, err := tally.Model(ModelConfig{MinSupport: 2, TopK: 5, MaxItems: 10})
	if err != nil {
		t.Fatal(err)
	}
	// lift(x→y) = 3·10/(4·5) = 1.5; lift(x→z) = 2·10/(4·5) = 1; lift(y→z) = 2·10/(5·5) = 0.8.
	if want := map[string][]Neighbour{"x": {{ProductID: "y", Support: 3, Lift: 1.5}}}; !reflect.DeepEqual(m.ViewedBought, want) {
		t.Errorf("viewed→bought %+v, want %+v (x→z has lift 1: no association)", m.ViewedBought, want)
	}
	if m.BoughtBought != nil {
		t.Errorf("bought→bought %+v, want none (lift below 1)", m.BoughtBought)
	}
	if m, _ := tally.Model(ModelConfig{MinSupport: 4, TopK: 5, MaxItems: 10}); m.ViewedBought != nil {
		t.Errorf("support 3 below a minimum of 4 kept: %+v", m.ViewedBought)
	}
	for _, bad := range []ModelConfig{{}, {MinSupport: 1, TopK: 0, MaxItems: 1}, {MinSupport: 1, TopK: 1, MaxItems: -1}} {
		if _, err := tally.Model(bad); err == nil || !strings.Contains(err.Error(), "invalid model") {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

func TestModelIsBounded(t *testing.T) {
	tally := tallyOf(population(3000, 7))
	m, err := tally.Model(ModelConfig{MinSupport: 3, TopK: 2, MaxItems: 4})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.ViewedBought) != 4 || len(m.BoughtBought) > 4 {
		t.Errorf("%d and %d products, want at most 4", len(m.ViewedBought), len(m.BoughtBought))
	}
	for x, ns := range m.ViewedBought {
		if len(ns) > 2 {
			t.Errorf("%s: %d neighbours", x, len(ns))
		}
		for i := 1; i < len(ns); i++ {
			if ns[i].Lift > ns[i-1].Lift {
				t.Errorf("%s: neighbours not by lift: %+v", x, ns)
			}
		}
	}
	// The most looked-at products are the ones kept.
	if _, ok := m.ViewedBought["tent"]; !ok {
		t.Errorf("tent (looked at by a quarter) dropped: %v", m.ViewedBought)
	}
	if ns := m.ViewedBought["tent"]; len(ns) == 0 || ns[0].ProductID != "sleeping-bag" || ns[0].Lift < 2 {
		t.Errorf("tent → %+v, want the sleeping bag first", ns)
	}
}

func TestTalliesMergeToTheWhole(t *testing.T) {
	for seed := range uint64(20) {
		ss := population(200, seed)
		whole := tallyOf(ss)
		r := rand.New(rand.NewPCG(seed, 2))
		// Split into random segments, tally each, merge in a random order.
		parts := make([][]Summary, 1+r.IntN(6))
		for _, s := range ss {
			i := r.IntN(len(parts))
			parts[i] = append(parts[i], s)
		}
		var tallies []Tally
		for _, p := range parts {
			tallies = append(tallies, tallyOf(p))
		}
		r.Shuffle(len(tallies), func(i, j int) { tallies[i], tallies[j] = tallies[j], tallies[i] })
		var merged Tally
		for _, tl := range tallies {
			merged.Merge(tl)
		}
		if !reflect.DeepEqual(merged, whole) {
			t.Fatalf("seed %d: merged tally differs from the whole", seed)
		}
		// (a+b)+c = a+(b+c), and a tally survives JSON.
		a, b, c := tallyOf(ss[:50]), tallyOf(ss[50:120]), tallyOf(ss[120:])
		left, right := a, b
		left.Merge(b)
		left.Merge(c)
		right.Merge(c)
		a2 := tallyOf(ss[:50])
		a2.Merge(right)
		var decoded Tally
		raw, _ := json.Marshal(left)
		if err := json.Unmarshal(raw, &decoded); err != nil || !reflect.DeepEqual(left, a2) || !reflect.DeepEqual(decoded, whole) {
			t.Fatalf("seed %d: merge is not associative or JSON loses counts (%v)", seed, err)
		}
		m1, _ := merged.Model(DefaultModel)
		m2, _ := whole.Model(DefaultModel)
		if !reflect.DeepEqual(m1, m2) {
			t.Fatalf("seed %d: models differ", seed)
		}
	}
}

func kinds(as []Action) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Kind+":"+a.Case+a.Product+a.Form+a.Category)
	}
	return out
}

func TestRecommend(t *testing.T) {
	m := Model{Profiles: 100,
		ViewedBought: map[string][]Neighbour{"tent": {{ProductID: "bag", Support: 9, Lift: 4.2}, {ProductID: "boots", Support: 5, Lift: 2}}},
		BoughtBought: map[string][]Neighbour{"stove": {{ProductID: "gas", Support: 7, Lift: 5}, {ProductID: "tent", Support: 5, Lift: 3}}},
	}
	for _, c := range []struct {
		name    string
		shopper *shopper
		want    []string
		reasons []string
	}{
		{
			name:    "viewed, not bought, with what others bought",
			shopper: newShopper("a").view("tent", "Camping", before(2*day)).view("tent", "Camping", before(day)).view("tent", "Camping", before(day)),
			want:    []string{"remind-viewed:tent", "recommend-product:bag", "explore-category:Camping", "recommend-product:boots"},
			reasons: []string{"viewed 3 times, last 1 day ago, not bought", "people who looked at tent bought bag (lift 4.2)"},
		},
		{
			name:    "bought is never recommended nor reminded",
			shopper: newShopper("b").view("tent", "", before(day)).order("o1", before(day), line("stove", "", 1, 30), line("tent", "", 1, 99)),
			want:    []string{"recommend-product:bag", "recommend-product:gas", "recommend-product:boots"},
			reasons: []string{"people who looked at tent bought bag (lift 4.2)", "people who bought stove bought gas (lift 5)"},
		},
		{
			name: "the basket and an open form come first; basket items are not reminded",
			shopper: newShopper("c").cart("tent", "", 99.5, before(3*time.Hour)).cart("bag", "", 20, before(3*time.Hour)).
				form("Form Started", "quote", before(time.Hour)).form("Form Started", "news", before(2*time.Hour)).form("Form Submitted", "news", before(time.Hour)),
			want:    []string{"complete-basket:", "complete-form:quote", "recommend-product:boots"},
			reasons: []string{"2 items worth 119.50 left in the basket 3 hours ago", `started form "quote" 1 hour ago, not submitted`},
		},
		{
			name: "open service cases come first, oldest first; no win-back offer while one is open",
			shopper: newShopper("e").order("o1", before(200*day), line("stove", "", 1, 30)).
				caseEvent("c9", "open", "broken stove", before(3*day)).caseEvent("c2", "waiting on customer", "", before(5*day)).
				caseEvent("c1", "closed", "", before(6*day)),
			want:    []string{"resolve-case:c2", "resolve-case:c9"}, // the order is too old to recommend from, and no win-back
			reasons: []string{"case c2 open since 5 days ago, waiting on customer", "case c9 (broken stove) open since 3 days ago, open"},
		},
		{
			name:    "a lapsed customer is won back",
			shopper: newShopper("d").order("o1", before(200*day), line("stove", "", 1, 30)).order("o2", before(120*day), line("gas", "", 1, 5)),
			want:    []string{"win-back:"},
			reasons: []string{"2 orders, the last 120 days ago"},
		},
	} {
		got := Recommend(c.shopper.p, m, now, 10)
		if k := kinds(got); !reflect.DeepEqual(k, c.want) {
			t.Errorf("%s: %v, want %v\n%+v", c.name, k, c.want, got)
			continue
		}
		for i, r := range c.reasons {
			if got[i].Reason != r {
				t.Errorf("%s: reason %d %q, want %q", c.name, i, got[i].Reason, r)
			}
		}
		for i := 1; i < len(got); i++ {
			if got[i].Score > got[i-1].Score {
				t.Errorf("%s: not by score: %+v", c.name, got)
			}
		}
		if again := Recommend(c.shopper.p, m, now, 10); !reflect.DeepEqual(again, got) {
			t.Errorf("%s: not deterministic", c.name)
		}
		if top := Recommend(c.shopper.p, m, now, 1); len(top) != 1 || top[0] != got[0] {
			t.Errorf("%s: top 1 = %+v", c.name, top)
		}
	}

	// Ties keep the kind order, then the product.
	tie := newShopper("t").view("b", "", now).view("a", "", now)
	if got := kinds(Config{}.Recommend(tie.p, Model{}, now, 5)); !reflect.DeepEqual(got, []string{"remind-viewed:a", "remind-viewed:b"}) {
		t.Errorf("ties: %v", got)
	}
	merged := newShopper("m").view("tent", "", now).p
	merged.MergedInto = "other"
	if got := Recommend(merged, m, now, 5); got != nil {
		t.Errorf("merged profile: %+v", got)
	}
	if got := Recommend(tie.p, m, now, 0); got != nil {
		t.Errorf("n = 0: %+v", got)
	}
}

// TestScenario builds the model from a simulated shop (profiles built event by event, scanned in
// two segments) and recommends for a visitor who keeps coming back to a tent.
func TestScenario(t *testing.T) {
	r := rand.New(rand.NewPCG(42, 42))
	catalogue := []string{"tent", "sleeping-bag", "stove", "gas", "boots", "socks", "map", "torch"}
	category := map[string]string{"tent": "Camping", "sleeping-bag": "Camping", "stove": "Cooking", "gas": "Cooking",
		"boots": "Footwear", "socks": "Footwear", "map": "Navigation", "torch": "Camping"}
	var segments [2]Tally
	for i := range 2000 {
		s := newShopper(fmt.Sprint(i))
		at := before(time.Duration(1+r.IntN(60)) * day)
		looked := catalogue[r.IntN(len(catalogue))]
		s.view(looked, category[looked], at)
		var bought []profile.Line
		switch {
		case looked == "tent" && r.Float64() < 0.4:
			bought = append(bought, line("sleeping-bag", "Camping", 1, 80))
		case looked == "stove" && r.Float64() < 0.6:
			bought = append(bought, line("stove", "Cooking", 1, 40), line("gas", "Cooking", 2, 5))
		case r.Float64() < 0.1:
			p := catalogue[r.IntN(len(catalogue))]
			bought = append(bought, line(p, category[p], 1, 10))
		}
		if bought != nil {
			s.order("o"+fmt.Sprint(i), at.Add(time.Hour), bought...)
		}
		segments[i%2].Add(Summarise(s.p))
	}
	var tally Tally
	tally.Merge(segments[0])
	tally.Merge(segments[1])
	m, err := tally.Model(DefaultModel)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(m)
	if err != nil || len(raw) > 4096 {
		t.Fatalf("model of %d bytes, %v", len(raw), err)
	}
	var stored Model
	if err := json.Unmarshal(raw, &stored); err != nil || !reflect.DeepEqual(stored, m) {
		t.Fatalf("model does not survive JSON: %v", err)
	}
	if ns := stored.BoughtBought["stove"]; len(ns) == 0 || ns[0].ProductID != "gas" {
		t.Errorf("stove buyers → %+v, want gas first", ns)
	}

	visitor := newShopper("v").view("tent", "Camping", before(5*day)).view("tent", "Camping", before(2*day)).
		view("map", "Navigation", before(40*day))
	got := Recommend(visitor.p, stored, now, 3)
	t.Logf("%+v", got)
	if k := kinds(got); len(k) != 3 || k[0] != "remind-viewed:tent" || k[1] != "recommend-product:sleeping-bag" || k[2] != "explore-category:Camping" {
		t.Errorf("actions %v", k)
	}
	if !strings.HasPrefix(got[1].Reason, "people who looked at tent bought sleeping-bag (lift ") {
		t.Errorf("reason %q", got[1].Reason)
	}
}
