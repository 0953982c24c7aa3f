package profile

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
)

var (
	spring = &beacon.Campaign{Source: "google", Medium: "cpc", Name: "spring"}
	summer = &beacon.Campaign{Source: "google", Medium: "cpc", Name: "summer"}
	click  = &beacon.Campaign{ClickID: "EAIaIQ", ClickIDType: "gclid"}
)

// ev builds an event the way it comes off the stream.
type ev struct {
	typ, name string
	min       int
	props     string
	campaign  *beacon.Campaign
	channel   string
	sec       int // seconds past min
}

var serial int

func (e ev) activity(t *testing.T) Activity {
	t.Helper()
	serial++
	be := beacon.Event{Type: e.typ, MessageID: fmt.Sprintf("m%d", serial), AnonymousID: "A",
		Timestamp: at(e.min).Add(time.Duration(e.sec) * time.Second)}
	switch e.typ {
	case beacon.Track:
		be.Event = e.name
	case beacon.Page:
		be.Context = json.RawMessage(`{"page":{"path":"` + e.name + `"}}`)
	}
	if e.props != "" {
		be.Properties = json.RawMessage(e.props)
	}
	if e.campaign != nil || e.channel != "" {
		be.Enrichment = &beacon.Enrichment{Campaign: e.campaign, Channel: e.channel}
	}
	a, err := FromEvent(be)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func pageAt(path string, min int) ev { return ev{typ: beacon.Page, name: path, min: min} }

func trackAt(name string, min int, props string) ev {
	return ev{typ: beacon.Track, name: name, min: min, props: props}
}

func applyAll(t *testing.T, acts []Activity, order []int) Profile {
	t.Helper()
	p := Profile{ID: "p"}
	for _, i := range order {
		p = Apply(p, acts[i], []identity.ID{identity.AnonymousID("A")})
	}
	return p
}

func activities(t *testing.T, evs ...ev) []Activity {
	var out []Activity
	for _, e := range evs {
		out = append(out, e.activity(t))
	}
	return out
}

func inOrder(n int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	return order
}

type sessionWant struct {
	start, end, pageViews, engaged int
	landing, channel               string
}

func sessionsOf(p Profile) []sessionWant {
	var out []sessionWant
	for _, s := range p.Sessions() {
		out = append(out, sessionWant{int(s.Start.Sub(t0) / time.Minute), int(s.End.Sub(t0) / time.Minute),
			s.PageViews, s.EngagedSeconds, s.LandingPage, s.Channel})
	}
	return out
}

func TestSessions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		events []ev
		want   []sessionWant
	}{
		{"a gap of more than 30 minutes starts a session", []ev{
			pageAt("/", 0), pageAt("/a", 10), pageAt("/b", 40), trackAt("Signed Up", 71, ""), pageAt("/c", 75),
		}, []sessionWant{{0, 40, 3, 0, "/", ""}, {71, 75, 1, 0, "/c", ""}}},
		{"a new campaign starts a session, an event without one does not", []ev{
			{typ: beacon.Page, name: "/", min: 0, campaign: spring, channel: "paid search"},
			{typ: beacon.Page, name: "/shoes", min: 5, channel: "direct"},
			{typ: beacon.Page, name: "/summer", min: 10, campaign: summer, channel: "paid search"},
			{typ: beacon.Page, name: "/summer", min: 12, campaign: summer, channel: "paid search"},
			{typ: beacon.Page, name: "/ad", min: 14, campaign: click, channel: "paid other"},
			{typ: beacon.Page, name: "/mail", min: 16, channel: "email"},
		}, []sessionWant{{0, 5, 2, 0, "/", "paid search"}, {10, 12, 2, 0, "/summer", "paid search"}, {14, 16, 2, 0, "/ad", "paid other"}}},
		{"engaged time is summed per session", []ev{
			pageAt("/", 0),
			trackAt("Page Ping", 1, `{"engagedSeconds":15}`),
			trackAt("page_ping", 2, `{}`),
			trackAt("PAGE-PING", 3, `{"engagedSeconds":"20"}`),
			pageAt("/later", 60),
			trackAt("page ping", 61, `{"engagedSeconds":99999}`),
			trackAt("Page Ping", 62, `{"engagedSeconds":-5}`),
			trackAt("Page Ping", 63, `{"engagedSeconds":"soon"}`),
		}, []sessionWant{{0, 3, 1, 45, "/", ""}, {60, 63, 1, MaxPingSeconds + 2*DefaultPingSeconds, "/later", ""}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			acts := activities(t, tc.events...)
			p := applyAll(t, acts, inOrder(len(acts)))
			if got := sessionsOf(p); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("sessions = %+v\nwant       %+v", got, tc.want)
			}
			engaged := 0
			for _, s := range tc.want {
				engaged += s.engaged
			}
			last := tc.want[len(tc.want)-1]
			if p.Visits != len(tc.want) || p.EngagedSeconds != engaged || p.Session == nil || p.Session.LandingPage != last.landing ||
				p.LastChannel != last.channel && last.channel != "" {
				t.Errorf("visits %d, engaged %d, session %+v, last channel %q", p.Visits, p.EngagedSeconds, p.Session, p.LastChannel)
			}
			// Any order of arrival gives the same profile.
			for seed := range uint64(20) {
				order := inOrder(len(acts))
				rand.New(rand.NewPCG(seed, 1)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
				if got := applyAll(t, acts, order); !reflect.DeepEqual(got, p) {
					t.Fatalf("order %v:\n%+v\nwant\n%+v", order, got, p)
				}
			}
		})
	}
}

