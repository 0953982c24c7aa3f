// Package lookalike scores every profile by how much it resembles a seed audience.
//
// Given the ids of a seed audience and the feature vectors of a population, Train fits a model
// of "seed against the rest": by default a class-balanced, L2-regularised logistic regression on
// standardised features (each log-transformed where it is a count, an amount or a duration),
// solved by Newton's method; alternatively the cosine similarity to the seed's centroid. The model
// scores one profile at a time (Score, no allocation), explains itself by its largest weights
// (Explain, ExplainRow), serialises to JSON with a format version, and the helpers Top, Above and
// TopN turn scores into an audience. AUC and LiftAt measure how well scores rank a known outcome.
//
// Training is deterministic to the last digit for the same population, whatever order its rows
// come in: negatives (and, above a cap, positives) are sampled by a seeded hash of the profile
// id, and every sum runs over the sampled rows in id order.
package lookalike

import (
	"cmp"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
)

// FormatVersion is the version of the model's JSON form; Decode refuses any other.
const FormatVersion = 1

// ErrInvalid is wrapped by every error about the input: an empty seed, a seed that covers the
// whole population, non-finite values, rows of the wrong length, duplicate ids, bad options, a
// model document that is not one.
var ErrInvalid = errors.New("lookalike: invalid input")

// ErrNoConvergence is returned when Newton's method has not settled within the allowed
// iterations (it settles in under 20 on every data set tried).
var ErrNoConvergence = errors.New("lookalike: no convergence")

// Method is the kind of model.
type Method string

const (
	// Logistic is an L2-regularised logistic regression of seed membership on the standardised
	// features, with both classes weighted equally. The default: it beat Centroid on the
	// validation (README.md).
	Logistic Method = "logistic"
	// Centroid scores by the cosine similarity between a profile's standardised features and the
	// seed's mean, mapped from [-1, 1] to [0, 1].
	Centroid Method = "centroid"
)

// Options of Train. The zero value is the defaults.
type Options struct {
	Method Method // Logistic (default) or Centroid
	// L2 is the ridge penalty λ in mean weighted log-loss + λ/2·Σβ² (intercept not penalised),
	// on standardised features; default 0.01. Must not be negative.
	L2 float64
	// MaxPositives and MaxNegatives bound the rows trained on: seed members and other profiles
	// above these are sampled (by a seeded hash of the id). Defaults 50,000 each.
	MaxPositives, MaxNegatives int
	// Seed seeds the sampling; the same seed and population give the same sample.
	Seed uint64
	// Clip bounds each standardised value to [-Clip, Clip] (default 5), so that one extreme
	// value cannot dominate a score and any finite input gives a finite score.
	Clip float64
	// MaxIterations bounds Newton's method (default 100).
	MaxIterations int
}

func (o Options) withDefaults() (Options, error) {
	if o.Method == "" {
		o.Method = Logistic
	}
	if o.Method != Logistic && o.Method != Centroid {
		return o, fmt.Errorf("%w: method %q", ErrInvalid, o.Method)
	}
	if o.L2 == 0 {
		o.L2 = 0.01
	}
	if o.MaxPositives == 0 {
		o.MaxPositives = 50_000
	}
	if o.MaxNegatives == 0 {
		o.MaxNegatives = 50_000
	}
	if o.Clip == 0 {
		o.Clip = 5
	}
	if o.MaxIterations == 0 {
		o.MaxIterations = 100
	}
	switch {
	case !(o.L2 > 0) || math.IsInf(o.L2, 0):
		return o, fmt.Errorf("%w: L2 %v (want a positive finite number)", ErrInvalid, o.L2)
	case o.MaxPositives < 0 || o.MaxNegatives < 0 || o.MaxIterations < 0:
		return o, fmt.Errorf("%w: negative bound in options", ErrInvalid)
	case !(o.Clip > 0) || math.IsInf(o.Clip, 0):
		return o, fmt.Errorf("%w: clip %v (want a positive finite number)", ErrInvalid, o.Clip)
	}
	return o, nil
}

// Model is a trained look-alike model. Its fields are exported for JSON; build one with Train or
// Decode, not by hand.
type Model struct {
	Version int      `json:"version"`
	Method  Method   `json:"method"`
	Columns []Column `json:"columns"`
	// Mean and Scale standardise each transformed column: z = (t - Mean) / Scale, clipped to
	// ±Clip. They are estimated for the whole population (seed and others weighted by their
	// sampling rates). Scale 0 marks a column that did not vary: it counts as 0.
	Mean  []float64 `json:"mean"`
	Scale []float64 `json:"scale"`
	Clip  float64   `json:"clip"`
	// Logistic: log-odds of "like the seed" = Intercept + Σ Weights·z.
	Intercept float64   `json:"intercept,omitempty"`
	Weights   []float64 `json:"weights,omitempty"`
	// Centroid: the seed's mean z.
	Centroid []float64 `json:"centroid,omitempty"`
	Training Training  `json:"training"`
}

