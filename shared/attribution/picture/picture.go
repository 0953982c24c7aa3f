// Package picture draws the attribution a marketer would rather look at than read, as one
// self-contained SVG: each channel's credited conversions under every model side by side, the
// spend, CPA and ROAS of one model, the journeys of a goal (its top paths as chains of channels
// with their journeys, conversions, rate and value, and a heat map of the channel transitions),
// and a funnel with the drop-off between its steps. Pure Go and the standard library: no script,
// no font or file fetched, the same input gives the same bytes.
package picture

import (
	"bytes"
	"cmp"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/dcrm-project/dcrm/shared/attribution"
	"github.com/dcrm-project/dcrm/shared/journey"
)

// Bounds of what one picture shows.
const (
	// DefaultMaxRows is the number of channel rows shown when Input.MaxRows is 0; the channels past
	// it are summed into one "other" row.
	DefaultMaxRows = 12
	// MaxModels is the number of models drawn side by side; later ones are left out (and said so).
	MaxModels = 10
	// MaxSteps is the number of funnel steps drawn; later ones are left out (and said so).
	MaxSteps = 12
	// MaxLabel is the number of characters of a name shown; longer ones end in an ellipsis.
	MaxLabel = 24
	// MaxTitle is the number of characters of a title or of the period line shown.
	MaxTitle = 80
	// MaxTooltip is the number of characters of a name in a bar's tooltip.
	MaxTooltip = 200
)

// Input is what the picture shows: plain data, built by FromResults or by hand.
type Input struct {
	Title  string
	Period string // the date range line, such as "2026-11-01 to 2026-11-30"
	// Models names the models, in the order their bars are drawn within a channel's group.
	Models []string
	// Channels are the rows; each has one credit per model (missing ones count 0).
	Channels []Channel
	// SortBy is the model whose credits order the rows, largest first (ties by name); "" keeps the
	// order of Channels.
	SortBy  string
	MaxRows int // 0: DefaultMaxRows
	// Returns, when not empty, are the spend and return per channel under ReturnsModel, in Currency.
	ReturnsModel string
	Currency     string
	Returns      []Return
	// Journeys, when not empty, are a goal's journeys, drawn between the returns and the funnel.
	Journeys Journeys
	// Funnel, when it has steps, is drawn under the rest.
	Funnel Funnel
}

// Channel is one channel's credited conversions, one per model of Input.Models.
type Channel struct {
	Name    string
	Credits []float64
}

// Return is one channel's spend and return; CPA and ROAS are nil where they have no denominator.
type Return struct {
	Channel     string
	Spend       float64
	Conversions float64
	Value       float64
	CPA         *float64
	ROAS        *float64
}

// Funnel is a funnel's steps, in order.
type Funnel struct {
	Name  string
	Steps []Step
}

// Step is one step of a funnel and how many reached it.
type Step struct {
	Name  string
	Count float64
}

// FromResults builds the input of the models' results: one row per channel of any result, one
// credit per model (0 where a result does not list the channel), sorted by last touch when it is
// among the results, else by the first result.
func FromResults(title, period string, results []attribution.Result) Input {
	in := Input{Title: title, Period: period}
	index := map[string]int{}
	for _, r := range results {
		for _, c := range r.Credits {
			if _, ok := index[c.Channel]; !ok {
				index[c.Channel] = len(in.Channels)
				in.Channels = append(in.Channels, Channel{Name: c.Channel})
			}
		}
	}
	for i := range in.Channels {
		in.Channels[i].Credits = make([]float64, len(results))
	}
	for m, r := range results {
		in.Models = append(in.Models, r.Model)
		for _, c := range r.Credits {
			in.Channels[index[c.Channel]].Credits[m] += c.Conversions
		}
	}
	if len(results) > 0 {
		in.SortBy = results[0].Model
	}
	if slices.Contains(in.Models, "last-touch") {
		in.SortBy = "last-touch"
	}
	return in
}

