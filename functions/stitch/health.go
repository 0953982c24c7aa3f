package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/health"
)

// healthKeeper keeps the status items the console's health page reads (healthstore.Store).
type healthKeeper interface {
	PutLag(ctx context.Context, l health.Lag) error
	AddFailures(ctx context.Context, at time.Time, counts map[string]int64) error
}

// keepLag keeps how far behind the stream the batch was: now less its oldest record's arrival, for
// its shard, at most once a minute per shard (h.lagDue). What cannot be written is logged: the
// batch is recorded all the same.
func (h *handler) keepLag(ctx context.Context, ev events.KinesisEvent) {
	if h.health == nil || len(ev.Records) == 0 {
		return
	}
	now := h.now()
	shard := health.ShardOf(ev.Records[0].EventID)
	if shard == "" || !h.lagDue.Due(shard, now) {
		return
	}
	var oldest time.Time
	for _, r := range ev.Records {
		if at := r.Kinesis.ApproximateArrivalTimestamp.Time; !at.IsZero() && (oldest.IsZero() || at.Before(oldest)) {
			oldest = at
		}
	}
	if oldest.IsZero() {
		return
	}
	err := h.health.PutLag(ctx, health.Lag{Shard: shard, Lag: max(now.Sub(oldest), 0), At: now, Records: len(ev.Records)})
	if err != nil {
		h.log.WarnContext(ctx, "stream lag not kept", slog.String("error", err.Error()))
	}
}

// countFailed adds the batch's events set aside in the failed-events queue to the day's counts, by
// stage and reason's label: one write per batch that set any aside.
func (h *handler) countFailed(ctx context.Context, reasons []string) {
	if h.health == nil || len(reasons) == 0 {
		return
	}
	counts := map[string]int64{}
	for _, r := range reasons {
		counts[health.Key(stage, health.Label(r))]++
	}
	if err := h.health.AddFailures(ctx, h.now(), counts); err != nil {
		h.log.WarnContext(ctx, "failed events not counted", slog.String("error", err.Error()))
	}
}
