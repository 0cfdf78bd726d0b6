package ledger

import (
	"math/big"
	"math/bits"

	"github.com/encours/encours/domain"
)

// wide is a signed 128-bit accumulator (two's complement) for sums of amount × days and
// amount × rate × days, which overflow int64 on a large portfolio. Only the final division
// goes through math/big.
type wide struct {
	hi int64
	lo uint64
}

func absU64(v int64) uint64 {
	if v < 0 {
		return uint64(-(v + 1)) + 1
	}
	return uint64(v)
}

// addMul adds a × b.
func (w *wide) addMul(a, b int64) {
	hi, lo := bits.Mul64(absU64(a), absU64(b))
	if (a < 0) != (b < 0) && (hi|lo) != 0 {
		lo = ^lo + 1
		hi = ^hi
		if lo == 0 {
			hi++
		}
	}
	var c uint64
	w.lo, c = bits.Add64(w.lo, lo, 0)
	w.hi = int64(uint64(w.hi) + hi + c)
}

// addMul3 adds a × b × c; the caller keeps |b × c| within int64 (a rate times a day count).
func (w *wide) addMul3(a, b, c int64) { w.addMul(a, b*c) }

func (w *wide) add(o wide) {
	var c uint64
	w.lo, c = bits.Add64(w.lo, o.lo, 0)
	w.hi = w.hi + o.hi + int64(c)
}

func (w wide) big() *big.Int {
	v := new(big.Int).SetInt64(w.hi)
	v.Lsh(v, 64)
	return v.Add(v, new(big.Int).SetUint64(w.lo))
}

func wideOf(b *big.Int) wide {
	mask := new(big.Int).SetUint64(^uint64(0))
	lo := new(big.Int).And(b, mask) // two's complement low word for negatives too
	hi := new(big.Int).Rsh(b, 64)
	return wide{hi: hi.Int64(), lo: lo.Uint64()}
}

// divRound returns num × scale / den rounded half away from zero (domain.RoundHalfUp), and
// ok false when den is zero or the result does not fit in int64.
func divRound(num *big.Int, scale, den int64) (int64, bool) {
	if den == 0 {
		return 0, false
	}
	n := new(big.Int).Mul(num, big.NewInt(scale))
	d := big.NewInt(den)
	neg := (n.Sign() < 0) != (d.Sign() < 0)
	n.Abs(n)
	d.Abs(d)
	q, r := new(big.Int).QuoRem(n, d, new(big.Int))
	if r.Lsh(r, 1).Cmp(d) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if neg {
		q.Neg(q)
	}
	if !q.IsInt64() {
		return 0, false
	}
	return q.Int64(), true
}

// ratio returns a × scale / b, half-up, for int64 operands; ok false when b is zero.
func ratio(a, scale, b int64) (int64, bool) {
	if b == 0 {
		return 0, false
	}
	v, err := domain.MulDiv(a, scale, b, domain.RoundHalfUp)
	if err != nil {
		return divRound(big.NewInt(a), scale, b)
	}
	return v, true
}

func ptr[T any](v T) *T { return &v }
