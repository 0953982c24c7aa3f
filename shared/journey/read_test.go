package journey

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/archive"
)

func TestReadEventsReadsTheArchivesFiles(t *testing.T) {
	in := rows(
		row("p1", 0).ch("organic search").camp("google", "organic", ""),
		row("p1", 2*day).track("Order Completed", `{"revenue": 12.5}`).device("mobile"),
		row("p2", 40*day).ch("email").pixel().bot(),
	)
	in[0].Context = `{"userAgent":"x"}` // a column the reader leaves out
	fsys := writeArchive(t, in, []archive.Merge{{MergedID: "p2", ProfileID: "p1"}}, "2026-12-01")
	for name, s := range map[string]Store{"map": FSStore{FS: fsys}, "dir": tempStore(t, fsys)} {
		t.Run(name, func(t *testing.T) {
			got := readAll(t, s)
			want := append([]archive.Event(nil), in...)
			want[0].Context = ""
			require.Equal(t, want, got)
			merges, err := ReadMerges(context.Background(), s)
			require.NoError(t, err)
			require.Equal(t, []archive.Merge{{MergedID: "p2", ProfileID: "p1"}}, merges)
			var some []archive.Event
			require.NoError(t, ReadEvents(context.Background(), s, Days{From: "2026-11-02", To: "2026-11-30"}, func(e archive.Event) error {
				some = append(some, e)
				return nil
			}))
			require.Equal(t, want[1:2], some, "days bound the partitions read")
		})
	}
}
