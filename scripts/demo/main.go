// Command demo drives a demo shop's traffic through the local stack's real endpoint, runs the
// scoring schedule and prints the Single Customer View, the scores and the alerts it produced, the
// run's events in the archive, and the attribution of the campaign visitors' orders by the reports.
// `make demo` runs it with the variables of .dcrm/local.env.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/schedule"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer) error {
	env := map[string]string{}
	for _, k := range []string{"DCRM_API_URL", "DCRM_WRITE_KEY", "DCRM_SERVER_WRITE_KEY", "DCRM_PROFILE_API_KEY", "DCRM_ALERTS_QUEUE_URL"} {
		if env[k] = os.Getenv(k); env[k] == "" {
			return fmt.Errorf("%s is not set: run `make up` and source .dcrm/local.env (or use `make demo`)", k)
		}
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load aws config: %w", err)
	}
	d := demo{
		client: Client{API: env["DCRM_API_URL"], WriteKey: env["DCRM_WRITE_KEY"], ServerKey: env["DCRM_SERVER_WRITE_KEY"],
			ProfileKey: env["DCRM_PROFILE_API_KEY"], HTTP: &http.Client{Timeout: 30 * time.Second}},
		lambda: lambda.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg), alerts: env["DCRM_ALERTS_QUEUE_URL"], out: out,
		dcrm: cmp.Or(os.Getenv("DCRM_CLI"), filepath.Join("bin", "dcrm")), picture: filepath.Join("bin", "attribution.svg"),
		audienceQueue: os.Getenv(topology.Default().EnvVar(topology.AudienceQueue)),
	}
	// The page the browser-safe route is asked from: the first origin the demo's browser source
	// allows (dcrm keys, as make up makes them).
	d.client.Origin = cmp.Or(os.Getenv("DCRM_DEMO_ORIGIN"), "http://localhost:8080")
	return d.run(ctx, NewScenario(strconv.FormatInt(time.Now().Unix(), 36), time.Now()))
}

type demo struct {
	client Client
	lambda *lambda.Client
	sqs    *sqs.Client
	alerts string
	out    io.Writer
	// dcrm is the dcrm command, which queries the archive (dcrm sql); sqlEnv is added to its
	// environment (the archive bucket, S3's endpoint, its cache: .dcrm/local.env has them).
	dcrm   string
	sqlEnv []string
	// picture is the file the report's picture is copied to.
	picture string
	// audienceQueue is the audiences queue's URL ("": not read).
	audienceQueue string
}

func (d demo) run(ctx context.Context, s Scenario) error {
	fmt.Fprintf(d.out, "\n== 1. Traffic through %s\n", d.client.API)
	if err := s.Send(ctx, d.client, d.out); err != nil {
		return err
	}

	fmt.Fprintln(d.out, "\n== 2. Single Customer View (stream → stitch → DynamoDB), read through the profile API")
	profile, err := waitFor(ctx, time.Minute, func() (map[string]any, error) { return s.Stitched(ctx, d.client) })
	if err != nil {
		return fmt.Errorf("shopper's devices were not stitched into one profile: %w", err)
	}
	printJSON(d.out, profile)
	// The lapsed customer's history travels on a shard of its own: it is scored once it is there.
	if _, err := waitFor(ctx, time.Minute, func() (map[string]any, error) { return d.client.Profile(ctx, "userId", s.Lapsed) }); err != nil {
		return fmt.Errorf("the lapsed customer's history was not stitched: %w", err)
	}

	fmt.Fprintln(d.out, "\n== 3. Scoring schedule, run now")
	res, err := d.lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("score"), Payload: schedule.Payload(topology.ScoreSchedule, time.Now())})
	if err != nil {
		return fmt.Errorf("run score: %w", err)
	}
	if res.FunctionError != nil {
		return fmt.Errorf("score failed: %s", res.Payload)
	}
	fmt.Fprintf(d.out, "  score: %s\n", res.Payload)
	for _, user := range []string{s.Shopper, s.Lapsed} {
		p, err := d.client.Profile(ctx, "userId", user)
		if err != nil {
			return err
		}
		fmt.Fprintf(d.out, "  %-22s lastSeen %-25v score %s\n", user, p["lastSeen"], compact(p["score"]))
	}

	fmt.Fprintln(d.out, "\n== 4. Alerts read back from the alerts queue")
	alert, err := waitFor(ctx, 30*time.Second, func() (map[string]any, error) { return d.alertFor(ctx, s.Lapsed) })
	if err != nil {
		return fmt.Errorf("no lapse alert for %s: %w", s.Lapsed, err)
	}
	printJSON(d.out, alert)

	fmt.Fprintln(d.out, "\n== 5. The event archive (stitch → Data Firehose → Parquet in S3), queried with dcrm sql as Athena would")
	ofRun := "FROM events WHERE messageId LIKE 'demo-" + s.Run + "-%'"
	count := "SELECT count(DISTINCT messageId) AS n " + ofRun
	want := strconv.Itoa(s.Accepted())
	if _, err := waitFor(ctx, time.Minute, func() (string, error) {
		out, err := d.sql(ctx, "--format", "csv", count)
		if err != nil {
			return "", err
		}
		if got := strings.TrimSpace(strings.TrimPrefix(out, "n\n")); got != want {
			return "", fmt.Errorf("%w: %s of %s events archived", errNotYet, got, want)
		}
		return out, nil
	}); err != nil {
		return fmt.Errorf("the run's events did not reach the archive: %w", err)
	}
	query := "SELECT type, coalesce(event, name, '') AS what, count(DISTINCT messageId) AS events, count(DISTINCT profileId) AS profiles " +
		ofRun + " GROUP BY 1, 2 ORDER BY 1, 2"
	fmt.Fprintf(d.out, "  $ dcrm sql --format table %q\n", query)
	table, err := d.sql(ctx, "--format", "table", query)
	if err != nil {
		return err
	}
	fmt.Fprint(d.out, indent(table))

	fmt.Fprintln(d.out, "\n== 6. Attribution (the reports function over the archive, read through the profile API)")
	if err := d.attribution(ctx, s); err != nil {
		return err
	}
	fmt.Fprintln(d.out, "\n== 7. Audiences (a computed trait and an audience defined as data; membership kept as events arrive)")
	if err := d.audiences(ctx, s); err != nil {
		return err
	}
	fmt.Fprintln(d.out, "\ndemo: done — the shopper's laptop and phone are one profile, the lapsed customer raised an alert, "+
		"every event is in the archive, the campaign visitors' orders are credited to the channels that led to them, "+
		"and the shopper entered an audience the shop's page can greet.")
	if url := os.Getenv("DCRM_CONSOLE_URL"); url != "" { // make up writes it, with the first admin's sign-in
		fmt.Fprintf(d.out, "\nThe console: open %s and sign in as %s with DCRM_CONSOLE_PASSWORD of .dcrm/local.env; "+
			"find the shopper by user id %s, and the demo's report on the attribution and journeys pages.\n",
			url, cmp.Or(os.Getenv("DCRM_CONSOLE_USER"), "admin"), s.Shopper)
	}
	return nil
}

