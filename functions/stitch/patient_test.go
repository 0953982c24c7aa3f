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
	"github.com/dcrm-project/dcrm/shared/messagequeue"
)

// flaky fails every message of its first n calls with err.
type flaky struct {
	n, calls int
	err      error
}

func (f *flaky) SendAll(_ context.Context, ms []message.Message) []error {
	f.calls++
	errs := make([]error, len(ms))
	if f.calls <= f.n {
		for i := range errs {
			errs[i] = f.err
		}
	}
	return errs
}

// send sends one message through s.
func send(ctx context.Context, s sender, m message.Message) error {
	return s.SendAll(ctx, []message.Message{m})[0]
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
	require.NoError(t, send(ctx, p, message.ProfileMerged{}))
	assert.Equal(t, 7, f.calls)
	assert.Equal(t, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
		1600 * time.Millisecond, 2 * time.Second}, *waits, "backing off, up to a ceiling")
}

func TestPatientSenderKeepsTheInvocationsReserve(t *testing.T) {
	f := &flaky{n: 1000, err: outage}
	p, waits := testPatient(f)
	ctx, cancel := context.WithTimeout(context.Background(), p.reserve+time.Second)
	defer cancel()
	assert.ErrorIs(t, send(ctx, p, message.ProfileMerged{}), outage, "the failure reaches the handler, which has the batch retried")
	total := time.Duration(0)
	for _, w := range *waits {
		total += w
	}
	assert.LessOrEqual(t, total, time.Second)

	f = &flaky{n: 1000, err: outage}
	p, _ = testPatient(f)
	ctx, cancel = context.WithTimeout(context.Background(), p.reserve/2)
	defer cancel()
	assert.Error(t, send(ctx, p, message.ProfileMerged{}))
	assert.Equal(t, 1, f.calls, "no time to spare: no second try")
}

func TestPatientSenderSendsAgainOnlyWhatFailed(t *testing.T) {
	f := &partial{fail: map[string]int{"b": 2}}
	p, waits := testPatient(f)
	ms := []message.Message{message.ProfileMerged{From: "a"}, message.ProfileMerged{From: "b"}, message.ProfileMerged{From: "c"}}
	for i, err := range p.SendAll(context.Background(), ms) {
		assert.NoError(t, err, "message %d", i)
	}
	assert.Equal(t, [][]string{{"a", "b", "c"}, {"b"}, {"b"}}, f.calls, "the failed one alone, until it goes")
	assert.Len(t, *waits, 2)
}

// partial fails the messages merged from the profiles in fail that many times each, on SQS's side.
type partial struct {
	fail  map[string]int
	calls [][]string
}

func (f *partial) SendAll(_ context.Context, ms []message.Message) []error {
	errs := make([]error, len(ms))
	var call []string
	for i, m := range ms {
		from := m.(message.ProfileMerged).From
		call = append(call, from)
		if f.fail[from] > 0 {
			f.fail[from]--
			errs[i] = &messagequeue.EntryError{Code: "InternalError", Message: "try again"}
		}
	}
	f.calls = append(f.calls, call)
	return errs
}

func TestPatientSenderDoesNotRetryAnInvalidMessage(t *testing.T) {
	f := &flaky{n: 1, err: errors.New("send profile.updated: profileId is required")}
	p, _ := testPatient(f)
	assert.Error(t, send(context.Background(), p, message.ProfileMerged{}))
	assert.Equal(t, 1, f.calls)
}
