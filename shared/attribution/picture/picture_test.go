package picture

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/attribution"
	"github.com/dcrm-project/dcrm/shared/journey"
)

// element is an SVG element as decoded: its name, attributes and text, children in order.
type element struct {
	Name     string
	Attrs    map[string]string
	Text     string
	Children []*element
}

// decode reads the whole document with encoding/xml (strict), failing on anything not well-formed,
// and checks that every coordinate is a finite number.
func decode(t testing.TB, svg []byte) *element {
	t.Helper()
	root, err := parseSVG(svg)
	if err != nil {
		t.Fatalf("not well-formed: %v\n%s", err, svg)
	}
	return root
}

func parseSVG(svg []byte) (*element, error) {
	d := xml.NewDecoder(bytes.NewReader(svg))
	var root *element
	var stack []*element
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			e := &element{Name: tok.Name.Local, Attrs: map[string]string{}}
			for _, a := range tok.Attr {
				e.Attrs[a.Name.Local] = a.Value
				switch a.Name.Local {
				case "x", "y", "width", "height", "x1", "x2", "y1", "y2":
					v, err := strconv.ParseFloat(a.Value, 64)
					if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
						return nil, fmt.Errorf("<%s %s=%q>: not a finite number", e.Name, a.Name.Local, a.Value)
					}
				}
			}
			if len(stack) == 0 {
				if root != nil {
					return nil, errors.New("two root elements")
				}
				root = e
			} else {
				p := stack[len(stack)-1]
				p.Children = append(p.Children, e)
			}
			stack = append(stack, e)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].Text += string(tok)
			}
		}
	}
	if root == nil || root.Name != "svg" {
		return nil, errors.New("no <svg> root")
	}
	return root, nil
}

// all lists the elements called name, in document order.
func (e *element) all(name string) []*element {
	var out []*element
	if e.Name == name {
		out = append(out, e)
	}
	for _, c := range e.Children {
		out = append(out, c.all(name)...)
	}
	return out
}

// texts are the contents of every <text>.
func (e *element) texts() []string {
	var out []string
	for _, t := range e.all("text") {
		out = append(out, t.Text)
	}
	return out
}

// bar finds the bar whose tooltip starts with prefix.
func (e *element) bar(t *testing.T, prefix string) *element {
	t.Helper()
	for _, r := range e.all("rect") {
		for _, c := range r.Children {
			if c.Name == "title" && strings.HasPrefix(c.Text, prefix) {
				return r
			}
		}
	}
	t.Fatalf("no bar %q", prefix)
	return nil
}

func render(t testing.TB, in Input) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := SVG(&b, in); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func ptr(v float64) *float64 { return &v }

func small() Input {
	return Input{
		Title:  "Attribution, November",
		Period: "2026-11-01 to 2026-11-30",
		Models: []string{"first-touch", "last-touch", "linear"},
		Channels: []Channel{
			{Name: "email", Credits: []float64{50, 20, 35}},
			{Name: "paid search", Credits: []float64{30, 100, 64.5}},
			{Name: "direct", Credits: []float64{20}}, // a model missing a channel: 0
		},
		SortBy:       "last-touch",
		ReturnsModel: "last-touch",
		Currency:     "EUR",
		Returns: []Return{
			{Channel: "email", Conversions: 20, Value: 900},
			{Channel: "paid search", Spend: 1500, Conversions: 100, Value: 4000, CPA: ptr(15), ROAS: ptr(4000.0 / 1500)},
		},
		Funnel: Funnel{Name: "checkout", Steps: []Step{{"Product", 1000}, {"Cart", 400}, {"Paid", 100}}},
	}
}

