// Package streammap emulates a Lambda event source mapping on a Kinesis data stream: it reads every
// shard, batches records, invokes the function with an events.KinesisEvent and handles what comes
// back the way Lambda does.
//
// Emulated: one poller per shard starting at TRIM_HORIZON, reading what the shard has (up to 10,000
// records a call, so that the shard's five reads a second do not limit it to five batches), records
// kept in order per shard and one batch in flight per shard; BatchSize, MaxBatchingWindow and the 6 MB payload limit; partial batch
// responses (ReportBatchItemFailures: records before the lowest failed sequence number are
// checkpointed and the retry starts at it; a response naming no record of the batch fails the whole
// batch); BisectOnError (a failed batch is split in two and the halves retried, without using up
// retry attempts, so a bad record ends up alone); RetryAttempts (-1 retries for ever); then Lambda's
// on-failure record for Kinesis (package events/onfailure: KinesisBatchInfo with shard, sequence
// range, arrival times, batch size; no message attributes) sent to the OnFailureQueue, and the
// mapping moves on.
// Errors that never reached the function (the host shutting down) are retried without counting.
//
// MaximumRecordAgeInSeconds (Mapping.MaxRecordAge): records older than that are given up on before
// an invocation, described with the condition RecordAgeExceeded.
//
// A mapping kept across a restart of the pollers (Lambda's own, or the local host's) goes on after
// its checkpoints: Config.Resume, which the local host keeps in its state folder for the stream of
// the same creation time. A checkpoint beyond the shard's end (a stream made again) is dropped and
// the shard read from its trim horizon.
//
// Not emulated: the parallelisation factor (always 1); tumbling windows; enhanced fan-out; waiting
// for a parent shard to be drained before its children after resharding (new shards are picked up,
// in no order).
package streammap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/dcrm-project/dcrm/events/onfailure"
	"github.com/dcrm-project/dcrm/infra/topology"
	"github.com/dcrm-project/dcrm/scripts/devstack/awsid"
)

// maxEventBytes keeps a batch's event under Lambda's 6 MB synchronous payload limit.
const maxEventBytes = 6*1024*1024 - 64*1024

// maxGetRecords is the most records one GetRecords call returns.
const maxGetRecords = 10_000

type kinesisAPI interface {
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, opts ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, opts ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

type sqsAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Config describes one mapping.
type Config struct {
	Mapping         topology.StreamMapping
	StreamName      string // physical name
	StreamARN       string
	FunctionARN     string
	FailureQueueURL string // where exhausted batches are described; empty: they are dropped (and logged)
	Region          string
	Kinesis         kinesisAPI
	SQS             sqsAPI
	// Invoke runs the function. Errors other than function errors (see IsFunctionError) are taken
	// as not having reached the function.
	Invoke          func(ctx context.Context, payload []byte) ([]byte, error)
	IsFunctionError func(error) bool
	// Resume holds, per shard, the checkpoint an earlier run of this mapping reached (Checkpoints):
	// reading starts after it.
	Resume       map[string]string
	PollInterval time.Duration // between reads of a shard that had nothing new; default 250ms
	RetryDelay   time.Duration // before retrying a failed batch; default 200ms
	ShardRefresh time.Duration // how often new shards are looked for; default 10s
	Logger       *slog.Logger
	Now          func() time.Time
}

// Mapping polls a stream and feeds a function.
type Mapping struct {
	cfg Config

	mu          sync.Mutex
	checkpoints map[string]string // shard id -> last sequence number done with
}

// New checks the configuration and fills in defaults.
func New(cfg Config) (*Mapping, error) {
	if cfg.StreamName == "" || cfg.Kinesis == nil || cfg.Invoke == nil {
		return nil, errors.New("stream mapping needs a stream name, a Kinesis client and a function")
	}
	if cfg.FailureQueueURL != "" && cfg.SQS == nil {
		return nil, errors.New("stream mapping with an on-failure queue needs an SQS client")
	}
	if cfg.Mapping.BatchSize <= 0 {
		cfg.Mapping.BatchSize = 100
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 250 * time.Millisecond
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = 200 * time.Millisecond
	}
	if cfg.ShardRefresh <= 0 {
		cfg.ShardRefresh = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.IsFunctionError == nil {
		cfg.IsFunctionError = func(error) bool { return true }
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.StreamARN == "" {
		cfg.StreamARN = "arn:aws:kinesis:" + cfg.Region + ":000000000000:stream/" + cfg.StreamName
	}
	cfg.Logger = cfg.Logger.With("stream", cfg.StreamName, "function", cfg.Mapping.Function)
	checkpoints := map[string]string{}
	for shard, seq := range cfg.Resume {
		if seq != "" {
			checkpoints[shard] = seq
		}
	}
	return &Mapping{cfg: cfg, checkpoints: checkpoints}, nil
}

// Checkpoints returns, per shard, the sequence number of the last record the mapping is done with
// (delivered, or given up on and described on the on-failure queue).
func (m *Mapping) Checkpoints() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]string, len(m.checkpoints))
	for k, v := range m.checkpoints {
		out[k] = v
	}
	return out
}

