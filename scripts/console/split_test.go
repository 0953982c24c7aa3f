package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/dcrm-project/dcrm/scripts/devstack/cognito"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest/browsertest"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/source"
)

// An operator splits a wrong merge from the console: two people who shared a login's user id on
// two devices are one profile; the operator opens it, presses Split on the merge, confirms, and
// the profile merged in stands alone again, which the API then answers.
func TestConsoleOperatorSplitsAMerge(t *testing.T) {
	browsertest.NeedChromium(t)
	ctx := context.Background()
	st, keys := devtest.StackWith(t, "console-split", devtest.Functions(t), func(c *stack.Config) { c.ConsoleUser = "admin" })
	password := cognito.NewPassword()
	if _, err := cognito.Dir(st.Env()[stack.EnvAuthDir]).AddUser("otto", "", []string{"operator"}, password, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	api := st.APIURL()
	writeKey, apiKey := keystore.NewKey("wk_"), keystore.NewKey("pk_")
	must(t, keys.PutSource(ctx, writeKey, source.Source{ID: "src_split", Name: "split test", Trusted: true}))
	must(t, keys.PutProfileAPIKey(ctx, apiKey, "split test"))
	user := localawstest.UniqueName("shared")
	for i, call := range []struct{ path, body string }{
		{"/v1/page", `{"anonymousId": "laptop-` + user + `", "name": "/"}`},
		{"/v1/identify", `{"anonymousId": "laptop-` + user + `", "userId": "` + user + `"}`},
		{"/v1/page", `{"anonymousId": "tablet-` + user + `", "name": "/offers"}`},
		{"/v1/identify", `{"anonymousId": "tablet-` + user + `", "userId": "` + user + `"}`},
	} {
		send(t, api, "Basic", writeKey, http.MethodPost, call.path, fmt.Sprintf(`{"messageId": "s%d-%s", %s`, i, user, call.body[1:]))
		if i == 1 { // the laptop's profile first, so that the tablet's is the one merged in
			waitFor(t, func() bool {
				status, _ := send(t, api, "Bearer", apiKey, http.MethodGet, "/v1/profiles?userId="+user, "")
				return status == 200
			})
		}
	}
	var merged struct {
		ProfileID  string   `json:"profileId"`
		MergedFrom []string `json:"mergedFrom"`
	}
	waitFor(t, func() bool {
		status, body := send(t, api, "Bearer", apiKey, http.MethodGet, "/v1/profiles?userId="+user, "")
		return status == 200 && json.Unmarshal([]byte(body), &merged) == nil && len(merged.MergedFrom) == 1
	})

	b := browsertest.New(t, 2*time.Minute)
	chromedp.ListenTarget(b, func(ev any) { // the confirmation a person would accept
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go func() { _ = chromedp.Run(b, page.HandleJavaScriptDialog(true)) }()
		}
	})
	console := st.Env()[stack.EnvConsoleURL]
	must(t, chromedp.Run(b, chromedp.EmulateViewport(1200, 900), chromedp.Navigate(console)))
	signIn(t, b, "otto", password)
	splitButton := `//h2[text()="Merges"]/following-sibling::div//button[text()="Split"]`
	must(t, chromedp.Run(b, chromedp.Navigate(console+"#/customer?type=userId&id="+user),
		chromedp.WaitVisible(splitButton), chromedp.Click(splitButton, chromedp.BySearch),
		chromedp.WaitVisible(`//span[@role="status" and starts-with(text(), "Split")]`)))
	if text := pageText(t, b); !strings.Contains(text, merged.MergedFrom[0]+" stands alone again") || !strings.Contains(text, "otto · operator") {
		t.Errorf("the page after the split:\n%s", text)
	}
	browsertest.Screenshot(t, b, "console-split")

	// The API agrees (the split is done when its answer comes): the profile merged in is a profile
	// of its own again, and the other lists no merge.
	status, body := send(t, api, "Bearer", apiKey, http.MethodGet, "/v1/profiles/"+merged.MergedFrom[0], "")
	var alone struct {
		ProfileID string `json:"profileId"`
	}
	if status != 200 || json.Unmarshal([]byte(body), &alone) != nil || alone.ProfileID != merged.MergedFrom[0] {
		t.Errorf("the profile split off: %d %s", status, body)
	}
	if _, body := send(t, api, "Bearer", apiKey, http.MethodGet, "/v1/profiles/"+merged.ProfileID+"/merges", ""); strings.Contains(body, merged.MergedFrom[0]) {
		t.Errorf("the merge is still listed: %s", body)
	}
}
