package picture

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"

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
