package lambdahost_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/scripts/devstack/devtest"
	"github.com/dcrm-project/dcrm/scripts/devstack/lambdahost"
)

func TestMain(m *testing.M) { devtest.Main(m) }

func testFunction(t *testing.T) string { return devtest.TestFunction(t) }

func newFunction(t *testing.T, modify func(*lambdahost.Spec)) *lambdahost.Function {
	t.Helper()
	spec := lambdahost.Spec{
		Name: "testfn", Bootstrap: testFunction(t), Memory: 256, Timeout: 5 * time.Second,
		Env: map[string]string{"AWS_REGION": "eu-west-1", "DCRM_PROFILES_TABLE": "dcrm-Profiles", "DCRM_LAPSE_AFTER": "720h"},
	}
	if modify != nil {
		modify(&spec)
	}
	fn, err := lambdahost.New(spec)
	require.NoError(t, err)
	t.Cleanup(func() { fn.Close() })
	return fn
}

type echoed struct {
	Payload     json.RawMessage   `json:"payload"`
	Env         map[string]string `json:"env"`
	RequestID   string            `json:"requestId"`
	FunctionArn string            `json:"functionArn"`
	DeadlineMs  int64             `json:"deadlineMs"`
	PID         int               `json:"pid"`
}

func invokeEcho(t *testing.T, fn *lambdahost.Function, payload string) echoed {
	t.Helper()
	out, err := fn.Invoke(context.Background(), []byte(payload))
	require.NoError(t, err)
	var e echoed
	require.NoError(t, json.Unmarshal(out, &e), string(out))
	return e
}

func TestInvokeRunsTheBootstrapWithLambdasEnvironment(t *testing.T) {
	t.Setenv("DCRM_HOST_ONLY", "leak")
	var log devtest.Buffer
	fn := newFunction(t, func(s *lambdahost.Spec) { s.Log = &log })

	before := time.Now()
	e := invokeEcho(t, fn, `{"do":"echo","print":"hello from the function"}`)

	assert.JSONEq(t, `{"do":"echo","print":"hello from the function"}`, string(e.Payload))
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, e.RequestID)
	assert.Equal(t, "arn:aws:lambda:eu-west-1:000000000000:function:testfn", e.FunctionArn)
	assert.Equal(t, fn.ARN(), e.FunctionArn)
	assert.InDelta(t, before.Add(5*time.Second).UnixMilli(), e.DeadlineMs, 1000)

	assert.Equal(t, "dcrm-Profiles", e.Env["DCRM_PROFILES_TABLE"])
	assert.Equal(t, "720h", e.Env["DCRM_LAPSE_AFTER"])
	assert.Equal(t, "testfn", e.Env["AWS_LAMBDA_FUNCTION_NAME"])
	assert.Equal(t, "256", e.Env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
	assert.Equal(t, "bootstrap", e.Env["_HANDLER"])
	assert.Equal(t, "1", e.Env["GOMAXPROCS"], "one thread running Go code per environment")
	assert.Equal(t, "eu-west-1", e.Env["AWS_REGION"])
	assert.Equal(t, "eu-west-1", e.Env["AWS_DEFAULT_REGION"])
	assert.Regexp(t, `^127\.0\.0\.1:\d+$`, e.Env["AWS_LAMBDA_RUNTIME_API"])
	assert.NotContains(t, e.Env, "DCRM_HOST_ONLY", "the host's own environment must not leak into functions")

	again := invokeEcho(t, fn, `{"do":"echo"}`)
	assert.Equal(t, e.PID, again.PID, "a warm environment serves the next invocation")
	assert.NotEqual(t, e.RequestID, again.RequestID)

	require.Eventually(t, func() bool { return strings.Contains(log.String(), "REPORT RequestId: "+again.RequestID) }, 5*time.Second, 10*time.Millisecond)
	assert.Contains(t, log.String(), "hello from the function\n")
	assert.Contains(t, log.String(), "START RequestId: "+e.RequestID+" Version: $LATEST\n")
	assert.Contains(t, log.String(), "END RequestId: "+e.RequestID+"\n")
}

