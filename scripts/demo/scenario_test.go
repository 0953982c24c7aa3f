package main

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/attribution"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/enrich"
	"github.com/dcrm-project/dcrm/shared/journey"
	"github.com/dcrm-project/dcrm/shared/source"
	"github.com/dcrm-project/dcrm/shared/useragent"
)

// Message ids are unique within a run and name it; Accepted counts the events of the calls that
// must succeed.
func TestScenarioMessageIDs(t *testing.T) {
	s := NewScenario("r1", time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC))
	seen := map[string]bool{}
	accepted := 0
	for _, st := range s.Steps() {
		body, ok := st.Body.(map[string]any)
		if !ok {
			continue
		}
		items := []any{body}
		if batch, ok := body["batch"].([]any); ok {
			items = batch
		}
		for _, it := range items {
			id := it.(map[string]any)["messageId"].(string)
			if seen[id] || !strings.HasPrefix(id, "demo-r1-") {
				t.Errorf("message id %q repeated or not of the run", id)
			}
			seen[id] = true
			if st.Want == 200 {
				accepted++
			}
		}
	}
	if s.Accepted() != accepted {
		t.Errorf("Accepted %d, want %d", s.Accepted(), accepted)
	}
	if s.Orders() != 4 || len(s.Visitors) != 8 {
		t.Errorf("%d orders of %d visitors, want 4 of 8", s.Orders(), len(s.Visitors))
	}
	if got, want := s.ReportsAt(), time.Date(2026, 3, 16, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("reports run as of %v, want %v", got, want)
	}
}

// TestScenarioAttribution takes the scenario's calls through what the pipeline does with them —
// the endpoint's parsing and enrichment (as collect does, from this client: a browser key's calls
// carry Go's user agent), the archive's rows, the report's journeys of the order goal over the
// period ending the run's day, every model — without a server. Each campaign visitor's sessions
// get the channels they were written for, and the run alone credits the channels as below: what
// the demo's table shows of a run on an empty archive (other runs' orders add to it).
func TestScenarioAttribution(t *testing.T) {
	s := NewScenario("r1", time.Date(2026, 3, 15, 12, 0, 0, 0, time.UTC))
	rows := scenarioRows(t, s)

	until := s.ReportsAt().Add(-time.Nanosecond)
	b, err := journey.NewBuilder(journey.DefaultConfig(), nil, journey.Options{Since: s.ReportsAt().AddDate(0, 0, -30), Until: until})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if err := b.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	people, err := b.Collect()
	if err != nil {
		t.Fatal(err)
	}

	// Every visitor's journey of the order goal, touch by touch.
	journeys := map[string]journey.Journey{}
	for _, p := range people {
		for _, j := range p.Journeys {
			if j.Goal == "order" {
				if _, dup := journeys[p.ID]; dup {
					t.Errorf("%s has more than one order journey", p.ID)
				}
				journeys[p.ID] = j
			}
		}
	}
	if len(journeys) != len(s.Visitors) {
		t.Errorf("%d order journeys, want one per visitor (%d): %v", len(journeys), len(s.Visitors), journeys)
	}
	for _, v := range s.Visitors {
		j := journeys["anonymousId:"+v.Anon]
		var got, want []string
		for _, tc := range j.Touches {
			got = append(got, tc.Channel)
		}
		for _, vis := range v.Sessions {
			want = append(want, vis.Channel)
		}
		if strings.Join(got, " > ") != strings.Join(want, " > ") || j.Converted != (v.Order > 0) || j.Value != v.Order {
			t.Errorf("%s: touches %q, converted %v, value %v; want %q, %v, %v", v.Name, got, j.Converted, j.Value, want, v.Order > 0, v.Order)
		}
	}

	// Every model over the paths, written as the report's attribution.csv and read as the demo reads it.
	paths, untouched := journey.Paths(people, "order", journey.ByChannel)
	if untouched != 0 {
		t.Errorf("%d orders without a touch", untouched)
	}
	var csv strings.Builder
	csv.WriteString("goal,by,model,name,conversions,value,removal_effect,spend,cpa,roas\n")
	for _, m := range attribution.Models() {
		r, err := m.Run(paths, attribution.Options{})
		if err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		for _, c := range r.Credits {
			fmt.Fprintf(&csv, "order,channel,%s,%s,%v,%v,,,,\n", m.Name, c.Channel, c.Conversions, c.Value)
		}
	}
	tab, err := ParseAttribution(strings.NewReader(csv.String()), "order", "channel")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("one run's attribution of its orders:\n%s", tab)

	want := map[string]map[string]float64{ // model → channel → conversions credited
		"first-touch":    {"organic search": 2, "paid search": 1, "paid social": 1, "email": 0, "direct": 0},
		"last-touch":     {"email": 2, "direct": 1, "paid social": 1, "organic search": 0, "paid search": 0},
		"linear":         {"paid social": 4.0 / 3, "email": 1, "organic search": 5.0 / 6, "paid search": 0.5, "direct": 1.0 / 3},
		"position-based": {"paid social": 1.2, "email": 1, "organic search": 0.9, "paid search": 0.5, "direct": 0.4},
	}
	for model, byChannel := range want {
		if got, _ := tab.Total(model); math.Abs(got-float64(s.Orders())) > 1e-9 {
			t.Errorf("%s credits %v orders, want %d", model, got, s.Orders())
		}
		for _, r := range tab.Rows {
			if w, ok := byChannel[r.Name]; !ok || math.Abs(r.Conversions[model]-w) > 1e-9 {
				t.Errorf("%s: %s credited %v, want %v", model, r.Name, r.Conversions[model], w)
			}
		}
	}
	if len(tab.Rows) != 5 {
		t.Errorf("%d channels, want 5", len(tab.Rows))
	}
}

// scenarioRows are the archive rows of the scenario's accepted calls, as the endpoint would enrich
// them (browser calls from this client, server calls as the back end relays them).
func scenarioRows(t *testing.T, s Scenario) []archive.Event {
	t.Helper()
	browser := source.Source{ID: "src_browser", Name: "browser", AllowedOrigins: []string{"https://shop.example"}}
	server := source.Source{ID: "src_server", Name: "server", Trusted: true}
	en := enrich.New(useragent.New(0))
	var rows []archive.Event
	for _, st := range s.Steps() {
		if st.Want != 200 {
			continue
		}
		raw, err := json.Marshal(st.Body)
		if err != nil {
			t.Fatal(err)
		}
		p, err := beacon.Decode(strings.TrimPrefix(st.Path, "/v1/"), raw)
		if err != nil {
			t.Fatalf("%s: %v", st.What, err)
		}
		src := browser
		if st.Server {
			src = server
		}
		evs, err := p.Events(src, s.At, nil)
		if err != nil {
			t.Fatalf("%s: %v", st.What, err)
		}
		en.Events(evs, enrich.Request{Source: src, SourceIP: "192.0.2.10", UserAgent: "Go-http-client/1.1"})
		for _, e := range evs {
			rows = append(rows, archive.FromEvent(e, ""))
		}
	}
	if len(rows) != s.Accepted() {
		t.Fatalf("%d rows, want the %d accepted events", len(rows), s.Accepted())
	}
	return rows
}
