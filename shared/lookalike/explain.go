package lookalike

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Contribution is one feature's part in a model or in one profile's score.
type Contribution struct {
	Column string `json:"column"`
	// Weight: in Explain, for Logistic the change in log-odds per standard deviation of the
	// (transformed) feature, i.e. the coefficient times the feature's standard deviation; for
	// Centroid the seed's mean in standard deviations from the population's. In ExplainRow, the
	// feature's share of this profile's log-odds (Logistic: weight × z) or of its cosine
	// (Centroid: z × centroid / (|z|·|centroid|)).
	Weight float64 `json:"weight"`
	Text   string  `json:"text"`
}

// Explain gives the model's k largest weights by size (all if k ≤ 0 or beyond the columns), the
// largest first, with a sentence each: which way the seed differs from the rest.
func (m Model) Explain(k int) []Contribution {
	ws := m.Weights
	if m.Method == Centroid {
		ws = m.Centroid
	}
	out := make([]Contribution, 0, len(m.Columns))
	for j, c := range m.Columns {
		w := ws[j]
		dir := "higher"
		if w < 0 {
			dir = "lower"
		}
		var text string
		switch {
		case w == 0:
			text = fmt.Sprintf("%s does not tell the seed from the rest", c.words())
		case m.Method == Centroid:
			text = fmt.Sprintf("the seed has %s %s: on average %+.2f standard deviations from everyone's", dir, c.words(), w)
		default:
			text = fmt.Sprintf("profiles with %s %s look more like the seed: %+.2f log-odds per standard deviation", dir, c.words(), w)
		}
		out = append(out, Contribution{Column: c.Name, Weight: w, Text: text})
	}
	return topContributions(out, k)
}

// ExplainRow gives the k features that moved this profile's score most, the largest first.
func (m Model) ExplainRow(row []float64, k int) []Contribution {
	d := len(m.Columns)
	zs := make([]float64, d)
	for j := range min(d, len(row)) {
		zs[j] = m.z(j, m.Columns[j].Transform.apply(row[j]))
	}
	norm := 1.0
	if m.Method == Centroid {
		var zz, cc float64
		for j := range d {
			zz += zs[j] * zs[j]
			cc += m.Centroid[j] * m.Centroid[j]
		}
		if zz > 0 && cc > 0 {
			norm = math.Sqrt(zz * cc)
		}
	}
	out := make([]Contribution, 0, d)
	for j, c := range m.Columns {
		var w float64
		if m.Method == Centroid {
			w = zs[j] * m.Centroid[j] / norm
		} else {
			w = zs[j] * m.Weights[j]
		}
		value := "unknown"
		if j < len(row) && !math.IsNaN(row[j]) {
			value = fmt.Sprintf("%.4g", row[j])
		}
		way := "towards"
		if w < 0 {
			way = "away from"
		}
		text := fmt.Sprintf("%s %s (%+.2f standard deviations) moves the profile %s the seed: %+.3f", c.words(), value, zs[j], way, w)
		if w == 0 {
			text = fmt.Sprintf("%s %s does not move the profile", c.words(), value)
		}
		out = append(out, Contribution{Column: c.Name, Weight: w, Text: text})
	}
	return topContributions(out, k)
}

// topContributions sorts by size, the largest first (ties in column order), and keeps k.
func topContributions(cs []Contribution, k int) []Contribution {
	slices.SortStableFunc(cs, func(a, b Contribution) int { return cmp.Compare(math.Abs(b.Weight), math.Abs(a.Weight)) })
	if k > 0 && k < len(cs) {
		cs = cs[:k]
	}
	return cs
}