// The whole picture decodes as XML, shows the title, the period, every channel, model, step and
// figure, and draws bars exactly on the scale: the largest credit (100) rounds to a top of 100, so
// 100 is the full 640 pixels, 50 half of them and 64.5 their 64.5 %.
func TestPicture(t *testing.T) {
	svg := render(t, small())
	root := decode(t, svg)
	if root.Attrs["width"] != "960" {
		t.Errorf("width %q", root.Attrs["width"])
	}
	joined := strings.Join(root.texts(), "\n")
	for _, want := range []string{"Attribution, November", "Period: 2026-11-01 to 2026-11-30", "email", "paid search", "direct",
		"first-touch", "last-touch", "linear", "conversions", "Spend and return under last-touch (EUR)", "CPA", "ROAS",
		"1,500", "15.00", "2.67", "Funnel: checkout", "Product", "Cart", "Paid", "1,000", "▼ 60.0 % drop-off", "▼ 75.0 % drop-off",
		"64.5", "100", "50", "20", "35", "900"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no text %q in\n%s", want, joined)
		}
	}
	for prefix, width := range map[string]string{
		"paid search, last-touch:": "640", "email, first-touch:": "320", "paid search, linear:": "412.8",
		"direct, last-touch:": "0", "direct, first-touch:": "128",
	} {
		if got := root.bar(t, prefix).Attrs["width"]; got != width {
			t.Errorf("%s width %s, want %s", prefix, got, width)
		}
	}
	// Rows sorted by last touch: paid search, email, direct.
	var order []string
	for _, tx := range root.all("text") {
		if tx.Attrs["text-anchor"] == "end" && (tx.Text == "email" || tx.Text == "paid search" || tx.Text == "direct") {
			order = append(order, tx.Text)
		}
	}
	if strings.Join(order, ",") != "paid search,email,direct" {
		t.Errorf("rows %v", order)
	}
	// The email row has no spend: its CPA and ROAS are dashes.
	if strings.Count(joined, "—") < 2 {
		t.Errorf("empty cells are not dashes:\n%s", joined)
	}
	if !bytes.Equal(svg, render(t, small())) {
		t.Error("the same input gave other bytes")
	}
}

// A hostile channel name, title and model name stay text.
func TestPictureEscapes(t *testing.T) {
	in := small()
	hostile := `<script>&"'` + "\x00\xff"
	in.Title, in.Period = hostile, hostile
	in.Models[0] = hostile
	in.Channels[0].Name = hostile
	in.Returns[0].Channel = hostile
	in.Currency = hostile
	in.Funnel.Name, in.Funnel.Steps[0].Name = hostile, hostile
	svg := render(t, in)
	root := decode(t, svg)
	if bytes.Contains(svg, []byte("<script")) {
		t.Error("a <script> element in the output")
	}
	if len(root.all("script")) != 0 {
		t.Error("decoded a script element")
	}
	if !strings.Contains(strings.Join(root.texts(), "\n"), `<script>&"'`) {
		t.Error("the hostile name is not shown as text")
	}
}

// Forty channels: eleven rows and "other (29 channels)" with their sum; long names cut; no NaN
// from NaN or infinite credits.
func TestPictureBounds(t *testing.T) {
	in := Input{Models: []string{"last-touch", "markov"}, SortBy: "last-touch"}
	sumOther := 0.0
	for i := range 40 {
		v := float64(40 - i)
		if i >= DefaultMaxRows-1 {
			sumOther += v
		}
		in.Channels = append(in.Channels, Channel{Name: fmt.Sprintf("channel %02d %s", i, strings.Repeat("long ", 20)), Credits: []float64{v, math.NaN()}})
		in.Returns = append(in.Returns, Return{Channel: fmt.Sprint(i), Spend: v, ROAS: ptr(math.Inf(1))})
	}
	in.Funnel.Steps = make([]Step, 30)
	root := decode(t, render(t, in))
	if n := len(root.all("rect")); n > 200 {
		t.Errorf("%d rectangles", n)
	}
	var rows, cut int
	for _, tx := range root.all("text") {
		if strings.HasPrefix(tx.Text, "channel ") {
			rows++
		}
		if strings.HasSuffix(tx.Text, "…") {
			cut++
			if n := len([]rune(tx.Text)); n > MaxLabel {
				t.Errorf("label of %d characters: %q", n, tx.Text)
			}
		}
	}
	if rows != DefaultMaxRows-1 || cut < rows {
		t.Errorf("%d channel rows, %d cut labels", rows, cut)
	}
	other := root.bar(t, "other (29 channels), last-touch:")
	if got := other.Children[0].Text; got != fmt.Sprintf("other (29 channels), last-touch: %g conversions", sumOther) {
		t.Errorf("other: %q", got)
	}
	joined := strings.Join(root.texts(), "\n")
	for _, want := range []string{"other (29 channels)", "(18 more steps not shown)"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no %q", want)
		}
	}
	if strings.Contains(joined, "NaN") || strings.Contains(joined, "Inf") {
		t.Error("NaN or Inf in the text")
	}
}

