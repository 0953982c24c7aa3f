package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
	rows := syntheticEvents(events, func(v int) string { return fmt.Sprintf("prf_%024x", v) })
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

// syntheticEvents are n page views and track calls of 5,000 visitors (visitor v on profile
// profile(v)), with a browser's context, campaign and device columns, a quarter of an hour that
// spans midnight.
func syntheticEvents(n int, profile func(v int) string) []archive.Event {
	start := time.Date(2026, 12, 7, 23, 50, 0, 0, time.UTC)
	rows := make([]archive.Event, n)
	for i := range rows {
		at := start.Add(time.Duration(i) * 18 * time.Millisecond)
		v := i % 5000
		rows[i] = archive.Event{Type: "track", Event: []string{"Product Viewed", "Product Added", "Order Completed"}[i%3],
			MessageID: fmt.Sprintf("%08x-4b1c-4d2e-9f3a-%012x", i, i*7919), AnonymousID: fmt.Sprintf("anon-%06d", v),
			ProfileID: profile(v), Timestamp: at, ReceivedAt: at.Add(40 * time.Millisecond), SentAt: &at,
			Properties: fmt.Sprintf(`{"product_id":"sku-%d","price":%d.99,"currency":"EUR","quantity":1}`, i%300, 5+i%80),
			Context: `{"library":{"name":"dcrm.js","version":"0.3.0"},"page":{"url":"https://shop.example/p/` + fmt.Sprint(i%300) +
				`?utm_source=newsletter","referrer":"https://mail.example/","title":"A product"},"locale":"en-GB",` +
				`"userAgent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"}`,
			SourceID: "src_shop", IP: "203.0.113.0", Channel: "Email", Referrer: "mail.example", CampaignSource: "newsletter",
			DeviceClass: "desktop", Browser: "Chrome", BrowserVersion: "131.0", OS: "Windows", OSVersion: "10"}
	}
	return rows
}

// syntheticProfile is the profile id of visitor v: prf_ and 24 hex digits, as recording makes them
// (random there, a hash of v here, so that ids spread over the range as random ones do).
func syntheticProfile(v int) string {
	sum := sha256.Sum256([]byte(fmt.Sprint(v)))
	return "prf_" + hex.EncodeToString(sum[:12])
}

// BenchmarkErasurePass reads what the daily erasure pass reads of each file, in memory (S3's
// ranged GETs counted, not made), for an erased id that no file holds but that lies within every
// file's bounds (nothing is pruned): the events files of a delivered object of 50,000 events (their
// profileId), the object itself (read whole, through gzip), and a snapshot of 100,000 profiles
// with 2.6 identifiers each (profileId, plain-encoded). It reports CPU per row and the bytes and
// GETs per row or file that the cost arithmetic of README.md takes.
func BenchmarkErasurePass(b *testing.B) {
	ctx := context.Background()
	const events, profiles = 50_000, 100_000
	key := topology.ArchiveIncomingPrefix + "2026/12/07/23/feed.gz"
	bk := &bucket{objects: map[string][]byte{key: feedObject(b, syntheticEvents(events, syntheticProfile))}}
	h := newHandler(bk, &queue{})
	if err := h.handle(ctx, s3Event(key)); err != nil {
		b.Fatal(err)
	}
	var people []archive.Profile
	var ids []archive.Identifier
	for v := range profiles {
		people = append(people, archive.Profile{ProfileID: syntheticProfile(v), Events: 12})
		for k := range 2 + v%5/3 { // 2.6 on average
			ids = append(ids, archive.Identifier{ProfileID: syntheticProfile(v), Kind: "anonymousId", Value: fmt.Sprintf("anon-%d-%d", v, k)})
		}
	}
	putSnapshot(b, bk, archive.ProfilesTable, people)
	putSnapshot(b, bk, archive.IdentifiersTable, ids)
	erased := archive.NewErasedIDs(archive.NewErasure(syntheticProfile(2500)+"0", nil, time.Now()))

	stages := []struct {
		stage string
		rows  int
	}{{archive.EventsTable, events}, {archive.ErasureIncoming, events}, {archive.ProfilesTable, profiles}, {archive.IdentifiersTable, len(ids)}}
	for _, s := range stages {
		var objs []object
		var size int64
		for _, k := range keysUnder(bk, stagePrefix(s.stage)) {
			objs = append(objs, object{Key: k, Size: int64(len(bk.objects[k]))})
			size += int64(len(bk.objects[k]))
		}
		b.Run(s.stage, func(b *testing.B) {
			bk.ranged, bk.gets = nil, 0
			for range b.N {
				for _, o := range objs {
					if hit, err := h.holds(ctx, s.stage, o, erased); err != nil || hit {
						b.Fatal(hit, err)
					}
				}
			}
			var ranged int64
			for _, n := range bk.ranged {
				ranged += n
			}
			if s.stage == archive.ErasureIncoming {
				ranged = size * int64(b.N) // read whole
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*s.rows), "ns/row")
			b.ReportMetric(float64(ranged)/float64(b.N*s.rows), "read-bytes/row")
			b.ReportMetric(float64(size)/float64(s.rows), "file-bytes/row")
			b.ReportMetric(float64(bk.gets)/float64(b.N*len(objs)), "GETs/file")
			b.ReportMetric(float64(len(objs)), "files")
		})
	}
}
