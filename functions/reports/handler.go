package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/attribution"
	"github.com/dcrm-project/dcrm/shared/importing"
	"github.com/dcrm-project/dcrm/shared/journey"
	"github.com/dcrm-project/dcrm/shared/objectstore"
	"github.com/dcrm-project/dcrm/shared/report"
	"github.com/dcrm-project/dcrm/shared/schedule"
)

// bucket is the reports bucket: the goals and the latest report read, the reports written.
type bucket interface {
	Get(ctx context.Context, key string) ([]byte, error) // objectstore.ErrNotFound when there is none
	Put(ctx context.Context, key string, body []byte) error
}

// spendPrefix is where the import keeps the spend it read (functions/import: SpendKey).
const spendPrefix = "spend/"

type handler struct {
	archive journey.Store // the archive bucket: events, snapshots, spend
	reports bucket
	days    int    // the days a scheduled report covers (topology.SettingReportDays)
	tempDir string // where a large build spills
	now     func() time.Time
	log     *slog.Logger
}

// summary is what a run returns.
type summary struct {
	Period      string  `json:"period"`
	People      int     `json:"people"`
	Conversions int     `json:"conversions"`
	Events      int     `json:"events"` // archive rows read
	Latest      bool    `json:"latest"` // whether latest.json now names this period
	Seconds     float64 `json:"seconds"`
}

// handle computes the report of the days up to the one before the run's and keeps it.
func (h *handler) handle(ctx context.Context, raw json.RawMessage) (summary, error) {
	run, err := schedule.Parse(raw, topology.ReportsSchedule)
	if err != nil {
		return summary{}, err // a run of another schedule, or not a run: not retried into success
	}
	start := h.now()
	from, to := report.Window(run.Time, h.days)
	s, err := h.report(ctx, from, to)
	if err != nil {
		h.log.ErrorContext(ctx, "report failed", slog.String("period", report.Period(from, to)), slog.String("error", err.Error()))
		return summary{}, err
	}
	s.Seconds = h.now().Sub(start).Seconds()
	h.log.InfoContext(ctx, "report made", slog.String("period", s.Period), slog.Int("people", s.People),
		slog.Int("conversions", s.Conversions), slog.Int("events", s.Events), slog.Float64("seconds", s.Seconds))
	return s, nil
}

// report makes and keeps the report of the conversions of the days from..to.
func (h *handler) report(ctx context.Context, from, to string) (summary, error) {
	cfg, err := h.goals(ctx)
	if err != nil {
		return summary{}, err
	}
	since, _ := time.Parse(time.DateOnly, from)
	last, _ := time.Parse(time.DateOnly, to)
	until := last.Add(24*time.Hour - time.Millisecond)
	merges, err := journey.ReadMerges(ctx, h.archive)
	if err != nil {
		return summary{}, fmt.Errorf("read merges: %w", err)
	}
	profiles, err := journey.ReadProfiles(ctx, h.archive)
	if err != nil {
		return summary{}, fmt.Errorf("read profiles: %w", err)
	}
	b, err := journey.NewBuilder(cfg, merges, journey.Options{Since: since, Until: until, TempDir: h.tempDir})
	if err != nil {
		return summary{}, err
	}
	defer b.Close()
	lookback := cfg.LookbackOrDefault()
	if err := journey.ReadEvents(ctx, h.archive, journey.DaysOf(since, until, lookback), b.Add); err != nil {
		return summary{}, fmt.Errorf("read events: %w", err)
	}
	r := report.New(cfg, report.Options{From: from, To: to, Lookback: lookback}, profiles)
	if err := b.Build(func(p *journey.Person) error { r.Add(p); return nil }); err != nil {
		return summary{}, fmt.Errorf("build journeys: %w", err)
	}
	spend, err := h.spend(ctx)
	if err != nil {
		return summary{}, err
	}
	rep, err := r.Finish(spend, h.now())
	if err != nil {
		return summary{}, err
	}
	latest, err := h.keep(ctx, rep)
	if err != nil {
		return summary{}, err
	}
	return summary{Period: rep.Manifest.Period, People: rep.Manifest.People, Conversions: rep.Manifest.Conversions,
		Events: b.Stats().Rows, Latest: latest}, nil
}

