package signals

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// regularPayer registers c (net terms, limit) and books n invoices of amount every period
// days from start, each paid dbt days after its due date; it returns the last issue date.
func regularPayer(b *book, c domain.CustomerID, terms int, limit int64, start domain.Date, n, period, dbt int, amount int64) domain.Date {
	b.register(c, "sme", terms, limit, start)
	var steps []step
	last := start
	for k := range n {
		issue := start.AddDays(k * period)
		last = issue
		var inv domain.InvoiceID
		steps = append(steps, step{issue, func() uint64 { inv = b.invoice(c, amount, issue); return 0 }})
		on := issue.AddDays(terms + dbt)
		steps = append(steps, step{on, func() uint64 { _, p := b.pay(c, on, alloc(inv, amount)); return p }})
	}
	runSteps(steps)
	return last
}

// TestSilentNonPayment: a payer who simply stops paying is caught, which drift cannot do.
// SILENT, net 45, is invoiced every 14 days from 2024-01-01 and pays 3 days late (typical DBT
// = median 3 days). It stops paying: the invoice issued 2024-07-15 (due 2024-08-29) and the
// ones after it are never paid. Its expected payment date is due + 3 + 10 days tolerance =
// 2024-09-11: on that day nothing yet; on 2024-09-12 (1 day past expected) a warning; 30
// days past expected (2024-10-11) critical. The drift charts see no new payment and stay
// quiet.
func TestSilentNonPayment(t *testing.T) {
	b := newBook(t)
	const c = domain.CustomerID("SILENT")
	b.register(c, "corporate", 45, 1_000_000_00, d("2024-01-01"))
	var steps []step
	stop := d("2024-07-15")
	var firstUnpaid domain.InvoiceID
	for issue := d("2024-01-01"); issue.Before(d("2024-10-20")); issue = issue.AddDays(14) {
		issue := issue
		var inv domain.InvoiceID
		steps = append(steps, step{issue, func() uint64 {
			inv = b.invoice(c, 24_000_00, issue)
			if issue == stop {
				firstUnpaid = inv
			}
			return 0
		}})
		if issue.Before(stop) {
			on := issue.AddDays(45 + 3)
			steps = append(steps, step{on, func() uint64 { _, p := b.pay(c, on, alloc(inv, 24_000_00)); return p }})
		}
	}
	runSteps(steps)

	cases := []struct {
		asOf string
		want Severity
	}{
		{"2024-09-11", 0},
		{"2024-09-12", SeverityWarning},
		{"2024-10-10", SeverityWarning},
		{"2024-10-11", SeverityCritical},
	}
	for _, tc := range cases {
		t.Run(tc.asOf, func(t *testing.T) {
			sigs := b.evaluate(d(tc.asOf), nil)
			s, ok := find(sigs, c, RuleSilentNonPayment)
			if tc.want == 0 {
				assert.False(t, ok, "no silent non-payment yet: %+v", s)
				return
			}
			require.True(t, ok, "silent non-payment on %s", tc.asOf)
			assert.Equal(t, tc.want, s.Severity)
			typical, _ := figure(s.Explanation.Baseline, "typical_dbt")
			assert.Equal(t, int64(300), typical)
			assert.Equal(t, string(firstUnpaid), s.Explanation.Moved[0].ID, "the oldest unpaid invoice first")
			_, drift := find(sigs, c, RulePaymentDrift)
			assert.False(t, drift, "drift cannot see a payer who stopped paying")
		})
	}
}

