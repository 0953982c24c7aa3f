package lookalike

import (
	"fmt"
	"math"
)

// Transform says how a column's raw value is put on a scale where differences mean the same
// everywhere, before it is standardised.
type Transform string

const (
	// Log is sign(x)·ln(1+|x|): for counts, money and durations, whose long right tails would
	// otherwise decide everything (a wholesaler's revenue is thousands of times a typical
	// customer's). Zero stays zero; a negative amount (refunds above purchases) stays negative.
	Log Transform = "log"
	// Linear leaves the value as it is: for shares in [0, 1] and scores on a small fixed scale.
	Linear Transform = "linear"
)

// apply is the transform of one value; an unknown transform is refused when a model is trained
// or decoded, so here it cannot occur.
func (t Transform) apply(x float64) float64 {
	if t == Log {
		if x < 0 {
			return -math.Log1p(-x)
		}
		return math.Log1p(x)
	}
	return x
}

func (t Transform) valid() bool { return t == Log || t == Linear }

// Column is one feature: its name (unique within a feature set), its transform and, for
// explanations, the plain words for it ("orders", "days since the last order").
type Column struct {
	Name      string    `json:"name"`
	Transform Transform `json:"transform"`
	Words     string    `json:"words,omitempty"`
}

func (c Column) words() string {
	if c.Words != "" {
		return c.Words
	}
	return c.Name
}

// Features are the feature vectors of a population: one row per profile, in the order of
// Columns, and the profile ids in the same order as the rows. Every value must be finite: a
// profile that lacks a measure (no visits recorded, no category bought) carries 0 for it, which
// is what the measure is for such a profile.
type Features struct {
	Columns []Column
	IDs     []string
	Rows    [][]float64
}

// Names of the columns that dcrm profiles carry (shared/profile's commerce, sessions and scores),
// with the transform each takes. A feature set may use any subset and add its own; these fix the
// names so that a model trained on one day's profiles scores the next day's.
var ProfileColumns = []Column{
	{Name: "recency_days", Transform: Log, Words: "days since the last order"},
	{Name: "orders", Transform: Log, Words: "orders"},
	{Name: "revenue", Transform: Log, Words: "revenue net of refunds"},
	{Name: "average_order_value", Transform: Log, Words: "average order value"},
	{Name: "tenure_days", Transform: Log, Words: "days since the first order"},
	{Name: "mean_gap_days", Transform: Log, Words: "days between orders"},
	{Name: "visits", Transform: Log, Words: "visits"},
	{Name: "page_views", Transform: Log, Words: "page views"},
	{Name: "engaged_seconds", Transform: Log, Words: "engaged time"},
	{Name: "rfm_r", Transform: Linear, Words: "RFM recency score"},
	{Name: "rfm_f", Transform: Linear, Words: "RFM frequency score"},
	{Name: "rfm_m", Transform: Linear, Words: "RFM monetary score"},
	{Name: "p_alive", Transform: Linear, Words: "probability of still being a customer"},
	{Name: "clv", Transform: Log, Words: "customer lifetime value"},
}

// ShareColumn is the column of a category's (or brand's) share of a profile's purchases, in
// [0, 1]: "share:" followed by the category.
func ShareColumn(category string) Column {
	return Column{Name: "share:" + category, Transform: Linear, Words: "share of purchases in " + category}
}

// validate checks the shape and the values of a feature set.
func (f Features) validate() error {
	if len(f.Columns) == 0 {
		return fmt.Errorf("%w: no columns", ErrInvalid)
	}
	names := make(map[string]bool, len(f.Columns))
	for j, c := range f.Columns {
		if c.Name == "" {
			return fmt.Errorf("%w: column %d has no name", ErrInvalid, j)
		}
		if names[c.Name] {
			return fmt.Errorf("%w: column %q twice", ErrInvalid, c.Name)
		}
		names[c.Name] = true
		if !c.Transform.valid() {
			return fmt.Errorf("%w: column %q: transform %q (want %q or %q)", ErrInvalid, c.Name, c.Transform, Log, Linear)
		}
	}
	if len(f.IDs) != len(f.Rows) {
		return fmt.Errorf("%w: %d ids for %d rows", ErrInvalid, len(f.IDs), len(f.Rows))
	}
	ids := make(map[string]bool, len(f.IDs))
	for i, row := range f.Rows {
		id := f.IDs[i]
		if id == "" {
			return fmt.Errorf("%w: row %d has no id", ErrInvalid, i)
		}
		if ids[id] {
			return fmt.Errorf("%w: id %q twice", ErrInvalid, id)
		}
		ids[id] = true
		if len(row) != len(f.Columns) {
			return fmt.Errorf("%w: row %q has %d values for %d columns", ErrInvalid, id, len(row), len(f.Columns))
		}
		for j, x := range row {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("%w: row %q, column %q: %v is not a finite number", ErrInvalid, id, f.Columns[j].Name, x)
			}
		}
	}
	return nil
}
