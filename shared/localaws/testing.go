package localaws

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dcrm-project/dcrm/infra/topology"
)

// Test helpers: each creates a fresh, randomly named resource for one test, fails the test with a
// clear message when the local servers are not running, and deletes the resource afterwards.

// Reachable fails the test unless all three local servers accept connections.
func Reachable(t testing.TB) Endpoints {
	t.Helper()
	e := DefaultEndpoints()
	for name, endpoint := range map[string]string{"DynamoDB Local": e.DynamoDB, "kinesis-mock": e.Kinesis, "local-aws-sqs": e.SQS} {
		u, err := url.Parse(endpoint)
		if err != nil {
			t.Fatalf("bad %s endpoint %q: %v", name, endpoint, err)
		}
		conn, err := net.DialTimeout("tcp", u.Host, 2*time.Second)
		if err != nil {
			t.Fatalf("%s is not running at %s (start the local stack with `make up`, or scripts/emulators/emulators.sh start): %v", name, endpoint, err)
		}
		conn.Close()
	}
	return e
}

// UniqueName is a short random name with the given prefix, safe for tables, streams and queues.
func UniqueName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// NewTable creates a fresh table shaped like t and returns its name.
func NewTable(tb testing.TB, t topology.Table) string {
	tb.Helper()
	e := Reachable(tb)
	db := e.DynamoDBClient()
	name := UniqueName("test-" + t.Name)
	if err := CreateTable(context.Background(), db, name, t); err != nil {
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

// NewStream creates a fresh stream with the given number of shards and returns its name.
func NewStream(tb testing.TB, shards int) string {
	tb.Helper()
	e := Reachable(tb)
	k := e.KinesisClient()
	name := UniqueName("test-stream")
	if err := CreateStream(context.Background(), k, name, topology.Stream{Name: name, Shards: shards}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_, _ = k.DeleteStream(context.Background(), &kinesis.DeleteStreamInput{StreamName: aws.String(name)})
	})
	return name
}

// NewQueue creates a fresh queue and returns its URL.
func NewQueue(tb testing.TB) string {
	tb.Helper()
	e := Reachable(tb)
	q := e.SQSClient()
	name := UniqueName("test-queue")
	u, err := CreateQueue(context.Background(), q, name, topology.Queue{Name: name})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _, _ = q.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: aws.String(u)}) })
	return u
}
