package tracker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
)

// chromium is Debian's headless-capable browser, installed by `make browser`.
const chromium = "/usr/bin/chromium"

// needChromium skips the test under -short, which runs no browser, and otherwise fails it unless
// the browser is installed.
func needChromium(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("drives headless Chromium, so -short skips it: `make test` installs it (`make browser`) and runs every test")
	}
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing: install it with `make browser` (%v)", chromium, err)
	}
}

// newBrowser starts a headless Chromium with a fresh profile for the test and returns a context
// that drives one tab of it, cancelled (and the browser stopped) when the test ends.
func newBrowser(t *testing.T, timeout time.Duration) context.Context {
	t.Helper()
	needChromium(t)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
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
	// errors; they do not concern the tracker.
	tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "could not unmarshal event") {
			t.Log(msg)
		}
	}))
	// The browser lives as long as the context of the first Run: the tab's, not the timeout's below.
	if err := chromedp.Run(tab); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("start %s: %v", chromium, err)
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

// snippet is the tracker snippet of functions/collect/README.md for writeKey and the endpoint api: the test runs what
// people paste.
func snippet(t *testing.T, writeKey, api string) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(devtest.RepoRoot(), "functions", "collect", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)\n## Tracker\n.*?```html\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("functions/collect/README.md has no html snippet in its Tracker section")
	}
	s := string(m[1])
	for _, placeholder := range []string{"YOUR_WRITE_KEY", "https://collect.example.com"} {
		if !strings.Contains(s, placeholder) {
			t.Fatalf("the snippet of functions/collect/README.md lacks the placeholder %s", placeholder)
		}
	}
	return strings.NewReplacer("YOUR_WRITE_KEY", writeKey, "https://collect.example.com", api).Replace(s)
}

// page is a shop page with the snippet, then extra (configuration calls, say) in its head.
func page(title, snippet, before, after string) string {
	return fmt.Sprintf(`<!doctype html><html><head><meta charset="utf-8"><title>%s</title>
%s
%s
%s
</head><body><h1>%s</h1><a id="out" href="/elsewhere">elsewhere</a></body></html>`, title, before, snippet, after, title)
}

// waitLoaded waits until the tracker has replaced the snippet's stub.
func waitLoaded(ctx context.Context) error {
	return chromedp.Run(ctx, chromedp.Poll(`window.dcrm && window.dcrm.loaded === true`, nil, chromedp.WithPollingTimeout(20*time.Second)))
}

// cookie reads a cookie of the page as its scripts see it.
func cookie(ctx context.Context, name string) (string, error) {
	var all string
	if err := chromedp.Run(ctx, chromedp.Evaluate(`document.cookie`, &all)); err != nil {
		return "", err
	}
	for _, c := range strings.Split(all, ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(c), "="); ok && k == name {
			return v, nil
		}
	}
	return "", errors.New("no cookie " + name + " in " + all)
}
