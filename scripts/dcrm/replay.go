package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	kintypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/dcrm-project/dcrm/events/onfailure"
	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/shared/message"
	"github.com/dcrm-project/dcrm/shared/messagequeue"
)

// Replay.
//
// The FailedEvents queue holds three kinds of messages (events/README.md#failed-events):
//   - Lambda's on-failure records of Kinesis batches that stitch failed until the stream mapping
//     gave up. The records are still on the stream for its retention: replay reads them back
//     (from startSequenceNumber to endSequenceNumber on their shard) and puts them on the stream
//     again with their partition keys. Records that had in fact been recorded change nothing the
//     second time: stitch's recording engine knows an event by its message id and time (its
//     touchpoint, or the profile's recent message ids) and counts it once.
//   - Lambda's on-failure records of asynchronous invocations (the score function's fan-out):
//     replay invokes the function again with the recorded requestPayload, synchronously, so that
//     it knows the run succeeded before it deletes the message.
//   - collect's and stitch's own failed-event messages: refusals of the input itself (invalid,
//     junk identifiers, an erased person, a write the database refuses, which fails the same way
//     every time). Nothing in them can succeed by sending it again unchanged: replay lists them
//     and leaves them for a person.
//
// A message is deleted only once its replay succeeded. Messages it leaves are made visible again
// when it finishes, so the next run (or a consumer) sees them at once.

// replayVisibility hides a received message from others while it is replayed: longer than the
// longest synchronous invocation (Lambda's 15 minutes).
const replayVisibility = 16 * time.Minute

// Bounds of one replay of a Kinesis batch.
const (
	maxReads     = 200      // GetRecords calls
	maxReadBytes = 64 << 20 // a batch is at most 6 MB; this leaves room for what follows it
	putChunk     = 500      // records per PutRecords, Kinesis's limit
	putChunkSize = 4 << 20  // bytes per PutRecords, under Kinesis's 5 MB
	putTries     = 6        // of a PutRecords whose records the stream refuses (throttling)
)

// Outcomes of one message.
const (
	outcomeReplayed = "replayed"
	outcomeWould    = "would-replay" // --dry-run
	outcomeLeft     = "left"         // not replayable; kept for a person
	outcomeLost     = "lost"         // records past the stream's retention
	outcomeFailed   = "failed"       // the replay did not succeed; kept for another run
)

type queueAPI interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

type streamAPI interface {
	DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, opts ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, opts ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

type invokeAPI interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, opts ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

// replayer replays the messages of one queue.
type replayer struct {
	queue      string
	sqs        queueAPI
	kinesis    streamAPI
	lambda     invokeAPI
	dryRun     bool
	forgetLost bool
	now        func() time.Time
	pause      func(ctx context.Context, d time.Duration) bool
}

// outcome is what became of one message.
type outcome struct {
	kind   string // kinesis-batch, async-invocation, failed-event, or what else it is
	result string // one of the outcome constants
	detail string // for a person; never an identifier or a payload
	delete bool
}

func replayFailed(ctx context.Context, args []string, out io.Writer) error {
	queueVar := topology.Default().EnvVar(topology.FailedQueue)
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	queue := fs.String("queue", os.Getenv(queueVar), "URL of the failed-events queue (default $"+queueVar+")")
	dryRun := fs.Bool("dry-run", false, "list what would be replayed; change nothing")
	maxN := fs.Int("max", 100, "look at most at this many messages")
	forgetLost := fs.Bool("forget-lost", false, "delete the messages whose records are past the stream's retention, once reported")
	if err := fs.Parse(args); err != nil || fs.NArg() != 0 {
		return errUsage
	}
	if *queue == "" {
		return fmt.Errorf("no failed-events queue: set %s (source .dcrm/local.env) or pass --queue URL", queueVar)
	}
	if *maxN < 1 || *maxN > 10_000 {
		return fmt.Errorf("--max %d: give a number from 1 to 10000", *maxN)
	}
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return fmt.Errorf("load aws config: %w", err)
	}
	r := &replayer{queue: *queue, sqs: sqs.NewFromConfig(cfg), kinesis: kinesis.NewFromConfig(cfg), lambda: lambda.NewFromConfig(cfg),
		dryRun: *dryRun, forgetLost: *forgetLost, now: time.Now, pause: sleep}
	return r.run(ctx, *maxN, out)
}

