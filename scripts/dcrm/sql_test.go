//go:build cgo

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/parquet-go/parquet-go"

	"github.com/dcrm-project/dcrm/scripts/dcrm/lake"
	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/source"
)

// fakeArchive is an S3-compatible server (gofakes3, in memory) holding an archive bucket, with the
// SDK's environment pointing at it. gets counts the objects read.
type fakeArchive struct {
	client *s3.Client
	bucket string
	gets   atomic.Int64
}

func newFakeArchive(t *testing.T) *fakeArchive {
	t.Helper()
	fa := &fakeArchive{bucket: "dcrm-archive"}
	backend := s3mem.New()
	if err := backend.CreateBucket(fa.bucket); err != nil {
		t.Fatal(err)
	}
	s3server := gofakes3.New(backend).Server()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, ".parquet") {
			fa.gets.Add(1)
		}
		s3server.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	for k, v := range map[string]string{
		"AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
		"AWS_ENDPOINT_URL_S3": srv.URL, "AWS_CONFIG_FILE": os.DevNull, "AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
		"AWS_EC2_METADATA_DISABLED": "true", archiveBucketVar: fa.bucket, archivePrefixVar: "",
		archiveCacheVar: t.TempDir(),
	} {
		t.Setenv(k, v)
	}
	client, err := archiveClient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	fa.client = client
	return fa
}

func (fa *fakeArchive) put(t *testing.T, files []archive.File) {
	t.Helper()
	for _, f := range files {
		_, err := fa.client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(fa.bucket), Key: aws.String(f.Key), Body: bytes.NewReader(f.Body)})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// ev is an event of the known data set: day 1 or 2, minute of the day's hour.
func ev(id string, day, minute int, typ, name, profileID, anon, channel, props string) archive.Event {
	ts := time.Date(2026, 12, day, 10, minute, 0, 0, time.UTC)
	e := beacon.Event{Type: typ, Event: name, MessageID: id, AnonymousID: anon, Timestamp: ts, ReceivedAt: ts.Add(time.Second),
		SourceID: "src_shop", Enrichment: &beacon.Enrichment{Channel: channel, Device: &beacon.Device{Class: beacon.DeviceDesktop}}}
	if props != "" {
		e.Properties = json.RawMessage(props)
	}
	if anon == "" {
		e.UserID, e.Trusted = "u-"+profileID, true
	}
	return archive.FromEvent(e, profileID)
}

// knownEvents: p1 goes through the whole funnel on day 1; p2 views and adds, then orders in a
// store on day 2; p4 views and adds on day 1 and p5 checks out and orders on day 2, and p5 is
// later merged into p4; a bot's page view; p1's identify.
func knownEvents() []archive.Event {
	bot := ev("m14", 2, 13, beacon.Page, "", "", "a9", beacon.ChannelDirect, "")
	bot.IsBot, bot.BotReason = true, beacon.BotHeadless
	identify := ev("m15", 2, 14, beacon.Identify, "", "p1", "a1", "", "")
	identify.UserID = "u1"
	return []archive.Event{
		ev("m1", 1, 0, beacon.Page, "", "p1", "a1", beacon.ChannelPaidSearch, ""),
		ev("m2", 1, 1, beacon.Track, "Product Viewed", "p1", "a1", beacon.ChannelPaidSearch, `{"product_id":"sku-1"}`),
		ev("m3", 1, 2, beacon.Track, "Product Added", "p1", "a1", beacon.ChannelPaidSearch, `{"product_id":"sku-1"}`),
		ev("m4", 1, 3, beacon.Track, "Checkout Started", "p1", "a1", beacon.ChannelPaidSearch, ""),
		ev("m5", 1, 4, beacon.Track, "Order Completed", "p1", "a1", beacon.ChannelPaidSearch, `{"order_id":"o1","revenue":30}`),
		ev("m6", 1, 5, beacon.Page, "", "p2", "a2", beacon.ChannelEmail, ""),
		ev("m7", 1, 6, beacon.Track, "Product Viewed", "p2", "a2", beacon.ChannelEmail, ""),
		ev("m8", 1, 7, beacon.Track, "Product Added", "p2", "a2", beacon.ChannelEmail, ""),
		ev("m9", 1, 8, beacon.Track, "Product Viewed", "p4", "a4", beacon.ChannelOrganicSearch, ""),
		ev("m10", 1, 9, beacon.Track, "Product Added", "p4", "a4", beacon.ChannelOrganicSearch, ""),
		ev("m11", 2, 10, beacon.Track, "Checkout Started", "p5", "a5", beacon.ChannelDirect, ""),
		ev("m12", 2, 11, beacon.Track, "Order Completed", "p5", "a5", beacon.ChannelDirect, `{"order_id":"o2","total":20}`),
		ev("m13", 2, 12, beacon.Track, "Order Completed", "p2", "", "", `{"order_id":"s1","revenue":50,"store":"Leeds"}`),
		bot, identify,
	}
}

