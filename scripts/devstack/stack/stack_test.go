package stack_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/onfailure"
	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/lambdahost"
	"github.com/dcrm-project/dcrm/scripts/devstack/stack"
	"github.com/dcrm-project/dcrm/scripts/devstack/usage"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/schedule"
)

func TestMain(m *testing.M) { devtest.Main(m) }

// testTopology is shaped like dcrm's, with the test function standing in for each function.
func testTopology(out string) *topology.Topology {
	return &topology.Topology{
		Streams: []topology.Stream{{Name: "Beacons", Shards: 1}},
		Tables: []topology.Table{
			{Name: "Profiles", PartitionKey: "profileId"},
			{Name: "Events", PartitionKey: "messageId", TTLAttribute: "expiresAt"},
		},
		Queues:  []topology.Queue{{Name: "Alerts", DeadLetterAfter: 3}, {Name: "FailedEvents"}, {Name: "FailedRuns"}},
		Secrets: []topology.Secret{{Name: "HashKey"}},
		Functions: []topology.Function{
			{Name: "collect", Memory: 256, Timeout: 10 * time.Second,
				Uses:     []topology.Use{{Resource: "Beacons", Access: topology.Write}},
				Settings: map[string]string{"TESTFN_MODE": "api"}},
			{Name: "stitch", Memory: 512, Timeout: 10 * time.Second,
				Uses: []topology.Use{{Resource: "Profiles", Access: topology.ReadWrite}, {Resource: "Events", Access: topology.ReadWrite},
					{Resource: "FailedEvents", Access: topology.Write}},
				Settings: map[string]string{"TESTFN_MODE": "stream", "TESTFN_FAIL": "error", "TESTFN_OUT": filepath.Join(out, "stitch.jsonl")}},
			{Name: "score", Memory: 1024, Timeout: 10 * time.Second,
				Uses: []topology.Use{{Resource: "Profiles", Access: topology.ReadWrite}, {Resource: "Alerts", Access: topology.Write},
					{Resource: "HashKey", Access: topology.Read}},
				Settings: map[string]string{"DCRM_LAPSE_AFTER": "720h", "TESTFN_OUT": filepath.Join(out, "score.jsonl"),
					"TESTFN_FAIL_SCHEDULE": "broken"},
				Async: &topology.AsyncInvoke{MaxAge: time.Hour, Retries: 1, OnFailureQueue: "FailedRuns"}},
		},
		Routes: []topology.Route{
			{Method: "POST", Path: "/v1/track", Function: "collect", Public: true},
			{Method: "GET", Path: "/v1/profiles/{profileId}", Function: "collect"},
		},
		Mappings: []topology.StreamMapping{{Stream: "Beacons", Function: "stitch", BatchSize: 10, MaxBatchingWindow: 100 * time.Millisecond,
			BisectOnError: true, RetryAttempts: 1, ReportBatchItemFailures: true, OnFailureQueue: "FailedEvents"}},
		Schedules: []topology.Schedule{{Name: "score", Function: "score", Every: 300 * time.Millisecond},
			{Name: "broken", Function: "score", Every: 300 * time.Millisecond}},
	}
}

func startStack(t *testing.T, prefix string) (*stack.Stack, string) {
	t.Helper()
	return startStackKeeping(t, prefix, "")
}

// startStackKeeping starts a stack whose secrets are kept in secrets ("": a folder of its own).
func startStackKeeping(t *testing.T, prefix, secrets string) (*stack.Stack, string) {
	t.Helper()
	endpoints := localawstest.Reachable(t)
	dir := t.TempDir()
	functions := filepath.Join(dir, "functions")
	devtest.Install(t, functions, "collect", "stitch", "score")
	if secrets == "" {
		secrets = filepath.Join(dir, "secrets")
	}
	s, err := stack.Start(t.Context(), stack.Config{
		Topology: testTopology(dir), Prefix: prefix, FunctionsDir: functions, Endpoints: endpoints,
		LogDir: filepath.Join(dir, "logs"), SecretDir: secrets, PollInterval: 50 * time.Millisecond, RetryDelay: 10 * time.Millisecond,
		Middleware: []func(string, http.Handler) http.Handler{hooked.middleware},
	})
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s, dir
}

