package btyd

import (
	"math"
	"slices"
)

// The likelihoods are smooth in the log of their parameters, which also keeps every parameter
// positive, so the search runs there. Nelder-Mead needs no gradients (the Pareto/NBD's would
// mean differentiating 2F1 in its parameters); restarting it from its own answer until that no
// longer improves is the usual remedy for its occasional stalls.

const (
	maxIterations = 20_000
	maxRestarts   = 8
	// logBound keeps parameters in exp(±logBound): a search that runs there has found no
	// interior maximum (the data say a rate is zero or infinite).
	logBound = 25.0
)

// maximise finds the largest value of f (a log-likelihood of log-parameters) from several
// starting points. It returns the best point and value, and whether the search settled.
func maximise(f func([]float64) float64, starts [][]float64) (best []float64, value float64, converged bool) {
	cost := func(p []float64) float64 {
		for _, v := range p {
			if math.Abs(v) > logBound {
				return math.Inf(1)
			}
		}
		v := -f(p)
		if math.IsNaN(v) {
			return math.Inf(1)
		}
		return v
	}
	var fBest float64
	for _, s := range starts {
		if math.IsInf(cost(s), 1) {
			continue
		}
		if p, fp, ok := nelderMead(cost, s, 0.5); best == nil || fp < fBest {
			best, fBest, converged = p, fp, ok
		}
	}
	if best == nil {
		return nil, math.Inf(-1), false
	}
	for r := 0; r < maxRestarts; r++ {
		p, fp, ok := nelderMead(cost, best, 0.05)
		improved := fBest-fp > 1e-10*(1+math.Abs(fBest))
		if fp < fBest {
			best, fBest = p, fp
		}
		converged = ok
		if !improved {
			break
		}
	}
	for _, v := range best {
		if math.Abs(v) > logBound-1 {
			converged = false
		}
	}
	return best, -fBest, converged
}

// nelderMead minimises f from x0 with an initial simplex of the given step along each axis.
func nelderMead(f func([]float64) float64, x0 []float64, step float64) ([]float64, float64, bool) {
	n := len(x0)
	simplex := make([]vertex, n+1)
	for i := range simplex {
		x := slices.Clone(x0)
		if i > 0 {
			x[i-1] += step
		}
		simplex[i] = vertex{x, f(x)}
	}
	centroid, trial, trial2 := make([]float64, n), make([]float64, n), make([]float64, n)
	along := func(dst []float64, t float64) { // dst = centroid + t·(centroid - worst)
		w := simplex[n].x
		for j := range dst {
			dst[j] = centroid[j] + t*(centroid[j]-w[j])
		}
	}
	for it := 0; it < maxIterations; it++ {
		slices.SortFunc(simplex, func(a, b vertex) int { return cmpCost(a.f, b.f) })
		best, worst := simplex[0], simplex[n]
		if settled(best.f, worst.f, best.x, simplex[1:]) {
			return best.x, best.f, true
		}
		for j := range centroid {
			centroid[j] = 0
			for _, v := range simplex[:n] {
				centroid[j] += v.x[j]
			}
			centroid[j] /= float64(n)
		}
		along(trial, 1) // reflect
		fr := f(trial)
		switch {
		case fr < best.f:
			along(trial2, 2) // expand
			if fe := f(trial2); fe < fr {
				copy(simplex[n].x, trial2)
				simplex[n].f = fe
			} else {
				copy(simplex[n].x, trial)
				simplex[n].f = fr
			}
		case fr < simplex[n-1].f:
			copy(simplex[n].x, trial)
			simplex[n].f = fr
		default:
			t := -0.5 // contract inside
			if fr < worst.f {
				t = 0.5 // contract outside
			}
			along(trial2, t)
			if fc := f(trial2); fc < math.Min(fr, worst.f) {
				copy(simplex[n].x, trial2)
				simplex[n].f = fc
				continue
			}
			for _, v := range simplex[1:] { // shrink towards the best
				for j := range v.x {
					v.x[j] = best.x[j] + 0.5*(v.x[j]-best.x[j])
				}
			}
			for i := 1; i <= n; i++ {
				simplex[i].f = f(simplex[i].x)
			}
		}
	}
	slices.SortFunc(simplex, func(a, b vertex) int { return cmpCost(a.f, b.f) })
	return simplex[0].x, simplex[0].f, false
}

type vertex struct {
	x []float64
	f float64
}

// settled: the simplex's values agree to within rounding, or its vertices to 1e-10.
func settled(fBest, fWorst float64, best []float64, others []vertex) bool {
	if math.IsInf(fWorst, 1) {
		return false
	}
	if fWorst-fBest <= 1e-13*(1+math.Abs(fBest)) {
		return true
	}
	for _, v := range others {
		for j, xj := range v.x {
			if math.Abs(xj-best[j]) > 1e-10 {
				return false
			}
		}
	}
	return true
}

func cmpCost(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
