package messagequeue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/events/schemas"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
	"github.com/dcrm-project/dcrm/shared/message"
)

// proxied is a fresh queue reached through a proxy that counts the calls (and can fail entries).
func proxied(t *testing.T) (*Queue, *localawstest.SQSProxy) {
	p := localawstest.NewSQSProxy(t)
	return New(p.Client(t), localawstest.NewQueue(t)), p
}

// alerts are n lapse alerts for profiles prf_0 … prf_{n-1}.
func alerts(n int) []message.Message {
	ms := make([]message.Message, n)
	for i := range ms {
		a := lapseAlert()
		a.ProfileID = fmt.Sprintf("prf_%d", i)
		ms[i] = message.NewLapse(a, time.Time{})
	}
	return ms
}

// drain receives the queue's messages until it has want of them, then checks that no more come.
func drain(t *testing.T, q *Queue, want int) []Delivery {
	t.Helper()
	var got []Delivery
	require.Eventually(t, func() bool {
		ds, err := q.Receive(context.Background(), 10, 0)
		require.NoError(t, err)
		got = append(got, ds...)
		return len(got) >= want
	}, 15*time.Second, 10*time.Millisecond, "received %d of %d", len(got), want)
	more, err := q.Receive(context.Background(), 10, 0)
	require.NoError(t, err)
	require.Empty(t, more, "more messages than sent")
	require.Len(t, got, want)
	return got
}

// profileIDs are the profile ids of lapse alerts as received, each with how often it came.
func profileIDs(t *testing.T, ds []Delivery) map[string]int {
	t.Helper()
	ids := map[string]int{}
	for _, d := range ds {
		require.NoError(t, schemas.Validate(d.Type, d.Version, d.Body), "the message as received matches its schema")
		var l message.Lapse
		require.NoError(t, json.Unmarshal(d.Body, &l))
		ids[l.ProfileID]++
	}
	return ids
}

func TestSendAllSendsTenMessagesPerCall(t *testing.T) {
	q, c := proxied(t)
	errs := q.SendAll(context.Background(), alerts(25))
	require.Len(t, errs, 25)
	for i, err := range errs {
		require.NoError(t, err, "message %d", i)
	}
	require.Equal(t, []int{10, 10, 5}, c.BatchSizes())
	require.Zero(t, c.Calls("SendMessage"))

	ids := profileIDs(t, drain(t, q, 25))
	require.Len(t, ids, 25)
	for id, n := range ids {
		require.Equal(t, 1, n, "%s received %d times", id, n)
	}
}

func TestSendAllKeepsEachCallWithinTheByteLimit(t *testing.T) {
	q, c := proxied(t)
	at := time.Date(2025, 1, 10, 9, 30, 0, 0, time.UTC)
	var ms []message.Message
	for i := range 5 { // about 80 KB each in JSON (base64 data): three fit in 256 KiB, four do not
		ms = append(ms, message.NewFailedEvent("stitch", fmt.Sprintf("part %d", i), bytes.Repeat([]byte{'x'}, 60<<10), at))
	}
	for _, err := range q.SendAll(context.Background(), ms) {
		require.NoError(t, err)
	}
	require.Equal(t, []int{3, 2}, c.BatchSizes())
	require.Len(t, drain(t, q, 5), 5)
}

func TestSendAllSendsAgainOnlyTheEntriesSQSFailed(t *testing.T) {
	q, c := proxied(t)
	var mu sync.Mutex
	failures := map[string]int{`"profileId":"prf_3"`: 1, `"profileId":"prf_7"`: 2} // failed once, twice
	c.FailEntries(func(body string) bool {
		mu.Lock()
		defer mu.Unlock()
		for k, n := range failures {
			if strings.Contains(body, k) && n > 0 {
				failures[k]--
				return true
			}
		}
		return false
	})
	for i, err := range q.SendAll(context.Background(), alerts(9)) {
		require.NoError(t, err, "message %d", i)
	}
	require.Equal(t, []int{9, 2, 1}, c.BatchSizes(), "the first call with all, then only the failed ones")

	ids := profileIDs(t, drain(t, q, 9))
	for id, n := range ids {
		require.Equal(t, 1, n, "%s received %d times", id, n)
	}
}

func TestSendAllGivesUpOnAnEntrySQSKeepsFailing(t *testing.T) {
	q, c := proxied(t)
	c.FailEntries(func(body string) bool { return strings.Contains(body, `"profileId":"prf_1"`) })
	errs := q.SendAll(context.Background(), alerts(3))
	require.NoError(t, errs[0])
	require.NoError(t, errs[2])
	var entry *EntryError
	require.ErrorAs(t, errs[1], &entry)
	require.Equal(t, "InternalError", entry.Code)
	require.False(t, entry.SenderFault)
	require.Equal(t, []int{3, 1, 1, 1}, c.BatchSizes(), "sent %d times in all", maxAttempts)
	require.Equal(t, map[string]int{"prf_0": 1, "prf_2": 1}, profileIDs(t, drain(t, q, 2)))
}

