package archive

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/identity"
	"github.com/dcrm-project/dcrm/shared/profile"
)

// eventColumns says where each field of beacon.Event (and of its enrichment) goes: a column of the
// events table, or, for a field that has none, why. A field added to beacon.Event without an entry
// here fails TestEveryEventFieldHasAColumn.
var eventColumns = map[string]string{
	"Type": "type", "MessageID": "messageId", "AnonymousID": "anonymousId", "UserID": "userId",
	"Event": "event", "Name": "name", "Properties": "properties", "Traits": "traits", "Context": "context",
	"Integrations": "integrations", "Timestamp": "timestamp", "OriginalTimestamp": "originalTimestamp",
	"SentAt": "sentAt", "ReceivedAt": "receivedAt", "SourceID": "sourceId", "Trusted": "trusted",
	"Pixel": "pixel", "PreviousID": "previousId", "GroupID": "groupId", "Hashed": "hashed", "RawPII": "rawPII",
	"Enrichment.IP": "ip", "Enrichment.Referrer": "referrer", "Enrichment.Channel": "channel",
	"Enrichment.LinkerID":       "linkerId",
	"Enrichment.Device.Browser": "browser", "Enrichment.Device.BrowserVersion": "browserVersion",
	"Enrichment.Device.OS": "os", "Enrichment.Device.OSVersion": "osVersion", "Enrichment.Device.Class": "deviceClass",
	"Enrichment.Bot.IsBot": "isBot", "Enrichment.Bot.Reason": "botReason",
	"Enrichment.Campaign.Source": "campaignSource", "Enrichment.Campaign.Medium": "campaignMedium",
	"Enrichment.Campaign.Name": "campaignName", "Enrichment.Campaign.Term": "campaignTerm",
	"Enrichment.Campaign.Content": "campaignContent", "Enrichment.Campaign.ID": "campaignId",
	"Enrichment.Campaign.ClickID": "clickId", "Enrichment.Campaign.ClickIDType": "clickIdType",
}

// rowOnly are the events table's columns that no field of beacon.Event fills directly.
var rowOnly = map[string]string{
	"profileId": "the profile the event was recorded on, given by the recording engine",
	"category":  "read from properties.category of a page or screen call (the endpoint keeps no top-level category)",
}

// leafFields lists the exported fields of a struct type by dotted path, descending into structs
// (and pointers to structs) of package beacon.
func leafFields(t reflect.Type, prefix string) []string {
	var out []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() == reflect.TypeFor[beacon.Event]().PkgPath() {
			out = append(out, leafFields(ft, prefix+f.Name+".")...)
			continue
		}
		out = append(out, prefix+f.Name)
	}
	return out
}

func TestEveryEventFieldHasAColumn(t *testing.T) {
	events, _ := TableNamed(EventsTable)
	columns := map[string]bool{}
	for _, c := range events.Columns {
		columns[c.Name] = true
	}
	used := map[string]bool{}
	for _, field := range leafFields(reflect.TypeFor[beacon.Event](), "") {
		col, ok := eventColumns[field]
		if !ok {
			t.Errorf("beacon.Event.%s has no column in the events table: add one (Event, FromEvent) or say why here", field)
			continue
		}
		if !columns[col] {
			t.Errorf("beacon.Event.%s maps to %q, which the events table lacks", field, col)
		}
		used[col] = true
	}
	for _, c := range events.Columns {
		if !used[c.Name] && rowOnly[c.Name] == "" {
			t.Errorf("column %s is filled by no field of beacon.Event and not listed in rowOnly", c.Name)
		}
	}
}

