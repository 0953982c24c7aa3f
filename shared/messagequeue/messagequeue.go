// Package messagequeue sends dcrm's messages (package message) to SQS queues and reads them back. Each
// message body is the message's JSON; its type and version also travel as the message attributes
// "type" (String) and "version" (Number), with any the message adds (a trigger's "kind"), so
// consumers can route or filter without parsing bodies. Messages are sent in batches
// (SendMessageBatch): one call carries up to ten.
package messagequeue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dcrm-project/dcrm/shared/message"
)

// Message attribute names.
const (
	AttrType    = "type"
	AttrVersion = "version"
)

// Limits of one SendMessageBatch call. SQS takes 10 entries and, on queues made before 2025 or
// with the old default, 256 KiB of payload (bodies, attribute names, types and values) per call;
// keeping to them fits every queue.
const (
	MaxBatchEntries = 10
	MaxBatchBytes   = 256 << 10
)

// Retries of the entries SQS failed on its side (not the sender's fault) in an answer that took
// the others: the SDK retries whole calls, never entries of a partial answer.
const (
	maxAttempts  = 4
	firstBackoff = 50 * time.Millisecond
)

// Queue is one SQS queue, by URL.
type Queue struct {
	client  *sqs.Client
	url     string
	backoff time.Duration // before the first retry of failed entries, doubled at each

	mu      sync.Mutex
	waiting []*pending // messages given to Send, waiting to go together
	sending bool       // a Send is sending the messages that waited
}

// pending is a message given to Send, and where its outcome goes: nil or its error, or errLead
// when its sender is to send what waits.
type pending struct {
	m    message.Message
	done chan error
}

var errLead = errors.New("lead the next call")

// New returns the queue at url.
func New(client *sqs.Client, url string) *Queue {
	return &Queue{client: client, url: url, backoff: firstBackoff}
}

// attributed is a message with string attributes of its own beside type and version.
type attributed interface {
	MessageAttributes() map[string]string
}

// Send validates a message and sends it. Sends made at the same time (the workers of a scoring run,
// the shards of a trigger run) share calls, as a database's group commit does: a message given while
// a call is on its way waits for it to end; then all that waited go together, ten to a call, sent
// by the first of their senders. A lone message goes at once. A waiting Send returns when its
// message has gone, whatever its own context: the context of the Send that sends it bounds the call.
func (q *Queue) Send(ctx context.Context, m message.Message) error {
	p := &pending{m: m, done: make(chan error, 1)}
	q.mu.Lock()
	q.waiting = append(q.waiting, p)
	wait := q.sending
	q.sending = true
	q.mu.Unlock()
	if wait {
		if err := <-p.done; err != errLead {
			return err
		}
	}
	q.mu.Lock()
	batch := q.waiting
	q.waiting = nil
	q.mu.Unlock()
	msgs := make([]message.Message, len(batch))
	for i, b := range batch {
		msgs[i] = b.m
	}
	var mine error
	for i, err := range q.sendAllSafely(ctx, msgs) {
		if batch[i] == p {
			mine = err
		} else {
			batch[i].done <- err
		}
	}
	q.mu.Lock()
	if len(q.waiting) > 0 { // those that came meanwhile: the first of them sends them
		q.waiting[0].done <- errLead
	} else {
		q.sending = false
	}
	q.mu.Unlock()
	return mine
}

// sendAllSafely is SendAll with a panic (a message that cannot be encoded, say) turned into every
// message's error, so that the Sends waiting on it are answered and the next can lead.
func (q *Queue) sendAllSafely(ctx context.Context, ms []message.Message) (errs []error) {
	defer func() {
		if r := recover(); r != nil {
			errs = make([]error, len(ms))
			for i := range errs {
				errs[i] = fmt.Errorf("send messages: %v", r)
			}
		}
	}()
	return q.SendAll(ctx, ms)
}

// SendAll validates messages and sends the valid ones in as few SendMessageBatch calls as the
// limits allow (MaxBatchEntries, MaxBatchBytes), in order. Entries SQS fails on its side are sent
// again, alone of their call, with backoff; an entry it refuses as the sender's fault (a message too
// large for the queue, say) is not. It returns one error per message, nil for each one sent.
func (q *Queue) SendAll(ctx context.Context, ms []message.Message) []error {
	errs := make([]error, len(ms))
	var todo []entry
	for i, m := range ms {
		e, err := newEntry(i, m)
		if err != nil {
			errs[i] = err
			continue
		}
		todo = append(todo, e)
	}
	wait := q.backoff
	for attempt := 1; len(todo) > 0; attempt++ {
		var again []entry
		for _, call := range pack(todo) {
			again = append(again, q.sendBatch(ctx, call, errs)...)
		}
		if len(again) == 0 || attempt == maxAttempts {
			break
		}
		select {
		case <-ctx.Done():
			for _, e := range again {
				errs[e.index] = fmt.Errorf("send %s: %w", e.typ, ctx.Err())
			}
			return errs
		case <-time.After(wait + rand.N(wait)): // jittered, so that many senders do not retry together
		}
		wait *= 2
		todo = again
	}
	return errs
}

// entry is a valid message ready to send: its position in SendAll's list, type, request entry and
// size as SQS counts it.
type entry struct {
	index int
	typ   string
	req   types.SendMessageBatchRequestEntry
	size  int
}

