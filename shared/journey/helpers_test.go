package journey

import (
	"math/rand/v2"

	"context"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/archive"
)

// t0 is the start of the tests' clock.
var t0 = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

// at is t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

const (
	minute = time.Minute
	hour   = time.Hour
	day    = 24 * time.Hour
)

// ev is a row builder.
type ev archive.Event

var ids int

func row(profileID string, d time.Duration) *ev {
	ids++
	return &ev{Type: "page", MessageID: "m" + itoa(ids), ProfileID: profileID, Timestamp: at(d)}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

func (e *ev) ch(channel string) *ev { e.Channel = channel; return e }
func (e *ev) camp(source, medium, name string) *ev {
	e.CampaignSource, e.CampaignMedium, e.CampaignName = source, medium, name
	return e
}
func (e *ev) track(name, props string) *ev {
	e.Type, e.Event, e.Properties = "track", name, props
	return e
}
func (e *ev) bot() *ev            { e.IsBot = true; return e }
func (e *ev) pixel() *ev          { e.Pixel = true; return e }
func (e *ev) id(m string) *ev     { e.MessageID = m; return e }
func (e *ev) device(d string) *ev { e.DeviceClass = d; return e }
func (e *ev) row() archive.Event  { return archive.Event(*e) }

// rows turns builders into rows.
func rows(es ...*ev) []archive.Event {
	out := make([]archive.Event, len(es))
	for i, e := range es {
		out[i] = e.row()
	}
	return out
}

// build runs a builder over rows with cfg and returns the people.
func build(t testing.TB, cfg Config, merges []archive.Merge, opts Options, rs []archive.Event) []Person {
	t.Helper()
	b, err := NewBuilder(cfg, merges, opts)
	require.NoError(t, err)
	for _, r := range rs {
		require.NoError(t, b.Add(r))
	}
	people, err := b.Collect()
	require.NoError(t, err)
	return people
}

// orderOnly is a configuration with the order goal alone.
func orderOnly() Config {
	c := DefaultConfig()
	c.Goals = c.Goals[:1]
	c.Funnel = nil
	return c
}

// writeArchive writes events and merges as the archive does, into a file system laid out as the
// bucket.
// Row groups are of 7 rows, so that a file has several.
func writeArchive(t testing.TB, events []archive.Event, merges []archive.Merge, mergesDate string) fstest.MapFS {
	return writeArchiveWith(t, archive.Options{RowGroupRows: 7}, events, merges, mergesDate)
}

func writeArchiveWith(t testing.TB, opts archive.Options, events []archive.Event, merges []archive.Merge, mergesDate string) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	w := archive.NewWriter[archive.Event](mustTable(t, archive.EventsTable), opts)
	require.NoError(t, archive.WriteEvents(w, events))
	files, err := w.Flush()
	require.NoError(t, err)
	if merges != nil {
		mw := archive.NewWriter[archive.Merge](mustTable(t, archive.MergesTable), archive.Options{})
		require.NoError(t, mw.Write(mergesDate, merges...))
		mf, err := mw.Flush()
		require.NoError(t, err)
		files = append(files, mf...)
	}
	for _, f := range files {
		fsys[f.Key] = &fstest.MapFile{Data: f.Body}
	}
	return fsys
}

func mustTable(t testing.TB, name string) archive.Table {
	tb, ok := archive.TableNamed(name)
	require.True(t, ok)
	return tb
}

// readAll reads every event of a store.
func readAll(t testing.TB, s Store) []archive.Event {
	t.Helper()
	var got []archive.Event
	require.NoError(t, ReadEvents(context.Background(), s, Days{}, func(e archive.Event) error {
		got = append(got, e)
		return nil
	}))
	return got
}

// tempStore writes a MapFS into a folder and returns a store over it (os.DirFS).
func tempStore(t testing.TB, fsys fstest.MapFS) FSStore {
	dir := t.TempDir()
	for k, f := range fsys {
		p := filepath.Join(dir, filepath.FromSlash(k))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, f.Data, 0o644))
	}
	return FSStore{FS: os.DirFS(dir)}
}

// syntheticRows are deterministic rows of people visiting by varied channels, viewing, adding to
// the basket, buying (some), opening emails, some bots and duplicates, over 60 days.
func syntheticRows(people int, seed uint64) []archive.Event {
	r := rand.New(rand.NewPCG(seed, 7))
	channels := []string{"direct", "organic search", "paid search", "email", "paid social", "referral", "display"}
	var out []archive.Event
	n := 0
	for p := range people {
		id := "profile-" + itoa(p)
		t := at(time.Duration(r.IntN(60*24)) * time.Hour)
		for range 1 + r.IntN(8) {
			n++
			ch := channels[r.IntN(len(channels))]
			e := archive.Event{Type: "page", MessageID: "s" + itoa(n), ProfileID: id, Timestamp: t, Channel: ch, DeviceClass: []string{"mobile", "desktop"}[p%2]}
			if ch == "paid search" {
				e.CampaignSource, e.CampaignMedium, e.CampaignName = "google", "cpc", []string{"brand", "generic"}[r.IntN(2)]
			}
			e.IsBot = r.IntN(50) == 0
			out = append(out, e)
			for _, step := range []string{"Product Viewed", "Product Added", "Checkout Started", "Order Completed"} {
				if r.IntN(3) == 0 {
					break
				}
				n++
				t = t.Add(time.Duration(1+r.IntN(600)) * time.Second)
				out = append(out, archive.Event{Type: "track", Event: step, MessageID: "s" + itoa(n), ProfileID: id, Timestamp: t,
					Properties: `{"revenue": ` + itoa(10+r.IntN(200)) + `}`})
				if r.IntN(20) == 0 {
					out = append(out, out[len(out)-1]) // archived twice
				}
			}
			if r.IntN(4) == 0 {
				n++
				out = append(out, archive.Event{Type: "track", Event: "Email Opened", MessageID: "s" + itoa(n), ProfileID: id,
					Timestamp: t.Add(time.Hour), Properties: `{"campaign_name": "weekly"}`})
			}
			t = t.Add(time.Duration(1+r.IntN(200)) * time.Hour)
		}
	}
	return out
}