// fullEvent has every field of beacon.Event set, as collect would put it on the stream.
func fullEvent() beacon.Event {
	ts := time.Date(2026, 12, 7, 23, 59, 58, 123e6, time.UTC)
	orig, sent := ts.Add(-time.Second), ts.Add(time.Second)
	return beacon.Event{
		Type: beacon.Page, MessageID: "m-1", AnonymousID: "a-1", UserID: "u-1", Event: "Viewed", Name: "Home",
		Properties:   json.RawMessage(`{"category":"Docs","url":"https://shop.example/"}`),
		Traits:       json.RawMessage(`{"plan":"pro"}`),
		Context:      json.RawMessage(`{"locale":"en-GB"}`),
		Integrations: json.RawMessage(`{"All":true}`),
		Timestamp:    ts, OriginalTimestamp: &orig, SentAt: &sent,
		ReceivedAt: ts.Add(2 * time.Second), SourceID: "src_shop", Trusted: true, Pixel: true,
		PreviousID: "a-0", GroupID: "g-1", RawPII: true,
		Hashed: map[string]string{"email_sha256": strings.Repeat("ab", 32)},
		Enrichment: &beacon.Enrichment{
			IP:       "203.0.113.0",
			Device:   &beacon.Device{Browser: "Chrome", BrowserVersion: "122.0", OS: "Windows", OSVersion: "10", Class: beacon.DeviceDesktop},
			Bot:      beacon.Bot{IsBot: true, Reason: beacon.BotHeadless},
			Campaign: &beacon.Campaign{Source: "google", Medium: "cpc", Name: "spring", Term: "shoes", Content: "ad-1", ID: "c-7", ClickID: "EAIa", ClickIDType: "gclid"},
			Referrer: "www.google.com", Channel: beacon.ChannelPaidSearch, LinkerID: "a-2",
		},
	}
}

func TestEveryColumnFilled(t *testing.T) {
	row := FromEvent(fullEvent(), "p-1")
	v := reflect.ValueOf(row)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Errorf("column %s is empty for an event with every field set", v.Type().Field(i).Tag.Get("parquet"))
		}
	}
	if row.Category != "Docs" || row.Channel != beacon.ChannelPaidSearch || row.ClickIDType != "gclid" || row.Hashed != `{"email_sha256":"`+strings.Repeat("ab", 32)+`"}` {
		t.Errorf("row = %+v", row)
	}
	if row.Date() != "2026-12-07" {
		t.Errorf("date = %s", row.Date())
	}
}

func TestTypes(t *testing.T) {
	events, _ := TableNamed(EventsTable)
	want := map[string]string{
		"type": String, "messageId": String, "profileId": String, "timestamp": Timestamp, "sentAt": Timestamp,
		"receivedAt": Timestamp, "originalTimestamp": Timestamp, "properties": String, "context": String,
		"isBot": Boolean, "trusted": Boolean, "channel": String,
	}
	got := map[string]string{}
	for _, c := range events.Columns {
		got[c.Name] = c.Type
	}
	for name, typ := range want {
		if got[name] != typ {
			t.Errorf("events.%s: %q, want %q", name, got[name], typ)
		}
	}
	if c := events.Columns[4]; c.Name != "messageId" || c.GlueName() != "messageid" {
		t.Errorf("column 4: %+v, Glue name %s", c, c.GlueName())
	}
	if got["dt"] != "" || events.Partition != (Column{Name: "dt", Type: String}) {
		t.Errorf("dt must be the partition key only: %v %v", got["dt"], events.Partition)
	}
	profiles, _ := TableNamed(ProfilesTable)
	pt := map[string]string{}
	for _, c := range profiles.Columns {
		pt[c.Name] = c.Type
	}
	if pt["revenue"] != Double || pt["orderCount"] != BigInt || pt["lastSeen"] != Timestamp || pt["pAlive"] != Double {
		t.Errorf("profiles types: %v", pt)
	}
	if len(Tables) != 4 || Tables[3].Name != MergesTable || Tables[1].Key("2026-12-07", "x") != "profiles/dt=2026-12-07/x.parquet" {
		t.Errorf("tables: %+v", Tables)
	}
}

