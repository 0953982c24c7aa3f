package picture

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest/browsertest"
	"github.com/dcrm-project/dcrm/shared/attribution"
)

// The picture as a marketer sees it: every model on PathData (the demo data of the R package
// ChannelAttribution, ../shared/datasets/attribution beside the repository), a made-up spend under
// Markov and a small funnel, opened in headless Chromium. The screenshot goes to $DCRM_SCREENSHOTS
// when set (to look at), and the page must load as an SVG document at its own size, every bar and
// label drawn inside the canvas.
func TestPictureInTheBrowser(t *testing.T) {
	ctx := browsertest.New(t, 60*time.Second)
	dir := os.Getenv("DCRM_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	f, err := os.Open(filepath.Join(devtest.RepoRoot(), "..", "shared", "datasets", "attribution", "PathData.csv"))
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
	in.Funnel = Funnel{Name: "checkout", Steps: []Step{{"Product page", 12000}, {"Cart", 4800}, {"Checkout", 2100}, {"Paid", 1650}}}

	var svg bytes.Buffer
	if err := SVG(&svg, in); err != nil {
		t.Fatal(err)
	}
	root := decode(t, svg.Bytes())
	for _, c := range results[0].Credits {
		if svg.Len() == 0 || !bytes.Contains(svg.Bytes(), []byte(">"+c.Channel+"<")) {
			t.Errorf("channel %s is not labelled", c.Channel)
		}
	}
	file := filepath.Join(t.TempDir(), "attribution.svg")
	if err := os.WriteFile(file, svg.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var shot []byte
	var page struct {
		Type     string  `json:"type"`
		Width    float64 `json:"w"`
		Height   float64 `json:"h"`
		Bars     int     `json:"bars"`
		Outside  int     `json:"outside"`
		Overlaps int     `json:"overlaps"`
	}
	// Every text and bar inside the canvas; no two labels of the same line overlapping.
	const measure = `(() => {
		const svg = document.documentElement, r = svg.getBoundingClientRect();
		let outside = 0, overlaps = 0;
		const boxes = [...document.querySelectorAll("text, rect.bar, rect.step")].map(e => e.getBBox());
		for (const b of boxes) {
			if (b.x < 0 || b.y < 0 || b.x + b.width > r.width + 0.5 || b.y + b.height > r.height + 0.5) outside++;
		}
		const texts = [...document.querySelectorAll("text")].map(e => e.getBBox());
		for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++) {
			const a = texts[i], b = texts[j];
			if (a.x < b.x + b.width - 1 && b.x < a.x + a.width - 1 && a.y < b.y + b.height - 2 && b.y < a.y + a.height - 2) overlaps++;
		}
		return {type: svg.namespaceURI + " " + svg.localName, w: r.width, h: r.height,
			bars: document.querySelectorAll("rect.bar").length, outside, overlaps};
	})()`
	// What the page reports as going wrong: an exception, an error on the console or in the log
	// (a file that does not parse as XML, say).
	var mu sync.Mutex
	var problems []string
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
	if err := chromedp.Run(ctx,
		log.Enable(),
		chromedp.EmulateViewport(width, 800),
		chromedp.Navigate("file://"+file),
		chromedp.Evaluate(measure, &page),
		chromedp.FullScreenshot(&shot, 100),
	); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "attribution-picture.png"), shot, 0o644); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(problems) > 0 {
		t.Errorf("the page reported %q", problems)
	}
	mu.Unlock()
	if page.Type != "http://www.w3.org/2000/svg svg" {
		t.Errorf("loaded as %q, not as an SVG document", page.Type)
	}
	if page.Width != width || page.Height != mustAtof(t, root.Attrs["height"]) {
		t.Errorf("drawn at %gx%g, not at its own size %sx%s", page.Width, page.Height, root.Attrs["width"], root.Attrs["height"])
	}
	if want := len(results) * len(results[0].Credits); page.Bars != want {
		t.Errorf("%d bars, want %d (every model for each of the 12 channels)", page.Bars, want)
	}
	if page.Outside != 0 || page.Overlaps != 0 {
		t.Errorf("%d texts or bars off the canvas, %d overlapping texts", page.Outside, page.Overlaps)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != width {
		t.Errorf("screenshot %d pixels wide", b.Dx())
	}
}

func mustAtof(t *testing.T, s string) float64 {
	t.Helper()
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return v
}