// WithReturns adds one model's spend and return (attribution.Returns) in currency.
func (in Input) WithReturns(model, currency string, returns []attribution.Return) Input {
	in.ReturnsModel, in.Currency, in.Returns = model, currency, nil
	for _, r := range returns {
		in.Returns = append(in.Returns, Return{Channel: r.Channel, Spend: r.Spend, Conversions: r.Conversions, Value: r.Value, CPA: r.CPA, ROAS: r.ROAS})
	}
	return in
}

// FunnelOf is the funnel of a segment of the journeys report.
func FunnelOf(fs journey.FunnelSegment) Funnel {
	f := Funnel{Name: fs.Funnel}
	if fs.Segment != "" && fs.Segment != journey.AllSegments {
		f.Name += " (" + fs.Segment + ")"
	}
	for _, s := range fs.Steps {
		f.Steps = append(f.Steps, Step{Name: s.Step, Count: float64(s.Reached)})
	}
	return f
}

// Geometry, in SVG user units (pixels at 100 %).
const (
	width     = 960
	margin    = 24
	labelEnd  = 200 // the channel names end here (right-aligned)
	barStart  = 210
	barWidth  = 640 // the widest bar; room for its number after it
	barHeight = 10
	barStep   = 12 // one model's bar and the gap to the next
	rowGap    = 14 // between channels
	fontSize  = 12
)

// palette are the models' colours, in order (then again), and the channels' on the journeys' paths;
// chosen apart for common colour blindness.
var palette = []string{"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#882255", "#44aa99", "#777777", "#332288"}