// Nothing to show is still a picture.
func TestPictureEmpty(t *testing.T) {
	root := decode(t, render(t, Input{}))
	if !strings.Contains(strings.Join(root.texts(), "\n"), "No channels") {
		t.Error("no word about the empty input")
	}
}

// FromResults takes every model's credits (0 where a result lacks a channel), WithReturns the
// returns, FunnelOf the journeys report's funnel.
func TestFromResults(t *testing.T) {
	results := []attribution.Result{
		{Model: "first-touch", Credits: []attribution.Credit{{Channel: "a", Conversions: 3}, {Channel: "b", Conversions: 1}}},
		{Model: "last-touch", Credits: []attribution.Credit{{Channel: "b", Conversions: 4}}},
	}
	in := FromResults("t", "p", results)
	if in.SortBy != "last-touch" || len(in.Channels) != 2 || in.Channels[0].Credits[1] != 0 || in.Channels[1].Credits[1] != 4 {
		t.Errorf("%+v", in)
	}
	in = in.WithReturns("last-touch", "EUR", attribution.Returns(results[1], map[string]float64{"b": 8}))
	if len(in.Returns) != 1 || *in.Returns[0].CPA != 2 {
		t.Errorf("%+v", in.Returns)
	}
	in.Funnel = FunnelOf(journey.FunnelSegment{Funnel: "f", Segment: "mobile", Steps: []journey.FunnelStep{{Step: "x", Reached: 5}, {Step: "y", Reached: 2}}})
	if in.Funnel.Name != "f (mobile)" || in.Funnel.Steps[1].Count != 2 {
		t.Errorf("%+v", in.Funnel)
	}
	decode(t, render(t, in))
}

// Whatever the names and numbers, the output is well-formed XML with finite coordinates.
func FuzzPicture(f *testing.F) {
	f.Add("email", `<script>&"`, 1.5, 2.0, -3.0, 7.0)
	f.Add("", "\x00\xff\xfe", math.Inf(1), math.NaN(), 1e308, -1e-320)
	f.Fuzz(func(t *testing.T, a, b string, x, y, z, s float64) {
		in := Input{Title: a, Period: b, Models: []string{a, b, "m"}, SortBy: b,
			Channels: []Channel{{Name: a, Credits: []float64{x, y, z}}, {Name: b, Credits: []float64{z}}, {Name: a + b, Credits: []float64{s, x}}},
			Returns:  []Return{{Channel: a, Spend: x, Conversions: y, CPA: &z, ROAS: &s}, {Channel: b, Value: s}},
			Funnel:   Funnel{Name: b, Steps: []Step{{a, x}, {b, y}, {a, z}}},
			Journeys: Journeys{Goal: a, Total: int(clean(x)) % 1000, Value: y,
				Paths: []Path{{Touches: []string{a, b, a}, Journeys: 3, Conversions: int(clean(z)) % 10, Value: s}, {Journeys: 1}},
				Transitions: journey.Transitions{From: []string{journey.StateStart, a, b}, To: []string{a, b, journey.StateNull},
					Counts: [][]int{{1, 2, 3}, {int(clean(x)) % 100}, {4, 5, 6, 7}}}},
		}
		var out bytes.Buffer
		if err := SVG(&out, in); err != nil {
			t.Fatal(err)
		}
		root, err := parseSVG(out.Bytes())
		if err != nil {
			t.Fatalf("%v\n%s", err, out.Bytes())
		}
		if len(root.all("script")) != 0 {
			t.Fatal("a script element")
		}
	})
}

