package domain

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Currency is an ISO 4217 alphabetic code. Only codes in the table below are accepted, so that
// the number of minor units is always known.
type Currency string

// minorUnits is the ISO 4217 exponent of the currencies Encours accepts.
var minorUnits = map[Currency]int{
	"EUR": 2, "USD": 2, "GBP": 2, "CHF": 2, "SEK": 2, "NOK": 2, "DKK": 2, "PLN": 2, "CZK": 2,
	"HUF": 2, "RON": 2, "BGN": 2, "CAD": 2, "AUD": 2, "NZD": 2, "CNY": 2, "HKD": 2, "SGD": 2,
	"INR": 2, "BRL": 2, "MXN": 2, "ZAR": 2, "TRY": 2, "MAD": 2, "TND": 3, "KWD": 3, "BHD": 3,
	"JPY": 0, "KRW": 0, "ISK": 0, "XOF": 0, "XAF": 0,
}

// ParseCurrency validates an ISO 4217 code (upper case, known to Encours).
func ParseCurrency(s string) (Currency, error) {
	c := Currency(s)
	if _, ok := minorUnits[c]; !ok {
		return "", FieldErrorf(KindInvalid, CodeUnknownCurrency, "currency", "unknown currency %q (want an ISO 4217 code such as EUR)", s)
	}
	return c, nil
}

// MinorUnits returns the number of decimals of c (2 for EUR, 0 for JPY).
func (c Currency) MinorUnits() int { return minorUnits[c] }

// Valid reports whether c is a currency Encours knows.
func (c Currency) Valid() bool { _, ok := minorUnits[c]; return ok }

// Money is an amount in integer minor units of one currency (1 250,00 EUR is {125000, "EUR"}).
// Never a float, anywhere. Arithmetic across currencies and overflow are errors.
type Money struct {
	Minor int64    `json:"amount"`
	Ccy   Currency `json:"currency"`
}

// NewMoney returns minor units of ccy, refusing unknown currencies.
func NewMoney(minor int64, ccy Currency) (Money, error) {
	if !ccy.Valid() {
		return Money{}, FieldErrorf(KindInvalid, CodeUnknownCurrency, "currency", "unknown currency %q", ccy)
	}
	return Money{Minor: minor, Ccy: ccy}, nil
}

// Zero returns zero in ccy.
func Zero(ccy Currency) Money { return Money{Ccy: ccy} }

// IsZero reports whether m is zero (of any currency).
func (m Money) IsZero() bool { return m.Minor == 0 }

// IsPositive reports whether m is strictly positive.
func (m Money) IsPositive() bool { return m.Minor > 0 }

// Add returns m + o. Different currencies and int64 overflow are errors, never silent.
func (m Money) Add(o Money) (Money, error) {
	if m.Ccy != o.Ccy {
		return Money{}, Errorf(KindInvalid, CodeCurrencyMismatch, "cannot add %s to %s", o.Ccy, m.Ccy)
	}
	s, ok := addInt64(m.Minor, o.Minor)
	if !ok {
		return Money{}, Errorf(KindInvalid, CodeAmountOverflow, "%d + %d overflows", m.Minor, o.Minor)
	}
	return Money{Minor: s, Ccy: m.Ccy}, nil
}

// Sub returns m - o with the same checks as Add.
func (m Money) Sub(o Money) (Money, error) {
	if m.Ccy != o.Ccy {
		return Money{}, Errorf(KindInvalid, CodeCurrencyMismatch, "cannot subtract %s from %s", o.Ccy, m.Ccy)
	}
	d, ok := subInt64(m.Minor, o.Minor)
	if !ok {
		return Money{}, Errorf(KindInvalid, CodeAmountOverflow, "%d - %d overflows", m.Minor, o.Minor)
	}
	return Money{Minor: d, Ccy: m.Ccy}, nil
}

// Neg returns -m; it fails only for the most negative int64.
func (m Money) Neg() (Money, error) {
	if m.Minor == math.MinInt64 {
		return Money{}, Errorf(KindInvalid, CodeAmountOverflow, "cannot negate %d", m.Minor)
	}
	return Money{Minor: -m.Minor, Ccy: m.Ccy}, nil
}

