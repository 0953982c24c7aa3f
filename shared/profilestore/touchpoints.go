package profilestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// TouchpointTable is the Touchpoints table: one item per touchpoint (history.Touchpoint), keyed by
// profile id and the touchpoint's sort key, expiring by its TTL attribute; and the receipts of
// events sent without a time of their own (history.Receipt), under partition "msg#<messageId>".
type TouchpointTable struct {
	table dynamo.Table
	name  string // empty when the store keeps no history
}

// touchpointItem is a row of the Touchpoints table.
type touchpointItem struct {
	ProfileID  string    `dynamo:"profileId,hash"`
	Key        string    `dynamo:"at,range"`
	MessageID  string    `dynamo:"messageId"`
	Type       string    `dynamo:"type"`
	Event      string    `dynamo:"event,omitempty"`
	Timestamp  time.Time `dynamo:"timestamp"`
	Channel    string    `dynamo:"channel,omitempty"`
	Impression string    `dynamo:"impression,omitempty"` // the kind of impression; absent for activity
	Properties string    `dynamo:"properties,omitempty"` // JSON
	Truncated  bool      `dynamo:"propertiesTruncated,omitempty"`
	Purchase   bool      `dynamo:"purchase,omitempty"`
	OrderID    string    `dynamo:"orderId,omitempty"`
	Revenue    float64   `dynamo:"revenue,omitempty"`
	ExpiresAt  time.Time `dynamo:"expiresAt,unixtime,omitempty"` // absent for purchases: never expires
	Activity   string    `dynamo:"activity,omitempty"`           // JSON activityRecord
}

// activityRecord is what a touchpoint keeps of its activity beyond its own fields. Short names
// keep the item small: one is written for every event.
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

func touchpointRow(t history.Touchpoint) touchpointItem {
	it := touchpointItem{
		ProfileID: t.ProfileID, Key: t.Sort, MessageID: t.MessageID, Type: t.Type, Event: t.Event,
		Timestamp: t.At.UTC(), Channel: t.Channel, Impression: t.Impression, Properties: string(t.Properties), Truncated: t.PropertiesTruncated,
		Purchase: t.Purchase, OrderID: t.OrderID, Revenue: t.Revenue, ExpiresAt: t.ExpiresAt,
	}
	if t.Derivable() {
		it.Activity = recordActivity(t.Activity)
	}
	return it
}

func (it touchpointItem) touchpoint() history.Touchpoint {
	t := history.Touchpoint{
		ProfileID: it.ProfileID, Sort: it.Key, MessageID: it.MessageID, Type: it.Type, Event: it.Event,
		At: it.Timestamp, Channel: it.Channel, Impression: it.impression(), PropertiesTruncated: it.Truncated, Purchase: it.Purchase,
		OrderID: it.OrderID, Revenue: it.Revenue,
	}
	if it.Properties != "" {
		t.Properties = json.RawMessage(it.Properties)
	}
	if !it.ExpiresAt.IsZero() {
		t.ExpiresAt = it.ExpiresAt.UTC()
	}
	t.Activity, _ = it.activity()
	return t
}