func newEntry(i int, m message.Message) (entry, error) {
	if err := m.Validate(); err != nil {
		return entry{}, fmt.Errorf("send %s: %w", m.MessageType(), err)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return entry{}, fmt.Errorf("encode %s: %w", m.MessageType(), err)
	}
	attrs := map[string]types.MessageAttributeValue{}
	if a, ok := m.(attributed); ok {
		for k, v := range a.MessageAttributes() {
			attrs[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	attrs[AttrType] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(m.MessageType())}
	attrs[AttrVersion] = types.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(m.MessageVersion()))}
	size := len(body)
	for k, a := range attrs {
		size += len(k) + len(aws.ToString(a.DataType)) + len(aws.ToString(a.StringValue))
	}
	return entry{index: i, typ: m.MessageType(), size: size, req: types.SendMessageBatchRequestEntry{
		Id: aws.String(strconv.Itoa(i)), MessageBody: aws.String(string(body)), MessageAttributes: attrs,
	}}, nil
}

// pack groups entries, in order, into calls within MaxBatchEntries and MaxBatchBytes. An entry
// larger than MaxBatchBytes gets a call of its own, where SQS judges it against the queue's limit.
func pack(es []entry) [][]entry {
	var calls [][]entry
	var cur []entry
	size := 0
	for _, e := range es {
		if len(cur) == MaxBatchEntries || (len(cur) > 0 && size+e.size > MaxBatchBytes) {
			calls, cur, size = append(calls, cur), nil, 0
		}
		cur, size = append(cur, e), size+e.size
	}
	if len(cur) > 0 {
		calls = append(calls, cur)
	}
	return calls
}

// sendBatch sends one call's entries, setting errs for those that failed for good; it returns
// those worth sending again (failed on SQS's side).
func (q *Queue) sendBatch(ctx context.Context, call []entry, errs []error) []entry {
	reqs := make([]types.SendMessageBatchRequestEntry, len(call))
	for i, e := range call {
		reqs[i] = e.req
	}
	out, err := q.client.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(q.url), Entries: reqs})
	if err != nil { // the SDK has retried what was worth retrying
		for _, e := range call {
			errs[e.index] = fmt.Errorf("send %s: %w", e.typ, err)
		}
		return nil
	}
	sent := make(map[string]bool, len(out.Successful))
	for _, s := range out.Successful {
		sent[aws.ToString(s.Id)] = true
	}
	failed := make(map[string]types.BatchResultErrorEntry, len(out.Failed))
	for _, f := range out.Failed {
		failed[aws.ToString(f.Id)] = f
	}
	var again []entry
	for _, e := range call {
		id := aws.ToString(e.req.Id)
		f, isFailed := failed[id]
		switch {
		case sent[id]:
			errs[e.index] = nil
		case isFailed && f.SenderFault:
			errs[e.index] = fmt.Errorf("send %s: %w", e.typ, &EntryError{Code: aws.ToString(f.Code), Message: aws.ToString(f.Message), SenderFault: true})
		case isFailed:
			errs[e.index] = fmt.Errorf("send %s: %w", e.typ, &EntryError{Code: aws.ToString(f.Code), Message: aws.ToString(f.Message)})
			again = append(again, e)
		default: // neither taken nor refused: unknown, so sent again (consumers drop repeats by their id)
			errs[e.index] = fmt.Errorf("send %s: SQS answered nothing about it", e.typ)
			again = append(again, e)
		}
	}
	return again
}

// EntryError is SQS's refusal of one message of a batch.
type EntryError struct {
	Code, Message string
	// SenderFault is SQS's word that the message itself is wrong (too large for the queue, say),
	// so sending it again would fail again.
	SenderFault bool
}

func (e *EntryError) Error() string { return e.Code + ": " + e.Message }

// Delivery is a message as received.
type Delivery struct {
	Type    string
	Version int
	// Attributes are the message's other string attributes (a trigger's kind), by name.
	Attributes    map[string]string
	Body          json.RawMessage
	ReceiptHandle string
}

// Receive waits up to wait for at most max messages (1-10). Received messages are hidden from other
// receivers for the queue's visibility timeout; Delete them once handled.
func (q *Queue) Receive(ctx context.Context, maxMessages int, wait time.Duration) ([]Delivery, error) {
	out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:              aws.String(q.url),
		MaxNumberOfMessages:   int32(min(max(maxMessages, 1), 10)),
		WaitTimeSeconds:       int32(wait / time.Second),
		MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		return nil, fmt.Errorf("receive messages: %w", err)
	}
	ds := make([]Delivery, 0, len(out.Messages))
	for _, m := range out.Messages {
		d := Delivery{Body: json.RawMessage(aws.ToString(m.Body)), ReceiptHandle: aws.ToString(m.ReceiptHandle)}
		if a, ok := m.MessageAttributes[AttrType]; ok {
			d.Type = aws.ToString(a.StringValue)
		}
		if a, ok := m.MessageAttributes[AttrVersion]; ok {
			d.Version, _ = strconv.Atoi(aws.ToString(a.StringValue))
		}
		for k, a := range m.MessageAttributes {
			if k != AttrType && k != AttrVersion && aws.ToString(a.DataType) == "String" {
				if d.Attributes == nil {
					d.Attributes = map[string]string{}
				}
				d.Attributes[k] = aws.ToString(a.StringValue)
			}
		}
		ds = append(ds, d)
	}
	return ds, nil
}

// Delete removes a received message from the queue.
func (q *Queue) Delete(ctx context.Context, d Delivery) error {
	_, err := q.client.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.url), ReceiptHandle: aws.String(d.ReceiptHandle)})
	if err != nil {
		return fmt.Errorf("delete message: %w", err)
	}
	return nil
}
