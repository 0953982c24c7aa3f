package chart

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest/browsertest"
)

// The charts as a reader sees them: the sample figure and every chart BENCHMARKS.md shows
// (scripts/bench/charts), each opened in headless Chromium. Its screenshot goes to
// $DCRM_SCREENSHOTS when set (to look at), and must show every series' line in its colour.
func TestChartsInTheBrowser(t *testing.T) {
	ctx := browsertest.New(t, 60*time.Second)
	dir := os.Getenv("DCRM_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	files := map[string][]byte{"sample.svg": sample().SVG()}
	committed, err := filepath.Glob(filepath.Join(devtest.RepoRoot(), "scripts", "bench", "charts", "*.svg"))
	require.NoError(t, err)
	for _, f := range committed {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		files[filepath.Base(f)] = b
	}
	for name, svg := range files {
		path := filepath.Join(t.TempDir(), name)
		require.NoError(t, os.WriteFile(path, svg, 0o644))
		d := parse(t, svg)
		h, err := strconv.Atoi(d.Height)
		require.NoError(t, err, name)
		var shot []byte
		var lines int
		var box map[string]float64
		require.NoError(t, chromedp.Run(ctx,
			chromedp.EmulateViewport(width, int64(h)),
			chromedp.Navigate("file://"+path),
			chromedp.Evaluate(`document.querySelectorAll("polyline.series").length`, &lines),
			chromedp.Evaluate(`(() => { const r = document.documentElement.getBoundingClientRect(); return {w: r.width, h: r.height}; })()`, &box),
			chromedp.FullScreenshot(&shot, 100),
		), name)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name+".png"), shot, 0o644))

		want, colours := 0, 0 // lines, and colours (each panel starts the palette again)
		for _, g := range d.Groups {
			want += len(g.Polylines)
			colours = max(colours, len(g.Polylines))
		}
		assert.Equal(t, want, lines, "%s: every series is drawn", name)
		assert.Equal(t, d.Width, strconv.FormatFloat(box["w"], 'f', -1, 64), "%s: drawn at its own size", name)
		img, err := png.Decode(bytes.NewReader(shot))
		require.NoError(t, err, name)
		for i := range min(colours, len(palette)) {
			assert.Greater(t, pixelsOf(img, palette[i]), 30, "%s: the line of series colour %s is visible", name, palette[i])
		}
	}
}

// pixelsOf counts the pixels of colour hex ("#0072b2"), give or take anti-aliasing's nearest shades.
func pixelsOf(img image.Image, hex string) int {
	var want [3]int
	for i := range want {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		want[i] = int(v)
	}
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(int(r>>8), want[0]) && near(int(g>>8), want[1]) && near(int(bl>>8), want[2]) {
				n++
			}
		}
	}
	return n
}

func near(a, b int) bool { return a-b <= 12 && b-a <= 12 }
