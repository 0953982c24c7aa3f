package main

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
)

// ErrNoDataset is returned when the events file is not where the replay looks for it.
var ErrNoDataset = errors.New("dataset file not found")

// Row is one Snowplow atomic event, reduced to the fields the replay sends.
type Row struct {
	EventID      string
	AppID        string
	Platform     string // web, mob, …
	Event        string // page_view, page_ping, struct, unstruct
	EventName    string
	UserID       string
	DomainUserID string
	SessionID    string // domain_sessionid
	SessionIdx   string // domain_sessionidx
	At           time.Time
	PageURL      string
	PageTitle    string
	Referrer     string
	UserAgent    string
}

// snowplowTimes are the layouts of the atomic events' timestamps: UTC without a zone (as the
// warehouse exports them) or with one ("+00:00"), to the millisecond or the microsecond.
var snowplowTimes = []string{"2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00"}

func parseTime(s string) (time.Time, error) {
	var first error
	for _, layout := range snowplowTimes {
		t, err := time.Parse(layout, s)
		if err == nil {
			return t.UTC(), nil
		}
		if first == nil {
			first = err
		}
	}
	return time.Time{}, first
}

// openDataset opens a file of a public set, saying ErrNoDataset when it is missing.
func openDataset(path string) (*os.File, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoDataset, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open dataset: %w", err)
	}
	return f, nil
}

// readTable reads a CSV file whose first row names the columns: need are the columns it must have,
// and each is called for every record with a getter of its columns by name (trimmed, "" for a
// column the file lacks). Errors name the line the record starts on.
func readTable(r io.Reader, need []string, each func(get func(string) string) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return fmt.Errorf("read header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		if _, dup := col[h]; !dup {
			col[h] = i
		}
	}
	for _, name := range need {
		if _, ok := col[name]; !ok {
			return fmt.Errorf("read header: no column %q", name)
		}
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read records: %w", err) // a csv.ParseError names its line
		}
		line, _ := cr.FieldPos(0)
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		if err := each(get); err != nil {
			return fmt.Errorf("read line %d: %w", line, err)
		}
	}
}

