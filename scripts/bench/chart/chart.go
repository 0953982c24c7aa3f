// Package chart draws the line charts of BENCHMARKS.md as standalone SVG: panels stacked over one
// shared x axis (seconds or minutes of a run), each with its own y axis, ticks at round numbers
// and a legend. Pure and dependency-free, so a load run or a soak can write its picture where it
// writes its figures, and a browser or a Markdown viewer shows it as it is.
package chart

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strconv"
)

// Point is one value of a series.
type Point struct{ X, Y float64 }

// Series is a named line.
type Series struct {
	Name   string
	Points []Point
}

// Panel is one plot: its series share its y axis.
type Panel struct {
	Title  string
	Unit   string // of the y axis, after the title
	Series []Series
}

// Figure is panels stacked over one x axis.
type Figure struct {
	Title  string
	XLabel string
	Panels []Panel
}

// Geometry, in SVG user units (pixels at 100 %).
const (
	width       = 860
	panelHeight = 190
	titleHeight = 58  // the figure's title, then the first panel's
	left        = 72  // room for the y ticks' labels
	right       = 180 // room for the legend
	gap         = 46  // between panels: the x ticks and the next title
	bottom      = 40
)

// palette are the series' colours, in order; chosen apart for common colour blindness.
var palette = []string{"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442"}

// SVG draws the figure.
func (f Figure) SVG() []byte {
	height := titleHeight + len(f.Panels)*(panelHeight+gap) + bottom - gap
	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="22" font-size="15" font-weight="bold">%s</text>`+"\n", left, esc(f.Title))
	xmin, xmax := f.xRange()
	xticks := Ticks(xmin, xmax, 8)
	if len(xticks) > 1 {
		xmin, xmax = math.Min(xmin, xticks[0]), math.Max(xmax, xticks[len(xticks)-1])
	}
	for i, p := range f.Panels {
		top := titleHeight + i*(panelHeight+gap)
		p.draw(&b, top, xmin, xmax, xticks, f.XLabel)
	}
	b.WriteString("</svg>\n")
	return b.Bytes()
}

func (f Figure) xRange() (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, p := range f.Panels {
		for _, s := range p.Series {
			for _, pt := range s.Points {
				if finite(pt.X) {
					lo, hi = math.Min(lo, pt.X), math.Max(hi, pt.X)
				}
			}
		}
	}
	return span(lo, hi)
}

func (p Panel) yRange() (lo, hi float64) {
	lo, hi = 0, math.Inf(-1) // from zero: rates, latencies and memory read against nothing
	for _, s := range p.Series {
		for _, pt := range s.Points {
			if finite(pt.Y) {
				lo, hi = math.Min(lo, pt.Y), math.Max(hi, pt.Y)
			}
		}
	}
	return span(lo, hi)
}

// span makes an empty or flat range drawable.
func span(lo, hi float64) (float64, float64) {
	switch {
	case math.IsInf(lo, 1) || math.IsInf(hi, -1):
		return 0, 1
	case hi <= lo:
		return lo, lo + 1
	}
	return lo, hi
}

func (p Panel) draw(b *bytes.Buffer, top int, xmin, xmax float64, xticks []float64, xlabel string) {
	plotW, plotH := float64(width-left-right), float64(panelHeight)
	ymin, ymax := p.yRange()
	yticks := Ticks(ymin, ymax, 5)
	if len(yticks) > 1 {
		ymin, ymax = math.Min(ymin, yticks[0]), math.Max(ymax, yticks[len(yticks)-1])
	}
	x := func(v float64) float64 { return float64(left) + (v-xmin)/(xmax-xmin)*plotW }
	y := func(v float64) float64 { return float64(top) + plotH - (v-ymin)/(ymax-ymin)*plotH }

	title := p.Title
	if p.Unit != "" {
		title += " (" + p.Unit + ")"
	}
	fmt.Fprintf(b, `<g class="panel"><text x="%d" y="%d" font-weight="bold">%s</text>`+"\n", left, top-8, esc(title))
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="none" stroke="#888888"/>`+"\n", left, top, plotW, plotH)
	for _, t := range yticks {
		fmt.Fprintf(b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#e4e4e4"/>`, left, float64(left)+plotW, y(t), y(t))
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-6, y(t), Label(t))
	}
	for _, t := range xticks {
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" stroke="#888888"/>`, x(t), x(t), top+panelHeight, float64(top)+plotH+4)
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x(t), top+panelHeight+17, Label(t))
	}
	fmt.Fprintf(b, `<text x="%.0f" y="%d" text-anchor="end" fill="#555555">%s</text>`+"\n", float64(left)+plotW, top+panelHeight+33, esc(xlabel))
	for i, s := range p.Series {
		colour := palette[i%len(palette)]
		var pts bytes.Buffer
		for _, pt := range s.Points {
			if finite(pt.X) && finite(pt.Y) {
				fmt.Fprintf(&pts, "%.1f,%.1f ", x(pt.X), y(pt.Y))
			}
		}
		fmt.Fprintf(b, `<polyline class="series" fill="none" stroke="%s" stroke-width="1.8" points="%s"><title>%s</title></polyline>`+"\n",
			colour, bytes.TrimSpace(pts.Bytes()), esc(s.Name))
		ly := top + 14 + i*18
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="3"/><text x="%d" y="%d" dominant-baseline="middle">%s</text>`+"\n",
			width-right+14, width-right+34, ly, ly, colour, width-right+40, ly, esc(s.Name))
	}
	b.WriteString("</g>\n")
}

// Ticks are round values (1, 2 or 5 × a power of ten apart) covering lo to hi, about n of them.
func Ticks(lo, hi float64, n int) []float64 {
	if !finite(lo) || !finite(hi) || hi <= lo || n < 1 {
		return nil
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	first, last := math.Floor(lo/step), math.Ceil(hi/step)
	out := make([]float64, 0, int(last-first)+1)
	for k := first; k <= last; k++ {
		out = append(out, k*step)
	}
	return out
}

// Label writes a tick's value briefly: 1500 as 1.5k, 2000000 as 2M, 0.25 as 0.25.
func Label(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case a >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(math.Round(v*1e6)/1e6, 'f', -1, 64)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func esc(s string) string { return html.EscapeString(s) }