// seedKnown writes the known data set into the archive: the events (and p1's order a second
// time, in a file of its own, as a retried batch from another writer would), two merges
// snapshots (the older one wrong) and two profiles snapshots.
func seedKnown(t *testing.T, fa *fakeArchive) []archive.Event {
	t.Helper()
	events := knownEvents()
	ew := archive.NewWriter[archive.Event](archive.Tables[0], archive.Options{})
	if err := archive.WriteEvents(ew, events); err != nil {
		t.Fatal(err)
	}
	files, err := ew.Flush()
	if err != nil {
		t.Fatal(err)
	}
	again := events[4]
	again.ReceivedAt = again.ReceivedAt.Add(time.Minute)
	if err := archive.WriteEvents(ew, []archive.Event{again}); err != nil {
		t.Fatal(err)
	}
	more, err := ew.Flush()
	if err != nil {
		t.Fatal(err)
	}
	mw := archive.NewWriter[archive.Merge](archive.Tables[3], archive.Options{})
	mw.Write("2026-12-01", archive.Merges(map[string]string{"p5": "p2"})...)
	mw.Write("2026-12-02", archive.Merges(map[string]string{"p5": "p4"})...)
	merges, err := mw.Flush()
	if err != nil {
		t.Fatal(err)
	}
	pw := archive.NewWriter[archive.Profile](archive.Tables[1], archive.Options{})
	pw.Write("2026-12-01", archive.Profile{ProfileID: "p1", AcquisitionChannel: "paid search"})
	pw.Write("2026-12-02",
		archive.Profile{ProfileID: "p1", AcquisitionChannel: beacon.ChannelPaidSearch, OrderCount: 1, Revenue: 30},
		archive.Profile{ProfileID: "p2", AcquisitionChannel: beacon.ChannelEmail, OrderCount: 1, Revenue: 50},
		archive.Profile{ProfileID: "p4", OrderCount: 1, Revenue: 20},
		archive.Profile{ProfileID: "p6", AcquisitionChannel: beacon.ChannelEmail, OrderCount: 2, Revenue: 15.5},
		archive.Profile{ProfileID: "p7", AcquisitionChannel: beacon.ChannelDirect},
	)
	profiles, err := pw.Flush()
	if err != nil {
		t.Fatal(err)
	}
	fa.put(t, append(append(append(files, more...), merges...), profiles...))
	return append(events, again)
}

func dcrmSQL(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), append([]string{"sql"}, args...), &out)
	return out.String(), err
}

func TestSQLCountsEqualTheRowsWritten(t *testing.T) {
	fa := newFakeArchive(t)
	rows := seedKnown(t, fa)
	want := map[string]int{}
	for _, r := range rows {
		want[r.Date()+","+r.Type]++
	}
	var lines []string
	for k, n := range want {
		lines = append(lines, fmt.Sprintf("%s,%d", k, n))
	}
	sort.Strings(lines)
	got, err := dcrmSQL(t, "SELECT dt, type, count(*) AS n FROM events GROUP BY dt, type ORDER BY dt, type")
	if err != nil {
		t.Fatal(err)
	}
	if wantCSV := "dt,type,n\n" + strings.Join(lines, "\n") + "\n"; got != wantCSV {
		t.Errorf("counts per day and type:\n%s\nwant\n%s", got, wantCSV)
	}
	if fa.gets.Load() != 7 {
		t.Errorf("%d objects fetched, want the 7 files", fa.gets.Load())
	}

	// A second query reads the cache: nothing is fetched again.
	if got, err := dcrmSQL(t, "SELECT count(*) AS n, count(DISTINCT messageId) AS distinct_events FROM events"); err != nil || got != "n,distinct_events\n16,15\n" {
		t.Errorf("total: %q, %v", got, err)
	}
	if fa.gets.Load() != 7 {
		t.Errorf("%d objects fetched after a second query: the cache was not used", fa.gets.Load())
	}

	// A file deleted from the bucket leaves the cache, and the results, on the next query.
	ctx := context.Background()
	list, err := fa.client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(fa.bucket), Prefix: aws.String("profiles/dt=2026-12-01/")})
	if err != nil || len(list.Contents) != 1 {
		t.Fatal(list, err)
	}
	if _, err := fa.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(fa.bucket), Key: list.Contents[0].Key}); err != nil {
		t.Fatal(err)
	}
	if got, err := dcrmSQL(t, "SELECT dt, count(*) AS n FROM profiles GROUP BY dt"); err != nil || got != "dt,n\n2026-12-02,5\n" {
		t.Errorf("after deleting a snapshot: %q, %v", got, err)
	}
}