// journeysReport is the journeys report of a few made-up people, goal "order" in segment "mobile":
// email > paid search twice (one converted, worth 30, two days after the first touch), email alone
// once (converted, worth 10, an hour after), direct once (not converted), one conversion without a
// touch (worth 5).
func journeysReport(t *testing.T) journey.GoalJourneys {
	t.Helper()
	rep := journey.NewReport(journey.Config{Goals: []journey.Goal{{Name: "order"}}}, journey.ReportOptions{
		Segment: func(*journey.Person) string { return "mobile" }})
	at := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	touches := func(channels ...string) []journey.Touch {
		var ts []journey.Touch
		for i, c := range channels {
			ts = append(ts, journey.Touch{At: at.Add(time.Duration(i) * 24 * time.Hour), Channel: c})
		}
		return ts
	}
	for _, j := range []journey.Journey{
		{Converted: true, At: at.Add(48 * time.Hour), Value: 30, Touches: touches("email", "paid search")},
		{At: at.Add(72 * time.Hour), Touches: touches("email", "paid search")},
		{Converted: true, At: at.Add(time.Hour), Value: 10, Touches: touches("email")},
		{At: at.Add(72 * time.Hour), Touches: touches("direct")},
		{Converted: true, At: at, Value: 5},
	} {
		j.Goal = "order"
		rep.Add(&journey.Person{Journeys: []journey.Journey{j}})
	}
	for _, g := range rep.Journeys() {
		if g.Segment == "mobile" {
			return g
		}
	}
	t.Fatal("no segment mobile")
	return journey.GoalJourneys{}
}

// chipRows are the chips' names as drawn, a row per path (by the chips' y), in order.
func chipRows(root *element) [][]string {
	var out [][]string
	last := ""
	for _, g := range root.all("g") {
		if g.Attrs["class"] != "chip" {
			continue
		}
		rect, label := g.all("rect")[0], g.all("text")[0].Text
		if rect.Attrs["y"] != last || len(out) == 0 {
			out = append(out, nil)
			last = rect.Attrs["y"]
		}
		out[len(out)-1] = append(out[len(out)-1], label)
	}
	return out
}

// The journeys of a real report: JourneysOf takes its paths (the path without touches as none),
// lengths, median and transitions; the picture shows every path as chips ending in "conversion"
// when any journey on it converted, each path's journeys, conversions, rate and value, bars on
// the scale of the path with most journeys, and the transitions in per cent of their row.
func TestJourneys(t *testing.T) {
	j := JourneysOf(journeysReport(t))
	if j.Goal != "order (mobile)" || j.Total != 5 || j.Conversions != 3 || j.Value != 45 || j.Timed != 2 || j.MedianTime != 24*time.Hour+30*time.Minute {
		t.Errorf("%+v", j)
	}
	if len(j.Paths) != 4 || strings.Join(j.Paths[0].Touches, ",") != "email,paid search" || j.Paths[1].Touches != nil {
		t.Errorf("paths %+v", j.Paths)
	}
	in := small()
	in.Journeys = j
	svg := render(t, in)
	root := decode(t, svg)
	joined := strings.Join(root.texts(), "\n")
	for _, want := range []string{"Journeys: order (mobile)",
		"5 journeys, 3 converted (60.0 %), value 45.00; median time from first touch to conversion: 24.5 hours",
		"Conversions by number of touches: no touch: 33.3 %, 1: 33.3 %, 2: 33.3 %",
		"path", "journeys", "rate", "50.0 %", "100.0 %", "0.0 %", "30.00", "10.00", "5.00",
		"The 4 paths shown hold 100.0 % of the 5 journeys.",
		"Channel transitions: order (mobile)", "start", "converted", "left", "from ↓   next →"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no text %q in\n%s", want, joined)
		}
	}
	for _, state := range []string{"(start)", "(conversion)", "(null)"} {
		if strings.Contains(joined, state) {
			t.Errorf("the state %s is not in plain words", state)
		}
	}
	// Paths by journeys, then conversions; ties in path order ("(no touch)" before "email").
	got := chipRows(root)
	if fmt.Sprint(got) != fmt.Sprint([][]string{{"email", "paid search", "conversion"}, {"no touch", "conversion"}, {"email", "conversion"}, {"direct"}}) {
		t.Errorf("chips %v", got)
	}
	// The bars: 2 journeys is the full 100 pixels, 1 half of it; the converted part of email >
	// paid search is half its bar.
	for prefix, w := range map[string]string{"email > paid search:": "100", "direct:": "50", "no touch:": "50"} {
		if got := root.bar(t, prefix).Attrs["width"]; got != w {
			t.Errorf("%s width %s, want %s", prefix, got, w)
		}
	}
	if !strings.Contains(string(svg), `width="50" height="12" fill="`+journeysInk+`"`) {
		t.Error("no converted half of the first path's bar")
	}
	// Transitions: from start, 3 of 5 journeys to email (60 %), 1 to direct, 1 straight to a
	// conversion; email went on to paid search twice of three.
	cells := map[string]string{}
	for _, r := range root.all("rect") {
		if r.Attrs["class"] == "cell" {
			cells[strings.SplitN(r.Children[0].Text, ":", 2)[0]] = r.Children[0].Text
		}
	}
	for k, v := range map[string]string{"start → email": "start → email: 60.0 % (3 of 5)", "start → converted": "start → converted: 20.0 % (1 of 5)",
		"email → paid search": "email → paid search: 66.7 % (2 of 3)", "direct → left": "direct → left: 100.0 % (1 of 1)",
		"paid search → converted": "paid search → converted: 50.0 % (1 of 2)"} {
		if cells[k] != v {
			t.Errorf("cell %q: %q, want %q", k, cells[k], v)
		}
	}
	if len(cells) != 4*5 { // rows start and 3 channels; columns 3 channels, converted, left
		t.Errorf("%d cells", len(cells))
	}
	// The same channel has the same colour in every chip, another channel another; the first
	// channel drawn has the palette's first colour.
	fills := map[string]string{}
	for _, g := range root.all("g") {
		if g.Attrs["class"] != "chip" {
			continue
		}
		name, fill := g.all("text")[0].Text, g.all("rect")[0].Attrs["fill"]
		if f, ok := fills[name]; ok && f != fill {
			t.Errorf("%s drawn in %s and %s", name, f, fill)
		}
		fills[name] = fill
	}
	if fills["email"] != palette[0] || fills["paid search"] != palette[1] || fills["direct"] != palette[2] {
		t.Errorf("fills %v", fills)
	}
	if !bytes.Equal(svg, render(t, in)) {
		t.Error("the same input gave other bytes")
	}
	// The section sits between the returns and the funnel.
	if r, jn, f := strings.Index(joined, "Spend and return"), strings.Index(joined, "Journeys:"), strings.Index(joined, "Funnel:"); !(r < jn && jn < f) {
		t.Errorf("sections in the order %d %d %d", r, jn, f)
	}
}

