// Package activity is the log people read in the console: what dcrm sent about its customers (the
// alerts and triggers: what fired, for whom, why) and what people did through the profile API (the
// audit log: who changed what, when, and how it ended). Each entry belongs to a kind (a trigger's
// kind, "lapse" for a lapse alert, "audit" for the audit log) and to the UTC day of its time; the
// store keeps a kind's day in one partition, newest first by "<time>#<message id>", so a day's page
// of one kind is one query, and of every alert kind one query per kind (Read merges them).
//
// Pure Go: the entries, their keys, the cursor and the merge of the kinds' pages. The DynamoDB
// adapter is shared/activitystore; the senders (functions/triggers, functions/score) write an entry
// as they send each message, and the profile API writes an audit entry for each change it made.
//
// Nothing personal is kept beyond the profile id: an alert's entry holds what its message already
// carries of why it fired (the reason in words and a few numbers: items and value of a basket, a
// lapse risk and its threshold), never a user id or an identifier; an audit entry holds the route,
// the ids it named and the caller's key id, never a request's body.
package activity

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/shared/message"
)

// Kinds of entry beside the triggers' (message.Kind*).
const (
	// KindLapse is a lapse alert (message.Lapse): a valuable customer's lapse risk crossed the
	// threshold.
	KindLapse = message.TypeLapse
	// KindAudit is an action through the profile API that changed something.
	KindAudit = "audit"
)

// AlertKinds are the kinds of the alerts and triggers dcrm sends, in the order a page lists their
// counts. An entry of another kind (but KindAudit) is refused, so a reader of every alert kind
// reads these and no others.
var AlertKinds = []string{
	message.KindAbandonedBasket, message.KindAbandonedBrowse, message.KindAbandonedForm,
	message.KindReturningProspect, message.KindReturningLapsed, KindLapse,
}

// Retention is how long an entry is kept: the store's time-to-live removes it after that.
const Retention = 90 * 24 * time.Hour

// Limits of what an entry holds, so that an item stays small (one write unit, 1 KB, for most).
const (
	MaxReason  = 500 // bytes of the reason in words
	MaxID      = 512 // bytes of an id (profile, message, target)
	MaxTargets = 8   // ids an audit entry names
)

// ErrInvalid is the error of an entry that misses what every reader relies on.
var ErrInvalid = errors.New("invalid activity entry")

// Entry is one line of the log: an alert or trigger sent, or an action of the audit log.
type Entry struct {
	At        time.Time // when it was sent or done (UTC)
	Kind      string    // a trigger's kind, KindLapse or KindAudit
	MessageID string    // the message's id (a retry writes the same entry); the request's for an action

	// An alert or trigger: whom for, why in words, the numbers behind it, and the queue it went to
	// (topology's logical name: Triggers, Alerts). An action's ProfileID is the profile its path
	// names, if any (also among its Targets), by which an erasure finds it.
	ProfileID string
	Reason    string
	Facts     map[string]float64
	Channel   string

	// An action: the route (API Gateway's route key, "POST /v1/profiles/{profileId}/split"), the
	// ids it named (path parameters and the ids the answer named), who did it (the key's id:
	// "user:<name>" for a console user, "key_…" for a profile-API key, and the key's name) and how
	// it ended (the HTTP status and its text).
	Route   string
	Targets map[string]string
	KeyID   string
	KeyName string
	Status  int
	Outcome string
}

// Day is the UTC day of t, as entries are partitioned by: YYYY-MM-DD.
func Day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// ParseDay reads a day (YYYY-MM-DD, a real date).
func ParseDay(s string) (time.Time, error) {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil || d.Format(time.DateOnly) != s {
		return time.Time{}, fmt.Errorf("day %q: want a date as YYYY-MM-DD", s)
	}
	return d, nil
}

// timeKey is the fixed-width time of a sort key, so that keys sort as times do.
const timeKey = "2006-01-02T15:04:05.000000000Z"

// PartitionKey is the partition of a kind's day: "<kind>#<day>".
func PartitionKey(kind, day string) string { return kind + "#" + day }

// SortKey orders a kind's day: "<fixed-width UTC time>#<message id>". The same message at the same
// time is the same key, so writing it again (a retried run) replaces the entry.
func SortKey(at time.Time, messageID string) string {
	return at.UTC().Format(timeKey) + "#" + messageID
}

