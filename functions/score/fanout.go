package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/dcrm-project/dcrm/shared/fanout"
	"github.com/dcrm-project/dcrm/shared/scoring"
)

// Fan-out.
//
// An hourly run plans its parts (fanout.Plan): the table's item count over DCRM_SCORE_PART
// profiles per part (at least 1, at most fanout.MaxParts). Each part is Segments consecutive
// segments of a parallel scan of parts × Segments segments, so the parts together cover every
// segment exactly once. One
// part is scored in the planner's own invocation; more are sent to this same function as
// asynchronous invocations (Lambda's Invoke API, invocation type Event), one each. Lambda retries a
// failed asynchronous invocation twice; scoring a part again is harmless (the same figures as of
// the same time, alerts recorded once per crossing).

// run is an hourly run: the models (fitted first when there are none yet, right after a
// deployment), the plan, and the parts scored here (one) or sent out (more).
func (h *handler) run(ctx context.Context, asOf time.Time) (summary, error) {
	sum := summary{Mode: "score", AsOf: asOf}
	m, err := h.modelsNow(ctx)
	if err != nil {
		return sum, err
	}
	if m == nil {
		fitted, err := h.fit(ctx, asOf)
		if err != nil {
			return sum, fmt.Errorf("fit the first models: %w", err)
		}
		sum.FirstFit = fitted.Fit
		if m, err = h.modelsNow(ctx); err != nil {
			return sum, err
		}
	}
	if m != nil {
		sum.ModelVersion = m.Version
	}
	count, err := h.store.CountProfiles(ctx)
	if err != nil {
		return sum, err
	}
	m = m.WithPopulation(count) // look-alike ranks are among the profiles this run counts
	parts := fanout.Plan(count, h.size.PartSize, h.size.Segments, asOf)
	sum.Parts = len(parts)
	if len(parts) == 1 || h.parts == nil {
		if len(parts) > 1 {
			h.log.WarnContext(ctx, "no way to fan out: scoring every part here", slog.Int("parts", len(parts)))
		}
		var c counters
		aud := h.audiencesNow(ctx)
		for _, p := range parts {
			segs, total := p.ScanSegments()
			if err := h.scoreSegmentsWith(ctx, aud, segs, total, m, asOf, &c); err != nil {
				c.into(&sum)
				return sum, fmt.Errorf("score profiles: %w", err)
			}
			h.recordSizes(ctx, aud, &c, asOf, p.Index, len(parts))
		}
		c.into(&sum)
		h.log.InfoContext(ctx, "profiles scored", summaryAttrs(sum)...)
		return sum, nil
	}
	if err := fanout.Send(ctx, h.parts, parts); err != nil {
		return sum, err
	}
	h.log.InfoContext(ctx, "run planned", slog.Time("asOf", asOf), slog.Int64("profiles", count), slog.Int("parts", len(parts)))
	return sum, nil
}

// scorePart scores one part of a run with the current models.
func (h *handler) scorePart(ctx context.Context, p fanout.Part) (summary, error) {
	sum := summary{Mode: "part", AsOf: p.AsOf, Parts: p.Parts}
	if err := p.Valid(); err != nil {
		return sum, err
	}
	m, err := h.modelsNow(ctx)
	if err != nil {
		return sum, err
	}
	if m != nil {
		sum.ModelVersion = m.Version
		m = h.partPopulation(ctx, m)
	}
	var c counters
	segs, total := p.ScanSegments()
	aud := h.audiencesNow(ctx)
	err = h.scoreSegmentsWith(ctx, aud, segs, total, m, p.AsOf.UTC(), &c)
	c.into(&sum)
	if err != nil {
		return sum, fmt.Errorf("score part %d of %d: %w", p.Index, p.Parts, err)
	}
	h.recordSizes(ctx, aud, &c, p.AsOf.UTC(), p.Index, p.Parts)
	h.log.InfoContext(ctx, "part scored", append(summaryAttrs(sum), slog.Int("part", p.Index))...)
	return sum, nil
}

// partPopulation is the models with the number of profiles a part ranks look-alikes among: the
// count the part reads itself (fanout.Part does not carry the planner's, and the count is one
// DescribeTable away; DynamoDB recounts about every six hours, so every part of a run reads the
// planner's figure but for a recount in between, a few hours' growth, far under the ranks' sampling
// error). Should it fail, the count the fit read (kept with the models) serves, rather than failing
// the part or dropping the ranks.
func (h *handler) partPopulation(ctx context.Context, m *scoring.Models) *scoring.Models {
	count, err := h.store.CountProfiles(ctx)
	if err != nil {
		h.log.WarnContext(ctx, "profiles not counted: look-alike ranks among the fit's count", slog.Int64("population", m.Population),
			slog.String("error", err.Error()))
		return m
	}
	return m.WithPopulation(count)
}

func summaryAttrs(s summary) []any {
	return []any{slog.String("mode", s.Mode), slog.Time("asOf", s.AsOf), slog.Int("modelVersion", s.ModelVersion),
		slog.Int64("scored", s.Scored), slog.Int64("written", s.Written), slog.Int64("skipped", s.Skipped),
		slog.Int64("partial", s.Partial), slog.Int64("failed", s.Failed), slog.Int64("alertsSent", s.AlertsSent)}
}
