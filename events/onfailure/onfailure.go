// Package onfailure is the record Lambda sends to an on-failure destination, in the two shapes that
// reach dcrm's FailedEvents queue: the description of a Kinesis batch that a stream mapping gave up
// on (KinesisBatchInfo: shard, sequence-number range, arrival times, batch size; the records stay on
// the stream) and the record of an asynchronous invocation that failed its retries or grew too old
// (requestPayload: the event itself). Lambda sends them as plain JSON, without dcrm's `type` and
// `version` message attributes, so a reader tells them by their shape (Parse).
//
// The local host writes the first shape (scripts/devstack/streammap), `dcrm replay` reads both, the
// example consumer recognises them. Samples as a consumer receives them: events/sqs/onfailure.
package onfailure

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrNotOnFailure is returned by Parse for a body that is not an on-failure record.
var ErrNotOnFailure = errors.New("not a Lambda on-failure record")

// ErrInvalid is returned by Parse for an on-failure record that misses what a replay needs.
var ErrInvalid = errors.New("invalid on-failure record")

// Conditions: why Lambda gave up.
const (
	// Stream mappings.
	RetryAttemptsExhausted     = "RetryAttemptsExhausted"
	RecordAgeExceeded          = "RecordAgeExceeded"
	MaximumPayloadSizeExceeded = "MaximumPayloadSizeExceeded"
	// Asynchronous invocations.
	RetriesExhausted = "RetriesExhausted"
	EventAgeExceeded = "EventAgeExceeded"
)

// TimeLayout is how Lambda writes the times of a record (UTC, milliseconds).
const TimeLayout = "2006-01-02T15:04:05.000Z"

// Kind tells the two shapes apart.
type Kind string

const (
	KinesisBatch    Kind = "kinesis-batch"
	AsyncInvocation Kind = "async-invocation"
)

