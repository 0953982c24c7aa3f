package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/message"
)

// flaky fails its first n sends with err.
type flaky struct {
	n, calls int
	err      error
}

func (f *flaky) Send(context.Context, message.Message) error {
	f.calls++
	if f.calls <= f.n {
		return f.err
	}
	return nil
}

// testPatient is a patient sender on a clock of its own, which only its waits move.
func testPatient(next sender) (*patient, *[]time.Duration) {
	var waits []time.Duration
	clock := time.Now()
	p := newPatient(next, quiet)
	p.now = func() time.Time { return clock }
	p.sleep = func(_ context.Context, d time.Duration) error {
		waits = append(waits, d)
		clock = clock.Add(d)
		return nil
	}
	return p, &waits
}

var outage = &smithy.OperationError{ServiceID: "SQS", OperationName: "SendMessage", Err: errors.New("StatusCode: 503")}

func TestPatientSenderRidesOutAShortOutage(t *testing.T) {
	f := &flaky{n: 6, err: outage}
	p, waits := testPatient(f)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, p.Send(ctx, message.ProfileMerged{}))
	assert.Equal(t, 7, f.calls)
	assert.Equal(t, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 2 * time.Second}, *waits, "backing off, up to a ceiling")
}

func TestPatientSenderKeepsTheInvocationsReserve(t *testing.T) {
	f := &flaky{n: 1000, err: outage}
	p, waits := testPatient(f)
	ctx, cancel := context.WithTimeout(context.Background(), p.reserve+time.Second)
	defer cancel()
	assert.ErrorIs(t, p.Send(ctx, message.ProfileMerged{}), outage, "the failure reaches the handler, which has the batch retried")
	total := time.Duration(0)
	for _, w := range *waits {
		total += w
	}
	assert.LessOrEqual(t, total, time.Second)

	f = &flaky{n: 1000, err: outage}
	p, _ = testPatient(f)
	ctx, cancel = context.WithTimeout(context.Background(), p.reserve/2)
	defer cancel()
	assert.Error(t, p.Send(ctx, message.ProfileMerged{}))
	assert.Equal(t, 1, f.calls, "no time to spare: no second try")
}

func TestPatientSenderDoesNotRetryAnInvalidMessage(t *testing.T) {
	f := &flaky{n: 1, err: errors.New("send profile.updated: profileId is required")}
	p, _ := testPatient(f)
	assert.Error(t, p.Send(context.Background(), message.ProfileMerged{}))
	assert.Equal(t, 1, f.calls)
}
