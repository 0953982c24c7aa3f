package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
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

// sampleBody is the body of the SQS message in a sample under events/sqs.
func sampleBody(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "events", "sqs", "onfailure", name))
	require.NoError(t, err)
	var ev events.SQSEvent
	require.NoError(t, json.Unmarshal(raw, &ev))
	return ev.Records[0].Body
}

// Lambda's on-failure records carry no type or version attribute: the consumer knows them by their
// shape, reports each once as awaiting replay and leaves it for `dcrm replay` (or parks it when
// told to), instead of rejecting it on every receive; a broken one is rejected with its reason.
func TestConsumerReportsLambdaOnFailureRecords(t *testing.T) {
	e := localawstest.Reachable(t)
	for k, v := range e.Environment() {
		t.Setenv(k, v)
	}
	ctx := context.Background()
	batch, async := sampleBody(t, "kinesis-batch.json"), sampleBody(t, "async-invocation.json")
	broken := strings.Replace(batch, `"batchSize":3`, `"batchSize":0`, 1)
	putRaw := func(url string, bodies ...string) {
		for _, b := range bodies {
			_, err := e.SQSClient().SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(url), MessageBody: aws.String(b)})
			require.NoError(t, err)
		}
	}
	consume := func(args ...string) []report {
		var out bytes.Buffer
		require.NoError(t, run(ctx, append(args, "--once", "--wait", "1s"), &out))
		var rs []report
		for dec := json.NewDecoder(&out); dec.More(); {
			var r report
			require.NoError(t, dec.Decode(&r))
			rs = append(rs, r)
		}
		return rs
	}
	outcomes := func(rs []report) map[string]int {
		m := map[string]int{}
		for _, r := range rs {
			m[r.Type+" "+r.Outcome]++
		}
		return m
	}
	// inFlight is how many messages of the queue were received and not deleted; it checks that
	// none is left to receive.
	inFlight := func(url string) string {
		attrs, err := e.SQSClient().GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
			AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
		require.NoError(t, err)
		left, err := e.SQSClient().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
		require.NoError(t, err)
		require.Empty(t, left.Messages)
		return attrs.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)]
	}

	failed := localawstest.NewQueue(t)
	putRaw(failed, batch, async, broken, batch) // the last: the same record delivered again
	require.NoError(t, messagequeue.New(e.SQSClient(), failed).Send(ctx, message.NewFailedEvent("stitch", "invalid", []byte(`{}`), at)))
	rs := consume("--queue", failed)
	require.Equal(t, map[string]int{
		"lambda-on-failure/kinesis-batch awaiting-replay":    1,
		"lambda-on-failure/kinesis-batch repeat":             1,
		"lambda-on-failure/async-invocation awaiting-replay": 1,
		"lambda-on-failure rejected":                         1,
		"failed-event handled":                               1,
	}, outcomes(rs))
	for _, r := range rs {
		switch r.Outcome {
		case outcomeAwaiting:
			require.Contains(t, []string{"c9b8fa9f-5a7f-4a8e-af9c-0c604cde93a5", "e4b46cbf-b738-4f3e-9d8a-5c1d7a8b5a2e"}, r.ID)
			require.Regexp(t, "^Lambda gave up on dcrm-service-(stitch|score) \\((RetryAttemptsExhausted|RetriesExhausted)\\): `dcrm replay` replays it$", r.Reason)
		case outcomeRejected:
			require.Contains(t, r.Reason, "batchSize 0")
		}
	}
	require.Equal(t, "4", inFlight(failed), "the on-failure records are left for dcrm replay, the broken one for a person")

	// Parked: moved, as Lambda sent them, to the parking queue.
	source, parked := localawstest.NewQueue(t), localawstest.NewQueue(t)
	putRaw(source, batch, async)
	rs = consume("--queue", source, "--park", parked)
	require.Equal(t, map[string]int{"lambda-on-failure/kinesis-batch parked": 1, "lambda-on-failure/async-invocation parked": 1}, outcomes(rs))
	require.Equal(t, "0", inFlight(source), "moved, not left")
	got, err := e.SQSClient().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(parked), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
	require.NoError(t, err)
	var bodies []string
	for _, m := range got.Messages {
		bodies = append(bodies, aws.ToString(m.Body))
	}
	require.ElementsMatch(t, []string{batch, async}, bodies)
}
