package beacon

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dcrm-project/dcrm/shared/source"
)

// Batch is the kind of call that carries several events (POST /v1/batch); the other kinds are the
// event types Track, Page, Screen, Identify, Group and Alias.
const Batch = "batch"

// Limits of the Segment Tracking API: a single call or one event in a batch may be MaxEventBytes,
// a whole batch MaxBatchBytes.
const (
	MaxEventBytes = 32 << 10
	MaxBatchBytes = 500 << 10
	// MaxBatchEvents bounds the events of one batch, so that one request cannot fan out into
	// hundreds of thousands of refusals (500 KB of two-byte elements is 256,000 of them). It is ten
	// times the largest batch a Segment SDK sends by default (analytics-go and analytics-java: 250)
	// and leaves 200 bytes per event at MaxBatchBytes, less than any real event with its context.
	MaxBatchEvents = 2500
	// MaxIDBytes bounds anonymousId, userId and messageId: they become partition and table keys.
	MaxIDBytes = 256
)

// ErrInvalid is what every rejection of a sender's input matches with errors.Is. The details are
// in an *InvalidError (errors.As).
var ErrInvalid = errors.New("invalid beacon")

// ErrTooLarge is what a call over a size or count limit matches too (HTTP 413): a body over
// MaxEventBytes or MaxBatchBytes, a batch of more than MaxBatchEvents events.
var ErrTooLarge = errors.New("beacon too large")

// InvalidError says why a call was refused, in words meant for the sender.
type InvalidError struct {
	Reason string
	// Index is the position of the offending event in a batch, or -1 when the problem is not one
	// event's.
	Index int
	// TooLarge marks a whole call over a limit (ErrTooLarge).
	TooLarge bool
}

func (e *InvalidError) Error() string {
	if e.Index >= 0 {
		return fmt.Sprintf("batch[%d]: %s", e.Index, e.Reason)
	}
	return e.Reason
}

// Is makes every InvalidError match ErrInvalid, and one over a limit ErrTooLarge.
func (e *InvalidError) Is(target error) bool {
	return target == ErrInvalid || (e.TooLarge && target == ErrTooLarge)
}

func tooLarge(format string, args ...any) *InvalidError {
	e := invalid(format, args...)
	e.TooLarge = true
	return e
}

func invalid(format string, args ...any) *InvalidError {
	return &InvalidError{Reason: fmt.Sprintf(format, args...), Index: -1}
}

func invalidAt(i int, format string, args ...any) *InvalidError {
	return &InvalidError{Reason: fmt.Sprintf(format, args...), Index: i}
}

// Payload is the body of one call, decoded but not yet validated: its write key (if the body
// carries one) and its events as sent. Decode it before authorising the call, then turn it into
// events with Events.
type Payload struct {
	// WriteKey is the writeKey the body carries ("" when it has none).
	WriteKey string
	// Pixel marks the events as loaded through the pixel API (Event.Pixel).
	Pixel bool

	kind  string
	items []item
	// Batch-level fields that apply to every event that does not set its own.
	sentAt       *time.Time
	context      json.RawMessage
	integrations json.RawMessage
}

// object holds the fields of a call or event that the endpoint reads, each as written (nil when
// absent); other fields are ignored. A field sent twice counts once, with its last value, as
// encoding/json decodes it into a map.
type object [numFields]json.RawMessage

// Fields of an object.
const (
	fWriteKey = iota
	fType
	fAnonymousID
	fUserID
	fPreviousID
	fGroupID
	fMessageID
	fEvent
	fName
	fProperties
	fTraits
	fContext
	fIntegrations
	fTimestamp
	fOriginalTimestamp
	fSentAt
	fBatch
	numFields
)

// fieldNames are the JSON names of the fields of an object.
var fieldNames = [numFields]string{
	"writeKey", "type", "anonymousId", "userId", "previousId", "groupId", "messageId", "event", "name",
	"properties", "traits", "context", "integrations", "timestamp", "originalTimestamp", "sentAt", "batch",
}

