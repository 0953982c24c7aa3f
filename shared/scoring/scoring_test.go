package scoring

import (
	"reflect"
	"testing"
	"time"
)

var now = time.Date(2025, 3, 31, 12, 0, 0, 0, time.UTC)

func daysAgo(d float64) time.Time { return now.Add(-time.Duration(d * float64(24*time.Hour))) }

func TestRate(t *testing.T) {
	tests := []struct {
		name     string
		lastSeen time.Time
		events   int
		want     Score
	}{
		{"seen today, very active", daysAgo(0.5), 120, Score{0, 120, 5, 5, 5, Champion, now}},
		{"seen a week ago exactly, active", daysAgo(7), 20, Score{7, 20, 5, 4, 5, Champion, now}},
		{"eight days ago, a few events", daysAgo(8), 3, Score{8, 3, 4, 2, 3, Promising, now}},
		{"yesterday, first visit", daysAgo(1), 1, Score{1, 1, 5, 1, 3, New, now}},
		{"two months ago, regular", daysAgo(60), 25, Score{60, 25, 3, 4, 4, Loyal, now}},
		{"two months ago, occasional", daysAgo(60), 9, Score{60, 9, 3, 2, 3, NeedsAttention, now}},
		{"half a year ago, was a regular", daysAgo(170), 50, Score{170, 50, 2, 5, 4, AtRisk, now}},
		{"a year ago, some visits", daysAgo(365), 10, Score{365, 10, 1, 3, 2, Hibernating, now}},
		{"a year ago, once", daysAgo(365), 1, Score{365, 1, 1, 1, 1, Lost, now}},
		{"clock skew: seen in the future", now.Add(time.Hour), 2, Score{0, 2, 5, 1, 3, New, now}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Rate(tt.lastSeen, tt.events, now); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Rate = %+v\nwant   %+v", got, tt.want)
			}
		})
	}
}

func TestCustomModel(t *testing.T) {
	m := Model{RecencyDays: [4]int{1, 2, 3, 4}, Frequency: [4]int{4, 3, 2, 1}}
	got := m.Rate(daysAgo(3), 2, now)
	if got.RecencyScore != 3 || got.FrequencyScore != 3 || got.Score != 3 {
		t.Errorf("custom model rated %+v, want R3 F3 score 3", got)
	}
	if got := m.Rate(daysAgo(5), 0, now); got.RecencyScore != 1 || got.FrequencyScore != 1 {
		t.Errorf("custom model rated %+v, want R1 F1", got)
	}
}

func TestLapsed(t *testing.T) {
	after := 30 * 24 * time.Hour
	lastSeen := daysAgo(31)
	tests := []struct {
		name      string
		lastSeen  time.Time
		alertedAt time.Time
		want      bool
	}{
		{"inactive longer than the period, never alerted", lastSeen, time.Time{}, true},
		{"inactive exactly the period", daysAgo(30), time.Time{}, false},
		{"active recently", daysAgo(2), time.Time{}, false},
		{"already alerted for this lapse", lastSeen, daysAgo(0.5), false},
		{"alerted for an earlier lapse, came back, lapsed again", lastSeen, daysAgo(90), true},
		{"never seen", time.Time{}, time.Time{}, false},
	}
	for _, tt := range tests {
		if got := Lapsed(tt.lastSeen, tt.alertedAt, now, after); got != tt.want {
			t.Errorf("%s: Lapsed = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestDaysSince(t *testing.T) {
	if d := DaysSince(daysAgo(2.99), now); d != 2 {
		t.Errorf("DaysSince(2.99 days ago) = %d, want 2", d)
	}
	if d := DaysSince(now.Add(time.Minute), now); d != 0 {
		t.Errorf("DaysSince(future) = %d, want 0", d)
	}
}