func TestCreditLimit(t *testing.T) {
	b := newBook(t)
	const c = domain.CustomerID("LIM")
	b.register(c, "sme", 30, 10_000_00, d("2025-01-01"))
	b.invoice(c, 7_900_00, d("2025-01-02"))
	s, ok := find(b.evaluate(d("2025-01-02"), nil), c, RuleCreditLimit)
	require.True(t, ok, "79 %: in the hysteresis band")
	assert.True(t, s.Hold, "79 % only keeps an open alert open")
	b.invoice(c, 100_00, d("2025-01-03"))
	s, ok = find(b.evaluate(d("2025-01-03"), nil), c, RuleCreditLimit)
	require.True(t, ok, "80 %")
	assert.False(t, s.Hold)
	assert.Equal(t, SeverityWarning, s.Severity)
	util, _ := figure(s.Explanation.Current, "utilisation")
	assert.Equal(t, int64(8000), util)
	b.invoice(c, 2_000_00, d("2025-01-04"))
	s, _ = find(b.evaluate(d("2025-01-04"), nil), c, RuleCreditLimit)
	assert.Equal(t, SeverityCritical, s.Severity, "100 %")
	b.add(c, domain.CreditLimitChanged{Limit: eur(1_000_000_00), Previous: eur(10_000_00), Reason: "review", ChangedOn: d("2025-01-05")})
	_, ok = find(b.evaluate(d("2025-01-05"), nil), c, RuleCreditLimit)
	assert.False(t, ok, "limit raised")
	p := b.add(c, domain.CreditLimitChanged{Limit: eur(0), Previous: eur(1_000_000_00), Reason: "stop", ChangedOn: d("2025-01-06")})
	s, ok = find(b.evaluate(d("2025-01-06"), nil), c, RuleCreditLimit)
	require.True(t, ok, "zero limit with exposure")
	assert.Equal(t, SeverityCritical, s.Severity)
	assert.Equal(t, p, s.TriggerPosition, "triggered by the limit change")
}

func TestAgingEscalationAndFirstOverdue(t *testing.T) {
	b := newBook(t)
	const c = domain.CustomerID("AGE")
	last := regularPayer(b, c, 30, 1_000_000_00, d("2024-01-01"), 6, 30, -1, 1_000_00)
	inv := b.invoice(c, 5_000_00, last.AddDays(30))
	due := last.AddDays(60)
	cases := []struct {
		dpd          int
		aging, first Severity
	}{
		{0, 0, 0},
		{1, 0, SeverityWarning},
		{30, 0, SeverityWarning},
		{31, SeverityInfo, SeverityWarning},
		{61, SeverityWarning, SeverityWarning},
		{91, SeverityCritical, SeverityWarning},
	}
	for _, tc := range cases {
		sigs := b.evaluate(due.AddDays(tc.dpd), nil)
		a, _ := find(sigs, c, RuleAgingEscalation)
		f, _ := find(sigs, c, RuleFirstOverdue)
		assert.Equal(t, tc.aging, a.Severity, "aging at %d days past due", tc.dpd)
		assert.Equal(t, tc.first, f.Severity, "first overdue at %d days past due", tc.dpd)
	}
	b.pay(c, due.AddDays(92), alloc(inv, 5_000_00))
	sigs := b.evaluate(due.AddDays(92), nil)
	_, a := find(sigs, c, RuleAgingEscalation)
	_, f := find(sigs, c, RuleFirstOverdue)
	assert.False(t, a || f, "paid: aging cleared; paid late: no longer always on time")
}

