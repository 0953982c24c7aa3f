// Package messagequeue sends dcrm's messages (package message) to SQS queues and reads them back. Each
// message body is the message's JSON; its type and version also travel as the message attributes
// "type" (String) and "version" (Number), with any the message adds (a trigger's "kind"), so
// consumers can route or filter without parsing bodies.
package messagequeue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
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

// Queue is one SQS queue, by URL.
type Queue struct {
	client *sqs.Client
	url    string
}

// New returns the queue at url.
func New(client *sqs.Client, url string) *Queue { return &Queue{client: client, url: url} }

// attributed is a message with string attributes of its own beside type and version.
type attributed interface {
	MessageAttributes() map[string]string
}

// Send validates a message and sends it.
func (q *Queue) Send(ctx context.Context, m message.Message) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("send %s: %w", m.MessageType(), err)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", m.MessageType(), err)
	}
	attrs := map[string]types.MessageAttributeValue{}
	if a, ok := m.(attributed); ok {
		for k, v := range a.MessageAttributes() {
			attrs[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	attrs[AttrType] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(m.MessageType())}
	attrs[AttrVersion] = types.MessageAttributeValue{DataType: aws.String("Number"), StringValue: aws.String(strconv.Itoa(m.MessageVersion()))}
	_, err = q.client.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:          aws.String(q.url),
		MessageBody:       aws.String(string(body)),
		MessageAttributes: attrs,
	})
	if err != nil {
		return fmt.Errorf("send %s: %w", m.MessageType(), err)
	}
	return nil
}

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
