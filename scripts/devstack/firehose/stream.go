package firehose

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/dcrm-project/dcrm/scripts/devstack/awsid"
)

// ErrorOutputType is the folder under a stream's ErrorPrefix where this server writes a batch S3
// kept refusing for RetryFor. Firehose itself keeps retrying S3 for the 24 hours it holds records
// and then drops them; a local stand-in would rather keep them where they can be seen.
const ErrorOutputType = "s3-delivery-failed"

// putTimeout bounds one write to S3 (the client's own retries included).
const putTimeout = time.Minute

// stream is one delivery stream: the buffer records are gathered in, and the batches sealed from it
// that wait to be written, oldest first. One goroutine (run) seals and writes them, in order.
type stream struct {
	s       *Server
	cfg     Stream
	created time.Time
	wake    chan struct{}

	mu      sync.Mutex
	buf     []byte // the records buffered, concatenated
	records int
	arrived time.Time // when the first record buffered arrived (Options.Now), for its object's key
	started time.Time // the same on the real clock, for the interval
	pending []*batch  // sealed, not written yet
	closing bool
	// heldRecords and heldBytes count what is buffered or pending.
	heldRecords, heldBytes int
}

// batch is the content of one object: records in the order they were put.
type batch struct {
	data    []byte
	records int
	arrived time.Time
}

func newStream(s *Server, cfg Stream) *stream {
	return &stream{s: s, cfg: cfg, created: s.now(), wake: make(chan struct{}, 1)}
}

// put adds records to the buffer, sealing it into a batch whenever the next record would take it
// past BufferBytes or it reaches BufferBytes (and at once for a stream without an interval).
func (st *stream) put(data [][]byte) error {
	n := 0
	for _, d := range data {
		n += len(d)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	switch {
	case st.closing:
		return unavailable("Firehose stream %s is shutting down.", st.cfg.Name)
	case st.heldBytes > 0 && st.heldBytes+n > st.s.opts.MaxPendingBytes:
		return unavailable("Firehose stream %s holds %d bytes S3 has not taken yet; slow down.", st.cfg.Name, st.heldBytes)
	}
	for _, d := range data {
		if st.records > 0 && len(st.buf)+len(d) > st.cfg.BufferBytes {
			st.seal()
		}
		if st.records == 0 {
			st.arrived, st.started = st.s.now(), time.Now()
		}
		st.buf = append(st.buf, d...)
		st.records++
		if len(st.buf) >= st.cfg.BufferBytes {
			st.seal()
		}
	}
	st.heldRecords += len(data)
	st.heldBytes += n
	if st.cfg.BufferInterval == 0 && st.records > 0 {
		st.seal()
	}
	st.signal()
	return nil
}

// seal turns the buffer into a pending batch. The caller holds mu.
func (st *stream) seal() {
	st.pending = append(st.pending, &batch{data: st.buf, records: st.records, arrived: st.arrived})
	st.buf, st.records = nil, 0
}

func (st *stream) signal() {
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// close makes the stream refuse records and write what it holds.
func (st *stream) close() {
	st.mu.Lock()
	st.closing = true
	st.mu.Unlock()
	st.signal()
}

// held is what the stream holds and has not written.
func (st *stream) held() (records, bytes int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.heldRecords, st.heldBytes
}

// run writes the batches in order, sealing the buffer when its interval has passed (or the stream
// closes), until the stream is closed and empty or ctx ends.
func (st *stream) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		st.mu.Lock()
		if st.records > 0 && (st.closing || time.Since(st.started) >= st.cfg.BufferInterval) {
			st.seal()
		}
		var head *batch
		if len(st.pending) > 0 {
			head = st.pending[0]
		}
		closing, wait := st.closing, time.Duration(-1)
		if st.records > 0 {
			wait = st.cfg.BufferInterval - time.Since(st.started)
		}
		st.mu.Unlock()

		if head != nil {
			if !st.deliver(ctx, head) {
				return
			}
			st.mu.Lock()
			st.pending = st.pending[1:]
			st.heldRecords -= head.records
			st.heldBytes -= len(head.data)
			st.mu.Unlock()
			continue
		}
		if closing {
			return
		}
		var due <-chan time.Time
		if wait >= 0 {
			timer.Reset(wait)
			due = timer.C
		}
		select {
		case <-st.wake:
		case <-due:
		case <-ctx.Done():
			return
		}
		timer.Stop()
	}
}

// deliver writes a batch as one gzipped object, trying again after a failure, backing off, for
// RetryFor, and then under the error prefix until it is written. It returns false when ctx ended
// first.
func (st *stream) deliver(ctx context.Context, b *batch) bool {
	o := st.s.opts
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(b.data)
	_ = zw.Close()
	key := st.cfg.Prefix + objectName(st.cfg.Name, b.arrived)
	start, delay, failed := time.Now(), o.RetryDelay, false
	for attempt := 1; ; attempt++ {
		if !failed && time.Since(start) >= o.RetryFor {
			failed = true
			key = st.cfg.ErrorPrefix + ErrorOutputType + "/" + objectName(st.cfg.Name, b.arrived)
			st.s.log.Error("giving up on the prefix: writing under the error prefix", "stream", st.cfg.Name, "after", o.RetryFor, "key", key)
		}
		err := st.write(ctx, key, gz.Bytes())
		if err == nil {
			st.s.log.Debug("delivered", "stream", st.cfg.Name, "bucket", st.cfg.Bucket, "key", key, "records", b.records, "bytes", len(b.data))
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		st.s.log.Warn("delivery to S3 failed; retrying", "stream", st.cfg.Name, "key", key, "attempt", attempt, "retryIn", delay, "error", err)
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
		delay = min(2*delay, o.MaxRetryDelay)
	}
}

func (st *stream) write(ctx context.Context, key string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, putTimeout)
	defer cancel()
	_, err := st.s.opts.S3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(st.cfg.Bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))), ContentType: aws.String("application/octet-stream"),
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", st.cfg.Bucket, key, err)
	}
	return nil
}

// objectName is the part of an object's key after the stream's prefix, as Firehose names it when
// the prefix holds no expressions: the time prefix "YYYY/MM/DD/HH/", then
// <stream>-<version>-YYYY-MM-DD-HH-MM-SS-<uuid>.gz, in UTC, at the arrival of the object's first
// record. The version is 1: a stream here is never updated.
func objectName(stream string, arrived time.Time) string {
	t := arrived.UTC()
	return t.Format("2006/01/02/15/") + stream + "-1-" + t.Format("2006-01-02-15-04-05") + "-" + awsid.UUID() + ".gz"
}
