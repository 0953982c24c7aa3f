package profilestore

import (
	"bytes"
	"cmp"
	"compress/flate"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dcrm-project/dcrm/shared/history"
	"github.com/dcrm-project/dcrm/shared/recording"
)

// A chunk is one item of the Touchpoints table holding several touchpoints of a profile: those of
// one Append that fall on the same UTC day (by their key's time) and expire alike (purchases,
// which never expire, apart from the rest), compressed. DynamoDB bills a write per started KB of
// the item, so one compressed chunk per profile and day costs a fraction of a unit per event where
// an item per touchpoint cost a whole one.
//
// A chunk's sort key is "<day>~<hash of its touchpoint keys>": the day is the text of the
// touchpoint keys before their "T" (history.FormatTime), so a chunk sorts right after the
// per-touchpoint items of its day written before chunks ("<day>T…#<messageId>"), and the items of
// one day, of both kinds, are next to each other: a page of the history reads whole days. The hash
// names the chunk by what it holds, so writing the same touchpoints again writes the same item.
const chunkMark = '~'

// Bounds of a chunk, in bytes of its entries' JSON before compression. A touchpoint larger than
// maxEntryBytes could not be stored as an item of its own before chunks either (400 KB): it is
// refused (recording.ErrRejected).
const (
	maxChunkBytes = 64 << 10
	maxEntryBytes = 350 << 10
	// maxInflated bounds what a stored chunk may inflate to when read.
	maxInflated = 4 << 20
)

// chunkFormat is the first byte of a chunk's data: DEFLATE with chunkDictionary as its preset
// dictionary. A later format gets another byte; readers keep every format ever written.
const chunkFormat = 1

// chunkDictionary primes the compressor with what touchpoints repeat, so that a chunk of one or
// two touchpoints compresses too. It must never change: a new one needs a new chunkFormat. The
// most frequent strings come last (they are the cheapest to refer to).
const chunkDictionary = `"impression","delivery","open","click","email","display","referral","affiliate","mobile push notifications",` +
	`"Email Opened","Email Delivered","Email Link Clicked","Checkout Started","Checkout Step Viewed","Order Completed","Order Refunded",` +
	`"Product List Viewed","Product Clicked","Product Removed","Cart Viewed","Signed Up","Signed In","Form Submitted",` +
	`"c":{"source":"google","medium":"cpc","name":"","clickId":"` + `"k":{"analytics":true,"marketing":false},` +
	`"t":{"email":"","name":"","plan":"","utm_source":"","utm_medium":"","utm_campaign":"",` +
	`"products":[{"product_id":"","sku":"","name":"","brand":"","variant":"","category":"","price":,"quantity":1,"position":1}],` +
	`"order_id":"","checkout_id":"","total":,"revenue":,"shipping":,"tax":,"discount":0,"coupon":"","currency":"USD","currency":"EUR","currency":"GBP",` +
	`"l":[{"i":"","q":1,"p":,"c":""}],"x":17,"d":` +
	`,"t":"identify","t":"screen","t":"group","t":"alias","c":"organic search","c":"paid search","c":"social","c":"direct",` +
	`"p":{"path":"/","referrer":"https://www.google.com/","search":"","title":"","url":"https://www.` +
	`,"t":"track","e":"Page Ping","a":{"a":"","e":10},"t":"track","e":"Product Viewed","t":"track","e":"Product Added",` +
	`,{"k":"2025-01-01T00:00:00.000000000Z#","t":"page","e":"","a":{"a":"","u":"","p":"https://www.","p":{"url":"https://www.`

// chunkEntry is a touchpoint as a chunk holds it: the fields of a per-touchpoint item with short
// names, the properties and the activity record as JSON in place, times as numbers. Its key and
// message id come first (chunkKey), what deduplication reads of it.
type chunkEntry struct {
	chunkKey
	Type       string          `json:"t"`
	Event      string          `json:"e,omitempty"`
	At         int64           `json:"d,omitempty"` // nanoseconds after the key's time (keyTime)
	Channel    string          `json:"c,omitempty"`
	Impression string          `json:"i,omitempty"`
	Properties json.RawMessage `json:"p,omitempty"`
	Truncated  bool            `json:"pt,omitempty"`
	Purchase   bool            `json:"pu,omitempty"`
	OrderID    string          `json:"o,omitempty"`
	Revenue    float64         `json:"r,omitempty"`
	ExpiresAt  int64           `json:"x,omitempty"` // Unix seconds; absent: kept
	Activity   json.RawMessage `json:"a,omitempty"` // activityRecord
}

// keyTime is the time a touchpoint key starts with, or the Unix epoch for a key that does not.
func keyTime(sort string) time.Time {
	at, _, _ := strings.Cut(sort, "#")
	t, err := history.ParseTime(at)
	if err != nil {
		return time.Unix(0, 0).UTC()
	}
	return t
}