// Training records what a model was trained on.
type Training struct {
	Population int     `json:"population"` // rows given
	Seed       int     `json:"seed"`       // seed members found among them
	Positives  int     `json:"positives"`  // seed members trained on
	Negatives  int     `json:"negatives"`  // other profiles trained on
	L2         float64 `json:"l2,omitempty"`
	Iterations int     `json:"iterations,omitempty"`
	Sampling   uint64  `json:"sampling"` // Options.Seed
}

// Train fits a look-alike model of the seed (profile ids; ids not in data are ignored) on the
// population data.
func Train(seed []string, data Features, opts Options) (Model, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return Model{}, err
	}
	if err := data.validate(); err != nil {
		return Model{}, err
	}
	inSeed := make(map[string]bool, len(seed))
	for _, id := range seed {
		inSeed[id] = true
	}
	var pos, neg []int
	for i, id := range data.IDs {
		if inSeed[id] {
			pos = append(pos, i)
		} else {
			neg = append(neg, i)
		}
	}
	switch {
	case len(pos) == 0:
		return Model{}, fmt.Errorf("%w: no seed member among the %d profiles", ErrInvalid, len(data.IDs))
	case len(neg) == 0:
		return Model{}, fmt.Errorf("%w: the seed covers all %d profiles: nothing to score", ErrInvalid, len(data.IDs))
	}
	nPos, nNeg := len(pos), len(neg)
	pos = sample(pos, data.IDs, o.MaxPositives, o.Seed)
	neg = sample(neg, data.IDs, o.MaxNegatives, o.Seed)
	if len(pos) == 0 || len(neg) == 0 {
		return Model{}, fmt.Errorf("%w: MaxPositives and MaxNegatives leave nothing to train on", ErrInvalid)
	}

	d := len(data.Columns)
	m := Model{
		Version: FormatVersion, Method: o.Method, Columns: slices.Clone(data.Columns),
		Mean: make([]float64, d), Scale: make([]float64, d), Clip: o.Clip,
		Training: Training{Population: len(data.IDs), Seed: nPos, Positives: len(pos), Negatives: len(neg), Sampling: o.Seed},
	}
	// Population estimates: each sampled row stands for total/sampled rows of its class.
	wPos, wNeg := float64(nPos)/float64(len(pos)), float64(nNeg)/float64(len(neg))
	total := float64(nPos + nNeg)
	rows := append(slices.Clone(pos), neg...)
	t := make([]float64, len(rows)*d) // transformed, then standardised, training rows
	for r, i := range rows {
		for j, c := range data.Columns {
			t[r*d+j] = c.Transform.apply(data.Rows[i][j])
		}
	}
	for j, c := range data.Columns {
		var sum float64
		for r := range rows {
			sum += rowWeight(r, len(pos), wPos, wNeg) * t[r*d+j]
		}
		mean := sum / total
		var ss float64
		for r := range rows {
			dev := t[r*d+j] - mean
			ss += rowWeight(r, len(pos), wPos, wNeg) * dev * dev
		}
		sd := math.Sqrt(ss / total)
		if math.IsNaN(mean) || math.IsInf(mean, 0) || math.IsNaN(sd) || math.IsInf(sd, 0) {
			return Model{}, fmt.Errorf("%w: column %q: values too large to standardise", ErrInvalid, c.Name)
		}
		if sd < 1e-12*max(1, math.Abs(mean)) {
			sd = 0
		}
		m.Mean[j], m.Scale[j] = mean, sd
	}
	for r := range rows {
		for j := range d {
			t[r*d+j] = m.z(j, t[r*d+j])
		}
	}

	switch o.Method {
	case Centroid:
		m.Centroid = make([]float64, d)
		for j := range d {
			var s float64
			for r := range pos {
				s += t[r*d+j]
			}
			m.Centroid[j] = s / float64(len(pos))
		}
	case Logistic:
		beta, iters, err := newton(t, len(pos), len(neg), d, o.L2, o.MaxIterations)
		m.Training.L2, m.Training.Iterations = o.L2, iters
		if err != nil {
			return Model{}, err
		}
		m.Intercept, m.Weights = beta[d], beta[:d:d]
	}
	return m, nil
}

func rowWeight(r, nPos int, wPos, wNeg float64) float64 {
	if r < nPos {
		return wPos
	}
	return wNeg
}

