package signals

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// step is one dated action of a scripted customer history.
type step struct {
	on  domain.Date
	act func() uint64
}

// runSteps applies steps in date order (stable: same-day steps keep their order).
func runSteps(steps []step) {
	slices.SortStableFunc(steps, func(a, b step) int { return -a.on.DaysUntil(b.on) })
	for _, s := range steps {
		s.act()
	}
}

// TestDriftCatchesJourneyTwo documents when the drift alert fires for the drifting payer of
// journey 2, with the arithmetic of the integer charts (defaults: k = 0.5 σ, h = 4.5 σ,
// critical 9 σ, EWMA λ = 0.3, L = 3, σ floor 2 days, winsorised at 4 σ, arming after 6).
//
// History: ACME, net 30, registered 2024-01-01, one invoice of 10 000.00 EUR on the first of
// each month. The twelve invoices of 2024 are each paid exactly 2 days before their due date
// (DBT −2). Then the invoices of January, February, March and April 2025 are paid 5, 9, 13
// and 18 days late.
//
//   - The charts arm at the 6th settled invoice. Every 2024 payment equals the baseline
//     (μ = −2.00 days, σ = 0 floored to 2.00 days), so S stays 0 and z stays −2.00, and all 12
//     join the baseline.
//   - Jan 2025, +5: n = 12, σ_eff = ⌊√(200² × 13/12)⌋ = 208; (500 − (−200)) × 10 000 / 208 =
//     33 654 σ-bp, minus k = 5 000: S = 28 654 (2.87 σ) < h = 45 000. EWMA z = 0.3 × 500 +
//     0.7 × (−200) = 10, j = 7 observations since arming: UCL = −200 + 3 × 208 ×
//     √(0.3/1.7 × (1 − 0.7^14)) = −200 + 261 = 61; z = 10 ≤ 61. In control: no alert, and
//     the observation joins the baseline (n = 13, μ = −1 900/13 = −146, σ 194 → floor 200).
//   - Feb 2025, +9: σ_eff = ⌊√(200² × 14/13)⌋ = 207; +9 days is above μ + 4σ_eff = −146 +
//     828 = 682 and is winsorised to 682; (682 + 146) × 10 000 / 207 = 40 000; S = 28 654 +
//     40 000 − 5 000 = 63 654 ≥ 45 000; z = 0.3 × 682 + 0.7 × 10 = 212 > UCL = −146 + 3 ×
//     207 × √(0.3/1.7 × (1 − 0.7^16)) = −146 + 260 = 114. Both charts out: the WARNING
//     alert fires at this payment, explained by the two late payments of the CUSUM run.
//     The alarm takes the run's +5 back out of the baseline: n = 12, μ = −200, σ = 200.
//   - Mar 2025, +13: +13 is winsorised to μ + 4σ_eff = −200 + 4 × 208 = 632 (it never joins
//     the baseline: it alarms); (632 + 200) × 10 000 / 208 = 40 000; S = 63 654 + 40 000 −
//     5 000 = 98 654, capped at 90 000 = the critical level; z = 0.3 × 632 + 0.7 × 212 =
//     338 > UCL: CRITICAL.
//   - Apr 2025, +18: still critical; the explanation's figures are journey 2's: a baseline
//     of −2.00 days (the twelve 2024 payments) and a current +18 days.
func TestDriftCatchesJourneyTwo(t *testing.T) {
	b := newBook(t)
	const acme = domain.CustomerID("ACME")
	b.register(acme, "sme", 30, 1_000_000_00, d("2024-01-01"))
	dbts := []int{-2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, -2, 5, 9, 13, 18}
	var steps []step
	payOn := make([]domain.Date, len(dbts))
	payPos := make([]uint64, len(dbts))
	for k, dbt := range dbts {
		issue := d("2024-01-01").AddMonths(k)
		var inv domain.InvoiceID
		steps = append(steps, step{issue, func() uint64 { inv = b.invoice(acme, 10_000_00, issue); return 0 }})
		payOn[k] = issue.AddDays(30 + dbt)
		steps = append(steps, step{payOn[k], func() uint64 {
			_, payPos[k] = b.pay(acme, payOn[k], alloc(inv, 10_000_00))
			return payPos[k]
		}})
	}
	// Evaluate right after each payment of 2025, at its date.
	got := map[int]Signal{}
	for i := range steps {
		k := -1
		for j := range payOn {
			if steps[i].on == payOn[j] && j >= 12 {
				k = j
			}
		}
		if k < 0 {
			continue
		}
		act := steps[i].act
		steps[i].act = func() uint64 {
			p := act()
			if s, ok := find(b.evaluate(payOn[k], nil), acme, RulePaymentDrift); ok {
				got[k] = s
			}
			return p
		}
	}
	runSteps(steps)

	_, firedEarly := got[12]
	assert.False(t, firedEarly, "no alert at the first late payment (+5)")
	warn, ok := got[13]
	require.True(t, ok, "the alert fires at the second late payment (+9)")
	assert.Equal(t, SeverityWarning, warn.Severity)
	assert.Equal(t, payPos[13], warn.TriggerPosition, "triggered by the +9 payment")
	cur, _ := figure(warn.Explanation.Current, "cusum")
	assert.Equal(t, int64(63_654), cur, "S after +9")
	ewma, _ := figure(warn.Explanation.Current, "ewma")
	assert.Equal(t, int64(212), ewma)
	mean, _ := figure(warn.Explanation.Baseline, "dbt_mean")
	assert.Equal(t, int64(-146), mean)
	limit, _ := figure(warn.Explanation.Threshold, "ewma_limit")
	assert.Equal(t, int64(114), limit)
	require.Len(t, warn.Explanation.Moved, 2, "the CUSUM run: +5 and +9")
	assert.Equal(t, payPos[12], warn.Explanation.Moved[0].Position)
	assert.Equal(t, int64(500), *warn.Explanation.Moved[0].Value)
	assert.Equal(t, payPos[13], warn.Explanation.Moved[1].Position)

	crit, ok := got[14]
	require.True(t, ok)
	assert.Equal(t, SeverityCritical, crit.Severity, "+13 escalates")
	s, _ := figure(crit.Explanation.Current, "cusum")
	assert.Equal(t, int64(90_000), s)
	z, _ := figure(crit.Explanation.Current, "ewma")
	assert.Equal(t, int64(338), z)
	last, _ := figure(got[15].Explanation.Current, "dbt_last")
	assert.Equal(t, int64(1800), last, "the journey's current figure: +18 days")
	base, _ := figure(got[15].Explanation.Baseline, "dbt_mean")
	assert.Equal(t, int64(-200), base, "the journey's baseline: 2 days early, the drift taken out")
	n, _ := figure(got[15].Explanation.Baseline, "invoices")
	assert.Equal(t, int64(12), n)
}

