package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/schemas"
	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/journey"
	"github.com/dcrm-project/dcrm/shared/objectstore"
	"github.com/dcrm-project/dcrm/shared/report"
	"github.com/dcrm-project/dcrm/shared/schedule"
)

// memBucket is a bucket in memory, laid out as S3's keys.
type memBucket struct{ fs fstest.MapFS }

func (b memBucket) List(ctx context.Context, prefix string) ([]string, error) {
	return journey.FSStore{FS: b.fs}.List(ctx, prefix)
}

func (b memBucket) Get(_ context.Context, key string) ([]byte, error) {
	f, ok := b.fs[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, objectstore.ErrNotFound)
	}
	return f.Data, nil
}

func (b memBucket) Put(_ context.Context, key string, body []byte) error {
	b.fs[key] = &fstest.MapFile{Data: body}
	return nil
}

// archived writes rows as the archive function does.
func archived(t *testing.T, b memBucket, events []archive.Event, merges []archive.Merge) {
	t.Helper()
	table := func(name string) archive.Table { tb, ok := archive.TableNamed(name); require.True(t, ok); return tb }
	w := archive.NewWriter[archive.Event](table(archive.EventsTable), archive.Options{})
	require.NoError(t, archive.WriteEvents(w, events))
	files, err := w.Flush()
	require.NoError(t, err)
	mw := archive.NewWriter[archive.Merge](table(archive.MergesTable), archive.Options{})
	require.NoError(t, mw.Write("2026-12-01", merges...))
	mf, err := mw.Flush()
	require.NoError(t, err)
	for _, f := range append(files, mf...) {
		require.NoError(t, b.Put(context.Background(), f.Key, f.Body))
	}
}

