package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/onfailure"
	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
	"github.com/dcrm-project/dcrm/shared/source"
)

// TestReplay runs `dcrm replay` on a local stack running the real functions: a batch stitch fails
// until the stream mapping gives up lands on the failed-events queue; once the fault is gone the
// replay puts its records back on the stream and the profile shows the events once, even when the
// same batch is replayed again. Records past the stream's retention are reported lost, dcrm's own
// failed events are listed and left, a failed asynchronous invocation is run again.
func TestReplay(t *testing.T) {
	ctx := context.Background()
	e := localawstest.Reachable(t)
	st, keys := devtest.Stack(t, "replay")
	writeKey, profileKey := keystore.NewKey("wk_"), keystore.NewKey("pk_")
	require.NoError(t, keys.PutSource(ctx, writeKey, source.Source{ID: "src_replay", Name: "replay"}))
	require.NoError(t, keys.PutProfileAPIKey(ctx, profileKey, "replay"))
	for k, v := range st.Env() {
		t.Setenv(k, v)
	}
	t.Setenv("DCRM_PROFILE_API_KEY", profileKey)
	res := st.Resources()
	queue := res[topology.FailedQueue]
	q := e.SQSClient()

	replay := func(t *testing.T, args ...string) (string, error) {
		t.Helper()
		var out bytes.Buffer
		err := run(ctx, append([]string{"replay"}, args...), &out)
		return out.String(), err
	}
	send := func(t *testing.T, body string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, st.APIURL()+"/v1/batch", strings.NewReader(body))
		require.NoError(t, err)
		req.SetBasicAuth(writeKey, "")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	pages := func(visitor string, names ...string) string {
		var events []string
		for _, n := range names {
			events = append(events, fmt.Sprintf(`{"type":"page","messageId":"%s-%s","anonymousId":"%s","name":"%s","properties":{"path":"/%s"}}`, visitor, n, visitor, n, n))
		}
		return `{"batch":[` + strings.Join(events, ",") + `]}`
	}
	// counts returns the event counts of the visitor's profile, or nil while there is none.
	counts := func(visitor string) map[string]int {
		var out bytes.Buffer
		if run(ctx, []string{"profile", "get", "--anonymous-id", visitor}, &out) != nil {
			return nil
		}
		var p struct {
			Counts map[string]int `json:"counts"`
		}
		require.NoError(t, json.Unmarshal(out.Bytes(), &p), out.String())
		return p.Counts
	}
	put := func(t *testing.T, body string) {
		t.Helper()
		_, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String(body)})
		require.NoError(t, err)
	}
	// visible returns the bodies of the messages on the queue that anyone can receive now, and
	// leaves them visible (once each: the local SQS server may return a message twice in one answer
	// after its visibility was changed).
	visible := func(t *testing.T) []string {
		t.Helper()
		out, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 30})
		require.NoError(t, err)
		bodies := map[string]string{}
		for _, m := range out.Messages {
			bodies[aws.ToString(m.MessageId)] = aws.ToString(m.Body)
			_, err := q.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(queue), ReceiptHandle: m.ReceiptHandle})
			require.NoError(t, err)
		}
		return slices.Collect(maps.Values(bodies))
	}
	empty := func(t *testing.T) {
		t.Helper()
		out, err := replay(t, "--dry-run")
		require.NoError(t, err)
		require.Equal(t, "0 messages\n", out, "the queue is empty")
	}

	var batch onfailure.Record // the batch that failed, as Lambda described it
	const visitor = "replay-visitor"

	t.Run("a batch that failed its retries is replayed once the fault is gone", func(t *testing.T) {
		// The fault: stitch cannot read the Identities table, so it records nothing and the
		// mapping gives up on the batch after its retries.
		table := res[topology.IdentityTable]
		_, err := e.DynamoDBClient().DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(table)})
		require.NoError(t, err)
		send(t, pages(visitor, "home", "shoes", "basket"))

		var listed string
		require.Eventually(t, func() bool {
			listed, err = replay(t, "--dry-run")
			return err == nil && strings.Contains(listed, "would-replay")
		}, time.Minute, 200*time.Millisecond, "the batch never reached the failed-events queue")
		require.Regexp(t, `(?m)^would-replay +kinesis-batch +\S+  \S+ shardId-\d+ \d+\.\.\d+, 1 record \(RetryAttemptsExhausted after 4 invocations\): would put 1 record back on \S+\n1 message: 1 would-replay\n$`, listed)
		require.NotContains(t, listed, visitor, "no identifier is printed")
		require.Nil(t, counts(visitor), "nothing was recorded")

		bodies := visible(t)
		require.Len(t, bodies, 1, "the dry run left the message, visible")
		batch, err = onfailure.Parse([]byte(bodies[0]))
		require.NoError(t, err)

		// The fault is gone: the replay puts the record back, stitch records it.
		require.NoError(t, localaws.CreateTable(ctx, e.DynamoDBClient(), table, tableSpec(t, topology.IdentityTable)))
		out, err := replay(t)
		require.NoError(t, err)
		require.Regexp(t, `(?m)^replayed +kinesis-batch .*: put 1 record back on \S+\n1 message: 1 replayed\n$`, out)
		require.Eventually(t, func() bool { return counts(visitor)["events"] == 3 }, time.Minute, 100*time.Millisecond)
		empty(t)
	})

	t.Run("a batch that had been recorded counts once when replayed again", func(t *testing.T) {
		require.NotNil(t, batch.KinesisBatchInfo)
		again, err := json.Marshal(batch)
		require.NoError(t, err)
		put(t, string(again))
		out, err := replay(t)
		require.NoError(t, err)
		require.Contains(t, out, "1 message: 1 replayed")
		// A later event of the same visitor lands on the same shard after the replayed record:
		// once it is counted, the replayed one has been through stitch.
		send(t, pages(visitor, "checkout"))
		require.Eventually(t, func() bool { return counts(visitor)["events"] >= 4 }, time.Minute, 100*time.Millisecond)
		require.Equal(t, map[string]int{"events": 4, "pageViews": 4, "tracks": 0, "identifies": 0, "screens": 0}, counts(visitor))
		empty(t)
	})

	t.Run("records past the stream's retention are reported lost, and kept unless told to forget them", func(t *testing.T) {
		old := batch
		info := *batch.KinesisBatchInfo
		info.ApproximateArrivalOfFirstRecord = time.Now().Add(-8 * 24 * time.Hour).UTC().Format(onfailure.TimeLayout)
		info.ApproximateArrivalOfLastRecord = info.ApproximateArrivalOfFirstRecord
		old.KinesisBatchInfo = &info
		gone := batch
		info2 := *batch.KinesisBatchInfo
		info2.StartSequenceNumber, info2.EndSequenceNumber = "1", "2" // never on this stream
		gone.KinesisBatchInfo = &info2
		for _, r := range []onfailure.Record{old, gone} {
			body, err := json.Marshal(r)
			require.NoError(t, err)
			put(t, string(body))
		}
		out, err := replay(t)
		require.NoError(t, err, "a loss is reported, not an error")
		require.Contains(t, out, "1 record (RetryAttemptsExhausted after 4 invocations): all lost: they arrived ")
		require.Contains(t, out, "past the stream's retention of 24h0m0s")
		require.Contains(t, out, "all lost: the shard no longer has them")
		require.Contains(t, out, "2 messages: 2 lost")
		require.Len(t, visible(t), 2, "kept, and visible again at once")

		require.Eventually(t, func() bool {
			out, err = replay(t, "--forget-lost")
			return err == nil && strings.Contains(out, "2 messages: 2 lost")
		}, 10*time.Second, 200*time.Millisecond)
		empty(t)
	})

	t.Run("dcrm's own failed events are listed and left", func(t *testing.T) {
		// The first event has no identifier: collect refuses it and takes the second.
		send(t, `{"batch":[{"type":"track","event":"Nobody"},{"type":"page","anonymousId":"replay-other","name":"Home"}]}`)
		var out string
		require.Eventually(t, func() bool {
			var err error
			out, err = replay(t)
			return err == nil && strings.Contains(out, "1 message")
		}, 10*time.Second, 200*time.Millisecond)
		require.Regexp(t, `(?m)^left +failed-event +\S+  collect refused it at \S+: .+ \(a refusal of the input itself: not replayable\)\n1 message: 1 left\n$`, out)
		require.Len(t, visible(t), 1, "still on the queue, visible")
		deleted := map[string]bool{}
		for {
			got, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
			require.NoError(t, err)
			if len(got.Messages) == 0 {
				break
			}
			for _, m := range got.Messages {
				_, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queue), ReceiptHandle: m.ReceiptHandle})
				require.NoError(t, err)
				deleted[aws.ToString(m.MessageId)] = true
			}
		}
		require.Len(t, deleted, 1)
		empty(t)
	})

	t.Run("a failed asynchronous invocation is run again with its payload", func(t *testing.T) {
		arn := "arn:aws:lambda:" + localaws.Region + ":000000000000:function:" + st.Env()["DCRM_FUNCTION_SCORE"]
		record := func(id, part string) string {
			return `{"version":"1.0","timestamp":"2025-02-20T13:02:11.104Z","requestContext":{"requestId":"` + id + `","functionArn":"` + arn +
				`","condition":"RetriesExhausted","approximateInvokeCount":3},"requestPayload":{"part":` + part +
				`},"responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},"responsePayload":{"errorMessage":"throttled"}}`
		}
		asOf := time.Now().UTC().Format(time.RFC3339)
		put(t, record("r-1", `{"index":0,"parts":1,"segments":1,"asOf":"`+asOf+`"}`))
		put(t, record("r-2", `{"index":3,"parts":1,"segments":1,"asOf":"`+asOf+`"}`)) // not a part of any run: fails again

		out, err := replay(t, "--dry-run")
		require.NoError(t, err)
		require.Contains(t, out, "2 messages: 2 would-replay")
		require.Contains(t, out, "-score (RetriesExhausted after 3 invocations): would invoke it again with its payload")

		out, err = replay(t)
		require.ErrorContains(t, err, "1 replays failed; their messages are kept for another run")
		require.Regexp(t, `(?m)^replayed +async-invocation +\S+  \S+-score \(RetriesExhausted after 3 invocations\): invoked again, succeeded$`, out)
		require.Regexp(t, `(?m)^failed +async-invocation +\S+  \S+-score \(RetriesExhausted after 3 invocations\): failed again: \S+: part 3 of 1 with 1 segments .*not a part of a run$`, out)
		require.Contains(t, out, "2 messages: 1 replayed, 1 failed\n")

		out, err = replay(t, "--max", "1")
		require.ErrorContains(t, err, "1 replays failed")
		require.Contains(t, out, "1 message: 1 failed (--max reached; there may be more)\n")
		// Kept: on the queue, or on its dead-letter queue once it has been received five times
		// (the dry run, the replays and the checks above each received it).
		dlq := st.Resources()[topology.FailedQueue+"DeadLetter"]
		dead, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(dlq), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		require.NoError(t, err)
		require.Equal(t, 1, len(visible(t))+len(dead.Messages), "the failed one is kept")
	})
}

