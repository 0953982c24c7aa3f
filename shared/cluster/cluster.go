// Package cluster groups customers on standardised features with k-means (k-means++ seeding,
// seeded restarts, Lloyd iterations), chooses the number of groups by the mean silhouette, and
// describes each group in plain words from its centre. The fitted model is JSON-serialisable and
// assigns a new profile to its nearest group on its own, so that a daily re-fit can label everyone
// and profiles created between fits can be labelled with the stored model.
//
// Everything is deterministic: the same table, options and seed give the same model to the last
// digit (no goroutines, no map iteration in any sum, explicit rounding where a fused multiply-add
// could otherwise change a result between platforms).
package cluster

import (
	"errors"
	"fmt"
	"math"
)

// ErrInvalid is wrapped by every error about the input: an empty table, a NaN or infinite value,
// rows and features of different lengths, k out of bounds, a malformed model.
var ErrInvalid = errors.New("invalid input")

func invalid(format string, a ...any) error {
	return fmt.Errorf("cluster: "+format+": %w", append(a, ErrInvalid)...)
}

// Version is the model format's version, stored in every model.
const Version = 1

// Limits.
const (
	MaxClusters = 64    // the largest k, fixed or chosen
	MaxFeatures = 256   // features in a table
	MaxWordLen  = 64    // bytes in a feature's High, Low or Shows words
	MaxNameLen  = 128   // bytes in a feature's name (a profile trait's name is at most 128 bytes too)
	MaxValue    = 1e100 // the largest magnitude of a value: its square and sums of squares stay finite
	// MaxSilhouetteSample bounds the silhouette's sample: its cost grows with the square.
	MaxSilhouetteSample = 20_000
)

// Transform says how a feature's raw values are prepared before they are z-scored.
type Transform string

const (
	// Log1p is for skewed non-negative measures (money, counts, days): ln(1 + x). A negative value
	// (money net of returns) is mirrored: −ln(1 + |x|), so the transform stays monotone and
	// invertible.
	Log1p Transform = "log1p"
	// Linear takes the value as it is: measures that are not skewed.
	Linear Transform = "linear"
	// Share is a proportion in [0, 1] (the share of orders on mobile, of spend in a category),
	// taken as it is and shown as a percentage. A value outside [0, 1] is an error.
	Share Transform = "share"
)

// Feature is one column of a table: its name, how it is standardised, how much it counts in the
// distance and the words that describe a group from it.
type Feature struct {
	Name      string    `json:"name"`
	Transform Transform `json:"transform"`
	// Weight multiplies the feature's z-score in the distance (0 means 1): with many category
	// shares, a weight of 1/√(number of shares) keeps them from outweighing the other features.
	Weight float64 `json:"weight,omitempty"`
	// High and Low describe a group whose centre is well above or below the population's mean
	// ("frequent" / "occasional"); empty: "high <name>" / "low <name>".
	High string `json:"high,omitempty"`
	Low  string `json:"low,omitempty"`
	// Shows says the centre's value in words, {} standing for the number: "{} orders",
	// "recency {} days", "spend {}"; empty: "<name> {}".
	Shows string `json:"shows,omitempty"`
	// ShowsOne replaces Shows when the number reads "1": "{} order".
	ShowsOne string `json:"showsOne,omitempty"`
}

// Table is the input: one row per customer, one value per feature, in the features' order. IDs
// are optional; when given there is one per row, none empty, no two alike.
type Table struct {
	Features []Feature
	IDs      []string
	Rows     [][]float64
}

// Options tune a fit. The zero value chooses k in 2..8 with the defaults below and seed 0.
type Options struct {
	K          int // a fixed number of clusters (1..MaxClusters); 0: chosen by the criterion
	MinK, MaxK int // the range k is chosen from; defaults 2 and 8, MaxK capped at rows − 1
	Restarts   int // k-means++ seedings per k, the lowest inertia kept; default 5
	MaxIter    int // Lloyd iterations per restart at most; default 300
	// Tol stops a restart's iterations once the centres' squared shifts sum to at most Tol × the
	// coordinates' mean variance (scikit-learn's rule); default 1e-4; negative: iterate until no
	// row changes cluster (or MaxIter).
	Tol              float64
	SilhouetteSample int    // rows the silhouette is computed on (exactly, O(n²)); default 5,000, at most 20,000
	Seed             uint64 // every random choice derives from it
	Noun             string // what a row is, in the descriptions; default "customers"
}

