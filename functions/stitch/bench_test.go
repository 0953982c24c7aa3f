package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/memstore"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// BenchmarkStitchBatch measures stitch's own CPU per event: the handler from the Kinesis event to
// the response, with the recording engine over the in-memory store (so no database time), on
// batches of 100 records, each a browser's page of 5 events (a page view and four tracks of about
// 1 KB) as collect packs them, from a pool of 2,000 visitors who come back batch after batch. The
// figure is what stitch adds per event beside the requests it makes; scripts/bench/README.md and
// BENCHMARKS.md have the method and figures.
func BenchmarkStitchBatch(b *testing.B) {
	engine := recording.New(memstore.New())
	benchStitch(b, &handler{store: engine, failed: fakeQueue{}, updates: fakeQueue{}, now: time.Now, log: quiet})
}

func benchStitch(b *testing.B, h *handler) {
	const records, perRecord, visitors = 100, 5, 2000
	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	n := 0
	batch := func() events.KinesisEvent {
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
		return ev
	}
	ctx := context.Background()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		ev := batch()
		b.StartTimer()
		resp, err := h.handle(ctx, ev)
		if err != nil || len(resp.BatchItemFailures) > 0 {
			b.Fatalf("batch not stitched: %v %v", err, resp.BatchItemFailures)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	perEvent := float64(b.Elapsed().Nanoseconds()) / float64(b.N*records*perRecord)
	b.ReportMetric(perEvent, "ns/event")
	b.ReportMetric(1e9/perEvent, "events/s")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(b.N*records*perRecord), "allocs/event")
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
	engine := recording.New(profilestore.New(e.Dynamo(), tables))
	q := messagequeue.New(e.SQSClient(), localawstest.NewQueue(b))
	benchStitch(b, &handler{store: engine, failed: q, updates: q, now: time.Now, log: quiet})
}