// fieldIndex is the field of an object a JSON name is, or -1.
func fieldIndex(name []byte) int {
	switch string(name) {
	case "writeKey":
		return fWriteKey
	case "type":
		return fType
	case "anonymousId":
		return fAnonymousID
	case "userId":
		return fUserID
	case "previousId":
		return fPreviousID
	case "groupId":
		return fGroupID
	case "messageId":
		return fMessageID
	case "event":
		return fEvent
	case "name":
		return fName
	case "properties":
		return fProperties
	case "traits":
		return fTraits
	case "context":
		return fContext
	case "integrations":
		return fIntegrations
	case "timestamp":
		return fTimestamp
	case "originalTimestamp":
		return fOriginalTimestamp
	case "sentAt":
		return fSentAt
	case "batch":
		return fBatch
	}
	return -1
}

// item is one event of a payload as sent: decoded, or refused on its own (an event of a batch that
// is too big or not an object) with the reason in err.
type item struct {
	obj *object
	raw json.RawMessage
	err error
}

// Kind is the kind of call the payload came with: an event type, or Batch.
func (p *Payload) Kind() string { return p.kind }

// Len is the number of events in the payload.
func (p *Payload) Len() int { return len(p.items) }

// Decode reads the body of a call to POST /v1/{kind} (kind is an event type or Batch):
// it checks the size limits and that the body is a JSON object of the right shape. The body is the
// request body as sent, after any transfer encoding (base64, gzip) has been removed.
func Decode(kind string, body []byte) (*Payload, error) {
	switch kind {
	case Track, Page, Screen, Identify, Group, Alias, Batch:
	default:
		return nil, invalid("unknown call type %q", kind)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, invalid("body is empty")
	}
	limit, what := MaxEventBytes, "event"
	if kind == Batch {
		limit, what = MaxBatchBytes, "batch"
	}
	if len(body) > limit {
		return nil, tooLarge("%s is %d bytes; the limit is %d bytes", what, len(body), limit)
	}
	top, err := decodeObject(body, "body", false)
	if err != nil {
		return nil, err
	}
	p := &Payload{kind: kind}
	if p.WriteKey, err = stringField(top, fWriteKey); err != nil {
		return nil, err
	}
	if kind != Batch {
		p.items = []item{{obj: top, raw: body}}
		return p, nil
	}

	if p.sentAt, err = timeField(top, fSentAt); err != nil {
		return nil, err
	}
	if p.context, err = objectField(top, fContext); err != nil {
		return nil, err
	}
	if p.integrations, err = objectField(top, fIntegrations); err != nil {
		return nil, err
	}
	raw := top[fBatch]
	if raw == nil || isNull(raw) {
		return nil, invalid(`batch is missing: send {"batch": [events]}`)
	}
	list, err := elements(raw)
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, invalid("batch has no events")
	}
	// An event of the batch that cannot be read is refused on its own; the others may still be
	// accepted (see Split).
	p.items = make([]item, len(list))
	for i, r := range list {
		p.items[i].raw = r
		if len(r) > MaxEventBytes {
			p.items[i].err = invalidAt(i, "event is %d bytes; the limit is %d bytes", len(r), MaxEventBytes)
			continue
		}
		it, err := decodeObject(r, "event", true)
		if err != nil {
			p.items[i].err = withIndex(i, err)
			continue
		}
		p.items[i].obj = it
		key, err := stringField(it, fWriteKey)
		if err != nil {
			p.items[i].err = withIndex(i, err)
			continue
		}
		switch {
		case key == "":
		case p.WriteKey == "":
			p.WriteKey = key
		case key != p.WriteKey:
			p.items[i].err = invalidAt(i, "writeKey differs from the rest of the batch")
		}
	}
	return p, nil
}