// Defaults.
const (
	DefaultMinK             = 2
	DefaultMaxK             = 8
	DefaultRestarts         = 5
	DefaultMaxIter          = 300
	DefaultTol              = 1e-4
	DefaultSilhouetteSample = 5000
	DefaultNoun             = "customers"
)

// Scale is how one feature is standardised: z = (transform(x) − Mean) / SD.
type Scale struct {
	Mean float64 `json:"mean"` // of the transformed values over the fitted rows
	SD   float64 `json:"sd"`   // their population standard deviation; 0: constant, z is always 0
}

// Candidate is one k tried, with the criterion and the figures reported beside it.
type Candidate struct {
	K int `json:"k"`
	// Silhouette is the mean silhouette over the seeded sample (−1..1, higher is better): the
	// criterion. 0 when undefined (k = 1, or fewer than two clusters in the sample).
	Silhouette float64 `json:"silhouette"`
	// Inertia is the within-cluster sum of squared distances over all rows (the elbow plot's y).
	Inertia float64 `json:"inertia"`
	// CalinskiHarabasz is (between-cluster / (k − 1)) / (within-cluster / (n − k)) over all rows;
	// 0 when undefined (k = 1, k = n, or within-cluster spread below 10⁻¹² of the total: rounding).
	CalinskiHarabasz float64 `json:"calinskiHarabasz"`
	Iterations       int     `json:"iterations"` // Lloyd iterations of the restart kept
}

// Cluster is one group of a model, described.
type Cluster struct {
	Size  int     `json:"size"`  // fitted rows in the group
	Share float64 `json:"share"` // Size over the fitted rows
	// Name is short and unique within the model: the words of the features that distinguish the
	// group most, as the features write them, space separated ("recent frequent high-value"), or
	// "typical". A trait value.
	Name string `json:"name"`
	// Description is one sentence: "Recent, frequent, high-value customers (recency 12 days,
	// 9 orders, spend 2,300)".
	Description string    `json:"description"`
	Values      []float64 `json:"values"` // the centre in the features' own units (back-transformed)
	Z           []float64 `json:"z"`      // the centre in z-scores (before weights)
}

// Model is a fit: what Assign needs (features, scales, centres) and what it found.
type Model struct {
	Version  int       `json:"version"`
	Features []Feature `json:"features"`
	Scales   []Scale   `json:"scales"`
	// Centres are the coordinates Assign measures distances in (z-score × weight), one per
	// cluster, in the order of Clusters: largest first.
	Centres  [][]float64 `json:"centres"`
	Clusters []Cluster   `json:"clusters"`
	K        int         `json:"k"`
	// Criterion says how K was found: "silhouette" (the best mean silhouette over the candidates,
	// ties to the smaller k) or "fixed" (Options.K).
	Criterion  string      `json:"criterion"`
	Candidates []Candidate `json:"candidates"`
	Rows       int         `json:"rows"` // rows fitted
	Seed       uint64      `json:"seed"`
	Noun       string      `json:"noun"`
}

func (f Feature) weight() float64 {
	if f.Weight == 0 {
		return 1
	}
	return f.Weight
}

func (f Feature) transform(v float64) float64 {
	if f.Transform == Log1p {
		if v < 0 {
			return -math.Log1p(-v)
		}
		return math.Log1p(v)
	}
	return v
}

func (f Feature) inverse(t float64) float64 {
	if f.Transform == Log1p {
		if t < 0 {
			return -math.Expm1(-t)
		}
		return math.Expm1(t)
	}
	return t
}

func (f Feature) check() error {
	switch {
	case f.Name == "" || len(f.Name) > MaxNameLen:
		return invalid("feature name %q: empty or longer than %d bytes", f.Name, MaxNameLen)
	case f.Transform != Log1p && f.Transform != Linear && f.Transform != Share:
		return invalid("feature %q: transform %q is not log1p, linear or share", f.Name, f.Transform)
	case math.IsNaN(f.Weight) || math.IsInf(f.Weight, 0) || f.Weight < 0 || f.Weight > 1e6:
		return invalid("feature %q: weight %v is not in [0, 1e6]", f.Name, f.Weight)
	case len(f.High) > MaxWordLen || len(f.Low) > MaxWordLen || len(f.Shows) > MaxWordLen || len(f.ShowsOne) > MaxWordLen:
		return invalid("feature %q: words longer than %d bytes", f.Name, MaxWordLen)
	}
	return nil
}

