package faults_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/dcrm-project/dcrm/scripts/devstack/faults"
)

// Kinesis refuses some records of collect's PutRecords calls (shards over their limits, an
// internal failure): collect puts the refused ones again, and when some are still refused it
// answers 429 or 503 with Retry-After, and the sender sends the whole batch again. The records
// that did get on the stream the first time are on it twice; stitch records them once.
func TestKinesisPartialPutRecordsFailures(t *testing.T) {
	p := startPipeline(t)
	p.in.Add(faults.Rule{Name: "throttled records", Service: "kinesis", Operations: []string{"PutRecords"}, Probability: 0.5, FailRecords: 0.5})
	p.in.Add(faults.Rule{Name: "failed records", Service: "kinesis", Operations: []string{"PutRecords"}, FailRecords: 0.3,
		RecordError: "InternalFailure"})
	p.wave(3)
	firedThrottled, firedFailed := p.in.Fired("throttled records"), p.in.Fired("failed records")
	p.in.Clear()
	p.wave(1)
	p.settled()
	p.noFailedEvents()
	assert.Positive(t, firedThrottled)
	assert.Positive(t, firedFailed)
	assert.Positive(t, p.status(429)+p.status(503), "some batches were refused, and sent again")
}

// Kinesis throttles whole PutRecords calls for a while: the SDK in collect retries them, and when
// its attempts run out collect answers 429 with Retry-After; the sender comes back and nothing is
// lost.
func TestKinesisThrottledCalls(t *testing.T) {
	p := startPipeline(t)
	p.in.Add(faults.Rule{Name: "throttled", Service: "kinesis", Operations: []string{"PutRecords"}, Times: 12, Error: faults.KinesisThrottled})
	p.in.Add(faults.Rule{Name: "internal", Service: "kinesis", Operations: []string{"PutRecords"}, Times: 6, Error: faults.KinesisInternal})
	p.wave(3)
	assert.Equal(t, 12, p.in.Fired("throttled"))
	assert.Equal(t, 6, p.in.Fired("internal"))
	p.in.Clear()
	p.wave(1)
	p.settled()
	p.noFailedEvents()
	assert.Positive(t, p.status(429), "throttling is told as 429")
}
