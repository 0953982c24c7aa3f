package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dcrm-project/dcrm/events/onfailure"
	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/lambdahost"
)

// lambdaAsyncRetries is how often Lambda retries a failed asynchronous invocation of a function
// that does not say (topology.Function.Async).
const lambdaAsyncRetries = 2

// invokeAsync runs a function as Lambda runs an asynchronous invocation: retried as its Async
// says (Lambda's two retries without one), after AsyncRetryDelay and then twice as long each time
// (where Lambda waits a minute, then two), then described on its on-failure queue. The error is
// the last attempt's; nil once one succeeded or the failure was recorded.
func (s *Stack) invokeAsync(ctx context.Context, f topology.Function, payload []byte) error {
	attempts := 1 + lambdaAsyncRetries
	if f.Async != nil {
		attempts = 1 + f.Async.Retries
	}
	var err error
	delay := s.cfg.AsyncRetryDelay
	for i := range attempts {
		if i > 0 {
			select {
			case <-ctx.Done():
				return err
			case <-time.After(delay):
			}
			delay *= 2
		}
		if _, err = s.Invoke(ctx, f.Name, payload); err == nil || ctx.Err() != nil {
			return err
		}
	}
	if f.Async == nil || f.Async.OnFailureQueue == "" {
		return err
	}
	// Lambda's on-failure record of an asynchronous invocation: the request as it was, and the error.
	record := onfailure.Record{
		Version:   "1.0",
		Timestamp: time.Now().UTC().Format(time.RFC3339Nano),
		RequestContext: onfailure.RequestContext{
			RequestID: fmt.Sprintf("%x", time.Now().UnixNano()), FunctionARN: s.functions[f.Name].ARN() + ":$LATEST",
			Condition: onfailure.RetriesExhausted, ApproximateInvokeCount: attempts,
		},
		RequestPayload:  json.RawMessage(payload),
		ResponseContext: onfailure.ResponseContext{StatusCode: 200, ExecutedVersion: "$LATEST", FunctionError: "Unhandled"},
	}
	var fe *lambdahost.FunctionError
	if !errors.As(err, &fe) {
		fe = &lambdahost.FunctionError{Type: "Runtime.Unknown", Message: err.Error()}
	}
	record.ResponsePayload, _ = json.Marshal(fe)
	if !json.Valid(payload) {
		record.RequestPayload, _ = json.Marshal(string(payload))
	}
	body, _ := json.Marshal(record)
	queue := s.resources[f.Async.OnFailureQueue]
	if _, sendErr := s.cfg.Endpoints.SQSClient().SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(queue), MessageBody: aws.String(string(body)),
	}); sendErr != nil {
		return fmt.Errorf("%w; and its on-failure record was not sent to %s: %w", err, f.Async.OnFailureQueue, sendErr)
	}
	s.log.Warn("asynchronous invocation failed; described on its on-failure queue", "function", f.Name,
		"attempts", attempts, "queue", f.Async.OnFailureQueue, "error", err)
	return nil
}