// An empty section draws nothing: the same bytes as without it.
func TestJourneysEmpty(t *testing.T) {
	in := small()
	without := render(t, in)
	in.Journeys = Journeys{Goal: "order", Transitions: journey.Transitions{From: []string{journey.StateStart}, To: []string{journey.StateNull}, Counts: [][]int{{0}}}}
	if !bytes.Equal(without, render(t, in)) {
		t.Error("an empty journeys section changed the picture")
	}
}

// Many paths, a long one, long names, many channels and a ragged matrix: at most MaxPaths rows
// and the rest said; a long path cut to its first touches, "+N more" and its last; chip names
// at most MaxChip characters and within the room for chips; at most MaxTransitionChannels
// channels in the map, the rest summed as "other".
func TestJourneysBounds(t *testing.T) {
	var j Journeys
	var long []string
	for i := range 30 {
		long = append(long, fmt.Sprintf("channel %02d %s", i, strings.Repeat("long ", 6)))
	}
	wide := strings.Repeat("W", 40)
	j.Paths = append(j.Paths, Path{Touches: long, Journeys: 100, Conversions: 10, Value: 1000}, Path{Touches: []string{wide, wide, wide, wide}, Journeys: 60})
	for i := range 13 {
		j.Paths = append(j.Paths, Path{Touches: long[i : i+2], Journeys: 50 - i, Conversions: -1, Value: math.NaN()})
	}
	j.Total = 1000
	channels := long[:20]
	tr := journey.Transitions{From: append([]string{journey.StateStart}, channels...), To: append(slices.Clone(channels), journey.StateConversion, journey.StateNull)}
	for i := range tr.From {
		row := make([]int, len(tr.To)-i%3) // ragged: some rows short
		for k := range row {
			row[k] = i + k
		}
		tr.Counts = append(tr.Counts, row)
	}
	tr.Counts = tr.Counts[:len(tr.Counts)-1] // and one row missing
	j.Transitions = tr
	root := decode(t, render(t, Input{Journeys: j}))
	joined := strings.Join(root.texts(), "\n")
	rows := chipRows(root)
	if len(rows) != MaxPaths {
		t.Fatalf("%d rows of chips", len(rows))
	}
	first := rows[0]
	var more string
	for _, c := range first {
		if strings.HasPrefix(c, "+") {
			more = c
		}
	}
	channelChips := len(first) - 2 // less "+N more" and "conversion"
	if channelChips > MaxPathTouches || more != fmt.Sprintf("+%d more", 30-channelChips) || first[len(first)-2] != cutTo(long[29], MaxChip) || first[0] != cutTo(long[0], MaxChip) {
		t.Errorf("the long path: %q", first)
	}
	for _, r := range rows {
		for _, c := range r {
			if n := len([]rune(c)); n > MaxChip {
				t.Errorf("chip of %d characters: %q", n, c)
			}
		}
	}
	// The chips of a row stay left of the journeys' bars, however wide the names.
	for _, g := range root.all("g") {
		if rect := g.all("rect"); g.Attrs["class"] == "chip" && mustAtof(t, rect[0].Attrs["x"])+mustAtof(t, rect[0].Attrs["width"]) > chipsEnd {
			t.Errorf("a chip ends at %s+%s", rect[0].Attrs["x"], rect[0].Attrs["width"])
		}
	}
	for _, want := range []string{"5 more paths not shown", "The 10 paths shown hold", "other (13 channels)"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no %q in\n%s", want, joined)
		}
	}
	var cells int
	for _, r := range root.all("rect") {
		if r.Attrs["class"] == "cell" {
			cells++
		}
	}
	if want := (1 + MaxTransitionChannels) * (MaxTransitionChannels + 2); cells != want {
		t.Errorf("%d cells, want %d", cells, want)
	}
	if strings.Contains(joined, "NaN") || strings.Contains(joined, "-1") {
		t.Error("NaN or a negative count in the text")
	}
}

