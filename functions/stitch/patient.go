package main

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/aws/smithy-go"

	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
)

// patient is a sender that rides out a short outage of its queue. A message that cannot be sent
// makes the handler have the batch retried, and the stream mapping retries a batch only a few
// times (RetryAttempts) before it gives up on it; during an outage the SDK's own retries soon stop
// (its retry quota runs dry) and those few attempts go by in a second. So a send that fails on the
// way to SQS is tried again, backing off, for as long as the invocation has time to spare (all of
// it but reserve); only then does the failure reach the handler.
type patient struct {
	next    sender
	reserve time.Duration // of the invocation's time, kept for the rest of the batch
	first   time.Duration // first wait, doubled after each failure up to most
	most    time.Duration
	budget  time.Duration // how long to keep trying when the context has no deadline
	log     *slog.Logger
	sleep   func(ctx context.Context, d time.Duration) error
	now     func() time.Time
}

func newPatient(next sender, log *slog.Logger) *patient {
	return &patient{next: next, reserve: 15 * time.Second, first: 100 * time.Millisecond, most: 2 * time.Second,
		budget: 20 * time.Second, log: log, sleep: sleepCtx, now: time.Now}
}

// SendAll implements sender: the messages whose send failed on the way to SQS are sent again,
// backing off, while the invocation has time to spare.
func (p *patient) SendAll(ctx context.Context, ms []message.Message) []error {
	errs := p.next.SendAll(ctx, ms)
	until := p.now().Add(p.budget)
	if d, ok := ctx.Deadline(); ok {
		until = d.Add(-p.reserve)
	}
	for wait, tries := p.first, 1; ; wait, tries = min(2*wait, p.most), tries+1 {
		var again []int
		for i, err := range errs {
			if err != nil && transient(err) {
				again = append(again, i)
			}
		}
		switch {
		case len(again) == 0:
			if tries > 1 {
				p.log.InfoContext(ctx, "queue back; messages sent", slog.Int("tries", tries))
			}
			return errs
		case until.Sub(p.now()) < wait:
			p.log.WarnContext(ctx, "queue still unavailable; giving up on the messages", slog.Int("messages", len(again)),
				slog.Int("tries", tries), slog.String("error", errs[again[0]].Error()))
			return errs
		}
		if p.sleep(ctx, wait) != nil {
			return errs
		}
		retry := make([]message.Message, len(again))
		for k, i := range again {
			retry[k] = ms[i]
		}
		for k, err := range p.next.SendAll(ctx, retry) {
			errs[again[k]] = err
		}
	}
}

// transient says whether a failed send is worth trying again: the call to SQS failed (throttled,
// unavailable, refused) or SQS failed the entry on its side, as opposed to a message that is not
// valid.
func transient(err error) bool {
	var op *smithy.OperationError
	var entry *messagequeue.EntryError
	return errors.As(err, &op) || errors.As(err, &entry) && !entry.SenderFault
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