// Cmp compares two amounts of the same currency (-1, 0, +1); it panics on a currency mismatch,
// which is a programmer error at every call site (callers check currencies in Decide).
func (m Money) Cmp(o Money) int {
	assert(m.Ccy == o.Ccy, "Money.Cmp across currencies %s and %s", m.Ccy, o.Ccy)
	switch {
	case m.Minor < o.Minor:
		return -1
	case m.Minor > o.Minor:
		return 1
	}
	return 0
}

// Min returns the smaller of two amounts of the same currency.
func (m Money) Min(o Money) Money {
	if m.Cmp(o) <= 0 {
		return m
	}
	return o
}

// Rounding says how MulRatio rounds a result that falls between two minor units.
type Rounding uint8

const (
	RoundHalfUp   Rounding = iota + 1 // half away from zero (commercial rounding)
	RoundDown                         // toward zero
	RoundHalfEven                     // banker's rounding
)

// MulRatio returns m × num / den with one visible rounding. The product is computed in 128
// bits, so no intermediate overflow; a result outside int64 is an error.
func (m Money) MulRatio(num, den int64, mode Rounding) (Money, error) {
	q, err := MulDiv(m.Minor, num, den, mode)
	if err != nil {
		return Money{}, err
	}
	return Money{Minor: q, Ccy: m.Ccy}, nil
}

// MulDiv returns a × b / c rounded with mode, computed exactly in 128 bits.
func MulDiv(a, b, c int64, mode Rounding) (int64, error) {
	if c == 0 {
		return 0, Errorf(KindInvalid, CodeInvalidField, "division by zero")
	}
	neg := (a < 0) != (b < 0)
	if c < 0 {
		neg = !neg
	}
	ua, ub, uc := absU64(a), absU64(b), absU64(c)
	hi, lo := bits.Mul64(ua, ub)
	if hi >= uc {
		return 0, Errorf(KindInvalid, CodeAmountOverflow, "%d × %d / %d overflows", a, b, c)
	}
	q, r := bits.Div64(hi, lo, uc)
	// Round on the remainder: compare 2r with c without overflowing.
	half := r >= uc-r // 2r >= c
	exactHalf := r == uc-r
	up := false
	switch mode {
	case RoundHalfUp:
		up = half
	case RoundHalfEven:
		up = half && (!exactHalf || q%2 == 1)
	case RoundDown:
	default:
		panic(fmt.Sprintf("domain: unknown rounding mode %d", mode))
	}
	if up {
		// q can be 2^64-1 here (hi < uc only bounds the truncated quotient): a carry out of
		// the increment is an overflow, never a silent wrap to zero.
		var carry uint64
		if q, carry = bits.Add64(q, 1, 0); carry != 0 {
			return 0, Errorf(KindInvalid, CodeAmountOverflow, "%d × %d / %d overflows", a, b, c)
		}
	}
	if neg {
		if q > 1<<63 {
			return 0, Errorf(KindInvalid, CodeAmountOverflow, "%d × %d / %d overflows", a, b, c)
		}
		return -int64(q), nil //nolint:gosec // bounded above
	}
	if q > math.MaxInt64 {
		return 0, Errorf(KindInvalid, CodeAmountOverflow, "%d × %d / %d overflows", a, b, c)
	}
	return int64(q), nil
}

func absU64(v int64) uint64 {
	if v < 0 {
		return uint64(-(v + 1)) + 1
	}
	return uint64(v)
}

// subInt64 returns a - b and whether it fits in int64 (b may be math.MinInt64).
func subInt64(a, b int64) (int64, bool) {
	d := a - b
	if (b < 0 && d < a) || (b > 0 && d > a) {
		return 0, false
	}
	return d, true
}

func addInt64(a, b int64) (int64, bool) {
	s := a + b
	if (a > 0 && b > 0 && s < 0) || (a < 0 && b < 0 && s >= 0) {
		return 0, false
	}
	return s, true
}

