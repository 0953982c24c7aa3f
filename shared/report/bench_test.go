package report

import (
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/journey"
)

// BenchmarkReport is what the report adds to the journeys' build: every person's journeys added
// to the three segment reports and the two levels' paths, then every model run at both levels
// (Finish). 20,000 people of the test shop (~60,000 sessions, ~15,000 orders); people per second.
func BenchmarkReport(b *testing.B) {
	rows, profiles := shop(9, 20_000)
	cfg := journey.DefaultConfig()
	opts := Options{From: "2026-11-01", To: "2026-11-30", Lookback: cfg.LookbackOrDefault()}
	since, _ := time.Parse(time.DateOnly, opts.From)
	jb, err := journey.NewBuilder(cfg, nil, journey.Options{Since: since, Until: since.AddDate(0, 0, 30).Add(-time.Millisecond)})
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range rows {
		if err := jb.Add(r); err != nil {
			b.Fatal(err)
		}
	}
	people, err := jb.Collect()
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		r := New(cfg, opts, profiles)
		for i := range people {
			r.Add(&people[i])
		}
		if _, err := r.Finish(nil, since); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(people)*b.N)/b.Elapsed().Seconds(), "people/s")
}
