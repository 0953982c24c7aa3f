package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/dcrm-project/dcrm/scripts/devstack/cognito"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest/browsertest"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

// track sends one event to collect with a write key from a page of origin, and returns the status.
func track(t *testing.T, api, key, origin string) int {
	t.Helper()
	body := fmt.Sprintf(`{"anonymousId": "a-keys", "event": "Key Checked", "messageId": %q}`, localawstest.UniqueName("m"))
	req, err := http.NewRequest(http.MethodPost, api+"/v1/track", bytes.NewBufferString(body))
	must(t, err)
	req.SetBasicAuth(key, "")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", origin)
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// A write key made by POST /v1/keys on the local stack (the real binaries) is taken by collect
// from its source's origin and refused from another; revoked by DELETE /v1/keys/{keyId}, collect
// refuses it once its cache of the key (keystore.CacheTTL, 30 s) has run out.
func TestKeysThroughTheStack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a local stack and waits out the key cache")
	}
	ctx := context.Background()
	st, keys := devtest.StackWith(t, "keys", devtest.Functions(t), nil)
	api := st.APIURL()
	admin := keystore.NewKey("pk_")
	must(t, keys.PutProfileAPIKey(ctx, admin, "keys test"))

	status, body := send(t, api, "Bearer", admin, http.MethodPost, "/v1/keys",
		`{"kind": "write", "name": "shop", "allowedOrigins": ["https://shop.example"]}`)
	if status != http.StatusCreated {
		t.Fatalf("POST /v1/keys: %d %s", status, body)
	}
	var made struct{ Key, KeyID string }
	must(t, json.Unmarshal([]byte(body), &made))
	if got := track(t, api, made.Key, "https://shop.example"); got != http.StatusOK {
		t.Fatalf("collect answered the new key %d", got)
	}
	if got := track(t, api, made.Key, "https://evil.example"); got != http.StatusForbidden {
		t.Errorf("collect answered the new key from another origin %d", got)
	}

	status, body = send(t, api, "Bearer", admin, http.MethodDelete, "/v1/keys/"+made.KeyID, "")
	if status != http.StatusOK || !strings.Contains(body, `"status":"revoked"`) {
		t.Fatalf("DELETE /v1/keys/%s: %d %s", made.KeyID, status, body)
	}
	revoked := time.Now()
	deadline := revoked.Add(keystore.CacheTTL + 15*time.Second)
	for track(t, api, made.Key, "https://shop.example") != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatalf("collect still takes the key %s after its revocation", time.Since(revoked))
		}
		time.Sleep(time.Second)
	}
	t.Logf("collect refused the revoked key after %s (cache %s)", time.Since(revoked).Round(time.Second), keystore.CacheTTL)
}