// String formats m with its decimals and code: "1250.00 EUR", "-3.5 is never produced".
func (m Money) String() string {
	return FormatMinor(m.Minor, m.Ccy.MinorUnits()) + " " + string(m.Ccy)
}

// FormatMinor writes minor units as a decimal string with exactly decimals digits after the
// point ("125000", 2 -> "1250.00").
func FormatMinor(minor int64, decimals int) string {
	neg := minor < 0
	u := absU64(minor)
	s := strconv.FormatUint(u, 10)
	if decimals > 0 {
		if len(s) <= decimals {
			s = strings.Repeat("0", decimals-len(s)+1) + s
		}
		s = s[:len(s)-decimals] + "." + s[len(s)-decimals:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// ParseDecimal reads a decimal amount ("1250.5", "-3", "0.07") into minor units with exactly
// decimals digits, refusing more precision than the currency has, exponents, spaces, and
// anything outside int64. It is how CSV imports turn "55.94" into 5594 without a float.
func ParseDecimal(s string, decimals int) (int64, error) {
	if s == "" {
		return 0, Errorf(KindInvalid, CodeInvalidField, "empty amount")
	}
	neg := false
	switch s[0] {
	case '-':
		neg, s = true, s[1:]
	case '+':
		s = s[1:]
	}
	intPart, frac, hasPoint := strings.Cut(s, ".")
	if intPart == "" && (!hasPoint || frac == "") {
		return 0, Errorf(KindInvalid, CodeInvalidField, "amount %q has no digits", s)
	}
	if len(frac) > decimals {
		return 0, Errorf(KindInvalid, CodeInvalidField, "amount %q has more than %d decimals", s, decimals)
	}
	var u uint64
	for _, part := range []string{intPart, frac + strings.Repeat("0", decimals-len(frac))} {
		for i := 0; i < len(part); i++ {
			c := part[i]
			if c < '0' || c > '9' {
				return 0, Errorf(KindInvalid, CodeInvalidField, "amount %q is not a decimal number", s)
			}
			hi, lo := bits.Mul64(u, 10)
			if hi != 0 {
				return 0, Errorf(KindInvalid, CodeAmountOverflow, "amount %q overflows", s)
			}
			var carry uint64
			u, carry = bits.Add64(lo, uint64(c-'0'), 0)
			if carry != 0 || u > math.MaxInt64 {
				return 0, Errorf(KindInvalid, CodeAmountOverflow, "amount %q overflows", s)
			}
		}
	}
	if neg {
		return -int64(u), nil
	}
	return int64(u), nil
}

// UnmarshalJSON refuses floats and strings for the amount: "amount" must be a JSON integer.
func (m *Money) UnmarshalJSON(b []byte) error {
	var raw struct {
		Amount   json.RawMessage `json:"amount"`
		Currency string          `json:"currency"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return FieldErrorf(KindInvalid, CodeInvalidField, "amount", "money must be {\"amount\": integer, \"currency\": code}")
	}
	// json.Number alone would also take "5" (a JSON string holding a number): read the raw
	// token so that only a bare JSON number gets through.
	if string(raw.Amount) == "null" {
		raw.Amount = nil // same as absent: missing_field below
	}
	if len(raw.Amount) > 0 && raw.Amount[0] == '"' {
		return FieldErrorf(KindInvalid, CodeInvalidField, "amount", "amount must be a JSON integer, not %s", raw.Amount)
	}
	v, err := parseIntegerAmount(json.Number(raw.Amount))
	if err != nil {
		return err
	}
	m.Minor, m.Ccy = v, Currency(raw.Currency)
	return nil
}

func parseIntegerAmount(n json.Number) (int64, error) {
	s := string(n)
	if s == "" {
		return 0, FieldErrorf(KindInvalid, CodeMissingField, "amount", "amount is required")
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, FieldErrorf(KindInvalid, CodeAmountOverflow, "amount", "amount %s does not fit in 64 bits", s)
		}
		return 0, FieldErrorf(KindInvalid, CodeInvalidField, "amount", "amount %s must be an integer number of minor units", s)
	}
	return v, nil
}
