package archive

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// syntheticRows fills rows with events from, the n-th onwards, of a few hundred visitors, each with its own
// ids and times (fullEvent's columns), for the writer's benchmark.
func syntheticRows(rows []Event, from int) {
	base := FromEvent(fullEvent(), "")
	for j := range rows {
		i := from + j
		r := base
		r.MessageID = fmt.Sprintf("m-%08d", i)
		r.AnonymousID = fmt.Sprintf("a-%04d", i%500)
		r.ProfileID = fmt.Sprintf("p-%04d", i%400)
		r.Timestamp = base.Timestamp.Truncate(24 * time.Hour).Add(time.Duration(i) * 80 * time.Millisecond)
		r.ReceivedAt = r.Timestamp.Add(time.Second)
		r.Properties = fmt.Sprintf(`{"product_id":"sku-%d","price":%d.99,"url":"https://shop.example/p/%d"}`, i%300, i%90, i%300)
		rows[j] = r
	}
}

// BenchmarkWriteEvents writes 200,000 events into one partition, 10,000 at a time, and reports
// events per second, compressed bytes per event and the writer's peak heap (live heap sampled after every
// 10,000 rows, less the heap before the write), for the default row group and for one unbounded
// group. The synthetic rows repeat more than real ones, so bytes/event is lower than on the
// replayed sets (TestBytesPerEvent).
// `go test -run - -bench WriteEvents -benchtime 1x ./shared/archive`.
func BenchmarkWriteEvents(b *testing.B) {
	const total = 200_000
	chunk := make([]Event, 10_000)
	for _, groupRows := range []int{DefaultRowGroupRows, total} {
		b.Run(fmt.Sprintf("rowgroup=%d", groupRows), func(b *testing.B) {
			var size int
			var peak uint64
			var ms runtime.MemStats
			for range b.N {
				runtime.GC()
				runtime.ReadMemStats(&ms)
				before := ms.HeapInuse
				w := NewWriter[Event](Tables[0], Options{RowGroupRows: groupRows})
				for i := 0; i < total; i += len(chunk) {
					syntheticRows(chunk, i)
					if err := w.Write("2026-12-07", chunk...); err != nil {
						b.Fatal(err)
					}
					runtime.GC() // live memory only, not garbage awaiting collection
					runtime.ReadMemStats(&ms)
					peak = max(peak, ms.HeapInuse-min(before, ms.HeapInuse))
				}
				files, err := w.Flush()
				if err != nil {
					b.Fatal(err)
				}
				size = len(files[0].Body)
			}
			b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(size)/float64(total), "bytes/event")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}