// Bad arguments are refused before anything is read.
func TestReplayUsage(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{{"replay", "extra"}, {"replay", "--max"}, {"replay", "--nope"}, {"replay", "--max", "x"}} {
		require.ErrorIs(t, run(ctx, args, &bytes.Buffer{}), errUsage, "%v", args)
	}
	t.Setenv(topology.Default().EnvVar(topology.FailedQueue), "http://127.0.0.1:1/queue")
	for _, max := range []string{"0", "10001", "-1"} {
		require.ErrorContains(t, run(ctx, []string{"replay", "--max", max}, &bytes.Buffer{}), "--max "+max+": give a number from 1 to 10000")
	}
	t.Setenv(topology.Default().EnvVar(topology.FailedQueue), "")
	require.ErrorContains(t, run(ctx, []string{"replay"}, &bytes.Buffer{}), "no failed-events queue: set DCRM_FAILED_EVENTS_QUEUE_URL")
}

func tableSpec(t *testing.T, name string) topology.Table {
	for _, tb := range topology.Default().Tables {
		if tb.Name == name {
			return tb
		}
	}
	t.Fatalf("no table %s in the topology", name)
	return topology.Table{}
}

// dcrm's own messages are described, never replayed; what they say is kept to one printable line.
func TestTypedMessagesAreDescribedAndLeft(t *testing.T) {
	attrs := func(typ, version string) map[string]sqstypes.MessageAttributeValue {
		return map[string]sqstypes.MessageAttributeValue{
			messagequeue.AttrType:    {DataType: aws.String("String"), StringValue: aws.String(typ)},
			messagequeue.AttrVersion: {DataType: aws.String("Number"), StringValue: aws.String(version)},
		}
	}
	at := time.Date(2025, 2, 20, 12, 0, 1, 0, time.UTC)
	f, err := json.Marshal(message.NewFailedEvent("stitch", "invalid event:\nno identifier\x00"+strings.Repeat("x", 300), []byte(`{}`), at))
	require.NoError(t, err)
	o := typedMessage(message.TypeFailedEvent, attrs(message.TypeFailedEvent, "1"), f)
	require.Equal(t, outcome{kind: "failed-event", result: outcomeLeft,
		detail: "stitch refused it at 2025-02-20T12:00:01Z: invalid event:?no identifier?" + strings.Repeat("x", 171) + "… (a refusal of the input itself: not replayable)"}, o)

	o = typedMessage(message.TypeLapse, attrs(message.TypeLapse, "2"), []byte(`{}`))
	require.Equal(t, outcome{kind: "lapse", result: outcomeLeft, detail: "a lapse v2 message, not a failed event: not replayable"}, o)
	o = typedMessage(message.TypeFailedEvent, attrs(message.TypeFailedEvent, "1"), []byte(`{"type":"failed-event"}`))
	require.Equal(t, "a failed-event v1 message, not a failed event: not replayable", o.detail, "a body that is not a valid failed event")
}

func TestFunctionOfARN(t *testing.T) {
	require.Equal(t, "dcrm-score", functionOfARN("arn:aws:lambda:eu-west-1:123456789012:function:dcrm-score:$LATEST"))
	require.Equal(t, "dcrm-score", functionOfARN("arn:aws:lambda:eu-west-1:123456789012:function:dcrm-score"))
	require.Equal(t, "arn:nothing", functionOfARN("arn:nothing"))
}
