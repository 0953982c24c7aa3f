// Package history is a person's event history: one touchpoint per event recorded on a profile. The
// history is what the profile API pages and an export hands over, what a split derives profiles
// again from, and what tells an event sent again from a new one.
//
// Rules:
//
//   - A touchpoint's key is the time its sender gave the event (originalTimestamp, or timestamp)
//     and its message id: the same every time the event is sent again, whereas the time corrected
//     for the sender's clock moves with when it was received. An event sent without a time of its
//     own is keyed by its corrected time, and gets a Receipt of its message id beside it, so that
//     it is still recognised when sent again.
//   - A touchpoint expires TTL after its event happened, but is kept at least MinKeep after it was
//     recorded (an import of old events replayed within that time still counts each event once);
//     purchases never expire.
//   - Its properties are kept whole up to MaxProperties bytes of JSON; beyond, as many top-level
//     fields as fit, in name order, and it says so (PropertiesTruncated).
//   - It keeps what its activity says beyond its own fields, so that the profile it was recorded
//     on can be derived again (Derivable); only what the stream carries is kept (the sender's own
//     time is in the key).
//   - Pages read newest first: by key, descending, then by profile id, descending.
package history

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/calendar"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// DefaultTTL is how long after it happened an event stays in a profile's history unless the
// deployment says otherwise. Purchases and refunds never expire (they are the revenue).
const DefaultTTL = 395 * calendar.Day

// MinKeep is how long after it was recorded a touchpoint is kept at least, whatever its event's
// age: the history is what recognises an event sent again.
const MinKeep = 90 * calendar.Day

// MaxProperties bounds the properties kept with a touchpoint, in bytes of JSON.
const MaxProperties = 4096

// Paging limits.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Purchases and Impressions are the Query.Types that select purchases and impressions.
const (
	Purchases   = "purchase"
	Impressions = "impression"
)

// ErrBadCursor is returned for a cursor this package did not make.
var ErrBadCursor = errors.New("cursor is not one this API returned")

// Touchpoint is one event in a profile's history.
type Touchpoint struct {
	ProfileID string // the profile it was recorded on (the live one or one merged into it)
	Sort      string // its key within the profile (see Key)
	MessageID string
	Type      string // beacon type: track, page, identify …
	Event     string // track: the event name; page, screen: the page
	At        time.Time
	Channel   string
	// Impression is the kind of impression the event was (profile.ImpressionOpen …), "" for
	// activity on a site or an app: with Channel, the time and the activity's campaign, what
	// attribution reads of the emails and ads a person met.
	Impression string
	// Properties are the event's properties, compact JSON, bounded (see MaxProperties).
	Properties          json.RawMessage
	PropertiesTruncated bool
	Purchase            bool
	OrderID             string
	Revenue             float64
	ExpiresAt           time.Time // zero: kept (purchases)
	// Activity is the event as it bears on a profile, without the sender's own time; zero for a
	// touchpoint written before touchpoints kept their activity (see Derivable).
	Activity profile.Activity
}

// Key identifies a touchpoint: the profile it is on and its key within the profile.
type Key struct {
	ProfileID string
	Sort      string
}

// Key returns the touchpoint's key.
func (t Touchpoint) Key() Key { return Key{ProfileID: t.ProfileID, Sort: t.Sort} }

// Derivable tells whether the touchpoint keeps its activity, so that a profile can be derived
// again from it.
func (t Touchpoint) Derivable() bool { return t.Activity.MessageID != "" }

// keyTime is RFC 3339 with nanoseconds at a fixed width, so that keys sort as times do
// (time.RFC3339Nano drops trailing zeros, which breaks the order).
const keyTime = "2006-01-02T15:04:05.000000000Z07:00"

// FormatTime writes a time so that the text sorts as the times do.
func FormatTime(t time.Time) string { return t.UTC().Format(keyTime) }

// ParseTime reads a time FormatTime wrote.
func ParseTime(s string) (time.Time, error) { return time.Parse(keyTime, s) }

// SortKey is the key within its profile of the touchpoint of activity a (see the package comment).
func SortKey(a profile.Activity) string {
	at := a.ClientAt
	if at.IsZero() {
		at = a.At
	}
	return FormatTime(at) + "#" + a.MessageID
}

// Receipt records that an event sent without a time of its own was recorded: its touchpoint's key
// would change if it were sent again. It holds nothing about the person.
type Receipt struct {
	MessageID string
	ExpiresAt time.Time
}

// NeedsReceipt tells whether recording a needs a receipt to recognise it when it is sent again.
func NeedsReceipt(a profile.Activity) bool { return a.ClientAt.IsZero() }

// Retention says how long touchpoints are kept.
type Retention struct {
	TTL time.Duration // after the event happened (DefaultTTL when 0)
}

func (r Retention) ttl() time.Duration { return cmp.Or(r.TTL, DefaultTTL) }

// Receipt returns the receipt of activity a, recorded at now.
func (r Retention) Receipt(a profile.Activity, now time.Time) Receipt {
	return Receipt{MessageID: a.MessageID, ExpiresAt: now.UTC().Add(r.ttl()).Truncate(time.Second)}
}