func TestSQLViewsHaveTheAthenaColumns(t *testing.T) {
	fa := newFakeArchive(t)
	seedKnown(t, fa) // no identifiers: that view is empty, with its columns all the same
	for _, tb := range archive.Tables {
		var want []string
		for _, c := range append(tb.Columns, tb.Partition) {
			want = append(want, c.Name+","+map[string]string{archive.String: "VARCHAR", archive.BigInt: "BIGINT",
				archive.Double: "DOUBLE", archive.Boolean: "BOOLEAN", archive.Timestamp: "TIMESTAMP"}[c.Type])
		}
		got, err := dcrmSQL(t, "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = '"+tb.Name+"' ORDER BY ordinal_position")
		if err != nil {
			t.Fatal(err)
		}
		if w := "column_name,data_type\n" + strings.Join(want, "\n") + "\n"; got != w {
			t.Errorf("%s columns:\n%s\nwant\n%s", tb.Name, got, w)
		}
	}
	if got, err := dcrmSQL(t, "SELECT count(*) AS n FROM identifiers"); err != nil || got != "n\n0\n" {
		t.Errorf("empty table: %q, %v", got, err)
	}
}

func TestSQLSavedQueries(t *testing.T) {
	fa := newFakeArchive(t)
	seedKnown(t, fa)
	want := map[string]string{
		"events_per_channel_per_day": `day,channel,events,visitors
2026-12-01,email,3,1
2026-12-01,organic search,2,1
2026-12-01,paid search,5,1
2026-12-02,direct,2,1
2026-12-02,unknown,2,1
`,
		// p5's checkout and order count for p4, into whom the latest snapshot merged it; p2
		// ordered in a store without a checkout.
		"funnel": `product_viewed,product_added,checkout_started,order_completed
3,3,2,2
`,
		"customers_by_acquisition_channel": `acquisition_channel,customers,orders,revenue
email,2,3,65.5
paid search,1,1,30
unknown,1,1,20
`,
		"orders_online_vs_offline": `month,channel,orders,revenue
2026-12,offline,1,50
2026-12,online,2,50
`,
	}
	for _, q := range archive.SavedQueries() {
		got, err := dcrmSQL(t, "--saved", q.Name)
		if err != nil {
			t.Errorf("%s: %v", q.Name, err)
			continue
		}
		if got != want[q.Name] {
			t.Errorf("%s:\n%s\nwant\n%s", q.Name, got, want[q.Name])
		}
	}
	if len(archive.SavedQueries()) != len(want) {
		t.Errorf("%d saved queries, %d checked", len(archive.SavedQueries()), len(want))
	}
	if out, err := dcrmSQL(t, "--list"); err != nil || !strings.Contains(out, "funnel\tThe e-commerce funnel") {
		t.Errorf("--list: %q, %v", out, err)
	}
}

