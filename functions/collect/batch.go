package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/beacon"
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

// setAside sends the refused events of a batch from src to the failed-events queue. The sender was
// told why in the response, so a queue that cannot take them is logged, not fatal.
func (h *handler) setAside(ctx context.Context, src source.Source, req events.APIGatewayV2HTTPRequest, rejected []beacon.Rejected) {
	if h.failed == nil {
		return
	}
	for _, r := range rejected {
		reason := fmt.Sprintf("source %s, request %s: %s", src.ID, req.RequestContext.RequestID, r.Err.Error())
		if r.MessageID != "" {
			reason = fmt.Sprintf("source %s, request %s: batch[%d] (messageId %s): %s", src.ID, req.RequestContext.RequestID, r.Index, r.MessageID, r.Reason())
		}
		// The queue is read by people: personal data is hashed or redacted, whatever the source
		// keeps on the stream, and so is an address the reason quotes.
		reason = pii.RedactText(reason)
		data, cut := pii.RedactUpTo(r.Raw, message.MaxFailedData)
		f := message.NewFailedEvent(stage, reason, data, h.now())
		f.Truncated = f.Truncated || cut
		if err := h.failed.Send(ctx, f); err != nil {
			h.log.LogAttrs(ctx, slog.LevelError, "refused event not set aside", slog.String("reason", reason), slog.String("error", err.Error()))
		}
	}
}

// batchRefusal is a batch none of whose events was accepted.
type batchRefusal struct{ rejected []beacon.Rejected }

func (b *batchRefusal) Error() string {
	if len(b.rejected) == 1 {
		return b.rejected[0].Err.Error()
	}
	return fmt.Sprintf("all %d events of the batch were refused; first: %s", len(b.rejected), b.rejected[0].Err.Error())
}

// rejectedBody is the "rejected" list of a response.
func rejectedBody(rejected []beacon.Rejected) []map[string]any {
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
		body["accepted"], body["rejected"] = out.accepted, rejectedBody(out.rejected)
	}
	return reply(http.StatusOK, body, nil)
}