func (m *Mapping) checkpoint(shard, seq string) {
	m.mu.Lock()
	m.checkpoints[shard] = seq
	m.mu.Unlock()
}

// drop forgets a shard's checkpoint (one carried over, beyond the shard's end).
func (m *Mapping) drop(shard string) {
	m.mu.Lock()
	delete(m.checkpoints, shard)
	m.mu.Unlock()
}

// Run polls until ctx ends; it returns ctx's error.
func (m *Mapping) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	started := map[string]bool{}
	for {
		shards, err := m.listShards(ctx)
		if err != nil && ctx.Err() == nil {
			m.cfg.Logger.Warn("list shards", "error", err)
		}
		for _, id := range shards {
			if !started[id] {
				started[id] = true
				s := &shard{m: m, id: id, lastFetched: m.cfg.Resume[id]}
				s.resumed = s.lastFetched != ""
				wg.Go(func() { s.run(ctx) })
			}
		}
		if !wait(ctx, m.cfg.ShardRefresh) {
			return ctx.Err()
		}
	}
}

func (m *Mapping) listShards(ctx context.Context) ([]string, error) {
	var ids []string
	in := &kinesis.ListShardsInput{StreamName: aws.String(m.cfg.StreamName)}
	for {
		out, err := m.cfg.Kinesis.ListShards(ctx, in)
		if err != nil {
			return ids, fmt.Errorf("list shards of %s: %w", m.cfg.StreamName, err)
		}
		for _, s := range out.Shards {
			ids = append(ids, aws.ToString(s.ShardId))
		}
		if out.NextToken == nil {
			return ids, nil
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// shard reads one shard and delivers its records in order, one batch at a time.
type shard struct {
	m           *Mapping
	id          string
	iterator    *string
	lastFetched string
	closed      bool
	resumed     bool // lastFetched is a checkpoint of an earlier run, not yet read after
	buf         []types.Record
}

func (s *shard) run(ctx context.Context) {
	log := s.m.cfg.Logger.With("shard", s.id)
	for {
		if err := s.fill(ctx); err != nil {
			return
		}
		if len(s.buf) == 0 && s.closed {
			log.Info("shard closed and drained")
			return
		}
		n := batchLen(s.buf, s.m.cfg.Mapping.BatchSize)
		if err := s.deliver(ctx, s.buf[:n], 0); err != nil {
			return
		}
		s.buf = s.buf[n:]
	}
}

// fill reads until a batch is ready: BatchSize records, or some records and the batching window
// over, or the shard closed.
func (s *shard) fill(ctx context.Context) error {
	cfg := s.m.cfg
	var deadline time.Time
	if len(s.buf) > 0 {
		deadline = cfg.Now()
	}
	for {
		if len(s.buf) >= cfg.Mapping.BatchSize || s.closed || (len(s.buf) > 0 && !cfg.Now().Before(deadline)) {
			return nil
		}
		// Like Lambda's poller, a read takes what the shard has (up to GetRecords' 10,000 records),
		// not one batch: one call feeds several batches, and the shard's five reads a second do not
		// cap the mapping at five batches a second.
		recs, behind, err := s.read(ctx, max(maxGetRecords-len(s.buf), 1))
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			cfg.Logger.Warn("read shard", "shard", s.id, "error", err)
			if !wait(ctx, cfg.RetryDelay) {
				return ctx.Err()
			}
			continue
		}
		if len(recs) > 0 && len(s.buf) == 0 {
			deadline = cfg.Now().Add(cfg.Mapping.MaxBatchingWindow)
		}
		s.buf = append(s.buf, recs...)
		if len(s.buf) >= cfg.Mapping.BatchSize || s.closed || (len(s.buf) > 0 && !cfg.Now().Before(deadline)) {
			return nil
		}
		if behind > 0 {
			continue // more is waiting: read on
		}
		pause := cfg.PollInterval
		if len(s.buf) > 0 {
			pause = min(pause, deadline.Sub(cfg.Now()))
		}
		if !wait(ctx, pause) {
			return ctx.Err()
		}
	}
}

// read gets up to limit records from where the shard was left.
func (s *shard) read(ctx context.Context, limit int) ([]types.Record, int64, error) {
	k := s.m.cfg.Kinesis
	if s.iterator == nil {
		in := &kinesis.GetShardIteratorInput{
			StreamName: aws.String(s.m.cfg.StreamName), ShardId: aws.String(s.id),
			ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
		}
		if s.lastFetched != "" {
			in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
			in.StartingSequenceNumber = aws.String(s.lastFetched)
		}
		out, err := k.GetShardIterator(ctx, in)
		var foreign *types.InvalidArgumentException
		if s.resumed && errors.As(err, &foreign) {
			// Beyond the shard's end: the stream was made again since the checkpoint.
			s.m.cfg.Logger.Warn("checkpoint beyond the shard's end; reading the shard from its trim horizon", "shard", s.id, "error", err)
			s.lastFetched, s.resumed = "", false
			s.m.drop(s.id)
			return nil, 0, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("get shard iterator: %w", err)
		}
		s.iterator, s.resumed = out.ShardIterator, false
	}
	out, err := k.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: s.iterator, Limit: aws.Int32(int32(min(limit, maxGetRecords)))})
	var expired *types.ExpiredIteratorException
	if errors.As(err, &expired) {
		s.iterator = nil
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get records: %w", err)
	}
	s.iterator = out.NextShardIterator
	if s.iterator == nil {
		s.closed = true
	}
	if n := len(out.Records); n > 0 {
		s.lastFetched = aws.ToString(out.Records[n-1].SequenceNumber)
	}
	return out.Records, aws.ToInt64(out.MillisBehindLatest), nil
}

