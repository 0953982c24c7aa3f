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
		"events":  {{X: 1, Y: 900}, {X: 2, Y: 1100}, {X: 3.5, Y: 0}},
		"put":     {{X: 1, Y: 300}, {X: 2, Y: 350}, {X: 3.5, Y: 0}},
		"read":    {{X: 1, Y: 100}, {X: 2, Y: 400}, {X: 3.5, Y: 100}}, // 150 records over 1.5 s
		"p50":     {{X: 1, Y: 3}, {X: 2, Y: 4}},
		"p99":     {{X: 1, Y: 40}, {X: 2, Y: 60}},
		"backlog": {{X: 1, Y: 200}, {X: 2, Y: 150}, {X: 3.5, Y: 0}},
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
