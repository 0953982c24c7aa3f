package importing

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/pii"
)

// Event names of the kinds other than contacts (whose names are in ContactTypes).
const (
	EventOrderCompleted = "Order Completed"
	EventOrderRefunded  = "Order Refunded"
	EventCaseOpened     = "Case Opened"
	EventCaseClosed     = "Case Closed"
	EventConsentUpdated = "Consent Updated"
)

// Library names the import in each event's context.library, as an SDK names itself.
const Library = "dcrm-import"

// MessageIDPrefix starts every message id an import makes.
const MessageIDPrefix = "import-"

// Bounds of an order event's products: the lines the profile reads (profile.MaxLines) and room
// for them within an event (beacon.MaxEventBytes). An order with more keeps its whole revenue,
// lists its first lines, and says products_truncated.
const (
	maxOrderProducts     = 100
	maxOrderProductBytes = 16 << 10
)

// convert turns a row into what it gives, queued.
func (rd *Reader) convert(r *row) {
	if problem := rd.checkTimes(r); problem != "" {
		rd.reject(r, problem)
		return
	}
	switch rd.spec.Kind {
	case Customers:
		rd.customer(r)
	case Orders, Returns:
		rd.orderLine(r)
	case Contacts:
		rd.contact(r)
	case Cases:
		rd.serviceCase(r)
	case Consents:
		rd.consent(r)
	case Spend:
		rd.spend(r)
	}
}

// checkTimes refuses a row whose time the recording engine would not believe: later than the
// import (beyond the clock skew a server may have) or older than an import may reach.
func (rd *Reader) checkTimes(r *row) string {
	for _, id := range []fieldID{fTimestamp, fOpenedAt, fClosedAt, fDate} {
		v := r.v[id]
		if !v.set {
			continue
		}
		limit := rd.spec.ReceivedAt.Add(beacon.MaxFutureSkew)
		if id == fDate { // a day: up to the import's own
			limit = rd.spec.ReceivedAt.Truncate(24 * time.Hour)
		}
		switch {
		case v.t.After(limit):
			return fmt.Sprintf("%s %s is after the import began (%s)", fields[id].Name, v.text, rd.spec.ReceivedAt.Format(time.RFC3339))
		case rd.spec.ReceivedAt.Sub(v.t) > beacon.MaxImportAge:
			return fmt.Sprintf("%s %s is more than 20 years before the import", fields[id].Name, v.text)
		}
	}
	if r.v[fClosedAt].set && r.v[fClosedAt].t.Before(r.v[fOpenedAt].t) {
		return "closed_at is before opened_at"
	}
	return ""
}

// idHash hashes what a message id is made of: the kind, the event, then each set value by
// field name, so that neither the columns' names nor their order change it.
type idHash struct {
	h   hash.Hash
	buf []byte // what is written next, reused
}

func newIDHash(k Kind, event string) *idHash {
	h := &idHash{h: sha256.New(), buf: make([]byte, 0, 64)}
	h.str(string(k))
	h.str(event)
	return h
}

// str writes s with its length first, so that no two sequences of values write the same bytes.
func (h *idHash) str(s string) {
	h.buf = binary.AppendUvarint(h.buf[:0], uint64(len(s)))
	h.buf = append(h.buf, s...)
	h.h.Write(h.buf)
}

// values hashes the set values of ids, and the custom ones when custom.
func (h *idHash) values(r *row, rd *Reader, custom bool, ids ...fieldID) {
	for _, id := range ids {
		if v := r.v[id]; v.set {
			h.str(fields[id].Name)
			h.str(v.text)
		}
	}
	if custom {
		for i, v := range r.custom {
			if v.set {
				h.str(rd.cols.custom[i])
				h.str(v.text)
			}
		}
	}
}

// sum is the message id, and the key the duplicate set keeps.
func (h *idHash) sum() (string, uint64) {
	s := h.h.Sum(nil)
	return MessageIDPrefix + hex.EncodeToString(s[:16]), binary.BigEndian.Uint64(s)
}

var identityIDs = []fieldID{fUserID, fAnonymousID, fEmail, fPhone}

// allFields are the field ids of the row's kind, in order.
func (rd *Reader) allFields() []fieldID {
	ids := make([]fieldID, 0, len(kindFields[rd.spec.Kind]))
	for _, u := range kindFields[rd.spec.Kind] {
		ids = append(ids, u.id)
	}
	return ids
}

