package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Fan-out.
//
// An hourly run plans its parts: the table's item count over DCRM_SCORE_PART profiles per part
// (at least 1, at most maxParts). Each part is Segments consecutive segments of a parallel scan of
// parts × Segments segments, so the parts together cover every segment exactly once (plan). One
// part is scored in the planner's own invocation; more are sent to this same function as
// asynchronous invocations (Lambda's Invoke API, invocation type Event), one each. Lambda retries a
// failed asynchronous invocation twice; scoring a part again is harmless (the same figures as of
// the same time, alerts recorded once per crossing).

// maxParts bounds a run's invocations: 1,000 parts of 4 segments stay far below DynamoDB's
// 1,000,000 scan segments, and 1,000 concurrent invocations is the default account concurrency.
const maxParts = 1000

// partEvent is what the planner of a run sends each part it does not score itself:
// {"part": {"index": 0, "parts": 4, "segments": 4, "asOf": "2025-03-15T12:00:00Z"}}.
type partEvent struct {
	Part part `json:"part"`
}

// readPart reads a part of a run. ok is false when raw is no part (no "part" field at the top), so
// the caller reads it as a scheduled run; a field partEvent does not have is an error. scorePart
// checks that the part is one of a run.
func readPart(raw []byte) (p part, ok bool, err error) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return part{}, false, nil
	}
	if _, ok := fields["part"]; !ok {
		return part{}, false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var e partEvent
	if err := dec.Decode(&e); err != nil {
		return part{}, true, fmt.Errorf("read part: %w", err)
	}
	return e.Part, true, nil
}

// part is one invocation's share of a run.
type part struct {
	Index    int       `json:"index"`    // 0 .. Parts-1
	Parts    int       `json:"parts"`    // invocations in the run
	Segments int       `json:"segments"` // scan segments per part
	AsOf     time.Time `json:"asOf"`
}

// segments are the part's scan segments and the scan's total.
func (p part) segments() (segs []int, total int) {
	for i := range p.Segments {
		segs = append(segs, p.Index*p.Segments+i)
	}
	return segs, p.Parts * p.Segments
}

func (p part) valid() error {
	if p.Parts < 1 || p.Parts > maxParts || p.Segments < 1 || p.Index < 0 || p.Index >= p.Parts || p.AsOf.IsZero() {
		return fmt.Errorf("part %d of %d with %d segments as of %v: not a part of a run", p.Index, p.Parts, p.Segments, p.AsOf)
	}
	return nil
}

// plan divides a run over profiles (the table's item count) into parts of at most partSize.
func plan(profiles int64, partSize, segments int, asOf time.Time) []part {
	n := 1
	if partSize > 0 && profiles > int64(partSize) {
		n = int(min((profiles+int64(partSize)-1)/int64(partSize), maxParts))
	}
	out := make([]part, n)
	for i := range out {
		out[i] = part{Index: i, Parts: n, Segments: max(segments, 1), AsOf: asOf.UTC()}
	}
	return out
}

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
	parts := plan(count, h.size.PartSize, h.size.Segments, asOf)
	sum.Parts = len(parts)
	if len(parts) == 1 || h.parts == nil {
		if len(parts) > 1 {
			h.log.WarnContext(ctx, "no way to fan out: scoring every part here", slog.Int("parts", len(parts)))
		}
		var c counters
		for _, p := range parts {
			segs, total := p.segments()
			if err := h.scoreSegments(ctx, segs, total, m, asOf, &c); err != nil {
				c.into(&sum)
				return sum, fmt.Errorf("score profiles: %w", err)
			}
		}
		c.into(&sum)
		h.log.InfoContext(ctx, "profiles scored", summaryAttrs(sum)...)
		return sum, nil
	}
	for _, p := range parts {
		payload, err := json.Marshal(partEvent{Part: p})
		if err != nil {
			return sum, fmt.Errorf("encode part %d: %w", p.Index, err)
		}
		if err := h.parts.InvokeAsync(ctx, payload); err != nil {
			return sum, fmt.Errorf("send part %d of %d: %w", p.Index, len(parts), err)
		}
	}
	h.log.InfoContext(ctx, "run planned", slog.Time("asOf", asOf), slog.Int64("profiles", count), slog.Int("parts", len(parts)))
	return sum, nil
}

// scorePart scores one part of a run with the current models.
func (h *handler) scorePart(ctx context.Context, p part) (summary, error) {
	sum := summary{Mode: "part", AsOf: p.AsOf, Parts: p.Parts}
	if err := p.valid(); err != nil {
		return sum, err
	}
	m, err := h.modelsNow(ctx)
	if err != nil {
		return sum, err
	}
	if m != nil {
		sum.ModelVersion = m.Version
	}
	var c counters
	segs, total := p.segments()
	err = h.scoreSegments(ctx, segs, total, m, p.AsOf.UTC(), &c)
	c.into(&sum)
	if err != nil {
		return sum, fmt.Errorf("score part %d of %d: %w", p.Index, p.Parts, err)
	}
	h.log.InfoContext(ctx, "part scored", append(summaryAttrs(sum), slog.Int("part", p.Index))...)
	return sum, nil
}

func summaryAttrs(s summary) []any {
	return []any{slog.String("mode", s.Mode), slog.Time("asOf", s.AsOf), slog.Int("modelVersion", s.ModelVersion),
		slog.Int64("scored", s.Scored), slog.Int64("written", s.Written), slog.Int64("skipped", s.Skipped),
		slog.Int64("partial", s.Partial), slog.Int64("failed", s.Failed), slog.Int64("alertsSent", s.AlertsSent)}
}

// lambdaParts invokes a function asynchronously through Lambda's Invoke API.
type lambdaParts struct {
	client *lambda.Client
	name   string
}

func (l lambdaParts) InvokeAsync(ctx context.Context, payload []byte) error {
	_, err := l.client.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(l.name), InvocationType: types.InvocationTypeEvent, Payload: payload,
	})
	if err != nil {
		return fmt.Errorf("invoke %s: %w", l.name, err)
	}
	return nil
}
