package main

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/calendar"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
)

var at = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

// lapseAlert is the alert the score function sends for p, unseen for 40 days.
func lapseAlert(p message.ProfileUpdated) message.Lapse {
	clv := 35.2
	return message.NewLapse(message.Lapse{ProfileID: p.ProfileID, UserID: p.UserID, AnonymousIDs: p.AnonymousIDs, LastSeen: p.LastSeen,
		InactiveDays: 40, Risk: 0.88, PAlive: 0.12, Value: clv, CLV: &clv, Reason: "lapse risk 0.88: P(alive) 0.12; value 35.20",
		RaisedAt: p.LastSeen.Add(40 * calendar.Day)}, time.Time{})
}

// The consumer handles every message type dcrm sends, drops a redelivery by its id, and leaves a
// message it cannot check on the queue (for the dead-letter queue), saying why.
func TestConsumerChecksRoutesAndDropsRepeats(t *testing.T) {
	e := localawstest.Reachable(t)
	for k, v := range e.Environment() {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	alerts, updates := localawstest.NewQueue(t), localawstest.NewQueue(t)
	p := message.NewProfileUpdated(message.ProfileUpdated{ProfileID: "prf_1", ProfileVersion: 3, UserID: "u-1", AnonymousIDs: []string{"a-1"},
		Counts: message.Counts{Events: 2, PageViews: 2}, FirstSeen: at, LastSeen: at, Changes: message.ProfileChanges{Events: 2}, UpdatedAt: at})
	sent := map[string][]message.Message{
		alerts: {lapseAlert(p), message.NewFailedEvent("stitch", "invalid", []byte(`{}`), at)},
		updates: {
			p,
			message.NewProfileMerged("prf_0", "prf_1", at),
			message.NewProfileMerged("prf_0", "prf_1", at), // a redelivery
			message.NewProfileSplit("prf_1", "prf_0", 1, 2, at),
			message.NewProfileConsent("prf_1", map[string]message.Consent{"marketing": {Granted: true, At: at}}),
			message.NewProfileErased("prf_1", []string{"prf_0"}, at),
		},
	}
	for url, ms := range sent {
		q := messagequeue.New(e.SQSClient(), url)
		for _, m := range ms {
			require.NoError(t, q.Send(ctx, m))
		}
	}
	// A body its schema refuses, sent by hand.
	_, err := e.SQSClient().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(updates), MessageBody: aws.String(`{"type":"profile.merged","version":1}`),
		MessageAttributes: map[string]types.MessageAttributeValue{
			messagequeue.AttrType:    {DataType: aws.String("String"), StringValue: aws.String(message.TypeProfileMerged)},
			messagequeue.AttrVersion: {DataType: aws.String("Number"), StringValue: aws.String("1")},
		}})
	require.NoError(t, err)

	var out bytes.Buffer
	require.NoError(t, run(ctx, []string{"--queue", alerts, "--queue", updates, "--once", "--wait", "1s"}, &out))

	outcomes := map[string]int{}
	handled := map[string]int{}
	dec := json.NewDecoder(&out)
	for dec.More() {
		var r report
		require.NoError(t, dec.Decode(&r))
		outcomes[r.Outcome]++
		if r.Outcome == "handled" {
			handled[r.Type]++
		}
		if r.Outcome == "rejected" {
			require.Contains(t, r.Reason, "does not match profile.merged v1")
		}
	}
	require.Equal(t, map[string]int{"handled": 7, "repeat": 1, "rejected": 1}, outcomes)
	require.Equal(t, map[string]int{message.TypeLapse: 1, message.TypeFailedEvent: 1, message.TypeProfileUpdated: 1, message.TypeProfileMerged: 1,
		message.TypeProfileSplit: 1, message.TypeProfileConsent: 1, message.TypeProfileErased: 1}, handled)

	// The rejected message is still on the queue, in flight until its visibility timeout ends;
	// nothing else is left to receive.
	attrs, err := e.SQSClient().GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(updates),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	require.NoError(t, err)
	require.Equal(t, "1", attrs.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	for _, url := range []string{alerts, updates} {
		left, err := e.SQSClient().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
		require.NoError(t, err)
		require.Empty(t, left.Messages)
	}
}