// LoadSnowplow reads a Snowplow atomic events CSV (a header row naming the columns).
func LoadSnowplow(path string) ([]Row, error) {
	f, err := openDataset(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseSnowplow(f)
}

// ParseSnowplow reads Snowplow atomic events in CSV.
func ParseSnowplow(r io.Reader) ([]Row, error) {
	var rows []Row
	err := readTable(r, []string{"event_id", "event", "event_name", "domain_userid", "collector_tstamp"}, func(get func(string) string) error {
		ts := get("derived_tstamp")
		if ts == "" {
			ts = get("collector_tstamp")
		}
		at, err := parseTime(ts)
		if err != nil {
			return fmt.Errorf("timestamp %q: %w", ts, err)
		}
		row := Row{
			EventID: get("event_id"), AppID: get("app_id"), Platform: get("platform"), Event: get("event"), EventName: get("event_name"),
			UserID: get("user_id"), DomainUserID: get("domain_userid"),
			SessionID: get("domain_sessionid"), SessionIdx: get("domain_sessionidx"), At: at,
			PageURL: get("page_url"), PageTitle: get("page_title"), Referrer: get("page_referrer"), UserAgent: get("useragent"),
		}
		if row.EventID == "" {
			return errors.New("no event_id")
		}
		rows = append(rows, row)
		return nil
	})
	return rows, err
}

// Calls maps rows to Segment calls for /v1/batch: page_view → page, page_ping → track "Page Ping",
// anything else → track named after the event. Every call carries the row's event_id as its
// messageId (so the dataset's duplicate deliveries are recorded once), its anonymousId
// (domain_userid), its userId when set, and its timestamp. For every distinct (domain_userid,
// user_id) pair an identify is sent before the pair's first event, with a messageId derived from the
// pair, so replaying sends the same identifies again.
func Calls(rows []Row) []map[string]any {
	var cs callSeq
	for _, r := range rows {
		switch r.Event {
		case "page_view":
			cs.add(r, nil, pageCall(r, r.PageTitle))
		case "page_ping":
			// The atomic row says nothing of the heartbeat interval: the ping counts the default.
			cs.add(r, nil, trackCall("Page Ping", nil))
		default:
			cs.add(r, nil, trackCall(trackName(r), nil))
		}
	}
	return cs.calls
}

// callSeq builds the calls of a replay in order: each event's call, after the identify of its
// (anonymousId, userId) pair the first time the pair is seen.
type callSeq struct {
	calls      []map[string]any
	identified map[string]bool
}

// add appends the call of row r, whose type and type-specific fields are in body, preceded by the
// identify of r's pair (with traits) if the pair is new. A row with neither a domain_userid nor a
// user id makes no call: the endpoint would refuse it (EcomFacts.Unsent lists such events; the web
// set has none).
func (cs *callSeq) add(r Row, traits map[string]any, body map[string]any) {
	if r.DomainUserID == "" && r.UserID == "" {
		return
	}
	if r.UserID != "" {
		if cs.identified == nil {
			cs.identified = map[string]bool{}
		}
		if key := r.DomainUserID + "\x00" + r.UserID; !cs.identified[key] {
			cs.identified[key] = true
			id := cs.envelope(r, IdentifyID(r.DomainUserID, r.UserID))
			id["type"] = "identify"
			if len(traits) > 0 {
				id["traits"] = traits
			}
			cs.calls = append(cs.calls, id)
		}
	}
	c := cs.envelope(r, r.EventID)
	for k, v := range body {
		c[k] = v
	}
	cs.calls = append(cs.calls, c)
}

// envelope is what every call of row r carries: messageId, timestamp, context and identifiers.
func (cs *callSeq) envelope(r Row, messageID string) map[string]any {
	c := map[string]any{"messageId": messageID, "timestamp": r.At.Format(time.RFC3339Nano), "context": callContext(r)}
	if r.DomainUserID != "" {
		c["anonymousId"] = r.DomainUserID
	}
	if r.UserID != "" {
		c["userId"] = r.UserID
	}
	return c
}

// pageCall is the body of a page call for row r's page.
func pageCall(r Row, name string) map[string]any {
	c := map[string]any{"type": "page", "properties": map[string]any{"url": r.PageURL, "referrer": r.Referrer, "title": r.PageTitle}}
	if name != "" {
		c["name"] = name
	}
	return c
}

// trackCall is the body of a track call.
func trackCall(event string, props map[string]any) map[string]any {
	c := map[string]any{"type": "track", "event": event}
	if props != nil {
		c["properties"] = props
	}
	return c
}

// IdentifyID is the messageId of the identify sent for a (domain_userid, user_id) pair.
func IdentifyID(domainUserID, userID string) string {
	h := sha256.Sum256([]byte(domainUserID + "\x00" + userID))
	return "identify-" + hex.EncodeToString(h[:12])
}

func trackName(r Row) string {
	if r.EventName != "" {
		return r.EventName
	}
	return r.Event
}

func callContext(r Row) map[string]any {
	c := map[string]any{}
	if r.PageURL != "" || r.Referrer != "" {
		c["page"] = map[string]any{"url": r.PageURL, "referrer": r.Referrer, "title": r.PageTitle}
	}
	if r.UserAgent != "" {
		c["userAgent"] = r.UserAgent
	}
	return c
}

// Facts are what the rows say, computed from the rows alone, to compare with the profiles.
type Facts struct {
	Rows            int
	Events          int                 // distinct event_ids
	DomainUserIDs   map[string][]string // domain_userid → its distinct user_ids, sorted
	Users           map[string]*User    // by user_id
	Sessions        int                 // distinct non-empty domain_sessionids
	NoDomainUserID  int                 // rows without a domain_userid
	ConflictingDUID []string            // domain_userids seen with more than one user_id
}

// User is what the rows say of one user_id.
type User struct {
	DomainUserIDs map[string]bool
	Events        map[string]Row // distinct event_ids, first row of each
	Sessions      map[string]bool
	MaxSessionIdx map[string]string // per domain_userid, the highest domain_sessionidx seen
}

// GapSessions counts the user's sessions by the inactivity rule alone (a gap over timeout between
// consecutive events), over its distinct events.
func (u *User) GapSessions(timeout time.Duration) int {
	var ts []time.Time
	for _, r := range u.Events {
		ts = append(ts, r.At)
	}
	return gapSessions(ts, timeout)
}

// gapSessions counts the runs of times (in any order) in which no two consecutive times are more
// than timeout apart.
func gapSessions(ts []time.Time, timeout time.Duration) int {
	ts = slices.Clone(ts)
	slices.SortFunc(ts, time.Time.Compare)
	n := 0
	for i, t := range ts {
		if i == 0 || t.Sub(ts[i-1]) > timeout {
			n++
		}
	}
	return n
}

// PageViews counts the user's distinct page views.
func (u *User) PageViews() int {
	n := 0
	for _, r := range u.Events {
		if r.Event == "page_view" {
			n++
		}
	}
	return n
}

// ComputeFacts derives the facts of rows.
func ComputeFacts(rows []Row) Facts {
	f := Facts{Rows: len(rows), DomainUserIDs: map[string][]string{}, Users: map[string]*User{}}
	events, sessions := map[string]bool{}, map[string]bool{}
	duids := map[string]map[string]bool{}
	for _, r := range rows {
		events[r.EventID] = true
		if r.SessionID != "" {
			sessions[r.SessionID] = true
		}
		if r.DomainUserID == "" {
			f.NoDomainUserID++
		} else {
			if duids[r.DomainUserID] == nil {
				duids[r.DomainUserID] = map[string]bool{}
			}
			if r.UserID != "" {
				duids[r.DomainUserID][r.UserID] = true
			}
		}
		if r.UserID == "" {
			continue
		}
		u := f.Users[r.UserID]
		if u == nil {
			u = &User{DomainUserIDs: map[string]bool{}, Events: map[string]Row{}, Sessions: map[string]bool{}, MaxSessionIdx: map[string]string{}}
			f.Users[r.UserID] = u
		}
		if r.DomainUserID != "" {
			u.DomainUserIDs[r.DomainUserID] = true
		}
		if _, seen := u.Events[r.EventID]; !seen {
			u.Events[r.EventID] = r
		}
		if r.SessionID != "" {
			u.Sessions[r.SessionID] = true
		}
		if r.DomainUserID != "" && r.SessionIdx > u.MaxSessionIdx[r.DomainUserID] {
			u.MaxSessionIdx[r.DomainUserID] = r.SessionIdx
		}
	}
	f.Events, f.Sessions = len(events), len(sessions)
	for d, us := range duids {
		var list []string
		for u := range us {
			list = append(list, u)
		}
		sort.Strings(list)
		f.DomainUserIDs[d] = list
		if len(list) > 1 {
			f.ConflictingDUID = append(f.ConflictingDUID, d)
		}
	}
	sort.Strings(f.ConflictingDUID)
	return f
}
