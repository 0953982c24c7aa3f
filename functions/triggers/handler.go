package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/activity"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/recording"
	"github.com/dcrm-project/dcrm/shared/schedule"
	"github.com/dcrm-project/dcrm/shared/trigger"
)

// Run limits.
const (
	// margin is how long before the invocation's deadline a run stops taking profiles, so that it
	// finishes those under way; the rest stay due for the next run.
	margin = 20 * time.Second
	// attempts is how often a profile that changed under the run is read again.
	attempts = 3
)

type profileStore interface {
	Due(ctx context.Context, now time.Time, fn func(ctx context.Context, profileID string) error) error
	Fire(ctx context.Context, id string, now time.Time, sent ...trigger.Trigger) (recording.Firing, error)
	SaveFired(ctx context.Context, f recording.Firing) error
	Reevaluate(ctx context.Context, id string, now time.Time) ([]recording.AudienceChange, error)
}

type sender interface {
	Send(ctx context.Context, m message.Message) error
}

// activityLog keeps what was sent for the console (activitystore.Store).
type activityLog interface {
	Write(ctx context.Context, e activity.Entry) error
}

type handler struct {
	store    profileStore
	triggers sender // the triggers queue
	// activity logs each trigger as it is sent (what fired, for whom, why); nil: not logged.
	activity activityLog
	log      *slog.Logger
}

// summary is what a run returns.
type summary struct {
	AsOf time.Time `json:"asOf"`
	// Read is how many profiles the run read: those the due index had due, no others.
	Read int64 `json:"read"`
	// Sent is how many triggers were sent, by kind in SentByKind.
	Sent       int64            `json:"sent"`
	SentByKind map[string]int64 `json:"sentByKind"`
	// Entered and Exited count the audience changes found (a window expiring, definitions
	// changed, consent or a split).
	Entered int64 `json:"audiencesEntered"`
	Exited  int64 `json:"audiencesExited"`
	// Changed is how many profiles kept changing under the run; they stay due for the next one.
	Changed int64 `json:"changed"`
	Failed  int64 `json:"failed"`
	// More is set when the run stopped near its deadline with profiles left; they stay due.
	More bool `json:"more,omitempty"`
	// NotLogged counts the triggers sent that the activity log could not take (logged one by
	// one): sent and recorded all the same.
	NotLogged int64 `json:"notLogged,omitempty"`
}

var errDeadline = errors.New("stopped before the deadline")

// handle fires the triggers due at the time of the run of the triggers schedule it is invoked
// with (schedule.Event), so a retried invocation fires the same. Anything else is refused with an
// error and fires nothing.
//
// Each trigger is sent before it is recorded on the profile (at least once), as lapse alerts are:
// a crash or a lost race between the two sends it again on a later run with the same messageId,
// which consumers drop (they must drop repeats of any SQS message anyway, since a standard queue
// may deliver one twice). Recording first would lose the message for good when the send fails
// after the record; a reminder that never comes is the worse failure. Two runs at once both send
// what is due (same messageIds) and only one records: SaveFired is conditional on the version read.
func (h *handler) handle(ctx context.Context, raw json.RawMessage) (summary, error) {
	run, err := schedule.Parse(raw, topology.TriggersSchedule)
	if err != nil {
		return summary{}, fmt.Errorf("read event: %w", err)
	}
	sum := summary{AsOf: run.Time, SentByKind: map[string]int64{}}
	var (
		read, sent, changed, failed atomic.Int64
		entered, exited, notLogged  atomic.Int64
		mu                          sync.Mutex
		firstErr                    error
	)
	deadline, hasDeadline := ctx.Deadline()
	err = h.store.Due(ctx, sum.AsOf, func(ctx context.Context, id string) error {
		if hasDeadline && time.Until(deadline) < margin {
			return errDeadline
		}
		read.Add(1)
		// Audiences first: what they change is recorded before the triggers read the profile.
		changes, err := h.store.Reevaluate(ctx, id, sum.AsOf)
		for _, c := range changes {
			if c.Entered {
				entered.Add(1)
			} else {
				exited.Add(1)
			}
		}
		var kinds []string
		ok := false
		if err == nil {
			kinds, ok, err = h.fire(ctx, id, sum.AsOf, &notLogged)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, k := range kinds {
			sum.SentByKind[k]++
			sent.Add(1)
		}
		switch {
		case err != nil:
			failed.Add(1)
			h.log.ErrorContext(ctx, "triggers not fired", slog.String("profileId", id), slog.String("error", err.Error()))
			if firstErr == nil {
				firstErr = err
			}
		case !ok:
			changed.Add(1)
			h.log.WarnContext(ctx, "profile kept changing; left for the next run", slog.String("profileId", id))
		}
		return nil
	})
	sum.Read, sum.Sent, sum.Changed, sum.Failed = read.Load(), sent.Load(), changed.Load(), failed.Load()
	sum.Entered, sum.Exited = entered.Load(), exited.Load()
	sum.NotLogged = notLogged.Load()
	sum.More = errors.Is(err, errDeadline)
	h.log.InfoContext(ctx, "triggers fired", slog.Time("asOf", sum.AsOf), slog.Int64("read", sum.Read), slog.Int64("sent", sum.Sent),
		slog.Int64("audiencesEntered", sum.Entered), slog.Int64("audiencesExited", sum.Exited),
		slog.Int64("changed", sum.Changed), slog.Int64("failed", sum.Failed), slog.Bool("more", sum.More))
	if err != nil && !sum.More {
		return sum, fmt.Errorf("fire triggers: %w", err)
	}
	if firstErr != nil {
		return sum, fmt.Errorf("fire triggers: %d profiles failed, the first: %w", sum.Failed, firstErr)
	}
	return sum, nil
}

// logSent writes the activity log's entry of a trigger sent, keyed by its messageId and time (a
// retried run, of the same time, writes the same entry again). The log is for people: a trigger
// it could not take was sent all the same and is recorded, so a failure here is logged and
// counted, never a reason to send the trigger again.
func (h *handler) logSent(ctx context.Context, m message.TriggerFired, notLogged *atomic.Int64) {
	if h.activity == nil {
		return
	}
	if err := h.activity.Write(ctx, activity.FromTrigger(m, topology.TriggerQueue)); err != nil {
		notLogged.Add(1)
		h.log.WarnContext(ctx, "trigger sent, not in the activity log", slog.String("profileId", m.ProfileID),
			slog.String("kind", m.Kind), slog.String("messageId", m.MessageID), slog.String("error", err.Error()))
	}
}

// fire sends what is due for one profile and records it. It returns the kinds sent and false when
// the profile changed under every attempt to record. What an attempt sent is recorded by the next
// (Fire's sent), even if the change means it would not fire any more, and is not sent again.
func (h *handler) fire(ctx context.Context, id string, now time.Time, notLogged *atomic.Int64) ([]string, bool, error) {
	var kinds []string
	var sent []trigger.Trigger
	for range attempts {
		f, err := h.store.Fire(ctx, id, now, sent...)
		if err != nil {
			return kinds, false, err
		}
		for _, t := range f.Fired {
			m := t.Message()
			if err := h.triggers.Send(ctx, m); err != nil {
				return kinds, false, fmt.Errorf("send %s for %s: %w", t.Kind, id, err)
			}
			h.logSent(ctx, m, notLogged)
			sent = append(sent, t)
			kinds = append(kinds, t.Kind)
		}
		err = h.store.SaveFired(ctx, f)
		if !errors.Is(err, recording.ErrChanged) {
			return kinds, err == nil, err
		}
	}
	return kinds, false, nil
}
