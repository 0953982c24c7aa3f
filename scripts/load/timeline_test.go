package main

import (
	"encoding/xml"
	"testing"

	"github.com/dcrm-project/dcrm/scripts/bench/chart"
)

func TestChartOfATimeline(t *testing.T) {
	ticks := []Tick{
		{At: 1, Accepted: 900, P50: 3, P99: 40, Put: 300, Read: 100},
		{At: 2, Accepted: 1100, P50: 4, P99: 60, Put: 650, Read: 500},
		{At: 3.5, Put: 650, Read: 650}, // draining: nothing sent, no latency
	}
	f := Chart("run", ticks)
	if len(f.Panels) != 4 {
		t.Fatalf("%d panels, want events/s, latency, records/s and backlog", len(f.Panels))
	}
	want := map[string][]chart.Point{
		"events":  {{1, 900}, {2, 1100}, {3.5, 0}},
		"put":     {{1, 300}, {2, 350}, {3.5, 0}},
		"read":    {{1, 100}, {2, 400}, {3.5, 100}}, // 150 records over 1.5 s
		"p50":     {{1, 3}, {2, 4}},
		"p99":     {{1, 40}, {2, 60}},
		"backlog": {{1, 200}, {2, 150}, {3.5, 0}},
	}
	seen := 0
	for _, p := range f.Panels {
		for _, s := range p.Series {
			w, ok := want[s.Name]
			if !ok {
				t.Errorf("unexpected series %q", s.Name)
				continue
			}
			seen++
			if len(s.Points) != len(w) {
				t.Errorf("%s: %v, want %v", s.Name, s.Points, w)
				continue
			}
			for i := range w {
				if s.Points[i] != w[i] {
					t.Errorf("%s point %d: %v, want %v", s.Name, i, s.Points[i], w[i])
				}
			}
		}
	}
	if seen != len(want) {
		t.Errorf("%d of %d series drawn", seen, len(want))
	}
	if err := xml.Unmarshal(f.SVG(), new(struct{})); err != nil {
		t.Errorf("the SVG is not XML: %v", err)
	}
}
