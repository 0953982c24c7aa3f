package main

import (
	"time"

	"github.com/dcrm-project/dcrm/scripts/bench/chart"
)

// Tick is one period of a run (a second by default), sending or draining: what collect took and
// how fast it answered, and where the stream stood at its end.
type Tick struct {
	At       float64 `json:"at"`       // seconds since sending began, at the period's end
	Accepted int     `json:"accepted"` // events collect accepted in the period
	P50      float64 `json:"p50Ms"`    // collect latency in the period (0: no answers)
	P99      float64 `json:"p99Ms"`
	Put      int64   `json:"put"`  // records put on the stream since the run began
	Read     int64   `json:"read"` // of those, records the stream mapping has read
}

// streamPosition is how many records were put on the stream and read from it since the run began.
type streamPosition func() (put, read int64, ok bool)

// Chart draws a run's timeline: events per second into collect and out of the stream, collect's
// latency, and the records waiting on the stream, over the seconds of sending and draining.
func Chart(title string, ticks []Tick) chart.Figure {
	var in, out, p50, p99, backlog []chart.Point
	var prev Tick
	for _, t := range ticks {
		dt := t.At - prev.At
		if dt > 0 {
			in = append(in, chart.Point{X: t.At, Y: float64(t.Accepted) / dt})
			out = append(out, chart.Point{X: t.At, Y: float64(t.Read-prev.Read) / dt})
		}
		if t.P99 > 0 {
			p50 = append(p50, chart.Point{X: t.At, Y: t.P50})
			p99 = append(p99, chart.Point{X: t.At, Y: t.P99})
		}
		backlog = append(backlog, chart.Point{X: t.At, Y: float64(t.Put - t.Read)})
		prev = t
	}
	return chart.Figure{Title: title, XLabel: "seconds since the load began", Panels: []chart.Panel{
		{Title: "Events per second", Series: []chart.Series{{Name: "accepted by collect", Points: in}, {Name: "records read from the stream", Points: out}}},
		{Title: "Collect latency", Unit: "ms", Series: []chart.Series{{Name: "p50", Points: p50}, {Name: "p99", Points: p99}}},
		{Title: "Stream backlog", Unit: "records put, not yet read", Series: []chart.Series{{Name: "backlog", Points: backlog}}},
	}}
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
