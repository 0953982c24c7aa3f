package main

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// ErrNoDataset is returned when the events file is not where the replay looks for it.
var ErrNoDataset = errors.New("dataset file not found")

// Row is one Snowplow atomic event, reduced to the fields the replay sends.
type Row struct {
	EventID      string
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

// snowplowTime is the atomic events' timestamp layout (UTC, no zone).
const snowplowTime = "2006-01-02 15:04:05.999"

// LoadSnowplow reads a Snowplow atomic events CSV (a header row naming the columns).
func LoadSnowplow(path string) ([]Row, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoDataset, path)
	}
	if err != nil {
		return nil, fmt.Errorf("open dataset: %w", err)
	}
	defer f.Close()
	return ParseSnowplow(f)
}

// ParseSnowplow reads Snowplow atomic events in CSV.
func ParseSnowplow(r io.Reader) ([]Row, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[h] = i
	}
	for _, need := range []string{"event_id", "event", "event_name", "domain_userid", "collector_tstamp"} {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("read header: no column %q", need)
		}
	}
	var rows []Row
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read line %d: %w", line, err)
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		ts := get("derived_tstamp")
		if ts == "" {
			ts = get("collector_tstamp")
		}
		at, err := time.Parse(snowplowTime, ts)
		if err != nil {
			return nil, fmt.Errorf("read line %d: timestamp %q: %w", line, ts, err)
		}
		row := Row{
			EventID: get("event_id"), Event: get("event"), EventName: get("event_name"),
			UserID: get("user_id"), DomainUserID: get("domain_userid"),
			SessionID: get("domain_sessionid"), SessionIdx: get("domain_sessionidx"), At: at.UTC(),
			PageURL: get("page_url"), PageTitle: get("page_title"), Referrer: get("page_referrer"), UserAgent: get("useragent"),
		}
		if row.EventID == "" {
			return nil, fmt.Errorf("read line %d: no event_id", line)
		}
		rows = append(rows, row)
	}
}

// Calls maps rows to Segment calls for /v1/batch: page_view → page, page_ping → track "Page Ping",
// anything else → track named after the event. Every call carries the row's event_id as its
// messageId (so the dataset's duplicate deliveries are recorded once), its anonymousId
// (domain_userid), its userId when set, and its timestamp. For every distinct (domain_userid,
// user_id) pair an identify is sent before the pair's first event, with a messageId derived from the
// pair, so replaying sends the same identifies again.
func Calls(rows []Row) []map[string]any {
	var out []map[string]any
	identified := map[string]bool{}
	for _, r := range rows {
		if r.UserID != "" {
			key := r.DomainUserID + "\x00" + r.UserID
			if !identified[key] {
				identified[key] = true
				id := map[string]any{"type": "identify", "messageId": IdentifyID(r.DomainUserID, r.UserID),
					"userId": r.UserID, "timestamp": r.At.Format(time.RFC3339Nano), "context": callContext(r)}
				if r.DomainUserID != "" {
					id["anonymousId"] = r.DomainUserID
				}
				out = append(out, id)
			}
		}
		c := map[string]any{"messageId": r.EventID, "timestamp": r.At.Format(time.RFC3339Nano), "context": callContext(r)}
		if r.DomainUserID != "" {
			c["anonymousId"] = r.DomainUserID
		}
		if r.UserID != "" {
			c["userId"] = r.UserID
		}
		switch r.Event {
		case "page_view":
			c["type"] = "page"
			c["name"] = r.PageTitle
			c["properties"] = map[string]any{"url": r.PageURL, "referrer": r.Referrer, "title": r.PageTitle}
		case "page_ping":
			// The atomic row says nothing of the heartbeat interval: the ping counts the default.
			c["type"] = "track"
			c["event"] = "Page Ping"
		default:
			c["type"] = "track"
			c["event"] = trackName(r)
		}
		out = append(out, c)
	}
	return out
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
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
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
