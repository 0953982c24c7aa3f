// Command replay sends a Snowplow atomic events file through the dcrm endpoint as Segment calls
// (see Calls), in batches, with the trusted server key so that the events keep their historical
// timestamps. `go run ./scripts/replay -file <events.csv>` after `make up` and sourcing
// .dcrm/local.env; `-ecommerce <folder>` sends a Snowplow e-commerce folder (the atomic events and
// their entity files) as Segment e-commerce calls instead (see EcommerceCalls); `-write-calls FILE`
// writes the calls as JSON lines instead of sending them, for the load replay (scripts/load). The end-to-end
// tests of this package replay the public event sets against a stack of their own and check the
// profiles; README.md has what they found.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"time"
)

// DefaultDataset is the web events set, relative to the repository root.
const DefaultDataset = "../shared/datasets/events/snowplow_web/snowplow_web_events.csv"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	file := flag.String("file", DefaultDataset, "Snowplow atomic events CSV")
	ecommerce := flag.String("ecommerce", "", "Snowplow e-commerce folder ("+EcommerceEvents+" and its entity files); replaces -file")
	size := flag.Int("batch", 50, "calls per /v1/batch request")
	writeCalls := flag.String("write-calls", "", "write the calls to this file as JSON lines (the load replay's input, scripts/load) instead of sending them")
	flag.Parse()
	if err := run(ctx, *file, *ecommerce, *size, *writeCalls); err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, file, ecommerce string, size int, writeCalls string) error {
	api, key := os.Getenv("DCRM_API_URL"), os.Getenv("DCRM_SERVER_WRITE_KEY")
	if writeCalls == "" && (api == "" || key == "") {
		return fmt.Errorf("DCRM_API_URL and DCRM_SERVER_WRITE_KEY must be set: run `make up` and source .dcrm/local.env")
	}
	var calls []map[string]any
	var summary string
	if ecommerce != "" {
		events, err := LoadEcommerce(ecommerce)
		if err != nil {
			return err
		}
		calls = EcommerceCalls(events)
		f := ComputeEcommerceFacts(events)
		summary = fmt.Sprintf("%d distinct events, %d without any identifier left out, %d customers", f.Events, len(f.Unsent), len(f.Shoppers))
	} else {
		rows, err := LoadSnowplow(file)
		if err != nil {
			return err
		}
		calls = Calls(rows)
		f := ComputeFacts(rows)
		summary = fmt.Sprintf("%d rows, %d distinct events, %d users, %d domain_userids", f.Rows, f.Events, len(f.Users), len(f.DomainUserIDs))
	}
	if writeCalls != "" {
		if err := WriteCalls(writeCalls, calls); err != nil {
			return err
		}
		fmt.Printf("wrote %d calls to %s (%s)\n", len(calls), writeCalls, summary)
		return nil
	}
	if err := Send(ctx, &http.Client{Timeout: 30 * time.Second}, api, key, calls, size); err != nil {
		return err
	}
	fmt.Printf("sent %d calls (%s)\n", len(calls), summary)
	return nil
}

// WriteCalls writes the calls to path, one JSON object a line, in the order they are sent.
func WriteCalls(path string, calls []map[string]any) error {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for _, c := range calls {
		if err := enc.Encode(c); err != nil {
			return fmt.Errorf("encode call: %w", err)
		}
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// Send posts calls to api's /v1/batch, size calls per request, authenticated with key. A batch
// answered 429 or 503 (a source over its rate, a stream at its limit) is sent again after the
// Retry-After the endpoint asked for, as an SDK does, up to maxAttempts times.
func Send(ctx context.Context, hc *http.Client, api, key string, calls []map[string]any, size int) error {
	const maxAttempts = 30
	size = max(size, 1)
	for i := 0; i < len(calls); i += size {
		body, err := json.Marshal(map[string]any{"batch": calls[i:min(i+size, len(calls))]})
		if err != nil {
			return fmt.Errorf("encode batch: %w", err)
		}
		for attempt := 1; ; attempt++ {
			status, msg, wait, err := post(ctx, hc, api, key, body)
			if err != nil {
				return fmt.Errorf("send batch at %d: %w", i, err)
			}
			if status == http.StatusOK {
				break
			}
			if (status != http.StatusTooManyRequests && status != http.StatusServiceUnavailable) || attempt == maxAttempts {
				return fmt.Errorf("send batch at %d: %d %s", i, status, msg)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
	}
	return nil
}

// post sends one batch and returns the status, the body and how long the endpoint asked to wait.
func post(ctx context.Context, hc *http.Client, api, key string, body []byte) (int, []byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"/v1/batch", bytes.NewReader(body))
	if err != nil {
		return 0, nil, 0, fmt.Errorf("build request: %w", err)
	}
	req.SetBasicAuth(key, "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, nil, 0, err
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wait := time.Second
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		wait = time.Duration(s) * time.Second
	}
	return resp.StatusCode, msg, wait, nil
}
