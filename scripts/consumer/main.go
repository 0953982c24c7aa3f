// Command consumer is an example downstream consumer of dcrm's queues (alerts, triggers, profile
// updates, failed events): it long-polls them, routes each message by its SQS message attributes
// `type` and `version`, checks the body against the message's JSON Schema (package
// events/schemas, which embeds them), drops redeliveries by the message's id, prints one JSON line
// per message, and deletes what it handled.
// A message it cannot check (unknown type or version, invalid body) is reported and left on the
// queue, so that after the queue's receive limit it lands in the dead-letter queue for a person to
// look at: exactly what a real consumer should do with what it does not understand.
//
// The failed-events queue also carries Lambda's on-failure records (a stream batch given up on, a
// failed asynchronous invocation), which have no type or version attribute: the consumer knows them
// by their shape (package events/onfailure) and reports each once, as awaiting replay. It leaves
// them for `dcrm replay`, or with --park moves them to another queue (where `dcrm replay --queue`
// finds them), so that they stop cycling through the failed-events queue.
//
//	go run ./scripts/consumer --queue "$DCRM_ALERTS_QUEUE_URL" --queue "$DCRM_PROFILE_UPDATES_QUEUE_URL" [--once]
//	go run ./scripts/consumer --queue "$DCRM_FAILED_EVENTS_QUEUE_URL" [--park PARKING_QUEUE_URL]
//
// AWS configuration comes from the SDK's environment (source .dcrm/local.env for the local stack).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dcrm-project/dcrm/events/onfailure"
	"github.com/dcrm-project/dcrm/events/schemas"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
)

type queues []string

func (q *queues) String() string     { return fmt.Sprint(*q) }
func (q *queues) Set(v string) error { *q = append(*q, v); return nil }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "consumer:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("consumer", flag.ContinueOnError)
	var urls queues
	fs.Var(&urls, "queue", "URL of a queue to consume (repeat for several)")
	once := fs.Bool("once", false, "stop when every queue is empty instead of polling for ever")
	wait := fs.Duration("wait", 20*time.Second, "long-poll time per receive (at most 20s)")
	park := fs.String("park", "", "URL of a queue to move Lambda's on-failure records to (default: leave them for `dcrm replay`)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(urls) == 0 {
		return errors.New("no --queue given")
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load aws config: %w", err)
	}
	client := sqs.NewFromConfig(cfg)
	c := &consumer{seen: newSeen(100_000), out: json.NewEncoder(out)}
	if *park != "" {
		c.park = parking{client: client, url: *park}
	}
	for {
		empty := true
		for _, url := range urls {
			n, err := c.drain(ctx, url, messagequeue.New(client, url), *wait)
			if err != nil {
				return err
			}
			empty = empty && n == 0
		}
		if *once && empty {
			return nil
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// consumer handles messages: checks them, drops repeats, reports them.
type consumer struct {
	seen *seen
	out  *json.Encoder
	park sender // where Lambda's on-failure records go; nil leaves them on their queue
}

// Outcomes of a message.
const (
	outcomeHandled  = "handled"
	outcomeRepeat   = "repeat"
	outcomeRejected = "rejected"        // left on the queue, for its dead-letter queue
	outcomeAwaiting = "awaiting-replay" // a Lambda on-failure record, left for `dcrm replay`
	outcomeParked   = "parked"          // a Lambda on-failure record, moved to the parking queue
)

type sender interface {
	SendBody(ctx context.Context, body string) error
}

// parking is the queue Lambda's on-failure records are moved to. They travel as Lambda sent them,
// without attributes.
type parking struct {
	client *sqs.Client
	url    string
}

func (p parking) SendBody(ctx context.Context, body string) error {
	if _, err := p.client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(p.url), MessageBody: aws.String(body)}); err != nil {
		return fmt.Errorf("park on-failure record: %w", err)
	}
	return nil
}

// report is the line printed per message.
type report struct {
	Queue   string          `json:"queue"`
	Type    string          `json:"type"`
	Version int             `json:"version"`
	ID      string          `json:"id,omitempty"`
	Outcome string          `json:"outcome"` // handled, repeat, rejected, awaiting-replay, parked
	Reason  string          `json:"reason,omitempty"`
	Body    json.RawMessage `json:"body,omitempty"`
	leave   bool            // not deleted
}

