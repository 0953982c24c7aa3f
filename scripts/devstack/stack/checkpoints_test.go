package stack_test

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

// A stack started again on the stream it read goes on after its mapping's checkpoints, kept in
// Config.MappingState, as Lambda's mapping does: what the first run delivered is not delivered
// again. A stream made again under the same name is read from its trim horizon.
func TestARestartedStackGoesOnWhereItsMappingStopped(t *testing.T) {
	endpoints := localawstest.Reachable(t)
	prefix := localawstest.UniqueName("t")
	dir := t.TempDir()
	functions := filepath.Join(dir, "functions")
	devtest.Install(t, functions, "collect", "stitch", "score")
	start := func() *stack.Stack {
		t.Helper()
		s, err := stack.Start(t.Context(), stack.Config{
			Topology: testTopology(dir), Prefix: prefix, FunctionsDir: functions, Endpoints: endpoints,
			SecretDir: filepath.Join(dir, "secrets"), MappingState: filepath.Join(dir, "mappings.json"),
			PollInterval: 50 * time.Millisecond, RetryDelay: 10 * time.Millisecond,
		})
		require.NoError(t, err)
		return s
	}
	delivered := func() []string {
		var all []string
		for _, l := range lines(t, filepath.Join(dir, "stitch.jsonl")) {
			var data []string
			require.NoError(t, json.Unmarshal(l["data"], &data))
			all = append(all, data...)
		}
		return all
	}
	k := endpoints.KinesisClient()
	put := func(stream string, data ...string) {
		t.Helper()
		for _, d := range data {
			_, err := k.PutRecord(t.Context(), &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("v"), Data: []byte(d)})
			require.NoError(t, err)
		}
	}
	waitFor := func(want []string) {
		t.Helper()
		require.Eventually(t, func() bool { return len(delivered()) >= len(want) }, 20*time.Second, 10*time.Millisecond)
		time.Sleep(300 * time.Millisecond) // nothing more comes
		require.Equal(t, want, delivered())
	}

	first := start()
	res := first.Resources()
	deleteResources(t, res)
	put(res["Beacons"], "one-1", "one-2")
	waitFor([]string{"one-1", "one-2"})
	require.NoError(t, first.Close())

	second := start()
	put(res["Beacons"], "two-1")
	waitFor([]string{"one-1", "one-2", "two-1"})
	require.NoError(t, second.Close())

	// The stream made again, as when the local servers were restarted: read from the start.
	_, err := k.DeleteStream(t.Context(), &kinesis.DeleteStreamInput{StreamName: aws.String(res["Beacons"])})
	require.NoError(t, err)
	time.Sleep(10 * time.Millisecond) // a creation time of its own
	third := start()
	t.Cleanup(func() { third.Close() })
	put(res["Beacons"], "three-1")
	waitFor([]string{"one-1", "one-2", "two-1", "three-1"})
}