func newHandler(archive, reports memBucket, days int) *handler {
	return &handler{archive: archive, reports: reports, days: days, tempDir: "", now: func() time.Time { return time.Date(2026, 12, 2, 0, 5, 0, 0, time.UTC) },
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

func TestRunKeepsEveryPartAndNamesTheLatest(t *testing.T) {
	ctx := context.Background()
	a, r := memBucket{fs: fstest.MapFS{}}, memBucket{fs: fstest.MapFS{}} // the archive and reports buckets
	day := func(d int, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, time.UTC) }
	archived(t, a, []archive.Event{
		// p1: email then paid search, orders 80; p2 (merged into p1 later) came by organic search first.
		{Type: "page", MessageID: "a", ProfileID: "p2", Timestamp: day(3, 9), Channel: "organic search"},
		{Type: "page", MessageID: "b", ProfileID: "p1", Timestamp: day(5, 9), Channel: "email", CampaignName: "spring"},
		{Type: "page", MessageID: "c", ProfileID: "p1", Timestamp: day(6, 9), Channel: "paid search"},
		{Type: "track", Event: "Order Completed", MessageID: "d", ProfileID: "p1", Timestamp: day(6, 10), Properties: `{"revenue": 80}`},
		// p3: direct, no order; an order on the last day of the month, after the period of 20 days.
		{Type: "page", MessageID: "e", ProfileID: "p3", Timestamp: day(7, 9), Channel: "direct"},
		{Type: "page", MessageID: "f", ProfileID: "p4", Timestamp: day(30, 9), Channel: "email"},
		{Type: "track", Event: "Order Completed", MessageID: "g", ProfileID: "p4", Timestamp: day(30, 10), Properties: `{"revenue": 20}`},
	}, []archive.Merge{{MergedID: "p2", ProfileID: "p1"}})
	require.NoError(t, a.Put(ctx, "spend/spend/november.csv.jsonl",
		[]byte(`{"date":"2026-11-05","channel":"Paid Search","cost":40,"currency":"EUR"}`+"\n")))
	h := newHandler(a, r, 20)

	raw := schedule.Payload(topology.ReportsSchedule, time.Date(2026, 11, 21, 0, 5, 0, 0, time.UTC))
	s, err := h.handle(ctx, raw)
	require.NoError(t, err)
	// p4's events, after the period, are not read; p2 is p1.
	require.Equal(t, summary{Period: "2026-11-01_2026-11-20", People: 2, Conversions: 1, Events: 5, Latest: true, Seconds: 0}, s)
	folder := topology.ReportsPrefix + s.Period + "/"
	for _, part := range report.Parts {
		require.Contains(t, r.fs, folder+part)
	}
	latest := r.fs[topology.ReportsPrefix+report.LatestKey].Data
	require.JSONEq(t, `{"period": "2026-11-01_2026-11-20"}`, string(latest))
	for part, schema := range map[string]string{
		report.ManifestPart: schemas.ReportManifest, report.AttributionPart: schemas.ReportAttribution, report.JourneysPart: schemas.ReportJourneys,
	} {
		require.NoError(t, schemas.ValidateFile(schema, r.fs[folder+part].Data), part)
	}
	rows, err := csv.NewReader(strings.NewReader(string(r.fs[folder+report.AttributionCSVPart].Data))).ReadAll()
	require.NoError(t, err)
	credited := map[string]string{}
	for _, r := range rows[1:] {
		if r[0] == "order" && r[1] == "channel" && r[2] == "first-touch" {
			credited[r[3]] = r[4] + " " + r[7] + " " + r[9]
		}
	}
	// The merged profile's first touch (organic search) is p1's: late merges land in the right path.
	require.Equal(t, map[string]string{"organic search": "1  ", "email": "0  ", "paid search": "0 40 0", "direct": "0  "}, credited,
		"conversions, spend, ROAS: p3's path (direct) did not convert; paid search cost 40 and earned nothing first")
	require.Contains(t, string(r.fs[folder+report.PicturePart].Data), "Attribution of order by channel")

	// A run for an earlier period does not move latest back; a later one does.
	_, err = h.handle(ctx, schedule.Payload(topology.ReportsSchedule, time.Date(2026, 11, 11, 0, 5, 0, 0, time.UTC)))
	require.NoError(t, err)
	require.Equal(t, latest, r.fs[topology.ReportsPrefix+report.LatestKey].Data)
	s, err = h.handle(ctx, schedule.Payload(topology.ReportsSchedule, time.Date(2026, 12, 1, 0, 5, 0, 0, time.UTC)))
	require.NoError(t, err)
	require.Equal(t, "2026-11-11_2026-11-30", s.Period)
	require.True(t, s.Latest)
	require.Equal(t, 1, s.Conversions, "p4's order on the 30th; p1's, on the 6th, is before the period")
	var manifests []string
	for k := range maps.Keys(r.fs) {
		if strings.HasSuffix(k, "/"+report.ManifestPart) {
			manifests = append(manifests, k)
		}
	}
	slices.Sort(manifests)
	require.Empty(t, slices.DeleteFunc(slices.Collect(maps.Keys(a.fs)), func(k string) bool {
		return strings.HasPrefix(k, "events/") || strings.HasPrefix(k, "merges/") || strings.HasPrefix(k, "spend/")
	}), "nothing written to the archive bucket")
	require.Equal(t, []string{"reports/2026-10-22_2026-11-10/manifest.json", "reports/2026-11-01_2026-11-20/manifest.json",
		"reports/2026-11-11_2026-11-30/manifest.json"}, manifests)
}

func TestGoalsComeFromTheBucket(t *testing.T) {
	ctx := context.Background()
	a, r := memBucket{fs: fstest.MapFS{}}, memBucket{fs: fstest.MapFS{}} // the archive and reports buckets
	archived(t, a, []archive.Event{
		{Type: "page", MessageID: "a", ProfileID: "p1", Timestamp: time.Date(2026, 11, 5, 9, 0, 0, 0, time.UTC), Channel: "email"},
		{Type: "track", Event: "Signed Up", MessageID: "b", ProfileID: "p1", Timestamp: time.Date(2026, 11, 5, 9, 5, 0, 0, time.UTC)},
	}, nil)
	require.NoError(t, r.Put(ctx, topology.GoalsKey, []byte(`{"goals": [{"name": "trial", "event": "Signed Up", "value": {"fixed": 30}}]}`)))
	h := newHandler(a, r, 30)
	s, err := h.handle(ctx, schedule.Payload(topology.ReportsSchedule, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)))
	require.NoError(t, err)
	var m report.Manifest
	require.NoError(t, json.Unmarshal(r.fs[topology.ReportsPrefix+s.Period+"/"+report.ManifestPart].Data, &m))
	require.Equal(t, []string{"trial"}, m.Goals)
	require.Equal(t, 1, m.Conversions)

	// A configuration that does not read fails the run and says why; nothing is written.
	require.NoError(t, r.Put(ctx, topology.GoalsKey, []byte(`{"goals": [{"name": "x", "event": "A", "page": "B"}]}`)))
	before := len(r.fs)
	_, err = h.handle(ctx, schedule.Payload(topology.ReportsSchedule, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)))
	require.ErrorContains(t, err, topology.GoalsKey)
	require.Len(t, r.fs, before)
}

func TestRefusesWhatIsNotARun(t *testing.T) {
	h := newHandler(memBucket{fs: fstest.MapFS{}}, memBucket{fs: fstest.MapFS{}}, 30)
	for _, raw := range []string{`{}`, `[]`, `{"schedule": "score", "time": "2026-12-01T00:00:00Z"}`, `{"schedule": "reports"}`} {
		_, err := h.handle(context.Background(), json.RawMessage(raw))
		require.ErrorIs(t, err, schedule.ErrInvalid, raw)
	}
}