// run handles up to maxN messages, printing a line for each and a summary.
func (r *replayer) run(ctx context.Context, maxN int, out io.Writer) (err error) {
	var kept []string // receipt handles of messages left on the queue
	defer func() {
		// Make what stays visible again at once, even when interrupted.
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for _, h := range kept {
			if _, verr := r.sqs.ChangeMessageVisibility(bg, &sqs.ChangeMessageVisibilityInput{QueueUrl: aws.String(r.queue), ReceiptHandle: aws.String(h)}); verr != nil && err == nil {
				err = fmt.Errorf("make a kept message visible again: %w", verr)
			}
		}
	}()
	counts := map[string]int{}
	seen := map[string]bool{}
	handled := 0
	hide := replayVisibility
	if r.dryRun {
		hide = 2 * time.Minute // long enough to look at a batch, short if the run is killed
	}
	for handled < maxN && ctx.Err() == nil {
		got, err := r.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(r.queue), MaxNumberOfMessages: int32(min(10, maxN-handled)), WaitTimeSeconds: 1,
			VisibilityTimeout: int32(hide / time.Second), MessageAttributeNames: []string{"All"},
		})
		if err != nil {
			return fmt.Errorf("read %s: %w", r.queue, err)
		}
		if len(got.Messages) == 0 {
			break
		}
		for _, m := range got.Messages {
			id := aws.ToString(m.MessageId)
			if seen[id] { // delivered twice in one run: it was handled already
				continue
			}
			seen[id] = true
			handled++
			o := r.handle(ctx, m)
			if o.delete && !r.dryRun {
				if _, err := r.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(r.queue), ReceiptHandle: m.ReceiptHandle}); err != nil {
					o.result, o.detail = outcomeFailed, o.detail+"; then the message could not be deleted ("+err.Error()+"): a second run replays it again, which changes nothing"
					kept = append(kept, aws.ToString(m.ReceiptHandle))
				}
			} else {
				kept = append(kept, aws.ToString(m.ReceiptHandle))
			}
			counts[o.result]++
			fmt.Fprintf(out, "%-12s %-16s %s  %s\n", o.result, o.kind, id, o.detail)
		}
	}
	var parts []string
	for _, k := range []string{outcomeReplayed, outcomeWould, outcomeLost, outcomeFailed, outcomeLeft} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	summary := strconv.Itoa(handled) + " messages"
	if handled == 1 {
		summary = "1 message"
	}
	if len(parts) > 0 {
		summary += ": " + strings.Join(parts, ", ")
	}
	if handled == maxN {
		summary += " (--max reached; there may be more)"
	}
	fmt.Fprintln(out, summary)
	if counts[outcomeFailed] > 0 {
		return fmt.Errorf("%d replays failed; their messages are kept for another run", counts[outcomeFailed])
	}
	return ctx.Err()
}

// handle replays one message, or says why not.
func (r *replayer) handle(ctx context.Context, m sqstypes.Message) outcome {
	body := []byte(aws.ToString(m.Body))
	if a, ok := m.MessageAttributes[messagequeue.AttrType]; ok {
		return typedMessage(aws.ToString(a.StringValue), m.MessageAttributes, body)
	}
	rec, err := onfailure.Parse(body)
	switch {
	case errors.Is(err, onfailure.ErrNotOnFailure):
		return outcome{kind: "unknown", result: outcomeLeft, detail: "neither a failed-event message nor a Lambda on-failure record"}
	case err != nil:
		return outcome{kind: "on-failure", result: outcomeLeft, detail: err.Error()}
	case rec.Kind() == onfailure.KinesisBatch:
		return r.replayBatch(ctx, rec)
	default:
		return r.reinvoke(ctx, rec)
	}
}

// typedMessage describes one of dcrm's own messages, which are not replayable.
func typedMessage(typ string, attrs map[string]sqstypes.MessageAttributeValue, body []byte) outcome {
	o := outcome{kind: printable(typ, 40), result: outcomeLeft}
	version := 0
	if a, ok := attrs[messagequeue.AttrVersion]; ok {
		version, _ = strconv.Atoi(aws.ToString(a.StringValue))
	}
	var f message.FailedEvent
	if typ != message.TypeFailedEvent || version != message.FailedEventVersion || json.Unmarshal(body, &f) != nil || f.Validate() != nil {
		o.detail = fmt.Sprintf("a %s v%d message, not a failed event: not replayable", o.kind, version)
		return o
	}
	o.detail = fmt.Sprintf("%s refused it at %s: %s (a refusal of the input itself: not replayable)",
		printable(f.Stage, 40), f.FailedAt.UTC().Format(time.RFC3339), printable(f.Reason, 200))
	return o
}