func TestRoundTrip(t *testing.T) {
	var rows []Event
	for i := range 10 {
		e := fullEvent()
		e.MessageID = "m-" + string(rune('a'+i))
		e.Timestamp = e.Timestamp.Add(time.Duration(i) * time.Second) // the last 8 cross midnight
		if i%2 == 1 {
			e.UserID, e.Properties, e.SentAt, e.Enrichment = "", nil, nil, nil
		}
		rows = append(rows, FromEvent(e, "p-1"))
	}
	w := NewWriter[Event](Tables[0], Options{RowGroupRows: 3})
	if err := WriteEvents(w, rows); err != nil {
		t.Fatal(err)
	}
	if w.Rows() != 10 {
		t.Errorf("rows = %d", w.Rows())
	}
	files, err := w.Flush()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || !strings.HasPrefix(files[0].Key, "events/dt=2026-12-07/part-") || !strings.HasPrefix(files[1].Key, "events/dt=2026-12-08/part-") {
		t.Fatalf("files: %v", keys(files))
	}
	var back []Event
	for _, f := range files {
		got, err := parquet.Read[Event](bytes.NewReader(f.Body), int64(len(f.Body)))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != f.Rows {
			t.Errorf("%s: %d rows read, %d written", f.Key, len(got), f.Rows)
		}
		back = append(back, got...)
	}
	if !reflect.DeepEqual(back, rows) {
		t.Errorf("read back differs:\n got %+v\nwant %+v", back[1], rows[1])
	}

	// A row group of three rows: the file of 8 rows has three groups. Empty strings are NULLs.
	f, err := parquet.OpenFile(bytes.NewReader(files[1].Body), int64(len(files[1].Body)))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.RowGroups()); n != 3 {
		t.Errorf("row groups = %d, want 3", n)
	}
	col, _ := f.Schema().Lookup("userId")
	nulls := 0
	for _, rg := range f.RowGroups() {
		pages := rg.ColumnChunks()[col.ColumnIndex].Pages()
		for {
			p, err := pages.ReadPage()
			if err != nil {
				break
			}
			nulls += int(p.NumNulls())
		}
		pages.Close()
	}
	if nulls != 4 {
		t.Errorf("userId nulls = %d, want 4 (the odd rows of that day)", nulls)
	}
	if !strings.Contains(string(f.Metadata().CreatedBy), "dcrm") || f.Metadata().RowGroups[0].Columns[0].MetaData.Codec.String() != "ZSTD" {
		t.Errorf("metadata: %s, %v", f.Metadata().CreatedBy, f.Metadata().RowGroups[0].Columns[0].MetaData.Codec)
	}
	if w.Rows() != 0 {
		t.Error("flush did not empty the writer")
	}
}

func keys(files []File) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.Key)
	}
	return out
}

func TestSameRowsSameKey(t *testing.T) {
	write := func() string {
		w := NewWriter[Event](Tables[0], Options{})
		if err := WriteEvents(w, []Event{FromEvent(fullEvent(), "p-1")}); err != nil {
			t.Fatal(err)
		}
		files, err := w.Flush()
		if err != nil || len(files) != 1 {
			t.Fatal(files, err)
		}
		return files[0].Key
	}
	if a, b := write(), write(); a != b {
		t.Errorf("the same rows made %s and %s: a retried batch would be archived twice", a, b)
	}
}

func TestBadDate(t *testing.T) {
	w := NewWriter[Merge](Tables[3], Options{})
	for _, dt := range []string{"", "2026-13-01", "../../x", "2026-12-07/evil"} {
		if err := w.Write(dt, Merge{MergedID: "a", ProfileID: "b"}); !errors.Is(err, ErrDate) {
			t.Errorf("date %q: err = %v", dt, err)
		}
	}
}

func TestWrongTablePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a writer of Merge rows for the events table was made")
		}
	}()
	NewWriter[Merge](Tables[0], Options{})
}

func TestPersonalDataRedacted(t *testing.T) {
	e := fullEvent()
	e.RawPII = false
	e.Properties = json.RawMessage(`{"email":"jane@example.com","note":"call jane@example.com"}`)
	e.Traits = json.RawMessage(`{"firstName":"Jane"}`)
	row := FromEvent(e, "")
	for _, s := range []string{row.Properties, row.Traits} {
		if strings.Contains(s, "jane@example.com") || strings.Contains(s, "Jane") {
			t.Errorf("personal data in clear: %s", s)
		}
	}
	if string(e.Properties) != `{"email":"jane@example.com","note":"call jane@example.com"}` {
		t.Error("FromEvent changed the caller's event")
	}
	if row.ProfileID != "" {
		t.Error("no profile: the column must be NULL")
	}
	e.RawPII = true // the source keeps raw personal data: so does the archive, and says so
	if row := FromEvent(e, ""); !strings.Contains(row.Properties, "jane@example.com") || !row.RawPII {
		t.Errorf("raw PII source: %+v", row)
	}
}

