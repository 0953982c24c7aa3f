package faults_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/faults"
)

// writes are the DynamoDB operations that change items.
var writes = []string{"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}

// DynamoDB throttles a share of every function's requests, reads and writes, in both of its
// shapes. The SDK retries most; those still refused fail the event, and stitch has the batch
// retried from it: the events recorded the first time are duplicates and change nothing.
func TestDynamoDBThrottling(t *testing.T) {
	p := startPipeline(t)
	p.in.Add(faults.Rule{Name: "exceeded", Service: "dynamodb", Probability: 0.04, Error: faults.DynamoThroughputExceeded})
	p.in.Add(faults.Rule{Name: "throttling", Service: "dynamodb", Probability: 0.02, Error: faults.DynamoThrottling})
	p.wave(3)
	p.settledWhile(func() {
		assert.Positive(t, p.in.Fired("exceeded"))
		assert.Positive(t, p.in.Fired("throttling"))
	})
	p.in.Clear()
	p.wave(1)
	p.settled()
	p.noFailedEvents()
}

// Two stitch invocations record events of the same person at once: each person's two devices are
// on different shards of a four-shard stream, and both log in as the same user at about the same
// time, so identifier claims, merges and profile writes race. Writes are slowed a little to widen
// the window between read and conditional write. The losers' conditional checks fail, and they
// start over on what the winner wrote.
func TestConcurrentWritersToOneProfile(t *testing.T) {
	p := startPipeline(t, withTopology(func(top *topology.Topology) { top.Streams[0].Shards = 4 }))
	p.in.Add(faults.Rule{Name: "slow writes", Service: "dynamodb", Operations: writes, Latency: 150 * time.Millisecond})
	lost := func() int {
		return p.answered("ConditionalCheckFailedException") + p.answered("TransactionCanceledException")
	}
	// Whether two invocations meet on one profile depends on timing: more waves until they have.
	for round := 0; round < 4 || round < 10 && lost() == 0; round++ {
		p.wave(2)
		if round%2 == 1 {
			p.settled()
		}
	}
	p.in.Clear()
	p.wave(1)
	p.settled()
	p.noFailedEvents()
	t.Logf("conditional writes that lost a race: %d", lost())
	assert.Positive(t, lost(), "writers raced")
}
