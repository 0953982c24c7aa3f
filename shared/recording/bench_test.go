package recording_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/memstore"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/recording/recordingtest"
)

// BenchmarkRecordAudiences is what keeping audiences and computed traits costs recording: batches
// of 100 events (page views, product views with properties, basket adds, an order) on 25 returning
// customers, on the in-memory store, with no definitions, then with the 50 audiences of
// shared/audience's benchmark set and 20 computed traits. The difference per event is the
// evaluation's share of stitch's CPU (the store's I/O is the same either way).
func BenchmarkRecordAudiences(b *testing.B) {
	raw, err := os.ReadFile("../audience/testdata/benchmark.json")
	if err != nil {
		b.Fatal(err)
	}
	var docs []json.RawMessage
	if err := json.Unmarshal(raw, &docs); err != nil {
		b.Fatal(err)
	}
	audiences := make([]string, len(docs))
	for i, d := range docs {
		audiences[i] = string(d)
	}
	var traits []string
	for i := range 20 {
		agg, prop := []string{"count", "sum", "unique", "mostFrequent", "last"}[i%5], `"property": "price", `
		if agg == "count" {
			prop = ""
		} else if agg != "sum" {
			prop = `"property": "category", `
		}
		traits = append(traits, fmt.Sprintf(`{"id": "t%d", "name": "t", "event": "Product Viewed", "aggregate": %q, %s"within": "%dd"}`, i, agg, prop, 7+i))
	}
	for _, tc := range []struct {
		name           string
		audiences, cts []string
	}{{"none", nil, nil}, {"50-audiences", audiences, nil}, {"50-audiences-20-traits", audiences, traits}} {
		b.Run(tc.name, func(b *testing.B) {
			defs := &recordingtest.Definitions{}
			var opts []recording.Option
			if tc.audiences != nil {
				defs.DefineTraits(&testing.T{}, tc.cts...)
				defs.Define(&testing.T{}, tc.audiences...)
				opts = append(opts, recording.WithAudiences(defs, &recordingtest.Announced{}))
			}
			now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			e := recording.New(memstore.New(), append(opts, recording.WithClock(func() time.Time { return now }))...)
			ctx := context.Background()
			n := 0
			batch := func() []recording.Input {
				in := make([]recording.Input, 100)
				for i := range in {
					n++
					a := profile.Activity{MessageID: fmt.Sprintf("m%d", n), AnonymousID: fmt.Sprintf("a-%d", i%25), At: now.Add(-time.Duration(100-i) * time.Second)}
					var props json.RawMessage
					switch i % 10 {
					case 0, 1, 2, 3:
						a.Type, a.Page = beacon.Page, "/p"
					case 9:
						a.Type, a.Event, a.OrderID, a.Revenue = beacon.Track, "Order Completed", fmt.Sprintf("o%d", n), 40
					default:
						a.Type, a.Event = beacon.Track, "Product Viewed"
						props = json.RawMessage(fmt.Sprintf(`{"category": "c%d", "price": %d}`, n%7, n%50))
					}
					in[i] = recording.Input{Activity: a, Claims: recording.Claims{Properties: props}}
				}
				return in
			}
			for range 5 { // returning customers: history, orders, counted events
				for _, o := range e.RecordAll(ctx, batch()) {
					if o.Err != nil {
						b.Fatal(o.Err)
					}
				}
			}
			b.ResetTimer()
			for range b.N {
				for _, o := range e.RecordAll(ctx, batch()) {
					if o.Err != nil {
						b.Fatal(o.Err)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*100), "µs/event")
			// What the definitions add to a profile item (DynamoDB bills a write by the item's
			// size): memberships, counted event times (profilestore keeps each in a few bytes) and
			// the computed traits' states (JSON, as kept).
			p, err := e.Lookup(ctx, identity.AnonymousID("a-0"))
			if err != nil {
				b.Fatal(err)
			}
			times, states := 0, 0
			for _, ts := range p.EventTimes {
				times += len(ts)
			}
			for _, raw := range p.Computed {
				states += len(raw)
			}
			b.ReportMetric(float64(len(p.Audiences)), "memberships")
			b.ReportMetric(float64(times), "counted-times")
			b.ReportMetric(float64(states), "trait-state-bytes")
		})
	}
}
