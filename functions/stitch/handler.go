package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/hashkey"
	"github.com/dcrm-project/dcrm/shared/health"
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

// sender sends messages to a queue, ten to a call (messagequeue.Queue.SendAll): one error per
// message, nil for each one sent.
type sender interface {
	SendAll(ctx context.Context, ms []message.Message) []error
}

type handler struct {
	store   recorder
	failed  sender // the failed-events queue
	updates sender // the profile-updates queue
	feed    feeder // the archive feed
	now     func() time.Time
	log     *slog.Logger
	// hashKey scopes deduplication (dedupKey); main always sets it, tests may leave it nil to
	// deduplicate by message id alone.
	hashKey *hashkey.Key
	// health keeps the stream's lag per shard (at most once per lagDue.Every) and the failed
	// events' counts (health.go); nil keeps neither.
	health healthKeeper
	lagDue health.Throttle
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
	events []beacon.Event // each input's event, for the archive
	record []int          // the record of each input
	raw    [][]byte       // each input as read, for the failed-events queue
}

// aside is an event on its way to the failed-events queue, sent with the rest of the batch's once
// the batch is recorded.
type aside struct {
	f      message.FailedEvent
	record int  // the record it came from
	counts bool // counted failed once set aside (an event recorded in part is counted by the caller)
	retry  bool // the batch is retried from its record when it cannot be set aside
}

// handle records a batch of records of beacon events in order, with one write per profile
// (recording.Engine.RecordAll). An event that can never be recorded (not a beacon event,
// invalid, refused by the database, of an erased person), or a record that cannot be read, goes to
// the failed-events queue with its reason and counts as done; so does an event recorded without
// some of its traits (reasonTraits), which is recorded otherwise. On any other error it reports the
// earliest record concerned as the first failure, so that the mapping retries the batch from there:
// the events recorded the first time are duplicates on the retry and change nothing. The batch's
// failed events, then its profile changes, go to their queues ten to an SQS call once it is
// recorded, and the events it recorded to the archive feed (archive) in between.
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
	var (
		d      decoded
		asides []aside
	)
	for i, r := range ev.Records {
		asides = append(asides, h.decode(ctx, i, r, &d)...)
	}
	b := newChanges()
	var (
		rows      []archive.Event // of the events recorded, duplicates too: an earlier attempt may not have archived them
		rowRecord []int
	)
	for k, o := range h.store.RecordAll(ctx, d.in) {
		i, a := d.record[k], d.in[k].Activity
		switch {
		case o.Err == nil:
			h.count(&t, o.Result)
			b.note(i, o.Result)
			rows, rowRecord = append(rows, archive.FromEvent(d.events[k], o.ProfileID)), append(rowRecord, i)
			if len(o.TraitNotes) > 0 && !o.Duplicate {
				// The event is recorded: the notice of what it lost is sent once, and not retried
				// (a retried event is a duplicate, with nothing to say).
				t.traitsCut++
				notice := h.reject(i, ev.Records[i], reasonTraits+strings.Join(o.TraitNotes, "; "), d.raw[k])
				notice.counts, notice.retry = false, false
				asides = append(asides, notice)
			}
		case errors.Is(o.Err, recording.ErrErased):
			// The person was erased: drop the event, keeping nothing of it but its message id and
			// type (not its identifiers or properties), so the failed-events queue holds no
			// personal data.
			t.erased++
			stub, _ := json.Marshal(map[string]string{"messageId": a.MessageID, "type": a.Type})
			asides = append(asides, h.reject(i, ev.Records[i], reasonErased, stub))
		case errors.Is(o.Err, recording.ErrRejected):
			asides = append(asides, h.reject(i, ev.Records[i], o.Err.Error(), d.raw[k]))
		case errors.Is(o.Err, recording.ErrNotAttempted):
		default:
			retry(i, o.Err)
		}
	}
	if retryFrom >= 0 { // those records are done again on the retry, their failed events with them
		asides = slices.DeleteFunc(asides, func(a aside) bool { return a.retry && a.record >= retryFrom })
	}
	h.setAside(ctx, ev, asides, &t, retry)
	if i := h.archive(ctx, rows, rowRecord); i >= 0 && (retryFrom < 0 || i < retryFrom) {
		retryFrom = i
	}
	// Publish what the recorded part of the batch changed; a profile whose message could not be
	// sent has the batch retried from the last record that changed it.
	if i := h.publish(ctx, b); i >= 0 && (retryFrom < 0 || i < retryFrom) {
		retryFrom = i
	}
	if retryFrom >= 0 {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: ev.Records[retryFrom].Kinesis.SequenceNumber})
	}
	h.keepLag(ctx, ev)
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
// events of one visitor (beacon.DecodeRecord). It returns the events that can never be recorded,
// for the failed-events queue.
func (h *handler) decode(ctx context.Context, i int, r events.KinesisEventRecord, d *decoded) []aside {
	raw, err := beacon.SplitRecord(r.Kinesis.Data)
	if err != nil {
		return []aside{h.reject(i, r, fmt.Sprintf("record is not a beacon event: %v", err), r.Kinesis.Data)}
	}
	var out []aside
	for _, data := range raw {
		e, err := beacon.DecodeEvent(data)
		if err != nil {
			out = append(out, h.reject(i, r, fmt.Sprintf("record is not a beacon event: %v", err), data))
			continue
		}
		// The endpoint redacted the event before the stream; an event it put there before it
		// knew every rule is redacted now, before anything of it is kept.
		e.Redact()
		a, err := profile.FromEvent(e)
		if err != nil {
			out = append(out, h.reject(i, r, err.Error(), data))
			continue
		}
		if reason, ok := dropJunk(&a); !ok {
			out = append(out, h.reject(i, r, reason, data))
			continue
		}
		claims, skipped := identity.Claims(e)
		if len(skipped) > 0 {
			h.log.WarnContext(ctx, "claimed identifiers ignored", slog.String("messageId", e.MessageID),
				slog.String("reasons", pii.RedactText(strings.Join(skipped, "; "))))
		}
		d.in = append(d.in, recording.Input{Activity: a, Claims: recording.Claims{IDs: claims, Trusted: e.Trusted, Properties: e.Properties},
			Dedup: h.dedupKey(e)})
		d.record, d.raw, d.events = append(d.record, i), append(d.raw, data), append(d.events, e)
	}
	return out
}

