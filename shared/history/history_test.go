package history

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dcrm-project/dcrm/shared/beacon"
	"github.com/dcrm-project/dcrm/shared/profile"
)

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

// Keys sort as the times they hold, whatever their fraction of a second.
func TestKeysSortByTime(t *testing.T) {
	a := SortKey(profile.Activity{MessageID: "z", At: t0})
	b := SortKey(profile.Activity{MessageID: "a", At: t0.Add(500 * time.Millisecond)})
	require.Less(t, a, b)
	require.Equal(t, "2025-03-01T10:00:00.000000000Z#z", a)
	got, err := ParseTime(FormatTime(t0.Add(time.Nanosecond)))
	require.NoError(t, err)
	require.Equal(t, t0.Add(time.Nanosecond), got)
}

// The key is the sender's time when it gave one: the same whenever the event is sent again.
func TestKeyIsTheSendersTime(t *testing.T) {
	a := profile.Activity{MessageID: "m1", At: t0.Add(3 * time.Second), ClientAt: t0}
	again := a
	again.At = t0.Add(9 * time.Second)
	require.Equal(t, SortKey(a), SortKey(again))
	require.False(t, NeedsReceipt(a))
	a.ClientAt = time.Time{}
	require.True(t, NeedsReceipt(a))
	require.NotEqual(t, SortKey(a), SortKey(profile.Activity{MessageID: "m1", At: t0.Add(9 * time.Second)}))
}

func TestRetention(t *testing.T) {
	now := t0.Add(2 * time.Hour)
	r := Retention{TTL: 24 * time.Hour}
	page := profile.Activity{MessageID: "m1", Type: beacon.Page, At: t0.Add(1500 * time.Millisecond), Page: "/"}
	tp := r.Touchpoint("prf_1", page, json.RawMessage(` {"a": 1} `), now)
	require.Equal(t, now.Add(MinKeep).Truncate(time.Second), tp.ExpiresAt, "kept at least MinKeep after it was recorded")
	require.Equal(t, json.RawMessage(`{"a":1}`), tp.Properties)
	require.Equal(t, "/", tp.Event)
	require.True(t, tp.Derivable())

	old := Retention{TTL: 400 * 24 * time.Hour}.Touchpoint("prf_1", page, nil, now)
	require.Equal(t, t0.Add(400*24*time.Hour+time.Second), old.ExpiresAt, "its time plus the TTL, in whole seconds")
	order := profile.Activity{MessageID: "m2", Type: beacon.Track, Event: "Order Completed", OrderID: "o1", At: t0}
	require.True(t, Retention{}.Touchpoint("prf_1", order, nil, now).ExpiresAt.IsZero(), "a purchase never expires")
	require.Equal(t, now.Add(DefaultTTL).Truncate(time.Second), Retention{}.Receipt(page, now).ExpiresAt)
}

func TestPropertiesAreBounded(t *testing.T) {
	small, cut := Bound(json.RawMessage(` {"a": 1} `), 64)
	require.False(t, cut)
	require.Equal(t, `{"a":1}`, string(small))

	big := `{"a":"` + strings.Repeat("x", 100) + `","b":2,"c":"` + strings.Repeat("y", 10) + `"}`
	out, cut := Bound(json.RawMessage(big), 40)
	require.True(t, cut)
	require.LessOrEqual(t, len(out), 40)
	require.JSONEq(t, `{"b":2,"c":"yyyyyyyyyy"}`, string(out))

	out, cut = Bound(json.RawMessage(`[`+strings.Repeat("1,", 50)+`1]`), 40)
	require.True(t, cut)
	require.Nil(t, out)
	out, cut = Bound(json.RawMessage(`{oops`), 40)
	require.True(t, cut)
	require.Nil(t, out)
	out, cut = Bound(nil, 40)
	require.False(t, cut)
	require.Nil(t, out)
}

func TestCursors(t *testing.T) {
	c := Cursor{ProfileID: "prf_2", Sort: "k5"}
	back, err := DecodeCursor(c.Encode())
	require.NoError(t, err)
	require.Equal(t, c, back)
	for _, bad := range []string{"", "not-base64!", "e30"} {
		_, err := DecodeCursor(bad)
		require.ErrorIs(t, err, ErrBadCursor, bad)
	}
	require.True(t, c.Precedes(Key{ProfileID: "prf_9", Sort: "k4"}), "an older key comes after")
	require.True(t, c.Precedes(Key{ProfileID: "prf_1", Sort: "k5"}), "the same key on a profile ordered below")
	require.False(t, c.Precedes(Key{ProfileID: "prf_3", Sort: "k5"}))
	require.False(t, c.Precedes(Key{ProfileID: "prf_2", Sort: "k5"}), "not itself")
	require.Equal(t, 10, Query{Limit: 10}.Size())
	require.Equal(t, DefaultLimit, Query{}.Size())
	require.Equal(t, MaxLimit, Query{Limit: 10_000}.Size())
}

// An impression's touchpoint says so, with its channel and campaign for attribution, and is what
// the Impressions type selects.
func TestImpressionTouchpoints(t *testing.T) {
	open, err := profile.FromEvent(beacon.Event{Type: beacon.Track, Event: "Email Opened", MessageID: "m1", AnonymousID: "A", Timestamp: t0,
		Properties: json.RawMessage(`{"campaign_name":"spring"}`)})
	require.NoError(t, err)
	tp := Retention{}.Touchpoint("prf_1", open, nil, t0)
	require.Equal(t, profile.ImpressionOpen, tp.Impression)
	require.Equal(t, beacon.ChannelEmail, tp.Channel)
	require.Equal(t, "spring", tp.Activity.Campaign.Name)
	require.Equal(t, profile.ImpressionOpen, tp.Activity.Impression, "a profile derived again from its history sees an impression")
	require.True(t, Matches(tp, Impressions))
	require.True(t, Matches(tp, beacon.Track))

	page := Retention{}.Touchpoint("prf_1", profile.Activity{MessageID: "m2", Type: beacon.Page, At: t0}, nil, t0)
	require.Empty(t, page.Impression)
	require.False(t, Matches(page, Impressions))
}
