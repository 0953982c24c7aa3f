package profilestore

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// DefaultTouchpointTTL is how long after it happened an event stays in a profile's history unless
// WithTouchpointTTL says otherwise. Purchases never expire.
const DefaultTouchpointTTL = 395 * 24 * time.Hour

// MinTouchpointKeep is how long after it was recorded a touchpoint is kept at least, whatever its
// event's age: the history is what recognises an event sent again, so an import of old events
// replayed within this time still counts each once.
const MinTouchpointKeep = 90 * 24 * time.Hour

// MaxTouchpointProperties bounds the properties kept with a touchpoint, in bytes of JSON.
const MaxTouchpointProperties = 4096

// History paging limits.
const (
	DefaultHistoryLimit = 50
	MaxHistoryLimit     = 500
)

// ErrBadCursor is returned by History for a cursor it did not make.
var ErrBadCursor = errors.New("cursor is not one this API returned")

// WithTouchpointTTL sets how long after it happened an event stays in a profile's history
// (default DefaultTouchpointTTL). Purchases are kept whatever it is.
func WithTouchpointTTL(d time.Duration) Option { return func(s *Store) { s.touchTTL = d } }

// Touchpoint is one event in a profile's history.
type Touchpoint struct {
	ProfileID string    `json:"profileId"` // the profile it was recorded on (the live one or one merged into it)
	MessageID string    `json:"messageId"`
	Type      string    `json:"type"`            // beacon type: track, page, identify …
	Event     string    `json:"event,omitempty"` // track: the event name; page, screen: the page
	At        time.Time `json:"timestamp"`
	Channel   string    `json:"channel,omitempty"`
	// Properties are the event's properties, whole when they fit in MaxTouchpointProperties bytes;
	// otherwise as many top-level fields as fit, in name order, and PropertiesTruncated is set.
	Properties          json.RawMessage `json:"properties,omitempty"`
	PropertiesTruncated bool            `json:"propertiesTruncated,omitempty"`
	Purchase            bool            `json:"purchase,omitempty"`
	OrderID             string          `json:"orderId,omitempty"`
	Revenue             float64         `json:"revenue,omitempty"`
	ExpiresAt           *time.Time      `json:"expiresAt,omitempty"` // nil: kept (purchases)
}

// touchpointItem is a row of the Touchpoints table. Sort key: touchKey(at, messageId).
type touchpointItem struct {
	ProfileID  string    `dynamo:"profileId,hash"`
	Key        string    `dynamo:"at,range"`
	MessageID  string    `dynamo:"messageId"`
	Type       string    `dynamo:"type"`
	Event      string    `dynamo:"event,omitempty"`
	Timestamp  time.Time `dynamo:"timestamp"`
	Channel    string    `dynamo:"channel,omitempty"`
	Properties string    `dynamo:"properties,omitempty"` // JSON
	Truncated  bool      `dynamo:"propertiesTruncated,omitempty"`
	Purchase   bool      `dynamo:"purchase,omitempty"`
	OrderID    string    `dynamo:"orderId,omitempty"`
	Revenue    float64   `dynamo:"revenue,omitempty"`
	ExpiresAt  time.Time `dynamo:"expiresAt,unixtime,omitempty"` // absent for purchases: never expires
	Activity   string    `dynamo:"activity,omitempty"`           // JSON activityRecord
}

// activityRecord is what a touchpoint keeps of its activity beyond its own fields, so that a
// profile can be derived again from its history (Split). Short names keep the item small: one is
// written for every event.
type activityRecord struct {
	AnonymousID string           `json:"a,omitempty"`
	UserID      string           `json:"u,omitempty"`
	PreviousID  string           `json:"pv,omitempty"`
	GroupID     string           `json:"g,omitempty"`
	Traits      map[string]any   `json:"t,omitempty"`
	Campaign    profile.Campaign `json:"c,omitzero"`
	Page        string           `json:"p,omitempty"`
	Engaged     int              `json:"e,omitempty"`
	Products    []lineRecord     `json:"l,omitempty"`
	FormID      string           `json:"f,omitempty"`
	Consent     map[string]bool  `json:"k,omitempty"`
}

type lineRecord struct {
	ProductID string  `json:"i"`
	Quantity  int     `json:"q"`
	Price     float64 `json:"p,omitempty"`
	Category  string  `json:"c,omitempty"`
}

func recordActivity(a profile.Activity) string {
	r := activityRecord{AnonymousID: a.AnonymousID, UserID: a.UserID, PreviousID: a.PreviousID, GroupID: a.GroupID,
		Traits: a.Traits, Campaign: a.Campaign, Page: a.Page, Engaged: a.Engaged, FormID: a.FormID}
	for purpose, c := range a.Consent {
		if r.Consent == nil {
			r.Consent = map[string]bool{}
		}
		r.Consent[purpose] = c.Granted
	}
	for _, l := range a.Products {
		r.Products = append(r.Products, lineRecord(l))
	}
	b, err := json.Marshal(r)
	if err != nil { // traits that do not encode: keep the rest
		r.Traits = nil
		b, _ = json.Marshal(r)
	}
	return string(b)
}

