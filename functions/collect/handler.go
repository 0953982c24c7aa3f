package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/beaconstream"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/pii"
	"github.com/dcrm-project/dcrm/shared/source"
)

// sources finds the source a write key belongs to (keystore.Store).
type sources interface {
	Source(ctx context.Context, writeKey string) (source.Source, error)
}

// stream takes validated events (beaconstream.Stream).
type stream interface {
	Put(ctx context.Context, events []beacon.Event) error
}

// retryAfter is how long senders are asked to wait when a dependency is down (seconds).
const retryAfter = "5"

// retryAfterThrottled is how long senders are asked to wait when the stream is at its write limit
// (seconds): Kinesis limits are per second, so a short wait is enough.
const retryAfterThrottled = "1"

type handler struct {
	keys   sources
	stream stream
	now    func() time.Time
	newID  func() string // message ids for events sent without one
	log    *slog.Logger
	failed sender  // the failed-events queue, for refused events of a batch (batch.go); nil: none
	limits limiter // each source's rate (ratelimit.go)
	// counts counts the refused events by day for the console's health page (batch.go); nil: not
	// counted.
	counts failureCounter
}

// handle serves the collection API (see README.md and events/openapi/openapi.yaml): POST
// /v1/track, /v1/page, /v1/screen, /v1/identify, /v1/group, /v1/alias and /v1/batch in the shape
// of Segment's Tracking API, their CORS preflights, the pixel and the tracker script.
func (h *handler) handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	return h.serve(ctx, req, []byte(req.Body)), nil
}

// serve is handle with the request's body apart, as the event carries it (base64 when
// req.IsBase64Encoded): the runtime's entry (invocation) reads it out of the event without making
// a string of it first.
func (h *handler) serve(ctx context.Context, req events.APIGatewayV2HTTPRequest, body []byte) events.APIGatewayV2HTTPResponse {
	if isScript(req) { // GET /t.js, the tracker (script.go)
		return serveScript(req)
	}
	if resp, ok := preflight(req); ok { // OPTIONS, the CORS preflight (cors.go)
		return resp
	}
	out, err := h.collect(ctx, req, body)
	resp := response(out, err)
	if origin := header(req, "Origin"); origin != "" && resp.StatusCode != http.StatusForbidden {
		resp.Headers["Access-Control-Allow-Origin"] = origin
		resp.Headers["Vary"] = "Origin"
		if _, ok := resp.Headers["Retry-After"]; ok { // so that the tracker can wait as asked
			resp.Headers["Access-Control-Expose-Headers"] = "Retry-After"
		}
	}
	var r *refusal
	if err != nil && !(errors.As(err, &r) && r.quiet) {
		level := slog.LevelInfo
		if resp.StatusCode >= 500 {
			level = slog.LevelError
		}
		h.log.LogAttrs(ctx, level, "refused", slog.Int("status", resp.StatusCode), slog.String("error", pii.RedactText(err.Error())),
			slog.String("requestId", req.RequestContext.RequestID), slog.String("path", req.RawPath))
	}
	if _, ok := pixelKind(req); ok { // GET /v1/pixel/{type} answers with a GIF (pixel.go)
		resp = gifResponse(resp)
	}
	return resp
}

func (h *handler) collect(ctx context.Context, req events.APIGatewayV2HTTPRequest, body []byte) (result, error) {
	c, err := readCall(req, body)
	if err != nil {
		return result{}, err
	}
	var src source.Source
	admitted := false
	if c.writeKey != "" { // from the Authorization header: checked before the body is read
		if src, err = h.admit(ctx, c); err != nil {
			return result{}, err
		}
		admitted = true
	}
	if err := c.readPayload(req, body); err != nil {
		return result{}, err
	}
	if !admitted {
		if src, err = h.admit(ctx, c); err != nil {
			return result{}, err
		}
	}
	h.limits.take(src, c.payload.Len(), h.now()) // every event counts, refused ones too
	evs, rejected, err := h.accept(c, src)       // a batch's valid events, its refused ones apart (batch.go)
	if err != nil {
		h.setAside(ctx, src, req, rejected)
		return result{}, err
	}
	h.enrich(req, src, evs) // address, device, bots, campaign, channel; PII hashed (enrich.go)
	put, cancel := beforeDeadline(ctx, putMargin)
	defer cancel()
	if err := h.stream.Put(put, evs); err != nil {
		return result{}, err
	}
	h.setAside(ctx, src, req, rejected)
	return result{accepted: len(evs), rejected: rejected}, nil
}