func TestBehaviourSignals(t *testing.T) {
	t.Run("broken promise", func(t *testing.T) {
		b := newBook(t)
		const c = domain.CustomerID("PROM")
		last := regularPayer(b, c, 30, 1_000_000_00, d("2024-01-01"), 6, 30, 2, 1_000_00)
		inv := b.invoice(c, 5_000_00, last.AddDays(10))
		due := last.AddDays(40)
		p := b.add(c, domain.PromiseToPayRecorded{PromiseID: "PTP-1", Amount: eur(5_000_00), PromisedFor: due.AddDays(10),
			InvoiceIDs: []domain.InvoiceID{inv}, RecordedOn: due.AddDays(5)})
		_, ok := find(b.evaluate(due.AddDays(10), nil), c, RuleBrokenPromise)
		assert.False(t, ok, "on the promised day it is not broken yet")
		s, ok := find(b.evaluate(due.AddDays(11), nil), c, RuleBrokenPromise, "PTP-1")
		require.True(t, ok, "the day after, unpaid: broken")
		assert.Equal(t, p, s.TriggerPosition)
		rs, err := Analyse(b.m, b.f, c, due.AddDays(11), func() *Config { c := DefaultConfig(); return &c }())
		require.NoError(t, err)
		inc := rs.Score.Factors[5]
		assert.Equal(t, "incidents", inc.Name)
		assert.Equal(t, int64(1), inc.Value.Value, "the broken promise costs the risk score")
		b.pay(c, due.AddDays(12), alloc(inv, 5_000_00))
		_, ok = find(b.evaluate(due.AddDays(12), nil), c, RuleBrokenPromise)
		assert.False(t, ok, "paid since: nothing left open")
	})
	t.Run("missed instalment", func(t *testing.T) {
		b := newBook(t)
		const c = domain.CustomerID("PLAN")
		b.register(c, "sme", 30, 1_000_000_00, d("2024-01-01"))
		inv := b.invoice(c, 6_000_00, d("2024-01-01"))
		b.add(c, domain.PaymentPlanAgreed{PlanID: "PL-1", InvoiceIDs: []domain.InvoiceID{inv}, AgreedOn: d("2024-03-01"),
			Instalments: []domain.Instalment{{Due: d("2024-03-31"), Amount: eur(3_000_00)}, {Due: d("2024-04-30"), Amount: eur(3_000_00)}}})
		_, ok := find(b.evaluate(d("2024-03-31"), nil), c, RuleMissedInstalment)
		assert.False(t, ok, "due today")
		s, ok := find(b.evaluate(d("2024-04-01"), nil), c, RuleMissedInstalment, "PL-1")
		require.True(t, ok)
		assert.Equal(t, SeverityWarning, s.Severity)
		s, _ = find(b.evaluate(d("2024-05-01"), nil), c, RuleMissedInstalment, "PL-1")
		assert.Equal(t, SeverityCritical, s.Severity, "two missed")
		b.pay(c, d("2024-05-02"), alloc(inv, 6_000_00))
		_, ok = find(b.evaluate(d("2024-05-02"), nil), c, RuleMissedInstalment)
		assert.False(t, ok, "caught up")
	})
	t.Run("reversal", func(t *testing.T) {
		b := newBook(t)
		const c = domain.CustomerID("BNC")
		regularPayer(b, c, 30, 1_000_000_00, d("2024-01-01"), 6, 30, 0, 1_000_00)
		inv := b.invoice(c, 2_000_00, d("2024-07-01"))
		pid, _ := b.pay(c, d("2024-07-31"), alloc(inv, 2_000_00))
		p := b.add(c, domain.PaymentReversed{PaymentID: pid, Amount: eur(2_000_00), ReversedOn: d("2024-08-05"),
			Reopened: []domain.Allocation{alloc(inv, 2_000_00)}, UnallocatedRemoved: eur(0)})
		s, ok := find(b.evaluate(d("2024-08-05"), nil), c, RuleReversals)
		require.True(t, ok)
		assert.Equal(t, p, s.TriggerPosition)
		_, ok = find(b.evaluate(d("2024-11-10"), nil), c, RuleReversals)
		assert.False(t, ok, "out of the 90-day window")
	})
	t.Run("partial payments and disputes", func(t *testing.T) {
		b := newBook(t)
		const c = domain.CustomerID("PART")
		regularPayer(b, c, 30, 1_000_000_00, d("2024-01-01"), 8, 30, 0, 1_000_00)
		i1 := b.invoice(c, 2_000_00, d("2024-09-01"))
		i2 := b.invoice(c, 2_000_00, d("2024-09-02"))
		b.pay(c, d("2024-10-01"), alloc(i1, 500_00))
		b.pay(c, d("2024-10-02"), alloc(i2, 500_00))
		b.add(c, domain.InvoiceDisputed{InvoiceID: i1, DisputedOn: d("2024-10-03")})
		b.add(c, domain.InvoiceDisputed{InvoiceID: i2, DisputedOn: d("2024-10-04")})
		sigs := b.evaluate(d("2024-10-05"), nil)
		pp, ok := find(sigs, c, RulePartialPayments)
		require.True(t, ok)
		share, _ := figure(pp.Explanation.Current, "partial_payments_share_window")
		assert.Equal(t, int64(5_000), share, "2 of the 4 payments in the window were partial")
		hist, _ := figure(pp.Explanation.Baseline, "partial_payments_share_history")
		assert.Equal(t, int64(0), hist)
		_, ok = find(sigs, c, RuleDisputes)
		assert.True(t, ok)
	})
}