func checkValue(f Feature, v float64, row int) error {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return invalid("row %d, feature %q: %v is not a finite number", row, f.Name, v)
	case math.Abs(v) > MaxValue:
		return invalid("row %d, feature %q: %v is beyond ±%g", row, f.Name, v, MaxValue)
	case f.Transform == Share && (v < 0 || v > 1):
		return invalid("row %d, feature %q: share %v is not in [0, 1]", row, f.Name, v)
	}
	return nil
}

// check validates the table.
func (t Table) check() error {
	d := len(t.Features)
	if d == 0 || d > MaxFeatures {
		return invalid("%d features: want 1..%d", d, MaxFeatures)
	}
	names := make(map[string]bool, d)
	for _, f := range t.Features {
		if err := f.check(); err != nil {
			return err
		}
		if names[f.Name] {
			return invalid("feature %q twice", f.Name)
		}
		names[f.Name] = true
	}
	if len(t.Rows) == 0 {
		return invalid("no rows")
	}
	if t.IDs != nil {
		if len(t.IDs) != len(t.Rows) {
			return invalid("%d ids for %d rows", len(t.IDs), len(t.Rows))
		}
		seen := make(map[string]bool, len(t.IDs))
		for i, id := range t.IDs {
			if id == "" || seen[id] {
				return invalid("row %d: id %q empty or repeated", i, id)
			}
			seen[id] = true
		}
	}
	for i, r := range t.Rows {
		if len(r) != d {
			return invalid("row %d: %d values for %d features", i, len(r), d)
		}
		for j, v := range r {
			if err := checkValue(t.Features[j], v, i); err != nil {
				return err
			}
		}
	}
	return nil
}

// withDefaults fills the options' zero values and checks them against n rows.
func (o Options) withDefaults(n int) (Options, error) {
	if math.IsNaN(o.Tol) || math.IsInf(o.Tol, 0) {
		return o, invalid("tolerance %v", o.Tol)
	}
	if o.Tol == 0 {
		o.Tol = DefaultTol
	}
	if o.Restarts < 0 || o.MaxIter < 0 || o.SilhouetteSample < 0 || o.K < 0 || o.MinK < 0 || o.MaxK < 0 {
		return o, invalid("negative option")
	}
	if o.Restarts == 0 {
		o.Restarts = DefaultRestarts
	}
	if o.MaxIter == 0 {
		o.MaxIter = DefaultMaxIter
	}
	if o.SilhouetteSample == 0 {
		o.SilhouetteSample = DefaultSilhouetteSample
	}
	if o.SilhouetteSample < 2 || o.SilhouetteSample > MaxSilhouetteSample {
		return o, invalid("silhouette sample %d: want 2..%d", o.SilhouetteSample, MaxSilhouetteSample)
	}
	if o.Noun == "" {
		o.Noun = DefaultNoun
	}
	if len(o.Noun) > MaxWordLen {
		return o, invalid("noun longer than %d bytes", MaxWordLen)
	}
	if o.K > 0 {
		if o.MinK != 0 || o.MaxK != 0 {
			return o, invalid("k %d fixed and a range %d..%d given", o.K, o.MinK, o.MaxK)
		}
		if o.K > MaxClusters || o.K > n {
			return o, invalid("k %d: want at most %d and at most the %d rows", o.K, MaxClusters, n)
		}
		o.MinK, o.MaxK = o.K, o.K
		return o, nil
	}
	if o.MinK == 0 {
		o.MinK = DefaultMinK
	}
	if o.MaxK == 0 {
		o.MaxK = max(DefaultMaxK, o.MinK)
	}
	if o.MinK < 2 || o.MaxK < o.MinK || o.MaxK > MaxClusters {
		return o, invalid("k range %d..%d: want 2 ≤ min ≤ max ≤ %d", o.MinK, o.MaxK, MaxClusters)
	}
	if o.MinK > n-1 {
		return o, invalid("k range %d..%d: %d rows allow k ≤ %d", o.MinK, o.MaxK, n, n-1)
	}
	o.MaxK = min(o.MaxK, n-1)
	return o, nil
}