func TestSystemLogLevelWarnDropsTheInvocationLinesOnly(t *testing.T) {
	var log devtest.Buffer
	fn := newFunction(t, func(s *lambdahost.Spec) {
		s.Log, s.SystemLogLevel, s.Timeout, s.Environments = &log, "WARN", 500*time.Millisecond, 1
	})
	e := invokeEcho(t, fn, `{"do":"echo","print":"the function's own line"}`)
	_, err := fn.Invoke(context.Background(), []byte(`{"do":"sleep","ms":60000}`))
	require.Error(t, err)

	require.Eventually(t, func() bool { return strings.Contains(log.String(), "Task timed out") }, 5*time.Second, 10*time.Millisecond)
	assert.Contains(t, log.String(), "the function's own line\n")
	for _, platform := range []string{"START RequestId", "END RequestId", "REPORT RequestId: " + e.RequestID} {
		assert.NotContains(t, log.String(), platform)
	}
}

func TestHandlerErrorIsAFunctionErrorAndKeepsTheEnvironment(t *testing.T) {
	fn := newFunction(t, nil)
	first := invokeEcho(t, fn, `{}`)

	_, err := fn.Invoke(context.Background(), []byte(`{"do":"error","message":"boom"}`))
	var fe *lambdahost.FunctionError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "boom", fe.Message)
	assert.Equal(t, "errorString", fe.Type)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(fe.Payload, &doc))
	assert.Equal(t, "boom", doc["errorMessage"])

	assert.Equal(t, first.PID, invokeEcho(t, fn, `{}`).PID)
}

func TestPanicCrashAndTimeoutFailTheInvocationAndReplaceTheProcess(t *testing.T) {
	cases := []struct {
		payload string
		errType string
		message string
	}{
		{`{"do":"panic","message":"oops"}`, "", "oops"},
		{`{"do":"crash"}`, "Runtime.ExitError", "exit status 3"},
		{`{"do":"sleep","ms":60000}`, "Sandbox.Timedout", "Task timed out after 0.50 seconds"},
	}
	for _, c := range cases {
		t.Run(c.payload, func(t *testing.T) {
			t.Parallel()
			fn := newFunction(t, func(s *lambdahost.Spec) { s.Timeout = 500 * time.Millisecond; s.Environments = 1 })
			first := invokeEcho(t, fn, `{}`)

			start := time.Now()
			_, err := fn.Invoke(context.Background(), []byte(c.payload))
			var fe *lambdahost.FunctionError
			require.ErrorAs(t, err, &fe)
			if c.errType != "" {
				assert.Equal(t, c.errType, fe.Type)
			}
			assert.Contains(t, fe.Message, c.message)
			assert.Less(t, time.Since(start), 3*time.Second, "a failing invocation must not hang")

			next := invokeEcho(t, fn, `{}`)
			assert.NotEqual(t, first.PID, next.PID, "the failed process is replaced")
			require.Eventually(t, func() bool { return syscall.Kill(first.PID, 0) != nil }, 5*time.Second, 10*time.Millisecond,
				"the old process is gone")
		})
	}
}

func TestProcessThatDiesDuringInitFailsTheInvocation(t *testing.T) {
	var log devtest.Buffer
	fn := newFunction(t, func(s *lambdahost.Spec) {
		s.Env = map[string]string{"TESTFN_INIT": "crash"}
		s.Log = &log
	})
	for range 2 {
		_, err := fn.Invoke(context.Background(), []byte(`{}`))
		var fe *lambdahost.FunctionError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, "Runtime.ExitError", fe.Type)
		assert.Contains(t, fe.Message, "exit status 4")
	}
	assert.Contains(t, log.String(), "failing init on purpose")
}

func TestPayloadLimits(t *testing.T) {
	fn := newFunction(t, nil)
	_, err := fn.Invoke(context.Background(), bytes.Repeat([]byte("x"), lambdahost.MaxPayload+1))
	assert.ErrorIs(t, err, lambdahost.ErrPayloadTooLarge)

	_, err = fn.Invoke(context.Background(), []byte(`{"do":"big"}`))
	var fe *lambdahost.FunctionError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "Function.ResponseSizeTooLarge", fe.Type)
}

func TestEnvironmentsServeOneInvocationAtATime(t *testing.T) {
	fn := newFunction(t, func(s *lambdahost.Spec) { s.Environments = 2 })
	var mu sync.Mutex
	pids := map[int]int{}
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			out, err := fn.Invoke(context.Background(), []byte(`{"do":"sleep","ms":150}`))
			if !assert.NoError(t, err) {
				return
			}
			var e echoed
			assert.NoError(t, json.Unmarshal(out, &e))
			mu.Lock()
			pids[e.PID]++
			mu.Unlock()
		})
	}
	wg.Wait()
	assert.Len(t, pids, 2, "two environments, no more")
}

