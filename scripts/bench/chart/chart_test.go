package chart

import (
	"encoding/xml"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sample is a figure of two panels as a load run draws it.
func sample() Figure {
	var rate, p50, p99 []Point
	for s := 0; s <= 75; s++ {
		rate = append(rate, Point{float64(s), 1000 + 40*math.Sin(float64(s)/5)})
		p50 = append(p50, Point{float64(s), 10 + float64(s%7)})
		p99 = append(p99, Point{float64(s), 35 + float64(s%11)})
	}
	return Figure{Title: "Load run <A & B>", XLabel: "seconds", Panels: []Panel{
		{Title: "Accepted", Unit: "events/s", Series: []Series{{Name: "accepted", Points: rate}}},
		{Title: "Collect latency", Unit: "ms", Series: []Series{{Name: "p50", Points: p50}, {Name: "p99", Points: p99}}},
	}}
}

// svgDoc is what the tests read back of a drawing.
type svgDoc struct {
	Width  string `xml:"width,attr"`
	Height string `xml:"height,attr"`
	Groups []struct {
		Class     string `xml:"class,attr"`
		Polylines []struct {
			Points string `xml:"points,attr"`
			Title  string `xml:"title"`
		} `xml:"polyline"`
		Texts []string `xml:"text"`
	} `xml:"g"`
	Texts []string `xml:"text"`
}

func parse(t *testing.T, svg []byte) svgDoc {
	t.Helper()
	var d svgDoc
	require.NoError(t, xml.Unmarshal(svg, &d), "the drawing is well-formed XML")
	return d
}

func TestSVGDrawsEverySeriesInsideItsPanel(t *testing.T) {
	f := sample()
	svg := f.SVG()
	d := parse(t, svg)
	require.Len(t, d.Groups, 2)
	assert.Equal(t, "Load run <A & B>", d.Texts[0], "the title, escaped and read back")
	var names []string
	for i, g := range d.Groups {
		require.Len(t, g.Polylines, len(f.Panels[i].Series))
		top := float64(titleHeight + i*(panelHeight+gap))
		for j, pl := range g.Polylines {
			names = append(names, pl.Title)
			pts := strings.Fields(pl.Points)
			require.Len(t, pts, len(f.Panels[i].Series[j].Points), "a vertex per point")
			for _, p := range pts {
				xs, ys, ok := strings.Cut(p, ",")
				require.True(t, ok, p)
				x, _ := strconv.ParseFloat(xs, 64)
				y, _ := strconv.ParseFloat(ys, 64)
				assert.True(t, x >= left && x <= width-right, "x %v inside the plot", x)
				assert.True(t, y >= top && y <= top+panelHeight, "y %v inside panel %d", y, i)
			}
		}
	}
	assert.Equal(t, []string{"accepted", "p50", "p99"}, names)
	assert.Contains(t, d.Groups[0].Texts, "Accepted (events/s)")
	assert.Contains(t, d.Groups[1].Texts, "Collect latency (ms)")
	// The rate's axis runs from zero past its peak (1,040) in steps of 500.
	assert.Contains(t, d.Groups[0].Texts, "1.5k")
	assert.Contains(t, d.Groups[0].Texts, "0")
}

// The first point of a series sits on the x axis's left end and at the panel's bottom when it is
// zero: positions are a linear map of the values.
func TestSVGMapsValuesLinearly(t *testing.T) {
	f := Figure{Panels: []Panel{{Series: []Series{{Name: "line", Points: []Point{{0, 0}, {50, 5}, {100, 10}}}}}}}
	pts := strings.Fields(parse(t, f.SVG()).Groups[0].Polylines[0].Points)
	want := []string{
		strconv.Itoa(left) + ".0," + strconv.Itoa(titleHeight+panelHeight) + ".0",
		strconv.FormatFloat(left+float64(width-left-right)/2, 'f', 1, 64) + "," + strconv.FormatFloat(titleHeight+panelHeight/2.0, 'f', 1, 64),
		strconv.Itoa(width-right) + ".0," + strconv.Itoa(titleHeight) + ".0",
	}
	assert.Equal(t, want, pts)
}

// Nothing to draw, one point, a flat line, NaN and infinities: still a well-formed drawing.
func TestSVGDegenerateInputs(t *testing.T) {
	for name, s := range map[string][]Point{
		"none": nil, "one": {{3, 4}}, "flat": {{0, 7}, {1, 7}, {2, 7}}, "negative": {{0, -5}, {1, 5}},
		"not finite": {{0, math.NaN()}, {math.Inf(1), 1}, {2, 3}},
	} {
		f := Figure{Title: name, Panels: []Panel{{Title: name, Series: []Series{{Name: name, Points: s}}}}}
		svg := f.SVG()
		d := parse(t, svg)
		require.Len(t, d.Groups, 1, name)
		assert.NotRegexp(t, regexp.MustCompile(`NaN|Inf`), string(svg), name)
	}
	assert.Len(t, parse(t, Figure{}.SVG()).Groups, 0)
}

func TestTicksAreRoundAndCoverTheRange(t *testing.T) {
	for _, tc := range []struct {
		lo, hi float64
		n      int
		want   []float64
	}{
		{0, 75, 8, []float64{0, 10, 20, 30, 40, 50, 60, 70, 80}},
		{0, 1040, 5, []float64{0, 500, 1000, 1500}},
		{0, 1, 5, []float64{0, 0.2, 0.4, 0.6, 0.8, 1}},
		{-5, 5, 5, []float64{-6, -4, -2, 0, 2, 4, 6}},
		{12, 12, 5, nil},
	} {
		got := Ticks(tc.lo, tc.hi, tc.n)
		require.Len(t, got, len(tc.want), "%v", tc)
		for i := range got {
			assert.InDelta(t, tc.want[i], got[i], 1e-9, "%v", tc)
		}
	}
}

func TestLabel(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 0.25: "0.25", 1500: "1.5k", 2e6: "2M", 999: "999", -2000: "-2k", 0.30000000000000004: "0.3"} {
		assert.Equal(t, want, Label(v), "%v", v)
	}
}