// replayBatch puts the records of a failed Kinesis batch back on their stream.
func (r *replayer) replayBatch(ctx context.Context, rec onfailure.Record) outcome {
	b := *rec.KinesisBatchInfo
	stream := onfailure.StreamName(b.StreamARN)
	what := fmt.Sprintf("%s %s %s..%s, %s (%s after %d invocations)", stream, b.ShardID,
		b.StartSequenceNumber, b.EndSequenceNumber, records(b.BatchSize), printable(rec.RequestContext.Condition, 40), rec.RequestContext.ApproximateInvokeCount)
	o := outcome{kind: string(onfailure.KinesisBatch)}
	fail := func(err error) outcome {
		o.result, o.detail = outcomeFailed, what+": "+err.Error()
		return o
	}
	sum, err := r.kinesis.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		var nf *kintypes.ResourceNotFoundException
		if errors.As(err, &nf) {
			return fail(fmt.Errorf("no stream %s here (another account or region?)", stream))
		}
		return fail(fmt.Errorf("describe stream: %w", err))
	}
	retention := time.Duration(aws.ToInt32(sum.StreamDescriptionSummary.RetentionPeriodHours)) * time.Hour
	lostAll := func(why string) outcome {
		o.result, o.detail, o.delete = outcomeLost, fmt.Sprintf("%s: all lost: %s", what, why), r.forgetLost
		return o
	}
	if _, last, ok := b.Arrivals(); ok && retention > 0 && r.now().After(last.Add(retention)) {
		return lostAll(fmt.Sprintf("they arrived %s, past the stream's retention of %s", last.UTC().Format(time.RFC3339), retention))
	}
	recs, gone, err := r.readBatch(ctx, stream, b)
	switch {
	case err != nil:
		return fail(err)
	case gone != "":
		return lostAll(gone)
	case len(recs) == 0:
		return lostAll(fmt.Sprintf("none is on the stream any more (retention %s)", retention))
	}
	missing := b.BatchSize - len(recs)
	if r.dryRun {
		o.result, o.detail = outcomeWould, fmt.Sprintf("%s: would put %s back on %s", what, records(len(recs)), stream)
		if missing > 0 {
			o.detail += fmt.Sprintf("; %s not on the stream any more", records(missing))
		}
		return o
	}
	if err := r.putBack(ctx, stream, recs); err != nil {
		return fail(fmt.Errorf("put back: %w (nothing deleted; a second run puts them again, and stitch counts each event once)", err))
	}
	o.result, o.detail, o.delete = outcomeReplayed, fmt.Sprintf("%s: put %s back on %s", what, records(len(recs)), stream), true
	if missing > 0 {
		o.result, o.delete = outcomeLost, r.forgetLost
		o.detail += fmt.Sprintf("; %s lost: not on the stream any more (retention %s)", records(missing), retention)
	}
	return o
}

// readBatch reads a batch's records from its shard: from startSequenceNumber up to
// endSequenceNumber, at most batchSize records. gone says why none can be read when the shard
// no longer has them.
func (r *replayer) readBatch(ctx context.Context, stream string, b onfailure.KinesisBatchInfo) (recs []kintypes.Record, gone string, err error) {
	it, err := r.kinesis.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String(stream), ShardId: aws.String(b.ShardID),
		ShardIteratorType: kintypes.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String(b.StartSequenceNumber),
	})
	var nf *kintypes.ResourceNotFoundException
	var invalid *kintypes.InvalidArgumentException
	switch {
	case errors.As(err, &nf), errors.As(err, &invalid):
		return nil, "the shard no longer has them (" + printable(err.Error(), 200) + ")", nil
	case err != nil:
		return nil, "", fmt.Errorf("get shard iterator: %w", err)
	}
	iterator, size := it.ShardIterator, 0
	for reads := 0; iterator != nil && len(recs) < b.BatchSize; reads++ {
		if reads == maxReads {
			return nil, "", fmt.Errorf("read %d times without reaching the batch's end; try again later", maxReads)
		}
		got, err := r.kinesis.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iterator, Limit: aws.Int32(int32(min(b.BatchSize-len(recs), 10_000)))})
		var throttled *kintypes.ProvisionedThroughputExceededException
		if errors.As(err, &throttled) {
			if !r.pause(ctx, time.Second) {
				return nil, "", ctx.Err()
			}
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("get records: %w", err)
		}
		for _, rec := range got.Records {
			seq := aws.ToString(rec.SequenceNumber)
			if onfailure.CompareSequenceNumbers(seq, b.EndSequenceNumber) > 0 {
				return recs, "", nil // past the batch
			}
			if onfailure.CompareSequenceNumbers(seq, b.StartSequenceNumber) < 0 {
				continue
			}
			if size += len(rec.Data); size > maxReadBytes {
				return nil, "", fmt.Errorf("the batch holds more than %d MB", maxReadBytes>>20)
			}
			recs = append(recs, rec)
		}
		if len(got.Records) == 0 && aws.ToInt64(got.MillisBehindLatest) == 0 {
			break // at the tip of the shard: nothing more to read
		}
		iterator = got.NextShardIterator
	}
	return recs, "", nil
}