// keyMessageID is the message id a touchpoint key ends in (history.SortKey).
func keyMessageID(sort string) string {
	_, id, _ := strings.Cut(sort, "#")
	return id
}

// keyDay is the day of a touchpoint key or of a stored item's sort key: its leading digits and
// dashes ("2025-03-02"); "" for a key that has none.
func keyDay(sort string) string {
	i := strings.IndexFunc(sort, func(r rune) bool { return r != '-' && (r < '0' || r > '9') })
	if i < 0 {
		return sort
	}
	return sort[:i]
}

// touchpointDay is the day of a touchpoint key, "" when it is not one (history.SortKey).
func touchpointDay(sort string) string {
	day := keyDay(sort)
	if day == "" || !strings.HasPrefix(sort[len(day):], "T") {
		return ""
	}
	return day
}

func newEntry(t history.Touchpoint) (chunkEntry, error) {
	row := touchpointRow(t)
	e := chunkEntry{
		chunkKey: chunkKey{Key: row.Key}, Type: row.Type, Event: row.Event, At: row.Timestamp.Sub(keyTime(row.Key)).Nanoseconds(), Channel: row.Channel,
		Impression: row.Impression, Truncated: row.Truncated, Purchase: row.Purchase, OrderID: row.OrderID, Revenue: row.Revenue,
	}
	if row.MessageID != keyMessageID(row.Key) {
		e.MessageID = row.MessageID
	}
	if row.Properties != "" {
		if !json.Valid([]byte(row.Properties)) {
			return chunkEntry{}, fmt.Errorf("touchpoint %s: properties are not JSON: %w", row.Key, recording.ErrRejected)
		}
		e.Properties = json.RawMessage(row.Properties)
	}
	if row.Activity != "" {
		e.Activity = json.RawMessage(row.Activity)
	}
	if !row.ExpiresAt.IsZero() {
		e.ExpiresAt = row.ExpiresAt.Unix()
	}
	return e, nil
}

// touchpoint is the entry as the touchpoint of profile profileID.
func (e chunkEntry) touchpoint(profileID string) history.Touchpoint {
	row := touchpointItem{
		ProfileID: profileID, Key: e.Key, MessageID: e.messageID(), Type: e.Type, Event: e.Event,
		Timestamp: keyTime(e.Key).Add(time.Duration(e.At)).UTC(), Channel: e.Channel, Impression: e.Impression,
		Properties: string(e.Properties), Truncated: e.Truncated, Purchase: e.Purchase, OrderID: e.OrderID, Revenue: e.Revenue,
		Activity: string(e.Activity),
	}
	if e.ExpiresAt != 0 {
		row.ExpiresAt = time.Unix(e.ExpiresAt, 0).UTC()
	}
	return row.touchpoint()
}

// chunk is a chunk's content: its entries, sorted by key, each key once.
type chunk struct {
	entries []chunkEntry
	raw     int // bytes of the entries' JSON
}

// expiresAt is when the chunk may go: when the last of its touchpoints expires; zero when one of
// them is kept for good.
func (c chunk) expiresAt() time.Time {
	var last int64
	for _, e := range c.entries {
		if e.ExpiresAt == 0 {
			return time.Time{}
		}
		last = max(last, e.ExpiresAt)
	}
	return time.Unix(last, 0).UTC()
}

// name is the chunk's sort key: its day and a hash of its touchpoint keys.
func (c chunk) name() string {
	h := sha256.New()
	for _, e := range c.entries {
		h.Write([]byte(e.Key))
		h.Write([]byte{0})
	}
	return touchpointDay(c.entries[0].Key) + string(chunkMark) + hex.EncodeToString(h.Sum(nil)[:10])
}

// packChunks packs the touchpoints of one profile into chunks: by day and by whether they expire,
// each at most maxChunkBytes of entries (or one entry, up to maxEntryBytes). The last of
// touchpoints of the same key replaces the others.
func packChunks(ts []history.Touchpoint) ([]chunk, error) {
	type group struct {
		day   string
		keeps bool
	}
	byKey := map[string]chunkEntry{}
	sizes := map[string]int{}
	groups := map[group][]string{}
	for _, t := range ts {
		day := touchpointDay(t.Sort)
		if day == "" {
			return nil, fmt.Errorf("touchpoint key %q does not start with a time: %w", t.Sort, recording.ErrRejected)
		}
		e, err := newEntry(t)
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encode touchpoint %s: %w: %w", t.Sort, recording.ErrRejected, err)
		}
		if len(b) > maxEntryBytes {
			return nil, fmt.Errorf("touchpoint %s of %d bytes: %w", t.Sort, len(b), recording.ErrRejected)
		}
		g := group{day: day, keeps: e.ExpiresAt == 0}
		if before, seen := byKey[t.Sort]; seen {
			was := group{day: day, keeps: before.ExpiresAt == 0}
			groups[was] = slices.DeleteFunc(groups[was], func(k string) bool { return k == t.Sort })
		}
		groups[g] = append(groups[g], t.Sort)
		byKey[t.Sort], sizes[t.Sort] = e, len(b)+1 // and a comma
	}
	var out []chunk
	order := slices.SortedFunc(maps.Keys(groups), func(a, b group) int {
		if a.keeps != b.keeps {
			if a.keeps {
				return 1
			}
			return -1
		}
		return strings.Compare(a.day, b.day)
	})
	for _, g := range order {
		keys := groups[g]
		if len(keys) == 0 {
			continue
		}
		slices.Sort(keys)
		var c chunk
		for _, k := range keys {
			if len(c.entries) > 0 && c.raw+sizes[k] > maxChunkBytes {
				out = append(out, c)
				c = chunk{}
			}
			c.entries, c.raw = append(c.entries, byKey[k]), c.raw+sizes[k]
		}
		out = append(out, c)
	}
	return out, nil
}

