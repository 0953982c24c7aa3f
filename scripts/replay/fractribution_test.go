package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/archive"
	"github.com/dcrm-project/dcrm/shared/attribution"
	"github.com/dcrm-project/dcrm/shared/journey"
	"github.com/dcrm-project/dcrm/shared/localaws/localawstest"
)

// FractributionDataset is the events of Snowplow's fractribution package's integration tests
// (Apache-2.0): 98 atomic events of 67 visitors, page views with their marketing fields, six of
// them carrying a transaction total (the package's default conversion: tr_total > 0).
const FractributionDataset = "../shared/datasets/attribution/snowplow_fractribution_events.csv"

// fracRow is one event of the set: what a path needs.
type fracRow struct {
	EventID, Visitor, Name string
	Session                string // domain_sessionid
	At                     time.Time
	Source, Medium, Camp   string
	Total                  float64 // the transaction's total; 0: no transaction
}

func loadFractribution(path string) ([]fracRow, error) {
	f, err := openDataset(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows []fracRow
	err = readTable(f, []string{"event_id", "domain_userid", "domain_sessionid", "derived_tstamp", "mkt_source", "mkt_medium", "mkt_campaign", "tr_total", "event_name"},
		func(get func(string) string) error {
			at, err := time.Parse(time.RFC3339, get("derived_tstamp"))
			if err != nil {
				return err
			}
			r := fracRow{EventID: get("event_id"), Visitor: get("domain_userid"), Session: get("domain_sessionid"), Name: get("event_name"), At: at.UTC(),
				Source: get("mkt_source"), Medium: get("mkt_medium"), Camp: get("mkt_campaign")}
			if s := get("tr_total"); s != "" {
				if r.Total, err = strconv.ParseFloat(s, 64); err != nil {
					return fmt.Errorf("tr_total %q: %w", s, err)
				}
			}
			rows = append(rows, r)
			return nil
		})
	return rows, err
}

// tagged says the event came with marketing fields other than direct.
func (r fracRow) tagged() bool { return r.Source != "" && r.Source != "(direct)" }

// fracCalls are the Segment calls of the set, as a site tagged with UTM parameters sends them: a
// page view's URL carries utm_source, utm_medium and utm_campaign (unless "(not set)") when its
// source is not direct; an event with a transaction total is followed by an Order Completed of
// that revenue at the same time; the checkout event (no page, no marketing fields) is a track.
func fracCalls(rows []fracRow) []map[string]any {
	const ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
	var calls []map[string]any
	for _, r := range rows {
		ctx := map[string]any{"userAgent": ua}
		if r.Name == "page_view" {
			u := "https://poplindata.com/"
			if r.tagged() {
				q := url.Values{"utm_source": {r.Source}, "utm_medium": {r.Medium}}
				if r.Camp != "" && r.Camp != "(not set)" {
					q.Set("utm_campaign", r.Camp)
				}
				u += "?" + q.Encode()
			}
			ctx["page"] = map[string]any{"url": u}
		}
		base := func(id string) map[string]any {
			return map[string]any{"messageId": id, "anonymousId": r.Visitor, "timestamp": r.At.Format(time.RFC3339Nano), "context": ctx}
		}
		c := base(r.EventID)
		if r.Name == "page_view" {
			c["type"] = "page"
		} else {
			c["type"], c["event"] = "track", r.Name
		}
		calls = append(calls, c)
		if r.Total > 0 {
			o := base(r.EventID + "-order")
			o["type"], o["event"] = "track", "Order Completed"
			o["properties"] = map[string]any{"order_id": r.EventID, "revenue": r.Total}
			calls = append(calls, o)
		}
	}
	return calls
}

// fracChannels are the channels of the set's sources and mediums by GA4's default channel group,
// written down by hand: a search engine's host as the source is organic search even with medium
// referral (support.google.com, analytics.google.com), youtube.com is a video site, quora.com a
// social one.
var fracChannels = map[[2]string]string{
	{"(direct)", "(none)"}:               "direct",
	{"google", "organic"}:                "organic search",
	{"google", "cpc"}:                    "paid search",
	{"youtube.com", "referral"}:          "organic video",
	{"support.google.com", "referral"}:   "organic search",
	{"analytics.google.com", "referral"}: "organic search",
	{"quora.com", "referral"}:            "organic social",
	{"Partners", "affiliate"}:            "affiliate",
}

// expectedFracJourneys reads the paths straight from the file: per visitor, events in time order
// cut into sessions (30 minutes of inactivity, or marketing fields other than the session's), each
// session's channel its first event's that has one; for every event with a transaction total, the
// channels of the sessions since the previous one, within 30 days before it, with the total; the
// sessions after the last within 30 days of the file's end, as a journey that did not convert.
// It also returns the visitors whose sessions with marketing fields are fewer by that rule than by
// the file's session ids.
func expectedFracJourneys(t *testing.T, rows []fracRow, end time.Time) (journeys, joined []string) {
	byVisitor := map[string][]fracRow{}
	for _, r := range rows {
		byVisitor[r.Visitor] = append(byVisitor[r.Visitor], r)
	}
	var out []string
	for v, rs := range byVisitor {
		ids := map[string]bool{}
		for _, r := range rs {
			if r.Source != "" {
				ids[r.Session] = true
			}
		}
		slices.SortFunc(rs, func(a, b fracRow) int { return a.At.Compare(b.At) })
		type touch struct {
			at time.Time
			ch string
		}
		var touches []touch
		var last time.Time
		tags, touched := "", false
		for i, r := range rs {
			key := ""
			if r.tagged() {
				key = r.Source + "/" + r.Medium + "/" + r.Camp
			}
			if i == 0 || r.At.Sub(last) > 30*time.Minute || (key != "" && key != tags) {
				tags, touched = key, false
			}
			last = r.At
			if r.Source != "" && !touched {
				ch, ok := fracChannels[[2]string{r.Source, r.Medium}]
				require.True(t, ok, "no channel written down for %s / %s", r.Source, r.Medium)
				touches = append(touches, touch{r.At, ch})
				touched = true
			}
		}
		if len(touches) < len(ids) {
			joined = append(joined, v)
		}
		path := func(prev, at time.Time) string {
			var chs []string
			for _, tc := range touches {
				if tc.at.After(prev) && !tc.at.After(at) && !tc.at.Before(at.Add(-30*24*time.Hour)) {
					chs = append(chs, tc.ch)
				}
			}
			return strings.Join(chs, " > ")
		}
		var prev time.Time
		for _, r := range rs {
			if r.Total > 0 {
				out = append(out, fmt.Sprintf("%s converted %g: %s", v, r.Total, path(prev, r.At)))
				prev = r.At
			}
		}
		if p := path(prev, end); p != "" {
			out = append(out, fmt.Sprintf("%s null: %s", v, p))
		}
	}
	slices.Sort(out)
	slices.Sort(joined)
	return out, joined
}

// s3Store reads the archive bucket.
type s3Store struct {
	c      *s3.Client
	bucket string
}

func (s s3Store) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	pages := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}

