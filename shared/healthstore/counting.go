package healthstore

import (
	"context"
	"log/slog"
	"time"

	"github.com/dcrm-project/dcrm/shared/health"
	"github.com/dcrm-project/dcrm/shared/message"
)

// batchSender sends messages to a queue, ten to a call (messagequeue.Queue.SendAll).
type batchSender interface {
	SendAll(ctx context.Context, ms []message.Message) []error
}

// failureCounter adds to the day's counts of failed events (Store).
type failureCounter interface {
	AddFailures(ctx context.Context, at time.Time, counts map[string]int64) error
}

// Counting is a failed-events queue that counts what it sent, for the health page: one write per
// SendAll that sent any failed event, under "<its stage>: Label". For the functions whose reasons
// begin with details (an object's key, a line number), so that a fixed label is counted rather
// than the reason's text. A count that cannot be written is logged.
type Counting struct {
	Next    batchSender
	Counter failureCounter
	Label   string
	Now     func() time.Time
	Log     *slog.Logger
}

func (c Counting) SendAll(ctx context.Context, ms []message.Message) []error {
	errs := c.Next.SendAll(ctx, ms)
	counts := map[string]int64{}
	for i, m := range ms {
		if f, ok := m.(message.FailedEvent); ok && i < len(errs) && errs[i] == nil {
			counts[health.Key(f.Stage, c.Label)]++
		}
	}
	if err := c.Counter.AddFailures(ctx, c.Now(), counts); err != nil {
		c.Log.WarnContext(ctx, "failed events not counted", slog.String("error", err.Error()))
	}
	return errs
}