func TestDeadlineSignals(t *testing.T) {
	b := newBook(t)
	const c = domain.CustomerID("INS")
	b.register(c, "sme", 30, 1_000_000_00, d("2024-01-01"))
	b.add(c, domain.CreditInsuranceCoverChanged{Insurer: "Allianz Trade", Covered: eur(50_000_00), DeclarationDays: 60, ChangedOn: d("2024-01-01")})
	inv := b.invoice(c, 5_000_00, d("2024-01-10")) // due 2024-02-09, declare by 2024-04-09
	lme := domain.InvoiceID("LME-1")
	b.add(c, domain.InvoiceIssued{InvoiceID: lme, Number: "LME-1", Amount: eur(1_000_00), IssueDate: d("2024-01-10"), DueDate: d("2024-04-30")})
	sigs := b.evaluate(d("2024-03-25"), nil)
	_, ok := find(sigs, c, RuleInsuranceDeadline, string(inv))
	assert.False(t, ok, "15 days left")
	s, ok := find(sigs, c, RuleTermsBeyondCap, string(lme))
	require.True(t, ok, "terms of 111 days")
	assert.Equal(t, SeverityInfo, s.Severity)
	s, ok = find(b.evaluate(d("2024-03-26"), nil), c, RuleInsuranceDeadline, string(inv))
	require.True(t, ok, "14 days left")
	assert.Equal(t, SeverityWarning, s.Severity)
	s, _ = find(b.evaluate(d("2024-04-10"), nil), c, RuleInsuranceDeadline, string(inv))
	assert.Equal(t, SeverityCritical, s.Severity, "passed")
}

func TestPortfolioSignals(t *testing.T) {
	t.Run("concentration", func(t *testing.T) {
		b := newBook(t)
		for i, amt := range []int64{60_000_00, 10_000_00, 10_000_00, 10_000_00, 10_000_00} {
			c := domain.CustomerID(string(rune('A' + i)))
			b.register(c, "sme", 30, 1_000_000_00, d("2024-01-01"))
			b.invoice(c, amt, d("2024-01-02"))
		}
		s, ok := find(b.evaluate(d("2024-01-03"), nil), "", RuleConcentration, PortfolioSubject)
		require.True(t, ok)
		assert.Equal(t, SeverityCritical, s.Severity, "top-1 share 60 %")
		assert.Equal(t, "A", s.Explanation.Moved[0].ID)
	})
	t.Run("DSO drift", func(t *testing.T) {
		// Ten customers invoiced 10 000.00 EUR on the first of each month and paying on the
		// 15th of the next month: a steady DSO. From 2025-01 on nobody pays: AR piles up.
		b := newBook(t)
		var steps []step
		for i := range 10 {
			c := domain.CustomerID(string(rune('A' + i)))
			b.register(c, "sme", 30, 1_000_000_00, d("2024-01-01"))
			for k := range 15 {
				issue := d("2024-01-01").AddMonths(k)
				var inv domain.InvoiceID
				steps = append(steps, step{issue, func() uint64 { inv = b.invoice(c, 10_000_00, issue); return 0 }})
				if on := issue.AddMonths(1).AddDays(14); on.Before(d("2025-01-01")) {
					steps = append(steps, step{on, func() uint64 { _, p := b.pay(c, on, alloc(inv, 10_000_00)); return p }})
				}
			}
		}
		runSteps(steps)
		_, ok := find(b.evaluate(d("2024-12-31"), nil), "", RulePortfolioDSODrift)
		assert.False(t, ok, "steady until the end of 2024")
		s, ok := find(b.evaluate(d("2025-03-31"), nil), "", RulePortfolioDSODrift)
		require.True(t, ok, "three months without payment")
		assert.Equal(t, SeverityCritical, s.Severity)
		t.Log(s.Explanation.Summary)
	})
}

// TestRiskScoreFactorsAddUp: the contributions are the score, and an external rating is
// blended in at its weight.
func TestRiskScoreFactorsAddUp(t *testing.T) {
	b := newBook(t)
	const c = domain.CustomerID("SCORE")
	regularPayer(b, c, 30, 10_000_00, d("2024-01-01"), 8, 30, 10, 1_000_00)
	b.invoice(c, 6_000_00, d("2024-09-01"))
	cfg := DefaultConfig()
	rep, err := Analyse(b.m, b.f, c, d("2024-11-15"), &cfg)
	require.NoError(t, err)
	var sum int64
	for _, f := range rep.Score.Factors {
		sum += f.ContributionCentipoints
		assert.Equal(t, f.WeightBP, f.ContributionCentipoints+f.LostCentipoints, f.Name)
	}
	assert.Equal(t, rep.Score.Centipoints, sum)
	assert.Equal(t, divRound(sum, 100), rep.Score.Score)
	assert.Nil(t, rep.Score.External)
	before := rep.Score.Score

	b.add(c, domain.ExternalRatingReceived{Agency: "Agency", Score: 10, Grade: "C", RatedOn: d("2024-11-15")})
	rep, err = Analyse(b.m, b.f, c, d("2024-11-15"), &cfg)
	require.NoError(t, err)
	require.NotNil(t, rep.Score.External)
	ext := rep.Score.Factors[len(rep.Score.Factors)-1]
	assert.Equal(t, "external_rating", ext.Name)
	assert.Equal(t, int64(300), ext.ContributionCentipoints, "10 points × 30 %")
	assert.Less(t, rep.Score.Score, before, "a poor rating lowers the score")
	t.Logf("score %d → %d with a rating of 10", before, rep.Score.Score)
}

