package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/stretchr/testify/require"
)

// kinesisSeeds are Kinesis events as Lambda writes them, and in shapes it does not.
func kinesisSeeds(tb testing.TB) [][]byte {
	golden, err := os.ReadFile(filepath.Join("..", "..", "events", "kinesis", "batch.json"))
	if err != nil {
		tb.Fatal(err)
	}
	seeds := [][]byte{golden}
	for _, s := range []string{
		`{"Records":[]}`, `{"Records":null}`, `{}`, `null`, `[]`, `{"Records":[null]}`, `{"records":[{"eventID":"e"}]}`,
		`{"Records":[{"eventID":"e","kinesis":{"data":"eyJhIjoxfQ==","sequenceNumber":"1","partitionKey":"k"}}]}`,
		`{"Records":[{"eventID":"e","kinesis":{"data":"eyJhIjoxfQ=","sequenceNumber":"1"}}]}`,
		`{"Records":[{"eventID":"e","kinesis":{"data":"eyJh\/IjoxfQ==","sequenceNumber":"1"}}]}`,
		`{"Records":[{"eventID":"e\u00e9","kinesis":{"data":"","sequenceNumber":1}}]}`,
		`{"Records":[{"EventID":"e","eventID":"f","kinesis":{"Data":"eyJhIjoxfQ=="}}]}`,
		`{"Records":[{"eventID":"e","kinesis":{"data":null,"sequenceNumber":"1"},"kinesis":{"partitionKey":"k"}}]}`,
		`{"Records":[{"eventID":"e","kinesis":{"data":"eyJhIjoxfQ==","approximateArrivalTimestamp":"soon"}}]}`,
		`{"Records":[{"eventID":"e","kinesis":{}}],"Records":[]}`, `{"Records":[{"eventID":"e"}]`,
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// What the handler reads of a Kinesis event is what encoding/json reads, whatever the event.
func TestReadKinesisEventReadsAsEncodingJSON(t *testing.T) {
	for _, p := range kinesisSeeds(t) {
		checkReadKinesisEvent(t, p)
	}
	if _, ok := readKinesisEvent(kinesisSeeds(t)[0]); !ok {
		t.Error("Lambda's event is left to encoding/json")
	}
}

func FuzzReadKinesisEvent(f *testing.F) {
	for _, p := range kinesisSeeds(f) {
		f.Add(p)
	}
	f.Fuzz(checkReadKinesisEvent)
}

func checkReadKinesisEvent(t *testing.T, payload []byte) {
	got, ok := readKinesisEvent(payload)
	var want events.KinesisEvent
	if !ok || json.Unmarshal(payload, &want) != nil {
		return // encoding/json reads it; or refuses it for a field the handler does not read
	}
	require.Len(t, got.Records, len(want.Records))
	for i, w := range want.Records {
		g := got.Records[i]
		require.Equal(t, w.EventID, g.EventID)
		require.Equal(t, w.Kinesis.SequenceNumber, g.Kinesis.SequenceNumber)
		require.Equal(t, w.Kinesis.PartitionKey, g.Kinesis.PartitionKey)
		require.Equal(t, w.Kinesis.Data, g.Kinesis.Data)
		require.True(t, w.Kinesis.ApproximateArrivalTimestamp.Equal(g.Kinesis.ApproximateArrivalTimestamp.Time), "arrival")
	}
}

// The runtime's entry answers as aws-lambda-go's reflection over handle does, byte for byte: a
// batch recorded, one retried from a record, and an event that is not a batch. (Only a field the
// handler does not read, of the wrong type, is not refused: Lambda never writes one.)
func TestInvocationAnswersAsTheReflectedHandler(t *testing.T) {
	ctx := context.Background()
	for _, failAt := range []int{0, 3} {
		for _, p := range kinesisSeeds(t) {
			h := &handler{store: &fakeStore{failAt: failAt}, failed: fakeQueue{}, updates: fakeQueue{}, feed: &fakeFeed{}, now: time.Now, log: quiet}
			want, wantErr := lambda.NewHandler(h.handle).Invoke(ctx, p)
			h.store = &fakeStore{failAt: failAt}
			got, err := entry(h).Invoke(ctx, p)
			if _, read := readKinesisEvent(p); wantErr != nil && read {
				continue
			}
			if wantErr != nil {
				require.Error(t, err, "%s", p)
				continue
			}
			require.NoError(t, err, "%s", p)
			require.Equal(t, string(want), string(got), "%s", p)
		}
	}
}
