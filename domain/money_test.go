package domain_test

import (
	"encoding/json"
	"math"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

func TestMoneyAddSub(t *testing.T) {
	usd := func(m int64) domain.Money { return domain.Money{Minor: m, Ccy: "USD"} }
	cases := []struct {
		name    string
		a, b    domain.Money
		add     domain.Money
		addCode string
		sub     domain.Money
		subCode string
	}{
		{name: "plain", a: eur(125_000), b: eur(5_594), add: eur(130_594), sub: eur(119_406)},
		{name: "negatives", a: eur(-10), b: eur(-20), add: eur(-30), sub: eur(10)},
		{name: "zero", a: eur(0), b: eur(0), add: eur(0), sub: eur(0)},
		{name: "add overflows at max", a: eur(math.MaxInt64), b: eur(1), addCode: domain.CodeAmountOverflow, sub: eur(math.MaxInt64 - 1)},
		{name: "add overflows at min", a: eur(math.MinInt64), b: eur(-1), addCode: domain.CodeAmountOverflow, sub: eur(math.MinInt64 + 1)},
		{name: "sub overflows at max", a: eur(math.MaxInt64), b: eur(-1), addCode: "", add: eur(math.MaxInt64 - 1), subCode: domain.CodeAmountOverflow},
		{name: "sub overflows at min", a: eur(math.MinInt64), b: eur(1), add: eur(math.MinInt64 + 1), subCode: domain.CodeAmountOverflow},
		{name: "sub of min int64 that fits", a: eur(-1), b: eur(math.MinInt64), add: domain.Money{}, addCode: domain.CodeAmountOverflow, sub: eur(math.MaxInt64)},
		{name: "max plus min", a: eur(math.MaxInt64), b: eur(math.MinInt64), add: eur(-1), subCode: domain.CodeAmountOverflow},
		{name: "currency mismatch", a: eur(1), b: usd(1), addCode: domain.CodeCurrencyMismatch, subCode: domain.CodeCurrencyMismatch},
		{name: "currency mismatch wins over overflow", a: eur(math.MaxInt64), b: usd(math.MinInt64), addCode: domain.CodeCurrencyMismatch, subCode: domain.CodeCurrencyMismatch},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.a.Add(tc.b)
			if tc.addCode != "" {
				assert.Equalf(t, tc.addCode, domain.ErrorCode(err), "%v + %v: got %v, %v", tc.a, tc.b, got, err)
			} else if assert.NoErrorf(t, err, "%v + %v", tc.a, tc.b) {
				assert.Equalf(t, tc.add, got, "%v + %v", tc.a, tc.b)
			}
			got, err = tc.a.Sub(tc.b)
			if tc.subCode != "" {
				assert.Equalf(t, tc.subCode, domain.ErrorCode(err), "%v - %v: got %v, %v", tc.a, tc.b, got, err)
			} else if assert.NoErrorf(t, err, "%v - %v", tc.a, tc.b) {
				assert.Equalf(t, tc.sub, got, "%v - %v", tc.a, tc.b)
			}
		})
	}
}

func TestMoneyNegCmpMin(t *testing.T) {
	n, err := eur(5).Neg()
	require.NoError(t, err)
	assert.Equal(t, eur(-5), n)
	_, err = eur(math.MinInt64).Neg()
	assert.Equal(t, domain.CodeAmountOverflow, domain.ErrorCode(err))
	assert.Equal(t, -1, eur(1).Cmp(eur(2)))
	assert.Equal(t, 0, eur(2).Cmp(eur(2)))
	assert.Equal(t, 1, eur(3).Cmp(eur(2)))
	assert.Equal(t, eur(2), eur(3).Min(eur(2)))
	assert.Panics(t, func() { eur(1).Cmp(domain.Money{Minor: 1, Ccy: "USD"}) }, "Cmp across currencies is a programmer error")
}

