package main

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/dcrm-project/dcrm/scripts/bench/chart"
)

// figure draws the samples: the memory of dcrm's processes and of the local servers apart (their
// scales differ tenfold), collect's latency and the stitch lag, against minutes since the start.
func (s *soak) figure(start time.Time) chart.Figure {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := map[string]bool{}
	for _, smp := range s.samples {
		for name := range smp.rss {
			names[name] = true
		}
	}
	var own, servers []chart.Series
	for _, name := range slices.Sorted(maps.Keys(names)) {
		var pts []chart.Point
		for _, smp := range s.samples {
			if kb, ok := smp.rss[name]; ok && kb > 0 {
				pts = append(pts, chart.Point{X: smp.at.Minutes(), Y: float64(kb) / 1024})
			}
		}
		if localServers[name] {
			servers = append(servers, chart.Series{Name: name, Points: pts})
		} else {
			own = append(own, chart.Series{Name: name, Points: pts})
		}
	}
	var p50, p99, lag []chart.Point
	for _, smp := range s.samples {
		x := smp.at.Minutes()
		p50 = append(p50, chart.Point{X: x, Y: ms(smp.p50)})
		p99 = append(p99, chart.Point{X: x, Y: ms(smp.p99)})
		lag = append(lag, chart.Point{X: x, Y: ms(smp.lag)})
	}
	title := fmt.Sprintf("Soak: %d events/s for %s, a fault every %s, %s", s.c.rate, s.c.duration, s.c.faultEvery, start.UTC().Format(time.DateOnly))
	return chart.Figure{Title: title, XLabel: "minutes since the load began", Panels: []chart.Panel{
		{Title: "Memory of dcrm's processes", Unit: "MB resident", Series: own},
		{Title: "Memory of the local servers (holding the run's data)", Unit: "MB resident", Series: servers},
		{Title: "Collect latency, per minute", Unit: "ms", Series: []chart.Series{{Name: "p50", Points: p50}, {Name: "p99", Points: p99}}},
		{Title: "Stitch lag of a probe event", Unit: "ms", Series: []chart.Series{{Name: "lag", Points: lag}}},
	}}
}
