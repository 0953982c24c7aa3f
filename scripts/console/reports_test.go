package console

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/chromedp/chromedp"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/cognito"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest/browsertest"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/report"
)

// A marketer reads spend and return on the attribution page: two kept reports, the latest with
// imported spend and customers acquired, the other chosen by its period. The figures on the page
// are the report's, formatted (ROAS 3.50, CPA 40.00, CAC 25.00, lifetime value to CAC 4.80). One
// RFM segment chosen shows its own credits by channel, and no spend (it is not split by segment).
func TestConsoleAttributionSpendAndPeriods(t *testing.T) {
	browsertest.NeedChromium(t)
	ctx := context.Background()
	st, _ := devtest.StackWith(t, "console-reports", devtest.Functions(t), func(c *stack.Config) { c.ConsoleUser = "admin" })
	password := cognito.NewPassword()
	if _, err := cognito.Dir(st.Env()[stack.EnvAuthDir]).AddUser("mara", "", []string{"marketer"}, password, false, time.Now()); err != nil {
		t.Fatal(err)
	}
	f := func(v float64) *float64 { return &v }
	november := report.Attribution{Period: "2026-11-01_2026-11-30", From: "2026-11-01", To: "2026-11-30", Currency: "EUR",
		Goals: []report.GoalAttribution{{Goal: "order", Journeys: 40, Conversions: 10, Value: 1400, Levels: []report.Level{{By: "channel", Models: []report.ModelCredits{
			{Model: "last-touch", Credits: []report.Credit{
				{Name: "paid search", Conversions: 4, Value: 700, Spend: f(200), CPA: f(50), ROAS: f(3.5)},
				{Name: "email", Conversions: 6, Value: 700},
			}},
			{Model: "linear", Credits: []report.Credit{
				{Name: "paid search", Conversions: 5, Value: 500, Spend: f(200), CPA: f(40), ROAS: f(2.5)},
				{Name: "email", Conversions: 5, Value: 900},
			}},
		}}},
			Segments: []report.SegmentLevel{{SegmentBy: "rfm", Segment: "champions", Journeys: 12, Conversions: 3, Value: 420, Untouched: 1,
				Level: report.Level{By: "channel", Models: []report.ModelCredits{
					{Model: "last-touch", Credits: []report.Credit{{Name: "email", Conversions: 2, Value: 300}, {Name: "paid search", Conversions: 0, Value: 0}}},
					{Model: "linear", Credits: []report.Credit{{Name: "email", Conversions: 1.5, Value: 230}, {Name: "paid search", Conversions: 0.5, Value: 70}}},
				}}}},
		}},
		Base: []report.Base{{Channel: "paid search", Customers: 8, Revenue: 960, CLV: 960, AverageCLV: 120, Spend: 200, CAC: f(25), CLVToCAC: f(4.8)}},
	}
	october := report.Attribution{Period: "2026-10-01_2026-10-31", From: "2026-10-01", To: "2026-10-31", Goals: []report.GoalAttribution{}, Base: []report.Base{}}
	bucket := st.Resources()[topology.ReportsBucket]
	put := func(key string, doc any) {
		body, err := json.Marshal(doc)
		must(t, err)
		_, err = localaws.Endpoints{S3: st.S3URL()}.S3Client().PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(bucket), Key: aws.String(topology.ReportsPrefix + key), Body: bytes.NewReader(body)})
		must(t, err)
	}
	for _, a := range []report.Attribution{october, november} {
		put(a.Period+"/"+report.ManifestPart, report.Manifest{Period: a.Period, From: a.From, To: a.To, CreatedAt: time.Now(),
			Goals: []string{"order"}, Parts: []string{report.ManifestPart, report.AttributionPart}})
		put(a.Period+"/"+report.AttributionPart, a)
	}
	put(report.LatestKey, map[string]string{"period": november.Period})

	b := browsertest.New(t, 2*time.Minute)
	page := st.Env()[stack.EnvConsoleURL]
	must(t, chromedp.Run(b, chromedp.EmulateViewport(1200, 900), chromedp.Navigate(page)))
	signIn(t, b, "mara", password)
	must(t, chromedp.Run(b, chromedp.Navigate(page+"#/attribution"), chromedp.WaitVisible(`//h2[text()="Spend and return per channel"]`)))
	text := pageText(t, b)
	for _, want := range []string{
		"2026-11-01 – 2026-11-30: 10 conversions of 40 journeys, value 1,400.00 EUR",
		"ROAS, last-touch", "3.50", "2.50", "CPA, linear", "40.00", "50.00", // spend and return, by model
		"Cost per customer (CAC) EUR", "25.00", "4.80", // acquisition by channel
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the attribution page lacks %q:\n%s", want, text)
		}
	}
	var label string
	must(t, chromedp.Run(b, chromedp.AttributeValue(`svg.chart`, "aria-label", &label, nil, chromedp.ByQuery)))
	if label != "Conversions credited per channel" {
		t.Errorf("the chart's label: %q", label)
	}
	browsertest.Screenshot(t, b, "console-attribution-spend")

	// The champions' attribution: their figures, by channel only, and no spend.
	must(t, chromedp.Run(b, chromedp.SetValue(`select[name="segment"]`, "rfm|champions", chromedp.ByQuery),
		chromedp.WaitVisible(`//strong[text()="Spend is not split by segment."]`)))
	text = pageText(t, b)
	for _, want := range []string{
		"2026-11-01 – 2026-11-30, rfm: champions: 3 conversions of 12 journeys, value 420.00 EUR; 1 converted with no touch",
		"email\t2.0\t1.5", "paid search\t0.0\t0.5", // the credits table: last-touch, linear
		"Cost per customer (CAC) EUR", // acquisition by channel, as for everyone
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the champions' attribution lacks %q:\n%s", want, text)
		}
	}
	for _, gone := range []string{"ROAS, last-touch", "3.50"} {
		if strings.Contains(text, gone) {
			t.Errorf("the champions' attribution shows everyone's %q", gone)
		}
	}
	var hash string
	var byDisabled bool
	must(t, chromedp.Run(b, chromedp.Evaluate(`location.hash`, &hash),
		chromedp.Evaluate(`document.querySelector('select[name="by"]').disabled`, &byDisabled)))
	if !strings.Contains(hash, "segment=rfm%7Cchampions") || !byDisabled {
		t.Errorf("the segment's page: hash %q, the By select disabled %v", hash, byDisabled)
	}
	browsertest.Screenshot(t, b, "console-attribution-segment")

	// The earlier period, chosen from the list: its empty state, and the list names both.
	// (SetValue sends the change event a person's choice would)
	must(t, chromedp.Run(b, chromedp.SetValue(`select[name="period"]`, october.Period, chromedp.ByQuery),
		chromedp.WaitVisible(`//strong[text()="No conversion in 2026-10-01 – 2026-10-31."]`)))
	var options string
	must(t, chromedp.Run(b, chromedp.Text(`select[name="period"]`, &options, chromedp.ByQuery)))
	if !strings.Contains(options, "2026-11-01 – 2026-11-30") || !strings.Contains(options, "2026-10-01 – 2026-10-31") {
		t.Errorf("the periods offered: %q", options)
	}
}
