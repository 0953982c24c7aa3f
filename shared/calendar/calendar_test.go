package calendar

import (
	"testing"
	"time"
)

func TestDaysSince(t *testing.T) {
	now := time.Date(2025, 3, 30, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		then time.Time
		want int
	}{
		{now.Add(-71 * time.Hour), 2},
		{now.Add(-72 * time.Hour), 3},
		{now, 0},
		{now.Add(time.Minute), 0},
	} {
		if got := DaysSince(c.then, now); got != c.want {
			t.Errorf("DaysSince(%s, %s) = %d, want %d", c.then, now, got, c.want)
		}
	}
}

// Calendar days are dates in a time's own location: the hours between two times do not count.
func TestDayNumber(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	for _, c := range []struct {
		t    time.Time
		want int64
	}{
		{time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), 0},
		{time.Date(1970, 1, 1, 23, 59, 59, 0, time.UTC), 0},
		{time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC), -1},
		{time.Date(1970, 1, 2, 0, 30, 0, 0, paris), 1}, // 23:30 UTC the day before
		{time.Date(2025, 3, 30, 0, 0, 0, 0, time.UTC), 20177},
	} {
		if got := DayNumber(c.t); got != c.want {
			t.Errorf("DayNumber(%s) = %d, want %d", c.t, got, c.want)
		}
	}
	late := time.Date(2025, 3, 30, 23, 59, 0, 0, time.UTC)
	if DayNumber(late)-DayNumber(late.Add(-23*time.Hour)) != 0 || DayNumber(late.Add(2*time.Minute))-DayNumber(late) != 1 {
		t.Error("a calendar day is not counted by its date")
	}
}