func TestSQLOutput(t *testing.T) {
	fa := newFakeArchive(t)
	seedKnown(t, fa)
	q := `SELECT messageId, "timestamp", properties, userId, isBot, json_extract_scalar(properties, '$.revenue') AS revenue
	      FROM events WHERE messageId IN ('m5', 'm1') AND receivedAt < TIMESTAMP '2026-12-01 10:04:30' ORDER BY messageId`
	got, err := dcrmSQL(t, q)
	want := `messageId,timestamp,properties,userId,isBot,revenue
m1,2026-12-01 10:00:00.000,,,false,
m5,2026-12-01 10:04:00.000,"{""order_id"":""o1"",""revenue"":30}",,false,30
`
	if err != nil || got != want {
		t.Errorf("csv:\n%s\nwant\n%s(%v)", got, want, err)
	}
	got, err = dcrmSQL(t, "--format", "jsonl", "SELECT messageId, isBot, 1.5 AS x FROM events WHERE messageId = 'm1'")
	if err != nil || got != `{"isBot":false,"messageId":"m1","x":1.5}`+"\n" {
		t.Errorf("jsonl: %q, %v", got, err)
	}
	got, err = dcrmSQL(t, "SELECT messageId, type FROM events WHERE messageId IN ('m1', 'm10') ORDER BY 1", "--format", "table")
	if err != nil || got != "messageId  type   \nm1         page   \nm10        track  \n" {
		t.Errorf("table: %q, %v", got, err)
	}
}

func TestSQLErrors(t *testing.T) {
	fa := newFakeArchive(t)
	seedKnown(t, fa)
	_, err := dcrmSQL(t, "SELECT nope FROM events")
	var qe *lake.QueryError
	if !errors.As(err, &qe) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("bad column: %v", err)
	}
	if _, err := dcrmSQL(t, "SELEC 1"); !errors.As(err, &qe) || !strings.Contains(err.Error(), "syntax error") {
		t.Errorf("syntax: %v", err)
	}
	// The query reads the archive and nothing else of the machine.
	if _, err := dcrmSQL(t, "SELECT * FROM read_csv('/etc/passwd')"); err == nil {
		t.Error("a query read a file outside the archive")
	}
	if _, err := dcrmSQL(t, "--saved", "nope"); err == nil || !strings.Contains(err.Error(), "funnel") {
		t.Errorf("unknown saved query: %v", err)
	}
	for _, args := range [][]string{{}, {"SELECT 1", "SELECT 2"}, {"--saved", "funnel", "SELECT 1"}, {"--bogus"}} {
		if _, err := dcrmSQL(t, args...); !errors.Is(err, errUsage) {
			t.Errorf("dcrm sql %q: %v, want usage", args, err)
		}
	}
	if _, err := dcrmSQL(t, "--format", "xml", "SELECT 1"); err == nil || !strings.Contains(err.Error(), "--format") {
		t.Errorf("bad format: %v", err)
	}
	t.Setenv(archiveBucketVar, "")
	if _, err := dcrmSQL(t, "SELECT 1"); err == nil || !strings.Contains(err.Error(), archiveBucketVar) {
		t.Errorf("no bucket: %v", err)
	}
	t.Setenv(archiveBucketVar, "no-such-bucket")
	if _, err := dcrmSQL(t, "SELECT 1"); err == nil || !strings.Contains(err.Error(), "no-such-bucket") {
		t.Errorf("missing bucket: %v", err)
	}
}

// oldEvent is an events row as an earlier version wrote it, before the enrichment columns; newEvent
// one a later version writes, with a column this one does not know.
type oldEvent struct {
	Type      string    `parquet:"type"`
	MessageID string    `parquet:"messageId"`
	Timestamp time.Time `parquet:"timestamp,timestamp(millisecond)"`
}

type newEvent struct {
	Type      string    `parquet:"type"`
	MessageID string    `parquet:"messageId"`
	Timestamp time.Time `parquet:"timestamp,timestamp(millisecond)"`
	Channel   string    `parquet:"channel"`
	Future    string    `parquet:"futureColumn"`
}