// impression is the kind of impression the touchpoint is. One written before impressions were
// recorded is one when its name says so (an email open of an email tool; not one loaded through the
// pixel, which it did not note).
func (it touchpointItem) impression() string {
	if it.Impression == "" && it.Type == beacon.Track {
		return profile.ImpressionNamed(it.Event)
	}
	return it.Impression
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
		Campaign: r.Campaign, Page: r.Page, Engaged: r.Engaged, FormID: r.FormID, Impression: it.impression(),
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

// receiptItem is a history.Receipt as stored: in the Touchpoints table, so that it expires with
// the history, under a partition of its own. It holds nothing about the person.
type receiptItem struct {
	Key       string    `dynamo:"profileId,hash"` // "msg#<messageId>"
	Sort      string    `dynamo:"at,range"`       // "-"
	MessageID string    `dynamo:"messageId"`
	ExpiresAt time.Time `dynamo:"expiresAt,unixtime"`
}

func receiptKey(messageID string) dynamo.Keys { return dynamo.Keys{"msg#" + messageID, "-"} }

func (t *TouchpointTable) configured() error {
	if t.name == "" {
		return errors.New("the store has no Touchpoints table")
	}
	return nil
}

// Append implements recording.Histories. A store without a Touchpoints table writes nothing.
func (t *TouchpointTable) Append(ctx context.Context, ts []history.Touchpoint, receipts []history.Receipt) error {
	if t.name == "" || len(ts)+len(receipts) == 0 {
		return nil
	}
	items := make([]any, 0, len(ts)+len(receipts))
	for _, tp := range ts {
		items = append(items, touchpointRow(tp))
	}
	for _, r := range receipts {
		items = append(items, receiptItem{Key: "msg#" + r.MessageID, Sort: "-", MessageID: r.MessageID, ExpiresAt: r.ExpiresAt})
	}
	if _, err := t.table.Batch("profileId", "at").Write().Put(items...).Run(ctx); err != nil {
		return writeErr(err, "write touchpoints") // a touchpoint past the item limit: ErrRejected
	}
	return nil
}

// Recorded implements recording.Histories. A store without a Touchpoints table finds nothing.
func (t *TouchpointTable) Recorded(ctx context.Context, keys []history.Key, receipts []string) (map[string]bool, error) {
	found := map[string]bool{}
	if t.name == "" || len(keys)+len(receipts) == 0 {
		return found, nil
	}
	// BatchGetItem refuses a key given twice (a batch may hold an event twice).
	seen := map[dynamo.Keys]bool{}
	ks := make([]dynamo.Keyed, 0, len(keys)+len(receipts))
	add := func(k dynamo.Keys) {
		if !seen[k] {
			seen[k] = true
			ks = append(ks, k)
		}
	}
	for _, k := range keys {
		add(dynamo.Keys{k.ProfileID, k.Sort})
	}
	for _, id := range receipts {
		add(receiptKey(id))
	}
	var items []touchpointItem
	err := t.table.Batch("profileId", "at").Get(ks...).Project("profileId", "at", "messageId").Consistent(true).All(ctx, &items)
	if err != nil && !errors.Is(err, dynamo.ErrNotFound) {
		return nil, fmt.Errorf("read touchpoints: %w", err)
	}
	for _, it := range items {
		found[it.MessageID] = true
	}
	return found, nil
}

// Touchpoints implements recording.Histories.
func (t *TouchpointTable) Touchpoints(ctx context.Context, id string, after *history.Cursor, typ string, limit int) ([]history.Touchpoint, error) {
	if err := t.configured(); err != nil {
		return nil, err
	}
	q := t.table.Get("profileId", id).Order(dynamo.Descending).Consistent(true)
	if after != nil {
		// Keys equal to the cursor's (another profile's touchpoint of the same instant and message)
		// come after it only on profiles ordered below the cursor's.
		if id < after.ProfileID {
			q = q.Range("at", dynamo.LessOrEqual, after.Sort)
		} else {
			q = q.Range("at", dynamo.Less, after.Sort)
		}
	}
	switch typ {
	case "":
	case history.Purchases:
		q = q.Filter("'purchase' = ?", true)
	case history.Impressions:
		q = q.Filter("attribute_exists('impression')")
	default:
		q = q.Filter("'type' = ?", typ)
	}
	if limit > 0 {
		q = q.Limit(limit)
	}
	var items []touchpointItem
	if err := q.All(ctx, &items); err != nil {
		return nil, fmt.Errorf("read touchpoints of %s: %w", id, err)
	}
	out := make([]history.Touchpoint, 0, len(items))
	for _, it := range items {
		tp := it.touchpoint()
		if after == nil || after.Precedes(tp.Key()) {
			out = append(out, tp)
		}
	}
	return slices.Clip(out), nil
}

// Delete implements recording.Histories.
func (t *TouchpointTable) Delete(ctx context.Context, keys []history.Key) (int, error) {
	if err := t.configured(); err != nil {
		return 0, err
	}
	if len(keys) == 0 {
		return 0, nil
	}
	ks := make([]dynamo.Keyed, len(keys))
	for i, k := range keys {
		ks[i] = dynamo.Keys{k.ProfileID, k.Sort}
	}
	n, err := t.table.Batch("profileId", "at").Write().Delete(ks...).Run(ctx)
	if err != nil {
		return n, fmt.Errorf("delete touchpoints: %w", err)
	}
	return n, nil
}
