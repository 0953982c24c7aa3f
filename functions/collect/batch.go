package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/health"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/pii"
	"github.com/dcrm-project/dcrm/shared/source"
)

// stage names this function in failed-event messages.
const stage = "collect"

// sender takes messages for the failed-events queue (messagequeue.Queue).
type sender interface {
	Send(ctx context.Context, m message.Message) error
}

// result is what an accepted call did: how many events went on the stream, and the events of a
// batch that were refused.
type result struct {
	accepted int
	rejected []beacon.Rejected
}

// Partial acceptance of a batch. A batch is many independent events, often queued by an SDK for
// minutes: refusing all of them for one bad event would lose the good ones (SDKs drop a batch on a
// 400, and retrying it would fail the same way). So each event of a batch is judged on its own:
//
//   - all valid: 200 {"success":true}, as Segment answers;
//   - some refused: still 200, so that SDKs do not retry the events that were taken, with
//     {"success":true,"accepted":N,"rejected":[{"index":i,"messageId":…,"reason":…}]};
//   - all refused: 400 with the same "rejected" list and an "error".
//
// Every refused event of a batch also goes to the failed-events queue with its reason, so an
// operator sees it even when the sender ignores the response; its emails and phones are hashed
// there as on the stream (unless the source keeps raw PII). A problem with the whole request (bad
// JSON, a batch over 500 KB, authentication, origin) still refuses the whole request; a single call
// (track, page, …) is one event, refused with a 400 as before.

// accept validates the events of an authorised call from src. It returns the events to put on the
// stream and the refused events of a batch; an error when nothing can be accepted.
func (h *handler) accept(c call, src source.Source) ([]beacon.Event, []beacon.Rejected, error) {
	evs, rejected := c.payload.Split(src, h.now(), h.newID)
	switch {
	case len(rejected) == 0:
		return evs, nil, nil
	case c.payload.Kind() != beacon.Batch:
		return nil, nil, rejected[0].Err
	case len(evs) == 0:
		return nil, rejected, &batchRefusal{rejected: rejected}
	}
	return evs, rejected, nil
}

// setAside sends the refused events of a batch from src to the failed-events queue, all of them
// in one message (a few when they do not fit in one: see refusedParts), so that a batch of
// refusals costs a few queue calls and never more bytes than it came with. The sender was told
// why in the response, so a queue that cannot take them is logged, not fatal.
func (h *handler) setAside(ctx context.Context, src source.Source, req events.APIGatewayV2HTTPRequest, rejected []beacon.Rejected) {
	if h.failed == nil || len(rejected) == 0 {
		return
	}
	defer h.countRefused(ctx, len(rejected))
	parts := refusedParts(rejected)
	for i, p := range parts {
		reason := fmt.Sprintf("source %s, request %s: %d of the batch's events refused", src.ID, req.RequestContext.RequestID, len(rejected))
		if len(parts) > 1 {
			reason += fmt.Sprintf(" (part %d of %d: %d events)", i+1, len(parts), p.count)
		}
		// The queue is read by people: personal data is hashed or redacted, whatever the source
		// keeps on the stream, and so is an address the reason quotes.
		reason = pii.RedactText(reason + "; first: " + refusalLine(p.first))
		f := message.NewFailedEvent(stage, reason, p.data, h.now())
		if err := h.failed.Send(ctx, f); err != nil {
			h.log.LogAttrs(ctx, slog.LevelError, "refused events not set aside", slog.String("reason", reason), slog.String("error", err.Error()))
		}
	}
}

// failureCounter adds to the day's counts of failed events (healthstore.Store).
type failureCounter interface {
	AddFailures(ctx context.Context, at time.Time, counts map[string]int64) error
}

// reasonRefused is the label the events refused at the endpoint are counted by: the reasons, one
// per event, are in the failed-events message and in the sender's answer.
const reasonRefused = "refused at the endpoint"

// countRefused counts a request's refused events: one write per request that had any.
func (h *handler) countRefused(ctx context.Context, n int) {
	if h.counts == nil {
		return
	}
	if err := h.counts.AddFailures(ctx, h.now(), map[string]int64{health.Key(stage, reasonRefused): int64(n)}); err != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "refused events not counted", slog.String("error", err.Error()))
	}
}