// activity derives the touchpoint's activity again. ok is false for a touchpoint written before
// touchpoints kept their activity.
func (it touchpointItem) activity() (profile.Activity, bool) {
	var r activityRecord
	if it.Activity == "" || json.Unmarshal([]byte(it.Activity), &r) != nil {
		return profile.Activity{}, false
	}
	a := profile.Activity{
		MessageID: it.MessageID, Type: it.Type, At: it.Timestamp, Channel: it.Channel, OrderID: it.OrderID, Revenue: it.Revenue,
		AnonymousID: r.AnonymousID, UserID: r.UserID, PreviousID: r.PreviousID, GroupID: r.GroupID, Traits: r.Traits,
		Campaign: r.Campaign, Page: r.Page, Engaged: r.Engaged, FormID: r.FormID,
	}
	if it.Type == beacon.Track {
		a.Event = it.Event
	}
	for _, l := range r.Products {
		a.Products = append(a.Products, profile.Line(l))
	}
	for purpose, granted := range r.Consent {
		if a.Consent == nil {
			a.Consent = map[string]profile.Consent{}
		}
		a.Consent[purpose] = profile.Consent{Granted: granted, At: a.At, Source: profile.EventSource}
	}
	return a, true
}

// keyTime is RFC 3339 with nanoseconds at a fixed width, so that keys sort as times do
// (time.RFC3339Nano drops trailing zeros, which breaks the order).
const keyTime = "2006-01-02T15:04:05.000000000Z07:00"

func touchKey(at time.Time, messageID string) string {
	return at.UTC().Format(keyTime) + "#" + messageID
}

// historyKey is the sort key of an activity's touchpoint. It is made of the sender's own time
// when it gave one, which is the same every time the event is sent again (the corrected time is
// not: it moves with when the event was received), so that the key finds a repeat.
func historyKey(a profile.Activity) string {
	if a.ClientAt.IsZero() {
		return touchKey(a.At, a.MessageID)
	}
	return touchKey(a.ClientAt, a.MessageID)
}

// ledgerItem is the dedup record of an event whose time the endpoint assigned (its sender gave
// none): its touchpoint's key would change if it were sent again, so its message id is recorded on
// its own, in the Touchpoints table under partition "msg#<messageId>". It holds nothing about the
// person and expires with the history.
type ledgerItem struct {
	Key       string    `dynamo:"profileId,hash"` // "msg#<messageId>"
	Sort      string    `dynamo:"at,range"`       // "-"
	MessageID string    `dynamo:"messageId"`
	ExpiresAt time.Time `dynamo:"expiresAt,unixtime"`
}

func ledgerKey(messageID string) dynamo.Keys { return dynamo.Keys{"msg#" + messageID, "-"} }

// ledger returns the dedup record of an activity that needs one (see ledgerItem).
func (s *Store) ledger(a profile.Activity) (ledgerItem, bool) {
	if !a.ClientAt.IsZero() {
		return ledgerItem{}, false
	}
	return ledgerItem{Key: "msg#" + a.MessageID, Sort: "-", MessageID: a.MessageID, ExpiresAt: s.now().UTC().Add(s.touchTTL)}, true
}

// touchpoint makes the history item of an activity recorded on profileID.
func (s *Store) touchpoint(profileID string, a profile.Activity, properties json.RawMessage) touchpointItem {
	it := touchpointItem{
		ProfileID: profileID, Key: historyKey(a), MessageID: a.MessageID, Type: a.Type,
		Event: cmp.Or(a.Event, a.Page), Timestamp: a.At.UTC(), Channel: a.Channel,
		Purchase: isPurchase(a), OrderID: a.OrderID, Revenue: a.Revenue,
	}
	props, truncated := boundProperties(properties, MaxTouchpointProperties)
	it.Properties, it.Truncated, it.Activity = string(props), truncated, recordActivity(a)
	if !it.Purchase {
		it.ExpiresAt = a.At.UTC().Add(s.touchTTL)
		if keep := s.now().UTC().Add(MinTouchpointKeep); it.ExpiresAt.Before(keep) {
			it.ExpiresAt = keep
		}
	}
	return it
}

