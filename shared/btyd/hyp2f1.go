package btyd

import "math"

// maxSeriesTerms bounds the Gauss series. The models only call it with 0 <= z < 1, where the
// terms eventually shrink like z^k; z close to 1 needs many terms, and past this bound the value
// is reported as not found rather than returned inaccurate.
const maxSeriesTerms = 200_000

// hyp2f1 is the Gauss hypergeometric function 2F1(a, b; c; z) for 0 <= z < 1, summed as its
// power series. ok is false when the series did not settle within maxSeriesTerms.
func hyp2f1(a, b, c, z float64) (v float64, ok bool) {
	sum, term := 1.0, 1.0
	for k := 0.0; k < maxSeriesTerms; k++ {
		ratio := (a + k) * (b + k) / ((c + k) * (k + 1)) * z
		term *= ratio
		sum += term
		// Stop once the terms are negligible and shrinking, so that the tail is too.
		if math.Abs(term) <= 1e-16*math.Abs(sum) && math.Abs(ratio) < 1 {
			return sum, true
		}
	}
	return sum, false
}

// hyp2f1Tail is G in 2F1(a, b; c; z) = 1 + a·G: the series without its first term, divided by
// a. It stays accurate as a approaches 0, where 2F1 itself tends to 1 and 2F1 - 1 would lose
// every digit to cancellation.
func hyp2f1Tail(a, b, c, z float64) (v float64, ok bool) {
	term := b / c * z // the k = 1 term divided by a
	sum := term
	for k := 1.0; k < maxSeriesTerms; k++ {
		ratio := (a + k) * (b + k) / ((c + k) * (k + 1)) * z
		term *= ratio
		sum += term
		if math.Abs(term) <= 1e-16*math.Abs(sum) && math.Abs(ratio) < 1 {
			return sum, true
		}
	}
	return sum, false
}