// hooked counts the requests a middleware of the stack saw, by service.
var hooked = &serviceCounts{n: map[string]int{}}

type serviceCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *serviceCounts) middleware(service string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.n[service]++
		c.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (c *serviceCounts) get(service string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[service]
}

// deleteResources removes what a stack provisioned under a test prefix when the test ends.
func deleteResources(t *testing.T, res map[string]string) {
	t.Cleanup(func() { stack.DeleteResources(localaws.DefaultEndpoints(), *testTopology(""), res) })
}

func lines(t *testing.T, path string) []map[string]json.RawMessage {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	require.NoError(t, err)
	defer f.Close()
	var out []map[string]json.RawMessage
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var m map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		out = append(out, m)
	}
	return out
}

func TestLocalStack(t *testing.T) {
	prefix := localawstest.UniqueName("t")
	s, dir := startStack(t, prefix)
	res := s.Resources()
	deleteResources(t, res)
	ctx := t.Context()
	e := localaws.DefaultEndpoints()

	t.Run("provisions the topology under the prefix", func(t *testing.T) {
		assert.Equal(t, prefix+"-Beacons", res["Beacons"])
		assert.Equal(t, prefix+"-Profiles", res["Profiles"])
		assert.Equal(t, prefix+"-Events", res["Events"])
		assert.True(t, strings.HasSuffix(res["Alerts"], "/"+prefix+"-Alerts"), res["Alerts"])
		assert.True(t, strings.HasSuffix(res["AlertsDeadLetter"], "/"+prefix+"-Alerts-dlq"), res["AlertsDeadLetter"])
		assert.True(t, strings.HasSuffix(res["FailedEvents"], "/"+prefix+"-FailedEvents"), res["FailedEvents"])

		table, err := e.DynamoDBClient().DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(res["Events"])})
		require.NoError(t, err)
		assert.Equal(t, "messageId", aws.ToString(table.Table.KeySchema[0].AttributeName))
		_, err = e.KinesisClient().DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(res["Beacons"])})
		require.NoError(t, err)
		attrs, err := e.SQSClient().GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(res["Alerts"]), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameRedrivePolicy}})
		require.NoError(t, err)
		assert.Contains(t, attrs.Attributes["RedrivePolicy"], prefix+"-Alerts-dlq")
	})

	var scorePID int
	t.Run("gives functions the environment contract", func(t *testing.T) {
		out, err := s.Invoke(ctx, "score", []byte(`{"do":"echo"}`))
		require.NoError(t, err)
		var got struct {
			Env map[string]string `json:"env"`
			PID int               `json:"pid"`
		}
		require.NoError(t, json.Unmarshal(out, &got))
		scorePID = got.PID
		env := got.Env
		assert.Equal(t, res["Profiles"], env["DCRM_PROFILES_TABLE"])
		assert.Equal(t, res["Alerts"], env["DCRM_ALERTS_QUEUE_URL"])
		assert.Equal(t, "720h", env["DCRM_LAPSE_AFTER"])
		assert.NotContains(t, env, "DCRM_BEACONS_STREAM", "only the resources the function uses")
		assert.NotContains(t, env, "DCRM_FAILED_EVENTS_QUEUE_URL")
		// A secret's value itself (there is no Secrets Manager locally), kept for the next start.
		assert.Regexp(t, "^[0-9a-f]{64}$", env["DCRM_HASH_KEY"])
		assert.NotContains(t, env, "DCRM_HASH_KEY_SECRET")
		kept, err := os.ReadFile(filepath.Join(dir, "secrets", "HashKey"))
		require.NoError(t, err)
		assert.Equal(t, env["DCRM_HASH_KEY"]+"\n", string(kept))
		assert.NotContains(t, s.FunctionEnv("collect"), "DCRM_HASH_KEY", "only the functions that use it")
		assert.Equal(t, prefix+"-score", env["AWS_LAMBDA_FUNCTION_NAME"])
		assert.Equal(t, "1024", env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
		assert.Equal(t, "bootstrap", env["_HANDLER"])
		assert.NotEmpty(t, env["AWS_LAMBDA_RUNTIME_API"])
		for k, v := range e.Environment() {
			if strings.HasPrefix(k, "AWS_ENDPOINT_URL_") {
				// The functions reach each server through the host's metering proxy on loopback.
				assert.Regexp(t, `^http://127\.0\.0\.1:\d+$`, env[k], k)
				assert.NotEqual(t, v, env[k], k)
				continue
			}
			assert.Equal(t, v, env[k], k)
		}
		assert.Equal(t, s.FunctionEnv("score")["DCRM_ALERTS_QUEUE_URL"], env["DCRM_ALERTS_QUEUE_URL"])
	})

	t.Run("serves the HTTP API", func(t *testing.T) {
		resp, err := http.Post(s.APIURL()+"/v1/track?writeKey=wk", "application/json", strings.NewReader(`{"event":"Viewed"}`))
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
		assert.Equal(t, "1", resp.Header.Get("X-Test"))
		assert.Equal(t, []string{"a", "b"}, resp.Header.Values("X-Multi"))
		assert.Len(t, resp.Cookies(), 2)
		var req events.APIGatewayV2HTTPRequest
		require.NoError(t, json.Unmarshal(body, &req))
		assert.Equal(t, "POST /v1/track", req.RouteKey)
		assert.Equal(t, `{"event":"Viewed"}`, req.Body)
		assert.Equal(t, map[string]string{"writeKey": "wk"}, req.QueryStringParameters)

		resp, err = http.Get(s.APIURL() + "/v1/profiles/p-42")
		require.NoError(t, err)
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, json.Unmarshal(body, &req))
		assert.Equal(t, map[string]string{"profileId": "p-42"}, req.PathParameters)

		resp, err = http.Get(s.APIURL() + "/v1/nothing")
		require.NoError(t, err)
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotFound, resp.StatusCode)
		assert.Equal(t, `{"message":"Not Found"}`, string(body))
	})

	t.Run("feeds the stream to its function and parks what fails", func(t *testing.T) {
		k := e.KinesisClient()
		for _, data := range []string{"ok-1", "poison-x", "ok-2"} {
			_, err := k.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(res["Beacons"]), PartitionKey: aws.String("v"), Data: []byte(data)})
			require.NoError(t, err)
		}
		var failure onfailure.Record
		require.Eventually(t, func() bool {
			out, err := e.SQSClient().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(res["FailedEvents"]), WaitTimeSeconds: 1})
			require.NoError(t, err)
			if len(out.Messages) == 0 {
				return false
			}
			failure, err = onfailure.Parse([]byte(aws.ToString(out.Messages[0].Body)))
			require.NoError(t, err)
			return true
		}, 20*time.Second, 10*time.Millisecond)
		assert.Equal(t, 1, failure.KinesisBatchInfo.BatchSize)
		assert.Contains(t, failure.KinesisBatchInfo.StreamARN, res["Beacons"])
		assert.Equal(t, "arn:aws:lambda:us-east-1:000000000000:function:"+prefix+"-stitch", failure.RequestContext.FunctionARN)

		require.Eventually(t, func() bool {
			var delivered []string
			for _, l := range lines(t, filepath.Join(dir, "stitch.jsonl")) {
				var data []string
				var failed string
				_ = json.Unmarshal(l["data"], &data)
				_ = json.Unmarshal(l["failed"], &failed)
				if failed == "" {
					delivered = append(delivered, data...)
				}
			}
			return assert.ObjectsAreEqual([]string{"ok-1", "ok-2"}, delivered)
		}, 20*time.Second, 10*time.Millisecond)
	})

	t.Run("meters what it asks of AWS and serves the counts", func(t *testing.T) {
		resp, err := http.Get(s.APIURL() + "/_local/usage")
		require.NoError(t, err)
		var u usage.Snapshot
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&u))
		resp.Body.Close()
		assert.GreaterOrEqual(t, u.API.ByRoute["POST /v1/track"], int64(1))
		assert.GreaterOrEqual(t, u.API.ByRoute[""], int64(1), "the 404 is counted too")
		assert.GreaterOrEqual(t, u.Lambda["stitch"].Invocations, int64(2))
		assert.Equal(t, 512, u.Lambda["stitch"].MemoryMB)
		assert.Positive(t, u.Lambda["stitch"].GBSeconds)
		assert.Positive(t, u.Lambda["stitch"].LogBytes, "START, END and REPORT lines at least")
		assert.Positive(t, u.Kinesis.GetRecordsCalls, "the stream mapping reads through the proxy")
		assert.Equal(t, int64(3), u.Kinesis.RecordsRead, "the test put them on the server directly, unmetered")
		assert.Positive(t, u.SQS.Requests["SendMessage"], "the mapping's on-failure record")
		assert.Contains(t, u.CPU, "devstack")
		assert.Contains(t, u.CPU, "function:stitch")
		assert.Positive(t, hooked.get("kinesis"), "the configured middleware wraps the proxies")
		assert.Positive(t, hooked.get("sqs"))
		assert.Equal(t, s.APIURL()+"/_local/usage", s.Env()["DCRM_USAGE_URL"])
	})

	t.Run("runs schedules on their period and now", func(t *testing.T) {
		scheduled := func() []schedule.Event {
			var out []schedule.Event
			for _, l := range lines(t, filepath.Join(dir, "score.jsonl")) {
				if e, err := schedule.Parse(l["payload"], "score"); err == nil {
					out = append(out, e)
				}
			}
			return out
		}
		require.Eventually(t, func() bool { return len(scheduled()) >= 2 }, 10*time.Second, 20*time.Millisecond)

		out, err := s.RunSchedule(ctx, "score")
		require.NoError(t, err)
		var echo struct {
			Payload json.RawMessage `json:"payload"`
		}
		require.NoError(t, json.Unmarshal(out, &echo))
		ev, err := schedule.Parse(echo.Payload, "score")
		require.NoError(t, err, "the host sends what the schedules send: %s", echo.Payload)
		require.JSONEq(t, string(schedule.Payload("score", ev.Time)), string(echo.Payload))
		assert.WithinDuration(t, time.Now(), ev.Time, 5*time.Second)

		_, err = s.RunSchedule(ctx, "nothing")
		assert.ErrorIs(t, err, stack.ErrUnknownSchedule)
	})

	// As in AWS, a scheduled run that keeps failing is described on the function's on-failure queue
	// in Lambda's asynchronous on-failure format, after its retries.
	t.Run("keeps a failed scheduled run on the on-failure queue", func(t *testing.T) {
		var record struct {
			RequestContext struct {
				FunctionArn            string `json:"functionArn"`
				Condition              string `json:"condition"`
				ApproximateInvokeCount int    `json:"approximateInvokeCount"`
			} `json:"requestContext"`
			RequestPayload  json.RawMessage `json:"requestPayload"`
			ResponsePayload struct {
				ErrorMessage string `json:"errorMessage"`
			} `json:"responsePayload"`
		}
		require.Eventually(t, func() bool {
			out, err := e.SQSClient().ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(res["FailedRuns"]), WaitTimeSeconds: 1})
			return err == nil && len(out.Messages) > 0 && json.Unmarshal([]byte(aws.ToString(out.Messages[0].Body)), &record) == nil
		}, 10*time.Second, 20*time.Millisecond)
		ev, err := schedule.Parse(record.RequestPayload, "broken")
		require.NoError(t, err, "the record holds the run as it was sent: %s", record.RequestPayload)
		assert.Equal(t, "broken", ev.Schedule)
		assert.Equal(t, "RetriesExhausted", record.RequestContext.Condition)
		assert.Equal(t, 2, record.RequestContext.ApproximateInvokeCount, "one try and the one retry of the function's Async")
		assert.True(t, strings.HasPrefix(record.RequestContext.FunctionArn, "arn:aws:lambda:"), record.RequestContext.FunctionArn)
		assert.Contains(t, record.ResponsePayload.ErrorMessage, "scheduled run of broken fails on purpose")
	})

	t.Run("serves the Invoke API to the AWS SDK", func(t *testing.T) {
		client := lambda.New(lambda.Options{Region: localaws.Region, BaseEndpoint: aws.String(s.LambdaURL()),
			Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
		for _, name := range []string{"score", prefix + "-score"} {
			out, err := client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{"do":"echo"}`)})
			require.NoError(t, err)
			assert.Nil(t, out.FunctionError)
			assert.Contains(t, string(out.Payload), `"payload":{"do":"echo"}`)
		}
		out, err := client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("score"), Payload: []byte(`{"do":"error","message":"bad run"}`)})
		require.NoError(t, err)
		assert.Equal(t, "Unhandled", aws.ToString(out.FunctionError))
		assert.Contains(t, string(out.Payload), "bad run")
	})

	t.Run("writes a sourceable env file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "resources.env")
		require.NoError(t, s.WriteEnvFile(path))
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		env := map[string]string{}
		for _, line := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
				env[k] = v
			}
		}
		assert.Equal(t, s.APIURL(), env["DCRM_API_URL"])
		assert.Equal(t, s.LambdaURL(), env["AWS_ENDPOINT_URL_LAMBDA"])
		assert.Equal(t, e.DynamoDB, env["AWS_ENDPOINT_URL_DYNAMODB"])
		assert.Equal(t, e.DynamoDB, env["DCRM_DYNAMODB_ENDPOINT"])
		assert.Equal(t, res["Beacons"], env["DCRM_BEACONS_STREAM"])
		assert.Equal(t, res["FailedEvents"], env["DCRM_FAILED_EVENTS_QUEUE_URL"])
		assert.Equal(t, prefix+"-score", env["DCRM_FUNCTION_SCORE"])
		assert.Equal(t, "720h", env["DCRM_LAPSE_AFTER"])
		assert.Equal(t, localaws.Region, env["AWS_REGION"])
	})

	t.Run("logs each function to its file", func(t *testing.T) {
		raw, err := os.ReadFile(filepath.Join(dir, "logs", "score.log"))
		require.NoError(t, err)
		assert.Contains(t, string(raw), "REPORT RequestId:")
	})

	require.NoError(t, s.Close())
	assert.Error(t, syscall.Kill(scorePID, 0), "no function process outlives the stack")
	_, err := s.Invoke(ctx, "score", []byte(`{}`))
	assert.ErrorIs(t, err, lambdahost.ErrClosed)
}

func TestStartIsIdempotentAndFailsClearly(t *testing.T) {
	prefix := localawstest.UniqueName("t")
	secrets := t.TempDir()
	first, _ := startStackKeeping(t, prefix, secrets)
	deleteResources(t, first.Resources())
	require.NoError(t, first.Close())
	second, _ := startStackKeeping(t, prefix, secrets)
	assert.Equal(t, first.Resources(), second.Resources(), "a second start finds the same resources, and keeps its secrets")

	_, err := stack.Start(t.Context(), stack.Config{Topology: testTopology(t.TempDir()), Prefix: prefix, FunctionsDir: t.TempDir()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bootstrap")

	_, err = stack.Start(t.Context(), stack.Config{Topology: testTopology(t.TempDir()), Prefix: prefix,
		Endpoints: localaws.Endpoints{DynamoDB: "http://127.0.0.1:1", Kinesis: "http://127.0.0.1:1", SQS: "http://127.0.0.1:1"}})
	assert.ErrorIs(t, err, stack.ErrServersDown)
}