// SVG writes the picture of in.
func SVG(w io.Writer, in Input) error {
	var b bytes.Buffer
	y := draw(&b, in)
	var doc bytes.Buffer
	fmt.Fprintf(&doc, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="%d">`+"\n",
		width, y, width, y, fontSize)
	fmt.Fprintf(&doc, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, y)
	doc.Write(b.Bytes())
	doc.WriteString("</svg>\n")
	_, err := w.Write(doc.Bytes())
	return err
}

// draw writes the picture's body and returns its height.
func draw(b *bytes.Buffer, in Input) int {
	y := 32
	text(b, margin, y, `font-size="18" font-weight="bold"`, cutTo(cmp.Or(in.Title, "Attribution by model"), MaxTitle))
	y += 22
	text(b, margin, y, `fill="#444444"`, cutTo("Period: "+cmp.Or(in.Period, "not given"), MaxTitle))
	y += 14
	y = drawModels(b, in, y)
	if len(in.Returns) > 0 {
		y = drawReturns(b, in, y)
	}
	if !in.Journeys.empty() {
		y = drawJourneys(b, in.Journeys, y)
	}
	if len(in.Funnel.Steps) > 0 {
		y = drawFunnel(b, in.Funnel, y)
	}
	return y + margin
}

// row is a channel row as drawn: its label and credits, sanitised.
type row struct {
	name    string
	credits []float64
}

// rows are the channels to draw: sorted, bounded (the rest summed as "other"), every credit finite.
func rows(in Input, models int) []row {
	sortBy := slices.Index(in.Models, in.SortBy)
	if sortBy >= models {
		sortBy = -1
	}
	all := make([]row, len(in.Channels))
	for i, c := range in.Channels {
		r := row{name: c.Name, credits: make([]float64, models)}
		for m := range models {
			if m < len(c.Credits) {
				r.credits[m] = clean(c.Credits[m])
			}
		}
		all[i] = r
	}
	if sortBy >= 0 {
		slices.SortStableFunc(all, func(a, b row) int {
			return cmp.Or(cmp.Compare(b.credits[sortBy], a.credits[sortBy]), strings.Compare(a.name, b.name))
		})
	}
	limit := cmp.Or(in.MaxRows, DefaultMaxRows)
	if limit < 2 {
		limit = 2
	}
	if len(all) <= limit {
		return all
	}
	shown, rest := all[:limit-1], all[limit-1:]
	other := row{name: fmt.Sprintf("other (%d channels)", len(rest)), credits: make([]float64, models)}
	for _, r := range rest {
		for m, v := range r.credits {
			other.credits[m] = clean(other.credits[m] + v)
		}
	}
	return append(shown, other)
}

// drawModels draws the channels' bars under every model, with the legend and the scale.
func drawModels(b *bytes.Buffer, in Input, y int) int {
	models := min(len(in.Models), MaxModels)
	y += 30
	text(b, margin, y, `font-size="15" font-weight="bold"`, "Conversions credited, by channel and model")
	y += 8
	// The legend, wrapped to the width.
	x, ly := margin, y+16
	for m := range models {
		name := cut(in.Models[m])
		w := 26 + 7*len([]rune(name)) + 14
		if x+w > width-margin && x > margin {
			x, ly = margin, ly+18
		}
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`+"\n", x, ly-10, palette[m%len(palette)])
		text(b, x+18, ly, "", name)
		x += w
	}
	if len(in.Models) > models {
		text(b, x, ly, `fill="#444444"`, fmt.Sprintf("(%d more models not shown)", len(in.Models)-models))
	}
	y = ly + 10
	rs := rows(in, models)
	if models == 0 || len(rs) == 0 {
		y += 20
		text(b, margin, y, `fill="#444444"`, "No channels or no models to show.")
		return y + 10
	}
	hi := 0.0
	for _, r := range rs {
		for _, v := range r.credits {
			hi = math.Max(hi, v)
		}
	}
	top, step := scale(hi)
	// The axis: ticks and their labels above the bars, grid lines through them.
	y += 24
	groupHeight := models*barStep - (barStep - barHeight)
	bottom := y + 8 + len(rs)*(groupHeight+rowGap)
	for i := range int(math.Round(top/step)) + 1 {
		t := float64(i) * step
		tx := barStart + t/top*barWidth
		fmt.Fprintf(b, `<line x1="%s" y1="%d" x2="%s" y2="%d" stroke="#dddddd"/>`+"\n", num(tx), y+4, num(tx), bottom)
		textAnchor(b, tx, float64(y), "middle", `fill="#444444" font-size="11"`, short(t))
	}
	text(b, margin, y, `fill="#444444" font-size="11"`, "conversions")
	y += 8 + rowGap/2
	for _, r := range rs {
		textAnchor(b, labelEnd, float64(y+groupHeight/2+4), "end", "", cut(r.name))
		for m, v := range r.credits {
			by := y + m*barStep
			w := barPixels(v, top)
			fmt.Fprintf(b, `<rect class="bar" x="%d" y="%d" width="%s" height="%d" fill="%s"><title>%s, %s: %s conversions</title></rect>`+"\n",
				barStart, by, num(w), barHeight, palette[m%len(palette)], esc(cutTo(r.name, MaxTooltip)), esc(cutTo(in.Models[m], MaxTooltip)), esc(exact(v)))
			textAnchor(b, barStart+w+4, float64(by+barHeight-1), "start", `font-size="10" fill="#333333"`, round(v))
		}
		y += groupHeight + rowGap
	}
	return y
}

// barPixels is the length of the bar of v on a scale up to top.
func barPixels(v, top float64) float64 {
	if v <= 0 || top <= 0 {
		return 0
	}
	return math.Min(v/top, 1) * barWidth
}

// scale is the axis' top (a round number at or above hi) and its tick step.
func scale(hi float64) (top, step float64) {
	if !(hi > 0) || math.IsInf(hi, 0) {
		return 1, 0.2
	}
	raw := hi / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step = 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	top = math.Ceil(hi/step-1e-9) * step
	if !(top > 0) || math.IsInf(top, 0) {
		return hi, hi
	}
	return top, step
}