func TestCloseStopsTheProcesses(t *testing.T) {
	fn := newFunction(t, nil)
	e := invokeEcho(t, fn, `{}`)
	require.NoError(t, fn.Close())
	assert.Error(t, syscall.Kill(e.PID, 0), "the process is gone once Close returns")
	_, err := fn.Invoke(context.Background(), []byte(`{}`))
	assert.ErrorIs(t, err, lambdahost.ErrClosed)
}

func TestNewRejectsAMissingBootstrap(t *testing.T) {
	_, err := lambdahost.New(lambdahost.Spec{Name: "nothing", Bootstrap: filepath.Join(t.TempDir(), "bootstrap")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bootstrap")
}

func TestInvokeAPIWithTheAWSSDK(t *testing.T) {
	fn := newFunction(t, nil)
	api := lambdahost.NewInvokeAPI(t.Context(), func(name string) (*lambdahost.Function, bool) {
		return fn, name == "testfn" || name == "dcrm-testfn"
	}, nil)
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	client := lambda.New(lambda.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
	ctx := t.Context()

	for _, name := range []string{"testfn", "dcrm-testfn", fn.ARN()} {
		out, err := client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(name), Payload: []byte(`{"do":"echo","n":1}`)})
		require.NoError(t, err, name)
		assert.Nil(t, out.FunctionError)
		assert.Equal(t, int32(200), out.StatusCode)
		assert.Equal(t, "$LATEST", aws.ToString(out.ExecutedVersion))
		var e echoed
		require.NoError(t, json.Unmarshal(out.Payload, &e))
		assert.JSONEq(t, `{"do":"echo","n":1}`, string(e.Payload))
	}

	out, err := client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("testfn"), Payload: []byte(`{"do":"error","message":"nope"}`)})
	require.NoError(t, err)
	assert.Equal(t, "Unhandled", aws.ToString(out.FunctionError))
	assert.Regexp(t, regexp.MustCompile(`"errorMessage":"nope"`), string(out.Payload))

	_, err = client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("missing"), Payload: []byte(`{}`)})
	var notFound *lambdatypes.ResourceNotFoundException
	require.ErrorAs(t, err, &notFound)

	_, err = client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("testfn"), Payload: []byte(`not json`)})
	var badContent *lambdatypes.InvalidRequestContentException
	require.ErrorAs(t, err, &badContent)

	out, err = client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("testfn"), InvocationType: lambdatypes.InvocationTypeDryRun})
	require.NoError(t, err)
	assert.Equal(t, int32(204), out.StatusCode)
	assert.False(t, errors.Is(err, context.Canceled))
}

func TestCrashKillsTheBusyProcessesOnly(t *testing.T) {
	fn := newFunction(t, func(s *lambdahost.Spec) { s.Timeout = 30 * time.Second; s.Environments = 2 })
	idle := invokeEcho(t, fn, `{}`)
	assert.Equal(t, []int{idle.PID}, fn.PIDs())
	assert.Zero(t, fn.Crash(), "an idle process is left alone")
	assert.Equal(t, idle.PID, invokeEcho(t, fn, `{}`).PID)

	failed := make(chan error, 1)
	go func() {
		_, err := fn.Invoke(context.Background(), []byte(`{"do":"sleep","ms":60000}`))
		failed <- err
	}()
	require.Eventually(t, func() bool { return fn.Crash() == 1 }, 10*time.Second, 10*time.Millisecond)
	select {
	case err := <-failed:
		var fe *lambdahost.FunctionError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, "Runtime.ExitError", fe.Type)
		assert.Contains(t, fe.Message, "killed")
	case <-time.After(10 * time.Second):
		t.Fatal("the invocation of the killed process did not fail")
	}
	assert.NotEqual(t, idle.PID, invokeEcho(t, fn, `{}`).PID, "the killed process is replaced")
}

// Closing a function while an invocation is starting its process ends both: the invocation fails
// with ErrClosed, and Close returns. (Killing the new process under the function's lock used to
// wait for the process's exit, which is recorded under that same lock.)
func TestCloseWhileAProcessStarts(t *testing.T) {
	for range 20 {
		fn := newFunction(t, nil)
		invoked := make(chan error, 1)
		go func() {
			_, err := fn.Invoke(context.Background(), []byte(`{}`))
			invoked <- err
		}()
		time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
		closed := make(chan struct{})
		go func() { fn.Close(); close(closed) }()
		for _, done := range []<-chan struct{}{closed, errDone(invoked)} {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Close and the invocation did not both end")
			}
		}
	}
}

func errDone(c <-chan error) <-chan struct{} {
	done := make(chan struct{})
	go func() { <-c; close(done) }()
	return done
}
