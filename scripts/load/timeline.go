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

// Chart draws a run's timeline over the seconds of sending and draining: the events collect
// accepted, its latency, the stream's records put and read per second (a record packs a visitor's
// events of a call), and the records waiting on the stream.
func Chart(title string, ticks []Tick) chart.Figure {
	var accepted, put, read, p50, p99, backlog []chart.Point
	var prev Tick
	for _, t := range ticks {
		if dt := t.At - prev.At; dt > 0 {
			accepted = append(accepted, chart.Point{X: t.At, Y: float64(t.Accepted) / dt})
			put = append(put, chart.Point{X: t.At, Y: float64(t.Put-prev.Put) / dt})
			read = append(read, chart.Point{X: t.At, Y: float64(t.Read-prev.Read) / dt})
		}
		if t.P99 > 0 {
			p50 = append(p50, chart.Point{X: t.At, Y: t.P50})
			p99 = append(p99, chart.Point{X: t.At, Y: t.P99})
		}
		backlog = append(backlog, chart.Point{X: t.At, Y: float64(t.Put - t.Read)})
		prev = t
	}
	return chart.Figure{Title: title, XLabel: "seconds since the load began", Panels: []chart.Panel{
		{Title: "Events accepted by collect", Unit: "per second", Series: []chart.Series{{Name: "events", Points: accepted}}},
		{Title: "Collect latency", Unit: "ms", Series: []chart.Series{{Name: "p50", Points: p50}, {Name: "p99", Points: p99}}},
		{Title: "Stream records", Unit: "per second", Series: []chart.Series{{Name: "put", Points: put}, {Name: "read", Points: read}}},
		{Title: "Stream backlog", Unit: "records put, not yet read", Series: []chart.Series{{Name: "backlog", Points: backlog}}},
	}}
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