func TestNewMoneyAndCurrency(t *testing.T) {
	m, err := domain.NewMoney(125_000, "EUR")
	require.NoError(t, err)
	assert.Equal(t, "1250.00 EUR", m.String())
	_, err = domain.NewMoney(1, "eur")
	assert.Equal(t, domain.CodeUnknownCurrency, domain.ErrorCode(err))
	_, err = domain.ParseCurrency("XXX")
	assert.Equal(t, domain.CodeUnknownCurrency, domain.ErrorCode(err))
	assert.Equal(t, 0, domain.Currency("JPY").MinorUnits())
	assert.Equal(t, 3, domain.Currency("KWD").MinorUnits())
	assert.Equal(t, "1250 JPY", domain.Money{Minor: 1250, Ccy: "JPY"}.String())
}

// TestMulDiv checks each rounding mode on both signs, exact halves (where the modes
// disagree) and results at the edges of int64.
func TestMulDiv(t *testing.T) {
	cases := []struct {
		a, b, c                int64
		halfUp, down, halfEven int64
	}{
		{a: 10, b: 1, c: 4, halfUp: 3, down: 2, halfEven: 2},     // 2.5
		{a: 14, b: 1, c: 4, halfUp: 4, down: 3, halfEven: 4},     // 3.5
		{a: -10, b: 1, c: 4, halfUp: -3, down: -2, halfEven: -2}, // -2.5
		{a: -14, b: 1, c: 4, halfUp: -4, down: -3, halfEven: -4}, // -3.5
		{a: 10, b: -1, c: 4, halfUp: -3, down: -2, halfEven: -2}, // sign on b
		{a: 10, b: 1, c: -4, halfUp: -3, down: -2, halfEven: -2}, // sign on c
		{a: -10, b: -1, c: -4, halfUp: -3, down: -2, halfEven: -2},
		{a: -10, b: -1, c: 4, halfUp: 3, down: 2, halfEven: 2},
		{a: 7, b: 1, c: 3, halfUp: 2, down: 2, halfEven: 2},     // 2.33
		{a: 8, b: 1, c: 3, halfUp: 3, down: 2, halfEven: 3},     // 2.67
		{a: -8, b: 1, c: 3, halfUp: -3, down: -2, halfEven: -3}, // -2.67
		{a: 0, b: 5, c: -3, halfUp: 0, down: 0, halfEven: 0},
		{a: 12, b: 3, c: 4, halfUp: 9, down: 9, halfEven: 9}, // exact
		// 100 000,00 EUR at 12,15 % for 45 days, actual/365, in basis points: 1 497,95 (1497.945...)
		{a: 10_000_000, b: 1215 * 45, c: 10_000 * 365, halfUp: 149_795, down: 149_794, halfEven: 149_795},
		// 128-bit intermediate: MaxInt64 × MaxInt64 / MaxInt64
		{a: math.MaxInt64, b: math.MaxInt64, c: math.MaxInt64, halfUp: math.MaxInt64, down: math.MaxInt64, halfEven: math.MaxInt64},
		{a: math.MinInt64, b: 1, c: 1, halfUp: math.MinInt64, down: math.MinInt64, halfEven: math.MinInt64},
		{a: math.MinInt64, b: 1, c: 2, halfUp: math.MinInt64 / 2, down: math.MinInt64 / 2, halfEven: math.MinInt64 / 2},
		{a: math.MaxInt64, b: 1, c: 2, halfUp: 1 << 62, down: 1<<62 - 1, halfEven: 1 << 62}, // 2^62 - 0.5
	}
	modes := []struct {
		name string
		mode domain.Rounding
		want func(i int) int64
	}{
		{"half-up", domain.RoundHalfUp, func(i int) int64 { return cases[i].halfUp }},
		{"down", domain.RoundDown, func(i int) int64 { return cases[i].down }},
		{"half-even", domain.RoundHalfEven, func(i int) int64 { return cases[i].halfEven }},
	}
	for i, tc := range cases {
		for _, m := range modes {
			got, err := domain.MulDiv(tc.a, tc.b, tc.c, m.mode)
			if assert.NoErrorf(t, err, "MulDiv(%d, %d, %d, %s)", tc.a, tc.b, tc.c, m.name) {
				assert.Equalf(t, m.want(i), got, "MulDiv(%d, %d, %d, %s)", tc.a, tc.b, tc.c, m.name)
			}
		}
	}
}