// batchLen is how many records from the front make a batch within size and payload limits.
func batchLen(recs []types.Record, size int) int {
	total := 0
	for i, r := range recs {
		if i == size {
			return i
		}
		total += len(r.Data)*4/3 + 1024
		if total > maxEventBytes && i > 0 {
			return i
		}
	}
	return len(recs)
}

// deliver gets recs through the function, or onto the on-failure queue once retries are used up.
// It returns an error only when ctx ends.
func (s *shard) deliver(ctx context.Context, recs []types.Record, attempts int) error {
	cfg := s.m.cfg
	retries := cfg.Mapping.RetryAttempts
	failedBefore := false // the last invocation was a function error
	for len(recs) > 0 {
		if n := tooOld(recs, cfg.Mapping.MaxRecordAge, cfg.Now()); n > 0 {
			if err := s.giveUp(ctx, recs[:n], attempts, failedBefore, onfailure.RecordAgeExceeded); err != nil {
				return err
			}
			s.m.checkpoint(s.id, aws.ToString(recs[n-1].SequenceNumber))
			if recs = recs[n:]; len(recs) == 0 {
				return nil
			}
		}
		payload, err := json.Marshal(s.event(recs))
		if err != nil {
			return fmt.Errorf("encode kinesis event: %w", err)
		}
		out, err := cfg.Invoke(ctx, payload)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !cfg.IsFunctionError(err) {
			cfg.Logger.Warn("invocation did not reach the function; retrying", "shard", s.id, "error", err)
			if !wait(ctx, cfg.RetryDelay) {
				return ctx.Err()
			}
			continue
		}

		complete := err != nil // the whole batch failed
		failedBefore = complete
		failedAt := len(recs) // index of the first record to retry
		switch {
		case complete:
			cfg.Logger.Warn("function failed the batch", "shard", s.id, "records", len(recs), "error", err)
		case cfg.Mapping.ReportBatchItemFailures:
			var ok bool
			if failedAt, ok = firstFailure(out, recs); !ok {
				cfg.Logger.Warn("partial batch response names no record of the batch", "shard", s.id, "response", string(out))
				complete = true
			}
		}
		if complete {
			if cfg.Mapping.BisectOnError && len(recs) > 1 {
				half := len(recs) / 2
				if err := s.deliver(ctx, recs[:half], attempts); err != nil {
					return err
				}
				recs = recs[half:]
				continue
			}
		} else if failedAt > 0 {
			s.m.checkpoint(s.id, aws.ToString(recs[failedAt-1].SequenceNumber))
			recs = recs[failedAt:]
			if len(recs) == 0 {
				return nil
			}
		}

		attempts++
		if retries >= 0 && attempts > retries {
			if err := s.giveUp(ctx, recs, attempts, complete, onfailure.RetryAttemptsExhausted); err != nil {
				return err
			}
			s.m.checkpoint(s.id, aws.ToString(recs[len(recs)-1].SequenceNumber))
			return nil
		}
		if !wait(ctx, cfg.RetryDelay) {
			return ctx.Err()
		}
	}
	return nil
}

