package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/schedule"
)

// audiences defines a computed trait and a public audience built on it, as a marketer would
// through the profile API; sends the shopper two product views; and shows the membership that
// follows: on the profile, in the members route, on the audiences queue, and what the shop's own
// page learns of its visitor through the browser-safe route. The definitions are removed at the
// end, so that runs do not pile them up.
func (d demo) audiences(ctx context.Context, s Scenario) error {
	trait, aud := s.slug("views"), s.slug("browsers")
	traitDef := map[string]any{"id": trait, "name": "Products viewed, last 30 days", "event": "Product Viewed",
		"aggregate": "count", "within": "30d"}
	audDef := map[string]any{"id": aud, "name": "Logged-in browsers", "public": true,
		"description": "Logged-in customers who viewed at least two products this month: the shop greets them.",
		"rule": map[string]any{"all": []any{
			map[string]any{"field": "computed." + trait, "op": ">=", "value": 2},
			map[string]any{"field": "identifiers.userId", "op": "exists"},
		}}}
	for _, def := range []struct {
		path string
		body any
	}{{"/v1/traits/" + trait, traitDef}, {"/v1/audiences/" + aud, audDef}} {
		status, body, err := d.client.Call(ctx, http.MethodPut, def.path, def.body)
		if err != nil || status/100 != 2 {
			return fmt.Errorf("PUT %s: %d %s %v", def.path, status, body, err)
		}
		fmt.Fprintf(d.out, "  $ PUT %s → %d\n", def.path, status)
	}
	defer func() { // remove them, the audience first: it reads the trait
		for _, path := range []string{"/v1/audiences/" + aud, "/v1/traits/" + trait} {
			_, _, _ = d.client.Call(context.WithoutCancel(ctx), http.MethodDelete, path, nil)
		}
	}()

	for i, product := range []string{"trail-runner", "rain-jacket"} {
		body := map[string]any{"userId": s.Shopper, "event": "Product Viewed", "messageId": fmt.Sprintf("demo-%s-views-%d", s.Run, i),
			"properties": map[string]any{"product_id": product, "price": 89.0}}
		if status, resp, err := d.client.Send(ctx, d.client.ServerKey, "/v1/track", body); err != nil || status != 200 {
			return fmt.Errorf("send a product view: %d %s %v", status, resp, err)
		}
	}
	fmt.Fprintf(d.out, "  shopper %s viewed 2 products\n", s.Shopper)

	// Recording evaluates the audiences as it writes the events; its functions check the
	// definitions' version every 30 s, so events that came first are caught by the scoring run's
	// back-fill, which the demo runs until the shopper is in.
	var scored time.Time
	p, err := waitFor(ctx, 90*time.Second, func() (map[string]any, error) {
		p, err := d.client.Profile(ctx, "userId", s.Shopper)
		if err != nil {
			return nil, err
		}
		if inAudience(p, aud) {
			return p, nil
		}
		// Back-fill: the hourly scoring run, run now (every few seconds until the shopper is in).
		if time.Since(scored) > 5*time.Second {
			scored = time.Now()
			if _, err := d.lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("score"),
				Payload: schedule.Payload(topology.ScoreSchedule, time.Now())}); err != nil {
				return nil, fmt.Errorf("run score: %w", err)
			}
		}
		return nil, fmt.Errorf("%w: the shopper is not in %s yet", errNotYet, aud)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "  the shopper's profile: \"audiences\": %s\n", compact(p["audiences"]))

	members, err := d.client.Get(ctx, "/v1/audiences/"+aud+"/members?limit=10")
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "  $ GET /v1/audiences/%s/members → %s\n", aud, members)

	if d.audienceQueue != "" {
		m, err := waitFor(ctx, 30*time.Second, func() (map[string]any, error) { return d.audienceChange(ctx, aud, p["profileId"]) })
		if err != nil {
			return fmt.Errorf("no audience.entered for the shopper on the audiences queue: %w", err)
		}
		fmt.Fprintf(d.out, "  on the audiences queue: %s %s for profile %s (marketing consent %s)\n", m["type"], m["audienceId"], m["profileId"], m["marketingConsent"])
	}

	// What the shop's page learns of its visitor, with the browser's write key and the visitor's
	// own cookie: the public audiences and the next best action's kind, nothing personal.
	status, view, err := d.client.Visitor(ctx, s.Laptop)
	if err != nil || status != 200 {
		return fmt.Errorf("POST /v1/visitor: %d %s %v", status, view, err)
	}
	if !strings.Contains(view, `"`+aud+`"`) {
		return fmt.Errorf("POST /v1/visitor: the public audience %s is not in %s", aud, view)
	}
	fmt.Fprintf(d.out, "  $ POST /v1/visitor {\"anonymousId\": %q} (browser key, Origin %s) → %s\n", s.Laptop, d.client.Origin, view)
	return nil
}

// inAudience tells whether a profile as the API shows it is in the audience.
func inAudience(p map[string]any, id string) bool {
	list, _ := p["audiences"].([]any)
	for _, m := range list {
		if m, ok := m.(map[string]any); ok && m["audience"] == id {
			return true
		}
	}
	return false
}

// audienceChange reads the audiences queue until it finds the entry of the profile in the
// audience, deleting what it reads (the demo is the queue's consumer).
func (d demo) audienceChange(ctx context.Context, audience string, profileID any) (map[string]any, error) {
	out, err := d.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(d.audienceQueue), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	if err != nil {
		return nil, fmt.Errorf("receive audience changes: %w", err)
	}
	var found map[string]any
	for _, m := range out.Messages {
		var a map[string]any
		if json.Unmarshal([]byte(aws.ToString(m.Body)), &a) == nil && a["audienceId"] == audience && a["profileId"] == profileID && a["type"] == "audience.entered" {
			found = a
		}
		if _, err := d.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(d.audienceQueue), ReceiptHandle: m.ReceiptHandle}); err != nil {
			return nil, fmt.Errorf("delete audience change: %w", err)
		}
	}
	if found == nil {
		return nil, errNotYet
	}
	return found, nil
}

var notSlug = regexp.MustCompile(`[^a-z0-9]+`)

// slug is an id of this run's definitions: demo-<run>-<what>, as audience ids are written.
func (s Scenario) slug(what string) string {
	id := "demo-" + strings.Trim(notSlug.ReplaceAllString(strings.ToLower(s.Run), "-"), "-") + "-" + what
	return id[:min(len(id), 64)]
}

// Call calls the profile API with the profile API key, sending body as JSON when there is one.
func (c Client) Call(ctx context.Context, method, path string, body any) (int, string, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return 0, "", err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, c.API+path, bytes.NewReader(raw))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+c.ProfileKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return c.do(req)
}

// Visitor asks the browser-safe route what the page may show the visitor of the cookie anon, as
// the tracker does: the browser's write key, the page's origin.
func (c Client) Visitor(ctx context.Context, anon string) (int, string, error) {
	raw, _ := json.Marshal(map[string]string{"anonymousId": anon})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.API+"/v1/visitor", bytes.NewReader(raw))
	if err != nil {
		return 0, "", err
	}
	req.SetBasicAuth(c.WriteKey, "")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", c.Origin)
	return c.do(req)
}
