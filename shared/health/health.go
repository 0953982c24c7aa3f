// Package health is what the pipeline keeps of its own state for the console's health page, and
// the verdicts drawn from it: how far behind the stream each shard's last batch was (Lag), the last
// run of each schedule (Run), and the failed events by reason per UTC day (Failures). Every item
// is small and bounded, and nothing personal goes into it: a reason is cut to a label (Label) or to
// a short redacted line (Reason). Pure: the clock is passed in. The DynamoDB side is
// shared/healthstore.
package health

import (
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dcrm-project/dcrm/shared/pii"
)

// Lag is what stitch keeps of the last batch it recorded from a shard: how old the oldest record
// of the batch was when it was recorded (the stream's lag, as Lambda's IteratorAge metric), when,
// and how many records it held.
type Lag struct {
	Shard   string
	Lag     time.Duration
	At      time.Time
	Records int
}

// Thresholds of the lag's verdict.
const (
	// LagOK is the lag under which the stream is keeping up.
	LagOK = 5 * time.Second
	// LagStale is how long after the last batch its lag still tells anything: stitch keeps a lag
	// at most once a minute per shard, and only while batches come, so a quiet shard's last lag says
	// nothing of now.
	LagStale = 10 * time.Minute
	// LagEvery is how often, at most, stitch keeps a shard's lag (per process): one write per shard
	// per minute whatever the traffic.
	LagEvery = time.Minute
)

// Verdicts.
const (
	OK      = "ok"
	Behind  = "behind"
	Unknown = "unknown"
)

// Verdict is "ok" when the last batch was less than LagOK behind, "behind" when more, and
// "unknown" when it is older than LagStale (no batch for a while: nothing to tell).
func (l Lag) Verdict(now time.Time) string {
	switch {
	case l.At.IsZero() || now.Sub(l.At) > LagStale:
		return Unknown
	case l.Lag < LagOK:
		return OK
	default:
		return Behind
	}
}

// MaxShardID bounds a shard id as kept (Kinesis's are "shardId-" and 12 digits).
const MaxShardID = 64

// ShardOf is the shard of a Kinesis record from its event id ("shardId-000000000000:<sequence
// number>", as the event source mapping writes it); "" when it does not read as one.
func ShardOf(eventID string) string {
	shard, _, ok := strings.Cut(eventID, ":")
	if !ok || shard == "" || len(shard) > MaxShardID {
		return ""
	}
	for _, r := range shard {
		if !(r == '-' || r == '_' || r < utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r))) {
			return ""
		}
	}
	return shard
}

// Throttle tells, per key, whether a period has passed since it last said yes: stitch keeps a
// shard's lag when it does, so that a busy shard costs one write a minute per process. Bounded: past
// MaxThrottleKeys keys it forgets them all (at worst one write more per key). Not safe for
// concurrent use (a Lambda process handles one batch at a time).
type Throttle struct {
	Every time.Duration
	last  map[string]time.Time
}

// MaxThrottleKeys bounds the keys a Throttle remembers.
const MaxThrottleKeys = 1024

// Due reports whether key is due at now, and if so remembers now as its last time.
func (t *Throttle) Due(key string, now time.Time) bool {
	if last, ok := t.last[key]; ok && now.Sub(last) < t.Every && !now.Before(last) {
		return false
	}
	if t.last == nil || len(t.last) >= MaxThrottleKeys {
		t.last = map[string]time.Time{}
	}
	t.last[key] = now
	return true
}

// Outcomes of a run.
const (
	Running = "running"
	Failed  = "failed"
)

// Run is what a scheduled function keeps of its last run of a schedule: when it started and
// finished, its outcome ("running", "ok" or "failed" with a short Reason) and, when the function
// has one at hand, a count of what it did (Count of Unit: "profiles scored", "triggers sent" …).
// A run in progress keeps the previous run's Finished; its Outcome says it is running.
type Run struct {
	Schedule string
	Started  time.Time
	Finished time.Time
	Outcome  string
	Reason   string
	Count    *int64
	Unit     string
}

// MaxReason bounds a failed run's reason, in characters.
const MaxReason = 200

// Reason is the short reason of a failed run kept from its error: the first line, addresses
// hashed (pii.RedactText), cut to MaxReason characters. The functions' errors name ids and counts,
// not people; the cut keeps a long one from carrying much of anything.
func Reason(err error) string {
	if err == nil {
		return ""
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	return cut(pii.RedactText(s), MaxReason)
}

// Next is when the schedule's next run is expected: a period after the last one started; zero
// when it never ran.
func (r Run) Next(every time.Duration) time.Time {
	if r.Started.IsZero() {
		return time.Time{}
	}
	return r.Started.Add(every)
}

// Late tells whether a schedule's run is overdue at now: it never ran, or its next run is more than
// a period behind (one missed run is a hiccup; two say the schedule is not running), or a run has
// been running longer than limit (the function's timeout: it was cut off without finishing).
func (r Run) Late(every, limit time.Duration, now time.Time) bool {
	switch {
	case r.Started.IsZero():
		return true
	case r.Outcome == Running:
		return now.Sub(r.Started) > limit
	default:
		return now.Sub(r.Next(every)) > every
	}
}

// Failures are the failed events of one UTC day (Day: YYYY-MM-DD), counted by label: "<stage>:
// <reason label>".
type Failures struct {
	Day    string
	Counts map[string]int64
}

// MaxLabel bounds a failure's label, in characters.
const MaxLabel = 60

// Other is the label of a reason that does not begin with a plain phrase.
const Other = "other"

// Label is the reason of a failed event cut to what may be counted by: the phrase before its
// first colon, when it is plain lower-case words (letters, digits, spaces, hyphens); Other
// otherwise. Reasons begin with a fixed phrase and go on with details (ids, values, quoted
// parts), which must not become counters: they are unbounded, and may be personal.
func Label(reason string) string {
	head, _, _ := strings.Cut(reason, ":")
	head = strings.TrimSpace(head)
	if head == "" || utf8.RuneCountInString(head) > MaxLabel {
		return Other
	}
	for _, r := range head {
		if !(r == ' ' || r == '-' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return Other
		}
	}
	return head
}

// Key is a failure's counter name: its stage and label.
func Key(stage, label string) string { return stage + ": " + label }

// Day is the UTC day of t, as the failures are kept by.
func Day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// Days are the n UTC days up to now's, oldest first.
func Days(now time.Time, n int) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = Day(now.UTC().AddDate(0, 0, i-n+1))
	}
	return out
}

func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
