package picture

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/dcrm-project/dcrm/shared/journey"
)

// Bounds of the journeys section.
const (
	// MaxPaths is the number of top paths drawn; later ones are left out (and said so).
	MaxPaths = 10
	// MaxPathTouches is the number of channel chips of one path: a longer one shows its first
	// touches, a "+N more" chip and its last touch.
	MaxPathTouches = 6
	// MaxChip is the number of characters of a channel name in a chip.
	MaxChip = 20
	// MaxTransitionChannels is the number of channel rows (and columns) of the transition map; past
	// it the channels touched least are summed into one "other" row and column.
	MaxTransitionChannels = 8
)

// Journeys are one goal's journeys: its top paths, its conversions by number of touches, the time
// to conversion and the channel transitions. Empty (no paths, no journeys, no transitions), it
// draws nothing.
type Journeys struct {
	Goal        string // the goal's name, and its segment in parentheses
	Total       int    // the goal's journeys, converted or not
	Conversions int
	Value       float64
	// Paths are the top paths, most journeys first.
	Paths []Path
	// Lengths are the conversions by number of touches.
	Lengths []Length
	// MedianTime is the median time from a path's first touch to its conversion, over Timed
	// conversions (those with a touch); with Timed 0 there is none.
	MedianTime time.Duration
	Timed      int
	// Transitions is the journeys report's channel transition matrix: rows journey.StateStart and
	// the channels, columns the channels, journey.StateConversion and journey.StateNull.
	Transitions journey.Transitions
}

// Path is a path of touches and the journeys that took it.
type Path struct {
	Touches     []string // channels in the order touched; none for conversions without a touch
	Journeys    int
	Conversions int
	Value       float64
}

// Length is how many conversions had a number of touches.
type Length struct {
	Touches     int
	Conversions int
}

// JourneysOf is the section of one goal (in one segment) of the journeys report.
func JourneysOf(g journey.GoalJourneys) Journeys {
	j := Journeys{Goal: g.Goal, Total: g.Journeys, Conversions: g.Conversions, Value: g.Value,
		MedianTime: g.MedianTime, Transitions: g.Transitions}
	if g.Segment != "" && g.Segment != journey.AllSegments {
		j.Goal += " (" + g.Segment + ")"
	}
	for _, p := range g.TopPaths {
		var touches []string
		if p.Path != journey.NoTouch {
			touches = strings.Split(p.Path, " > ") // as the report joins them
		}
		j.Paths = append(j.Paths, Path{Touches: touches, Journeys: p.Journeys, Conversions: p.Conversions, Value: p.Value})
	}
	for _, l := range g.Lengths {
		j.Lengths = append(j.Lengths, Length{Touches: l.Touches, Conversions: l.Conversions})
	}
	for _, t := range g.TimeToConversion {
		j.Timed += t.Conversions
	}
	return j
}

// empty is whether the section has nothing to draw.
func (j Journeys) empty() bool {
	return len(j.Paths) == 0 && j.Total <= 0 && !slices.ContainsFunc(j.Transitions.Counts, func(r []int) bool {
		return slices.ContainsFunc(r, func(c int) bool { return c > 0 })
	})
}

// Geometry of the paths table: the chips on the left, then the journeys' bar, the figures.
const (
	chipsEnd    = 545 // a path's chips end before this
	chipHeight  = 18
	chipFont    = 11
	chipPad     = 6  // on each side of a chip's name
	arrowGap    = 14 // between two chips, the arrow in the middle
	pathRow     = 26
	pathBar     = 560 // the journeys' bar starts here
	pathBarMax  = 100 // the longest bar; its count after it
	colConv     = 790 // right edges of the figures' columns
	colRate     = 860
	colValue    = width - margin
	journeysInk = "#0072b2" // the converted part of a bar
	journeysBar = "#a6cde6" // the rest: the same hue, lighter, told apart by lightness alone
)

// chip is one chip of a path: a channel (channel set), "+N more", "no touch" or "conversion".
type chip struct {
	label   string
	channel string
	kind    string // "channel", "more", "none" or "conversion"
}