func (s s3Store) Get(ctx context.Context, key string) ([]byte, error) {
	obj, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer obj.Body.Close()
	return io.ReadAll(obj.Body)
}

// TestFractributionPathsFromTheArchive replays the fractribution events through the real endpoint,
// waits for the archive's Parquet files to hold them, builds the paths from those files with
// shared/journey and checks them against the file read directly.
func TestFractributionPathsFromTheArchive(t *testing.T) {
	localawstest.Reachable(t) // -short skips here
	t.Parallel()
	rows := dataset(t, FractributionDataset, loadFractribution)
	require.Len(t, rows, 98)
	end := rows[0].At
	for _, r := range rows {
		if r.At.After(end) {
			end = r.At
		}
	}
	want, joined := expectedFracJourneys(t, rows, end)
	// One visitor comes from quora.com and, 39 seconds later, directly: two session ids in the
	// file, one session by the rule (no new campaign, no 30 minutes' rest), one touch.
	require.Equal(t, []string{"f0008275880593050809"}, joined)

	calls := fracCalls(rows)
	r := newHarness(t)
	r.again(calls)
	report := r.checkArchive(calls)

	ctx := context.Background()
	store := s3Store{c: r.archive, bucket: r.archiveBucket}
	merges, err := journey.ReadMerges(ctx, store)
	require.NoError(t, err)
	cfg := journey.DefaultConfig()
	cfg.Goals, cfg.Funnel = cfg.Goals[:1], nil // Order Completed, valued by its revenue
	b, err := journey.NewBuilder(cfg, merges, journey.Options{Until: end})
	require.NoError(t, err)
	visitor := map[string]string{} // profile id → anonymousId
	require.NoError(t, journey.ReadEvents(ctx, store, journey.Days{}, func(e archive.Event) error {
		visitor[e.ProfileID] = e.AnonymousID
		return b.Add(e)
	}))
	people, err := b.Collect()
	require.NoError(t, err)
	var got []string
	var journeys []journey.Journey
	for _, p := range people {
		for _, j := range p.Journeys {
			p, _ := j.Path(nil)
			line := fmt.Sprintf("%s null: %s", visitor[j.Person], strings.Join(p.Channels, " > "))
			if j.Converted {
				line = fmt.Sprintf("%s converted %g: %s", visitor[j.Person], j.Value, strings.Join(p.Channels, " > "))
			}
			got = append(got, line)
			journeys = append(journeys, j)
		}
	}
	slices.Sort(got)
	require.Equal(t, want, got)
	st := b.Stats()
	require.Zero(t, st.Bots)

	// The PathData rows of the replay, and the report a marketer reads.
	paths, untouched := journey.Paths(people, "order", nil)
	require.Zero(t, untouched)
	var pd strings.Builder
	require.NoError(t, attribution.WritePathData(&pd, journey.Aggregate(paths)))
	conversions := 0
	for _, j := range journeys {
		if j.Converted {
			conversions++
		}
	}
	require.Equal(t, 6, conversions)
	r.report("fractribution", report+fmt.Sprintf("journeys: %d (%d converted), rows read %d, kept %d\n%s", len(journeys), conversions, st.Rows, st.Kept, pd.String()))
}
