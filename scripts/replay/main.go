// Command replay sends a Snowplow atomic events file through the dcrm endpoint as Segment calls
// (see Calls), in batches, with the trusted server key so that the events keep their historical
// timestamps. `go run ./scripts/replay -file <events.csv>` after `make up` and sourcing
// .dcrm/local.env; `-ecommerce <folder>` sends a Snowplow e-commerce folder (the atomic events and
// their entity files) as Segment e-commerce calls instead (see EcommerceCalls). The end-to-end
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
	flag.Parse()
	if err := run(ctx, *file, *ecommerce, *size); err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, file, ecommerce string, size int) error {
	api, key := os.Getenv("DCRM_API_URL"), os.Getenv("DCRM_SERVER_WRITE_KEY")
	if api == "" || key == "" {
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
	if err := Send(ctx, &http.Client{Timeout: 30 * time.Second}, api, key, calls, size); err != nil {
		return err
	}
	fmt.Printf("sent %d calls (%s)\n", len(calls), summary)
	return nil
}

// Send posts calls to api's /v1/batch, size calls per request, authenticated with key.
func Send(ctx context.Context, hc *http.Client, api, key string, calls []map[string]any, size int) error {
	size = max(size, 1)
	for i := 0; i < len(calls); i += size {
		body, err := json.Marshal(map[string]any{"batch": calls[i:min(i+size, len(calls))]})
		if err != nil {
			return fmt.Errorf("encode batch: %w", err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, api+"/v1/batch", bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("build request: %w", err)
		}
		req.SetBasicAuth(key, "")
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("send batch at %d: %w", i, err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("send batch at %d: %d %s", i, resp.StatusCode, msg)
		}
	}
	return nil
}