// TestDriftStablePayerFalsePositiveRate: a stable payer must not raise a drift alert. Method:
// 200 seeds, each a customer with three years of history through the ledger: an invoice
// every 14 to 31 days (fixed per seed), net 30, each paid at due date + round(N(μ, σ)) days,
// μ uniform in [−5, 10] days and σ in [1, 6] days per seed — a payer whose behaviour never
// changes. The drift charts run over the whole history (their state after a payment depends
// only on the payments before it), so FirstAlarm ≥ 0 means an alert would have been raised at
// some point in the three years. The rate is logged; the bound, 8 %, comes from the charts'
// own in-control run length: with the design's k = 0.5 σ, h = 4.5 σ and EWMA L = 3, even
// known μ and σ give about 4.6 % over 66 monitored biweekly payments.
func TestDriftStablePayerFalsePositiveRate(t *testing.T) {
	seeds := 200
	if testing.Short() {
		seeds = 50
	}
	alarms := 0
	payments := 0
	cfg := DefaultConfig()
	for seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
		b := newBook(t)
		c := domain.CustomerID("STABLE")
		start := d("2022-01-03")
		b.register(c, "sme", 30, 1_000_000_000, start)
		period := 14 + r.IntN(18)
		mu, sigma := r.Float64()*15-5, 1+r.Float64()*5
		type pending struct {
			on  domain.Date
			inv domain.InvoiceID
			amt int64
		}
		var due []pending
		end := start.AddDays(3 * 365)
		for day := start; day.Before(end); day = day.AddDays(1) {
			for len(due) > 0 && !due[0].on.After(day) {
				b.pay(c, day, alloc(due[0].inv, due[0].amt))
				due = due[1:]
				payments++
			}
			if start.DaysUntil(day)%period == 0 {
				amt := int64(1_000_00 + r.IntN(20_000_00))
				inv := b.invoice(c, amt, day)
				dbt := int(math.Round(mu + r.NormFloat64()*sigma))
				due = append(due, pending{day.AddDays(30 + dbt), inv, amt})
				slices.SortStableFunc(due, func(a, b pending) int { return -a.on.DaysUntil(b.on) })
			}
		}
		rep, err := Analyse(b.m, b.f, c, end, &cfg)
		require.NoError(t, err)
		if rep.Drift.FirstAlarm >= 0 {
			alarms++
		}
	}
	rate := float64(alarms) / float64(seeds)
	t.Logf("stable payers: %d of %d raised a drift alert over three years (%.1f %%), %d payments in all",
		alarms, seeds, 100*rate, payments)
	assert.LessOrEqual(t, rate, 0.08, "false-positive rate over three years")
}

