package journey

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestReportByGoalAndSegment(t *testing.T) {
	cfg := orderOnly()
	cfg.Funnel = &Funnel{Name: "buy", Within: Duration(day), Steps: []Step{{Match: Match{Event: "Product Added"}}, {Match: Match{Event: "Order Completed"}}}}
	people := build(t, cfg, nil, Options{}, rows(
		row("a", 0).ch("email").device("mobile"),
		row("a", 10*minute).track("Product Added", ""),
		row("a", 2*day).ch("direct"),
		row("a", 2*day+minute).track("Order Completed", `{"revenue": 30}`),
		row("b", 0).ch("email").device("desktop"),
		row("b", minute).track("Product Added", ""),
		row("b", 30*minute).track("Order Completed", `{"revenue": 10}`),
		row("c", hour).ch("email").device("mobile"),
		row("d", 3*day).track("Order Completed", `{"revenue": 1}`), // no touch
	))
	rep := NewReport(cfg, ReportOptions{Segment: SegmentByDevice, TopPaths: 2})
	for i := range people {
		rep.Add(&people[i])
	}
	js := rep.Journeys()
	require.Equal(t, []string{AllSegments, "desktop", "mobile"}, []string{js[0].Segment, js[1].Segment, js[2].Segment})
	all := js[0]
	require.Equal(t, 4, all.Journeys)
	require.Equal(t, 3, all.Conversions)
	require.Equal(t, 1, all.Nulls)
	require.Equal(t, 41.0, all.Value)
	require.Equal(t, []PathCount{
		{Path: "email", Journeys: 2, Conversions: 1, Value: 10, Rate: 0.5},
		{Path: "(no touch)", Journeys: 1, Conversions: 1, Value: 1, Rate: 1},
	}, all.TopPaths)
	require.Equal(t, []LengthCount{{0, 1, 0}, {1, 1, 1}, {2, 1, 0}}, all.Lengths)
	require.Equal(t, 1, all.TimeToConversion[0].Conversions) // b: 30 minutes
	require.Equal(t, 1, all.TimeToConversion[2].Conversions) // a: 2 days
	require.Equal(t, (30*time.Minute)/2+(2*day+minute)/2, all.MedianTime)
	tr := all.Transitions
	require.Equal(t, []string{StateStart, "direct", "email"}, tr.From)
	require.Equal(t, []string{"direct", "email", StateConversion, StateNull}, tr.To)
	require.Equal(t, [][]int{{0, 3, 1, 0}, {0, 0, 1, 0}, {1, 0, 1, 1}}, tr.Counts)
	require.InDelta(t, 1.0/3, tr.Probability(2, 0), 1e-15)
	mobile := js[2]
	require.Equal(t, 2, mobile.Journeys)

	f := rep.Funnel()
	require.Equal(t, []FunnelStep{{Step: "Product Added", Reached: 2, Rate: 1}, {Step: "Order Completed", Reached: 1, Dropped: 1, Rate: 0.5}}, f[0].Steps)
	require.Equal(t, "desktop", f[1].Segment)
	require.Equal(t, 1, f[1].Steps[1].Reached)
}

// The same rows in any order give the same report.
func TestReportIsDeterministic(t *testing.T) {
	in := syntheticRows(200, 3)
	var got [2][]GoalJourneys
	for i := range got {
		rs := append(in[:0:0], in...)
		if i == 1 {
			for a, b := 0, len(rs)-1; a < b; a, b = a+1, b-1 {
				rs[a], rs[b] = rs[b], rs[a]
			}
		}
		people := build(t, DefaultConfig(), nil, Options{}, rs)
		rep := NewReport(DefaultConfig(), ReportOptions{Segment: SegmentByDevice})
		for j := range people {
			rep.Add(&people[j])
		}
		got[i] = rep.Journeys()
	}
	require.Equal(t, got[0], got[1])
}