// fitScales computes each feature's mean and standard deviation of the transformed values.
func fitScales(t Table) []Scale {
	n := float64(len(t.Rows))
	sc := make([]Scale, len(t.Features))
	for j, f := range t.Features {
		var sum float64
		for _, r := range t.Rows {
			sum += f.transform(r[j])
		}
		mean := sum / n
		var ss float64
		for _, r := range t.Rows {
			e := f.transform(r[j]) - mean
			ss += float64(e * e)
		}
		sd := math.Sqrt(ss / n)
		// A spread that is rounding noise of the mean is none.
		if !(sd > 1e-9*max(1, math.Abs(mean))) {
			sd = 0
		}
		sc[j] = Scale{Mean: mean, SD: sd}
	}
	return sc
}

// standardise writes row's coordinates (z-score × weight) into dst. It is the one place both
// Fit and Assign compute them, so that Assign reproduces Fit's labels exactly.
func standardise(fs []Feature, sc []Scale, row, dst []float64) {
	for j, f := range fs {
		if sc[j].SD == 0 {
			dst[j] = 0
			continue
		}
		z := float64(f.transform(row[j])-sc[j].Mean) / sc[j].SD
		dst[j] = float64(z * f.weight())
	}
}

// sqdist is the squared Euclidean distance; the conversions keep the compiler from fusing the
// multiply and add, so the sum is the same on every platform.
func sqdist(a, b []float64) float64 {
	b = b[:len(a)]
	var s float64
	for i, v := range a {
		e := v - b[i]
		s += float64(e * e)
	}
	return s
}

// nearest is the index of the centre nearest to x (the lowest index among equals) and the
// squared distance to it.
func nearest(x []float64, centres [][]float64) (int, float64) {
	best, bestD := 0, math.Inf(1)
	for c, ctr := range centres {
		if d := sqdist(x, ctr); d < bestD {
			best, bestD = c, d
		}
	}
	return best, bestD
}

// check validates a model before Assign uses it (a model may come from anywhere as JSON).
func (m *Model) check() error {
	if m == nil {
		return invalid("no model")
	}
	d := len(m.Features)
	if d == 0 || len(m.Scales) != d || len(m.Centres) == 0 || len(m.Centres) > MaxClusters {
		return invalid("model: %d features, %d scales, %d centres", d, len(m.Scales), len(m.Centres))
	}
	for j, f := range m.Features {
		if err := f.check(); err != nil {
			return err
		}
		s := m.Scales[j]
		if math.IsNaN(s.Mean) || math.IsInf(s.Mean, 0) || !(s.SD >= 0) || math.IsInf(s.SD, 0) {
			return invalid("model: feature %q: scale %v", f.Name, s)
		}
	}
	return nil
}

// Assign puts one row (values in the features' order and units) in the nearest cluster: its index
// in Clusters and the Euclidean distance to the centre in standardised (weighted) units. For a row
// that was fitted it returns the label Fit returned.
func (m *Model) Assign(row []float64) (cluster int, distance float64, err error) {
	if m == nil {
		return -1, 0, invalid("no model")
	}
	if err := m.check(); err != nil {
		return -1, 0, err
	}
	d := len(m.Features)
	if len(row) != d {
		return -1, 0, invalid("%d values for %d features", len(row), d)
	}
	for j, v := range row {
		if err := checkValue(m.Features[j], v, 0); err != nil {
			return -1, 0, err
		}
	}
	var buf [32]float64
	x := buf[:0]
	if d <= len(buf) {
		x = buf[:d]
	} else {
		x = make([]float64, d)
	}
	standardise(m.Features, m.Scales, row, x)
	for c, ctr := range m.Centres {
		if len(ctr) != d {
			return -1, 0, invalid("model: centre %d has %d coordinates for %d features", c, len(ctr), d)
		}
	}
	c, sq := nearest(x, m.Centres)
	if math.IsNaN(sq) || math.IsInf(sq, 0) {
		return -1, 0, invalid("model: centres are not finite")
	}
	return c, math.Sqrt(sq), nil
}