// goals reads the configured goals (topology.GoalsKey in the reports bucket), or the defaults when there are none. A
// configuration that does not read fails the run, naming what is wrong: reports of goals nobody
// asked for would mislead.
func (h *handler) goals(ctx context.Context) (journey.Config, error) {
	body, err := h.reports.Get(ctx, topology.GoalsKey)
	if errors.Is(err, objectstore.ErrNotFound) {
		return journey.DefaultConfig(), nil
	}
	if err != nil {
		return journey.Config{}, fmt.Errorf("read %s: %w", topology.GoalsKey, err)
	}
	cfg, err := journey.ParseConfig(body)
	if err != nil {
		return journey.Config{}, fmt.Errorf("%s: %w", topology.GoalsKey, err)
	}
	return cfg, nil
}

// spend reads every spend file the import wrote; report.Finish counts the period's days.
func (h *handler) spend(ctx context.Context) ([]attribution.Spend, error) {
	keys, err := h.archive.List(ctx, spendPrefix)
	if err != nil {
		return nil, fmt.Errorf("list spend: %w", err)
	}
	var out []attribution.Spend
	for _, key := range keys {
		body, err := h.archive.Get(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("get %s: %w", key, err)
		}
		records, err := importing.ReadSpend(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		for _, r := range records {
			out = append(out, attribution.Spend{Date: r.Date, Channel: r.Channel, Campaign: cmp.Or(r.CampaignName, r.CampaignID),
				Cost: r.Cost, Currency: r.Currency})
		}
	}
	return out, nil
}

// keep writes the report's parts, the manifest last (the routes list reports by it), then names
// the period in latest.json unless a later period is already there (a report made again for an
// earlier period does not move it back). It says whether latest.json names the period.
func (h *handler) keep(ctx context.Context, rep report.Report) (bool, error) {
	folder := topology.ReportsPrefix + rep.Manifest.Period + "/"
	parts := map[string]func() ([]byte, error){
		report.AttributionPart:    func() ([]byte, error) { return report.JSON(rep.Attribution) },
		report.AttributionCSVPart: writer(rep.WriteAttributionCSV),
		report.JourneysPart:       func() ([]byte, error) { return report.JSON(rep.Journeys) },
		report.PathsCSVPart:       writer(rep.WritePathsCSV),
		report.FunnelCSVPart:      writer(rep.WriteFunnelCSV),
		report.PicturePart:        writer(rep.WritePicture),
		report.ManifestPart:       func() ([]byte, error) { return report.JSON(rep.Manifest) },
	}
	for _, part := range append(report.Parts[1:], report.Parts[0]) {
		body, err := parts[part]()
		if err != nil {
			return false, fmt.Errorf("make %s: %w", part, err)
		}
		if err := h.reports.Put(ctx, folder+part, body); err != nil {
			return false, fmt.Errorf("put %s: %w", folder+part, err)
		}
	}
	latestKey := topology.ReportsPrefix + report.LatestKey
	var current report.Latest
	switch body, err := h.reports.Get(ctx, latestKey); {
	case errors.Is(err, objectstore.ErrNotFound):
	case err != nil:
		return false, fmt.Errorf("read %s: %w", latestKey, err)
	default:
		if json.Unmarshal(body, &current) == nil {
			if _, to, err := report.ParsePeriod(current.Period); err == nil && to > rep.Manifest.To {
				return false, nil
			}
		}
	}
	body, err := report.JSON(report.Latest{Period: rep.Manifest.Period})
	if err != nil {
		return false, err
	}
	if err := h.reports.Put(ctx, latestKey, body); err != nil {
		return false, fmt.Errorf("put %s: %w", latestKey, err)
	}
	return true, nil
}

// writer turns a part's writer into its bytes.
func writer(write func(io.Writer) error) func() ([]byte, error) {
	return func() ([]byte, error) {
		var b bytes.Buffer
		err := write(&b)
		return b.Bytes(), err
	}
}