// TestSQLReadsFilesOfOtherVersions: columns are read by name, as Athena reads Parquet: a column
// older files lack is NULL in their rows (even when no file has it yet), and a column only newer
// files have is left out of the view.
func TestSQLReadsFilesOfOtherVersions(t *testing.T) {
	fa := newFakeArchive(t)
	at := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	var old bytes.Buffer
	if err := parquet.Write(&old, []oldEvent{{Type: "page", MessageID: "old-1", Timestamp: at}}); err != nil {
		t.Fatal(err)
	}
	fa.put(t, []archive.File{{Key: archive.Tables[0].Key("2026-12-03", "part-old"), Body: old.Bytes()}})
	if got, err := dcrmSQL(t, "SELECT messageId, channel, isBot, dt FROM events"); err != nil || got != "messageId,channel,isBot,dt\nold-1,,,2026-12-03\n" {
		t.Errorf("only old files: %q, %v", got, err)
	}
	var newer bytes.Buffer
	if err := parquet.Write(&newer, []newEvent{{Type: "track", MessageID: "new-1", Timestamp: at, Channel: "email", Future: "x"}}); err != nil {
		t.Fatal(err)
	}
	fa.put(t, []archive.File{{Key: archive.Tables[0].Key("2026-12-03", "part-new"), Body: newer.Bytes()}})
	if got, err := dcrmSQL(t, "SELECT messageId, channel FROM events ORDER BY 1"); err != nil || got != "messageId,channel\nnew-1,email\nold-1,\n" {
		t.Errorf("old and new files: %q, %v", got, err)
	}
	if _, err := dcrmSQL(t, "SELECT futureColumn FROM events"); err == nil {
		t.Error("a column the tables do not describe is in the view")
	}
}

// TestSQLInvalidUTF8: the endpoint keeps raw JSON (properties, traits, context) byte for byte,
// invalid UTF-8 included; the archive's strings are valid UTF-8 all the same, which both engines
// require of a string column.
func TestSQLInvalidUTF8(t *testing.T) {
	fa := newFakeArchive(t)
	body := []byte("{\"type\":\"track\",\"event\":\"Viewed\",\"anonymousId\":\"a1\",\"timestamp\":\"2026-12-05T10:00:00Z\",\"messageId\":\"m-utf\",\"properties\":{\"k\":\"v\xff\"}}")
	p, err := beacon.Decode(beacon.Track, body)
	if err != nil {
		t.Fatal(err)
	}
	evs, rejected := p.Split(source.Source{ID: "src_shop", Trusted: true}, time.Date(2026, 12, 5, 10, 0, 1, 0, time.UTC), beacon.NewMessageID)
	if len(evs) != 1 || len(rejected) != 0 {
		t.Fatalf("the endpoint refused the event: %v", rejected)
	}
	w := archive.NewWriter[archive.Event](archive.Tables[0], archive.Options{})
	if err := archive.WriteEvents(w, []archive.Event{archive.FromEvent(evs[0], "p1")}); err != nil {
		t.Fatal(err)
	}
	files, err := w.Flush()
	if err != nil {
		t.Fatal(err)
	}
	fa.put(t, files)
	got, err := dcrmSQL(t, "SELECT messageId, json_extract_scalar(properties, '$.k') AS k FROM events")
	if want := "messageId,k\nm-utf,v\uFFFD\n"; err != nil || got != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
}

// TestSQLPrefix: an archive under a prefix of its bucket is read with --prefix, and cached apart
// from the bucket's root.
func TestSQLPrefix(t *testing.T) {
	fa := newFakeArchive(t)
	w := archive.NewWriter[archive.Event](archive.Tables[0], archive.Options{})
	if err := archive.WriteEvents(w, knownEvents()[:3]); err != nil {
		t.Fatal(err)
	}
	files, err := w.Flush()
	if err != nil {
		t.Fatal(err)
	}
	for i := range files {
		files[i].Key = "lake/" + files[i].Key
	}
	fa.put(t, files)
	if got, err := dcrmSQL(t, "--prefix", "lake", "SELECT count(*) AS n FROM events"); err != nil || got != "n\n3\n" {
		t.Errorf("--prefix lake: %q, %v", got, err)
	}
	if got, err := dcrmSQL(t, "SELECT count(*) AS n FROM events"); err != nil || got != "n\n0\n" {
		t.Errorf("the bucket's root: %q, %v", got, err)
	}
	if _, err := dcrmSQL(t, "--prefix", "../x", "SELECT 1"); err == nil || !strings.Contains(err.Error(), "..") {
		t.Errorf("--prefix ../x: %v", err)
	}
}

// TestSQLTimesAreUTC: timestamps are UTC whatever the machine's time zone, as in Athena.
func TestSQLTimesAreUTC(t *testing.T) {
	t.Setenv("TZ", "Asia/Tokyo")
	fa := newFakeArchive(t)
	seedKnown(t, fa)
	got, err := dcrmSQL(t, `SELECT "timestamp", hour("timestamp") AS h, CAST("timestamp" AS date) AS d FROM events WHERE messageId = 'm1'`)
	if want := "timestamp,h,d\n2026-12-01 10:00:00.000,10,2026-12-01\n"; err != nil || got != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
}

