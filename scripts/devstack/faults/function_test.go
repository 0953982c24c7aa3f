package faults_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/onfailure"
	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/faults"
)

// crash kills stitch's running processes, from inside a request it is making.
func (p *pipeline) crash(*http.Request) {
	_, err := p.st.Crash("stitch")
	assert.NoError(p.t, err)
}

// stitch is killed twice in the middle of a batch, after it wrote part of it: the invocation
// fails as in Lambda (Runtime.ExitError), the mapping bisects and retries the batch on a fresh
// process, and what the dead process wrote is found and not counted again.
func TestStitchCrashMidBatch(t *testing.T) {
	p := startPipeline(t, oneShard)
	p.in.Add(faults.Rule{Name: "crash", Service: "dynamodb", Operations: writes, After: 6, Times: 2, Hook: p.crash, Drop: true})
	p.wave(3)
	p.settled()
	assert.Equal(t, 2, p.in.Fired("crash"))
	assert.Contains(t, p.hostLog.String(), "Runtime exited with error: signal: killed")
	p.wave(1)
	p.settled()
	p.noFailedEvents()
}

// stitch runs into its timeout in the middle of a batch (one write stalls): either stitch sees
// its deadline pass first (the SDK's calls end with the invocation's context) and answers with
// the batch to retry from the stalled record, or the host kills it as Lambda does
// (Sandbox.Timedout) and the whole batch is retried; either way the rest is recorded once.
func TestStitchTimeoutMidBatch(t *testing.T) {
	p := startPipeline(t, oneShard, withTopology(func(top *topology.Topology) {
		for i := range top.Functions {
			if top.Functions[i].Name == "stitch" {
				top.Functions[i].Timeout = 3 * time.Second
			}
		}
	}))
	p.in.Add(faults.Rule{Name: "stall", Service: "dynamodb", Operations: writes, After: 6, Times: 1, Latency: 10 * time.Second})
	p.wave(3)
	p.settled()
	assert.Equal(t, 1, p.in.Fired("stall"))
	var killed, answered bool
	assert.Eventually(t, func() bool {
		killed = strings.Contains(p.hostLog.String(), "function timed out")
		answered = strings.Contains(p.functionLog("stitch"), "context deadline exceeded")
		return killed || answered
	}, 20*time.Second, 100*time.Millisecond, "the stalled invocation ended at its timeout")
	t.Logf("killed at the timeout: %v; answered at its deadline: %v", killed, answered)
	p.wave(1)
	p.settled()
	p.noFailedEvents()
}

// One record kills stitch whenever it is read (its visitor's identifier reaches DynamoDB): the
// mapping bisects the failing batch until the record is alone, retries it, then describes it on
// the on-failure destination (the failed-events queue) and moves on. Every other event is
// recorded once, and nothing of the poison record is.
func TestPoisonRecord(t *testing.T) {
	p := startPipeline(t, oneShard)
	poison := "poison-" + p.run
	p.in.Add(faults.Rule{Name: "poison", Service: "dynamodb", BodyContains: poison, Hook: p.crash, Drop: true})
	p.wave(2)
	p.send([]map[string]any{{"type": "page", "anonymousId": poison, "name": "Home", "messageId": "m-poison-" + p.run}})
	p.wave(2)
	p.settled()

	var failures []onfailure.Record
	require.Eventually(t, func() bool {
		for _, m := range p.drain(topology.FailedQueue) {
			var f onfailure.Record
			require.NoError(t, json.Unmarshal(m, &f), string(m))
			failures = append(failures, f)
		}
		return len(failures) > 0
	}, 30*time.Second, 100*time.Millisecond, "the poison record is described on the on-failure destination")
	require.Len(t, failures, 1)
	f := failures[0]
	assert.Equal(t, onfailure.RetryAttemptsExhausted, f.RequestContext.Condition)
	assert.Equal(t, "Unhandled", f.ResponseContext.FunctionError)
	require.NotNil(t, f.KinesisBatchInfo)
	assert.Equal(t, 1, f.KinesisBatchInfo.BatchSize, "bisected down to the poison record alone")
	assert.Equal(t, f.KinesisBatchInfo.StartSequenceNumber, f.KinesisBatchInfo.EndSequenceNumber)
	assert.Contains(t, p.record(f.KinesisBatchInfo.ShardID, f.KinesisBatchInfo.StartSequenceNumber), poison)
	assert.GreaterOrEqual(t, p.in.Fired("poison"), 4, "the record alone was tried RetryAttempts+1 times")

	_, found := p.profile(poison)
	assert.False(t, found, "nothing of the poison record was recorded")
	p.in.Clear()
	p.wave(1)
	p.settled()
}

// record reads one record of the stream from the server.
func (p *pipeline) record(shard, seq string) string {
	k := p.direct.KinesisClient()
	ctx := context.Background()
	it, err := k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(p.st.Resources()[topology.EventStream]),
		ShardId: aws.String(shard), ShardIteratorType: kintypes.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(seq)})
	require.NoError(p.t, err)
	out, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator, Limit: aws.Int32(1)})
	require.NoError(p.t, err)
	require.Len(p.t, out.Records, 1)
	return strings.ToValidUTF8(string(out.Records[0].Data), "?")
}