// RequestContext says which invocation failed and why.
type RequestContext struct {
	RequestID              string `json:"requestId"`
	FunctionARN            string `json:"functionArn"`
	Condition              string `json:"condition"`
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

// ResponseContext is how the last invocation ended.
type ResponseContext struct {
	StatusCode      int    `json:"statusCode"`
	ExecutedVersion string `json:"executedVersion"`
	FunctionError   string `json:"functionError,omitempty"`
}

// KinesisBatchInfo locates the records of a failed batch on the stream: consecutive records of one
// shard, from StartSequenceNumber to EndSequenceNumber.
type KinesisBatchInfo struct {
	ShardID                         string `json:"shardId"`
	StartSequenceNumber             string `json:"startSequenceNumber"`
	EndSequenceNumber               string `json:"endSequenceNumber"`
	ApproximateArrivalOfFirstRecord string `json:"approximateArrivalOfFirstRecord"`
	ApproximateArrivalOfLastRecord  string `json:"approximateArrivalOfLastRecord"`
	BatchSize                       int    `json:"batchSize"`
	StreamARN                       string `json:"streamArn"`
}

// Record is one on-failure record: KinesisBatchInfo is set for a stream batch, RequestPayload (and
// ResponsePayload) for an asynchronous invocation.
type Record struct {
	Version          string            `json:"version"`
	Timestamp        string            `json:"timestamp"`
	RequestContext   RequestContext    `json:"requestContext"`
	RequestPayload   json.RawMessage   `json:"requestPayload,omitempty"`
	ResponseContext  ResponseContext   `json:"responseContext"`
	ResponsePayload  json.RawMessage   `json:"responsePayload,omitempty"`
	KinesisBatchInfo *KinesisBatchInfo `json:"KinesisBatchInfo,omitempty"`
}

// Kind is the record's shape.
func (r Record) Kind() Kind {
	if r.KinesisBatchInfo != nil {
		return KinesisBatch
	}
	return AsyncInvocation
}

// Limits of what Parse accepts; Lambda's own values are far inside them.
const (
	maxSequenceDigits = 128
	maxBatchSize      = 10_000
	maxNameLength     = 2048
)

// Parse reads an on-failure record. A body of another shape (dcrm's own messages, anything else)
// is ErrNotOnFailure; an on-failure record that misses what a replay needs is ErrInvalid, saying
// what is missing.
func Parse(body []byte) (Record, error) {
	// The shape: a request and a response context, and the batch or the request's payload.
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil || fields["requestContext"] == nil || fields["responseContext"] == nil {
		return Record{}, ErrNotOnFailure
	}
	_, batch := fields["KinesisBatchInfo"]
	_, payload := fields["requestPayload"]
	if !batch && !payload {
		return Record{}, ErrNotOnFailure
	}
	var r Record
	if err := json.Unmarshal(body, &r); err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if batch && r.KinesisBatchInfo == nil { // "KinesisBatchInfo": null
		return Record{}, fmt.Errorf("%w: KinesisBatchInfo is null", ErrInvalid)
	}
	if err := r.validate(); err != nil {
		return Record{}, err
	}
	return r, nil
}

func (r Record) validate() error {
	c := r.RequestContext
	switch {
	case c.RequestID == "" || len(c.RequestID) > maxNameLength:
		return fmt.Errorf("%w: requestContext.requestId missing or too long", ErrInvalid)
	case !strings.HasPrefix(c.FunctionARN, "arn:") || len(c.FunctionARN) > maxNameLength:
		return fmt.Errorf("%w: requestContext.functionArn is not an ARN", ErrInvalid)
	case c.Condition == "":
		return fmt.Errorf("%w: requestContext.condition missing", ErrInvalid)
	}
	if r.Kind() == AsyncInvocation {
		if !json.Valid(r.RequestPayload) || bytes.Equal(bytes.TrimSpace(r.RequestPayload), []byte("null")) {
			return fmt.Errorf("%w: requestPayload missing (Lambda drops it from records it cannot fit)", ErrInvalid)
		}
		return nil
	}
	b := r.KinesisBatchInfo
	switch {
	case b.ShardID == "" || len(b.ShardID) > maxNameLength:
		return fmt.Errorf("%w: KinesisBatchInfo.shardId missing or too long", ErrInvalid)
	case !sequenceNumber(b.StartSequenceNumber) || !sequenceNumber(b.EndSequenceNumber):
		return fmt.Errorf("%w: KinesisBatchInfo sequence numbers must be decimal numbers of at most %d digits", ErrInvalid, maxSequenceDigits)
	case CompareSequenceNumbers(b.StartSequenceNumber, b.EndSequenceNumber) > 0:
		return fmt.Errorf("%w: KinesisBatchInfo.startSequenceNumber is after endSequenceNumber", ErrInvalid)
	case b.BatchSize < 1 || b.BatchSize > maxBatchSize:
		return fmt.Errorf("%w: KinesisBatchInfo.batchSize %d is not between 1 and %d", ErrInvalid, b.BatchSize, maxBatchSize)
	case StreamName(b.StreamARN) == "":
		return fmt.Errorf("%w: KinesisBatchInfo.streamArn is not a Kinesis stream ARN", ErrInvalid)
	}
	return nil
}

// sequenceNumber reports whether s looks like a Kinesis sequence number: decimal digits, bounded.
func sequenceNumber(s string) bool {
	if s == "" || len(s) > maxSequenceDigits {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// CompareSequenceNumbers orders two Kinesis sequence numbers (decimal strings of varying length)
// as numbers: -1, 0 or +1.
func CompareSequenceNumbers(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// StreamName is the stream's name in a Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME),
// or "" when arn is not one.
func StreamName(arn string) string {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "kinesis" {
		return ""
	}
	name, ok := strings.CutPrefix(parts[5], "stream/")
	if !ok || name == "" || strings.Contains(name, "/") || len(name) > 128 {
		return ""
	}
	return name
}

// Arrivals are the approximate arrival times of a batch's first and last records; ok is false
// when they cannot be read.
func (b KinesisBatchInfo) Arrivals() (first, last time.Time, ok bool) {
	first, err1 := time.Parse(time.RFC3339Nano, b.ApproximateArrivalOfFirstRecord)
	last, err2 := time.Parse(time.RFC3339Nano, b.ApproximateArrivalOfLastRecord)
	return first, last, err1 == nil && err2 == nil
}
