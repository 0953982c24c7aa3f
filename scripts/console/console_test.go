package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/cognito"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest/browsertest"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/source"
)

// The console as an admin and as a viewer would use it, on the local stack with the real
// functions: sign in, find a customer whose two devices merged, read their Single Customer View,
// see the split button an operator has; define an audience and read it; read the attribution page
// (no report yet: the empty state says what to do); read the alerts and triggers a run of the real
// triggers function sent (a prospect back after 41 days away), follow one to its customer; define
// an audience in the console and find it in the activity log, under the admin's name. A viewer
// signs in, reads the same customer without a split button, is refused when they try the split
// anyway, reads the alerts, and has no activity page (and the API refuses them the audit log).
func TestConsole(t *testing.T) {
	browsertest.NeedChromium(t)
	ctx := context.Background()
	st, keys := devtest.StackWith(t, "console", devtest.Functions(t), func(c *stack.Config) { c.ConsoleUser = "admin" })
	env := st.Env()
	admin, adminPassword := st.ConsoleSignIn()
	viewerPassword := cognito.NewPassword()
	if _, err := cognito.Dir(env[stack.EnvAuthDir]).AddUser("vera", "", []string{"viewer"}, viewerPassword, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	api := st.APIURL()
	writeKey, apiKey := keystore.NewKey("wk_"), keystore.NewKey("pk_")
	must(t, keys.PutSource(ctx, writeKey, source.Source{ID: "src_console", Name: "console test", Trusted: true}))
	must(t, keys.PutProfileAPIKey(ctx, apiKey, "console test"))

	// A customer on two devices, who logs in on both: one profile, one merge.
	user := localawstest.UniqueName("ada")
	for i, call := range []struct{ path, body string }{
		{"/v1/page", `{"anonymousId": "laptop-` + user + `", "name": "/"}`},
		{"/v1/track", `{"anonymousId": "phone-` + user + `", "event": "Product Viewed", "properties": {"product_id": "tent", "price": 199}}`},
		{"/v1/identify", `{"anonymousId": "laptop-` + user + `", "userId": "` + user + `", "traits": {"plan": "gold"}}`},
		{"/v1/identify", `{"anonymousId": "phone-` + user + `", "userId": "` + user + `"}`},
	} {
		send(t, api, "Basic", writeKey, http.MethodPost, call.path, fmt.Sprintf(`{"messageId": "m%d-%s", %s`, i, user, call.body[1:]))
	}
	// A prospect with marketing consent, last on the site 41 days ago (the back end's record of the
	// visit), who comes back today: the triggers run sends "returning-prospect".
	prospect := localawstest.UniqueName("bo")
	consent := `"context": {"consent": {"marketing": true}}`
	send(t, api, "Basic", writeKey, http.MethodPost, "/v1/page", fmt.Sprintf(`{"messageId": "p0-%s", "userId": %q, "name": "Home", "timestamp": %q, %s}`,
		prospect, prospect, time.Now().UTC().Add(-41*24*time.Hour).Truncate(time.Second).Format(time.RFC3339), consent))
	start := time.Now()
	defer func() { t.Logf("stitched in %s", time.Since(start)) }()
	waitFor(t, func() bool {
		status, body := send(t, api, "Bearer", apiKey, http.MethodGet, "/v1/profiles?userId="+prospect, "")
		return status == 200 && strings.Contains(body, `"visits":1`)
	})
	send(t, api, "Basic", writeKey, http.MethodPost, "/v1/page", fmt.Sprintf(`{"messageId": "p1-%s", "userId": %q, "anonymousId": "a-%s", "name": "Home", %s}`,
		prospect, prospect, prospect, consent))
	waitFor(t, func() bool {
		status, body := send(t, api, "Bearer", apiKey, http.MethodGet, "/v1/profiles?userId="+user, "")
		return status == 200 && strings.Contains(body, "laptop-"+user) && strings.Contains(body, "phone-"+user)
	})
	var prospectID string
	waitFor(t, func() bool {
		status, body := send(t, api, "Bearer", apiKey, http.MethodGet, "/v1/profiles?userId="+prospect, "")
		var p struct {
			ProfileID string `json:"profileId"`
			Visits    int    `json:"visits"`
		}
		_ = json.Unmarshal([]byte(body), &p)
		prospectID = p.ProfileID
		return status == 200 && p.Visits == 2
	})
	if _, err := st.RunSchedule(ctx, topology.TriggersSchedule); err != nil {
		t.Fatal(err)
	}
	audience := strings.ReplaceAll(strings.ToLower(localawstest.UniqueName("gold")), "_", "-")
	send(t, api, "Bearer", apiKey, http.MethodPut, "/v1/audiences/"+audience,
		`{"id": "`+audience+`", "name": "Gold plan", "description": "Customers on the gold plan.", "rule": {"field": "traits.plan", "op": "==", "value": "gold"}}`)

	shot := func(ctx context.Context, name string) { t.Helper(); browsertest.Screenshot(t, ctx, name) }
	console := env[stack.EnvConsoleURL]
	if console == "" {
		t.Fatalf("the stack's environment has no %s", stack.EnvConsoleURL)
	}

	if resp, err := http.Get(console); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %v %v", console, resp, err)
	}
	b := browsertest.New(t, 4*time.Minute)
	chromedp.ListenTarget(b, func(ev any) { // what the page's scripts report, for a failure's log
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			t.Logf("page exception: %s", ev.ExceptionDetails.Error())
		case *runtime.EventConsoleAPICalled:
			for _, a := range ev.Args {
				t.Logf("page console.%s: %s", ev.Type, a.Value)
			}
		}
	})
	must(t, chromedp.Run(b, chromedp.EmulateViewport(1200, 900), chromedp.Navigate(console)))
	signIn(t, b, admin, adminPassword)
	must(t, chromedp.Run(b, chromedp.Navigate(console+"#/customer?type=userId&id="+user),
		chromedp.WaitVisible(`//h2[text()="Identities"]`),
		chromedp.WaitVisible(`//h2[text()="Timeline"]/following-sibling::div//table`),
		chromedp.WaitVisible(`//h2[text()="Merges"]/following-sibling::div//button[text()="Split"]`)))
	text := pageText(t, b)
	for _, want := range []string{"laptop-" + user, "phone-" + user, "gold", "Product Viewed", "admin · admin"} {
		if !strings.Contains(text, want) {
			t.Errorf("the customer page lacks %q:\n%s", want, text)
		}
	}
	shot(b, "console-customer")

	must(t, chromedp.Run(b, chromedp.Navigate(console+"#/audiences"),
		chromedp.WaitVisible(`//a[text()="Gold plan"]`), chromedp.Click(`//a[text()="Gold plan"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//h1[text()="Gold plan"]`), chromedp.WaitVisible(`//strong[text()="Not counted yet."]`)))
	if text := pageText(t, b); !strings.Contains(text, "Not counted yet") || !strings.Contains(text, "traits.plan") {
		t.Errorf("the audience page lacks its definition or its empty size:\n%s", text)
	}
	shot(b, "console-audience")

	must(t, chromedp.Run(b, chromedp.Navigate(console+"#/attribution"), chromedp.WaitVisible(`//div[@class="empty"]`)))
	if text := pageText(t, b); !strings.Contains(text, "No report yet") || !strings.Contains(text, "dcrm schedule run reports") {
		t.Errorf("the attribution page's empty state does not say what to do:\n%s", text)
	}
	must(t, chromedp.Run(b, chromedp.Navigate(console+"#/journeys"), chromedp.WaitVisible(`//h1[text()="Journeys"]/following-sibling::div//div[@class="empty"]`)))
	if text := pageText(t, b); !strings.Contains(text, "No report yet") {
		t.Errorf("the journeys page's empty state:\n%s", text)
	}

	// The alerts of the day: the prospect's return, why, and a link to them; the counts by kind.
	must(t, chromedp.Run(b, chromedp.Navigate(console+"#/alerts"),
		chromedp.WaitVisible(`//td/a[code[text()="`+prospectID+`"]]`)))
	text = pageText(t, b)
	for _, want := range []string{"Alerts and triggers", "Returning prospect", "back after 41 days", "never ordered", "Triggers", "1 Returning prospect", "0 Lapse risk"} {
		if !strings.Contains(text, want) {
			t.Errorf("the alerts page lacks %q:\n%s", want, text)
		}
	}
	shot(b, "console-alerts")
	must(t, chromedp.Run(b, chromedp.Click(`//td/a[code[text()="`+prospectID+`"]]`, chromedp.BySearch),
		chromedp.WaitVisible(`//h2[text()="Identities"]`)))
	must(t, chromedp.Run(b, chromedp.WaitVisible(`//h2[text()="Contacts"]/following-sibling::div//table`)))
	if text := pageText(t, b); !strings.Contains(text, prospect) || !strings.Contains(text, "returning prospect") || !strings.Contains(text, "back after 41 days") {
		t.Errorf("the alert's link does not lead to the customer %s and their contacts:\n%s", prospect, text)
	}
	shot(b, "console-customer-contacts")
	// A kind with nothing that day: the empty state says what fires them and how to try.
	must(t, chromedp.Run(b, chromedp.Navigate(console+"#/alerts?kind=abandoned-form"), chromedp.WaitVisible(`//div[@class="empty"]`)))
	if text := pageText(t, b); !strings.Contains(text, "dcrm schedule run triggers") || !strings.Contains(text, "every 5 minutes") {
		t.Errorf("the alerts page's empty state does not say what fires them and how to try:\n%s", text)
	}
	shot(b, "console-alerts-empty")

	// The admin defines an audience in the console; the activity log shows it under their name.
	defined := audience + "-2"
	must(t, chromedp.Run(b, chromedp.Navigate(console+"#/audiences"), chromedp.WaitVisible(`textarea[name="definition"]`, chromedp.ByQuery),
		chromedp.SetValue(`textarea[name="definition"]`, `{"id": "`+defined+`", "name": "Gold, by the console", "rule": {"field": "traits.plan", "op": "==", "value": "gold"}}`, chromedp.ByQuery),
		chromedp.Click(`//form[.//textarea]//button[@type="submit"]`, chromedp.BySearch),
		chromedp.WaitVisible(`//h1[text()="Gold, by the console"]`)))
	must(t, chromedp.Run(b, chromedp.Navigate(console+"#/activity"), chromedp.WaitVisible(`//td//code[text()="`+defined+`"]`)))
	text = pageText(t, b)
	for _, want := range []string{"Defined or changed an audience", "admin", "PUT /v1/audiences/{audienceId}", "201 Created", "key console test"} {
		if !strings.Contains(text, want) {
			t.Errorf("the activity page lacks %q:\n%s", want, text)
		}
	}
	shot(b, "console-activity")
	var audit struct {
		Actions []struct {
			KeyID   string            `json:"keyId"`
			Route   string            `json:"route"`
			Targets map[string]string `json:"targets"`
		} `json:"actions"`
	}
	_, body := send(t, api, "Bearer", apiKey, http.MethodGet, "/v1/audit", "")
	must(t, json.Unmarshal([]byte(body), &audit))
	if len(audit.Actions) == 0 || audit.Actions[0].KeyID != "user:"+admin || audit.Actions[0].Targets["audienceId"] != defined {
		t.Errorf("the newest action of GET /v1/audit is not the admin's: %s", body)
	}

	// A phone-sized window: the same page, nothing wider than the screen.
	must(t, chromedp.Run(b, chromedp.EmulateViewport(390, 844), chromedp.Navigate(console+"#/customer?type=userId&id="+user),
		chromedp.WaitVisible(`//h2[text()="Identities"]`)))
	if widerThanTheScreen(t, b) {
		t.Error("the customer page is wider than a phone's screen")
	}
	shot(b, "console-customer-phone")

	// The viewer: reads, has no split button, and is refused a split tried by hand.
	must(t, chromedp.Run(b, chromedp.EmulateViewport(1200, 900), chromedp.Click(`#signout`, chromedp.ByQuery)))
	signIn(t, b, "vera", viewerPassword)
	must(t, chromedp.Run(b, chromedp.Navigate(console+"#/customer?type=userId&id="+user), chromedp.WaitVisible(`//h2[text()="Merges"]/following-sibling::div//table`)))
	var buttons int
	must(t, chromedp.Run(b, chromedp.Evaluate(`document.querySelectorAll('button.danger').length`, &buttons)))
	if buttons != 0 {
		t.Errorf("a viewer sees %d split or remove buttons", buttons)
	}
	var refused map[string]any
	must(t, chromedp.Run(b, chromedp.Evaluate(`(async () => {
		const p = await (await fetch('/v1/profiles?userId=`+user+`', {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('dcrm.access')}})).json();
		const r = await fetch('/v1/profiles/' + p.profileId + '/split', {method: 'POST', headers: {Authorization: 'Bearer ' + sessionStorage.getItem('dcrm.access'), 'Content-Type': 'application/json'}, body: JSON.stringify({profileId: p.mergedFrom[0]})});
		return {status: r.status, body: await r.json()};
	})()`, &refused, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) })))
	if refused["status"] != float64(403) || !strings.Contains(fmt.Sprint(refused["body"]), `lacks the "split" scope`) {
		t.Errorf("a viewer's split: %v", refused)
	}
	shot(b, "console-viewer")

	// The viewer reads the alerts, has no activity page in the menu, and the API refuses them the log.
	must(t, chromedp.Run(b, chromedp.Navigate(console+"#/alerts"), chromedp.WaitVisible(`//td/a[code[text()="`+prospectID+`"]]`)))
	var activityShown bool
	must(t, chromedp.Run(b, chromedp.Evaluate(`!document.querySelector('nav a[data-page="activity"]').hidden`, &activityShown)))
	if activityShown {
		t.Error("a viewer's menu shows the activity page")
	}
	must(t, chromedp.Run(b, chromedp.Navigate(console+"#/activity"), chromedp.WaitVisible(`//div[@class="empty"]`)))
	if text := pageText(t, b); !strings.Contains(text, "Only an admin reads the activity log") {
		t.Errorf("a viewer's activity page:\n%s", text)
	}
	refused = nil
	must(t, chromedp.Run(b, chromedp.Evaluate(`(async () => {
		const r = await fetch('/v1/audit', {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('dcrm.access')}});
		return {status: r.status, body: await r.json()};
	})()`, &refused, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) })))
	if refused["status"] != float64(403) || !strings.Contains(fmt.Sprint(refused["body"]), `lacks the "admin" scope`) {
		t.Errorf("a viewer's GET /v1/audit: %v", refused)
	}
}

