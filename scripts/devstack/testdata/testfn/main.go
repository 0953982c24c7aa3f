// Command testfn is a Lambda function for the local host's tests. What it does depends on
// TESTFN_MODE (a function setting):
//
//   - "" (echo): the payload says what to do: {"do":"echo"} answers with the payload, the
//     environment and the invocation context; "error" returns an error; "panic" panics; "crash"
//     exits the process; "sleep" sleeps "ms" milliseconds, ignoring the deadline; "big" answers
//     with 7 MB. A scheduled run of the schedule named by TESTFN_FAIL_SCHEDULE fails.
//   - "api": an HTTP API handler answering with the request it got (see handleAPI).
//   - "stream": a Kinesis handler (see handleStream).
//   - "s3": an S3 notification handler (see handleS3).
//
// With TESTFN_OUT set, every invocation appends one JSON line to that file.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

func main() {
	if os.Getenv("TESTFN_INIT") == "crash" {
		fmt.Fprintln(os.Stderr, "testfn: failing init on purpose")
		os.Exit(4)
	}
	lambda.Start(handle)
}

func handle(ctx context.Context, payload json.RawMessage) (any, error) {
	switch os.Getenv("TESTFN_MODE") {
	case "api":
		var req events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(payload, &req); err != nil {
			return nil, err
		}
		record(map[string]any{"path": req.RawPath})
		return handleAPI(req)
	case "stream":
		var ev events.KinesisEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, err
		}
		return handleStream(ev)
	case "s3":
		var ev events.S3Event
		if err := json.Unmarshal(payload, &ev); err != nil {
			return nil, err
		}
		return nil, handleS3(ev)
	}
	record(map[string]any{"payload": payload})
	return handleEcho(ctx, payload)
}

type command struct {
	Schedule string `json:"schedule"`
	Do       string `json:"do"`
	Message  string `json:"message"`
	MS       int    `json:"ms"`
	Print    string `json:"print"`
}

func handleEcho(ctx context.Context, payload json.RawMessage) (any, error) {
	var c command
	_ = json.Unmarshal(payload, &c)
	if c.Print != "" {
		fmt.Println(c.Print)
	}
	if c.Schedule != "" && c.Schedule == os.Getenv("TESTFN_FAIL_SCHEDULE") {
		return nil, fmt.Errorf("scheduled run of %s fails on purpose", c.Schedule)
	}
	switch c.Do {
	case "error":
		return nil, errors.New(c.Message)
	case "panic":
		panic(c.Message)
	case "crash":
		fmt.Fprintln(os.Stderr, "testfn: crashing on purpose")
		os.Exit(3)
	case "sleep":
		time.Sleep(time.Duration(c.MS) * time.Millisecond)
	case "big":
		return strings.Repeat("x", 7<<20), nil
	}
	lc, _ := lambdacontext.FromContext(ctx)
	deadline, _ := ctx.Deadline()
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return map[string]any{
		"payload": payload, "env": env, "requestId": lc.AwsRequestID, "functionArn": lc.InvokedFunctionArn,
		"deadlineMs": deadline.UnixMilli(), "pid": os.Getpid(),
	}, nil
}

// handleAPI answers with the request event as body, plus response features chosen by the path:
// /fail returns an error, /plain returns a bare JSON object (no statusCode), /binary returns
// base64 bytes; ?status= sets the status code.
func handleAPI(req events.APIGatewayV2HTTPRequest) (any, error) {
	switch req.RawPath {
	case "/fail":
		return nil, errors.New("api failure on purpose")
	case "/plain":
		return map[string]string{"hello": "world"}, nil
	case "/binary":
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, IsBase64Encoded: true,
			Headers: map[string]string{"Content-Type": "application/octet-stream"},
			Body:    base64.StdEncoding.EncodeToString([]byte{0, 1, 2, 250, 255})}, nil
	}
	status := 200
	if s := req.QueryStringParameters["status"]; s != "" {
		status, _ = strconv.Atoi(s)
	}
	body, _ := json.Marshal(req)
	return events.APIGatewayV2HTTPResponse{
		StatusCode:        status,
		Headers:           map[string]string{"Content-Type": "application/json", "X-Test": "1"},
		MultiValueHeaders: map[string][]string{"X-Multi": {"a", "b"}},
		Cookies:           []string{"c1=v1; Path=/", "c2=v2"},
		Body:              string(body),
	}, nil
}

// handleStream records the batch and fails records by their data: "poison…" always fails,
// "flaky…" fails the first time it is seen. TESTFN_FAIL says how: "error" fails the whole
// invocation, "partial" reports the record in batchItemFailures.
func handleStream(ev events.KinesisEvent) (any, error) {
	var seqs, data []string
	failed := ""
	for _, r := range ev.Records {
		seqs = append(seqs, r.Kinesis.SequenceNumber)
		d := string(r.Kinesis.Data)
		data = append(data, d)
		if failed == "" && (strings.HasPrefix(d, "poison") || strings.HasPrefix(d, "flaky") && firstSight(d)) {
			failed = r.Kinesis.SequenceNumber
		}
	}
	record(map[string]any{"seqs": seqs, "data": data, "failed": failed, "records": ev.Records})
	if failed == "" {
		return events.KinesisEventResponse{}, nil
	}
	if os.Getenv("TESTFN_FAIL") == "partial" {
		return events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{{ItemIdentifier: failed}}}, nil
	}
	return nil, fmt.Errorf("record %s failed on purpose", failed)
}

// handleS3 records the event with the keys decoded and the time, and fails on keys containing
// "poison" always and "flaky" the first time.
func handleS3(ev events.S3Event) error {
	var keys []string
	failed := ""
	for _, r := range ev.Records {
		key, err := url.QueryUnescape(r.S3.Object.Key)
		if err != nil {
			return err
		}
		keys = append(keys, key)
		if strings.Contains(key, "poison") || strings.Contains(key, "flaky") && firstSight(strings.ReplaceAll(key, "/", "_")) {
			failed = key
		}
	}
	record(map[string]any{"keys": keys, "records": ev.Records, "failed": failed, "at": time.Now()})
	if failed != "" {
		return fmt.Errorf("object %s failed on purpose", failed)
	}
	return nil
}

// firstSight remembers (in a file beside TESTFN_OUT, so a new process remembers too) that key was seen.
func firstSight(key string) bool {
	marker := filepath.Join(filepath.Dir(os.Getenv("TESTFN_OUT")), "seen-"+key)
	f, err := os.OpenFile(marker, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

func record(v map[string]any) {
	out := os.Getenv("TESTFN_OUT")
	if out == "" {
		return
	}
	v["pid"] = os.Getpid()
	line, _ := json.Marshal(v)
	f, err := os.OpenFile(out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testfn:", err)
		return
	}
	defer f.Close()
	_, _ = f.Write(append(line, '\n'))
}
