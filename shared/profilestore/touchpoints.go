package profilestore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/guregu/dynamo/v2"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/profile"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// TouchpointTable is the Touchpoints table: each profile's history (history.Touchpoint) in
// compressed chunks, an item per profile, UTC day and kind of expiry for each Append (chunks.go),
// keyed by profile id and "<day>~<hash>", expiring with their last touchpoint by the TTL attribute;
// and the receipts of events sent without a time of their own (history.Receipt), under partition
// "msg#<messageId>". Items written before chunks, one per touchpoint keyed by the touchpoint's own
// key (touchpointItem), are read, found and deleted beside the chunks until they expire.
//
// Chunks cost: a write per started KB of compressed chunk instead of one per touchpoint; a Recorded
// or a Delete reads each day it concerns whole (a Query per profile and day); a page of history
// reads whole days. A non-purchase may outlive its own expiry until the last touchpoint of its
// chunk expires, by less than a day (a chunk holds one day's): readers do not drop it, as DynamoDB
// does not drop an expired item at once either, and the engine never relies on expiry.
type TouchpointTable struct {
	table dynamo.Table
	name  string // empty when the store keeps no history
}

// touchpointItem is a touchpoint as an item of its own, as the history was written before chunks;
// and, without its profile id, what a chunk holds of each touchpoint (chunkEntry).
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
	// SalesChannel and Store of an order or a refund, Case of a case event.
	SalesChannel string                `json:"sc,omitempty"`
	Store        string                `json:"st,omitempty"`
	Case         *profile.CaseActivity `json:"cs,omitempty"`
}

type lineRecord struct {
	ProductID string  `json:"i"`
	Quantity  int     `json:"q"`
	Price     float64 `json:"p,omitempty"`
	Category  string  `json:"c,omitempty"`
}