// tooOld is how many records from the front of recs arrived on the stream more than maxAge
// before now (0 when maxAge is 0). Records of a shard arrive in order, so they are a prefix.
func tooOld(recs []types.Record, maxAge time.Duration, now time.Time) int {
	if maxAge <= 0 {
		return 0
	}
	n := 0
	for n < len(recs) && now.Sub(aws.ToTime(recs[n].ApproximateArrivalTimestamp)) > maxAge {
		n++
	}
	return n
}

// firstFailure reads a partial batch response: the index of the lowest failed record, len(recs)
// for complete success; ok is false when a failure names no record of the batch, which fails the
// whole batch. Empty, null and unreadable responses count as success, as in Lambda.
func firstFailure(out []byte, recs []types.Record) (index int, ok bool) {
	var resp *events.KinesisEventResponse
	if len(out) == 0 || json.Unmarshal(out, &resp) != nil || resp == nil || len(resp.BatchItemFailures) == 0 {
		return len(recs), true
	}
	positions := map[string]int{}
	for i, r := range recs {
		positions[aws.ToString(r.SequenceNumber)] = i
	}
	lowest := len(recs)
	for _, f := range resp.BatchItemFailures {
		i, found := positions[f.ItemIdentifier]
		if !found {
			return 0, false
		}
		lowest = min(lowest, i)
	}
	return lowest, true
}

func (s *shard) event(recs []types.Record) events.KinesisEvent {
	cfg := s.m.cfg
	ev := events.KinesisEvent{Records: make([]events.KinesisEventRecord, len(recs))}
	for i, r := range recs {
		seq := aws.ToString(r.SequenceNumber)
		ev.Records[i] = events.KinesisEventRecord{
			AwsRegion:         cfg.Region,
			EventID:           s.id + ":" + seq,
			EventName:         "aws:kinesis:record",
			EventSource:       "aws:kinesis",
			EventSourceArn:    cfg.StreamARN,
			EventVersion:      "1.0",
			InvokeIdentityArn: "arn:aws:iam::000000000000:role/" + cfg.Mapping.Function,
			Kinesis: events.KinesisRecord{
				ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: aws.ToTime(r.ApproximateArrivalTimestamp)},
				Data:                        r.Data,
				PartitionKey:                aws.ToString(r.PartitionKey),
				SequenceNumber:              seq,
				KinesisSchemaVersion:        "1.0",
			},
		}
	}
	return ev
}

// giveUp describes the batch on the on-failure queue, retrying the send until it succeeds: records
// are never skipped without a trace.
func (s *shard) giveUp(ctx context.Context, recs []types.Record, attempts int, functionError bool, condition string) error {
	cfg := s.m.cfg
	stamp := onfailure.TimeLayout
	f := onfailure.Record{
		Version: "1.0", Timestamp: cfg.Now().UTC().Format(stamp),
		RequestContext: onfailure.RequestContext{
			RequestID: awsid.UUID(), FunctionARN: cfg.FunctionARN,
			Condition: condition, ApproximateInvokeCount: attempts,
		},
		ResponseContext: onfailure.ResponseContext{StatusCode: 200, ExecutedVersion: "$LATEST"},
	}
	if functionError {
		f.ResponseContext.FunctionError = "Unhandled"
	}
	first, last := recs[0], recs[len(recs)-1]
	f.KinesisBatchInfo = &onfailure.KinesisBatchInfo{
		ShardID:                         s.id,
		StartSequenceNumber:             aws.ToString(first.SequenceNumber),
		EndSequenceNumber:               aws.ToString(last.SequenceNumber),
		ApproximateArrivalOfFirstRecord: aws.ToTime(first.ApproximateArrivalTimestamp).UTC().Format(stamp),
		ApproximateArrivalOfLastRecord:  aws.ToTime(last.ApproximateArrivalTimestamp).UTC().Format(stamp),
		BatchSize:                       len(recs),
		StreamARN:                       cfg.StreamARN,
	}
	cfg.Logger.Warn("batch given up on", "condition", condition, "shard", s.id, "from", f.KinesisBatchInfo.StartSequenceNumber,
		"to", f.KinesisBatchInfo.EndSequenceNumber, "records", len(recs), "onFailureQueue", cfg.FailureQueueURL)
	if cfg.FailureQueueURL == "" {
		return nil
	}
	body, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode failure record: %w", err)
	}
	for {
		_, err := cfg.SQS.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(cfg.FailureQueueURL), MessageBody: aws.String(string(body))})
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		cfg.Logger.Warn("send failure record", "error", err)
		if !wait(ctx, cfg.RetryDelay) {
			return ctx.Err()
		}
	}
}

// wait pauses for d, or less if ctx ends first; it reports whether ctx is still alive.
func wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