// The keys page as an admin uses it: make a site's write key, copy it and the tracker snippet
// (the README's, with the key and this API's address), see collect take the key, revoke it (in
// place, confirmed) and see it revoked in the Keys table; it fits a phone. A viewer has no Keys
// link, and the page and the API refuse them; so does the API a marketer.
func TestConsoleKeys(t *testing.T) {
	browsertest.NeedChromium(t)
	ctx := context.Background()
	st, keys := devtest.StackWith(t, "consolekeys", devtest.Functions(t), func(c *stack.Config) { c.ConsoleUser = "admin" })
	env := st.Env()
	admin, adminPassword := st.ConsoleSignIn()
	users := cognito.Dir(env[stack.EnvAuthDir])
	viewerPassword, marketerPassword := cognito.NewPassword(), cognito.NewPassword()
	for name, role := range map[string]string{"vera": "viewer", "mark": "marketer"} {
		password := viewerPassword
		if role == "marketer" {
			password = marketerPassword
		}
		if _, err := users.AddUser(name, "", []string{role}, password, false, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	api, console := st.APIURL(), env[stack.EnvConsoleURL]
	shot := func(ctx context.Context, name string) { t.Helper(); browsertest.Screenshot(t, ctx, name) }

	b := browsertest.New(t, 3*time.Minute)
	chromedp.ListenTarget(b, func(ev any) {
		if ev, ok := ev.(*runtime.EventExceptionThrown); ok {
			t.Logf("page exception: %s", ev.ExceptionDetails.Error())
		}
	})
	must(t, chromedp.Run(b, chromedp.EmulateViewport(1200, 900), chromedp.Navigate(console)))
	signIn(t, b, admin, adminPassword)
	origin := strings.TrimSuffix(api, "/")
	must(t, chromedp.Run(b, browser.GrantPermissions([]browser.PermissionType{browser.PermissionTypeClipboardReadWrite,
		browser.PermissionTypeClipboardSanitizedWrite}).WithOrigin(origin)))
	must(t, chromedp.Run(b, chromedp.WaitVisible(`nav a[data-page="keys"]`, chromedp.ByQuery),
		chromedp.Click(`nav a[data-page="keys"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`//h1[text()="Sources and keys"]`),
		chromedp.WaitVisible(`//h2[text()="Keys"]/following-sibling::div[@class="empty"]`)))
	if text := pageText(t, b); !strings.Contains(text, "No key yet") || !strings.Contains(text, "Make a write key for your site above") {
		t.Errorf("the keys page's empty state does not say what to do:\n%s", text)
	}
	shot(b, "console-keys-empty")

	// A bad origin: the API's reason, nothing made.
	name := localawstest.UniqueName("shop")
	must(t, chromedp.Run(b,
		chromedp.SendKeys(`form input[name="name"]`, name, chromedp.ByQuery),
		chromedp.SendKeys(`form textarea[name="origins"]`, "shop.example", chromedp.ByQuery),
		chromedp.Click(`//button[text()="Make the key"]`),
		chromedp.WaitVisible(`form p.error`, chromedp.ByQuery)))
	var refusal string
	must(t, chromedp.Run(b, chromedp.Text(`form p.error`, &refusal, chromedp.ByQuery)))
	if !strings.Contains(refusal, `"shop.example" is not an origin`) {
		t.Errorf("a bad origin says %q", refusal)
	}
	must(t, chromedp.Run(b, chromedp.SetValue(`form textarea[name="origins"]`, "https://shop.example", chromedp.ByQuery),
		chromedp.Click(`//button[text()="Make the key"]`),
		chromedp.WaitVisible(`#new-key pre[data-copy="snippet"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`//tr/td[text()="`+name+`"]`)))
	var key, snippet, warning string
	must(t, chromedp.Run(b, chromedp.Text(`#new-key pre[data-copy="key"]`, &key, chromedp.ByQuery),
		chromedp.Text(`#new-key pre[data-copy="snippet"]`, &snippet, chromedp.ByQuery),
		chromedp.Text(`#new-key .warn`, &warning, chromedp.ByQuery)))
	if !regexp.MustCompile(`^wk_[0-9a-f]{36}$`).MatchString(key) || !strings.Contains(warning, "not shown again") {
		t.Fatalf("the new key %q, warning %q", key, warning)
	}
	if want := readmeSnippet(t, key, origin); snippet != want {
		t.Errorf("the page's snippet:\n%s\nthe README's, with the key and the API's address:\n%s", snippet, want)
	}
	var copied string
	must(t, chromedp.Run(b, chromedp.Click(`//button[text()="Copy the snippet"]`), chromedp.WaitVisible(`//span[text()=" Copied."]`),
		chromedp.Evaluate(`navigator.clipboard.readText()`, &copied, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) })))
	if copied != snippet {
		t.Errorf("the clipboard holds %q", copied)
	}
	shot(b, "console-keys-new")
	if got := track(t, api, key, "https://shop.example"); got != http.StatusOK {
		t.Fatalf("collect answered the key made on the page %d", got)
	}

	// Revoke, confirming in place.
	must(t, chromedp.Run(b, chromedp.Click(`button[aria-label="Revoke `+name+`"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`//button[text()="Revoke now"]`)))
	shot(b, "console-keys-confirm")
	must(t, chromedp.Run(b, chromedp.Click(`//button[text()="Revoke now"]`),
		chromedp.WaitVisible(`//tr[td[text()="`+name+`"]]/td[starts-with(text(), "revoked")]`)))
	if _, err := keys.Source(ctx, key); !errors.Is(err, keystore.ErrRevokedKey) {
		// collect's instances refuse it within keystore.CacheTTL (TestKeysThroughTheStack waits it out)
		t.Errorf("the Keys table holds the key as %v; want revoked", err)
	}
	var list string
	must(t, chromedp.Run(b, chromedp.Text(`//h2[text()="Keys"]/..`, &list)))
	if strings.Contains(list, key) || !strings.Contains(list, "…"+key[len(key)-4:]) {
		t.Errorf("the list shows a key, or not its last four characters:\n%s", list)
	}

	// A tool's profile-API key: scopes and an expiry; the list shows its scopes, no snippet.
	tool := localawstest.UniqueName("crm")
	must(t, chromedp.Run(b, chromedp.Click(`input[name="kind"][value="profile-api"]`, chromedp.ByQuery),
		chromedp.WaitVisible(`input[name="scopes"][value="export"]`, chromedp.ByQuery),
		chromedp.SendKeys(`form input[name="name"]`, tool, chromedp.ByQuery),
		chromedp.Click(`input[name="scopes"][value="export"]`, chromedp.ByQuery),
		chromedp.SetValue(`input[name="expires"]`, time.Now().AddDate(1, 0, 0).Format(time.DateOnly), chromedp.ByQuery)))
	shot(b, "console-keys-profile-form")
	must(t, chromedp.Run(b, chromedp.Click(`//button[text()="Make the key"]`),
		chromedp.WaitVisible(`//tr[td[text()="`+tool+`"]]/td[text()="read, export"]`),
		chromedp.WaitVisible(`#new-key pre[data-copy="key"]`, chromedp.ByQuery)))
	var snippets int
	must(t, chromedp.Run(b, chromedp.Evaluate(`document.querySelectorAll('#new-key pre[data-copy="snippet"]').length`, &snippets)))
	if snippets != 0 {
		t.Error("a profile-API key comes with a tracker snippet")
	}

	must(t, chromedp.Run(b, chromedp.EmulateViewport(390, 844), chromedp.Reload(),
		chromedp.WaitVisible(`//tr/td[text()="`+name+`"]`)))
	if widerThanTheScreen(t, b) {
		t.Error("the keys page is wider than a phone's screen")
	}
	shot(b, "console-keys-phone")

	// A viewer: no link, the page refuses, the API too; a marketer's token is refused by the API.
	must(t, chromedp.Run(b, chromedp.EmulateViewport(1200, 900), chromedp.Click(`#signout`, chromedp.ByQuery)))
	signIn(t, b, "vera", viewerPassword)
	var linkHidden bool
	must(t, chromedp.Run(b, chromedp.Evaluate(`document.querySelector('nav a[data-page="keys"]').hidden`, &linkHidden)))
	if !linkHidden {
		t.Error("a viewer sees the Keys link")
	}
	must(t, chromedp.Run(b, chromedp.Navigate(console+"#/keys"), chromedp.WaitVisible(`//div[@class="empty"]/strong[text()="Only an admin manages sources and keys."]`)))
	if status := fetchStatus(t, b, "/v1/keys"); status != http.StatusForbidden {
		t.Errorf("a viewer's GET /v1/keys: %d", status)
	}
	shot(b, "console-keys-viewer")
	must(t, chromedp.Run(b, chromedp.Click(`#signout`, chromedp.ByQuery)))
	signIn(t, b, "mark", marketerPassword)
	if status := fetchStatus(t, b, "/v1/keys"); status != http.StatusForbidden {
		t.Errorf("a marketer's GET /v1/keys: %d", status)
	}
}

// fetchStatus is the status of a GET the page makes with its user's token.
func fetchStatus(t *testing.T, b context.Context, path string) int {
	t.Helper()
	var status int
	must(t, chromedp.Run(b, chromedp.Evaluate(`fetch('`+path+`', {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('dcrm.access')}}).then((r) => r.status)`,
		&status, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) })))
	return status
}

// readmeSnippet is the tracker snippet functions/collect/README.md gives sites, with the key and
// the endpoint put in.
func readmeSnippet(t *testing.T, key, endpoint string) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(devtest.RepoRoot(), "functions", "collect", "README.md"))
	must(t, err)
	_, rest, ok := strings.Cut(string(readme), "## Tracker")
	if !ok {
		t.Fatal("functions/collect/README.md has no Tracker section")
	}
	_, rest, _ = strings.Cut(rest, "```html\n")
	block, _, _ := strings.Cut(rest, "\n```")
	return strings.NewReplacer(`"YOUR_WRITE_KEY"`, `"`+key+`"`, `"https://collect.example.com"`, `"`+endpoint+`"`).Replace(block)
}