// attribution runs the reports schedule as of tomorrow, so that the report's period ends today,
// reads the report's attribution through the profile API and prints the orders credited to each
// channel under the main models. The run's own orders must be among those counted.
func (d demo) attribution(ctx context.Context, s Scenario) error {
	at := s.ReportsAt()
	res, err := d.lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("reports"), Payload: schedule.Payload(topology.ReportsSchedule, at)})
	if err != nil {
		return fmt.Errorf("run reports: %w", err)
	}
	if res.FunctionError != nil {
		return fmt.Errorf("reports failed: %s", res.Payload)
	}
	summary := string(res.Payload)
	if len(summary) > 400 {
		summary = strings.ToValidUTF8(summary[:400], "") + "…"
	}
	fmt.Fprintf(d.out, "  reports (run as of %s): %s\n", at.Format(time.RFC3339), summary)
	const path = "/v1/reports/latest/attribution.csv"
	body, err := waitFor(ctx, 30*time.Second, func() (string, error) { return d.client.Get(ctx, path) })
	if err != nil {
		return fmt.Errorf("read the attribution report: %w", err)
	}
	const goal, by = "order", "channel"
	t, err := ParseAttribution(strings.NewReader(body), goal, by)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	fmt.Fprintf(d.out, "  $ GET %s — goal %s: conversions credited per %s by each model, value under %s\n", path, goal, by, sortModel)
	fmt.Fprint(d.out, indent(t.String()))
	first, ok := t.Total("first-touch")
	if !ok {
		return fmt.Errorf("GET %s: no first-touch credits of goal %s by %s", path, goal, by)
	}
	// Other runs' orders may be in the archive too: at least this run's must be counted.
	if want := s.Orders(); first < float64(want)-1e-6 {
		return fmt.Errorf("the report credits %.2f orders under first-touch, fewer than the %d this run placed: the run's orders are not in it", first, want)
	}
	// The picture is served to profile-API keys; a copy in a file opens in any browser.
	const picture = "/v1/reports/latest/picture.svg"
	svg, err := d.client.Get(ctx, picture)
	if err != nil {
		return fmt.Errorf("GET %s: %w", picture, err)
	}
	if !strings.HasPrefix(svg, "<svg") {
		return fmt.Errorf("GET %s: not an SVG picture", picture)
	}
	if err := os.WriteFile(d.picture, []byte(svg), 0o644); err != nil {
		return fmt.Errorf("keep the picture: %w", err)
	}
	fmt.Fprintf(d.out, "  picture: %s (open it in a browser), as GET %s%s serves it\n", d.picture, d.client.API, picture)
	return nil
}

// sql runs dcrm sql with args and returns what it printed.
func (d demo) sql(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, d.dcrm, append([]string{"sql"}, args...)...)
	cmd.Env = append(os.Environ(), d.sqlEnv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("dcrm sql: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
}

// alertFor reads the alerts queue until it finds the lapse alert of the given user, deleting what it
// reads (the demo is the queue's consumer).
func (d demo) alertFor(ctx context.Context, userID string) (map[string]any, error) {
	out, err := d.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(d.alerts), MaxNumberOfMessages: 10, WaitTimeSeconds: 1,
		MessageAttributeNames: []string{"All"}})
	if err != nil {
		return nil, fmt.Errorf("receive alerts: %w", err)
	}
	var found map[string]any
	for _, m := range out.Messages {
		var a map[string]any
		if json.Unmarshal([]byte(aws.ToString(m.Body)), &a) == nil && a["userId"] == userID {
			found = a
		}
		if _, err := d.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(d.alerts), ReceiptHandle: m.ReceiptHandle}); err != nil {
			return nil, fmt.Errorf("delete alert: %w", err)
		}
	}
	if found == nil {
		return nil, errNotYet
	}
	return found, nil
}

// waitFor retries try until it succeeds or the time is up, returning the last error.
func waitFor[T any](ctx context.Context, limit time.Duration, try func() (T, error)) (T, error) {
	deadline := time.Now().Add(limit)
	for {
		v, err := try()
		if err == nil || !errors.Is(err, errNotYet) || time.Now().After(deadline) {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func printJSON(w io.Writer, v any) {
	b, _ := json.MarshalIndent(v, "  ", "  ")
	fmt.Fprintf(w, "  %s\n", b)
}

func compact(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