// encode returns the chunk's stored data: the format byte, then its entries as a JSON array,
// compressed.
func (c chunk) encode() ([]byte, error) {
	raw, err := json.Marshal(c.entries)
	if err != nil {
		return nil, fmt.Errorf("encode chunk: %w", err)
	}
	var buf bytes.Buffer
	buf.WriteByte(chunkFormat)
	w := compressors.Get().(*flate.Writer)
	defer compressors.Put(w)
	w.Reset(&buf)
	if _, err := w.Write(raw); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// compressors and decompressors are kept for reuse: setting one up with the dictionary costs
// more than compressing a chunk.
var (
	compressors = sync.Pool{New: func() any {
		w, err := flate.NewWriterDict(io.Discard, flate.DefaultCompression, []byte(chunkDictionary))
		if err != nil {
			panic(err) // only for a level out of range
		}
		return w
	}}
	decompressors = sync.Pool{New: func() any { return flate.NewReaderDict(nil, []byte(chunkDictionary)) }}
)

// errBadChunk is returned for stored data that is not a chunk this package wrote.
var errBadChunk = errors.New("not a touchpoint chunk")

// decodeChunk reads a chunk's stored data.
func decodeChunk(data []byte) (chunk, error) {
	var c chunk
	raw, err := inflateChunk(data, &c.entries)
	if err != nil {
		return chunk{}, err
	}
	c.raw = raw
	return c, nil
}

// chunkKey is what a chunk's entry tells of the event it holds: enough to know it was recorded.
type chunkKey struct {
	Key       string `json:"k"`
	MessageID string `json:"m,omitempty"` // when the key does not end in it
}

// messageID is the message id of the entry's touchpoint.
func (k chunkKey) messageID() string { return cmp.Or(k.MessageID, keyMessageID(k.Key)) }

func (k chunkKey) key() string { return k.Key }

// chunkKeys reads the keys of a chunk's entries alone: deduplication reads chunks for nothing
// else, and decoding whole entries (properties, activity records) cost it several times more.
func chunkKeys(data []byte) ([]chunkKey, error) {
	var keys []chunkKey
	if _, err := inflateChunk(data, &keys); err != nil {
		return nil, err
	}
	return keys, nil
}

// inflateChunk inflates a chunk's stored data, decodes its entries (whole, or their keys alone)
// and checks that each has its key; it returns the JSON's length.
func inflateChunk[E interface{ key() string }](data []byte, entries *[]E) (int, error) {
	if len(data) == 0 || data[0] != chunkFormat {
		return 0, fmt.Errorf("%w: unknown format", errBadChunk)
	}
	r := decompressors.Get().(io.ReadCloser)
	defer decompressors.Put(r)
	if err := r.(flate.Resetter).Reset(bytes.NewReader(data[1:]), []byte(chunkDictionary)); err != nil {
		return 0, fmt.Errorf("%w: %w", errBadChunk, err)
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxInflated+1))
	if err != nil {
		return 0, fmt.Errorf("%w: %w", errBadChunk, err)
	}
	if len(raw) > maxInflated {
		return 0, fmt.Errorf("%w: inflates past %d bytes", errBadChunk, maxInflated)
	}
	if err := json.Unmarshal(raw, entries); err != nil {
		return 0, fmt.Errorf("%w: %w", errBadChunk, err)
	}
	for _, e := range *entries {
		if e.key() == "" {
			return 0, fmt.Errorf("%w: an entry without a key", errBadChunk)
		}
	}
	return len(raw), nil
}

// without returns the chunk less the entries of the given keys, and how many it dropped.
func (c chunk) without(keys map[string]bool) (chunk, int) {
	out := chunk{entries: slices.DeleteFunc(slices.Clone(c.entries), func(e chunkEntry) bool { return keys[e.Key] })}
	return out, len(c.entries) - len(out.entries)
}

// ChunkJSON returns what the data of a chunk item (attribute "d") holds, as JSON: for checks and
// operators that look at the table's items, whose history is otherwise compressed.
func ChunkJSON(data []byte) (string, error) {
	c, err := decodeChunk(data)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(c.entries)
	return string(b), err
}
