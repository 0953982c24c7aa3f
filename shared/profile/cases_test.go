package profile

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

func TestServiceCasesInAnyOrder(t *testing.T) {
	acts := activities(t,
		pageAt("/", 1),
		trackAt("Case Opened", 10, `{"case_id":"c1","topic":"late delivery"}`),
		trackAt("case_updated", 11, `{"caseId":"c1","status":"waiting on customer"}`),
		trackAt("Case Closed", 12, `{"case_id":"c1"}`),
		trackAt("Case Updated", 13, `{"case_id":"c1","subject":"refund"}`), // a topic, no status: still closed
		trackAt("Case Opened", 20, `{"ticket_id":"c2","category":"faulty item"}`),
		trackAt("Case Opened", 9, `{"topic":"no id"}`), // no case id: not a case
	)
	want := map[string]Case{
		"c1": {OpenedAt: at(10), ClosedAt: at(12), UpdatedAt: at(13), Status: CaseClosed, StatusAt: at(12), Topic: "refund", TopicAt: at(13)},
		"c2": {OpenedAt: at(20), UpdatedAt: at(20), Status: CaseOpen, StatusAt: at(20), Topic: "faulty item", TopicAt: at(20)},
	}
	for seed := range uint64(10) {
		order := inOrder(len(acts))
		rand.New(rand.NewPCG(seed, 6)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		p := applyAll(t, acts, order)
		if !reflect.DeepEqual(p.Cases, want) {
			t.Errorf("order %v: cases %+v", order, p.Cases)
		}
		if p.Cases["c1"].Open() || !p.Cases["c2"].Open() {
			t.Errorf("open: c1 %v, c2 %v", p.Cases["c1"].Open(), p.Cases["c2"].Open())
		}
		if open := p.OpenCases(); len(open) != 1 || open[0].ID != "c2" || open[0].Describe() != "case c2 (faulty item)" {
			t.Errorf("open cases %+v", open)
		}
		// Cases happen away from the sites: last seen at the event without a case id (activity like
		// any other track event), not at the cases' later times.
		if p.Visits != 1 || !p.LastSeen.Equal(at(9)) || p.Counts.Tracks != 6 || len(p.Hits) != 2 {
			t.Errorf("visits %d, last seen %v, tracks %d", p.Visits, p.LastSeen, p.Counts.Tracks)
		}
		a, b := Profile{ID: "a"}, Profile{ID: "b"}
		for k, i := range order {
			if k%2 == 0 {
				a = Apply(a, acts[i], nil)
			} else {
				b = Apply(b, acts[i], nil)
			}
		}
		for _, pair := range [][2]Profile{{a, b}, {b, a}} {
			f, err := Fold(pair[0], pair[1])
			if err != nil || !reflect.DeepEqual(f.Cases, want) {
				t.Errorf("folded: %+v, %v", f.Cases, err)
			}
		}
	}
}

func TestServiceCasesAreBoundedClosedFirst(t *testing.T) {
	p := Profile{ID: "p"}
	for i := range MaxCases + 5 {
		event := "Case Opened"
		if i%2 == 0 {
			event = "Case Closed"
		}
		p = Apply(p, Activity{Type: beacon.Track, Event: event, At: at(i), Case: &CaseActivity{ID: fmt.Sprintf("c%02d", i),
			Status: map[bool]string{true: CaseClosed, false: CaseOpen}[i%2 == 0]}}, nil)
	}
	if len(p.Cases) != MaxCases {
		t.Fatalf("%d cases kept", len(p.Cases))
	}
	for _, dropped := range []string{"c00", "c02", "c04", "c06", "c08"} {
		if _, ok := p.Cases[dropped]; ok {
			t.Errorf("%s, closed and updated longest ago, should have gone", dropped)
		}
	}
	if _, ok := p.Cases["c01"]; !ok {
		t.Error("the oldest open case is kept while closed ones can go")
	}
}

// Orders placed in a store and refunds are recorded, but are not visits and do not move seen.
func TestOfflineActivityIsNotAVisit(t *testing.T) {
	acts := activities(t,
		pageAt("/", 1),
		trackAt("Order Completed", 30, `{"order_id":"s1","revenue":10,"channel":"store"}`),
		trackAt("Order Refunded", 40, `{"order_id":"s1","revenue":10}`),
		trackAt("Order Completed", 50, `{"order_id":"w1","revenue":10}`), // online: a visit
	)
	p := applyAll(t, acts, inOrder(len(acts)))
	if p.Visits != 2 || !p.LastSeen.Equal(at(50)) || !p.FirstSeen.Equal(at(1)) || p.OrderCount != 2 || p.Revenue != 10 {
		t.Errorf("visits %d, seen %v–%v, %d orders, revenue %v", p.Visits, p.FirstSeen, p.LastSeen, p.OrderCount, p.Revenue)
	}
	store := applyAll(t, acts[1:3], inOrder(2))
	if !store.FirstSeen.IsZero() || store.Visits != 0 || store.OrderCount != 1 || store.Acquisition.Channel != "store" {
		t.Errorf("a store customer: seen %v, %d visits, %d orders, acquisition %+v", store.FirstSeen, store.Visits, store.OrderCount, store.Acquisition)
	}
}

// Open cases come opened earliest first; a solved case is not open; without a topic a case is
// named by its id.
func TestOpenCases(t *testing.T) {
	p := Profile{Cases: map[string]Case{
		"b": {OpenedAt: at(5), Status: CaseOpen}, "a": {OpenedAt: at(5), Status: "waiting on customer", Topic: "refund"},
		"c": {OpenedAt: at(1), Status: "solved"}, "d": {OpenedAt: at(2), Status: CaseOpen, Topic: "repair"},
	}}
	var got []string
	for _, c := range p.OpenCases() {
		got = append(got, c.Describe())
	}
	if want := []string{"case d (repair)", "case a (refund)", "case b"}; !reflect.DeepEqual(got, want) {
		t.Errorf("open cases %v, want %v", got, want)
	}
	if (Profile{}).OpenCases() != nil {
		t.Error("no cases, no open cases")
	}
}
