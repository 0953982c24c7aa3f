// Package btyd holds the "buy till you die" models of customer-base analysis: the BG/NBD (Fader,
// Hardie & Lee 2005, Marketing Science 24(2)) and the Pareto/NBD (Schmittlein, Morrison & Colombo
// 1987) for how often a customer buys and whether they are still a customer, the Gamma-Gamma
// model (Fader, Hardie & Lee 2005, JMR 42(4); Fader & Hardie 2013) for how much they spend, and the
// customer lifetime value that follows from them.
//
// A customer's history is summarised by frequency, recency and age (x, t_x, T) in a time unit,
// weeks by default as in the papers. Models are fitted by maximum likelihood, serialise to JSON,
// and score one customer at a time. Pure functions; no clock, no I/O.
package btyd

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/dcrm-project/dcrm/shared/calendar"
)

// Unit is the time unit that x, t_x and T, and hence the fitted parameters, are measured in.
type Unit string

// Units. Weeks are the papers' unit.
const (
	Week Unit = "week"
	Day  Unit = "day"
)

// Days is the unit's length in days; the empty unit means weeks.
func (u Unit) Days() (float64, error) {
	switch u {
	case Week, "":
		return 7, nil
	case Day:
		return 1, nil
	}
	return 0, fmt.Errorf("%w %q (want week or day)", ErrUnit, string(u))
}

// Errors.
var (
	ErrUnit           = errors.New("unknown time unit")
	ErrTransaction    = errors.New("invalid transaction")
	ErrNoCustomers    = errors.New("no customer bought on or before the calibration end")
	ErrHistory        = errors.New("invalid customer history")
	ErrTooFewRepeat   = errors.New("too few repeat customers to fit")
	ErrNotEvaluatable = errors.New("likelihood cannot be evaluated at the start values")
	ErrNoConvergence  = errors.New("maximum likelihood search did not converge")
	ErrValuation      = errors.New("invalid valuation")
)

// Transaction is one purchase.
type Transaction struct {
	CustomerID string
	At         time.Time
	Amount     float64
}

// Customer is one customer's purchase history up to the calibration end, in the models' unit.
// The first purchase starts the customer's clock; purchases on the same calendar day are one
// transaction, their amounts summed.
type Customer struct {
	ID    string  `json:"id"`
	X     int     `json:"x"`     // repeat transactions: all but the first
	Tx    float64 `json:"tx"`    // time of the last transaction since the first (0 when X == 0)
	T     float64 `json:"T"`     // time from the first transaction to the calibration end
	Spend float64 `json:"spend"` // mean value of the repeat transactions (0 when X == 0)
	// HoldoutX counts transactions after the calibration end up to the holdout end, when one
	// is given: what the models' forecasts are checked against.
	HoldoutX int `json:"holdoutX,omitempty"`
}

// Summary says how transactions become customer histories.
type Summary struct {
	CalibrationEnd time.Time // last calendar day of the calibration period, inclusive
	HoldoutEnd     time.Time // last day of the holdout period, inclusive; zero: no holdout
	Unit           Unit      // default weeks
}

// Summarise turns transactions into one Customer per customer who bought on or before the
// calibration end, sorted by ID. Days are calendar days in each timestamp's own location.
// Transactions after the holdout end (or, without one, after the calibration end) are ignored.
func Summarise(txs []Transaction, s Summary) ([]Customer, error) {
	unitDays, err := s.Unit.Days()
	if err != nil {
		return nil, err
	}
	calEnd := calendar.DayNumber(s.CalibrationEnd)
	last := calEnd
	if !s.HoldoutEnd.IsZero() {
		if last = calendar.DayNumber(s.HoldoutEnd); last < calEnd {
			return nil, fmt.Errorf("summarise: holdout end %s is before the calibration end %s",
				s.HoldoutEnd.Format(time.DateOnly), s.CalibrationEnd.Format(time.DateOnly))
		}
	}
	type purchase struct {
		id     string
		day    int64
		amount float64
	}
	ps := make([]purchase, 0, len(txs))
	for i, t := range txs {
		if strings.TrimSpace(t.CustomerID) == "" {
			return nil, fmt.Errorf("%w %d: empty customer id", ErrTransaction, i)
		}
		if math.IsNaN(t.Amount) || math.IsInf(t.Amount, 0) {
			return nil, fmt.Errorf("%w %d: amount %v", ErrTransaction, i, t.Amount)
		}
		if d := calendar.DayNumber(t.At); d <= last {
			ps = append(ps, purchase{t.CustomerID, d, t.Amount})
		}
	}
	slices.SortFunc(ps, func(a, b purchase) int {
		if c := strings.Compare(a.id, b.id); c != 0 {
			return c
		}
		return int(a.day - b.day)
	})

	var out []Customer
	for i := 0; i < len(ps); {
		j := i
		for j < len(ps) && ps[j].id == ps[i].id {
			j++
		}
		first := ps[i].day
		if first <= calEnd {
			c := Customer{ID: ps[i].id, T: float64(calEnd-first) / unitDays}
			var repeatSpend, dayAmount float64
			for k := i; k < j; k++ {
				dayAmount += ps[k].amount
				if k+1 < j && ps[k+1].day == ps[k].day {
					continue // same day: one transaction
				}
				switch d := ps[k].day; {
				case d == first:
				case d <= calEnd:
					c.X++
					c.Tx = float64(d-first) / unitDays
					repeatSpend += dayAmount
				default:
					c.HoldoutX++
				}
				dayAmount = 0
			}
			if c.X > 0 {
				c.Spend = repeatSpend / float64(c.X)
			}
			out = append(out, c)
		}
		i = j
	}
	if len(out) == 0 {
		return nil, ErrNoCustomers
	}
	return out, nil
}
