package cluster

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Words.
const (
	// DistinctZ is how far (in standard deviations of the population) a centre must lie from the
	// mean for its feature to name the cluster.
	DistinctZ = 0.5
	// MaxWords is how many features a description names and shows; a name takes up to
	// MaxNameWords when it needs more to differ from another cluster's.
	MaxWords     = 3
	MaxNameWords = 5
)

// ranked is the cluster's features that vary in the population, the largest |z| first (the
// lower feature index among equals).
func ranked(m *Model, c Cluster) []int {
	var idx []int
	for j := range m.Features {
		if m.Scales[j].SD > 0 {
			idx = append(idx, j)
		}
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(math.Abs(c.Z[b]), math.Abs(c.Z[a])) })
	return idx
}

// word is the feature's word for a centre above (z > 0) or below the mean.
func word(f Feature, z float64) string {
	if z > 0 {
		if f.High != "" {
			return f.High
		}
		return "high " + f.Name
	}
	if f.Low != "" {
		return f.Low
	}
	return "low " + f.Name
}

// describeAll names and describes every cluster of m from its centre.
func describeAll(m *Model) {
	words := make([][]string, len(m.Clusters))
	for i, c := range m.Clusters {
		r := ranked(m, c)
		var ws []string
		var shown []int
		for _, j := range r {
			if math.Abs(c.Z[j]) < DistinctZ {
				break
			}
			ws = append(ws, word(m.Features[j], c.Z[j]))
		}
		words[i] = ws
		shown = r[:min(len(r), MaxWords)]
		var vals []string
		for _, j := range shown {
			vals = append(vals, show(m.Features[j], c.Values[j]))
		}
		head := "Typical"
		if len(ws) > 0 {
			head = capitalise(strings.Join(ws[:min(len(ws), MaxWords)], ", "))
		}
		desc := head + " " + m.Noun
		if len(vals) > 0 {
			desc += " (" + strings.Join(vals, ", ") + ")"
		}
		m.Clusters[i].Description = desc
	}
	names := make([]string, len(m.Clusters))
	nameOf := func(i, n int) string {
		if len(words[i]) == 0 {
			return "typical"
		}
		return strings.Join(words[i][:min(len(words[i]), n)], " ")
	}
	for i := range names {
		names[i] = nameOf(i, MaxWords)
	}
	// Clusters that share a name take more of their words; the ones still alike are numbered in
	// cluster order ("typical", "typical 2").
	for n := MaxWords + 1; n <= MaxNameWords; n++ {
		for _, group := range alike(names) {
			for _, i := range group {
				names[i] = nameOf(i, n)
			}
		}
	}
	for _, group := range alike(names) {
		base := names[group[0]]
		for r, i := range group[1:] {
			names[i] = base + " " + strconv.Itoa(r+2)
		}
	}
	for i := range names {
		m.Clusters[i].Name = names[i]
	}
}

// alike groups the indices of names that occur more than once, each group in index order, the
// groups in the order of their first index.
func alike(names []string) [][]int {
	var groups [][]int
	done := make([]bool, len(names))
	for i := range names {
		if done[i] {
			continue
		}
		g := []int{i}
		for j := i + 1; j < len(names); j++ {
			if names[j] == names[i] {
				g = append(g, j)
				done[j] = true
			}
		}
		if len(g) > 1 {
			groups = append(groups, g)
		}
	}
	return groups
}

// show says a feature's value in its words: "9 orders", "spend 2,300", "35% mobile".
func show(f Feature, v float64) string {
	num := number(v)
	if f.Transform == Share {
		num = percent(v)
	}
	pat := f.Shows
	if num == "1" && f.ShowsOne != "" {
		pat = f.ShowsOne
	}
	if pat == "" {
		pat = f.Name + " {}"
	} else if !strings.Contains(pat, "{}") {
		pat += " {}"
	}
	return strings.Replace(pat, "{}", num, 1)
}

// number says a value to two significant figures at most, in words a reader takes in at a glance:
// 2.4, 9, 12, 340, 2,300, 15,000, 1.2 million.
func number(v float64) string {
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	var s string
	switch {
	case v < 0.95:
		s = strconv.FormatFloat(v, 'g', 2, 64)
		if v < 0.005 {
			s = "0"
			sign = ""
		}
	case v < 9.95:
		s = strings.TrimSuffix(strconv.FormatFloat(v, 'f', 1, 64), ".0")
	case v < 999.5:
		s = strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	default:
		unit := math.Pow(10, math.Floor(math.Log10(v))-1)
		r := math.Round(v/unit) * unit
		switch {
		case r < 1e6:
			s = groupDigits(r)
		case r < 1e9:
			s = strings.TrimSuffix(strconv.FormatFloat(r/1e6, 'f', 1, 64), ".0") + " million"
		case r < 1e12:
			s = strings.TrimSuffix(strconv.FormatFloat(r/1e9, 'f', 1, 64), ".0") + " billion"
		default:
			s = strconv.FormatFloat(r, 'g', 2, 64)
		}
	}
	return sign + s
}

// percent says a share: "0%", "2.5%", "35%", "100%".
func percent(v float64) string {
	p := 100 * v
	if p < 9.95 {
		return strings.TrimSuffix(strconv.FormatFloat(p, 'f', 1, 64), ".0") + "%"
	}
	return strconv.FormatFloat(math.Round(p), 'f', 0, 64) + "%"
}

// groupDigits writes a whole number with thousands separators: 12,000.
func groupDigits(v float64) string {
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func capitalise(s string) string {
	r, n := utf8.DecodeRuneInString(s)
	if r == utf8.RuneError {
		return s
	}
	return string(unicode.ToUpper(r)) + s[n:]
}