// sample keeps at most k of the rows idx: those whose ids hash lowest under the seed, so that
// the choice depends on the ids alone, not on their order. The rows come back in id order.
func sample(idx []int, ids []string, k int, seed uint64) []int {
	if len(idx) > k {
		type keyed struct {
			h uint64
			i int
		}
		ks := make([]keyed, len(idx))
		for n, i := range idx {
			ks[n] = keyed{idHash(seed, ids[i]), i}
		}
		slices.SortFunc(ks, func(a, b keyed) int {
			return cmp.Or(cmp.Compare(a.h, b.h), cmp.Compare(ids[a.i], ids[b.i]))
		})
		idx = make([]int, k)
		for n := range k {
			idx[n] = ks[n].i
		}
	} else {
		idx = slices.Clone(idx)
	}
	slices.SortFunc(idx, func(a, b int) int { return cmp.Compare(ids[a], ids[b]) })
	return idx
}

// idHash is FNV-1a of the seed and the id, finished by SplitMix64's mixer.
func idHash(seed uint64, id string) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte(id))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// newton minimises Σ w_i·logloss_i + λ/2·|β|² over the nPos positive rows (first) and the nNeg
// negative rows of z (row-major, d columns), with w = 1/(2·nPos) for positives and 1/(2·nNeg)
// for negatives (the classes weigh the same). β has d weights and the intercept last.
func newton(z []float64, nPos, nNeg, d int, lambda float64, maxIter int) ([]float64, int, error) {
	p := d + 1
	beta := make([]float64, p)
	grad := make([]float64, p)
	hess := make([]float64, p*p)
	step := make([]float64, p)
	trial := make([]float64, p)
	x := make([]float64, p)
	wPos, wNeg := 1/(2*float64(nPos)), 1/(2*float64(nNeg))
	n := nPos + nNeg
	row := func(r int) []float64 {
		copy(x, z[r*d:(r+1)*d])
		x[d] = 1
		return x
	}
	objective := func(b []float64) float64 {
		var s float64
		for r := range n {
			xr := row(r)
			eta := dot(b, xr)
			w, y := wNeg, 0.0
			if r < nPos {
				w, y = wPos, 1
			}
			s += w * (softplus(eta) - y*eta)
		}
		var pen float64
		for j := range d {
			pen += b[j] * b[j]
		}
		return s + lambda/2*pen
	}
	f := objective(beta)
	for iter := 1; iter <= maxIter; iter++ {
		clear(grad)
		clear(hess)
		for r := range n {
			xr := row(r)
			eta := dot(beta, xr)
			pr := sigmoid(eta)
			w, y := wNeg, 0.0
			if r < nPos {
				w, y = wPos, 1
			}
			g := w * (pr - y)
			h := w * pr * (1 - pr)
			for a := range p {
				grad[a] += g * xr[a]
				ha := h * xr[a]
				for b := 0; b <= a; b++ {
					hess[a*p+b] += ha * xr[b]
				}
			}
		}
		for j := range d {
			grad[j] += lambda * beta[j]
			hess[j*p+j] += lambda
		}
		// The intercept's diagonal is Σ w·p(1-p) > 0; a tiny ridge keeps the factorisation safe
		// when every probability has saturated.
		hess[d*p+d] += 1e-12
		if err := cholSolve(hess, grad, step, p); err != nil {
			return nil, iter, err
		}
		// Damped step: halve until the objective does not rise.
		var fNew float64
		scale := 1.0
		for range 60 {
			for a := range p {
				trial[a] = beta[a] - scale*step[a]
			}
			fNew = objective(trial)
			if fNew <= f {
				break
			}
			scale /= 2
		}
		var moved float64
		for a := range p {
			moved = max(moved, math.Abs(trial[a]-beta[a]))
		}
		copy(beta, trial)
		f = fNew
		if moved < 1e-10 {
			return beta, iter, nil
		}
	}
	return nil, maxIter, fmt.Errorf("%w: Newton's method still moving after %d iterations", ErrNoConvergence, maxIter)
}

// cholSolve solves H·x = g for the symmetric positive definite H whose lower triangle is given
// (row-major p×p); H is overwritten by its Cholesky factor.
func cholSolve(h, g, x []float64, p int) error {
	for i := range p {
		for j := 0; j <= i; j++ {
			s := h[i*p+j]
			for k := range j {
				s -= h[i*p+k] * h[j*p+k]
			}
			if i == j {
				if !(s > 0) {
					return fmt.Errorf("%w: Hessian not positive definite", ErrNoConvergence)
				}
				h[i*p+i] = math.Sqrt(s)
			} else {
				h[i*p+j] = s / h[j*p+j]
			}
		}
	}
	for i := range p { // L·y = g
		s := g[i]
		for k := range i {
			s -= h[i*p+k] * x[k]
		}
		x[i] = s / h[i*p+i]
	}
	for i := p - 1; i >= 0; i-- { // Lᵀ·x = y
		s := x[i]
		for k := i + 1; k < p; k++ {
			s -= h[k*p+i] * x[k]
		}
		x[i] = s / h[i*p+i]
	}
	return nil
}

