package attribution

import (
	"fmt"
	"math"
)

// lu is the LU factorisation with partial pivoting of a dense n×n matrix (row-major): P·A = L·U,
// L unit lower triangular and U upper triangular, both stored in a.
type lu struct {
	n   int
	a   []float64
	piv []int // row i of P·A is row piv[i] of A
}

// factorLU factors a (which it overwrites). The pivot is the first largest entry of the column,
// so the factorisation, and every solve with it, is the same on every run.
func factorLU(a []float64, n int) (lu, error) {
	piv := make([]int, n)
	for i := range piv {
		piv[i] = i
	}
	for k := range n {
		p, big := k, math.Abs(a[k*n+k])
		for i := k + 1; i < n; i++ {
			if v := math.Abs(a[i*n+k]); v > big {
				p, big = i, v
			}
		}
		if big == 0 {
			return lu{}, fmt.Errorf("singular matrix at column %d: %w", k, ErrInvalid)
		}
		if p != k {
			for j := range n {
				a[k*n+j], a[p*n+j] = a[p*n+j], a[k*n+j]
			}
			piv[k], piv[p] = piv[p], piv[k]
		}
		pivot := a[k*n+k]
		for i := k + 1; i < n; i++ {
			l := a[i*n+k] / pivot
			a[i*n+k] = l
			if l == 0 {
				continue
			}
			for j := k + 1; j < n; j++ {
				a[i*n+j] -= float64(l * a[k*n+j])
			}
		}
	}
	return lu{n: n, a: a, piv: piv}, nil
}

// solve returns x with A·x = b.
func (f lu) solve(b []float64) []float64 {
	n, a := f.n, f.a
	x := make([]float64, n)
	for i := range n {
		x[i] = b[f.piv[i]]
	}
	for i := range n {
		s := x[i]
		for j := range i {
			s -= float64(a[i*n+j] * x[j])
		}
		x[i] = s
	}
	for i := n - 1; i >= 0; i-- {
		s := x[i]
		for j := i + 1; j < n; j++ {
			s -= float64(a[i*n+j] * x[j])
		}
		x[i] = s / a[i*n+i]
	}
	return x
}

// solveTransposed returns y with Aᵀ·y = b: Uᵀ z = b, Lᵀ w = z, y = Pᵀ w.
func (f lu) solveTransposed(b []float64) []float64 {
	n, a := f.n, f.a
	z := make([]float64, n)
	copy(z, b)
	for i := range n {
		s := z[i]
		for j := range i {
			s -= float64(a[j*n+i] * z[j])
		}
		z[i] = s / a[i*n+i]
	}
	for i := n - 1; i >= 0; i-- {
		s := z[i]
		for j := i + 1; j < n; j++ {
			s -= float64(a[j*n+i] * z[j])
		}
		z[i] = s
	}
	y := make([]float64, n)
	for i := range n {
		y[f.piv[i]] = z[i]
	}
	return y
}