func TestMulDivErrors(t *testing.T) {
	cases := []struct {
		name    string
		a, b, c int64
		mode    domain.Rounding
		code    string
	}{
		{"division by zero", 1, 1, 0, domain.RoundHalfUp, domain.CodeInvalidField},
		{"quotient beyond 64 bits", math.MaxInt64, math.MaxInt64, 1, domain.RoundDown, domain.CodeAmountOverflow},
		{"positive beyond int64", math.MaxInt64, 2, 1, domain.RoundDown, domain.CodeAmountOverflow},
		{"negative beyond int64", math.MinInt64, 2, 1, domain.RoundDown, domain.CodeAmountOverflow},
		{"min int64 negated", math.MinInt64, -1, 1, domain.RoundDown, domain.CodeAmountOverflow},
		// 2^63 × (2^63 − 1) / (2^62 + 1): the truncated quotient is 2^64 − 3 (> MaxInt64)
		{"rounding past 64 bits", math.MinInt64, math.MaxInt64, 1<<62 + 1, domain.RoundHalfUp, domain.CodeAmountOverflow},
	}
	for _, tc := range cases {
		got, err := domain.MulDiv(tc.a, tc.b, tc.c, tc.mode)
		assert.Equalf(t, tc.code, domain.ErrorCode(err), "%s: MulDiv(%d, %d, %d) = %d, %v", tc.name, tc.a, tc.b, tc.c, got, err)
	}
	assert.Panics(t, func() { _, _ = domain.MulDiv(1, 1, 1, domain.Rounding(99)) })
}

// TestMulDivRoundingCarry is the case where the truncated quotient is 2^64 − 1 and rounding
// up would wrap it to zero: it must be an overflow, not 0. With P = a × b = h·2^64 + l and
// c = h + 1, the quotient is 2^64 − 1 with a remainder of at least c/2 exactly when
// l ≥ 2^64 − c/2; the loop searches a few products near MaxInt64² for one.
func TestMulDivRoundingCarry(t *testing.T) {
	found := 0
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 10_000 && found < 20; i++ {
		a, b := rng.Uint64N(1<<62)+1<<62, rng.Uint64N(1<<62)+1<<62
		hi, lo := bits.Mul64(a, b)
		c := hi + 1
		if lo < -(c / 2) { // -(c/2) is 2^64 − c/2 in uint64
			continue
		}
		found++
		got, err := domain.MulDiv(int64(a), int64(b), int64(c), domain.RoundHalfUp)
		assert.Equalf(t, domain.CodeAmountOverflow, domain.ErrorCode(err), "MulDiv(%d, %d, %d) = %d, %v", a, b, c, got, err)
	}
	require.Positive(t, found, "no operands found with a quotient of 2^64 − 1 rounding up")
	m, err := eur(1_000).MulRatio(1, 3, domain.RoundHalfUp)
	require.NoError(t, err)
	assert.Equal(t, eur(333), m)
}

