package picture

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/dcrm-project/dcrm/scripts/devstack/devtest/browsertest"
	"github.com/dcrm-project/dcrm/shared/attribution"
	"github.com/dcrm-project/dcrm/shared/datasets"
	"github.com/dcrm-project/dcrm/shared/journey"
)

// The picture as a marketer sees it: every model on PathData (the demo data of the R package
// ChannelAttribution, ../shared/datasets/attribution beside the repository), a made-up spend under
// Markov, the journeys report of PathData's paths and a small funnel, opened in headless Chromium;
// then the journeys section alone on the hard cases (long paths and names, wide letters, a hostile
// name, more channels and paths than are drawn). The screenshots go to $DCRM_SCREENSHOTS when set
// (to look at), and each page must load as an SVG document at its own size, every bar, cell, chip
// and label drawn inside the canvas, every chip's name inside its chip.
func TestPictureInTheBrowser(t *testing.T) {
	ctx := browsertest.New(t, 60*time.Second)
	dir := os.Getenv("DCRM_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	f, err := os.Open(datasets.Path("attribution", "PathData.csv"))
	if err != nil {
		t.Fatalf("the public data set PathData.csv must be in ../shared/datasets/attribution beside the repository: %v", err)
	}
	paths, err := attribution.ReadPathData(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var results []attribution.Result
	for _, m := range attribution.Models() {
		r, err := m.Run(paths, attribution.Options{})
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, r)
	}
	in := FromResults("Attribution of PathData by model", "the 10,000 aggregated paths of PathData (no dates)", results)
	spent := map[string]float64{}
	for i, c := range results[0].Credits {
		if i%3 != 2 { // some channels without spend figures
			spent[attribution.ChannelKey(c.Channel)] = float64(1000 * (i + 1))
		}
	}
	in = in.WithReturns("markov", "EUR", attribution.Returns(results[6], spent))
	in.Journeys = JourneysOf(pathDataJourneys(paths))
	in.Funnel = Funnel{Name: "checkout", Steps: []Step{{"Product page", 12000}, {"Cart", 4800}, {"Checkout", 2100}, {"Paid", 1650}}}

	svg, page := look(ctx, t, in, filepath.Join(dir, "attribution-picture.png"))
	for _, c := range results[0].Credits {
		if !bytes.Contains(svg, []byte(">"+c.Channel+"<")) {
			t.Errorf("channel %s is not labelled", c.Channel)
		}
	}
	if want := len(results) * len(results[0].Credits); page.Bars != want {
		t.Errorf("%d bars, want %d (every model for each of the 12 channels)", page.Bars, want)
	}
	if page.Paths != MaxPaths || page.Cells == 0 {
		t.Errorf("%d paths (want %d), %d cells of the transition map", page.Paths, MaxPaths, page.Cells)
	}

	_, page = look(ctx, t, Input{Title: "Journeys, the hard cases", Journeys: hardJourneys()}, filepath.Join(dir, "attribution-journeys-cases.png"))
	if page.Paths != MaxPaths || page.Chips == 0 {
		t.Errorf("%d paths (want %d), %d chips", page.Paths, MaxPaths, page.Chips)
	}
}

// pathDataJourneys is the journeys report of PathData's paths as the goal "order": a journey per
// conversion and per null, each conversion worth its path's mean value. PathData has no times: the
// touches are made up, 20 hours apart, and the conversion an hour after the last.
func pathDataJourneys(paths []attribution.Path) journey.GoalJourneys {
	rep := journey.NewReport(journey.Config{Goals: []journey.Goal{{Name: "order"}}}, journey.ReportOptions{})
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range paths {
		touches := make([]journey.Touch, len(p.Channels))
		for i, c := range p.Channels {
			touches[i] = journey.Touch{At: start.Add(time.Duration(i) * 20 * time.Hour), Channel: c}
		}
		at := touches[len(touches)-1].At.Add(time.Hour)
		var person journey.Person
		for range int(p.Conversions) {
			person.Journeys = append(person.Journeys, journey.Journey{Goal: "order", Converted: true, At: at, Value: p.Value / p.Conversions, Touches: touches})
		}
		for range int(p.Nulls) {
			person.Journeys = append(person.Journeys, journey.Journey{Goal: "order", At: at, Touches: touches})
		}
		rep.Add(&person)
	}
	return rep.Journeys()[0]
}

// hardJourneys are journeys made to strain the drawing: long paths, long and wide names, a hostile
// one, a conversion without touches, more paths than MaxPaths and more channels than
// MaxTransitionChannels.
func hardJourneys() Journeys {
	long := []string{"organic search", "paid search / spring sale 2026", "email", "WWWWWWWWWWWWWWWWWW", "referral", "display", "direct", "paid social", "affiliates"}
	j := Journeys{Goal: "order (mobile)", Total: 5000, Conversions: 640, Value: 81234.5, MedianTime: 53 * time.Hour, Timed: 600,
		Lengths: []Length{{0, 40}, {1, 200}, {2, 150}, {3, 100}, {4, 50}, {7, 60}, {12, 40}}}
	j.Paths = []Path{
		{Touches: long, Journeys: 900, Conversions: 120, Value: 15000},
		{Touches: []string{"mmmmmmmmmmmmmmmmmm", "<script>alert(1)</script>", "email"}, Journeys: 700, Conversions: 0},
		{Touches: nil, Journeys: 40, Conversions: 40, Value: 3000},
		{Touches: long[:6], Journeys: 650, Conversions: 60, Value: 7000.25},
		{Touches: []string{"email"}, Journeys: 500, Conversions: 90, Value: 9000},
		{Touches: []string{"direct", "direct", "direct"}, Journeys: 300, Conversions: 5, Value: 450},
		{Touches: []string{"paid search / spring sale 2026", "email", "direct"}, Journeys: 250, Conversions: 30, Value: 3100},
		{Touches: []string{"ÄÖÜ ÉÈ Ñ Жизнь", "Ελληνικό κανάλι", "email"}, Journeys: 200, Conversions: 20, Value: 2500},
		{Touches: []string{"referral", "display"}, Journeys: 120, Conversions: 1, Value: 99.99},
		{Touches: []string{"display"}, Journeys: 100, Conversions: 0},
		{Touches: []string{"affiliates"}, Journeys: 90, Conversions: 9, Value: 900},
		{Touches: []string{"paid social"}, Journeys: 80, Conversions: 8, Value: 800},
	}
	channels := append(slices.Clone(long), "<script>alert(1)</script>", "mmmmmmmmmmmmmmmmmm", "tv", "podcast")
	t := journey.Transitions{From: append([]string{journey.StateStart}, channels...), To: append(slices.Clone(channels), journey.StateConversion, journey.StateNull)}
	for i := range t.From {
		row := make([]int, len(t.To))
		for k := range row {
			row[k] = (i*7 + k*13) % 17 * (len(t.From) - i) // uneven, and some zeros
		}
		t.Counts = append(t.Counts, row)
	}
	j.Transitions = t
	return j
}

// page is what the browser reports of a picture it drew.
type page struct {
	Type     string  `json:"type"`
	Width    float64 `json:"w"`
	Height   float64 `json:"h"`
	Bars     int     `json:"bars"`
	Paths    int     `json:"paths"`
	Cells    int     `json:"cells"`
	Chips    int     `json:"chips"`
	Outside  int     `json:"outside"`
	Overlaps int     `json:"overlaps"`
	Spilled  int     `json:"spilled"`
}

// Every text, bar, cell and chip inside the canvas; no two labels of the same line, nor two chips,
// overlapping; every chip's name inside its chip.
const measure = `(() => {
	const svg = document.documentElement, r = svg.getBoundingClientRect();
	let outside = 0, overlaps = 0, spilled = 0;
	const boxes = [...document.querySelectorAll("text, rect.bar, rect.step, rect.journeys, rect.cell, g.chip rect")].map(e => e.getBBox());
	for (const b of boxes) {
		if (b.x < 0 || b.y < 0 || b.x + b.width > r.width + 0.5 || b.y + b.height > r.height + 0.5) outside++;
	}
	const overlapping = (list, tx, ty) => {
		for (let i = 0; i < list.length; i++) for (let j = i + 1; j < list.length; j++) {
			const a = list[i], b = list[j];
			if (a.x < b.x + b.width - tx && b.x < a.x + a.width - tx && a.y < b.y + b.height - ty && b.y < a.y + a.height - ty) overlaps++;
		}
	};
	overlapping([...document.querySelectorAll("text")].map(e => e.getBBox()), 1, 2);
	overlapping([...document.querySelectorAll("g.chip rect")].map(e => e.getBBox()), 0, 0);
	const chips = [...document.querySelectorAll("g.chip")];
	for (const g of chips) {
		const c = g.querySelector("rect").getBBox(), t = g.querySelector("text").getBBox();
		if (t.x < c.x + 1 || t.x + t.width > c.x + c.width - 1) spilled++;
	}
	return {type: svg.namespaceURI + " " + svg.localName, w: r.width, h: r.height,
		bars: document.querySelectorAll("rect.bar").length, paths: document.querySelectorAll("rect.journeys").length,
		cells: document.querySelectorAll("rect.cell").length, chips: chips.length, outside, overlaps, spilled};
})()`

// look draws in, opens it in the browser, keeps its screenshot in shot and checks what the browser
// drew; it returns the SVG and the browser's report.
func look(ctx context.Context, t *testing.T, in Input, shotFile string) ([]byte, page) {
	t.Helper()
	var svg bytes.Buffer
	if err := SVG(&svg, in); err != nil {
		t.Fatal(err)
	}
	root := decode(t, svg.Bytes())
	file := filepath.Join(t.TempDir(), "attribution.svg")
	if err := os.WriteFile(file, svg.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	// What the page reports as going wrong: an exception, an error on the console or in the log
	// (a file that does not parse as XML, say).
	var mu sync.Mutex
	var problems []string
	ctx, cancel := chromedp.NewContext(ctx) // a tab of its own
	defer cancel()
	chromedp.ListenTarget(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+ev.ExceptionDetails.Text)
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.APITypeError {
				problems = append(problems, "console error")
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.LevelError {
				problems = append(problems, "log: "+ev.Entry.Text)
			}
		}
	})
	var shot []byte
	var p page
	if err := chromedp.Run(ctx,
		log.Enable(),
		chromedp.EmulateViewport(width, 800),
		chromedp.Navigate("file://"+file),
		chromedp.Evaluate(measure, &p),
		chromedp.FullScreenshot(&shot, 100),
	); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shotFile, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(problems) > 0 {
		t.Errorf("the page reported %q", problems)
	}
	mu.Unlock()
	if p.Type != "http://www.w3.org/2000/svg svg" {
		t.Errorf("loaded as %q, not as an SVG document", p.Type)
	}
	if p.Width != width || p.Height != mustAtof(t, root.Attrs["height"]) {
		t.Errorf("drawn at %gx%g, not at its own size %sx%s", p.Width, p.Height, root.Attrs["width"], root.Attrs["height"])
	}
	if p.Outside != 0 || p.Overlaps != 0 || p.Spilled != 0 {
		t.Errorf("%s: %d texts, bars, cells or chips off the canvas, %d overlapping texts or chips, %d chip names out of their chip",
			filepath.Base(shotFile), p.Outside, p.Overlaps, p.Spilled)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != width {
		t.Errorf("screenshot %d pixels wide", b.Dx())
	}
	return svg.Bytes(), p
}

func mustAtof(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return v
}