func TestMessageTooLargeForTheQueueIsRefusedAloneAndNotSentAgain(t *testing.T) {
	ctx := context.Background()
	c := localawstest.NewSQSProxy(t)
	e := localawstest.Reachable(t)
	out, err := e.SQSClient().CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(localawstest.UniqueName("small-queue")),
		Attributes: map[string]string{"MaximumMessageSize": "1024"}})
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = e.SQSClient().DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl})
	})
	q := New(c.Client(t), aws.ToString(out.QueueUrl))

	at := time.Date(2025, 1, 10, 9, 30, 0, 0, time.UTC)
	small := func(i int) message.Message {
		return message.NewFailedEvent("collect", fmt.Sprintf("small %d", i), []byte("{}"), at)
	}
	large := message.NewFailedEvent("collect", "large", bytes.Repeat([]byte{'x'}, 2048), at)
	errs := q.SendAll(ctx, []message.Message{small(0), large, small(1)})
	require.NoError(t, errs[0])
	require.NoError(t, errs[2])
	var entry *EntryError
	require.ErrorAs(t, errs[1], &entry)
	require.True(t, entry.SenderFault)
	require.ErrorContains(t, errs[1], "send failed-event: InvalidParameterValue: One or more parameters are invalid. Reason: Message must be shorter than 1024 bytes.")
	require.Equal(t, []int{3}, c.BatchSizes(), "a message refused as too large is not sent again")
	require.Len(t, drain(t, q, 2), 2)

	// Sent alone, it gets the same answer.
	require.Equal(t, errs[1].Error(), q.Send(ctx, large).Error())
}

func TestInvalidMessagesAreLeftOutOfTheBatch(t *testing.T) {
	q, c := proxied(t)
	ms := alerts(3)
	ms[1] = message.Lapse{Type: message.TypeLapse, Version: message.LapseVersion}
	errs := q.SendAll(context.Background(), ms)
	require.NoError(t, errs[0])
	require.True(t, errors.Is(errs[1], message.ErrInvalid), "err = %v", errs[1])
	require.NoError(t, errs[2])
	require.Equal(t, []int{2}, c.BatchSizes())
	require.Equal(t, map[string]int{"prf_0": 1, "prf_2": 1}, profileIDs(t, drain(t, q, 2)))
}

func TestPack(t *testing.T) {
	sized := func(sizes ...int) []entry {
		es := make([]entry, len(sizes))
		for i, s := range sizes {
			es[i] = entry{index: i, size: s}
		}
		return es
	}
	lens := func(calls [][]entry) []int {
		var out []int
		for _, c := range calls {
			out = append(out, len(c))
		}
		return out
	}
	require.Empty(t, pack(nil))
	require.Equal(t, []int{10, 10, 1}, lens(pack(sized(make([]int, 21)...))))
	require.Equal(t, []int{1, 2, 1}, lens(pack(sized(MaxBatchBytes+1, 100<<10, 100<<10, 100<<10))), "an entry over the limit goes alone")
	require.Equal(t, []int{2, 1}, lens(pack(sized(MaxBatchBytes-10, 10, 1))), "exactly at the limit fits")
}

// Workers sending one message after another (as the score and triggers functions do) share calls:
// while one call is on its way the others' messages wait and go together in the next.
func TestSendsAtTheSameTimeShareCalls(t *testing.T) {
	q, c := proxied(t)
	c.Delay(50 * time.Millisecond)
	const workers, each = 16, 5
	ms := alerts(workers * each)
	var wg sync.WaitGroup
	errs := make([]error, len(ms))
	for w := range workers {
		wg.Go(func() {
			for i := w * each; i < (w+1)*each; i++ {
				errs[i] = q.Send(context.Background(), ms[i])
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "message %d", i)
	}
	sizes, total := c.BatchSizes(), 0
	for _, n := range sizes {
		require.LessOrEqual(t, n, MaxBatchEntries)
		total += n
	}
	require.Equal(t, len(ms), total, "calls %v", sizes)
	t.Logf("%d messages in %d calls: %v", len(ms), len(sizes), sizes)
	require.LessOrEqual(t, len(sizes), len(ms)/4, "calls %v: the messages waiting went together", sizes)
	ids := profileIDs(t, drain(t, q, len(ms)))
	require.Len(t, ids, len(ms))
	for id, n := range ids {
		require.Equal(t, 1, n, "%s received %d times", id, n)
	}
}

// panicky is a message whose checks panic.
type panicky struct{ message.Lapse }

func (panicky) Validate() error { panic("checks broken") }

// A Send that panics inside answers with an error and leaves the queue to the next: nothing hangs.
func TestAPanickingMessageLeavesTheQueueUsable(t *testing.T) {
	q, _ := proxied(t)
	require.ErrorContains(t, q.Send(context.Background(), panicky{}), "checks broken")
	done := make(chan error, 1)
	go func() { done <- q.Send(context.Background(), alerts(1)[0]) }()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the next Send never returned")
	}
	require.Len(t, drain(t, q, 1), 1)
}