// A hostile goal or channel name stays text, in the chips, the tooltips and the map.
func TestJourneysEscape(t *testing.T) {
	hostile := `<script>&"'` + "\x00\xff"
	j := Journeys{Goal: hostile, Total: 3, Conversions: 1,
		Paths:       []Path{{Touches: []string{hostile, "email"}, Journeys: 3, Conversions: 1}},
		Transitions: journey.Transitions{From: []string{journey.StateStart, hostile}, To: []string{hostile, journey.StateConversion}, Counts: [][]int{{3, 0}, {0, 1}}}}
	svg := render(t, Input{Journeys: j})
	root := decode(t, svg)
	if bytes.Contains(svg, []byte("<script")) || len(root.all("script")) != 0 {
		t.Error("a script element")
	}
	if got := chipRows(root); len(got) != 1 || !strings.HasPrefix(got[0][0], `<script>&"'`) {
		t.Errorf("chips %q", got)
	}
}

// Names are cut to the room they have, by an estimate of their width on the wide side.
func TestFitAndInk(t *testing.T) {
	for _, s := range []string{"organic search", strings.Repeat("W", 40), strings.Repeat("日本", 20), "x"} {
		if got := fit(s, 11, 64); textWidth(got, 11) > 64 && len([]rune(got)) > 1 {
			t.Errorf("fit(%q) = %q, %g pixels", s, got, textWidth(got, 11))
		}
	}
	if fit("email", 11, 64) != "email" {
		t.Error("a short name was cut")
	}
	if inkOn("#0072b2") != "#ffffff" || inkOn("#e69f00") != "#000000" || inkOn(shade(0)) != "#000000" || inkOn(shade(1)) != "#ffffff" {
		t.Error("ink that does not contrast")
	}
	for d, want := range map[time.Duration]string{0: "under a minute", 5 * time.Minute: "5 minutes", 90 * time.Minute: "1.5 hours", 72 * time.Hour: "3 days"} {
		if got := duration(d); got != want {
			t.Errorf("duration(%v) = %q, want %q", d, got, want)
		}
	}
}
