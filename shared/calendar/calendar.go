// Package calendar is how dcrm counts days. It counts them two ways, for two kinds of question:
//
//   - DayNumber numbers calendar days, in a time's own location: two times on one date are on one
//     day, however many hours apart. RFM recency and the purchase histories of the BTYD models
//     count calendar days, as the transaction logs of the literature do.
//   - Day, Days and DaysSince measure elapsed time in days of 24 hours: how long a customer has
//     been away, a delay, how long ago something happened.
package calendar

import "time"

// Day is a day of elapsed time: 24 hours, whatever daylight saving does to the clock.
const Day = 24 * time.Hour

// Days is the number of whole days in d, rounded toward zero.
func Days(d time.Duration) int { return int(d / Day) }

// DaysSince is the number of whole days from then to now; 0 when then is not before now.
func DaysSince(then, now time.Time) int {
	if !then.Before(now) {
		return 0
	}
	return Days(now.Sub(then))
}

// DayNumber numbers t's calendar day in t's own location, counting from 1970-01-01 (day 0).
func DayNumber(t time.Time) int64 {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}