// drawReturns draws the spend, CPA and ROAS per channel as a table.
func drawReturns(b *bytes.Buffer, in Input, y int) int {
	y += 36
	title := "Spend and return"
	if in.ReturnsModel != "" {
		title += " under " + in.ReturnsModel
	}
	if in.Currency != "" {
		title += " (" + in.Currency + ")"
	}
	text(b, margin, y, `font-size="15" font-weight="bold"`, cutTo(title, MaxTitle))
	rets := slices.Clone(in.Returns)
	for i := range rets {
		rets[i].Spend, rets[i].Conversions, rets[i].Value = clean(rets[i].Spend), clean(rets[i].Conversions), clean(rets[i].Value)
	}
	slices.SortStableFunc(rets, func(a, b Return) int {
		return cmp.Or(cmp.Compare(b.Spend, a.Spend), cmp.Compare(b.Conversions, a.Conversions), strings.Compare(a.Channel, b.Channel))
	})
	limit := max(cmp.Or(in.MaxRows, DefaultMaxRows), 2)
	if len(rets) > limit {
		rest := rets[limit-1:]
		other := Return{Channel: fmt.Sprintf("other (%d channels)", len(rest))}
		spentOn := false
		for _, r := range rest {
			other.Spend, other.Conversions, other.Value = clean(other.Spend+r.Spend), clean(other.Conversions+r.Conversions), clean(other.Value+r.Value)
			spentOn = spentOn || r.ROAS != nil || r.CPA != nil || r.Spend != 0
		}
		if spentOn && other.Conversions > 0 {
			v := other.Spend / other.Conversions
			other.CPA = &v
		}
		if spentOn && other.Spend > 0 {
			v := other.Value / other.Spend
			other.ROAS = &v
		}
		rets = append(rets[:limit-1:limit-1], other)
	}
	cols := []struct {
		head string
		x    float64
	}{{"spend", 330}, {"conversions", 460}, {"value", 590}, {"CPA", 720}, {"ROAS", 830}}
	y += 26
	text(b, margin, y, `font-weight="bold"`, "channel")
	for _, c := range cols {
		textAnchor(b, c.x, float64(y), "end", `font-weight="bold"`, c.head)
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999999"/>`+"\n", margin, y+6, 850, y+6)
	for i, r := range rets {
		y += 20
		if i%2 == 1 {
			fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="20" fill="#f3f3f3"/>`+"\n", margin, y-14, 850-margin)
		}
		text(b, margin+4, y, "", cut(r.Channel))
		spend := money(r.Spend)
		if r.Spend == 0 && r.CPA == nil && r.ROAS == nil { // no spend figures for the channel
			spend = "—"
		}
		cells := []string{spend, round(r.Conversions), money(r.Value), optional(r.CPA, money), optional(r.ROAS, ratio)}
		for j, c := range cols {
			textAnchor(b, c.x, float64(y), "end", "", cells[j])
		}
	}
	y += 18
	text(b, margin, y, `fill="#444444" font-size="11"`, "CPA: spend per conversion; ROAS: value per unit of spend; — where there is nothing to divide by.")
	return y
}

// drawFunnel draws the funnel's steps as bars narrowing about the middle, the drop-off between them.
func drawFunnel(b *bytes.Buffer, f Funnel, y int) int {
	y += 36
	title := "Funnel"
	if f.Name != "" {
		title += ": " + f.Name
	}
	text(b, margin, y, `font-size="15" font-weight="bold"`, cutTo(title, MaxTitle))
	steps := f.Steps[:min(len(f.Steps), MaxSteps)]
	hi := 0.0
	for _, s := range steps {
		hi = math.Max(hi, clean(s.Count))
	}
	const center, full, h = 570.0, 600.0, 24
	y += 16
	for i, s := range steps {
		count := clean(s.Count)
		if i > 0 {
			prev := clean(steps[i-1].Count)
			drop := "—"
			if prev > 0 {
				drop = strconv.FormatFloat(clean((prev-count)/prev*100), 'f', 1, 64) + " % drop-off"
			}
			textAnchor(b, center, float64(y+14), "middle", `fill="#b00020" font-size="11"`, "▼ "+drop)
			y += 20
		}
		w := 0.0
		if hi > 0 && count > 0 {
			w = math.Max(count/hi*full, 2)
		}
		fmt.Fprintf(b, `<rect class="step" x="%s" y="%d" width="%s" height="%d" fill="#0072b2"><title>%s: %s</title></rect>`+"\n",
			num(center-w/2), y, num(w), h, esc(cutTo(s.Name, MaxTooltip)), esc(exact(count)))
		textAnchor(b, labelEnd, float64(y+16), "end", "", cut(s.Name))
		textAnchor(b, center+w/2+6, float64(y+16), "start", `font-weight="bold"`, round(count))
		y += h
	}
	if len(f.Steps) > len(steps) {
		y += 18
		text(b, margin, y, `fill="#444444"`, fmt.Sprintf("(%d more steps not shown)", len(f.Steps)-len(steps)))
	}
	return y
}

func text(b *bytes.Buffer, x, y int, attrs, s string) {
	textAnchor(b, float64(x), float64(y), "start", attrs, s)
}

func textAnchor(b *bytes.Buffer, x, y float64, anchor, attrs, s string) {
	if attrs != "" {
		attrs = " " + attrs
	}
	fmt.Fprintf(b, `<text x="%s" y="%s" text-anchor="%s"%s>%s</text>`+"\n", num(x), num(y), anchor, attrs, esc(s))
}

// esc escapes s as XML character data or attribute value; characters XML does not allow become U+FFFD.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// cut shortens a name to MaxLabel characters, the last an ellipsis.
func cut(s string) string { return cutTo(s, MaxLabel) }

// cutTo shortens s to n characters, the last an ellipsis.
func cutTo(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

// clean is v, or 0 when it is not a finite number.
func clean(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

// num writes a coordinate: two decimals at most, no trailing zeros.
func num(v float64) string {
	return trimZeros(strconv.FormatFloat(clean(v), 'f', 2, 64))
}

// round writes a count as a reader wants it: whole numbers with thousands separators from 100 up,
// one decimal from 10, two below, millions and billions shortened.
func round(v float64) string {
	v = clean(v)
	a := math.Abs(v)
	switch {
	case v == 0:
		return "0"
	case a >= 1e9:
		return strconv.FormatFloat(v/1e9, 'f', 1, 64) + " bn"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 1, 64) + " M"
	case a >= 99.5:
		return thousands(int64(math.Round(v)))
	case a >= 9.95:
		return trimZeros(strconv.FormatFloat(v, 'f', 1, 64))
	}
	return trimZeros(strconv.FormatFloat(v, 'f', 2, 64))
}

// trimZeros drops a fraction's trailing zeros (and its point when nothing is left of it).
func trimZeros(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		return "0"
	}
	return s
}

// money writes an amount: whole from 100 up, else with cents.
func money(v float64) string {
	v = clean(v)
	if a := math.Abs(v); a >= 99.995 && a < 1e6 {
		return thousands(int64(math.Round(v)))
	} else if a >= 1e6 {
		return round(v)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func ratio(v float64) string {
	if a := math.Abs(clean(v)); a >= 1e3 {
		return round(v)
	}
	return strconv.FormatFloat(clean(v), 'f', 2, 64)
}

func optional(v *float64, format func(float64) string) string {
	if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
		return "—"
	}
	return format(*v)
}

// short writes a tick of the axis.
func short(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return strconv.FormatFloat(v/1e9, 'g', 4, 64) + " bn"
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'g', 4, 64) + " M"
	case a >= 1e3:
		return thousands(int64(math.Round(v)))
	}
	return strconv.FormatFloat(math.Round(v*1e6)/1e6, 'f', -1, 64)
}

// exact is a figure to full precision, for the tooltips.
func exact(v float64) string { return strconv.FormatFloat(clean(v), 'g', -1, 64) }

func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}