// refusalLine says which event of a batch was refused, and why.
func refusalLine(r beacon.Rejected) string {
	if r.MessageID != "" {
		return fmt.Sprintf("batch[%d] (messageId %s): %s", r.Index, r.MessageID, r.Reason())
	}
	return r.Err.Error()
}

// refusedEntry is one refused event in the data of a failed-events message from collect:
// {"rejected":[{"index":i,"messageId":…,"reason":…,"event":{…}}]}. Event is the event as sent,
// its personal data hashed or redacted; an event too large to keep has its size in Bytes instead.
type refusedEntry struct {
	Index     int             `json:"index"`
	MessageID string          `json:"messageId,omitempty"`
	Reason    string          `json:"reason"`
	Event     json.RawMessage `json:"event,omitempty"`
	Bytes     int             `json:"bytes,omitempty"`
}

// maxKeptEvent is the largest refused event kept whole in a failed-events message: an event over
// the limit a little grown by hashing its personal data. Larger ones keep only their size.
const maxKeptEvent = 2 * beacon.MaxEventBytes

// refusedPart is the data of one failed-events message: its entries, how many, the first.
type refusedPart struct {
	data  []byte
	count int
	first beacon.Rejected
}

// refusedParts packs the refused events into as few messages' data as fit message.MaxFailedData.
func refusedParts(rejected []beacon.Rejected) []refusedPart {
	const open, closing = `{"rejected":[`, `]}`
	var (
		parts []refusedPart
		cur   refusedPart
	)
	flush := func() {
		if cur.count > 0 {
			cur.data = append(cur.data, closing...)
			parts = append(parts, cur)
		}
		cur = refusedPart{}
	}
	for _, r := range rejected {
		e := refusedEntry{Index: r.Index, MessageID: r.MessageID, Reason: pii.RedactText(r.Reason())}
		if raw := r.Raw; len(raw) <= maxKeptEvent && json.Valid(raw) {
			e.Event = pii.Redact(raw) // whatever the source keeps on the stream: the queue is read by people
		} else {
			e.Bytes = len(r.Raw)
		}
		b, err := encode(e)
		if err != nil || len(open)+len(b)+len(closing) > message.MaxFailedData { // keep only its size
			e.Event, e.Bytes = nil, len(r.Raw)
			b, _ = encode(e)
		}
		if cur.count > 0 && len(cur.data)+1+len(b)+len(closing) > message.MaxFailedData {
			flush()
		}
		if cur.count == 0 {
			cur.data, cur.first = append(cur.data, open...), r
		} else {
			cur.data = append(cur.data, ',')
		}
		cur.data = append(cur.data, b...)
		cur.count++
	}
	flush()
	return parts
}

// encode writes an entry as JSON without escaping HTML, so that an event keeps its size.
func encode(e refusedEntry) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(e)
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), err
}

// batchRefusal is a batch none of whose events was accepted.
type batchRefusal struct{ rejected []beacon.Rejected }

func (b *batchRefusal) Error() string {
	if len(b.rejected) == 1 {
		return b.rejected[0].Err.Error()
	}
	return fmt.Sprintf("all %d events of the batch were refused; first: %s", len(b.rejected), b.rejected[0].Err.Error())
}

// maxRejectedListed bounds the "rejected" list of a response (rejectedCount says how many were
// refused in all), so that an answer stays a few kilobytes whatever the batch.
const maxRejectedListed = 100

// rejectedBody is the "rejected" list of a response: the first maxRejectedListed refusals.
func rejectedBody(rejected []beacon.Rejected) []map[string]any {
	rejected = rejected[:min(len(rejected), maxRejectedListed)]
	out := make([]map[string]any, len(rejected))
	for i, r := range rejected {
		m := map[string]any{"index": r.Index, "reason": r.Reason()}
		if r.MessageID != "" {
			m["messageId"] = r.MessageID
		}
		out[i] = m
	}
	return out
}

// success is the answer to an accepted call: Segment's {"success":true}, with the counts when some
// events of a batch were refused.
func success(out result) events.APIGatewayV2HTTPResponse {
	body := map[string]any{"success": true}
	if len(out.rejected) > 0 {
		body["accepted"], body["rejected"], body["rejectedCount"] = out.accepted, rejectedBody(out.rejected), len(out.rejected)
	}
	return reply(http.StatusOK, body, nil)
}
