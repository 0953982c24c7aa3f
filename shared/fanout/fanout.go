// Package fanout divides a scheduled run of a function that reads a DynamoDB table whole into
// parts, each a share of a parallel scan (Segment of TotalSegments), and hands the parts to
// asynchronous invocations of the function itself through Lambda's Invoke API (invocation type
// Event), one each. The run's planner sends every part as {"part": {...}} (Event); the function
// tells a part from a scheduled run with Read. Functions score and snapshot use it; the CDK app
// grants a function that fans out (topology.Function.FanOut) lambda:InvokeFunction on itself.
//
// Lambda retries a failed asynchronous invocation (twice by default, as the function's
// topology.AsyncInvoke says), so a part must be safe to run again.
package fanout

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// MaxParts bounds a run's invocations: 1,000 parts of a few segments each stay far below
// DynamoDB's 1,000,000 scan segments, and 1,000 concurrent invocations is the default account
// concurrency.
const MaxParts = 1000

// Part is one invocation's share of a run: Segments consecutive segments of a parallel scan of
// Parts × Segments segments, so that the parts of a run cover every segment exactly once.
type Part struct {
	Index    int       `json:"index"`    // 0 .. Parts-1
	Parts    int       `json:"parts"`    // invocations in the run
	Segments int       `json:"segments"` // scan segments per part
	AsOf     time.Time `json:"asOf"`     // the run's time, the same for every part and retry
}

// ScanSegments are the part's scan segments and the scan's total.
func (p Part) ScanSegments() (segs []int, total int) {
	for i := range p.Segments {
		segs = append(segs, p.Index*p.Segments+i)
	}
	return segs, p.Parts * p.Segments
}

// Valid tells whether p can be a part of a run that Plan made.
func (p Part) Valid() error {
	if p.Parts < 1 || p.Parts > MaxParts || p.Segments < 1 || p.Index < 0 || p.Index >= p.Parts || p.AsOf.IsZero() {
		return fmt.Errorf("part %d of %d with %d segments as of %v: not a part of a run", p.Index, p.Parts, p.Segments, p.AsOf)
	}
	return nil
}

// Plan divides a run over items (the table's item count) into parts of at most partSize items
// (at least 1 part, at most MaxParts), each of the given number of scan segments.
func Plan(items int64, partSize, segments int, asOf time.Time) []Part {
	n := 1
	if partSize > 0 && items > int64(partSize) {
		n = int(min((items+int64(partSize)-1)/int64(partSize), MaxParts))
	}
	out := make([]Part, n)
	for i := range out {
		out[i] = Part{Index: i, Parts: n, Segments: max(segments, 1), AsOf: asOf.UTC()}
	}
	return out
}

// Event is what the planner of a run sends each part it does not run itself:
// {"part": {"index": 0, "parts": 4, "segments": 4, "asOf": "2025-03-15T12:00:00Z"}}.
type Event struct {
	Part Part `json:"part"`
}

// Read reads a part of a run. ok is false when raw is no part (no "part" field at the top), so
// the caller reads it as a scheduled run; a field Event does not have is an error. The caller
// checks that the part is one of a run (Part.Valid).
func Read(raw []byte) (p Part, ok bool, err error) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(raw, &fields) != nil {
		return Part{}, false, nil
	}
	if _, ok := fields["part"]; !ok {
		return Part{}, false, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var e Event
	if err := dec.Decode(&e); err != nil {
		return Part{}, true, fmt.Errorf("read part: %w", err)
	}
	return e.Part, true, nil
}

// Invoker starts another invocation of this function with the payload, without waiting for it.
type Invoker interface {
	InvokeAsync(ctx context.Context, payload []byte) error
}

// Send sends each part to an invocation of its own, in order; the first that cannot be sent stops
// the sending and is returned (the run is then retried whole: a part sent twice runs twice).
func Send(ctx context.Context, to Invoker, parts []Part) error {
	for _, p := range parts {
		payload, err := json.Marshal(Event{Part: p})
		if err != nil {
			return fmt.Errorf("encode part %d: %w", p.Index, err)
		}
		if err := to.InvokeAsync(ctx, payload); err != nil {
			return fmt.Errorf("send part %d of %d: %w", p.Index, len(parts), err)
		}
	}
	return nil
}

// Lambda invokes a function asynchronously through Lambda's Invoke API.
type Lambda struct {
	client *lambda.Client
	name   string
}

// Self is the function this code runs in, as Lambda names it in its environment
// (AWS_LAMBDA_FUNCTION_NAME), to invoke through the configuration's Lambda endpoint (the local
// host's Invoke API when AWS_ENDPOINT_URL_LAMBDA says so). ok is false outside Lambda, where there
// is no function to fan out to.
func Self(cfg aws.Config, getenv func(string) string) (l Lambda, ok bool) {
	name := getenv("AWS_LAMBDA_FUNCTION_NAME")
	if name == "" {
		return Lambda{}, false
	}
	return Lambda{client: lambda.NewFromConfig(cfg), name: name}, true
}

// Name is the function's name.
func (l Lambda) Name() string { return l.name }

// InvokeAsync implements Invoker.
func (l Lambda) InvokeAsync(ctx context.Context, payload []byte) error {
	_, err := l.client.Invoke(ctx, &lambda.InvokeInput{
		FunctionName: aws.String(l.name), InvocationType: types.InvocationTypeEvent, Payload: payload,
	})
	if err != nil {
		return fmt.Errorf("invoke %s: %w", l.name, err)
	}
	return nil
}
