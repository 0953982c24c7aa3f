// Package localawstest gives tests fresh, randomly named resources on the local servers (DynamoDB
// Local, the Kinesis server, local-aws-sqs) and decides, in one place, what a test that needs those
// servers does without them: under `go test -short` (`make unit`) it is skipped, saying what it
// needs; otherwise (`make test`) it fails, saying which server is not running and how to start it.
// Only tests import this package: it imports "testing", which shipped binaries must not link.
package localawstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/localaws"
)

// SkipMessage is what a test that needs the local servers says when -short skips it.
const SkipMessage = "needs the local servers (DynamoDB Local, the Kinesis server, local-aws-sqs), so -short skips it: " +
	"`make test` starts them and runs every test; or start them with `make up` and run go test without -short"

// Reachable returns the endpoints of the local servers (localaws.DefaultEndpoints). Under -short
// it skips the test; otherwise it fails the test unless all three servers accept connections.
func Reachable(tb testing.TB) localaws.Endpoints {
	tb.Helper()
	if testing.Short() {
		tb.Skip(SkipMessage)
	}
	e := localaws.DefaultEndpoints()
	if err := e.Check(); err != nil {
		tb.Fatal(err)
	}
	return e
}

// UniqueName is a short random name with the given prefix, safe for tables, streams and queues.
func UniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// NewTable creates a fresh table shaped like t and returns its name; the table is deleted when
// the test ends.
func NewTable(tb testing.TB, t topology.Table) string {
	tb.Helper()
	e := Reachable(tb)
	db := e.DynamoDBClient()
	name := UniqueName("test-" + t.Name)
	if err := localaws.CreateTable(context.Background(), db, name, t); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return name
}

// NewTopologyTable creates a fresh table shaped like the default topology's table of that logical
// name (topology.ProfileTable, …) and returns its name.
func NewTopologyTable(tb testing.TB, name string) string {
	tb.Helper()
	t, ok := topology.Default().Table(name)
	if !ok {
		tb.Fatalf("the topology has no table %q", name)
	}
	return NewTable(tb, t)
}

// NewStream creates a fresh stream with the given number of shards and returns its name; the
// stream is deleted when the test ends.
func NewStream(tb testing.TB, shards int) string {
	tb.Helper()
	e := Reachable(tb)
	k := e.KinesisClient()
	name := UniqueName("test-stream")
	if err := localaws.CreateStream(context.Background(), k, name, topology.Stream{Name: name, Shards: shards}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_, _ = k.DeleteStream(context.Background(), &kinesis.DeleteStreamInput{StreamName: aws.String(name)})
	})
	return name
}

// NewQueue creates a fresh queue and returns its URL; the queue is deleted when the test ends.
func NewQueue(tb testing.TB) string {
	tb.Helper()
	e := Reachable(tb)
	q := e.SQSClient()
	name := UniqueName("test-queue")
	u, err := localaws.CreateQueue(context.Background(), q, name, topology.Queue{Name: name})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _, _ = q.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(u)}) })
	return u
}