func recordActivity(a profile.Activity) string {
	r := activityRecord{AnonymousID: a.AnonymousID, UserID: a.UserID, PreviousID: a.PreviousID, GroupID: a.GroupID,
		Traits: a.Traits, Campaign: a.Campaign, Page: a.Page, Engaged: a.Engaged, FormID: a.FormID,
		SalesChannel: a.SalesChannel, Store: a.Store, Case: a.Case}
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
		SalesChannel: r.SalesChannel, Store: r.Store, Case: r.Case,
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

// chunkItem is a chunk as stored (chunks.go): the history's items since chunks.
type chunkItem struct {
	ProfileID string    `dynamo:"profileId,hash"`
	Key       string    `dynamo:"at,range"` // "<day>~<hash>"
	Data      []byte    `dynamo:"d"`        // chunk.encode
	Count     int       `dynamo:"n"`
	ExpiresAt time.Time `dynamo:"expiresAt,unixtime,omitempty"` // absent when it holds a purchase
	Revision  int       `dynamo:"v,omitempty"`                  // rewrites by Delete, which it conditions on
}

// historyItem is an item of a profile's history as read: a chunk (Data set) or, written before
// chunks, one touchpoint.
type historyItem struct {
	touchpointItem
	Data     []byte `dynamo:"d"`
	Revision int    `dynamo:"v"`
}

func (it historyItem) isChunk() bool { return len(it.Data) > 0 }

func chunkRow(profileID string, c chunk) (chunkItem, error) {
	data, err := c.encode()
	if err != nil {
		return chunkItem{}, err
	}
	return chunkItem{ProfileID: profileID, Key: c.name(), Data: data, Count: len(c.entries), ExpiresAt: c.expiresAt()}, nil
}

// Append implements recording.Histories: per profile, one chunk per day and kind of expiry (more
// when they are large), and one item per receipt. A store without a Touchpoints table writes
// nothing.
func (t *TouchpointTable) Append(ctx context.Context, ts []history.Touchpoint, receipts []history.Receipt) error {
	if t.name == "" || len(ts)+len(receipts) == 0 {
		return nil
	}
	byProfile := map[string][]history.Touchpoint{}
	for _, tp := range ts {
		byProfile[tp.ProfileID] = append(byProfile[tp.ProfileID], tp)
	}
	items := make([]any, 0, len(byProfile)+len(receipts))
	for _, id := range slices.Sorted(maps.Keys(byProfile)) {
		chunks, err := packChunks(byProfile[id])
		if err != nil {
			return fmt.Errorf("write touchpoints of %s: %w", id, err)
		}
		for _, c := range chunks {
			row, err := chunkRow(id, c)
			if err != nil {
				return fmt.Errorf("write touchpoints of %s: %w", id, err)
			}
			items = append(items, row)
		}
	}
	for _, r := range receipts {
		items = append(items, receiptItem{Key: "msg#" + r.MessageID, Sort: "-", MessageID: r.MessageID, ExpiresAt: r.ExpiresAt})
	}
	if _, err := t.table.Batch("profileId", "at").Write().Put(items...).Run(ctx); err != nil {
		return writeErr(err, "write touchpoints") // an item past DynamoDB's limit: ErrRejected
	}
	return nil
}

// dayRef names the items of one day of a profile's history.
type dayRef struct{ profileID, day string }

// byDay groups touchpoint keys by profile and day; keys that name no day (history.SortKey makes
// none) are left out: nothing is stored under them.
func byDay(keys []history.Key) map[dayRef]map[string]bool {
	out := map[dayRef]map[string]bool{}
	for _, k := range keys {
		day := touchpointDay(k.Sort)
		if day == "" {
			continue
		}
		ref := dayRef{k.ProfileID, day}
		if out[ref] == nil {
			out[ref] = map[string]bool{}
		}
		out[ref][k.Sort] = true
	}
	return out
}

// readDay reads, consistently, every item of one day of a profile's history: its chunks and its
// touchpoints stored one per item.
func (t *TouchpointTable) readDay(ctx context.Context, ref dayRef, project ...string) ([]historyItem, error) {
	q := t.table.Get("profileId", ref.profileID).Range("at", dynamo.Between, ref.day+"T", ref.day+string(chunkMark)+"\x7f").Consistent(true)
	if len(project) > 0 {
		q = q.Project(project...)
	}
	var items []historyItem
	if err := q.All(ctx, &items); err != nil {
		return nil, fmt.Errorf("read history of %s on %s: %w", ref.profileID, ref.day, err)
	}
	return items, nil
}

// eachDay runs fn on every day of refs, a few at a time, and returns the first error.
func eachDay[T any](refs map[dayRef]T, fn func(dayRef, T) error) error {
	const parallel = 8
	sem := make(chan struct{}, parallel)
	errs := make(chan error, len(refs))
	for ref, v := range refs {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			errs <- fn(ref, v)
		}()
	}
	var first error
	for range refs {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// Recorded implements recording.Histories: one consistent Query per profile and day of the keys
// (the day's chunks and older items at once), one BatchGetItem for the receipts. A store without a
// Touchpoints table finds nothing.
func (t *TouchpointTable) Recorded(ctx context.Context, keys []history.Key, receipts []string) (map[string]bool, error) {
	found := map[string]bool{}
	if t.name == "" || len(keys)+len(receipts) == 0 {
		return found, nil
	}
	var mu sync.Mutex
	err := eachDay(byDay(keys), func(ref dayRef, wanted map[string]bool) error {
		items, err := t.readDay(ctx, ref, "at", "messageId", "d")
		if err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		for _, it := range items {
			if !it.isChunk() {
				if wanted[it.Key] {
					found[it.MessageID] = true
				}
				continue
			}
			keys, err := chunkKeys(it.Data)
			if err != nil {
				return fmt.Errorf("read history of %s: chunk %s: %w", ref.profileID, it.Key, err)
			}
			for _, k := range keys {
				if wanted[k.Key] {
					found[k.messageID()] = true
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(receipts) == 0 {
		return found, nil
	}
	// BatchGetItem refuses a key given twice (a batch may hold an event twice).
	seen := map[string]bool{}
	ks := make([]dynamo.Keyed, 0, len(receipts))
	for _, id := range receipts {
		if !seen[id] {
			seen[id] = true
			ks = append(ks, receiptKey(id))
		}
	}
	var items []receiptItem
	err = t.table.Batch("profileId", "at").Get(ks...).Project("profileId", "at", "messageId").Consistent(true).All(ctx, &items)
	if err != nil && !errors.Is(err, dynamo.ErrNotFound) {
		return nil, fmt.Errorf("read receipts: %w", err)
	}
	for _, it := range items {
		found[it.MessageID] = true
	}
	return found, nil
}

// Reads of a page of history ask for firstRead items, then twice as many each time up to
// maxRead: a page of 50 touchpoints is often one or two chunks.
const (
	firstRead = 8
	maxRead   = 256
)

// Touchpoints implements recording.Histories. It reads the profile's items newest first, a day at
// a time: the chunks of a day hold its touchpoints in any order, so each day is sorted whole
// before it is paged.
func (t *TouchpointTable) Touchpoints(ctx context.Context, id string, after *history.Cursor, typ string, limit int) ([]history.Touchpoint, error) {
	if err := t.configured(); err != nil {
		return nil, err
	}
	var out []history.Touchpoint
	full := func() bool { return limit > 0 && len(out) >= limit }
	var day []historyItem
	flush := func() error {
		ts, err := dayTouchpoints(id, day)
		if err != nil {
			return err
		}
		for _, tp := range ts {
			if (after == nil || after.Precedes(tp.Key())) && history.Matches(tp, typ) {
				out = append(out, tp)
			}
		}
		day = day[:0]
		return nil
	}
	var next dynamo.PagingKey
	for n := firstRead; ; n = min(2*n, maxRead) {
		q := t.table.Get("profileId", id).Order(dynamo.Descending).Consistent(true).SearchLimit(n)
		if after != nil {
			// Every item that can hold a touchpoint after the cursor: those of its day and before
			// (the day's chunks sort after the cursor's key, its older items before).
			q = q.Range("at", dynamo.Less, keyDay(after.Sort)+"\x7f")
		}
		if next != nil {
			q = q.StartFrom(next)
		}
		var items []historyItem
		var err error
		if next, err = q.AllWithLastEvaluatedKey(ctx, &items); err != nil {
			return nil, fmt.Errorf("read touchpoints of %s: %w", id, err)
		}
		for _, it := range items {
			if len(day) > 0 && keyDay(it.Key) != keyDay(day[0].Key) {
				if err := flush(); err != nil {
					return nil, err
				}
				if full() {
					return out[:limit], nil
				}
			}
			day = append(day, it)
		}
		if next == nil {
			break
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if full() {
		out = out[:limit]
	}
	return slices.Clip(out), nil
}

// dayTouchpoints are the touchpoints of profile id in the items of one day, newest first, each
// key once.
func dayTouchpoints(id string, items []historyItem) ([]history.Touchpoint, error) {
	var out []history.Touchpoint
	seen := map[string]bool{}
	add := func(tp history.Touchpoint) {
		if !seen[tp.Sort] {
			seen[tp.Sort] = true
			out = append(out, tp)
		}
	}
	for _, it := range items {
		if !it.isChunk() {
			add(it.touchpoint())
			continue
		}
		c, err := decodeChunk(it.Data)
		if err != nil {
			return nil, fmt.Errorf("read touchpoints of %s: chunk %s: %w", id, it.Key, err)
		}
		for _, e := range c.entries {
			add(e.touchpoint(id))
		}
	}
	slices.SortFunc(out, history.Newest)
	return out, nil
}

// deleteAttempts bounds how often Delete reads a day again when another writer rewrote one of its
// chunks in between.
const deleteAttempts = 5

// Delete implements recording.Histories: for each profile and day of the keys, it reads the day,
// deletes the touchpoints stored one per item and rewrites each chunk that holds any of the keys
// without them (deleting it when nothing is left), only if no one rewrote it since it was read.
func (t *TouchpointTable) Delete(ctx context.Context, keys []history.Key) (int, error) {
	if err := t.configured(); err != nil {
		return 0, err
	}
	if len(keys) == 0 {
		return 0, nil
	}
	err := eachDay(byDay(keys), func(ref dayRef, gone map[string]bool) error {
		for range deleteAttempts {
			err := t.deleteDay(ctx, ref, gone)
			if !errors.Is(err, recording.ErrConflict) {
				return err
			}
		}
		return fmt.Errorf("delete touchpoints of %s on %s: chunks rewritten meanwhile %d times: %w", ref.profileID, ref.day, deleteAttempts, recording.ErrContention)
	})
	if err != nil {
		return 0, err
	}
	return len(keys), nil
}

func (t *TouchpointTable) deleteDay(ctx context.Context, ref dayRef, gone map[string]bool) error {
	items, err := t.readDay(ctx, ref)
	if err != nil {
		return err
	}
	var legacy []dynamo.Keyed
	for _, it := range items {
		if !it.isChunk() {
			if gone[it.Key] {
				legacy = append(legacy, dynamo.Keys{ref.profileID, it.Key})
			}
			continue
		}
		c, err := decodeChunk(it.Data)
		if err != nil {
			return fmt.Errorf("delete touchpoints of %s: chunk %s: %w", ref.profileID, it.Key, err)
		}
		left, n := c.without(gone)
		if n == 0 {
			continue
		}
		unchanged := "attribute_exists('d') AND attribute_not_exists('v')"
		var args []any
		if it.Revision > 0 {
			unchanged, args = "'v' = ?", []any{it.Revision}
		}
		if len(left.entries) == 0 {
			err = t.table.Delete("profileId", ref.profileID).Range("at", it.Key).If(unchanged, args...).Run(ctx)
		} else {
			var row chunkItem
			if row, err = chunkRow(ref.profileID, left); err != nil {
				return err
			}
			row.Key, row.Revision = it.Key, it.Revision+1 // in place: the name stays
			err = t.table.Put(row).If(unchanged, args...).Run(ctx)
		}
		if err != nil {
			return writeErr(err, fmt.Sprintf("delete touchpoints of %s: chunk %s", ref.profileID, it.Key))
		}
	}
	if len(legacy) > 0 {
		if _, err := t.table.Batch("profileId", "at").Write().Delete(legacy...).Run(ctx); err != nil {
			return fmt.Errorf("delete touchpoints of %s: %w", ref.profileID, err)
		}
	}
	return nil
}