func dot(a, b []float64) float64 {
	var s float64
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// sigmoid is 1/(1+e^-x), without overflow.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// softplus is ln(1+e^x), without overflow.
func softplus(x float64) float64 {
	if x > 0 {
		return x + math.Log1p(math.Exp(-x))
	}
	return math.Log1p(math.Exp(x))
}

// z standardises column j's transformed value: 0 for a column that did not vary or a value that
// is not a number, else clipped to ±Clip.
func (m Model) z(j int, t float64) float64 {
	if m.Scale[j] == 0 || math.IsNaN(t) {
		return 0
	}
	v := (t - m.Mean[j]) / m.Scale[j]
	if v > m.Clip {
		return m.Clip
	}
	if v < -m.Clip {
		return -m.Clip
	}
	if math.IsNaN(v) {
		return 0
	}
	return v
}

// Score is how much the profile with feature values row (in the order of m.Columns) resembles
// the seed, in [0, 1]; higher is more alike. A value that is NaN or missing (row shorter than
// the columns) counts as unknown and moves the score neither way; values beyond the columns are
// ignored. ±Inf counts as the far end of the column (its clip). Logistic: the class-balanced
// probability of seed membership (0.5 = as like the seed as the rest); Centroid: (1 + cosine)/2.
func (m Model) Score(row []float64) float64 {
	d := len(m.Columns)
	switch m.Method {
	case Centroid:
		var num, zz, cc float64
		for j := range d {
			c := m.Centroid[j]
			cc += c * c
			if j >= len(row) {
				continue
			}
			v := m.z(j, m.Columns[j].Transform.apply(row[j]))
			num += v * c
			zz += v * v
		}
		if zz == 0 || cc == 0 {
			return 0.5
		}
		cos := num / math.Sqrt(zz*cc)
		return min(1, max(0, (1+cos)/2))
	default:
		eta := m.Intercept
		for j := range min(d, len(row)) {
			eta += m.Weights[j] * m.z(j, m.Columns[j].Transform.apply(row[j]))
		}
		return sigmoid(eta)
	}
}

// Row builds a row in the model's column order from values by column name; a column without a
// value is NaN (unknown, see Score).
func (m Model) Row(values map[string]float64) []float64 {
	row := make([]float64, len(m.Columns))
	for j, c := range m.Columns {
		v, ok := values[c.Name]
		if !ok {
			v = math.NaN()
		}
		row[j] = v
	}
	return row
}

// Encode is the model's JSON form.
func (m Model) Encode() ([]byte, error) { return json.Marshal(m) }

// Decode reads a model from its JSON form and checks it: the format version, the method, that
// every per-column list has one finite value per column.
func Decode(b []byte) (Model, error) {
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return Model{}, fmt.Errorf("%w: model: %v", ErrInvalid, err)
	}
	if err := m.Validate(); err != nil {
		return Model{}, err
	}
	return m, nil
}

// Validate checks that m is a model Score can use.
func (m Model) Validate() error {
	if m.Version != FormatVersion {
		return fmt.Errorf("%w: model format version %d (this code reads %d)", ErrInvalid, m.Version, FormatVersion)
	}
	d := len(m.Columns)
	if d == 0 {
		return fmt.Errorf("%w: model has no columns", ErrInvalid)
	}
	if err := (Features{Columns: m.Columns}).validate(); err != nil {
		return err
	}
	finite := func(name string, xs []float64) error {
		if len(xs) != d {
			return fmt.Errorf("%w: model %s has %d values for %d columns", ErrInvalid, name, len(xs), d)
		}
		for _, x := range xs {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("%w: model %s has %v", ErrInvalid, name, x)
			}
		}
		return nil
	}
	if err := cmp.Or(finite("mean", m.Mean), finite("scale", m.Scale)); err != nil {
		return err
	}
	for _, s := range m.Scale {
		if s < 0 {
			return fmt.Errorf("%w: model scale %v", ErrInvalid, s)
		}
	}
	if !(m.Clip > 0) || math.IsInf(m.Clip, 0) {
		return fmt.Errorf("%w: model clip %v", ErrInvalid, m.Clip)
	}
	switch m.Method {
	case Logistic:
		if math.IsNaN(m.Intercept) || math.IsInf(m.Intercept, 0) {
			return fmt.Errorf("%w: model intercept %v", ErrInvalid, m.Intercept)
		}
		return finite("weights", m.Weights)
	case Centroid:
		return finite("centroid", m.Centroid)
	}
	return fmt.Errorf("%w: model method %q", ErrInvalid, m.Method)
}