// Touchpoint makes the touchpoint of activity a recorded on profileID at now, with the event's
// properties as sent. Times are UTC, its expiry whole seconds.
func (r Retention) Touchpoint(profileID string, a profile.Activity, properties json.RawMessage, now time.Time) Touchpoint {
	t := Touchpoint{
		ProfileID: profileID, Sort: SortKey(a), MessageID: a.MessageID, Type: a.Type,
		Event: cmp.Or(a.Event, a.Page), At: a.At.UTC(), Channel: a.Channel, Impression: a.Impression,
		Purchase: profile.IsPurchase(a), OrderID: a.OrderID, Revenue: a.Revenue, Activity: kept(a),
	}
	t.Properties, t.PropertiesTruncated = Bound(properties, MaxProperties)
	if !t.Purchase && !profile.IsRefund(a) {
		t.ExpiresAt = later(t.At.Add(r.ttl()), now.UTC().Add(MinKeep)).Truncate(time.Second)
	}
	return t
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// kept is what a touchpoint keeps of its activity: all but the sender's own time, in UTC, with
// empty collections left out, traits within the bounds a profile keeps them in
// (profile.BoundTraits) and consent as events give it.
func kept(a profile.Activity) profile.Activity {
	a.ClientAt, a.At = time.Time{}, a.At.UTC()
	if a.Type != beacon.Track {
		a.Event = ""
	}
	if a.Traits = profile.BoundTraits(a.Traits); len(a.Traits) == 0 {
		a.Traits = nil
	}
	if len(a.Products) == 0 {
		a.Products = nil
	}
	if len(a.Consent) == 0 {
		a.Consent = nil
	} else {
		c := make(map[string]profile.Consent, len(a.Consent))
		for purpose, answer := range a.Consent {
			c[purpose] = profile.Consent{Granted: answer.Granted, At: a.At, Source: profile.EventSource}
		}
		a.Consent = c
	}
	return a
}

// Bound returns properties compacted, whole if they fit in limit bytes; an object that does not
// fit keeps the top-level fields that do, in name order (and reports it truncated); anything else
// that does not fit, or is not JSON, is dropped (truncated).
func Bound(raw json.RawMessage, limit int) (json.RawMessage, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, true
	}
	if buf.Len() <= limit {
		return buf.Bytes(), false
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &fields); err != nil {
		return nil, true
	}
	out := []byte{'{'}
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		name, _ := json.Marshal(k)
		entry := append(append(name, ':'), fields[k]...)
		if len(out)+len(entry)+2 > limit { // a comma and the closing brace
			continue
		}
		if len(out) > 1 {
			out = append(out, ',')
		}
		out = append(out, entry...)
	}
	return append(out, '}'), true
}

// Newest orders touchpoints newest first (by key, descending, then by profile id, descending).
func Newest(a, b Touchpoint) int {
	return cmp.Or(strings.Compare(b.Sort, a.Sort), strings.Compare(b.ProfileID, a.ProfileID))
}

// Query selects a page of a profile's history.
type Query struct {
	Limit  int    // touchpoints per page: DefaultLimit when 0, at most MaxLimit
	Cursor string // from the previous page's Page.Next; empty for the first page
	Type   string // only touchpoints of this beacon type ("track", "page" …), Purchases or Impressions; empty: all
}

// Size is the number of touchpoints a page of the query holds at most.
func (q Query) Size() int {
	if q.Limit <= 0 {
		return DefaultLimit
	}
	return min(q.Limit, MaxLimit)
}

// Matches tells whether a touchpoint is of the type a query selects.
func Matches(t Touchpoint, typ string) bool {
	switch typ {
	case "":
		return true
	case Purchases:
		return t.Purchase
	case Impressions:
		return t.Impression != ""
	}
	return t.Type == typ
}

// Page is a page of history, newest first. Next is empty on the last page.
type Page struct {
	ProfileID   string
	Touchpoints []Touchpoint
	Next        string
}

// Cursor is where a page ended: the key of its last touchpoint.
type Cursor Key

// Encode returns the cursor as the opaque text pages hand out.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(struct {
		P string `json:"p"`
		K string `json:"k"`
	}{c.ProfileID, c.Sort})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor reads a cursor Encode wrote, or returns ErrBadCursor.
func DecodeCursor(s string) (Cursor, error) {
	var c struct {
		P string `json:"p"`
		K string `json:"k"`
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.K == "" || c.P == "" {
		return Cursor{}, fmt.Errorf("read cursor: %w", ErrBadCursor)
	}
	return Cursor{ProfileID: c.P, Sort: c.K}, nil
}

// Precedes tells whether the cursor comes before touchpoint key k in history order, so that k
// belongs to a later page.
func (c Cursor) Precedes(k Key) bool {
	if k.Sort != c.Sort {
		return k.Sort < c.Sort
	}
	return k.ProfileID < c.ProfileID
}