// putBack puts records on the stream with their partition keys, in chunks within Kinesis's
// limits, retrying the records the stream refuses (throttling) a few times.
func (r *replayer) putBack(ctx context.Context, stream string, recs []kintypes.Record) error {
	for len(recs) > 0 {
		n, size := 0, 0
		for n < len(recs) && n < putChunk && (n == 0 || size+len(recs[n].Data) <= putChunkSize) {
			size += len(recs[n].Data) + len(aws.ToString(recs[n].PartitionKey))
			n++
		}
		entries := make([]kintypes.PutRecordsRequestEntry, n)
		for i, rec := range recs[:n] {
			entries[i] = kintypes.PutRecordsRequestEntry{Data: rec.Data, PartitionKey: rec.PartitionKey}
		}
		for try := 1; len(entries) > 0; try++ {
			out, err := r.kinesis.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
			if err != nil {
				return fmt.Errorf("put records: %w", err)
			}
			var refused []kintypes.PutRecordsRequestEntry
			var code string
			for i, res := range out.Records {
				if res.ErrorCode != nil {
					refused, code = append(refused, entries[i]), aws.ToString(res.ErrorCode)
				}
			}
			if len(refused) > 0 && try == putTries {
				return fmt.Errorf("the stream refused %d records %d times (%s)", len(refused), putTries, code)
			}
			if len(refused) > 0 && !r.pause(ctx, time.Duration(try)*200*time.Millisecond) {
				return ctx.Err()
			}
			entries = refused
		}
		recs = recs[n:]
	}
	return nil
}

// reinvoke runs an asynchronous invocation that failed again, synchronously, with its payload.
func (r *replayer) reinvoke(ctx context.Context, rec onfailure.Record) outcome {
	fn := functionOfARN(rec.RequestContext.FunctionARN)
	what := fmt.Sprintf("%s (%s after %d invocations)", fn, printable(rec.RequestContext.Condition, 40), rec.RequestContext.ApproximateInvokeCount)
	o := outcome{kind: string(onfailure.AsyncInvocation)}
	if r.dryRun {
		o.result, o.detail = outcomeWould, what+": would invoke it again with its payload"
		return o
	}
	res, err := r.lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(rec.RequestContext.FunctionARN), Payload: rec.RequestPayload})
	switch {
	case err != nil:
		o.result, o.detail = outcomeFailed, fmt.Sprintf("%s: invoke: %v", what, err)
	case res.FunctionError != nil:
		var e struct {
			ErrorType    string `json:"errorType"`
			ErrorMessage string `json:"errorMessage"`
		}
		_ = json.Unmarshal(res.Payload, &e)
		o.result, o.detail = outcomeFailed, fmt.Sprintf("%s: failed again: %s: %s", what, printable(e.ErrorType, 60), printable(e.ErrorMessage, 200))
	default:
		o.result, o.detail, o.delete = outcomeReplayed, what+": invoked again, succeeded", true
	}
	return o
}

// functionOfARN is the function's name in a Lambda ARN (arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]).
func functionOfARN(arn string) string {
	parts := strings.Split(arn, ":")
	for i, p := range parts {
		if p == "function" && i+1 < len(parts) {
			return printable(parts[i+1], 140)
		}
	}
	return printable(arn, 200)
}

// printable keeps what a message says to at most n runes of printable text, so a line of the
// report stays one line whatever the queue holds.
func printable(s string, n int) string {
	var b strings.Builder
	for i, c := range []rune(s) {
		if i == n {
			b.WriteString("…")
			break
		}
		if !unicode.IsPrint(c) {
			c = '?'
		}
		b.WriteRune(c)
	}
	return b.String()
}

func records(n int) string {
	if n == 1 {
		return "1 record"
	}
	return strconv.Itoa(n) + " records"
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
