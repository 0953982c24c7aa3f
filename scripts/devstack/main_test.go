package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	fhtypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/shared/localaws"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

func TestMain(m *testing.M) { devtest.Main(m) }

func TestRunServesUntilStoppedAndLeavesNoEnvFile(t *testing.T) {
	localawstest.Reachable(t)
	dir := t.TempDir()
	functions := filepath.Join(dir, "functions")
	var names []string
	for _, f := range topology.Default().Functions {
		names = append(names, f.Name)
	}
	devtest.Install(t, functions, names...)
	prefix := localawstest.UniqueName("main")
	state := filepath.Join(dir, "state")
	profile := filepath.Join(dir, "cpu.pprof")

	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr devtest.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-prefix", prefix, "-api-port", "0", "-lambda-port", "0", "-s3-port", "0", "-firehose-port", "0", "-auth-port", "0", "-functions", functions, "-state", state,
			"-cpuprofile", profile}, &stdout, &stderr)
	}()

	envFile := filepath.Join(state, "resources.env")
	require.Eventually(t, func() bool { return strings.Contains(stdout.String(), "devstack: ready") }, 30*time.Second, 10*time.Millisecond,
		"stderr: %s", stderr.String())
	raw, err := os.ReadFile(envFile)
	require.NoError(t, err)
	env := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	t.Cleanup(func() { deleteResources(env) })
	assert.Equal(t, prefix+"-Profiles", env["DCRM_PROFILES_TABLE"])
	assert.Equal(t, prefix+"-Beacons", env["DCRM_BEACONS_STREAM"])
	assert.NotEmpty(t, env["AWS_ENDPOINT_URL_LAMBDA"])
	require.NotEmpty(t, env["DCRM_API_URL"])

	// The local user pool: its endpoint, issuer and client, and the console user with this start's
	// password (make up copies them to local.env); the pool kept under the state folder.
	assert.True(t, strings.HasPrefix(env["DCRM_AUTH_URL"], "http://127.0.0.1:"), env["DCRM_AUTH_URL"])
	assert.True(t, strings.HasPrefix(env["DCRM_AUTH_ISSUER"], env["DCRM_AUTH_URL"]+"us-east-1_"), env["DCRM_AUTH_ISSUER"])
	assert.NotEmpty(t, env["DCRM_AUTH_CLIENT_ID"])
	assert.Equal(t, "admin", env["DCRM_CONSOLE_USER"])
	assert.Len(t, env["DCRM_CONSOLE_PASSWORD"], 20)
	assert.FileExists(t, filepath.Join(state, "auth", "users.json"))

	// S3's endpoint is written with the others (make up copies them to local.env), and its
	// buckets keep their objects under the state folder.
	require.True(t, strings.HasPrefix(env["DCRM_S3_ENDPOINT"], "http://127.0.0.1:"), env["DCRM_S3_ENDPOINT"])
	assert.Equal(t, env["DCRM_S3_ENDPOINT"], env["AWS_ENDPOINT_URL_S3"])
	assert.Equal(t, prefix+"-import", env["DCRM_IMPORT_BUCKET"])
	assert.Equal(t, prefix+"-archive", env["DCRM_ARCHIVE_BUCKET"])
	_, err = localaws.Endpoints{S3: env["DCRM_S3_ENDPOINT"]}.S3Client().PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(env["DCRM_IMPORT_BUCKET"]), Key: aws.String("customers/crm.csv"), Body: strings.NewReader("email\n")})
	require.NoError(t, err)
	kept, _ := filepath.Glob(filepath.Join(state, "s3", env["DCRM_IMPORT_BUCKET"], "*.data"))
	assert.Len(t, kept, 1)

	// Data Firehose's too, with the archive feed, whose records reach the archive bucket.
	require.True(t, strings.HasPrefix(env["DCRM_FIREHOSE_ENDPOINT"], "http://127.0.0.1:"), env["DCRM_FIREHOSE_ENDPOINT"])
	assert.Equal(t, env["DCRM_FIREHOSE_ENDPOINT"], env["AWS_ENDPOINT_URL_FIREHOSE"])
	assert.Equal(t, prefix+"-ArchiveFeed", env["DCRM_ARCHIVE_FEED_DELIVERY_STREAM"])

	resp, err := http.Get(env["DCRM_API_URL"] + "/v1/unknown")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Equal(t, `{"message":"Not Found"}`, string(body))

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("devstack did not stop")
	}
	assert.NoFileExists(t, envFile, "a stopped host leaves no resources.env behind")
	assert.Contains(t, stdout.String(), "devstack: stopping")
	raw, err = os.ReadFile(profile)
	require.NoError(t, err, "-cpuprofile writes the profile")
	assert.True(t, len(raw) > 2 && raw[0] == 0x1f && raw[1] == 0x8b, "the profile is pprof's gzipped protobuf")
}

