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
