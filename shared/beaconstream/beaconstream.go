// Package beaconstream puts validated beacon events on the Kinesis data stream that feeds stitch,
// partitioned by visitor so that one visitor's events land on one shard, in order. Events of one
// visitor are packed into records (beacon.EncodeRecord) of up to TargetRecordBytes: Kinesis bills
// each record in 25 KB payload units, so a batch of small events costs one unit per visitor rather
// than one per event.
package beaconstream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/dcrm-project/dcrm/shared/beacon"
)

// ErrUnavailable means the stream did not take every event, even after retries. The caller should
// tell the sender to retry later (events it did take are deduplicated downstream by messageId).
var ErrUnavailable = errors.New("beacon stream unavailable")

// ErrThrottled means the stream refused events for want of capacity (its shards' write limits),
// even after retries. Errors that match it match ErrUnavailable too; the caller may tell the sender
// to slow down (HTTP 429) rather than that the stream is down (503).
var ErrThrottled = errors.New("beacon stream throttled")

// throttleCodes are the error codes with which Kinesis refuses a record or a call for want of
// capacity.
var throttleCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"KMSThrottlingException":                 true,
	"ThrottlingException":                    true,
}

// unavailable wraps a failure to put records: ErrThrottled too when every refusal was throttling.
func unavailable(throttled bool, format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	if throttled {
		return fmt.Errorf("%w: %w: %w", err, ErrThrottled, ErrUnavailable)
	}
	return fmt.Errorf("%w: %w", err, ErrUnavailable)
}

// Limits of Kinesis PutRecords.
const (
	MaxRecordsPerCall = 500
	MaxBytesPerCall   = 5 << 20 // data and partition keys of all records in one call
	MaxRecordBytes    = 1 << 20 // data and partition key of one record
	maxPartitionKey   = 256     // Unicode characters
)

// TargetRecordBytes is the most a record of several events holds (data and partition key): one
// Kinesis PUT payload unit. A single event bigger than that gets a record of its own, up to
// MaxRecordBytes.
const TargetRecordBytes = 25 << 10

// Defaults for retrying records that PutRecords refuses (throttled shards, internal failures).
const (
	DefaultAttempts = 3
	DefaultBackoff  = 100 * time.Millisecond
)

