package onfailure_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/onfailure"
)

// sample reads the body of the SQS message in a sample under events/sqs.
func sample(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "sqs", "onfailure", name))
	require.NoError(t, err)
	var ev events.SQSEvent
	require.NoError(t, json.Unmarshal(raw, &ev))
	require.Len(t, ev.Records, 1)
	require.Empty(t, ev.Records[0].MessageAttributes, "Lambda sends on-failure records without attributes")
	return []byte(ev.Records[0].Body)
}

func TestParsesBothShapes(t *testing.T) {
	r, err := onfailure.Parse(sample(t, "kinesis-batch.json"))
	require.NoError(t, err)
	require.Equal(t, onfailure.KinesisBatch, r.Kind())
	require.Equal(t, onfailure.RetryAttemptsExhausted, r.RequestContext.Condition)
	require.Equal(t, 3, r.KinesisBatchInfo.BatchSize)
	require.Equal(t, "dcrm-Beacons", onfailure.StreamName(r.KinesisBatchInfo.StreamARN))
	first, last, ok := r.KinesisBatchInfo.Arrivals()
	require.True(t, ok)
	require.Equal(t, time.Date(2025, 2, 20, 11, 59, 59, 835e6, time.UTC), first)
	require.True(t, last.After(first))

	r, err = onfailure.Parse(sample(t, "async-invocation.json"))
	require.NoError(t, err)
	require.Equal(t, onfailure.AsyncInvocation, r.Kind())
	require.Equal(t, onfailure.RetriesExhausted, r.RequestContext.Condition)
	require.JSONEq(t, `{"part":{"index":2,"parts":4,"segments":4,"asOf":"2025-02-20T13:00:00Z"}}`, string(r.RequestPayload))
}

// dcrm's own messages and anything else are not on-failure records; broken ones say what is wrong.
func TestRefusesOtherShapesAndSaysWhatIsMissing(t *testing.T) {
	failed, err := os.ReadFile(filepath.Join("..", "sqs", "failed-event.json"))
	require.NoError(t, err)
	var ev events.SQSEvent
	require.NoError(t, json.Unmarshal(failed, &ev))
	for _, body := range []string{ev.Records[0].Body, ``, `null`, `[]`, `{}`, `{"requestContext":{}}`, `{"requestContext":{},"responseContext":{}}`, `not json`} {
		_, err := onfailure.Parse([]byte(body))
		require.ErrorIs(t, err, onfailure.ErrNotOnFailure, body)
	}

	kinesis := string(sample(t, "kinesis-batch.json"))
	for edit, want := range map[[2]string]string{
		{`"batchSize":3`, `"batchSize":0`}:                                       "batchSize 0",
		{`"shardId":"shardId-000000000000"`, `"shardId":""`}:                     "shardId",
		{`"startSequenceNumber":"4965`, `"startSequenceNumber":"x965`}:           "decimal numbers",
		{`"startSequenceNumber":"4965`, `"startSequenceNumber":"9965`}:           "after endSequenceNumber",
		{`stream/dcrm-Beacons`, `table/dcrm-Beacons`}:                            "streamArn",
		{`"requestId":"c9b8fa9f-5a7f-4a8e-af9c-0c604cde93a5"`, `"requestId":""`}: "requestId",
		{`"functionArn":"arn:`, `"functionArn":"urn:`}:                           "functionArn",
	} {
		_, err := onfailure.Parse([]byte(replace(t, kinesis, edit[0], edit[1])))
		require.ErrorIs(t, err, onfailure.ErrInvalid, edit)
		require.ErrorContains(t, err, want)
	}
	async := string(sample(t, "async-invocation.json"))
	for _, payload := range []string{`null`} {
		_, err := onfailure.Parse([]byte(replace(t, async, `{"part":{"index":2,"parts":4,"segments":4,"asOf":"2025-02-20T13:00:00Z"}}`, payload)))
		require.ErrorIs(t, err, onfailure.ErrInvalid)
		require.ErrorContains(t, err, "requestPayload missing")
	}
}

func replace(t *testing.T, s, old, new string) string {
	t.Helper()
	var out string
	found := false
	for i := 0; i+len(old) <= len(s); i++ {
		if s[i:i+len(old)] == old {
			out, found = s[:i]+new+s[i+len(old):], true
			break
		}
	}
	require.True(t, found, "%q not in the sample", old)
	return out
}

func TestCompareSequenceNumbers(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{{"1", "2", -1}, {"10", "9", 1}, {"0010", "10", 0}, {"49659392836127263517219470837154862930549431738839924738", "49659392836127263517219470837157280782188661134634106882", -1}} {
		require.Equal(t, c.want, onfailure.CompareSequenceNumbers(c.a, c.b), c)
		require.Equal(t, -c.want, onfailure.CompareSequenceNumbers(c.b, c.a), c)
	}
}

func TestStreamName(t *testing.T) {
	require.Equal(t, "s", onfailure.StreamName("arn:aws:kinesis:eu-west-1:1:stream/s"))
	for _, arn := range []string{"", "s", "arn:aws:sqs:eu-west-1:1:stream/s", "arn:aws:kinesis:eu-west-1:1:stream/", "arn:aws:kinesis:eu-west-1:1:stream/a/b"} {
		require.Empty(t, onfailure.StreamName(arn), arn)
	}
}

// Parse never panics, and what it accepts survives a round trip unchanged.
func FuzzParse(f *testing.F) {
	f.Add(sample(f, "kinesis-batch.json"))
	f.Add(sample(f, "async-invocation.json"))
	f.Add([]byte(`{"requestContext":{},"responseContext":{},"KinesisBatchInfo":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := onfailure.Parse(body)
		if err != nil {
			require.True(t, errors.Is(err, onfailure.ErrNotOnFailure) || errors.Is(err, onfailure.ErrInvalid), err)
			return
		}
		again, err := json.Marshal(r)
		require.NoError(t, err)
		r2, err := onfailure.Parse(again)
		require.NoError(t, err)
		require.Equal(t, r.Kind(), r2.Kind())
		require.Equal(t, r.RequestContext, r2.RequestContext)
		require.Equal(t, r.KinesisBatchInfo, r2.KinesisBatchInfo)
	})
}
