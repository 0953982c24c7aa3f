// Package scoring rates customers from their behaviour. This first model is a recency / frequency
// grid: days since the customer was last seen and the number of events they sent, each rated 1 to 5,
// combined into one 1-5 score and a named segment. Pure functions; the caller passes the clock.
package scoring

import "time"

// Score is one customer's rating at a moment.
type Score struct {
	RecencyDays    int       `json:"recencyDays"`    // whole days since last seen
	Frequency      int       `json:"frequency"`      // events seen
	RecencyScore   int       `json:"recencyScore"`   // 1-5, 5 = most recent
	FrequencyScore int       `json:"frequencyScore"` // 1-5, 5 = most frequent
	Score          int       `json:"score"`          // 1-5, the two combined
	Segment        string    `json:"segment"`
	ScoredAt       time.Time `json:"scoredAt"`
}

// Segments, from best to worst.
const (
	Champion       = "champion"        // recent and frequent
	Loyal          = "loyal"           // frequent, seen a while ago
	Promising      = "promising"       // recent, some activity
	New            = "new"             // recent, little activity yet
	NeedsAttention = "needs-attention" // neither recent nor frequent enough
	AtRisk         = "at-risk"         // was frequent, not seen for long
	Hibernating    = "hibernating"     // some activity, not seen for long
	Lost           = "lost"            // little activity, not seen for long
)

// Model holds the thresholds of the grid.
type Model struct {
	// RecencyDays are the most days since last seen that still rate 5, 4, 3 and 2; more rates 1.
	RecencyDays [4]int
	// Frequency are the fewest events that rate 5, 4, 3 and 2; fewer rates 1.
	Frequency [4]int
}

// Default is the model dcrm scores with.
var Default = Model{
	RecencyDays: [4]int{7, 30, 90, 180},
	Frequency:   [4]int{50, 20, 10, 3},
}

// Rate scores a customer last seen at lastSeen with the given number of events, at now.
func Rate(lastSeen time.Time, events int, now time.Time) Score {
	return Default.Rate(lastSeen, events, now)
}

// Rate scores a customer last seen at lastSeen with the given number of events, at now.
func (m Model) Rate(lastSeen time.Time, events int, now time.Time) Score {
	days := DaysSince(lastSeen, now)
	r, f := 1, 1
	for i, limit := range m.RecencyDays {
		if days <= limit {
			r = 5 - i
			break
		}
	}
	for i, least := range m.Frequency {
		if events >= least {
			f = 5 - i
			break
		}
	}
	return Score{
		RecencyDays:    days,
		Frequency:      events,
		RecencyScore:   r,
		FrequencyScore: f,
		Score:          (r + f + 1) / 2, // mean, halves rounded up
		Segment:        segment(r, f),
		ScoredAt:       now.UTC(),
	}
}

func segment(r, f int) string {
	switch {
	case r >= 4 && f >= 4:
		return Champion
	case r >= 4 && f >= 2:
		return Promising
	case r >= 4:
		return New
	case r == 3 && f >= 4:
		return Loyal
	case r == 3:
		return NeedsAttention
	case f >= 4:
		return AtRisk
	case f >= 2:
		return Hibernating
	default:
		return Lost
	}
}

// DaysSince is the number of whole days from then to now; 0 when then is not before now.
func DaysSince(then, now time.Time) int {
	if !then.Before(now) {
		return 0
	}
	return int(now.Sub(then) / (24 * time.Hour))
}

// Lapsed tells whether a customer last seen at lastSeen has been inactive for longer than after at
// now, and no lapse alert was raised for this lapse yet (alertedAt is when the last one was raised,
// zero if never; an alert raised before the customer came back belongs to an earlier lapse).
func Lapsed(lastSeen, alertedAt, now time.Time, after time.Duration) bool {
	if lastSeen.IsZero() || now.Sub(lastSeen) <= after {
		return false
	}
	return alertedAt.IsZero() || alertedAt.Before(lastSeen)
}
