package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dcrm-project/dcrm/shared/audience"
	"github.com/dcrm-project/dcrm/shared/audiencestore"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/scoring"
)

// fitSummary is what a fit did.
type fitSummary struct {
	Version  int          `json:"version"`
	FittedAt time.Time    `json:"fittedAt"`
	Sample   scoring.Size `json:"sample"`
	Notes    []string     `json:"notes,omitempty"`
	Replayed bool         `json:"replayed,omitempty"` // the models of this time were fitted before: nothing done
}

// maxReadFactor bounds the profiles a fit reads: this many times the sample size. A site where
// fewer than 1 visitor in 50 buys gets fewer buyers than the sample size rather than a longer read.
const maxReadFactor = 50

// fit reads a sample of the profiles and fits the models on it; a model that cannot be fitted
// keeps the previous fit (the notes, logged and returned, say which and why). A retried fit of the
// same time changes nothing.
func (h *handler) fit(ctx context.Context, asOf time.Time) (summary, error) {
	sum := summary{Mode: "fit", AsOf: asOf}
	version, err := h.models.Version(ctx, modelName)
	if err != nil {
		return sum, err
	}
	var prev *scoring.Models
	if version > 0 {
		var m scoring.Models
		if _, err := h.models.Load(ctx, modelName, &m); err != nil && !errors.Is(err, profilestore.ErrNoModels) {
			h.log.WarnContext(ctx, "previous models unreadable: fitting afresh", slog.String("error", err.Error()))
		} else if err := m.Validate(); err != nil {
			h.log.WarnContext(ctx, "previous models invalid: fitting afresh", slog.String("error", err.Error()))
		} else {
			prev = &m
		}
	}
	if prev != nil && prev.FittedAt.Equal(asOf) {
		sum.ModelVersion = prev.Version
		sum.Fit = &fitSummary{Version: prev.Version, FittedAt: prev.FittedAt, Sample: prev.Sample, Notes: prev.Notes, Replayed: true}
		return sum, nil
	}

	started := time.Now()
	seeds, err := h.seeds(ctx)
	if err != nil {
		return sum, err
	}
	sample, err := h.sample(ctx, asOf, seeds)
	if err != nil {
		return sum, fmt.Errorf("sample profiles: %w", err)
	}
	m := h.cfg.Fit(sample, asOf, prev)
	m.Version = version + 1
	err = h.models.Save(ctx, modelName, m, profilestore.ModelInfo{Version: m.Version, FittedAt: asOf, Sample: sample.Read})
	if err != nil {
		return sum, err
	}
	sum.ModelVersion = m.Version
	sum.Fit = &fitSummary{Version: m.Version, FittedAt: asOf, Sample: m.Sample, Notes: m.Notes}
	attrs := []any{slog.Int("version", m.Version), slog.Time("asOf", asOf), slog.Int("read", m.Sample.Read),
		slog.Int("buyers", m.Sample.Buyers), slog.Int("repeatBuyers", m.Sample.RepeatBuyers), slog.Int("visitors", m.Sample.Visitors),
		slog.Duration("took", time.Since(started))}
	for _, n := range m.Notes {
		h.log.WarnContext(ctx, "models: "+n, slog.Int("version", m.Version))
	}
	h.log.InfoContext(ctx, "models fitted", attrs...)
	return sum, nil
}

// audienceLister lists the audience definitions (audiencestore.Store).
type audienceLister interface {
	List(ctx context.Context) ([]audiencestore.Stored, error)
}

// seeds are the audiences a rule reads a look-alike score of (scoring.Seeds). Without them the
// fit cannot keep the look-alike models, so an unreadable table fails the fit (retried) rather
// than dropping every model.
func (h *handler) seeds(ctx context.Context) ([]audience.Definition, error) {
	if h.audiences == nil {
		return nil, nil
	}
	stored, err := h.audiences.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the audience definitions: %w", err)
	}
	defs := make([]audience.Definition, len(stored))
	for i, s := range stored {
		defs[i] = s.Definition
	}
	return scoring.Seeds(defs), nil
}

// sample reads a bounded random sample of the live profiles: about FitSample buyers and FitSample
// visitors, reading at most maxReadFactor × FitSample profiles, every profile read counted in the
// co-occurrence tally.
//
// The table is cut into parallel-scan segments of about FitSegment profiles (by its item count),
// which are read whole, FitReaders at a time, in a random order seeded by asOf, until the quotas
// are met; the sample is then the segments in that order up to the one that meets both quotas,
// cut to the quotas. DynamoDB hashes partition keys into segments and returns a segment's items in
// hash order, and profile ids are random, so both the segments and the order within them are
// unrelated to what the profiles hold: the sample is a uniform random one, and a retry of the same
// fit reads the same profiles (unless the read bound stops it first). Should the item count be
// stale (DynamoDB recounts every six hours) the segments are merely larger or smaller than meant.
func (h *handler) sample(ctx context.Context, asOf time.Time, seeds []audience.Definition) (scoring.Sample, error) {
	count, err := h.store.CountProfiles(ctx)
	if err != nil {
		return scoring.Sample{}, err
	}
	readers := max(h.size.FitReaders, 1)
	total := readers
	if seg := int64(max(h.size.FitSegment, 1)); count/seg > int64(total) {
		total = int(min(count/seg, 1_000_000))
	}
	order := rand.New(rand.NewPCG(uint64(asOf.Unix()), uint64(total))).Perm(total)
	quota, maxRead := h.size.FitSample, int64(h.size.FitSample)*maxReadFactor

	var next, read, buyers, visitors, unreadable atomic.Int64
	enough := func() bool {
		return read.Load() >= maxRead || buyers.Load() >= int64(quota) && visitors.Load() >= int64(quota)
	}
	var mu sync.Mutex
	parts := map[int64]*scoring.Sample{} // by rank in the order
	errs := make([]error, readers)
	var wg sync.WaitGroup
	for r := range readers {
		wg.Go(func() {
			for !enough() {
				i := next.Add(1) - 1
				if i >= int64(total) {
					return
				}
				s := &scoring.Sample{Seeds: seeds}
				mu.Lock()
				parts[i] = s
				mu.Unlock()
				errs[r] = h.store.ScanSegment(ctx, order[i], total, func(_ context.Context, p profile.Profile) (bool, error) {
					if read.Add(1) > maxRead {
						return false, nil
					}
					s.Count(p)
					switch scoring.KindOf(p) {
					case scoring.Buyer:
						if s.AddBuyer(p, asOf) == nil {
							buyers.Add(1)
						}
					case scoring.Visitor:
						if s.AddVisitor(p, asOf) == nil {
							visitors.Add(1)
						}
					}
					return true, nil
				}, func(id string, err error) {
					if unreadable.Add(1) <= maxLogged {
						h.log.WarnContext(ctx, "profile left out of the fit's sample", slog.String("profileId", id), slog.String("reason", err.Error()))
					}
				})
				if errs[r] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return scoring.Sample{}, err
	}
	var all scoring.Sample
	for i := range min(next.Load(), int64(total)) {
		if len(all.Customers) >= quota && len(all.Visitors) >= quota {
			break
		}
		all.Merge(*parts[i])
	}
	all.Population = count // the models keep it: what ranks are among when a run cannot count
	n := min(len(all.Customers), quota)
	all.Customers, all.Histories, all.Visitors = all.Customers[:n], all.Histories[:n], all.Visitors[:min(len(all.Visitors), quota)]
	return all, nil
}