func TestWorklist(t *testing.T) {
	b := newBook(t)
	const c = domain.CustomerID("DUN")
	b.register(c, "sme", 30, 1_000_000_00, d("2024-01-01"))
	plain := b.invoice(c, 1_000_00, d("2024-01-01"))    // due 01-31
	reminded := b.invoice(c, 1_000_00, d("2024-01-01")) // level 1 sent
	disputed := b.invoice(c, 1_000_00, d("2024-01-01"))
	planned := b.invoice(c, 1_000_00, d("2024-01-01"))
	notDue := b.invoice(c, 1_000_00, d("2024-02-10"))
	done := b.invoice(c, 1_000_00, d("2024-01-01"))
	b.add(c, domain.ReminderSent{InvoiceID: reminded, Level: 1, Channel: "email", SentOn: d("2024-02-01")})
	b.add(c, domain.InvoiceDisputed{InvoiceID: disputed, DisputedOn: d("2024-02-02")})
	b.add(c, domain.PaymentPlanAgreed{PlanID: "PL", InvoiceIDs: []domain.InvoiceID{planned}, AgreedOn: d("2024-02-03"),
		Instalments: []domain.Instalment{{Due: d("2024-03-01"), Amount: eur(1_000_00)}}})
	for lvl, ch := range []string{"email", "letter", "formal_notice"} {
		b.add(c, domain.ReminderSent{InvoiceID: done, Level: lvl + 1, Channel: ch, SentOn: d("2024-02-01")})
	}
	_ = notDue
	got, err := Worklist(b.m, d("2024-02-10"), DefaultDunningPlan())
	require.NoError(t, err)
	require.Len(t, got, 2, "%+v", got)
	assert.Equal(t, plain, got[0].InvoiceID)
	assert.Equal(t, 1, got[0].Level)
	assert.Equal(t, "email", got[0].Channel)
	assert.Equal(t, d("2024-02-01"), got[0].Date)
	assert.True(t, got[0].DueNow)
	assert.Equal(t, reminded, got[1].InvoiceID)
	assert.Equal(t, 2, got[1].Level, "level 1 already sent")
	assert.Equal(t, "letter", got[1].Channel)
	assert.Equal(t, d("2024-02-15"), got[1].Date)
	assert.False(t, got[1].DueNow)
}

// TestEvaluateIsPure: the same model and date give the same signals; a customer scope gives
// that customer's signals and no portfolio signal.
func TestEvaluateIsPure(t *testing.T) {
	b := newBook(t)
	for i := range 5 {
		c := domain.CustomerID(string(rune('A' + i)))
		regularPayer(b, c, 30, 1_000_00, d("2024-01-01"), 8, 30, i*5, 1_000_00)
		b.invoice(c, int64(i+1)*10_000_00, d("2024-09-01"))
	}
	cfg := DefaultConfig()
	a, err := Evaluate(b.m, b.f, d("2024-12-01"), &cfg, EvaluateAll())
	require.NoError(t, err)
	again, err := Evaluate(b.m, b.f, d("2024-12-01"), &cfg, EvaluateAll())
	require.NoError(t, err)
	assert.Equal(t, a, again)
	one, err := Evaluate(b.m, b.f, d("2024-12-01"), &cfg, Scope{Customers: []domain.CustomerID{"C"}})
	require.NoError(t, err)
	var want []Signal
	for _, s := range a {
		if s.CustomerID == "C" {
			want = append(want, s)
		}
	}
	assert.Equal(t, want, one)
}