// TestSQLValuesOfEveryType: values of the types a query can make print readably, never as Go's
// own syntax or raw bytes, and JSON Lines takes them all.
func TestSQLValuesOfEveryType(t *testing.T) {
	newFakeArchive(t)
	q := `SELECT [1, 2] AS l, {'a': 1} AS s, '6ba7b810-9dad-11d1-80b4-00c04fd430c8'::UUID AS u,
	       INTERVAL 1 DAY + INTERVAL 90 MINUTE AS i, 12::HUGEINT AS h, 1.25::DECIMAL(5, 2) AS d,
	       TIMESTAMPTZ '2026-12-01 10:00:00+02' AS tz, TIME '10:00:00' AS tm, DATE '2026-12-01' AS dt,
	       'nan'::DOUBLE AS n, MAP {'k': 1} AS m`
	got, err := dcrmSQL(t, q)
	want := "l,s,u,i,h,d,tz,tm,dt,n,m\n" +
		`"[1,2]","{""a"":1}",6ba7b810-9dad-11d1-80b4-00c04fd430c8,1 01:30:00.000,12,1.25,2026-12-01 08:00:00.000 UTC,10:00:00.000,2026-12-01,NaN,"{""k"":1}"` + "\n"
	if err != nil || got != want {
		t.Errorf("csv:\n%s%v\nwant\n%s", got, err, want)
	}
	got, err = dcrmSQL(t, "--format", "jsonl", q)
	want = `{"d":1.25,"dt":"2026-12-01","h":12,"i":"1 01:30:00.000","l":[1,2],"m":{"k":1},"n":"NaN","s":{"a":1},"tm":"10:00:00.000","tz":"2026-12-01 08:00:00.000 UTC","u":"6ba7b810-9dad-11d1-80b4-00c04fd430c8"}` + "\n"
	if err != nil || got != want {
		t.Errorf("jsonl:\n%s%v\nwant\n%s", got, err, want)
	}
}

// TestSQLSince: --since fetches and reads only the partitions from that date; a later query
// without it fetches the rest, and the files already cached are not fetched again.
func TestSQLSince(t *testing.T) {
	fa := newFakeArchive(t)
	seedKnown(t, fa) // events: 2 files of day 1, 1 of day 2; merges and profiles: 1 file a day each
	got, err := dcrmSQL(t, "--since", "2026-12-02", "SELECT dt, count(*) AS n FROM events GROUP BY dt")
	if err != nil || got != "dt,n\n2026-12-02,5\n" {
		t.Errorf("--since: %q, %v", got, err)
	}
	if n := fa.gets.Load(); n != 3 {
		t.Errorf("--since fetched %d files, want the 3 of day 2", n)
	}
	got, err = dcrmSQL(t, "SELECT dt, count(*) AS n FROM events GROUP BY dt ORDER BY dt")
	if err != nil || got != "dt,n\n2026-12-01,11\n2026-12-02,5\n" {
		t.Errorf("all: %q, %v", got, err)
	}
	if n := fa.gets.Load(); n != 7 {
		t.Errorf("%d files fetched in all, want 7, each once", n)
	}
	if _, err := dcrmSQL(t, "--since", "yesterday", "SELECT 1"); err == nil || !strings.Contains(err.Error(), "YYYY-MM-DD") {
		t.Errorf("--since yesterday: %v", err)
	}
}

// TestSQLEmptyArchive: a bucket without files yet (a fresh deployment) answers every saved query
// with its header and no error.
func TestSQLEmptyArchive(t *testing.T) {
	newFakeArchive(t)
	for _, q := range archive.SavedQueries() {
		got, err := dcrmSQL(t, "--saved", q.Name)
		if err != nil || !strings.Contains(strings.SplitN(got, "\n", 2)[0], ",") || strings.Count(got, "\n") > 2 {
			t.Errorf("%s on an empty archive: %q, %v", q.Name, got, err)
		}
	}
	if got, err := dcrmSQL(t, "--saved", "funnel"); err != nil || got != "product_viewed,product_added,checkout_started,order_completed\n0,0,0,0\n" {
		t.Errorf("funnel: %q, %v", got, err)
	}
}
