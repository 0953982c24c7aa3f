package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	devstack "github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/profilestore"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// TestFanOutThroughTheLocalInvokeAPI runs the score function as it ships (its bootstrap binary,
// on the local host, with the environment the CDK stack gives it) and has an hourly run fan out
// to four parts through the local Lambda Invoke API: every profile ends up scored.
func TestFanOutThroughTheLocalInvokeAPI(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := localawstest.Reachable(t)
	dir := t.TempDir()
	build := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", filepath.Join(dir, "score", "bootstrap"), ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "build score: %s", out)

	// The score function alone, with its resources and a part size that makes four parts of 60.
	top := topology.Default()
	fn, _ := top.Function("score")
	fn.Settings = map[string]string{topology.SettingScorePart: "15"}
	top.Functions, top.Routes, top.Mappings, top.Streams, top.Notifications = []topology.Function{fn}, nil, nil, nil, nil
	top.Schedules = []topology.Schedule{{Name: "score", Function: "score", Every: time.Hour}}
	// Every table and queue it uses (the identities too, which the test records through).
	var tables []topology.Table
	queues := []topology.Queue{{Name: topology.FailedQueue}}
	identities, _ := top.Table(topology.IdentityTable)
	tables = append(tables, identities)
	for _, u := range fn.Uses {
		switch top.Kind(u.Resource) {
		case "table":
			tb, _ := top.Table(u.Resource)
			tables = append(tables, tb)
		case "queue":
			queues = append(queues, topology.Queue{Name: u.Resource})
		}
	}
	top.Tables, top.Queues = tables, queues
	logs := t.TempDir()
	st, err := devstack.Start(ctx, devstack.Config{Topology: &top, Prefix: localawstest.UniqueName("fanout"), FunctionsDir: dir, Endpoints: e, LogDir: logs})
	require.NoError(t, err)
	res := st.Resources()
	t.Cleanup(func() {
		st.Close()
		for logical, name := range res {
			if strings.HasPrefix(name, "http") {
				_, _ = e.SQSClient().DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(name)})
			} else if top.Kind(logical) == "table" {
				_, _ = e.DynamoDBClient().DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})
			}
		}
	})
	require.Equal(t, st.LambdaURL(), st.FunctionEnv("score")["AWS_ENDPOINT_URL_LAMBDA"], "a function that fans out reaches the local Invoke API")

	store := recording.New(profilestore.New(e.Dynamo(), profilestore.Tables{Profiles: res[topology.ProfileTable], Identities: res[topology.IdentityTable]}))
	s := newShop(t, 0, 60)
	(&stack{engine: store}).record(t, s.acts)

	raw, err := st.RunSchedule(ctx, "score")
	require.NoError(t, err, "%s", raw)
	var sum summary
	require.NoError(t, json.Unmarshal(raw, &sum))
	require.Equal(t, "score", sum.Mode)
	require.Equal(t, 4, sum.Parts)
	require.Zero(t, sum.Scored, "the planner scores nothing itself")

	scored := func() int {
		n := 0
		for _, g := range s.guests {
			p, err := store.Lookup(ctx, identity.AnonymousID(g))
			require.NoError(t, err)
			if p.Score != nil && p.Score.ScoredAt.Equal(sum.AsOf) {
				n++
			}
		}
		return n
	}
	require.Eventually(t, func() bool { return scored() == len(s.guests) }, 60*time.Second, 100*time.Millisecond)
	parts := func() int {
		raw, err := os.ReadFile(filepath.Join(logs, "score.log"))
		require.NoError(t, err)
		return strings.Count(string(raw), `"msg":"part scored"`)
	}
	require.Eventually(t, func() bool { return parts() == 4 }, 10*time.Second, 50*time.Millisecond, "four parts, each invoked once")
	p, err := store.Lookup(ctx, identity.AnonymousID(s.guests[0]))
	require.NoError(t, err)
	require.Equal(t, profile.VariantEngagement, p.Score.RFM.Variant)
}
