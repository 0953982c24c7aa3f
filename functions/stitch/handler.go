package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/hashkey"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/pii"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// stage names this function in failed-event messages.
const stage = "stitch"

// reasonErased is the failed-event reason of an event dropped because it carries an identifier of
// an erased person.
const reasonErased = "identifier erased"

// reasonTraits begins the failed-event reason of an event recorded without some of its traits
// (trimmed or refused by the bounds of profile.Traits); the notes follow it.
const reasonTraits = "recorded without some of its traits: "

type recorder interface {
	RecordAll(ctx context.Context, in []recording.Input) []recording.Outcome
}

type sender interface {
	Send(ctx context.Context, m message.Message) error
}

type handler struct {
	store   recorder
	failed  sender // the failed-events queue
	updates sender // the profile-updates queue
	now     func() time.Time
	log     *slog.Logger
	// hashKey scopes deduplication (dedupKey); main always sets it, tests may leave it nil to
	// deduplicate by message id alone.
	hashKey *hashkey.Key
}

// dedupKey is what tells an event from others when it is sent again: its message id scoped by its
// source and its visitor under the deployment's secret key, so that a sender cannot choose ids
// that collide with another sender's events (or guess them from outside).
func (h *handler) dedupKey(e beacon.Event) string {
	if h.hashKey == nil {
		return ""
	}
	return h.hashKey.Sum("dedup", e.SourceID, e.Visitor(), e.MessageID)
}

// tally counts what a batch did (in events), for the log.
type tally struct{ recorded, duplicates, created, merged, failed, erased, traitsCut int }

// decoded are the events read from a batch's records, in order, ready to record.
type decoded struct {
	in     []recording.Input
	record []int    // the record of each input
	raw    [][]byte // each input as read, for the failed-events queue
}

// handle records a batch of records of beacon events in order, with one write per profile
// (recording.Engine.RecordAll). An event that can never be recorded (not a beacon event,
// invalid, refused by the database, of an erased person), or a record that cannot be read, goes to
// the failed-events queue with its reason and counts as done; so does an event recorded without
// some of its traits (reasonTraits), which is recorded otherwise. On any other error it reports the
// earliest record concerned as the first failure, so that the mapping retries the batch from there:
// the events recorded the first time are duplicates on the retry and change nothing.
func (h *handler) handle(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	resp := events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{}}
	var t tally
	retryFrom := -1
	retry := func(i int, err error) {
		if retryFrom < 0 || i < retryFrom {
			retryFrom = i
			h.log.ErrorContext(ctx, "record not recorded; the batch is retried from it",
				slog.String("sequenceNumber", ev.Records[i].Kinesis.SequenceNumber), slog.String("error", err.Error()))
		}
	}
	var d decoded
	for i, r := range ev.Records {
		if err := h.decode(ctx, i, r, &t, &d); err != nil {
			retry(i, err)
			break
		}
	}
	b := newChanges()
	for k, o := range h.store.RecordAll(ctx, d.in) {
		i, a := d.record[k], d.in[k].Activity
		switch {
		case o.Err == nil:
			h.count(&t, o.Result)
			b.note(i, o.Result)
			if len(o.TraitNotes) > 0 && !o.Duplicate {
				// The event is recorded: the notice of what it lost is sent once, and not retried
				// (a retried event is a duplicate, with nothing to say).
				t.traitsCut++
				if err := h.reject(ctx, ev.Records[i], nil, reasonTraits+strings.Join(o.TraitNotes, "; "), d.raw[k]); err != nil {
					h.log.WarnContext(ctx, "notice of trimmed traits not sent", slog.String("messageId", a.MessageID), slog.String("error", err.Error()))
				}
			}
		case errors.Is(o.Err, recording.ErrErased):
			// The person was erased: drop the event, keeping nothing of it but its message id and
			// type (not its identifiers or properties), so the failed-events queue holds no
			// personal data.
			t.erased++
			stub, _ := json.Marshal(map[string]string{"messageId": a.MessageID, "type": a.Type})
			if err := h.reject(ctx, ev.Records[i], &t, reasonErased, stub); err != nil {
				retry(i, err)
			}
		case errors.Is(o.Err, recording.ErrRejected):
			if err := h.reject(ctx, ev.Records[i], &t, o.Err.Error(), d.raw[k]); err != nil {
				retry(i, err)
			}
		case errors.Is(o.Err, recording.ErrNotAttempted):
		default:
			retry(i, o.Err)
		}
	}
	// Publish what the recorded part of the batch changed; a profile whose message could not be
	// sent has the batch retried from the last record that changed it.
	if i := h.publish(ctx, b); i >= 0 && (retryFrom < 0 || i < retryFrom) {
		retryFrom = i
	}
	if retryFrom >= 0 {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: ev.Records[retryFrom].Kinesis.SequenceNumber})
	}
	h.log.InfoContext(ctx, "batch stitched", slog.Int("records", len(ev.Records)), slog.Int("recorded", t.recorded),
		slog.Int("duplicates", t.duplicates), slog.Int("profilesCreated", t.created), slog.Int("profilesMerged", t.merged),
		slog.Int("failed", t.failed), slog.Int("erased", t.erased), slog.Int("traitsCut", t.traitsCut),
		slog.Int("retry", len(resp.BatchItemFailures)))
	return resp, nil
}

