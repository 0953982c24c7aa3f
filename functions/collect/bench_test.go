package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/dcrm-project/dcrm/scripts/bench/benchevent"
	"github.com/dcrm-project/dcrm/scripts/devstack/httpapi"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/beaconstream"
	"github.com/dcrm-project/dcrm/shared/localaws"
)

// The benchmarks measure the handler in-process, from the API Gateway request to the events handed
// to the stream: routing, body reading, write-key and origin checks (keys from an in-memory fake),
// decoding, validation, enrichment, PII hashing, encoding the Kinesis records (the real
// beaconstream.Stream) and building the response. Only Kinesis itself is a fake that accepts every
// record, so neither it nor the network is measured. Beside them,
// BenchmarkJSONFloor measures what any Go endpoint pays at least for the same bytes: encoding/json
// decoding them into beacon.Event and encoding the result again. scripts/bench/README.md has the
// method and the figures.

// benchEvent is a realistic track call as a browser library sends it (package benchevent): about
// 1.2 KB with page context, user agent, campaign and traits.
func benchEvent(i int) map[string]any { return benchevent.Track(i, benchevent.Visitor) }

// benchRequest is an HTTP API request with a browser's headers, as API Gateway hands it to collect.
func benchRequest(path string, body []byte) events.APIGatewayV2HTTPRequest {
	req := events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: "POST " + path, RawPath: path, Body: string(body),
		Headers: map[string]string{
			"content-type":    "text/plain",
			"authorization":   "Basic " + base64.StdEncoding.EncodeToString([]byte(browserKey+":")),
			"origin":          "https://shop.example",
			"user-agent":      "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
			"x-forwarded-for": "203.0.113.54",
		},
	}
	req.RequestContext.HTTP.Method = http.MethodPost
	req.RequestContext.HTTP.Path = path
	req.RequestContext.HTTP.SourceIP = "203.0.113.54"
	req.RequestContext.HTTP.UserAgent = req.Headers["user-agent"]
	return req
}

type benchCase struct {
	name   string
	path   string
	body   []byte
	events int
}

func benchCases(b *testing.B) []benchCase {
	one, err := json.Marshal(benchEvent(0))
	if err != nil {
		b.Fatal(err)
	}
	items := make([]any, 100)
	for i := range items {
		items[i] = benchEvent(i)
	}
	batch, err := json.Marshal(benchevent.Batch(items))
	if err != nil {
		b.Fatal(err)
	}
	return []benchCase{
		{name: "track-1KB", path: "/v1/track", body: one, events: 1},
		{name: "batch-100events", path: "/v1/batch", body: batch, events: len(items)},
	}
}

// discardKinesis stands in for Kinesis behind the real beaconstream.Stream, so that encoding and
// packing the records is measured: it accepts every record and keeps nothing but counts.
type discardKinesis struct {
	records, bytes int
	results        []types.PutRecordsResultEntry
}

func (k *discardKinesis) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	for _, r := range in.Records {
		k.bytes += len(r.Data)
	}
	k.records += len(in.Records)
	if cap(k.results) < len(in.Records) {
		k.results = make([]types.PutRecordsResultEntry, len(in.Records))
	}
	return &kinesis.PutRecordsOutput{Records: k.results[:len(in.Records)]}, nil
}

func BenchmarkCollect(b *testing.B) {
	for _, bc := range benchCases(b) {
		b.Run(bc.name, func(b *testing.B) {
			h, keys, _ := newHandler()
			for k, src := range keys.sources { // the benchmark measures the work, not the sources' rates
				src.RateLimit = 1 << 30
				keys.sources[k] = src
			}
			kin := &discardKinesis{}
			h.stream = beaconstream.New(kin, "bench")
			req := benchRequest(bc.path, bc.body)
			ctx := context.Background()
			resp, err := h.handle(ctx, req)
			if err != nil || resp.StatusCode != http.StatusOK || kin.records == 0 {
				b.Fatalf("the benchmark's request is not accepted: %d %s %v (%d records)", resp.StatusCode, resp.Body, err, kin.records)
			}
			perOp := kin.records
			measure(b, bc, func() {
				if resp, err := h.handle(ctx, req); err != nil || resp.StatusCode != http.StatusOK {
					b.Fatalf("%d %s %v", resp.StatusCode, resp.Body, err)
				}
			})
			if kin.records != perOp*(b.N+1) {
				b.Fatalf("stream got %d records, want %d", kin.records, perOp*(b.N+1))
			}
		})
	}
}