// signIn fills the sign-in dialog and waits for the pages.
func signIn(t *testing.T, b context.Context, user, password string) {
	t.Helper()
	open, cancel := context.WithTimeout(b, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(open, chromedp.WaitVisible(`#signin input[name="username"]`, chromedp.ByQuery)); err != nil {
		var main string
		_ = chromedp.Run(b, chromedp.Text(`main`, &main, chromedp.ByQuery))
		t.Fatalf("no sign-in dialog: %v; the page says %q", err, main)
	}
	must(t, chromedp.Run(b,
		chromedp.SendKeys(`#signin input[name="username"]`, user, chromedp.ByQuery),
		chromedp.SendKeys(`#signin input[name="password"]`, password, chromedp.ByQuery),
		chromedp.Click(`#signin button[type="submit"]`, chromedp.ByQuery)))
	wait, cancel := context.WithTimeout(b, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(wait, chromedp.WaitVisible(`#who`, chromedp.ByQuery)); err != nil {
		var why, main string
		_ = chromedp.Run(b, chromedp.Text(`#signin-error`, &why, chromedp.ByQuery, chromedp.AtLeast(0)), chromedp.Text(`main`, &main, chromedp.ByQuery))
		t.Fatalf("%s did not sign in: %v; the dialog says %q, the page %q", user, err, why, main)
	}
}

// widerThanTheScreen tells whether the page scrolls sideways in the tab's window.
func widerThanTheScreen(t *testing.T, b context.Context) bool {
	t.Helper()
	var overflow bool
	must(t, chromedp.Run(b, chromedp.Evaluate(`document.documentElement.scrollWidth > window.innerWidth + 1`, &overflow)))
	return overflow
}

func pageText(t *testing.T, b context.Context) string {
	t.Helper()
	var text string
	must(t, chromedp.Run(b, chromedp.Text(`main`, &text, chromedp.ByQuery)))
	var who string
	must(t, chromedp.Run(b, chromedp.Text(`#who`, &who, chromedp.ByQuery)))
	return text + "\n" + who
}

// send calls the local API with a key (scheme Basic: a write key; Bearer: a profile-API key).
func send(t *testing.T, api, scheme, key, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, api+path, bytes.NewBufferString(body))
	must(t, err)
	if scheme == "Basic" {
		req.SetBasicAuth(key, "")
	} else {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	var out bytes.Buffer
	_, _ = out.ReadFrom(resp.Body)
	if scheme == "Basic" && resp.StatusCode != 200 || method == http.MethodPut && resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, out.String())
	}
	return resp.StatusCode, out.String()
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("the customer's events were not stitched within a minute")
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