// TestDriftArmsOnlyAfterMinimumHistory: five payments, however late, never alarm.
func TestDriftArmsOnlyAfterMinimumHistory(t *testing.T) {
	cfg := DefaultConfig().Default.Drift
	obs := []Observation{{DBTCentidays: 0}, {DBTCentidays: 0}, {DBTCentidays: 0}, {DBTCentidays: 3000}, {DBTCentidays: 6000}}
	st := Drift(obs, cfg)
	assert.False(t, st.Armed)
	assert.Equal(t, -1, st.FirstAlarm)
	assert.Equal(t, Severity(0), st.Severity)
}

// TestDriftRegularPayerOneDayLate: a payer always exactly on its day must not alarm when it
// is one day late once (the σ floor), nor on one isolated very late payment (winsorising).
func TestDriftRegularPayerOneDayLate(t *testing.T) {
	cfg := DefaultConfig().Default.Drift
	var obs []Observation
	for range 12 {
		obs = append(obs, Observation{DBTCentidays: 0})
	}
	oneLate := append(slices.Clone(obs), Observation{DBTCentidays: 100})
	assert.Equal(t, -1, Drift(oneLate, cfg).FirstAlarm, "one day late once")
	outlier := append(slices.Clone(obs), Observation{DBTCentidays: 4000}, Observation{DBTCentidays: 0})
	assert.Equal(t, -1, Drift(outlier, cfg).FirstAlarm, "one isolated payment 40 days late")
}

// TestDriftClearsWhenBackToBaseline: once the payer is back to its baseline, the warning
// needs both charts and the EWMA returns within its limit in a few payments.
func TestDriftClearsWhenBackToBaseline(t *testing.T) {
	cfg := DefaultConfig().Default.Drift
	var obs []Observation
	for range 12 {
		obs = append(obs, Observation{DBTCentidays: -200})
	}
	for _, x := range []int64{500, 900, 1300, 1800} {
		obs = append(obs, Observation{DBTCentidays: x})
	}
	require.Equal(t, SeverityCritical, Drift(obs, cfg).Severity)
	back := 0
	for Drift(obs, cfg).Severity != 0 {
		obs = append(obs, Observation{DBTCentidays: -200})
		back++
		require.Less(t, back, 12, "clears within a year of on-time payments")
	}
	t.Logf("cleared after %d payments back at the baseline", back)
}
