// Command demo drives a demo shop's traffic through the local stack's real endpoint, runs the
// scoring schedule and prints the Single Customer View, the scores and the alerts it produced.
// `make demo` runs it with the variables of .dcrm/local.env.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
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
	}
	return d.run(ctx, NewScenario(strconv.FormatInt(time.Now().Unix(), 36), time.Now()))
}

type demo struct {
	client Client
	lambda *lambda.Client
	sqs    *sqs.Client
	alerts string
	out    io.Writer
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
	fmt.Fprintln(d.out, "\ndemo: done — the shopper's laptop and phone are one profile, and the lapsed customer raised an alert.")
	return nil
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
