package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/chromedp/chromedp"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest/browsertest"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/source"
)

// TestDemoEndToEnd runs the demo's scenario through the whole pipeline as it ships: the real
// bootstrap binaries of every function, run by the local host against DynamoDB Local, the local Kinesis server
// and local-aws-sqs, in a stack of its own.
func TestDemoEndToEnd(t *testing.T) {
	ctx := context.Background()
	st, keys := devtest.StackWith(t, "e2e", devtest.BuildFunctions(t), func(c *stack.Config) { c.ConsoleUser = "admin" })
	endpoints := localaws.DefaultEndpoints()
	c := Client{API: st.APIURL(), WriteKey: keystore.NewKey("wk_"), ServerKey: keystore.NewKey("wk_"),
		ProfileKey: keystore.NewKey("pk_"), Origin: "https://shop.example", HTTP: &http.Client{Timeout: 30 * time.Second}}
	must(t, keys.PutSource(ctx, c.WriteKey, source.Source{ID: "src_browser", Name: "browser", AllowedOrigins: []string{"https://shop.example"}}))
	must(t, keys.PutSource(ctx, c.ServerKey, source.Source{ID: "src_server", Name: "server", Trusted: true}))
	must(t, keys.PutProfileAPIKey(ctx, c.ProfileKey, "test"))

	cfg := endpoints.Config()
	var out bytes.Buffer
	dcrm := filepath.Join(t.TempDir(), "dcrm")
	if b, err := exec.Command("go", "build", "-o", dcrm, filepath.Join(devtest.RepoRoot(), "scripts", "dcrm")).CombinedOutput(); err != nil {
		t.Fatalf("build dcrm: %v\n%s", err, b)
	}
	sqlEnv := []string{"DCRM_ARCHIVE_CACHE=" + t.TempDir()}
	for k, v := range st.Env() {
		sqlEnv = append(sqlEnv, k+"="+v)
	}
	d := demo{
		client: c, out: &out, alerts: st.Resources()[topology.AlertQueue], dcrm: dcrm, sqlEnv: sqlEnv,
		picture: filepath.Join(t.TempDir(), "attribution.svg"), audienceQueue: st.Resources()[topology.AudienceQueue],
		lambda: lambda.NewFromConfig(cfg, func(o *lambda.Options) { o.BaseEndpoint = aws.String(st.LambdaURL()) }),
		sqs:    sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = aws.String(endpoints.SQS) }),
	}
	s := NewScenario(localawstest.UniqueName("t"), time.Now())
	if err := d.run(ctx, s); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	t.Log("\n" + out.String())
	// The run checks the merge, the alert and that the report counts its orders itself; the printed
	// profile is the merged one.
	for _, want := range []string{s.Laptop, s.Phone, s.Shopper, `"type": "lapse"`, "→ 400", "Order Completed", "every event is in the archive",
		"first-touch", "/v1/reports/latest/picture.svg", "on the audiences queue: audience.entered", "POST /v1/visitor", s.slug("browsers")} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}

	svg, err := os.ReadFile(d.picture)
	must(t, err)
	for _, want := range []string{"Attribution of order by channel", "Journeys: order", "Funnel: checkout"} {
		if !strings.Contains(string(svg), want) {
			t.Errorf("the picture lacks %q", want)
		}
	}
	if dir := os.Getenv("DCRM_SCREENSHOTS"); dir != "" { // a copy to look at
		must(t, os.WriteFile(filepath.Join(dir, "demo-attribution.svg"), svg, 0o644))
	}

	consoleReports(t, st)

	// Replaying every request (same message ids) through the endpoint and the stream changes nothing.
	before, err := c.Profile(ctx, "userId", s.Shopper)
	must(t, err)
	must(t, s.Send(ctx, c, &out))
	sentinel := "anon-sentinel-" + s.Run
	status, body, err := c.Send(ctx, c.WriteKey, "/v1/page", map[string]any{"anonymousId": sentinel, "name": "/"})
	if err != nil || status != 200 {
		t.Fatalf("sentinel: %d %s %v", status, body, err)
	}
	// One shard, in order: once the sentinel is stitched, so is the replay before it.
	if _, err := waitFor(ctx, time.Minute, func() (map[string]any, error) {
		p, err := c.Profile(ctx, "anonymousId", sentinel)
		if err != nil {
			return nil, errNotYet
		}
		return p, nil
	}); err != nil {
		t.Fatalf("sentinel never stitched: %v", err)
	}
	after, err := c.Profile(ctx, "userId", s.Shopper)
	must(t, err)
	if !reflect.DeepEqual(before, after) {
		b, _ := json.MarshalIndent(before, "", " ")
		a, _ := json.MarshalIndent(after, "", " ")
		t.Errorf("replay changed the profile\nbefore: %s\nafter: %s", b, a)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// consoleReports opens the console on the demo's report, as a marketer would: the attribution
// page's models side by side and the journeys page's top paths and funnel, with the run's figures.
func consoleReports(t *testing.T, st *stack.Stack) {
	t.Helper()
	user, password := st.ConsoleSignIn()
	b := browsertest.New(t, time.Minute)
	page := st.Env()[stack.EnvConsoleURL]
	must(t, chromedp.Run(b, chromedp.EmulateViewport(1200, 900), chromedp.Navigate(page),
		chromedp.WaitVisible(`#signin input[name="username"]`, chromedp.ByQuery),
		chromedp.SendKeys(`#signin input[name="username"]`, user, chromedp.ByQuery),
		chromedp.SendKeys(`#signin input[name="password"]`, password, chromedp.ByQuery),
		chromedp.Click(`#signin button[type="submit"]`, chromedp.ByQuery), chromedp.WaitVisible(`#who`, chromedp.ByQuery)))
	for _, p := range []struct {
		hash, wait string
		wants      []string
	}{
		{"#/attribution", `//h2[starts-with(text(), "Conversions credited per channel")]`,
			[]string{"paid social", "order", "Spend and return per channel", "Acquisition by channel"}},
		// the measure chosen: the value credited, in the chart's label and the table
		{"#/attribution?measure=value", `//*[local-name()="svg" and starts-with(@aria-label, "Value credited")]`,
			[]string{"paid social", "Value credited per channel, by model"}},
		{"#/journeys", `//h2[text()="Top paths to order"]`,
			[]string{"paid social", "order", "order by acquisition channel", "Conversion rate"}},
	} {
		var text string
		must(t, chromedp.Run(b, chromedp.Navigate(page+p.hash), chromedp.WaitVisible(p.wait), chromedp.Text(`main`, &text, chromedp.ByQuery)))
		for _, want := range p.wants {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q:\n%s", p.hash, want, text)
			}
		}
		browsertest.Screenshot(t, b, "console-"+strings.NewReplacer("#/", "", "?", "-", "=", "-").Replace(p.hash))
	}
}