func TestSnapshotRows(t *testing.T) {
	seen := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	p := profile.Profile{
		ID: "p-1", UserID: "u-1", FirstSeen: seen, LastSeen: seen.Add(time.Hour), Counts: profile.Counts{Events: 7, PageViews: 3},
		Visits: 2, LastChannel: "email", OrderCount: 1, Revenue: 12.5, Traits: map[string]any{"plan": "pro"},
		Groups:      []string{"g-1"},
		Acquisition: profile.Touch{At: seen, Channel: "paid search"}, FirstOrder: profile.Touch{At: seen, Channel: "online"},
		LastOrder: profile.Touch{At: seen, Channel: "store"},
		Score: &profile.Score{RFM: &profile.RFMScore{Segment: "Champions", Score: 555}, Value: &profile.Value{PAlive: 0.9, CLV: 40},
			Lapse: &profile.LapseRisk{Risk: 0.1}, Cluster: "recent high-spending"},
	}
	r := FromProfile(p)
	if r.ProfileID != "p-1" || *r.FirstSeen != seen || r.Events != 7 || r.Revenue != 12.5 || r.RFMSegment != "Champions" ||
		*r.PAlive != 0.9 || *r.CLV != 40 || *r.LapseRisk != 0.1 || r.Traits != `{"plan":"pro"}` || r.Groups != `["g-1"]` || r.UpdatedAt != nil ||
		r.AcquisitionChannel != "paid search" || r.FirstOrderChannel != "online" || r.LastOrderChannel != "store" || r.Cluster != "recent high-spending" {
		t.Errorf("profile row = %+v", r)
	}
	ids := Identifiers("p-1", p.Identifiers())
	if len(ids) != 1 || ids[0] != (Identifier{ProfileID: "p-1", Kind: string(identity.User), Value: "u-1"}) {
		t.Errorf("identifiers = %+v", ids)
	}
	m := Merges(map[string]string{"a": "b", "b": "c", "x": "c", "l1": "l2", "l2": "l1"})
	want := []Merge{{"a", "c"}, {"b", "c"}, {"x", "c"}}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("merges = %+v, want %+v (chains followed to the live profile, loops left out)", m, want)
	}
}

// TestREADMEListsTheColumns: README.md's table of each table lists its columns, in order, with
// their types, then the partition key.
func TestREADMEListsTheColumns(t *testing.T) {
	doc, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := strings.Split(string(doc), "\n### ")
	for _, tb := range Tables {
		var listed []string
		for _, s := range sections {
			if !strings.HasPrefix(s, tb.Name+"\n") {
				continue
			}
			s, _, _ = strings.Cut(s, "\n## ")
			for _, line := range strings.Split(s, "\n") {
				cells := strings.Split(line, "|")
				if len(cells) > 3 && strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
					listed = append(listed, strings.Trim(strings.TrimSpace(cells[1]), "`")+" "+strings.TrimSuffix(strings.TrimSpace(cells[2]), " (JSON)"))
				}
			}
		}
		var want []string
		for _, c := range append(tb.Columns, tb.Partition) {
			want = append(want, c.Name+" "+c.Type)
		}
		if !reflect.DeepEqual(listed, want) {
			t.Errorf("README.md, %s:\n got %v\nwant %v", tb.Name, listed, want)
		}
	}
}

func TestInvalidUTF8Replaced(t *testing.T) {
	e := fullEvent()
	e.Properties = json.RawMessage("{\"k\":\"v\xff\"}")
	e.Context = json.RawMessage("{\"page\":{\"title\":\"\xc3\"}}")
	e.Enrichment.Referrer = "host\xfe"
	r := FromEvent(e, "p\xff")
	if r.Properties != "{\"k\":\"v\uFFFD\"}" || r.Context != "{\"page\":{\"title\":\"\uFFFD\"}}" || r.Referrer != "host\uFFFD" || r.ProfileID != "p\uFFFD" {
		t.Errorf("row = %q %q %q %q", r.Properties, r.Context, r.Referrer, r.ProfileID)
	}
}

func TestGlue(t *testing.T) {
	events, _ := TableNamed(EventsTable)
	if l := events.Location("dcrm-archive", "lake/"); l != "s3://dcrm-archive/lake/events/" {
		t.Errorf("location = %s", l)
	}
	p := events.GlueParameters("dcrm-archive", "", "2026-12-01")
	if p["storage.location.template"] != "s3://dcrm-archive/events/dt=${dt}/" || p["projection.dt.range"] != "2026-12-01,NOW" || p["projection.dt.format"] != "yyyy-MM-dd" {
		t.Errorf("parameters = %v", p)
	}
	// The template names the same keys the writer makes.
	key := events.Key("2026-12-07", "part-x")
	if got := "s3://dcrm-archive/" + key; !strings.HasPrefix(got, strings.ReplaceAll(p["storage.location.template"], "${dt}", "2026-12-07")) {
		t.Errorf("the writer's key %s is not under the projected location", got)
	}
}