// drawJourneys draws the goal's top paths as chips with their journeys, then the transitions.
func drawJourneys(b *bytes.Buffer, j Journeys, y int) int {
	y += 36
	text(b, margin, y, `font-size="15" font-weight="bold"`, cutTo("Journeys: "+cmp.Or(j.Goal, "goal not named"), MaxTitle))
	total, conv := max(j.Total, 0), max(j.Conversions, 0)
	median := "—"
	if j.Timed > 0 {
		median = duration(j.MedianTime)
	}
	y += 20
	text(b, margin, y, `fill="#444444"`, fmt.Sprintf("%s journeys, %s converted (%s), value %s; median time from first touch to conversion: %s",
		thousands(int64(total)), thousands(int64(conv)), percent(float64(conv), float64(total)), money(j.Value), median))
	if line := lengths(j.Lengths); line != "" {
		y += 18
		text(b, margin, y, `fill="#444444"`, line)
	}
	if paths := j.Paths[:min(len(j.Paths), MaxPaths)]; len(paths) > 0 {
		y = drawPaths(b, j, paths, y)
	}
	if hasCounts(j.Transitions) {
		y = drawTransitions(b, j, y)
	}
	return y
}

// drawPaths draws the paths as rows of chips, each with a bar of its journeys (the converted part
// darker), its conversions, rate and value.
func drawPaths(b *bytes.Buffer, j Journeys, paths []Path, y int) int {
	hi, shown := 0, 0
	for _, p := range paths {
		hi, shown = max(hi, p.Journeys), shown+max(p.Journeys, 0)
	}
	y += 28
	text(b, margin, y, `font-weight="bold"`, "path")
	text(b, pathBar, y, `font-weight="bold"`, "journeys")
	for _, c := range []struct {
		head string
		x    float64
	}{{"conversions", colConv}, {"rate", colRate}, {"value", colValue}} {
		textAnchor(b, c.x, float64(y), "end", `font-weight="bold"`, c.head)
	}
	fmt.Fprintf(b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999999"/>`+"\n", margin, y+6, colValue, y+6)
	y += 10
	colours := map[string]int{} // a channel's colour, by first appearance
	for i, p := range paths {
		if i%2 == 1 {
			fmt.Fprintf(b, `<rect x="%d" y="%d" width="%d" height="%d" fill="#f3f3f3"/>`+"\n", margin, y, colValue-margin, pathRow)
		}
		x := float64(margin + 2)
		for k, c := range chips(p) {
			if k > 0 {
				textAnchor(b, x+arrowGap/2, float64(y+18), "middle", `fill="#666666" font-size="14"`, "›")
				x += arrowGap
			}
			x += drawChip(b, c, x, y+(pathRow-chipHeight)/2, colours)
		}
		journeys, conversions := max(p.Journeys, 0), max(p.Conversions, 0)
		all, converted := 0.0, 0.0
		if hi > 0 {
			all = float64(journeys) / float64(hi) * pathBarMax
			converted = float64(min(conversions, journeys)) / float64(hi) * pathBarMax
		}
		fmt.Fprintf(b, `<rect class="journeys" x="%d" y="%d" width="%s" height="12" fill="%s"><title>%s: %s journeys, %s converted, value %s</title></rect>`+"\n",
			pathBar, y+7, num(all), journeysBar, esc(cutTo(pathName(p), MaxTooltip)), thousands(int64(journeys)), thousands(int64(conversions)), esc(exact(p.Value)))
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="%s" height="12" fill="%s"/>`+"\n", pathBar, y+7, num(converted), journeysInk)
		// Counts as round writes them: millions shortened, to stay within their column.
		textAnchor(b, pathBar+all+4, float64(y+17), "start", `font-size="11" fill="#333333"`, round(float64(journeys)))
		textAnchor(b, colConv, float64(y+17), "end", "", round(float64(conversions)))
		textAnchor(b, colRate, float64(y+17), "end", "", percent(float64(conversions), float64(journeys)))
		textAnchor(b, colValue, float64(y+17), "end", "", money(p.Value))
		y += pathRow
	}
	y += 16
	text(b, margin, y, `fill="#444444" font-size="11"`, "Bar: the journeys on the path, its dark part those that converted; rate: conversions per journey.")
	var left []string
	if j.Total > 0 {
		left = append(left, fmt.Sprintf("The %d paths shown hold %s of the %s journeys", len(paths), percent(float64(shown), float64(j.Total)), thousands(int64(j.Total))))
	}
	if n := len(j.Paths) - len(paths); n > 0 {
		left = append(left, fmt.Sprintf("%d more paths not shown", n))
	}
	if len(left) > 0 {
		y += 16
		text(b, margin, y, `fill="#444444" font-size="11"`, strings.Join(left, "; ")+".")
	}
	return y
}

// chips are the chips of a path: its touches (when it is long, its first ones, "+N more" and its
// last, as many as fit before chipsEnd), then "conversion" when any journey on it converted.
func chips(p Path) []chip {
	n := len(p.Touches)
	end := []chip{}
	if p.Conversions > 0 {
		end = append(end, chip{label: "conversion", kind: "conversion"})
	}
	if n == 0 {
		return append([]chip{{label: "no touch", kind: "none"}}, end...)
	}
	for shown := min(n, MaxPathTouches); ; shown-- {
		var cs []chip
		if shown == n {
			for _, t := range p.Touches {
				cs = append(cs, chip{label: cutTo(t, MaxChip), channel: t, kind: "channel"})
			}
		} else {
			for _, t := range p.Touches[:shown-1] {
				cs = append(cs, chip{label: cutTo(t, MaxChip), channel: t, kind: "channel"})
			}
			last := p.Touches[n-1]
			cs = append(cs, chip{label: fmt.Sprintf("+%d more", n-shown), kind: "more"}, chip{label: cutTo(last, MaxChip), channel: last, kind: "channel"})
		}
		cs = append(cs, end...)
		// One chip and "+N more" always fit: MaxChip characters are at most some 230 pixels.
		if shown == 1 || chipsWidth(cs) <= chipsEnd-margin-2 {
			return cs
		}
	}
}

func chipWidth(c chip) float64 { return textWidth(c.label, chipFont) + 2*chipPad }

func chipsWidth(cs []chip) float64 {
	w := float64(len(cs)-1) * arrowGap
	for _, c := range cs {
		w += chipWidth(c)
	}
	return w
}

// drawChip draws a chip at x, its top at y, and returns its width. A channel's colour is the next
// of the palette when it first appears, its name in black or white, whichever reads better on it.
func drawChip(b *bytes.Buffer, c chip, x float64, y int, colours map[string]int) float64 {
	w := chipWidth(c)
	fill, stroke, ink := "#ffffff", "#777777", "#333333"
	outline := "" // the outline's style, besides its colour
	switch c.kind {
	case "channel":
		i, ok := colours[c.channel]
		if !ok {
			i = len(colours)
			colours[c.channel] = i
		}
		fill = palette[i%len(palette)]
		stroke, ink = fill, inkOn(fill)
	case "more":
		outline = ` stroke-dasharray="3 2"`
	case "conversion": // the end of the path, outlined: it is no channel
		stroke, ink = "#222222", "#222222"
		outline = ` stroke-width="1.5"`
	}
	fmt.Fprintf(b, `<g class="chip"><rect x="%s" y="%d" width="%s" height="%d" rx="4" fill="%s" stroke="%s"%s/>`,
		num(x), y, num(w), chipHeight, fill, stroke, outline)
	fmt.Fprintf(b, `<text x="%s" y="%d" text-anchor="middle" font-size="%d" fill="%s">%s</text></g>`+"\n",
		num(x+w/2), y+13, chipFont, ink, esc(c.label))
	return w
}

// pathName is a path as the report writes it, for a tooltip.
func pathName(p Path) string {
	if len(p.Touches) == 0 {
		return "no touch"
	}
	return strings.Join(p.Touches, " > ")
}

// lengths is the line of the shares of conversions by number of touches: none, 1 to 4, 5 or more.
func lengths(ls []Length) string {
	const most = 5
	var counts [most + 1]int
	total := 0
	for _, l := range ls {
		c := max(l.Conversions, 0)
		counts[min(max(l.Touches, 0), most)] += c
		total += c
	}
	if total == 0 {
		return ""
	}
	var parts []string
	for n, c := range counts {
		if c == 0 {
			continue
		}
		label := strconv.Itoa(n)
		switch n {
		case 0:
			label = "no touch"
		case most:
			label = strconv.Itoa(most) + " or more"
		}
		parts = append(parts, label+": "+percent(float64(c), float64(total)))
	}
	return "Conversions by number of touches: " + strings.Join(parts, ", ")
}

// Geometry of the transition map.
const (
	cellsStart = margin + 150 // the row labels end before this
	cellWidth  = 70
	cellHeight = 22
)

// drawTransitions draws the channel transition matrix as a heat map: a row per state journeys were
// in (start and the channels), a column per state they went to next (the channels, converted,
// left), each cell shaded by the row's share that went there.
func drawTransitions(b *bytes.Buffer, j Journeys, y int) int {
	t := j.Transitions
	// The counts by name (a hand-made matrix may be ragged or repeat a name), and how often each
	// channel was left: its touches, by which the channels shown are chosen.
	counts := map[[2]string]int{}
	touched := map[string]int{}
	for i, from := range t.From[:min(len(t.From), len(t.Counts))] {
		for k, to := range t.To[:min(len(t.To), len(t.Counts[i]))] {
			c := max(t.Counts[i][k], 0)
			counts[[2]string{from, to}] += c
			if !isState(from) {
				touched[from] += c
			}
		}
	}
	names := map[string]bool{}
	for _, s := range slices.Concat(t.From, t.To) {
		if !isState(s) {
			names[s] = true
		}
	}
	channels := make([]string, 0, len(names))
	for s := range names {
		channels = append(channels, s)
	}
	slices.SortFunc(channels, func(a, b string) int { return cmp.Or(cmp.Compare(touched[b], touched[a]), strings.Compare(a, b)) })
	var rest []string
	if len(channels) > MaxTransitionChannels {
		channels, rest = channels[:MaxTransitionChannels-1], channels[MaxTransitionChannels-1:]
	}
	group := map[string]string{} // the row and column of a state: itself, or other
	for _, s := range slices.Concat([]string{journey.StateStart, journey.StateConversion, journey.StateNull}, channels) {
		group[s] = s
	}
	for _, s := range rest {
		group[s] = otherState
	}
	if len(rest) > 0 {
		channels = append(channels, otherState)
	}
	sums := map[[2]string]int{}
	rowTotal := map[string]int{}
	for k, c := range counts {
		from, to := group[k[0]], group[k[1]]
		sums[[2]string{from, to}] += c
		rowTotal[from] += c
	}
	label := func(s string) string {
		switch s {
		case journey.StateStart:
			return "start"
		case journey.StateConversion:
			return "converted"
		case journey.StateNull:
			return "left"
		case otherState:
			if len(rest) > 0 {
				return fmt.Sprintf("other (%d channels)", len(rest))
			}
		}
		return s
	}
	rows := append([]string{journey.StateStart}, channels...)
	cols := append(slices.Clone(channels), journey.StateConversion, journey.StateNull)

	y += 36
	text(b, margin, y, `font-size="15" font-weight="bold"`, cutTo("Channel transitions: "+cmp.Or(j.Goal, "goal not named"), MaxTitle))
	y += 18
	text(b, margin, y, `fill="#444444" font-size="11"`, "Where journeys went next from each step, in per cent of the row: start is before the first touch, left is no conversion.")
	y += 26
	textAnchor(b, cellsStart-8, float64(y), "end", `fill="#444444" font-size="11"`, "from ↓   next →")
	for k, c := range cols {
		name := label(c)
		if c == otherState && len(rest) > 0 {
			name = "other"
		}
		textAnchor(b, float64(cellsStart+k*cellWidth+cellWidth/2), float64(y), "middle", `font-size="11" font-weight="bold"`, fit(name, chipFont, cellWidth-6))
	}
	y += 6
	for _, r := range rows {
		textAnchor(b, cellsStart-8, float64(y+15), "end", "", fit(label(r), fontSize, cellsStart-margin-10))
		for k, c := range cols {
			n, of := sums[[2]string{r, c}], rowTotal[r]
			p := 0.0
			if of > 0 {
				p = float64(n) / float64(of)
			}
			fmt.Fprintf(b, `<rect class="cell" x="%d" y="%d" width="%d" height="%d" fill="%s" stroke="#ffffff"><title>%s → %s: %s (%s of %s)</title></rect>`+"\n",
				cellsStart+k*cellWidth, y, cellWidth, cellHeight, shade(p), esc(cutTo(label(r), MaxTooltip)), esc(cutTo(label(c), MaxTooltip)),
				percent(float64(n), float64(of)), thousands(int64(n)), thousands(int64(of)))
			if p >= 0.01 {
				textAnchor(b, float64(cellsStart+k*cellWidth+cellWidth/2), float64(y+15), "middle", `font-size="11" fill="`+inkOn(shade(p))+`"`,
					strconv.FormatFloat(math.Round(p*100), 'f', 0, 64)+" %")
			}
		}
		y += cellHeight
	}
	return y
}

// otherState is the row and column of the channels past MaxTransitionChannels.
const otherState = "(other)"

func isState(s string) bool {
	return s == journey.StateStart || s == journey.StateConversion || s == journey.StateNull
}

func hasCounts(t journey.Transitions) bool {
	return slices.ContainsFunc(t.Counts, func(r []int) bool { return slices.ContainsFunc(r, func(c int) bool { return c > 0 }) })
}

// shade is the colour of a share p of a row: from near white to dark blue, one hue, so lightness
// alone tells the shares apart (whatever the colour vision).
func shade(p float64) string {
	p = math.Min(math.Max(clean(p), 0), 1)
	from, to := [3]float64{247, 251, 255}, [3]float64{8, 69, 148}
	var c [3]int
	for i := range c {
		c[i] = int(math.Round(from[i] + (to[i]-from[i])*p))
	}
	return fmt.Sprintf("#%02x%02x%02x", c[0], c[1], c[2])
}

// inkOn is black or white, whichever contrasts more with the colour fill ("#rrggbb"), by the
// relative luminance of WCAG.
func inkOn(fill string) string {
	v, err := strconv.ParseUint(strings.TrimPrefix(fill, "#"), 16, 32)
	if err != nil {
		return "#000000"
	}
	lum := 0.0
	for i, weight := range []float64{0.2126, 0.7152, 0.0722} {
		c := float64(v>>(16-8*i)&0xff) / 255
		if c <= 0.04045 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		lum += weight * c
	}
	if (lum+0.05)/0.05 >= 1.05/(lum+0.05) {
		return "#000000"
	}
	return "#ffffff"
}

// percent is a share a/of in per cent with one decimal, "—" when of is not positive.
func percent(a, of float64) string {
	if !(of > 0) {
		return "—"
	}
	return strconv.FormatFloat(clean(a/of*100), 'f', 1, 64) + " %"
}

// duration writes a time to conversion: minutes, hours or days.
func duration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("%d minutes", int(d/time.Minute))
	case d < 48*time.Hour:
		return trimZeros(strconv.FormatFloat(d.Hours(), 'f', 1, 64)) + " hours"
	}
	return trimZeros(strconv.FormatFloat(d.Hours()/24, 'f', 1, 64)) + " days"
}

// fit shortens s, ending in an ellipsis, until it is at most px wide at size.
func fit(s string, size, px float64) string {
	r := []rune(s)
	for n := len(r); n > 1 && textWidth(s, size) > px; n-- {
		s = cutTo(string(r), n-1)
	}
	return s
}

// textWidth estimates the width of s at size, on the wide side of DejaVu Sans (the widest of the
// usual sans-serif faces, and the one Linux browsers use): chips and cells are sized by it, as
// there is no font to measure with.
func textWidth(s string, size float64) float64 {
	em := 0.0
	for _, r := range s {
		switch {
		case strings.ContainsRune("ijltfI.,:;'|!()[] -/", r):
			em += 0.4
		case strings.ContainsRune("mwMW%@…+<>=#~&", r) || r >= 0x2e80:
			em += 1
		case unicode.IsUpper(r):
			em += 0.8
		default: // lowercase letters and digits are 0.52 to 0.64 em
			em += 0.64
		}
	}
	return em * size
}
