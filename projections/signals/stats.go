package signals

import (
	"fmt"
	"math"
	"slices"
)

// Integer statistics. Every figure of a signal is an integer so that the same log gives the
// same alerts on every machine (no floating-point contraction differences between
// architectures); divisions round half away from zero, once, at the end.

// invariant panics when something the code relies on is broken (style §8).
func invariant(ok bool, format string, args ...any) {
	if !ok {
		panic("signals: invariant broken: " + fmt.Sprintf(format, args...))
	}
}

// divRound returns a / b rounded half away from zero; b > 0.
func divRound(a, b int64) int64 {
	invariant(b > 0, "divRound by %d", b)
	if a >= 0 {
		return (a + b/2) / b
	}
	return -((-a + b/2) / b)
}

// isqrt returns ⌊√n⌋ exactly. The float estimate is corrected with integer steps, so the
// result does not depend on the platform's floating point.
func isqrt(n int64) int64 {
	invariant(n >= 0, "isqrt of %d", n)
	r := int64(math.Sqrt(float64(n)))
	for r > 0 && r*r > n {
		r--
	}
	for (r+1)*(r+1) <= n {
		r++
	}
	return r
}

// meanSigmaOf returns the mean and the sample standard deviation (n − 1) of n values with
// sum Σx and sum of squares Σx², rounded. With one value σ is 0.
func meanSigmaOf(n, sum, sum2 int64) (mean, sigma int64) {
	invariant(n > 0, "meanSigma of nothing")
	mean = divRound(sum, n)
	if n == 1 {
		return mean, 0
	}
	// (n Σx² − (Σx)²) / (n (n − 1)), which is ≥ 0 exactly in integers.
	num := n*sum2 - sum*sum
	invariant(num >= 0, "negative variance numerator %d", num)
	return mean, isqrt(divRound(num, n*(n-1)))
}

// median returns the median of xs (the mean of the two middle values, rounded, for an even
// count); xs is not modified.
func median(xs []int64) int64 {
	invariant(len(xs) > 0, "median of nothing")
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return divRound(s[n/2-1]+s[n/2], 2)
}

// ratioBP returns a / b in basis points, rounded; 0 when b ≤ 0.
func ratioBP(a, b int64) int64 {
	if b <= 0 {
		return 0
	}
	return divRound(a*10_000, b)
}

// linearScore maps v onto 100 points at or below good and 0 at or beyond bad (bad > good),
// linearly in between, in centipoints (0..10 000).
func linearScore(v, good, bad int64) int64 {
	switch {
	case v <= good:
		return 10_000
	case v >= bad:
		return 0
	}
	return divRound((bad-v)*10_000, bad-good)
}