func (h *handler) count(t *tally, res recording.Result) {
	if res.Duplicate {
		t.duplicates++
	} else {
		t.recorded++
	}
	if res.Created {
		t.created++
	}
	t.merged += len(res.Merged)
}

// decode reads the events of record r, the i-th of the batch, into d. A record carries one or more
// events of one visitor (beacon.DecodeRecord). Events that can never be recorded go to the
// failed-events queue; it returns an error only when that fails.
func (h *handler) decode(ctx context.Context, i int, r events.KinesisEventRecord, t *tally, d *decoded) error {
	raw, err := beacon.SplitRecord(r.Kinesis.Data)
	if err != nil {
		return h.reject(ctx, r, t, fmt.Sprintf("record is not a beacon event: %v", err), r.Kinesis.Data)
	}
	for _, data := range raw {
		var e beacon.Event
		if err := json.Unmarshal(data, &e); err != nil {
			if err := h.reject(ctx, r, t, fmt.Sprintf("record is not a beacon event: %v", err), data); err != nil {
				return err
			}
			continue
		}
		// The endpoint redacted the event before the stream; an event it put there before it
		// knew every rule is redacted now, before anything of it is kept.
		e.Redact()
		a, err := profile.FromEvent(e)
		if err != nil {
			if err := h.reject(ctx, r, t, err.Error(), data); err != nil {
				return err
			}
			continue
		}
		if reason, ok := dropJunk(&a); !ok {
			if err := h.reject(ctx, r, t, reason, data); err != nil {
				return err
			}
			continue
		}
		claims, skipped := identity.Claims(e)
		if len(skipped) > 0 {
			h.log.WarnContext(ctx, "claimed identifiers ignored", slog.String("messageId", e.MessageID),
				slog.String("reasons", pii.RedactText(strings.Join(skipped, "; "))))
		}
		d.in = append(d.in, recording.Input{Activity: a, Claims: recording.Claims{IDs: claims, Trusted: e.Trusted, Properties: e.Properties},
			Dedup: h.dedupKey(e)})
		d.record, d.raw = append(d.record, i), append(d.raw, data)
	}
	return nil
}

// reject sends an event of record r that can never be recorded (data: the event, or the whole
// record when it cannot be read) to the failed-events queue, counting it failed in t (nil: an
// event recorded in part, counted by the caller). The queue is read by people: the event and the
// reason are redacted (pii.Redact), whatever its source keeps on the stream.
func (h *handler) reject(ctx context.Context, r events.KinesisEventRecord, t *tally, reason string, data []byte) error {
	reason = pii.RedactText(reason)
	data, cut := pii.RedactUpTo(data, message.MaxFailedData)
	f := message.NewFailedEvent(stage, reason, data, h.now())
	f.Truncated = f.Truncated || cut
	f.EventID, f.SequenceNumber, f.PartitionKey = r.EventID, r.Kinesis.SequenceNumber, r.Kinesis.PartitionKey
	if err := h.failed.Send(ctx, f); err != nil {
		return fmt.Errorf("set aside failed record: %w", err)
	}
	h.log.WarnContext(ctx, "record set aside in the failed-events queue",
		slog.String("sequenceNumber", r.Kinesis.SequenceNumber), slog.String("reason", reason))
	if t != nil {
		t.failed++
	}
	return nil
}

// dropJunk clears the identifiers of an activity that are junk (identity.Junk: "null", "0", an
// all-zero id …), so that they join nobody. It returns false, with the reason, when no usable
// identifier is left: such an event can never be recorded.
func dropJunk(a *profile.Activity) (string, bool) {
	var junk []string
	for _, f := range []struct {
		name  string
		value *string
	}{{string(identity.Anonymous), &a.AnonymousID}, {string(identity.User), &a.UserID}, {"previousId", &a.PreviousID}} {
		if *f.value == "" {
			continue
		}
		if reason, bad := identity.Junk(*f.value); bad {
			junk = append(junk, fmt.Sprintf("%s %q is junk (%s)", f.name, *f.value, reason))
			*f.value = ""
		}
	}
	if a.AnonymousID == "" && a.UserID == "" && a.PreviousID == "" {
		return "no usable identifier: " + strings.Join(junk, "; "), false
	}
	return "", true
}