// Events validates every event of the payload and returns them as they go on the stream: from
// src, received at receivedAt (the endpoint's clock), with newID making the messageId of events
// that have none (NewMessageID when nil). One invalid event refuses the whole payload.
func (p *Payload) Events(src source.Source, receivedAt time.Time, newID func() string) ([]Event, error) {
	if newID == nil {
		newID = NewMessageID
	}
	receivedAt = receivedAt.UTC()
	out := make([]Event, 0, len(p.items))
	for i, it := range p.items {
		e, err := p.event(i, it, src, receivedAt, newID)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Rejected is an event of a payload that was refused, and why.
type Rejected struct {
	// Index is the event's position in the batch (0 for a single call).
	Index int
	// MessageID is the messageId the event was sent with ("" when it had none or it is unreadable).
	MessageID string
	// Err is an *InvalidError with the reason, in words meant for the sender.
	Err *InvalidError
	// Raw is the event as sent.
	Raw json.RawMessage
}

// Reason is why the event was refused, without its position.
func (r Rejected) Reason() string { return r.Err.Reason }

// Split validates every event of the payload on its own: it returns the valid events as they go on
// the stream (as Events does) and the refused ones with their reasons, each in the order sent.
func (p *Payload) Split(src source.Source, receivedAt time.Time, newID func() string) ([]Event, []Rejected) {
	if newID == nil {
		newID = NewMessageID
	}
	receivedAt = receivedAt.UTC()
	var (
		out      = make([]Event, 0, len(p.items))
		rejected []Rejected
	)
	for i, it := range p.items {
		e, err := p.event(i, it, src, receivedAt, newID)
		if err == nil {
			out = append(out, e)
			continue
		}
		r := Rejected{Index: i, Raw: it.raw}
		if !errors.As(err, &r.Err) {
			r.Err = &InvalidError{Reason: err.Error(), Index: -1}
		}
		if it.obj != nil {
			r.MessageID, _ = idField(it.obj, fMessageID)
		}
		rejected = append(rejected, r)
	}
	return out, rejected
}

// typeList names the event types, for messages.
const typeList = "track, page, screen, identify, group or alias"

// event validates the i-th event of the payload. Errors of a batch's events carry their index.
func (p *Payload) event(i int, it item, src source.Source, receivedAt time.Time, newID func() string) (Event, error) {
	if it.err != nil {
		return Event{}, it.err
	}
	e, err := p.fields(it.obj, src, receivedAt, newID)
	if err != nil && p.kind == Batch {
		return e, withIndex(i, err)
	}
	return e, err
}

func (p *Payload) fields(it *object, src source.Source, receivedAt time.Time, newID func() string) (Event, error) {
	e := Event{Type: p.kind, ReceivedAt: receivedAt, SourceID: src.ID, Trusted: src.Trusted, Pixel: p.Pixel}
	var err error
	if p.kind == Batch {
		if e.Type, err = stringField(it, fType); err != nil {
			return e, err
		}
		switch e.Type {
		case Track, Page, Screen, Identify, Group, Alias:
		case "":
			return e, invalid("type is missing (%s)", typeList)
		default:
			return e, invalid("type %q is not supported (%s)", short(e.Type), typeList)
		}
	}
	if e.AnonymousID, err = idField(it, fAnonymousID); err != nil {
		return e, err
	}
	if e.UserID, err = idField(it, fUserID); err != nil {
		return e, err
	}
	if e.AnonymousID == "" && e.UserID == "" {
		return e, invalid("anonymousId or userId is required")
	}
	if e.PreviousID, err = idField(it, fPreviousID); err != nil {
		return e, err
	}
	if e.GroupID, err = idField(it, fGroupID); err != nil {
		return e, err
	}
	switch {
	case e.Type == Alias && e.PreviousID == "":
		return e, invalid("alias needs the earlier id (previousId)")
	case e.Type == Alias && e.UserID == "":
		return e, invalid("alias needs the new id (userId)")
	case e.Type == Group && e.GroupID == "":
		return e, invalid("group needs a group id (groupId)")
	}
	if e.MessageID, err = idField(it, fMessageID); err != nil {
		return e, err
	}
	if e.MessageID == "" {
		e.MessageID = newID()
	}
	if e.Event, err = stringField(it, fEvent); err != nil {
		return e, err
	}
	if e.Type == Track && e.Event == "" {
		return e, invalid("track needs an event name (event)")
	}
	if e.Name, err = stringField(it, fName); err != nil {
		return e, err
	}
	if e.Properties, err = objectField(it, fProperties); err != nil {
		return e, err
	}
	if e.Traits, err = objectField(it, fTraits); err != nil {
		return e, err
	}
	if e.Context, err = objectField(it, fContext); err != nil {
		return e, err
	}
	if e.Context == nil {
		e.Context = p.context
	}
	if e.Integrations, err = objectField(it, fIntegrations); err != nil {
		return e, err
	}
	if e.Integrations == nil {
		e.Integrations = p.integrations
	}
	if err := e.stamp(it, p.sentAt, receivedAt); err != nil {
		return e, err
	}
	return e, nil
}

// Bounds of an event's time, from its receipt. An event dated far ahead would stay a profile's
// latest activity for ever; one dated far back from a browser is a wrong clock or a forged one.
const (
	// MaxFutureSkew is how far after its receipt an event's time is taken as given (a server's
	// clock a little ahead); later times are the receipt time instead.
	MaxFutureSkew = 5 * time.Minute
	// MaxBrowserAge is how long before its receipt a browser source's event may have happened: a
	// week of a tracker's offline queue. Older history comes from a trusted (server) source.
	MaxBrowserAge = 7 * 24 * time.Hour
	// MaxImportAge is how long before its receipt a trusted source's event may have happened:
	// twenty years of history to import, and still no zero date (1970, 2000-01-01) taken for one.
	MaxImportAge = 20 * 365 * 24 * time.Hour
)

// stamp sets the event's times the way Segment does. The sender's clock may be wrong, so when it
// says both when the event happened (originalTimestamp, or timestamp) and when it sent it (sentAt),
// the event happened that long before it was received:
//
//	timestamp = receivedAt − (sentAt − originalTimestamp)
//
// A timestamp without sentAt is taken as given; an event without one happened when received. A
// corrected time is never later than receivedAt, one taken as given at most MaxFutureSkew later;
// beyond, the event happened when received (its originalTimestamp keeps what the sender said).
// An event that happened more than MaxBrowserAge before it was received (MaxImportAge for a
// trusted source) is refused.
func (e *Event) stamp(it *object, batchSentAt *time.Time, receivedAt time.Time) error {
	ts, err := timeField(it, fTimestamp)
	if err != nil {
		return err
	}
	orig, err := timeField(it, fOriginalTimestamp)
	if err != nil {
		return err
	}
	sent, err := timeField(it, fSentAt)
	if err != nil {
		return err
	}
	if sent == nil {
		sent = batchSentAt
	}
	if orig == nil {
		orig = ts
	}
	e.OriginalTimestamp, e.SentAt = orig, sent
	corrected := orig != nil && sent != nil
	switch {
	case corrected:
		e.Timestamp = receivedAt.Add(-sent.Sub(*orig))
		if e.Timestamp.After(receivedAt) {
			e.Timestamp = receivedAt
		}
	case orig != nil:
		e.Timestamp = *orig
		if e.Timestamp.After(receivedAt.Add(MaxFutureSkew)) {
			e.Timestamp = receivedAt
		}
	default:
		e.Timestamp = receivedAt
	}
	maxAge, who := MaxBrowserAge, "a browser source's events may be at most 7 days old: send history from a server (trusted) source"
	if e.Trusted {
		maxAge, who = MaxImportAge, "events may be at most 20 years old"
	}
	if age := receivedAt.Sub(e.Timestamp); age > maxAge {
		what := "timestamp"
		if corrected {
			what = "timestamp, corrected by sentAt for the sender's clock,"
		}
		return invalid("%s is %d days before receipt; %s", what, int(age/(24*time.Hour)), who)
	}
	return nil
}

// SenderTime is when the sender's clock says the event happened (originalTimestamp, or
// timestamp), or nil when it said nothing or a time more than MaxFutureSkew after the event was
// received, which stamp did not believe.
func (e Event) SenderTime() *time.Time {
	if e.OriginalTimestamp == nil || (!e.ReceivedAt.IsZero() && e.OriginalTimestamp.After(e.ReceivedAt.Add(MaxFutureSkew))) {
		return nil
	}
	return e.OriginalTimestamp
}

// NewMessageID makes a random message id for an event sent without one.
func NewMessageID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "dcrm-" + hex.EncodeToString(b)
}

// short bounds a sender's value quoted in a reason, so that reasons (and the responses and logs
// that carry them) stay small whatever was sent.
func short(s string) string {
	const maxQuoted = 64
	if len(s) <= maxQuoted {
		return s
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func withIndex(i int, err error) error {
	var ie *InvalidError
	if errors.As(err, &ie) && ie.Index < 0 {
		return &InvalidError{Reason: ie.Reason, Index: i}
	}
	return err
}

// decodeObject reads a JSON object (a call's body, or an event of a batch) in one pass: the body is
// validated, an event of a batch was validated with it. What is not a valid object goes to
// decodeObjectSlowly, which words the error as encoding/json sees it.
func decodeObject(raw []byte, what string, validated bool) (*object, error) {
	if !validated && !validJSON(raw) {
		return decodeObjectSlowly(raw, what)
	}
	b := raw[skipSpace(raw, 0):]
	if len(b) == 0 || b[0] != '{' {
		return decodeObjectSlowly(raw, what)
	}
	o := new(object)
	for it := (objectIter{b: b, i: 1}); ; {
		key, value, ok := it.next()
		if !ok {
			return o, nil
		}
		name, plain := plainKey(key)
		if !plain {
			name = []byte(unquote(key))
		}
		if f := fieldIndex(name); f >= 0 {
			o[f] = value
		}
	}
}

// decodeObjectSlowly decodes a JSON object with encoding/json, for the wording of its errors.
func decodeObjectSlowly(raw []byte, what string) (*object, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, invalid("%s must be a JSON object, not %s", what, te.Value)
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, invalid("%s is not valid JSON: %s (at byte %d)", what, se.Error(), se.Offset)
		}
		return nil, invalid("%s is not valid JSON: %s", what, strings.TrimPrefix(err.Error(), "json: "))
	}
	if m == nil {
		return nil, invalid("%s must be a JSON object, not null", what)
	}
	o := new(object)
	for f, name := range fieldNames {
		o[f] = m[name]
	}
	return o, nil
}

// elements returns the events of a batch as written; it stops reading past MaxBatchEvents.
func elements(raw json.RawMessage) ([]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if raw[0] != '[' {
		return nil, invalid("batch must be an array of events")
	}
	var list []json.RawMessage
	for it := (arrayIter{b: raw, i: 1}); ; {
		e, ok := it.next()
		if !ok {
			return list, nil
		}
		if len(list) == MaxBatchEvents {
			return nil, tooLarge("batch has more than %d events: send them in several batches", MaxBatchEvents)
		}
		list = append(list, e)
	}
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// field returns the trimmed raw value of a field, or nil when it is absent or null.
func field(o *object, f int) json.RawMessage {
	raw := bytes.TrimSpace(o[f])
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	return raw
}

func stringField(o *object, f int) (string, error) {
	raw := field(o, f)
	if raw == nil {
		return "", nil
	}
	if raw[0] != '"' {
		return "", invalid("%s must be a string", fieldNames[f])
	}
	return unquote(raw), nil
}

func objectField(o *object, f int) (json.RawMessage, error) {
	raw := field(o, f)
	if raw == nil {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, invalid("%s must be a JSON object", fieldNames[f])
	}
	return raw, nil
}

// idField reads an identifier. Segment's SDKs send strings; a JSON integer is accepted too and
// becomes its decimal string.
func idField(o *object, f int) (string, error) {
	name := fieldNames[f]
	raw := field(o, f)
	if raw == nil {
		return "", nil
	}
	var id string
	switch c := raw[0]; {
	case c == '"':
		id = unquote(raw)
	case c == '-' || (c >= '0' && c <= '9'):
		var ok bool
		if id, ok = integer(string(raw)); !ok {
			return "", invalid("%s must be a string or an integer, not %s", name, short(string(raw)))
		}
	default:
		return "", invalid("%s must be a string", name)
	}
	if len(id) > MaxIDBytes {
		return "", invalid("%s is %d bytes; the limit is %d bytes", name, len(id), MaxIDBytes)
	}
	return id, nil
}

// integer returns the decimal form of a JSON number that is a whole number: digits are kept as
// sent (however long), other forms (1e3, 42.0) only when they are exact in a float64.
func integer(lit string) (string, bool) {
	digits := strings.TrimPrefix(lit, "-")
	if digits != "" && strings.Trim(digits, "0123456789") == "" {
		return lit, true
	}
	f, err := strconv.ParseFloat(lit, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return "", false
	}
	return strconv.FormatInt(int64(f), 10), true
}

// timeLayouts are the ISO-8601 forms senders use, tried in order. Without a zone, UTC is assumed.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999Z0700",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02",
}

// Times outside this range cannot be written as RFC 3339 (and are nonsense for an event).
var (
	earliest = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	latest   = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
)

func timeField(o *object, f int) (*time.Time, error) {
	name := fieldNames[f]
	raw := field(o, f)
	if raw == nil {
		return nil, nil
	}
	if raw[0] != '"' {
		return nil, invalid("%s must be an ISO-8601 date string", name)
	}
	s := unquote(raw)
	for _, layout := range timeLayouts {
		t, err := time.Parse(layout, s)
		if err != nil {
			continue
		}
		t = t.UTC()
		if t.Before(earliest) || t.After(latest) {
			return nil, invalid("%s %q is out of range", name, short(s))
		}
		return &t, nil
	}
	return nil, invalid("%s %q is not an ISO-8601 date (e.g. 2024-03-01T12:00:00.000Z)", name, short(s))
}