// Keys are the entry's partition and sort keys.
func (e Entry) Keys() (partition, sort string) {
	return PartitionKey(e.Kind, Day(e.At)), SortKey(e.At, e.MessageID)
}

// ParseSortKey reads the time and message id of a sort key.
func ParseSortKey(key string) (time.Time, string, error) {
	at, id, ok := strings.Cut(key, "#")
	t, err := time.Parse(timeKey, at)
	if !ok || err != nil || id == "" {
		return time.Time{}, "", fmt.Errorf("sort key %q: want <time>#<message id>", key)
	}
	return t, id, nil
}

// IsAlertKind tells whether kind is one of AlertKinds.
func IsAlertKind(kind string) bool { return slices.Contains(AlertKinds, kind) }

// Validate checks what every reader relies on: a time, a known kind, a message id, and for an
// alert a profile id and a reason, for an action a route, a caller and a status.
func (e Entry) Validate() error {
	switch {
	case e.At.IsZero():
		return fmt.Errorf("%w: no time", ErrInvalid)
	case e.MessageID == "" || len(e.MessageID) > MaxID || strings.Contains(e.MessageID, "#"):
		return fmt.Errorf("%w: message id %q: want 1 to %d bytes without #", ErrInvalid, e.MessageID, MaxID)
	case e.Kind == KindAudit:
		if e.Route == "" || e.KeyID == "" || e.Status < 100 || e.Status > 599 {
			return fmt.Errorf("%w: an action without a route, a caller or a status", ErrInvalid)
		}
		if len(e.Targets) > MaxTargets || len(e.ProfileID) > MaxID {
			return fmt.Errorf("%w: an action naming %d ids, at most %d", ErrInvalid, len(e.Targets), MaxTargets)
		}
	case IsAlertKind(e.Kind):
		if e.ProfileID == "" || len(e.ProfileID) > MaxID || e.Reason == "" {
			return fmt.Errorf("%w: an alert without a profile id or a reason", ErrInvalid)
		}
		for k, v := range e.Facts {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("%w: fact %s is %v", ErrInvalid, k, v)
			}
		}
	default:
		return fmt.Errorf("%w: unknown kind %q", ErrInvalid, e.Kind)
	}
	return nil
}

// FromTrigger is the entry of a trigger.fired message sent to the queue named channel: its reason
// as the rules said it, and the numbers of its kind (a basket's items and value, the products
// browsed).
func FromTrigger(m message.TriggerFired, channel string) Entry {
	e := Entry{At: m.FiredAt.UTC(), Kind: m.Kind, MessageID: m.MessageID, ProfileID: m.ProfileID,
		Reason: bounded(m.Reason), Channel: channel}
	switch {
	case m.Basket != nil:
		// items as the reason counts them: the basket's lines
		e.Facts = map[string]float64{"items": float64(len(m.Basket.Items)), "value": m.Basket.Value}
	case len(m.Products) > 0:
		e.Facts = map[string]float64{"products": float64(len(m.Products))}
	}
	return e
}

// FromLapse is the entry of a lapse alert sent to the queue named channel, with the threshold its
// risk crossed (the score function's setting, which the message does not carry).
func FromLapse(l message.Lapse, threshold float64, channel string) Entry {
	return Entry{At: l.RaisedAt.UTC(), Kind: KindLapse, MessageID: l.AlertID, ProfileID: l.ProfileID, Channel: channel,
		Reason: bounded(fmt.Sprintf("%s; alerts at a risk of %.2f or more", l.Reason, threshold)),
		Facts:  map[string]float64{"risk": round(l.Risk), "threshold": threshold, "pAlive": round(l.PAlive), "value": l.Value}}
}

func round(f float64) float64 { return math.Round(f*1e4) / 1e4 }

// bounded cuts a reason at MaxReason bytes, on a character's boundary.
func bounded(s string) string {
	if len(s) <= MaxReason {
		return s
	}
	cut := MaxReason - len("…")
	for cut > 0 && !isBoundary(s, cut) {
		cut--
	}
	return s[:cut] + "…"
}

func isBoundary(s string, i int) bool { return i >= len(s) || s[i]&0xC0 != 0x80 }
