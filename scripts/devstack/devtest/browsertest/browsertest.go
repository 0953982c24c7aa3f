// Package browsertest starts the headless Chromium that tests drive (chromedp): what people see
// (the tracker on a page, a chart of BENCHMARKS.md) is tested in the browser they would use.
package browsertest

import (
	"context"
	"fmt"
	"os"
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