// person is who an event is about: its ids, and the context that carries their email and phone
// for the endpoint's rules to hash.
func (rd *Reader) person(r *row) (userID, anonymousID string) {
	userID, anonymousID = r.v[fUserID].text, r.v[fAnonymousID].text
	if userID == "" && anonymousID == "" {
		// An event needs an anonymousId or a userId: one derived from the person's email (or
		// phone) finds the same profile on every import, and the hashed email joins it to the
		// profile that has it (a trusted source's rule).
		key := "email:" + r.v[fEmail].text
		if !r.v[fEmail].set {
			key = "phone:" + r.v[fPhone].text
		}
		anonymousID = MessageIDPrefix + pii.Hash(key)[:32]
	}
	return userID, anonymousID
}

// context is an event's context: the library, the person's email and phone as traits (hashed
// into the event's hashed identifiers by enrich), and consent answers when given.
func context(email, phone value, consent *jsonObject) []byte {
	o := newObject()
	lib := newObject()
	lib.str("name", Library)
	lib.str("version", "1")
	o.raw("library", lib.bytes())
	if email.set || phone.set {
		t := newObject()
		t.strIf("email", email.raw, email.set)
		t.strIf("phone", phone.raw, phone.set)
		o.raw("traits", t.bytes())
	}
	if consent != nil {
		o.raw("consent", consent.bytes())
	}
	return o.bytes()
}

// emit queues the events made from rows that the file had not given yet (Next enriches them and
// takes out personal data as the endpoint does); the rows count as imported unless every event
// was a duplicate.
func (rd *Reader) emit(first, last int, rows int64, evs []beacon.Event, keys []uint64) {
	fresh := evs[:0]
	for i, e := range evs {
		if _, dup := rd.events.get(keys[i]); dup {
			continue
		}
		rd.events.put(keys[i], uint32(first))
		fresh = append(fresh, e)
	}
	if len(fresh) == 0 {
		rd.status.Duplicates += rows
		return
	}
	rd.status.Imported += rows
	for i := range fresh {
		rd.status.Events++
		e := fresh[i]
		rd.pending = append(rd.pending, Output{Line: first, LastLine: last, Event: &e})
	}
}

// newEvent makes a track or identify event of the import.
func (rd *Reader) newEvent(r *row, typ, name, id string, at time.Time, props, traits, ctx []byte) beacon.Event {
	userID, anonymousID := rd.person(r)
	at = at.UTC()
	orig := at
	return beacon.Event{
		Type: typ, Event: name, MessageID: id, UserID: userID, AnonymousID: anonymousID,
		Properties: props, Traits: traits, Context: ctx,
		Timestamp: at, OriginalTimestamp: &orig, ReceivedAt: rd.spec.ReceivedAt,
		SourceID: rd.spec.Source.ID, Trusted: true,
	}
}

// tooBig refuses a row whose event would be larger than the endpoint takes.
func (rd *Reader) tooBig(r *row, parts ...[]byte) bool {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n > beacon.MaxEventBytes-1024 { // room for the envelope
		rd.reject(r, fmt.Sprintf("the row makes an event of more than %d bytes", beacon.MaxEventBytes))
		return true
	}
	return false
}

func (rd *Reader) customer(r *row) {
	t := newObject()
	t.strIf("email", r.v[fEmail].raw, r.v[fEmail].set)
	t.strIf("phone", r.v[fPhone].raw, r.v[fPhone].set)
	t.set("firstName", r.v[fFirstName])
	t.set("lastName", r.v[fLastName])
	t.set("birthday", r.v[fBirthday])
	t.set("createdAt", r.v[fCreatedAt])
	t.set("tier", r.v[fTier])
	if r.v[fCity].set || r.v[fCountry].set {
		a := newObject()
		a.set("city", r.v[fCity])
		a.set("country", r.v[fCountry])
		t.raw("address", a.bytes())
	}
	rd.addCustom(t, r)
	traits := t.bytes()
	if rd.tooBig(r, traits) {
		return
	}
	h := newIDHash(Customers, beacon.Identify)
	h.values(r, rd, true, rd.allFields()...)
	id, key := h.sum()
	at := rd.spec.ReceivedAt
	if r.v[fTimestamp].set {
		at = r.v[fTimestamp].t
	}
	ctx := context(value{}, value{}, nil)
	e := rd.newEvent(r, beacon.Identify, "", id, at, nil, traits, ctx)
	rd.emit(r.line, r.lastLine, 1, []beacon.Event{e}, []uint64{key})
}