// BenchmarkJSONFloor is the floor BenchmarkCollect is compared with: encoding/json decoding the
// same bytes into beacon.Event and encoding them again.
func BenchmarkJSONFloor(b *testing.B) {
	for _, bc := range benchCases(b) {
		b.Run(bc.name, func(b *testing.B) {
			body := bc.body
			measure(b, bc, func() {
				if bc.events == 1 {
					var e beacon.Event
					if err := json.Unmarshal(body, &e); err != nil {
						b.Fatal(err)
					}
					if _, err := json.Marshal(e); err != nil {
						b.Fatal(err)
					}
					return
				}
				var batch struct {
					Batch []beacon.Event `json:"batch"`
				}
				if err := json.Unmarshal(body, &batch); err != nil || len(batch.Batch) != bc.events {
					b.Fatalf("decode batch: %v (%d events)", err, len(batch.Batch))
				}
				if _, err := json.Marshal(batch.Batch); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// measure runs op b.N times and reports, beside ns/op, B/op and allocs/op, the figures per event:
// events/s (per core when run with GOMAXPROCS=1), ns/event and allocs/event.
func measure(b *testing.B, bc benchCase, op func()) {
	b.SetBytes(int64(len(bc.body)))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for range b.N {
		op()
	}
	b.StopTimer()
	runtime.ReadMemStats(&after)
	n := float64(b.N * bc.events)
	b.ReportMetric(n/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/event")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/n, "allocs/event")
}

// BenchmarkInvoke measures what the collect process does per invocation beyond the handler: the
// Lambda runtime's decoding of the API Gateway event (payload format 2.0, made by the local host's
// HTTP API from a browser's request) and encoding of the response (the invocation handler main
// gives the runtime), and the real Kinesis client (request encoding with base64 data, signing,
// retries, response decoding) against a loopback server that answers PutRecords like Kinesis. The
// server's own work is in the figure too, though small: it counts the records and answers.
func BenchmarkInvoke(b *testing.B) {
	for _, bc := range benchCases(b) {
		b.Run(bc.name, func(b *testing.B) {
			h, keys, _ := newHandler()
			for k, src := range keys.sources {
				src.RateLimit = 1 << 30
				keys.sources[k] = src
			}
			srv := httptest.NewServer(putRecordsServer())
			defer srv.Close()
			h.stream = beaconstream.New(localaws.Endpoints{Kinesis: srv.URL}.KinesisClient(), "bench")
			api, err := httpapi.New(nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080"+bc.path, nil)
			r.Header.Set("Content-Type", "text/plain")
			r.Header.Set("Authorization", basic(browserKey))
			r.Header.Set("Origin", benchevent.Origin)
			r.Header.Set("User-Agent", benchevent.UserAgent)
			payload, err := json.Marshal(api.Event(r, bc.body, "POST "+bc.path, nil, "bench-request"))
			if err != nil {
				b.Fatal(err)
			}
			inv := invocations(h)
			ctx := context.Background()
			check := func(out []byte, err error) {
				if err != nil || !bytes.Contains(out, []byte(`"statusCode":200`)) {
					b.Fatalf("the benchmark's request is not accepted: %s %v", out, err)
				}
			}
			check(inv.Invoke(ctx, payload))
			measure(b, bc, func() { check(inv.Invoke(ctx, payload)) })
		})
	}
}

// putRecordsServer answers a Kinesis PutRecords call with success for each of its records. It
// reads into one buffer, so that its own allocations do not weigh on the figures.
func putRecordsServer() http.HandlerFunc {
	var (
		mu   sync.Mutex
		body bytes.Buffer
	)
	return func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		body.Reset()
		if _, err := body.ReadFrom(r.Body); err != nil || r.Header.Get("X-Amz-Target") != "Kinesis_20131202.PutRecords" {
			http.Error(w, `{"__type":"ValidationException"}`, http.StatusBadRequest)
			return
		}
		answerPutRecords(w, bytes.Count(body.Bytes(), []byte(`"PartitionKey":`)))
	}
}

func answerPutRecords(w http.ResponseWriter, n int) {
	var out bytes.Buffer
	out.WriteString(`{"FailedRecordCount":0,"Records":[`)
	for i := range n {
		if i > 0 {
			out.WriteByte(',')
		}
		fmt.Fprintf(&out, `{"SequenceNumber":"%d","ShardId":"shardId-000000000000"}`, i)
	}
	out.WriteString(`]}`)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_, _ = w.Write(out.Bytes())
}
