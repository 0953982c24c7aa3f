package journey

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/archive"
)

// BenchmarkBuildFromRows builds the journeys of 10,000 synthetic people (131,579 rows:
// sessions, funnel events, orders, email opens) from archive rows held in memory, with the
// default goals and funnel, and reports paths (journeys) and rows per second.
func BenchmarkBuildFromRows(b *testing.B) {
	in := syntheticRows(10_000, 1)
	benchBuild(b, in, Options{}, func(fn func(archive.Event) error) error {
		for _, e := range in {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	})
}

// BenchmarkBuildFromFiles does the same from the archive's Parquet files (zstd, written by
// archive.NewWriter with the archive's options, one per day), read with ReadEvents.
func BenchmarkBuildFromFiles(b *testing.B) {
	in := syntheticRows(10_000, 1)
	s := FSStore{FS: writeArchiveWith(b, archive.Options{}, in, nil, "")}
	benchBuild(b, in, Options{}, func(fn func(archive.Event) error) error {
		return ReadEvents(context.Background(), s, Days{}, fn)
	})
}

// BenchmarkBuildSpilled keeps at most 20,000 rows in memory, the rest in temporary files.
func BenchmarkBuildSpilled(b *testing.B) {
	in := syntheticRows(10_000, 1)
	dir := b.TempDir()
	benchBuild(b, in, Options{MemoryHits: 20_000, TempDir: dir}, func(fn func(archive.Event) error) error {
		for _, e := range in {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	})
}

func benchBuild(b *testing.B, in []archive.Event, opts Options, read func(func(archive.Event) error) error) {
	b.ReportAllocs()
	journeys := 0
	for b.Loop() {
		bd, err := NewBuilder(DefaultConfig(), nil, opts)
		require.NoError(b, err)
		require.NoError(b, read(bd.Add))
		journeys = 0
		require.NoError(b, bd.Build(func(p *Person) error {
			journeys += len(p.Journeys)
			return nil
		}))
	}
	s := b.Elapsed().Seconds() / float64(b.N)
	b.ReportMetric(float64(journeys)/s, "paths/s")
	b.ReportMetric(float64(len(in))/s, "rows/s")
	b.ReportMetric(float64(journeys), "paths")
}