// isPurchase tells whether an activity is an "Order Completed" event (in any of its spellings).
func isPurchase(a profile.Activity) bool {
	if a.Type != beacon.Track {
		return false
	}
	key := strings.Map(func(r rune) rune {
		if r == ' ' || r == '_' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, strings.ToLower(a.Event))
	return key == "ordercompleted"
}

// boundProperties returns properties compacted, whole if they fit in limit bytes; an object that
// does not fit keeps the top-level fields that do, in name order (and reports it truncated);
// anything else that does not fit, or is not JSON, is dropped (truncated).
func boundProperties(raw json.RawMessage, limit int) (json.RawMessage, bool) {
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
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	out := []byte{'{'}
	for _, k := range names {
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

func (it touchpointItem) touchpoint() Touchpoint {
	t := Touchpoint{
		ProfileID: it.ProfileID, MessageID: it.MessageID, Type: it.Type, Event: it.Event, At: it.Timestamp,
		Channel: it.Channel, PropertiesTruncated: it.Truncated, Purchase: it.Purchase, OrderID: it.OrderID,
		Revenue: it.Revenue,
	}
	if it.Properties != "" {
		t.Properties = json.RawMessage(it.Properties)
	}
	if !it.ExpiresAt.IsZero() {
		exp := it.ExpiresAt.UTC()
		t.ExpiresAt = &exp
	}
	return t
}

// HistoryQuery selects a page of a profile's history.
type HistoryQuery struct {
	Limit  int    // touchpoints per page: DefaultHistoryLimit when 0, at most MaxHistoryLimit
	Cursor string // from the previous page's HistoryPage.Next; empty for the first page
	Type   string // only touchpoints of this beacon type ("track", "page" …), or "purchase"; empty: all
}

// HistoryPage is a page of history, newest first. Next is empty on the last page.
type HistoryPage struct {
	ProfileID   string       `json:"profileId"`
	Touchpoints []Touchpoint `json:"touchpoints"`
	Next        string       `json:"nextCursor,omitempty"`
}

// cursor is the key of the last touchpoint of a page.
type cursor struct {
	ProfileID string `json:"p"`
	Key       string `json:"k"`
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.Key == "" || c.ProfileID == "" {
		return c, fmt.Errorf("read cursor: %w", ErrBadCursor)
	}
	return c, nil
}

// after tells whether a key comes after the cursor in history order (newest first; on equal
// keys, profile ids in descending order).
func (c cursor) after(profileID, key string) bool {
	if key != c.Key {
		return key < c.Key
	}
	return profileID < c.ProfileID
}

// History returns a page of the history of the person that profile id belongs to: the touchpoints
// recorded on the live profile and on every profile merged into it, newest first. It returns
// profile.ErrNotFound for an unknown id, ErrBadCursor for a cursor it did not make.
func (s *Store) History(ctx context.Context, id string, q HistoryQuery) (HistoryPage, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultHistoryLimit
	}
	limit = min(limit, MaxHistoryLimit)
	var c *cursor
	if q.Cursor != "" {
		cur, err := decodeCursor(q.Cursor)
		if err != nil {
			return HistoryPage{}, err
		}
		c = &cur
	}
	p, err := s.Profile(ctx, id)
	if err != nil {
		return HistoryPage{}, err
	}
	var all []touchpointItem
	for _, pid := range append([]string{p.ID}, p.MergedFrom...) {
		items, err := s.touchpoints(ctx, pid, c, q.Type, limit+1)
		if err != nil {
			return HistoryPage{}, err
		}
		all = append(all, items...)
	}
	slices.SortFunc(all, func(a, b touchpointItem) int {
		return cmp.Or(strings.Compare(b.Key, a.Key), strings.Compare(b.ProfileID, a.ProfileID))
	})
	page := HistoryPage{ProfileID: p.ID, Touchpoints: []Touchpoint{}}
	for i, it := range all {
		if i == limit {
			last := all[i-1]
			page.Next = cursor{ProfileID: last.ProfileID, Key: last.Key}.encode()
			break
		}
		page.Touchpoints = append(page.Touchpoints, it.touchpoint())
	}
	return page, nil
}

// touchpoints reads up to limit touchpoints of one profile, newest first, after c (if any), of
// the given type (if any); limit 0 reads them all.
func (s *Store) touchpoints(ctx context.Context, profileID string, c *cursor, typ string, limit int) ([]touchpointItem, error) {
	if s.touchpointTable == "" {
		return nil, fmt.Errorf("read history of %s: no touchpoint table configured", profileID)
	}
	q := s.touch.Get("profileId", profileID).Order(dynamo.Descending).Consistent(true)
	if c != nil {
		// Keys equal to the cursor's (another profile's touchpoint of the same instant and message)
		// come after it only on profiles ordered below the cursor's.
		if profileID < c.ProfileID {
			q = q.Range("at", dynamo.LessOrEqual, c.Key)
		} else {
			q = q.Range("at", dynamo.Less, c.Key)
		}
	}
	switch typ {
	case "":
	case "purchase":
		q = q.Filter("'purchase' = ?", true)
	default:
		q = q.Filter("'type' = ?", typ)
	}
	if limit > 0 {
		q = q.Limit(limit)
	}
	var items []touchpointItem
	if err := q.All(ctx, &items); err != nil {
		return nil, fmt.Errorf("read history of %s: %w", profileID, err)
	}
	if c != nil {
		items = slices.DeleteFunc(items, func(it touchpointItem) bool { return !c.after(it.ProfileID, it.Key) })
	}
	return items, nil
}
