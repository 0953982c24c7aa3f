package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/archive"
)

// BenchmarkArchiveObject turns one delivered object of 50,000 events (a quarter of an hour's
// buffer at ~55 events/s, some 48 MB of lines) into the archive's files, in memory: what one
// invocation costs, but for the S3 calls. Rows are page views and track calls of 5,000 visitors,
// with a browser's context, campaign and device columns.
func BenchmarkArchiveObject(b *testing.B) {
	const events = 50_000
	start := time.Date(2026, 12, 7, 23, 50, 0, 0, time.UTC) // the quarter spans midnight: two days
	rows := make([]archive.Event, events)
	for i := range rows {
		at := start.Add(time.Duration(i) * 18 * time.Millisecond)
		v := i % 5000
		rows[i] = archive.Event{Type: "track", Event: []string{"Product Viewed", "Product Added", "Order Completed"}[i%3],
			MessageID: fmt.Sprintf("%08x-4b1c-4d2e-9f3a-%012x", i, i*7919), AnonymousID: fmt.Sprintf("anon-%06d", v),
			ProfileID: fmt.Sprintf("prf_%024x", v), Timestamp: at, ReceivedAt: at.Add(40 * time.Millisecond), SentAt: &at,
			Properties: fmt.Sprintf(`{"product_id":"sku-%d","price":%d.99,"currency":"EUR","quantity":1}`, i%300, 5+i%80),
			Context: `{"library":{"name":"dcrm.js","version":"0.3.0"},"page":{"url":"https://shop.example/p/` + fmt.Sprint(i%300) +
				`?utm_source=newsletter","referrer":"https://mail.example/","title":"A product"},"locale":"en-GB",` +
				`"userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"}`,
			SourceID: "src_shop", IP: "203.0.113.0", Channel: "Email", Referrer: "mail.example", CampaignSource: "newsletter",
			DeviceClass: "desktop", Browser: "Chrome", BrowserVersion: "131.0", OS: "Windows", OSVersion: "10"}
	}
	key := topology.ArchiveIncomingPrefix + "2026/12/07/23/feed.gz"
	object := feedObject(b, rows)
	b.ReportAllocs()
	b.ResetTimer()
	var stored int
	for range b.N {
		bk := &bucket{objects: map[string][]byte{key: object}}
		if err := newHandler(bk, &queue{}).handle(context.Background(), s3Event(key)); err != nil {
			b.Fatal(err)
		}
		stored = 0
		for k, body := range bk.objects {
			if k != key {
				stored += len(body)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*events), "ns/event")
	b.ReportMetric(float64(len(object))/events, "delivered-bytes/event")
	b.ReportMetric(float64(stored)/events, "parquet-bytes/event")
}