func TestLateEventJoinsTwoSessions(t *testing.T) {
	acts := activities(t, pageAt("/", 0), pageAt("/b", 50), pageAt("/a", 25))
	p := applyAll(t, acts, []int{0, 1})
	if p.Visits != 2 {
		t.Fatalf("before the late event: %d visits, want 2", p.Visits)
	}
	p = Apply(p, acts[2], nil)
	if got, want := sessionsOf(p), []sessionWant{{0, 50, 3, 0, "/", ""}}; p.Visits != 1 || !reflect.DeepEqual(got, want) {
		t.Errorf("after the late event: %d visits, sessions %+v, want one %+v", p.Visits, got, want)
	}
}

func TestWindowSettlesOldSessions(t *testing.T) {
	p := Profile{ID: "p"}
	visits := MaxHits + 50
	for i := range visits { // one page and one ping an hour
		p = Apply(p, Activity{Type: beacon.Page, At: at(60 * i), Page: "/"}, nil)
		p = Apply(p, Activity{Type: beacon.Track, Event: "Page Ping", At: at(60*i + 1), Engaged: 10}, nil)
	}
	if p.Visits != visits || p.EngagedSeconds != 10*visits || len(p.Hits) != MaxHits || p.Settled.Visits != visits-MaxHits/2 {
		t.Fatalf("visits %d, engaged %d, hits kept %d, settled %+v", p.Visits, p.EngagedSeconds, len(p.Hits), p.Settled)
	}
	if !p.Hits[0].At.Equal(at(60*(visits-MaxHits/2))) || !p.Settled.Until.Equal(at(60*(visits-MaxHits/2-1)+1)) {
		t.Errorf("window starts %v, settled until %v: want whole sessions settled", p.Hits[0].At, p.Settled.Until)
	}
	// An event older than the window adds its engaged time, not a visit.
	late := Apply(p, Activity{Type: beacon.Track, Event: "Page Ping", At: at(30), Engaged: 7}, nil)
	if late.Visits != visits || late.EngagedSeconds != 10*visits+7 || len(late.Hits) != MaxHits {
		t.Errorf("late event: visits %d, engaged %d, hits %d", late.Visits, late.EngagedSeconds, len(late.Hits))
	}

	// One long session is cut inside and still counts once.
	long := Profile{ID: "q"}
	for i := range MaxHits + 30 {
		long = Apply(long, Activity{Type: beacon.Page, At: at(i), Page: fmt.Sprint(i)}, nil)
	}
	if long.Visits != 1 || len(long.Hits) != MaxHits || long.Session.PageViews != MaxHits {
		t.Errorf("long session: visits %d, hits %d, session %+v", long.Visits, len(long.Hits), long.Session)
	}
	long = Apply(long, Activity{Type: beacon.Page, At: at(MaxHits + 30 + 31), Campaign: Campaign{Source: "x"}}, nil)
	if long.Visits != 2 {
		t.Errorf("after a new session: visits %d, want 2", long.Visits)
	}
}

func TestFoldDerivesSessionsFromTheMergedWindow(t *testing.T) {
	acts := activities(t,
		pageAt("/", 0), trackAt("Page Ping", 1, `{"engagedSeconds":12}`), pageAt("/shoes", 10), // device A
		trackAt("Product Added", 11, `{"product_id":"p1","price":10,"quantity":2}`),
		trackAt("Form Started", 12, `{"formId":"newsletter"}`),
		pageAt("/account", 30), trackAt("Order Completed", 35, `{"order_id":"o1","revenue":20,"products":[{"product_id":"p1","quantity":2}]}`), // device B
		trackAt("Product Viewed", 36, `{"product_id":"p9"}`),
		trackAt("Order Completed", 37, `{"order_id":"o1","revenue":20}`),
		pageAt("/back", 120), trackAt("Product Added", 121, `{"product_id":"p2","price":5}`),
		trackAt("Form Started", 122, `{"formId":"contact"}`),
	)
	deviceA := applyAll(t, acts, []int{0, 1, 2, 3, 4})
	deviceB := applyAll(t, acts, []int{5, 6, 7, 8, 9, 10, 11})
	if deviceA.Visits+deviceB.Visits != 3 {
		t.Fatalf("visits apart: %d + %d", deviceA.Visits, deviceB.Visits)
	}
	folded, err := Fold(deviceB, deviceA)
	if err != nil {
		t.Fatal(err)
	}
	all := applyAll(t, acts, inOrder(len(acts)))
	if got, want := sessionsOf(folded), sessionsOf(all); !reflect.DeepEqual(got, want) || len(got) != 2 {
		t.Errorf("folded sessions %+v, want %+v (the first visit spans both devices)", got, want)
	}
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"visits", folded.Visits, 2}, {"engaged", folded.EngagedSeconds, 12},
		{"hits", folded.Hits, all.Hits}, {"session", folded.Session, all.Session},
		{"orders", folded.OrderCount, 1}, {"revenue", folded.Revenue, 20.0},
		{"products", folded.Products, Products{Viewed: map[string]int{"p9": 1}, Carted: map[string]int{"p1": 2, "p2": 1}, Bought: map[string]int{"p1": 2},
			Last: map[string]time.Time{"p1": at(11), "p2": at(121), "p9": at(36)}}},
		{"basket", folded.Basket.Open(), &OpenBasket{Items: []BasketItem{{ProductID: "p2", Quantity: 1, Price: 5}}, Value: 5, UpdatedAt: at(121)}},
		{"open forms", folded.OpenForms(), []OpenForm{{FormID: "newsletter", StartedAt: at(12)}, {FormID: "contact", StartedAt: at(122)}}},
		{"all in one", folded.Products, all.Products},
	} {
		if !reflect.DeepEqual(f.got, f.want) {
			t.Errorf("%s = %+v, want %+v", f.name, f.got, f.want)
		}
	}
}
