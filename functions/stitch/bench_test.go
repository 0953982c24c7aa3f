package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/memstore"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// BenchmarkStitchBatch measures stitch's own CPU per event: the runtime's entry from the Kinesis
// event's JSON to the response's, with the recording engine over the in-memory store (so no database time), on
// batches of 100 records, each a browser's page of 5 events (a page view and four tracks of about
// 1 KB) as collect packs them, from a pool of 2,000 visitors who come back batch after batch. The
// figure is what stitch adds per event beside the requests it makes; scripts/bench/README.md and
// BENCHMARKS.md have the method and figures.
func BenchmarkStitchBatch(b *testing.B) {
	engine := recording.New(memstore.New())
	benchStitch(b, &handler{store: engine, failed: fakeQueue{}, updates: fakeQueue{}, feed: &fakeFeed{}, now: time.Now, log: quiet}, nil)
}

// benchStitch runs h on batches; requests, when set, counts the DynamoDB requests made.
func benchStitch(b *testing.B, h *handler, requests *requestCounter) {
	const records, perRecord, visitors = 100, 5, 2000
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	n := 0
	batch := func() []byte {
		var ev events.KinesisEvent
		for range records {
			visitor := n / perRecord % visitors
			var page []beacon.Event
			for k := range perRecord {
				page = append(page, benchEvent(n, visitor, start.Add(time.Duration(n)*time.Second), k == 0))
				n++
			}
			data, err := beacon.EncodeRecord(page)
			if err != nil {
				b.Fatal(err)
			}
			rec := events.KinesisEventRecord{EventID: fmt.Sprintf("shardId-000000000000:%d", n)}
			rec.Kinesis.Data, rec.Kinesis.SequenceNumber, rec.Kinesis.PartitionKey = data, fmt.Sprint(n), fmt.Sprint(visitor)
			ev.Records = append(ev.Records, rec)
		}
		payload, err := json.Marshal(ev) // as the runtime hands it over: the data in base64
		if err != nil {
			b.Fatal(err)
		}
		return payload
	}
	invoke := entry(h)
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		payload := batch()
		b.StartTimer()
		start := selfCPU()
		out, err := invoke.Invoke(ctx, payload)
		cpu += selfCPU() - start
		var resp events.KinesisEventResponse
		if err == nil {
			err = json.Unmarshal(out, &resp)
		}
		if err != nil || len(resp.BatchItemFailures) > 0 {
			b.Fatalf("batch not stitched: %v %v", err, resp.BatchItemFailures)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	events := float64(b.N * records * perRecord)
	perEvent := float64(b.Elapsed().Nanoseconds()) / events
	b.ReportMetric(perEvent, "ns/event")
	b.ReportMetric(1e9/perEvent, "events/s")
	b.ReportMetric(float64(cpu.Microseconds())/events, "cpu-µs/event")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/events, "allocs/event")
	if requests != nil {
		b.ReportMetric(float64(requests.total())/events, "requests/event")
		if testing.Verbose() {
			b.Logf("DynamoDB requests per batch by operation: %v", requests.perBatch(b.N))
		}
	}
}

// selfCPU is the user and system CPU the process has used: stitch's, the Go runtime's (the
// collector) included, not the servers'.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// requestCounter counts the DynamoDB requests a client sends, by operation (X-Amz-Target).
type requestCounter struct {
	http.RoundTripper
	mu sync.Mutex
	n  map[string]int
}

func (c *requestCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	op := r.Header.Get("X-Amz-Target")
	op = op[strings.LastIndexByte(op, '.')+1:]
	c.mu.Lock()
	c.n[op]++
	c.mu.Unlock()
	return c.RoundTripper.RoundTrip(r)
}

func (c *requestCounter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, k := range c.n {
		n += k
	}
	return n
}

func (c *requestCounter) perBatch(batches int) map[string]float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]float64{}
	for op, k := range c.n {
		out[op] = float64(k) / float64(batches)
	}
	return out
}

// benchEvent is an event of a visitor's page as collect writes it to the stream: a page view, or a
// track of about 1 KB with page context, campaign and enrichment.
func benchEvent(i, visitor int, at time.Time, pageView bool) beacon.Event {
	ctxJSON, _ := json.Marshal(map[string]any{
		"page": map[string]any{
			"path": "/products/trail-runner-3", "referrer": "https://www.google.com/",
			"search": "?utm_source=newsletter&utm_medium=email&utm_campaign=spring-sale",
			"title":  "Trail Runner 3 — Shop", "url": "https://shop.example/products/trail-runner-3?utm_source=newsletter&utm_medium=email&utm_campaign=spring-sale",
		},
		"userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
		"locale":    "en-GB", "timezone": "Europe/London",
		"library":  map[string]any{"name": "analytics.js", "version": "next-1.70.0"},
		"campaign": map[string]any{"name": "spring-sale", "source": "newsletter", "medium": "email", "content": "hero-banner"},
	})
	props, _ := json.Marshal(map[string]any{
		"product_id": fmt.Sprintf("sku-%d", i%300), "name": "Trail Runner 3 — red", "category": "Shoes/Running",
		"price": 59.9, "quantity": 1, "currency": "EUR", "cart_id": "c-7d1e9b",
	})
	e := beacon.Event{
		Type: beacon.Track, Event: "Product Viewed", MessageID: fmt.Sprintf("ajs-next-%012d", i),
		AnonymousID: fmt.Sprintf("anon-%06d-4b9e-a7d2-5e1f9c3b8d46", visitor), Properties: props, Context: ctxJSON,
		Timestamp: at, OriginalTimestamp: &at, ReceivedAt: at.Add(time.Second), SourceID: "src_web",
	}
	if pageView {
		e.Type, e.Event, e.Name, e.Properties = beacon.Page, "", "Trail Runner 3", nil
	}
	return e
}

// BenchmarkStitchBatchDynamoDB is BenchmarkStitchBatch against DynamoDB Local and the local SQS
// server: what stitch's process spends per event with the requests it makes (the servers' own CPU
// is not in the figure). It needs the local servers (`make emulators`).
func BenchmarkStitchBatchDynamoDB(b *testing.B) {
	e := localawstest.Reachable(b)
	tables := profilestore.Tables{
		Profiles:    localawstest.NewTopologyTable(b, topology.ProfileTable),
		Identities:  localawstest.NewTopologyTable(b, topology.IdentityTable),
		Touchpoints: localawstest.NewTopologyTable(b, topology.TouchpointTable),
	}
	cfg := e.Config()
	requests := &requestCounter{RoundTripper: cfg.HTTPClient.(*http.Client).Transport, n: map[string]int{}}
	cfg.HTTPClient = &http.Client{Transport: requests}
	db := dynamo.New(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(e.DynamoDB) })
	engine := recording.New(profilestore.New(db, tables))
	q := messagequeue.New(e.SQSClient(), localawstest.NewQueue(b))
	benchStitch(b, &handler{store: engine, failed: q, updates: q, feed: &fakeFeed{}, now: time.Now, log: quiet}, requests)
}