// putMargin is how long before the invocation's deadline the stream put gives up: a put the stream
// keeps refusing (throttled, retried with backoff) then ends as 503 with Retry-After, which the
// sender retries, rather than as a timed-out invocation, which API Gateway answers with a 500.
const putMargin = time.Second

// beforeDeadline is ctx ending margin before its deadline, if it has one.
func beforeDeadline(ctx context.Context, margin time.Duration) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, d.Add(-margin))
	}
	return context.WithCancel(ctx)
}

// admit authorises the call (authorise) and refuses it while its source is over its rate.
func (h *handler) admit(ctx context.Context, c call) (source.Source, error) {
	src, err := h.authorise(ctx, c)
	if err != nil {
		return src, err
	}
	if wait, first := h.limits.wait(src, h.now()); wait > 0 {
		r := refuse(http.StatusTooManyRequests, "this source is over its rate of %d events per second; retry later", src.Rate())
		r.header = map[string]string{"Retry-After": strconv.Itoa(retryAfterSeconds(wait))}
		r.quiet = !first // a flood is logged once, when it starts, not once a request
		if first {
			h.log.LogAttrs(ctx, slog.LevelWarn, "source over its rate", slog.String("sourceId", src.ID), slog.Int("rate", src.Rate()))
		}
		return src, r
	}
	return src, nil
}

// authorise finds the source of the call's write key and checks that the call may use it. A
// trusted (server) key may join known customers, so it must stay on servers: it is refused in a
// pixel, whose URL ends up in emails and proxy logs, and on any request with an Origin, which only
// browsers send. No answer repeats the key.
func (h *handler) authorise(ctx context.Context, c call) (source.Source, error) {
	src, err := h.keys.Source(ctx, c.writeKey)
	switch {
	case errors.Is(err, keystore.ErrUnknownKey):
		return src, refuse(http.StatusUnauthorized, "unknown write key")
	case err != nil:
		return src, &refusal{status: http.StatusServiceUnavailable, reason: "write keys cannot be checked right now; retry later", err: err}
	case src.Trusted && c.pixel:
		return src, refuse(http.StatusForbidden, "a server (trusted) write key may not be used in a pixel, whose URL is seen by mail clients and proxies: "+
			"use a browser source's key, and replace this one if it was published")
	case src.Trusted && c.origin != "":
		return src, refuse(http.StatusForbidden, "a server (trusted) write key may not be used from a browser (the request has an Origin): "+
			"use a browser source's key, and replace this one if it was published")
	case !src.AllowsOrigin(c.origin):
		return src, refuse(http.StatusForbidden, "origin %s may not use this write key", c.origin)
	}
	return src, nil
}

// response maps the outcome of a call to what the sender reads: Segment's {"success":true}, or
// {"error": reason} with the status that tells SDKs whether to retry.
func response(out result, err error) events.APIGatewayV2HTTPResponse {
	var (
		r     *refusal
		bad   *beacon.InvalidError
		batch *batchRefusal
	)
	switch {
	case err == nil:
		return success(out)
	case errors.As(err, &batch):
		return reply(http.StatusBadRequest, map[string]any{"error": batch.Error(), "rejected": rejectedBody(batch.rejected),
			"rejectedCount": len(batch.rejected)}, nil)
	case errors.As(err, &r):
		if r.status == http.StatusServiceUnavailable {
			r.header = map[string]string{"Retry-After": retryAfter}
		}
		return reply(r.status, map[string]any{"error": r.reason}, r.header)
	case errors.As(err, &bad) && bad.TooLarge:
		return reply(http.StatusRequestEntityTooLarge, map[string]any{"error": bad.Error()}, nil)
	case errors.As(err, &bad):
		return reply(http.StatusBadRequest, map[string]any{"error": bad.Error()}, nil)
	case errors.Is(err, beaconstream.ErrThrottled):
		// The stream is there but its shards are at their write limit: slow down, then retry.
		return reply(http.StatusTooManyRequests, map[string]any{"error": "too many events right now; retry later"},
			map[string]string{"Retry-After": retryAfterThrottled})
	case errors.Is(err, beaconstream.ErrUnavailable):
		return reply(http.StatusServiceUnavailable, map[string]any{"error": "events cannot be stored right now; retry later"},
			map[string]string{"Retry-After": retryAfter})
	default:
		return reply(http.StatusInternalServerError, map[string]any{"error": "internal error"}, nil)
	}
}

func reply(status int, body map[string]any, header map[string]string) events.APIGatewayV2HTTPResponse {
	b, _ := json.Marshal(body) // maps of strings and bools always encode
	h := map[string]string{"Content-Type": "application/json"}
	for k, v := range header {
		h[k] = v
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: h, Body: string(b)}
}
