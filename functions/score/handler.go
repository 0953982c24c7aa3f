package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/dcrm-project/dcrm/shared/alert"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/scoring"
)

// segments is how many parallel segments the profile table is read in.
const segments = 4

type profileStore interface {
	Scan(ctx context.Context, segments int, fn func(context.Context, profile.Profile) error) error
	SaveScore(ctx context.Context, id string, s scoring.Score) error
	MarkLapseAlerted(ctx context.Context, id string, lastSeen, previous, at time.Time) error
}

type sender interface {
	Send(ctx context.Context, m alert.Message) error
}

type handler struct {
	store      profileStore
	alerts     sender // the alerts queue
	lapseAfter time.Duration
	now        func() time.Time
	log        *slog.Logger
}

// summary is what a run returns.
type summary struct {
	AsOf       time.Time `json:"asOf"`
	Scored     int64     `json:"scored"`
	AlertsSent int64     `json:"alertsSent"`
}

// handle scores every live profile and raises lapse alerts. It accepts any JSON event; when the
// event carries a "time" (as EventBridge Scheduler events do), scores are computed as of that time,
// so a retried invocation of the same schedule computes the same figures.
func (h *handler) handle(ctx context.Context, event json.RawMessage) (summary, error) {
	sum := summary{AsOf: asOf(event, h.now)}
	var scored, sent atomic.Int64
	err := h.store.Scan(ctx, segments, func(ctx context.Context, p profile.Profile) error {
		ok, alerted, err := h.score(ctx, p, sum.AsOf)
		if ok {
			scored.Add(1)
		}
		if alerted {
			sent.Add(1)
		}
		return err
	})
	sum.Scored, sum.AlertsSent = scored.Load(), sent.Load()
	if err != nil {
		return sum, fmt.Errorf("score profiles: %w", err)
	}
	h.log.InfoContext(ctx, "profiles scored", slog.Time("asOf", sum.AsOf), slog.Int64("scored", sum.Scored), slog.Int64("alertsSent", sum.AlertsSent))
	return sum, nil
}

// score rates one profile and, if it lapsed and no alert was raised for this lapse, sends the alert
// and then records it. A crash between the two sends the alert again on the next run, with the
// same alertId, rather than losing it.
func (h *handler) score(ctx context.Context, p profile.Profile, now time.Time) (scored, alerted bool, err error) {
	if p.LastSeen.IsZero() {
		return false, false, nil
	}
	err = h.store.SaveScore(ctx, p.ID, scoring.Rate(p.LastSeen, p.Counts.Events, now))
	if errors.Is(err, profile.ErrNotFound) {
		return false, false, nil // erased since the scan read it
	}
	if err != nil {
		return false, false, err
	}
	if !scoring.Lapsed(p.LastSeen, p.LapseAlertedAt, now, h.lapseAfter) {
		return true, false, nil
	}
	if err := h.alerts.Send(ctx, alert.NewLapse(p, now)); err != nil {
		return true, false, fmt.Errorf("alert lapse of %s: %w", p.ID, err)
	}
	err = h.store.MarkLapseAlerted(ctx, p.ID, p.LastSeen, p.LapseAlertedAt, now)
	if errors.Is(err, profilestore.ErrChanged) {
		// The customer came back, or another run recorded this lapse, since the scan read it.
		h.log.InfoContext(ctx, "profile changed while its lapse was alerted", slog.String("profileId", p.ID))
		return true, true, nil
	}
	return true, true, err
}

// asOf is the event's "time" if it has one, else the clock's.
func asOf(event json.RawMessage, now func() time.Time) time.Time {
	var e struct {
		Time time.Time `json:"time"`
	}
	if json.Unmarshal(event, &e) == nil && !e.Time.IsZero() {
		return e.Time.UTC()
	}
	return now().UTC()
}