// TestParseDecimal: decimal strings into minor units without floats (CSV imports).
func TestParseDecimal(t *testing.T) {
	cases := []struct {
		in       string
		decimals int
		want     int64
		code     string
	}{
		{"55.94", 2, 5594, ""},
		{"1250", 2, 125_000, ""},
		{"1250.5", 2, 125_050, ""},
		{"0.07", 2, 7, ""},
		{".07", 2, 7, ""},
		{"7.", 2, 700, ""},
		{"-3", 2, -300, ""},
		{"+3.10", 2, 310, ""},
		{"-0", 2, 0, ""},
		{"1250", 0, 1250, ""},
		{"1.234", 3, 1234, ""},
		{"92233720368547758.07", 2, math.MaxInt64, ""},
		{"-92233720368547758.07", 2, -math.MaxInt64, ""},
		{"92233720368547758.08", 2, 0, domain.CodeAmountOverflow},
		{"99999999999999999999999", 0, 0, domain.CodeAmountOverflow},
		{"1.234", 2, 0, domain.CodeInvalidField},
		{"1.5", 0, 0, domain.CodeInvalidField},
		{"", 2, 0, domain.CodeInvalidField},
		{"-", 2, 0, domain.CodeInvalidField},
		{".", 2, 0, domain.CodeInvalidField},
		{"abc", 2, 0, domain.CodeInvalidField},
		{"1,50", 2, 0, domain.CodeInvalidField},
		{"1e3", 2, 0, domain.CodeInvalidField},
		{" 1", 2, 0, domain.CodeInvalidField},
		{"1 ", 2, 0, domain.CodeInvalidField},
		{"--1", 2, 0, domain.CodeInvalidField},
		{"1.2.3", 2, 0, domain.CodeInvalidField},
		{"0x10", 2, 0, domain.CodeInvalidField},
	}
	for _, tc := range cases {
		got, err := domain.ParseDecimal(tc.in, tc.decimals)
		if tc.code != "" {
			assert.Equalf(t, tc.code, domain.ErrorCode(err), "ParseDecimal(%q, %d): got %d, %v", tc.in, tc.decimals, got, err)
			continue
		}
		if assert.NoErrorf(t, err, "ParseDecimal(%q, %d)", tc.in, tc.decimals) {
			assert.Equalf(t, tc.want, got, "ParseDecimal(%q, %d)", tc.in, tc.decimals)
		}
	}
}

func TestFormatMinor(t *testing.T) {
	cases := []struct {
		minor    int64
		decimals int
		want     string
	}{
		{125_000, 2, "1250.00"},
		{5594, 2, "55.94"},
		{7, 2, "0.07"},
		{0, 2, "0.00"},
		{-7, 2, "-0.07"},
		{-125_050, 2, "-1250.50"},
		{1250, 0, "1250"},
		{1, 3, "0.001"},
		{math.MaxInt64, 2, "92233720368547758.07"},
		{math.MinInt64, 2, "-92233720368547758.08"},
	}
	for _, tc := range cases {
		assert.Equalf(t, tc.want, domain.FormatMinor(tc.minor, tc.decimals), "FormatMinor(%d, %d)", tc.minor, tc.decimals)
	}
}

// TestMoneyJSON: amounts are JSON integers of minor units, never floats or strings.
func TestMoneyJSON(t *testing.T) {
	b, err := json.Marshal(eur(125_000))
	require.NoError(t, err)
	assert.JSONEq(t, `{"amount":125000,"currency":"EUR"}`, string(b))
	cases := []struct {
		in   string
		want domain.Money
		code string
	}{
		{`{"amount":125000,"currency":"EUR"}`, eur(125_000), ""},
		{`{"amount":-5,"currency":"EUR"}`, eur(-5), ""},
		{`{"amount":1250.00,"currency":"EUR"}`, domain.Money{}, domain.CodeInvalidField},
		{`{"amount":1e3,"currency":"EUR"}`, domain.Money{}, domain.CodeInvalidField},
		{`{"amount":"125000","currency":"EUR"}`, domain.Money{}, domain.CodeInvalidField},
		{`{"amount":true,"currency":"EUR"}`, domain.Money{}, domain.CodeInvalidField},
		{`{"currency":"EUR"}`, domain.Money{}, domain.CodeMissingField},
		{`{"amount":null,"currency":"EUR"}`, domain.Money{}, domain.CodeMissingField},
		{`{"amount":9223372036854775808,"currency":"EUR"}`, domain.Money{}, domain.CodeAmountOverflow},
		{`[1,"EUR"]`, domain.Money{}, domain.CodeInvalidField},
	}
	for _, tc := range cases {
		var m domain.Money
		err := json.Unmarshal([]byte(tc.in), &m)
		if tc.code != "" {
			assert.Equalf(t, tc.code, domain.ErrorCode(err), "Unmarshal(%s): got %v, %v", tc.in, m, err)
			continue
		}
		if assert.NoErrorf(t, err, "Unmarshal(%s)", tc.in) {
			assert.Equalf(t, tc.want, m, "Unmarshal(%s)", tc.in)
		}
	}
}