// reject makes the failed-events message of an event of record r, the i-th of the batch, that can
// never be recorded (data: the event, or the whole record when it cannot be read). The queue is read
// by people: the event and the reason are redacted (pii.Redact), whatever its source keeps on the
// stream.
func (h *handler) reject(i int, r events.KinesisEventRecord, reason string, data []byte) aside {
	reason = pii.RedactText(reason)
	data, cut := pii.RedactUpTo(data, message.MaxFailedData)
	f := message.NewFailedEvent(stage, reason, data, h.now())
	f.Truncated = f.Truncated || cut
	f.EventID, f.SequenceNumber, f.PartitionKey = r.EventID, r.Kinesis.SequenceNumber, r.Kinesis.PartitionKey
	return aside{f: f, record: i, counts: true, retry: true}
}

// setAside sends the batch's events that can never be recorded to the failed-events queue, ten to
// a call, counting them failed in t; an event that cannot be set aside has the batch retried from
// its record (retry), unless it is a notice about an event recorded anyway.
func (h *handler) setAside(ctx context.Context, ev events.KinesisEvent, asides []aside, t *tally, retry func(int, error)) {
	if len(asides) == 0 {
		return
	}
	msgs := make([]message.Message, len(asides))
	for k, a := range asides {
		msgs[k] = a.f
	}
	var sent []string
	defer func() { h.countFailed(ctx, sent) }()
	for k, err := range h.failed.SendAll(ctx, msgs) {
		a := asides[k]
		switch {
		case err == nil:
			sent = append(sent, a.f.Reason)
			h.log.WarnContext(ctx, "record set aside in the failed-events queue",
				slog.String("sequenceNumber", ev.Records[a.record].Kinesis.SequenceNumber), slog.String("reason", a.f.Reason))
			if a.counts {
				t.failed++
			}
		case a.retry:
			retry(a.record, fmt.Errorf("set aside failed record: %w", err))
		default:
			h.log.WarnContext(ctx, "notice of trimmed traits not sent", slog.String("sequenceNumber", ev.Records[a.record].Kinesis.SequenceNumber),
				slog.String("error", err.Error()))
		}
	}
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
