// Package prose writes the small phrases the reasons of scores, actions and triggers are made of,
// so that every message a person reads says counts and times the same way.
package prose

import (
	"strconv"
	"time"

	"github.com/dcrm-project/dcrm/shared/calendar"
)

// Count says n of noun: "1 item", "3 items".
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// Ago says how long before now t was, in minutes, hours or days: "just now", "5 minutes ago",
// "1 day ago".
func Ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return Count(int(d/time.Minute), "minute") + " ago"
	case d < calendar.Day:
		return Count(int(d/time.Hour), "hour") + " ago"
	}
	return Count(calendar.Days(d), "day") + " ago"
}
