package prose

import (
	"testing"
	"time"
)

func TestCountAndAgo(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct{ got, want string }{
		{Count(1, "item"), "1 item"},
		{Count(0, "item"), "0 items"},
		{Count(3, "order"), "3 orders"},
		{Ago(now.Add(-30*time.Second), now), "just now"},
		{Ago(now.Add(-5*time.Minute), now), "5 minutes ago"},
		{Ago(now.Add(-time.Hour), now), "1 hour ago"},
		{Ago(now.Add(-49*time.Hour), now), "2 days ago"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