type receiver interface {
	Receive(ctx context.Context, maxMessages int, wait time.Duration) ([]messagequeue.Delivery, error)
	Delete(ctx context.Context, d messagequeue.Delivery) error
}

// drain receives one round of messages from a queue and handles them; it returns how many it got.
func (c *consumer) drain(ctx context.Context, url string, q receiver, wait time.Duration) (int, error) {
	ds, err := q.Receive(ctx, 10, wait)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil
		}
		return 0, err
	}
	for _, d := range ds {
		r := c.handle(url, d)
		if r.Outcome == outcomeParked {
			if err := c.park.SendBody(ctx, string(d.Body)); err != nil {
				return 0, err
			}
		}
		if err := c.out.Encode(r); err != nil {
			return 0, err
		}
		if r.leave {
			continue // for the dead-letter queue, or for `dcrm replay`
		}
		if err := q.Delete(ctx, d); err != nil {
			return 0, err
		}
	}
	return len(ds), nil
}

// handle checks one delivery. A real consumer would act on it here (update its CRM, send the
// basket reminder …) before it is deleted.
func (c *consumer) handle(url string, d messagequeue.Delivery) report {
	if d.Type == "" {
		if rec, err := onfailure.Parse(d.Body); !errors.Is(err, onfailure.ErrNotOnFailure) {
			return c.onFailure(url, d, rec, err)
		}
	}
	r := report{Queue: url, Type: d.Type, Version: d.Version}
	if err := schemas.Validate(d.Type, d.Version, d.Body); err != nil {
		r.Outcome, r.Reason, r.Body, r.leave = outcomeRejected, err.Error(), d.Body, true
		return r
	}
	r.ID = messageID(d.Body)
	if r.ID != "" && !c.seen.add(d.Type+"/"+r.ID) {
		r.Outcome = outcomeRepeat
		return r
	}
	r.Outcome, r.Body = outcomeHandled, d.Body
	return r
}

// onFailure handles one of Lambda's on-failure records (err: why it cannot be read): reported once
// by its request id, and parked when there is a parking queue.
func (c *consumer) onFailure(url string, d messagequeue.Delivery, rec onfailure.Record, err error) report {
	r := report{Queue: url, Type: "lambda-on-failure", Body: d.Body, leave: c.park == nil}
	if err != nil {
		r.Outcome, r.Reason, r.leave = outcomeRejected, err.Error(), true
		return r
	}
	r.Type, r.ID = "lambda-on-failure/"+string(rec.Kind()), rec.RequestContext.RequestID
	if !c.seen.add(r.Type + "/" + r.ID) {
		r.Outcome, r.Body = outcomeRepeat, nil
		return r
	}
	r.Reason = fmt.Sprintf("Lambda gave up on %s (%s): `dcrm replay` replays it", functionName(rec.RequestContext.FunctionARN), rec.RequestContext.Condition)
	r.Outcome = outcomeAwaiting
	if c.park != nil {
		r.Outcome = outcomeParked
	}
	return r
}

// functionName is the name in a Lambda function ARN.
func functionName(arn string) string {
	if i := strings.Index(arn, ":function:"); i >= 0 {
		name, _, _ := strings.Cut(arn[i+len(":function:"):], ":")
		return name
	}
	return arn
}

// messageID is the id a message is deduplicated by: messageId, or alertId for alerts.
func messageID(body []byte) string {
	var ids struct {
		MessageID string `json:"messageId"`
		AlertID   string `json:"alertId"`
	}
	_ = json.Unmarshal(body, &ids) // checked against its schema already
	if ids.MessageID != "" {
		return ids.MessageID
	}
	return ids.AlertID
}

// seen remembers the latest ids handled, up to a bound.
type seen struct {
	ids   map[string]bool
	order []string
	limit int
}

func newSeen(limit int) *seen { return &seen{ids: map[string]bool{}, limit: limit} }

// add returns false if id was seen already.
func (s *seen) add(id string) bool {
	if s.ids[id] {
		return false
	}
	if len(s.order) == s.limit {
		delete(s.ids, s.order[0])
		s.order = s.order[1:]
	}
	s.ids[id] = true
	s.order = append(s.order, id)
	return true
}
