package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/alert"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/profilestore"
)

// stage names this function in failed-event messages.
const stage = "stitch"

type recorder interface {
	Record(ctx context.Context, a profile.Activity) (profilestore.Result, error)
}

type sender interface {
	Send(ctx context.Context, m alert.Message) error
}

type handler struct {
	store  recorder
	failed sender // the failed-events queue
	now    func() time.Time
	log    *slog.Logger
}

// tally counts what a batch did, for the log.
type tally struct{ recorded, duplicates, created, merged, failed int }

// handle records a batch of beacon events in order. A record that can never be recorded (not a
// beacon event, invalid, refused by the database) goes to the failed-events queue with its reason
// and counts as done. On any other error it reports that record as the first failure, so the
// mapping retries the batch from there, and stops.
func (h *handler) handle(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	resp := events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{}}
	var t tally
	for _, r := range ev.Records {
		if err := h.process(ctx, r, &t); err != nil {
			h.log.ErrorContext(ctx, "record not recorded; the batch is retried from it",
				slog.String("sequenceNumber", r.Kinesis.SequenceNumber), slog.String("error", err.Error()))
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: r.Kinesis.SequenceNumber})
			break
		}
	}
	h.log.InfoContext(ctx, "batch stitched", slog.Int("records", len(ev.Records)), slog.Int("recorded", t.recorded),
		slog.Int("duplicates", t.duplicates), slog.Int("profilesCreated", t.created), slog.Int("profilesMerged", t.merged),
		slog.Int("failed", t.failed), slog.Int("retry", len(resp.BatchItemFailures)))
	return resp, nil
}

func (h *handler) process(ctx context.Context, r events.KinesisEventRecord, t *tally) error {
	var e beacon.Event
	if err := json.Unmarshal(r.Kinesis.Data, &e); err != nil {
		return h.reject(ctx, r, t, fmt.Sprintf("record is not a beacon event: %v", err))
	}
	a, err := profile.FromEvent(e)
	if err != nil {
		return h.reject(ctx, r, t, err.Error())
	}
	res, err := h.store.Record(ctx, a)
	if errors.Is(err, profilestore.ErrRejected) {
		return h.reject(ctx, r, t, err.Error())
	}
	if err != nil {
		return err
	}
	switch {
	case res.Duplicate:
		t.duplicates++
	default:
		t.recorded++
	}
	if res.Created {
		t.created++
	}
	t.merged += len(res.Merged)
	return nil
}

// reject sends a record that can never be recorded to the failed-events queue.
func (h *handler) reject(ctx context.Context, r events.KinesisEventRecord, t *tally, reason string) error {
	f := alert.NewFailedEvent(stage, reason, r.Kinesis.Data, h.now())
	f.EventID, f.SequenceNumber, f.PartitionKey = r.EventID, r.Kinesis.SequenceNumber, r.Kinesis.PartitionKey
	if err := h.failed.Send(ctx, f); err != nil {
		return fmt.Errorf("set aside failed record: %w", err)
	}
	h.log.WarnContext(ctx, "record set aside in the failed-events queue",
		slog.String("sequenceNumber", r.Kinesis.SequenceNumber), slog.String("reason", reason))
	t.failed++
	return nil
}
