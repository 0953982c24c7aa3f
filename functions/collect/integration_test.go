package main

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/keystore"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

// The handler as main wires it, with the real key store on DynamoDB Local and the real stream on
// the local Kinesis server, reached through the SDK's standard environment exactly as in Lambda.
func TestCollectOnLocalServers(t *testing.T) {
	e := localawstest.Reachable(t)
	h, env := wiredHandler(t, 2)
	top := topology.Default()
	h.now = func() time.Time { return clock }

	want := map[string]int{ // sample → status
		"track": 200, "page-beacon": 200, "identify-server": 200, "batch": 200, "batch-gzip": 200,
		"track-unknown-key": 401, "track-foreign-origin": 403, "track-no-event": 400,
	}
	for name, status := range want {
		resp := answer(t, h, readSample(t, filepath.Join(samples, name+".json")))
		require.Equal(t, status, resp.StatusCode, "%s: %s", name, resp.Body)
	}

	// 1 track + 1 page + 1 identify + 3 in the batch + 2 in the gzip batch; nothing from refusals.
	var got map[string]record
	require.Eventually(t, func() bool {
		got = readStream(t, e.KinesisClient(), env[top.EnvVar(topology.EventStream)])
		return len(got) >= 8
	}, 10*time.Second, 100*time.Millisecond, "events on the stream")
	require.Len(t, got, 8)

	for id, r := range got {
		assert.Equal(t, r.event.Visitor(), r.partitionKey, "partition key of %s", id)
		assert.Equal(t, clock, r.event.ReceivedAt, "receivedAt of %s", id)
	}
	track := got["ajs-next-1709294520000-7d3f0a9c"].event
	assert.Equal(t, "6f1c3a52-7d0e-4b8e-9a51-2f6a7c0d9e11", got["ajs-next-1709294520000-7d3f0a9c"].partitionKey)
	assert.Equal(t, beacon.Track, track.Type)
	assert.Equal(t, "Product Viewed", track.Event)
	assert.Equal(t, "src_shop", track.SourceID)
	assert.False(t, track.Trusted)
	assert.Equal(t, time.Date(2024, 3, 1, 11, 59, 59, 250e6, time.UTC), track.Timestamp, "clock skew corrected")
	assert.JSONEq(t, `{"product_id":"sku-123","name":"Red shoes","price":59.9,"currency":"EUR"}`, string(track.Properties))

	identify := got["0b5e9a2c-6c4b-4bb5-8c31-5d3c1e7f9a40"].event
	assert.Equal(t, "48213", identify.UserID, "numeric user id as a string")
	assert.Equal(t, "src_backend", identify.SourceID)
	assert.True(t, identify.Trusted)

	order := got["go-2"]
	assert.Equal(t, "48213", order.partitionKey)
	assert.Equal(t, "Order Completed", order.event.Event)
	assert.JSONEq(t, `{"library":{"name":"analytics-go","version":"3.3.0"}}`, string(order.event.Context), "batch context")
	assert.Contains(t, got, "ajs-2", "gzip batch")

	var generated int
	for id, r := range got {
		if r.event.Type == beacon.Page && r.event.Name == "Checkout" {
			generated++
			assert.Regexp(t, `^dcrm-[0-9a-f]{32}$`, id, "generated message id")
		}
	}
	assert.Equal(t, 1, generated)
}

type record struct {
	partitionKey string
	event        beacon.Event
}

// readStream reads every record on every shard from the start, by message id.
func readStream(t *testing.T, k *kinesis.Client, stream string) map[string]record {
	t.Helper()
	ctx := context.Background()
	shards, err := k.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	require.NoError(t, err)
	out := map[string]record{}
	for _, sh := range shards.Shards {
		it, err := k.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
			StreamName: aws.String(stream), ShardId: sh.ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		})
		require.NoError(t, err)
		recs, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		require.NoError(t, err)
		for _, r := range recs.Records {
			evs, err := beacon.DecodeRecord(r.Data)
			require.NoError(t, err, "record %s", r.Data)
			for _, e := range evs {
				out[e.MessageID] = record{aws.ToString(r.PartitionKey), e}
			}
		}
	}
	return out
}

// wiredHandler builds the handler as main wires it (setup), on a fresh key table, stream of the given
// shards and failed-events queue, reached through the SDK's standard environment as in Lambda, with
// the tests' browser and server sources stored. It returns the function's environment too.
func wiredHandler(t *testing.T, shards int) (*handler, map[string]string) {
	t.Helper()
	ctx := context.Background()
	e := localawstest.Reachable(t)
	for k, v := range e.Environment() {
		t.Setenv(k, v)
	}
	top := topology.Default()
	env := map[string]string{
		top.EnvVar(topology.KeyTable):    localawstest.NewTopologyTable(t, topology.KeyTable),
		top.EnvVar(topology.EventStream): localawstest.NewStream(t, shards),
		top.EnvVar(topology.FailedQueue): localawstest.NewQueue(t),
		top.EnvVar(topology.HealthTable): localawstest.NewTopologyTable(t, topology.HealthTable),
	}
	store := keystore.New(e.Dynamo(), env[top.EnvVar(topology.KeyTable)])
	require.NoError(t, store.PutSource(ctx, browserKey, shop))
	require.NoError(t, store.PutSource(ctx, serverKey, backend))
	h, err := setup(ctx, func(k string) string { return env[k] }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	return h, env
}

// keyStore is the key store behind a wired handler's cache, for a test to add sources to.
func keyStore(t *testing.T, env map[string]string) *keystore.Store {
	return keystore.New(localawstest.Reachable(t).Dynamo(), env[topology.Default().EnvVar(topology.KeyTable)])
}