func (rd *Reader) addCustom(o *jsonObject, r *row) {
	for i, v := range r.custom {
		o.set(rd.cols.custom[i], v)
	}
}

func (rd *Reader) contact(r *row) {
	typ := ContactTypes[r.v[fContactType].text]
	p := newObject()
	p.set("contact_id", r.v[fContactID])
	p.str("type", r.v[fContactType].text)
	p.str("channel", typ.Channel)
	direction := r.v[fDirection].text
	if direction == "" {
		direction = "outbound"
	}
	p.str("direction", direction)
	p.set("campaign_id", r.v[fCampaignID])
	p.set("campaign_name", r.v[fCampaignName])
	p.set("outcome", r.v[fOutcome])
	p.num("duration", r.v[fDuration])
	p.set("link_url", r.v[fLinkURL])
	rd.addCustom(p, r)
	props := p.bytes()
	if rd.tooBig(r, props) {
		return
	}
	h := newIDHash(Contacts, typ.Event)
	h.values(r, rd, true, rd.allFields()...)
	id, key := h.sum()
	e := rd.newEvent(r, beacon.Track, typ.Event, id, r.v[fTimestamp].t, props, nil, context(r.v[fEmail], r.v[fPhone], nil))
	rd.emit(r.line, r.lastLine, 1, []beacon.Event{e}, []uint64{key})
}

// serviceCase makes "Case Opened" at opened_at and, once the case is closed, "Case Closed" at
// closed_at. A case changes after it is exported, so each event's id hashes only what cannot
// change for it (the case, the person, its time): importing the case again when it has closed
// adds the closing and repeats nothing.
func (rd *Reader) serviceCase(r *row) {
	status := r.v[fStatus].text
	if status == "" {
		status = "open"
		if r.v[fClosedAt].set {
			status = "closed"
		}
	}
	p := newObject()
	p.set("case_id", r.v[fCaseID])
	p.str("status", status)
	p.set("topic", r.v[fTopic])
	p.set("priority", r.v[fPriority])
	p.set("channel", r.v[fChannel])
	p.set("opened_at", r.v[fOpenedAt])
	p.set("closed_at", r.v[fClosedAt])
	rd.addCustom(p, r)
	props := p.bytes()
	if rd.tooBig(r, props) {
		return
	}
	ctx := context(r.v[fEmail], r.v[fPhone], nil)
	h := newIDHash(Cases, EventCaseOpened)
	h.values(r, rd, false, append(identityIDs, fCaseID, fOpenedAt)...)
	id, key := h.sum()
	evs := []beacon.Event{rd.newEvent(r, beacon.Track, EventCaseOpened, id, r.v[fOpenedAt].t, props, nil, ctx)}
	keys := []uint64{key}
	if r.v[fClosedAt].set {
		h := newIDHash(Cases, EventCaseClosed)
		h.values(r, rd, false, append(identityIDs, fCaseID, fClosedAt)...)
		id, key := h.sum()
		evs = append(evs, rd.newEvent(r, beacon.Track, EventCaseClosed, id, r.v[fClosedAt].t, props, nil, ctx))
		keys = append(keys, key)
	}
	rd.emit(r.line, r.lastLine, 1, evs, keys)
}

// consent makes "Consent Updated", whose context.consent carries the answer as the tracker's
// consent state does, so the profile takes it as of the row's time.
func (rd *Reader) consent(r *row) {
	purpose, granted := r.v[fPurpose].text, r.v[fGranted].b
	p := newObject()
	p.str("purpose", purpose)
	p.boolean("granted", granted)
	p.set("channel", r.v[fChannel])
	p.set("source", r.v[fSource])
	rd.addCustom(p, r)
	props := p.bytes()
	if rd.tooBig(r, props) {
		return
	}
	c := newObject()
	c.boolean(purpose, granted)
	h := newIDHash(Consents, EventConsentUpdated)
	h.values(r, rd, true, rd.allFields()...)
	id, key := h.sum()
	e := rd.newEvent(r, beacon.Track, EventConsentUpdated, id, r.v[fTimestamp].t, props, nil, context(r.v[fEmail], r.v[fPhone], c))
	rd.emit(r.line, r.lastLine, 1, []beacon.Event{e}, []uint64{key})
}