func TestFaultsPortPutsAnInjectorBeforeEveryServer(t *testing.T) {
	direct := localawstest.Reachable(t)
	dir := t.TempDir()
	functions := filepath.Join(dir, "functions")
	var names []string
	for _, f := range topology.Default().Functions {
		names = append(names, f.Name)
	}
	devtest.Install(t, functions, names...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr devtest.Buffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-prefix", localawstest.UniqueName("faults"), "-api-port", "0", "-lambda-port", "0", "-s3-port", "0", "-firehose-port", "0", "-auth-port", "0",
			"-functions", functions, "-state", filepath.Join(dir, "state"), "-faults-port", strconv.Itoa(port)}, &stdout, &stderr)
	}()
	require.Eventually(t, func() bool { return strings.Contains(stdout.String(), "devstack: ready") }, 30*time.Second, 10*time.Millisecond,
		"stderr: %s", stderr.String())
	raw, err := os.ReadFile(filepath.Join(dir, "state", "resources.env"))
	require.NoError(t, err)
	env := map[string]string{}
	for _, line := range strings.Split(string(raw), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	t.Cleanup(func() { deleteResources(env) })
	for k, server := range map[string]string{"DCRM_DYNAMODB_ENDPOINT": direct.DynamoDB, "DCRM_KINESIS_ENDPOINT": direct.Kinesis, "DCRM_SQS_ENDPOINT": direct.SQS} {
		assert.NotEqual(t, server, env[k], "%s goes through the injector", k)
	}
	rules := "http://127.0.0.1:" + strconv.Itoa(port) + "/faults"
	resp, err := http.Post(rules, "application/json", strings.NewReader(`{"name":"slow","service":"sqs","latency":"1ms"}`))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	resp, err = http.Get(rules)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(body), `"name":"slow"`)

	// The host's own Data Firehose server is behind the injector too.
	resp, err = http.Post(rules, "application/json", strings.NewReader(`{"name":"busy","service":"firehose","times":1,"error":{"code":"ServiceUnavailableException"}}`))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	fh := firehose.NewFromConfig(direct.Config(), func(o *firehose.Options) {
		o.BaseEndpoint = aws.String(env["DCRM_FIREHOSE_ENDPOINT"])
		o.Retryer = aws.NopRetryer{}
	})
	put := &firehose.PutRecordInput{DeliveryStreamName: aws.String(env["DCRM_ARCHIVE_FEED_DELIVERY_STREAM"]), Record: &fhtypes.Record{Data: []byte("x\n")}}
	_, err = fh.PutRecord(ctx, put)
	var busy *fhtypes.ServiceUnavailableException
	require.ErrorAs(t, err, &busy, "the rule fires")
	_, err = fh.PutRecord(ctx, put)
	require.NoError(t, err, "once")

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("devstack did not stop")
	}
	_, err = http.Get(rules)
	assert.Error(t, err, "the rules are served no more")
}

func TestRunRejectsStrayArguments(t *testing.T) {
	err := run(t.Context(), []string{"extra"}, io.Discard, io.Discard)
	assert.ErrorContains(t, err, "unexpected arguments")
}

// deleteResources removes the tables, stream and queues named in a resources.env.
func deleteResources(env map[string]string) {
	e := localaws.DefaultEndpoints()
	ctx := context.Background()
	for k, v := range env {
		switch {
		case strings.HasSuffix(k, "_TABLE"):
			_, _ = e.DynamoDBClient().DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(v)})
		case strings.HasSuffix(k, "_STREAM"):
			_, _ = e.KinesisClient().DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(v)})
		case strings.HasSuffix(k, "_QUEUE_URL"):
			for _, u := range []string{v, v + "-dlq"} {
				_, _ = e.SQSClient().DeleteQueue(ctx, &sqs.DeleteQueueInput{QueueUrl: aws.String(u)})
			}
		}
	}
}

func TestFirehoseIntervalFlag(t *testing.T) {
	for v, want := range map[string]time.Duration{"5s": 5 * time.Second, "250ms": 250 * time.Millisecond, "15m": 15 * time.Minute, "topology": -1} {
		got, err := bufferInterval(v)
		require.NoError(t, err, v)
		assert.Equal(t, want, got, v)
	}
	got, err := bufferInterval("0s")
	require.NoError(t, err)
	assert.Positive(t, got, "zero buffering, not the stack's default")
	for _, v := range []string{"16m", "-1s", "soon", ""} {
		_, err := bufferInterval(v)
		assert.ErrorContains(t, err, "-firehose-interval", v)
	}
}