type putter interface {
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

// Stream puts events on one Kinesis stream.
type Stream struct {
	client   putter
	name     string
	attempts int
	backoff  time.Duration
	sleep    func(ctx context.Context, d time.Duration) error
}

// Option changes how a Stream retries.
type Option func(*Stream)

// WithRetry sets how many times in all a record is tried (at least 1) and the wait before the first
// retry, which doubles for each further one.
func WithRetry(attempts int, backoff time.Duration) Option {
	return func(s *Stream) { s.attempts, s.backoff = max(attempts, 1), backoff }
}

// WithSleep replaces how the stream waits between tries (tests pass one that returns at once).
// sleep returns an error when the context ends first.
func WithSleep(sleep func(ctx context.Context, d time.Duration) error) Option {
	return func(s *Stream) { s.sleep = sleep }
}

// New returns a stream that puts records on the named stream through client (a *kinesis.Client).
func New(client putter, stream string, opts ...Option) *Stream {
	s := &Stream{client: client, name: stream, attempts: DefaultAttempts, backoff: DefaultBackoff, sleep: sleep}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Put puts the events on the stream, packed into records (Records), in calls of at most
// MaxRecordsPerCall records and MaxBytesPerCall bytes. Records that a call refuses are tried again
// with backoff; when some are still refused, or a call fails, Put returns an error that matches
// ErrUnavailable (and ErrThrottled when the refusals were for want of capacity). An event that
// cannot be encoded as a record is an error that does not, and nothing is put.
func (s *Stream) Put(ctx context.Context, events []beacon.Event) error {
	recs, err := Records(events)
	if err != nil {
		return err
	}
	var (
		call  []types.PutRecordsRequestEntry
		bytes int
	)
	for _, rec := range recs {
		n := len(rec.Data) + len(aws.ToString(rec.PartitionKey))
		if len(call) == MaxRecordsPerCall || bytes+n > MaxBytesPerCall {
			if err := s.put(ctx, call); err != nil {
				return err
			}
			call, bytes = nil, 0
		}
		call = append(call, rec)
		bytes += n
	}
	if len(call) == 0 {
		return nil
	}
	return s.put(ctx, call)
}

// Records packs events into Kinesis records: each record holds events of one partition key, in the
// order given, as many as fit in TargetRecordBytes. The records of one key come in the order of
// their events.
func Records(events []beacon.Event) ([]types.PutRecordsRequestEntry, error) {
	type pack struct {
		key    string
		events []json.RawMessage
		size   int // of the record so far, partition key included
	}
	var (
		out   []types.PutRecordsRequestEntry
		open  = map[string]*pack{}
		order []*pack // open packs by first event
	)
	flush := func(p *pack) {
		out = append(out, types.PutRecordsRequestEntry{Data: beacon.JoinRecord(p.events), PartitionKey: aws.String(p.key)})
	}
	// The events are encoded one after the other into one buffer, which the records then share.
	size := 0
	for i := range events {
		e := &events[i]
		size += len(e.Properties) + len(e.Traits) + len(e.Context) + len(e.Integrations) + 1024 // and the rest
	}
	data := make([]byte, 0, size)
	var err error
	keys := make([]string, len(events))
	ends := make([]int, len(events))
	for i := range events {
		if keys[i], data, err = appendEvent(data, &events[i]); err != nil {
			return nil, err
		}
		ends[i] = len(data)
	}
	for i, key := range keys {
		start := 0
		if i > 0 {
			start = ends[i-1]
		}
		data := data[start:ends[i]:ends[i]]
		p := open[key]
		if p != nil && p.size+1+len(data) > TargetRecordBytes {
			flush(p)
			p.events, p.size = nil, len(key)+beacon.RecordOverhead-1
		}
		if p == nil {
			p = &pack{key: key, size: len(key) + beacon.RecordOverhead - 1}
			open[key] = p
			order = append(order, p)
		}
		p.events = append(p.events, data)
		p.size += 1 + len(data)
	}
	for _, p := range order {
		if len(p.events) > 0 {
			flush(p)
		}
	}
	return out, nil
}

// encode returns an event's partition key and JSON, checking that it fits in a record on its own.
func encode(e beacon.Event) (string, []byte, error) {
	key, data, err := appendEvent(nil, &e)
	return key, data, err
}

// appendEvent appends an event's JSON (json.Marshal's bytes) to data and returns its partition key,
// checking that the event fits in a record on its own. On error, data is as it was.
func appendEvent(data []byte, e *beacon.Event) (string, []byte, error) {
	key := PartitionKey(*e)
	if key == "" {
		return "", data, fmt.Errorf("encode event %s: it has neither anonymousId nor userId", e.MessageID)
	}
	out, err := e.AppendJSON(data)
	if err != nil {
		return "", data, fmt.Errorf("encode event %s: %w", e.MessageID, err)
	}
	if n := len(out) - len(data) + len(key) + beacon.RecordOverhead; n > MaxRecordBytes {
		return "", data, fmt.Errorf("encode event %s: record is %d bytes, more than %d", e.MessageID, n, MaxRecordBytes)
	}
	return key, out, nil
}

func (s *Stream) put(ctx context.Context, records []types.PutRecordsRequestEntry) error {
	pending := records
	for attempt := 1; ; attempt++ {
		out, err := s.client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(s.name), Records: pending}, encodePutRecords)
		if err != nil {
			var ae smithy.APIError
			throttled := errors.As(err, &ae) && throttleCodes[ae.ErrorCode()]
			return unavailable(throttled, "put %d records on %s: %w", len(pending), s.name, err)
		}
		if len(out.Records) != len(pending) {
			return fmt.Errorf("put records on %s: %d results for %d records: %w", s.name, len(out.Records), len(pending), ErrUnavailable)
		}
		var refused []types.PutRecordsRequestEntry
		var reason string
		throttled := true
		for i, r := range out.Records {
			if r.ErrorCode != nil {
				refused = append(refused, pending[i])
				reason = aws.ToString(r.ErrorCode) + ": " + aws.ToString(r.ErrorMessage)
				throttled = throttled && throttleCodes[aws.ToString(r.ErrorCode)]
			}
		}
		if len(refused) == 0 {
			return nil
		}
		pending = refused
		if attempt >= s.attempts {
			return unavailable(throttled, "put records on %s: %d of %d refused after %d attempts (last: %s)",
				s.name, len(pending), len(records), attempt, reason)
		}
		if err := s.sleep(ctx, s.backoff<<(attempt-1)); err != nil {
			return fmt.Errorf("wait to retry %d records on %s: %w: %w", len(pending), s.name, ErrUnavailable, err)
		}
	}
}

// Record is the Kinesis record that carries one event alone.
func Record(e beacon.Event) (types.PutRecordsRequestEntry, error) {
	key, data, err := encode(e)
	if err != nil {
		return types.PutRecordsRequestEntry{}, err
	}
	return types.PutRecordsRequestEntry{Data: beacon.JoinRecord([]json.RawMessage{data}), PartitionKey: aws.String(key)}, nil
}

// PartitionKey is the event's visitor (beacon.Event.Visitor). A visitor id longer than Kinesis
// allows is replaced by its SHA-256, which keeps that visitor's events together.
func PartitionKey(e beacon.Event) string {
	v := e.Visitor()
	if utf8.RuneCountInString(v) <= maxPartitionKey {
		return v
	}
	sum := sha256.Sum256([]byte(v))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
