// Package browsertest starts the headless Chromium that tests drive (chromedp): what people see
// (the tracker on a page, a chart of BENCHMARKS.md) is tested in the browser they would use.
package browsertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium is Debian's headless-capable browser, installed by `make browser`.
const Chromium = "/usr/bin/chromium"

// NeedChromium skips the test under -short, which runs no browser, and otherwise fails it unless
// the browser is installed.
func NeedChromium(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("drives headless Chromium, so -short skips it: `make test` installs it (`make browser`) and runs every test")
	}
	if _, err := os.Stat(Chromium); err != nil {
		t.Fatalf("%s is missing: install it with `make browser` (%v)", Chromium, err)
	}
}

// New starts a headless Chromium with a fresh profile for the test and returns a context
// that drives one tab of it, cancelled (and the browser stopped) when the test ends.
func New(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	NeedChromium(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(Chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	// chromedp reports protocol values newer than its own tables (such as new IP address spaces) as
	// errors; they concern no test.
	tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "could not unmarshal event") {
			t.Log(msg)
		}
	}))
	// The browser lives as long as the context of the first Run: the tab's, not the timeout's below.
	if err := chromedp.Run(tab); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("start %s: %v", Chromium, err)
	}
	ctx, cancelTimeout := context.WithTimeout(tab, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		// A graceful close waits for the browser to exit, so that its profile folder can go.
		if err := chromedp.Cancel(tab); err != nil {
			t.Logf("close the browser: %v", err)
		}
		cancelTab()
		cancelAlloc()
	})
	return ctx
}

// Screenshot keeps a full-page screenshot of the tab as <name>.png in the tests' output folder,
// ScreenshotDir, so that a person can look at what a test saw after any run.
func Screenshot(t testing.TB, tab context.Context, name string) {
	t.Helper()
	var png []byte
	if err := chromedp.Run(tab, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := ScreenshotDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// ScreenshotDir is the folder DCRM_SCREENSHOTS names, else bin/screenshots of the repository
// (git-ignored), where the browser tests keep their screenshots.
func ScreenshotDir() string {
	if dir := os.Getenv("DCRM_SCREENSHOTS"); dir != "" {
		return dir
	}
	_, here, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(here), "..", "..", "..", "..", "bin", "screenshots")
}