// SpendRecord is a day's marketing spend on a channel (and campaign): not about a person, so not
// an event for the profiles but a record of its own, for return on ad spend.
type SpendRecord struct {
	ID           string    `json:"id"`   // deterministic, as a message id
	Date         string    `json:"date"` // YYYY-MM-DD
	Channel      string    `json:"channel"`
	CampaignID   string    `json:"campaignId,omitempty"`
	CampaignName string    `json:"campaignName,omitempty"`
	Source       string    `json:"source,omitempty"`
	Medium       string    `json:"medium,omitempty"`
	Cost         float64   `json:"cost"`
	Currency     string    `json:"currency"`
	Impressions  int64     `json:"impressions,omitempty"`
	Clicks       int64     `json:"clicks,omitempty"`
	SourceID     string    `json:"sourceId"`
	ReceivedAt   time.Time `json:"receivedAt"`
}

// ReadSpend reads a spend file as the import writes it to the archive bucket (spend/<key>.jsonl:
// one SpendRecord a line), for the return on ad spend. A line longer than MaxRowBytes, or one that
// is not a record with a date, a channel and a currency, is an error naming its line.
func ReadSpend(r io.Reader) ([]SpendRecord, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxRowBytes)
	var out []SpendRecord
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var s SpendRecord
		if err := json.Unmarshal(line, &s); err != nil {
			return nil, fmt.Errorf("line %d: not a spend record: %w", n, err)
		}
		if _, err := time.Parse(time.DateOnly, s.Date); err != nil || s.Channel == "" || s.Currency == "" {
			return nil, fmt.Errorf("line %d: a spend record needs a date (YYYY-MM-DD), a channel and a currency", n)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read spend: %w", err)
	}
	return out, nil
}

func (rd *Reader) spend(r *row) {
	currency := r.v[fCurrency].text
	if currency == "" {
		if currency = rd.spec.Currency; currency == "" {
			rd.reject(r, "currency is missing, and the import names none")
			return
		}
	}
	h := newIDHash(Spend, "spend")
	h.values(r, rd, false, rd.allFields()...)
	h.str(currency)
	id, key := h.sum()
	if _, dup := rd.events.get(key); dup {
		rd.status.Duplicates++
		return
	}
	rd.events.put(key, uint32(r.line))
	rd.status.Imported++
	rd.status.Spend++
	rd.pending = append(rd.pending, Output{Line: r.line, LastLine: r.lastLine, Spend: &SpendRecord{
		ID: id, Date: r.v[fDate].text, Channel: r.v[fChannel].text,
		CampaignID: r.v[fCampaignID].text, CampaignName: r.v[fCampaignName].text,
		Source: r.v[fSource].text, Medium: r.v[fMedium].text,
		Cost: r.v[fCost].num, Currency: currency,
		Impressions: int64(r.v[fImpressions].num), Clicks: int64(r.v[fClicks].num),
		SourceID: rd.spec.Source.ID, ReceivedAt: rd.spec.ReceivedAt,
	}})
}

// redactedRow is a rejected row's mapped fields by name, personal data hashed or redacted.
func (rd *Reader) redactedRow(r *row) []byte {
	o := newObject()
	any := false
	for _, u := range kindFields[rd.spec.Kind] {
		if r.has[u.id] && r.raw[u.id] != "" {
			o.str(fields[u.id].Name, validUTF8(r.raw[u.id]))
			any = true
		}
	}
	for i, raw := range r.customRaw {
		if raw != "" {
			o.str(rd.spec.Kind.CustomPrefix()+rd.cols.custom[i], validUTF8(raw))
			any = true
		}
	}
	if !any {
		return nil
	}
	out, _ := pii.RedactJSON(o.bytes(), rd.spec.Kind == Customers)
	return out
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return string([]rune(s)) // invalid bytes become U+FFFD
}

// round6 keeps sums of decimal amounts free of binary noise (0.1+0.2): no currency has more than
// four minor digits.
func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

func formatNum(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
