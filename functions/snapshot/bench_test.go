package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// population makes n profiles of a shop: every one with two anonymous ids and a few traits and
// counts; three in ten logged in (a user id, a hashed email, a marketing consent, a score) and one
// in ten with a profile merged in. Ids are random hex, as recording makes them.
func population(n int) []recording.Record {
	rng := rand.New(rand.NewPCG(1, 2))
	hex := func(bytes int) string {
		const digits = "0123456789abcdef"
		b := make([]byte, 2*bytes)
		for i := range b {
			b[i] = digits[rng.IntN(16)]
		}
		return string(b)
	}
	at := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	out := make([]recording.Record, n)
	for i := range out {
		seen := at.Add(-time.Duration(rng.IntN(90*24)) * time.Hour)
		p := profile.Profile{
			ID: "prf_" + hex(12), AnonymousIDs: []string{hex(16), hex(16)}, FirstSeen: seen.Add(-240 * time.Hour), LastSeen: seen, UpdatedAt: seen,
			Traits: map[string]any{"locale": "en-GB", "plan": []string{"free", "gold"}[rng.IntN(2)]},
			Counts: profile.Counts{Events: 5 + rng.IntN(200), PageViews: 3 + rng.IntN(120)},
		}
		var claimed []identity.ID
		if rng.IntN(10) < 3 {
			p.UserID = fmt.Sprintf("u-%07d", i)
			email, _ := identity.NewID(identity.EmailSHA256, hex(32))
			claimed = append(claimed, email)
			p.Consent = map[string]profile.Consent{profile.PurposeMarketing: {Granted: true, At: seen}}
			p.Score = &profile.Score{ScoredAt: at, RFM: &profile.RFMScore{Segment: "Loyal", Score: 445}, Value: &profile.Value{PAlive: 0.8, CLV: 120.5},
				Lapse: &profile.LapseRisk{Risk: 0.2}}
		}
		if rng.IntN(10) == 0 {
			p.MergedFrom = []string{"prf_" + hex(12)}
		}
		out[i] = recording.Record{Profile: p, Claimed: claimed}
	}
	return out
}

// BenchmarkRows turns profiles into the snapshot's rows and writes them as a part does (files of
// the default sizes, put nowhere), and reports the CPU of it per profile and the Parquet bytes per
// profile and per identifier written. Reading the profiles from DynamoDB is not in it (score's
// README measures that: 119 µs of CPU per profile).
//
//	GOMAXPROCS=1 go test -run '^$' -bench Rows -benchtime 50000x -count 3 ./functions/snapshot
func BenchmarkRows(b *testing.B) {
	ctx := context.Background()
	recs := population(b.N)
	bytes := map[string]int64{}
	put := func(_ context.Context, key string, body []byte) error {
		t, _, _, _ := archive.ParseKey(key)
		bytes[t.Name] += int64(len(body))
		return nil
	}
	profiles := newSink[archive.Profile](profilesTable, "2026-12-07", 0, 1, defaultSizing.FileRows, put)
	ids := newSink[archive.Identifier](identifiersTable, "2026-12-07", 0, 1, defaultSizing.FileRows*fileRowsFactor, put)
	merges := newSink[archive.Merge](mergesTable, "2026-12-07", 0, 1, defaultSizing.FileRows*fileRowsFactor, put)
	b.ResetTimer()
	for i := range b.N {
		p, is, ms := profileRows(recs[i])
		if err := profiles.add(ctx, p); err != nil {
			b.Fatal(err)
		}
		if err := ids.add(ctx, is...); err != nil {
			b.Fatal(err)
		}
		if err := merges.add(ctx, ms...); err != nil {
			b.Fatal(err)
		}
	}
	for _, s := range []finisher{profiles, ids, merges} {
		if err := s.flush(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	_, _, idRows := ids.written()
	b.ReportMetric(float64(bytes[archive.ProfilesTable])/float64(b.N), "profileBytes/profile")
	b.ReportMetric(float64(bytes[archive.IdentifiersTable])/float64(idRows), "bytes/identifier")
	b.ReportMetric(float64(idRows)/float64(b.N), "identifiers/profile")
}
