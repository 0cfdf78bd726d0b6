package demo

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// testEnd is a fixed End for the tests (a Tuesday).
var testEnd = domain.MustDate("2026-03-31")

func collect(t testing.TB, cfg Config) []Step {
	t.Helper()
	seq, err := Generate(cfg)
	require.NoError(t, err)
	var out []Step
	for s := range seq {
		out = append(out, s)
	}
	return out
}

// ledger is the portfolio folded through the domain, as the command service would fold it.
type ledger struct {
	customers map[domain.CustomerID]*domain.Customer
	commands  map[string]int // by command type, "IssueInvoice"
}

// fold decides and evolves every step in stream order, one state per customer, and fails on
// the first refusal: the generated portfolio must be a valid ledger. It also checks the
// ordering guarantee (dates never decrease), that Step.On is the date of the events the
// command causes, and that keys are unique.
func fold(t testing.TB, steps []Step) *ledger {
	t.Helper()
	l := &ledger{customers: map[domain.CustomerID]*domain.Customer{}, commands: map[string]int{}}
	keys := make(map[string]bool, len(steps))
	var prev domain.Date
	for i, s := range steps {
		require.False(t, s.On.Before(prev), "step %d (%s) dated %s after a step dated %s", i, s.Key, s.On, prev)
		prev = s.On
		require.False(t, keys[s.Key], "key %s used twice", s.Key)
		keys[s.Key] = true
		id := s.Command.Customer()
		c, ok := l.customers[id]
		if !ok {
			c = domain.NewCustomer()
			l.customers[id] = c
		}
		evs, err := domain.Decide(c, s.Command)
		require.NoError(t, err, "step %d %s: %T %+v", i, s.Key, s.Command, s.Command)
		require.NotEmpty(t, evs, "step %d", i)
		for _, e := range evs {
			require.True(t, e.Effective().Equal(s.On), "step %d %T: event dated %s, step dated %s", i, s.Command, e.Effective(), s.On)
			domain.Evolve(c, e)
		}
		l.commands[strings.TrimPrefix(fmt.Sprintf("%T", s.Command), "domain.")]++
	}
	return l
}

// settledOn returns the date an invoice was finally settled and whether it is settled at all
// (nothing open, not written off, settled at least once by cash).
func settledOn(v domain.InvoiceView) (domain.Date, bool) {
	if v.Open.IsPositive() || v.WrittenOff || len(v.Settled) == 0 {
		return domain.Date{}, false
	}
	var last domain.Date
	cash := false
	for _, s := range v.Settled {
		if s.On.After(last) {
			last = s.On
		}
		cash = cash || s.PaymentID != ""
	}
	return last, cash
}

func TestValidateRefusesBadConfigs(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
	}{
		{"negative customers", Config{Customers: -1, Years: 1, End: testEnd}},
		{"too many customers", Config{Customers: CustomersMax + 1, Years: 1, End: testEnd}},
		{"no years", Config{Customers: 1, Years: 0, End: testEnd}},
		{"too many years", Config{Customers: 1, Years: YearsMax + 1, End: testEnd}},
		{"no end", Config{Customers: 1, Years: 1}},
		{"history before 1900", Config{Customers: 1, Years: 3, End: domain.MustDate("1901-06-30")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			seq, err := Generate(tc.cfg)
			assert.Error(t, err, "config %+v", tc.cfg)
			assert.Nil(t, seq)
		})
	}
}

// TestGenerateIsDeterministic: the same Config gives the same steps, ranging twice over
// one sequence gives them again, and another seed gives another portfolio (whose named
// customers are unchanged).
func TestGenerateIsDeterministic(t *testing.T) {
	cfg := Config{Customers: 40, Years: 2, Seed: 7, End: testEnd}
	a := collect(t, cfg)
	b := collect(t, cfg)
	require.Equal(t, a, b, "same config, same steps")

	seq, err := Generate(cfg)
	require.NoError(t, err)
	var again []Step
	for s := range seq {
		again = append(again, s)
	}
	for s := range seq {
		_ = s // a second range regenerates from scratch
		break
	}
	assert.Equal(t, a, again, "ranging again")

	cfg.Seed = 8
	c := collect(t, cfg)
	assert.NotEqual(t, a, c, "another seed")
	named := func(steps []Step) []domain.Command {
		var out []domain.Command
		for _, s := range steps {
			if s.Command.Customer() == CustomerACME {
				out = append(out, s.Command)
			}
		}
		return out
	}
	assert.Equal(t, named(a), named(c), "ACME's story does not depend on the seed")
	assert.True(t, strings.HasPrefix(c[0].Key, "demo:8:"), "key %s", c[0].Key)
	assert.Equal(t, "demo:7:1", a[0].Key)
	assert.Equal(t, fmt.Sprintf("demo:7:%d", len(a)), a[len(a)-1].Key)
}

func TestGenerateStopsWhenTheConsumerStops(t *testing.T) {
	seq, err := Generate(Config{Customers: 10, Years: 1, Seed: 1, End: testEnd})
	require.NoError(t, err)
	n := 0
	for range seq {
		n++
		if n == 5 {
			break
		}
	}
	assert.Equal(t, 5, n)
}

// TestEveryStepIsAcceptedByDecide folds a whole portfolio through the domain, for several
// seeds and lengths of history, including one year (the shortest the named stories fit).
func TestEveryStepIsAcceptedByDecide(t *testing.T) {
	cases := []Config{
		{Customers: 150, Years: 3, Seed: 1, End: testEnd},
		{Customers: 60, Years: 1, Seed: 2, End: domain.MustDate("2025-12-31")},
		{Customers: 60, Years: 5, Seed: 3, End: domain.MustDate("2024-02-29")},
		{Customers: 0, Years: 1, Seed: 4, End: testEnd},
	}
	if testing.Short() {
		cases = cases[1:2]
	}
	for _, cfg := range cases {
		t.Run(fmt.Sprintf("%d customers %d years seed %d", cfg.Customers, cfg.Years, cfg.Seed), func(t *testing.T) {
			steps := collect(t, cfg)
			l := fold(t, steps)
			assert.Len(t, l.customers, cfg.Customers+len(NamedCustomers()))
			first, last := steps[0].On, steps[len(steps)-1].On
			assert.False(t, first.Before(cfg.start()), "first step %s before %s", first, cfg.start())
			assert.False(t, last.After(cfg.End), "last step %s after %s", last, cfg.End)
		})
	}
}

// TestPortfolioHasEveryFeature checks the portfolio of one fixed seed for every feature the
// demo promises: every command type, the named stories with their exact figures (which
// alert tests rely on), and a varied generated population.
func TestPortfolioHasEveryFeature(t *testing.T) {
	cfg := Config{Customers: 200, Years: 3, Seed: 1, End: testEnd}
	l := fold(t, collect(t, cfg))
	e := func(days int) domain.Date { return cfg.End.AddDays(-days) }

	for _, typ := range []string{"RegisterCustomer", "ChangeCreditLimit", "IssueInvoice", "IssueCreditNote",
		"RecordPayment", "AllocatePayment", "ReversePayment", "DisputeInvoice", "ResolveDispute", "WriteOffInvoice",
		"AgreePaymentPlan", "RecordPromise", "SendReminder", "RecordRating", "ChangeInsuranceCover"} {
		assert.Positive(t, l.commands[typ], "no %s in the portfolio", typ)
	}

	t.Run("ACME drifts over its last four invoices, utilisation above 86 %", func(t *testing.T) {
		acme := l.customers[CustomerACME]
		var dbt []int
		var baseline []int
		for _, v := range acme.Invoices() {
			on, ok := settledOn(v)
			if !ok {
				continue
			}
			d := v.DueDate.DaysUntil(on)
			if on.After(e(140)) {
				dbt = append(dbt, d)
			} else if on.After(e(140 + 360)) {
				baseline = append(baseline, d)
			}
		}
		assert.Equal(t, []int{5, 9, 13, 18}, dbt, "DBT of the last four paid invoices")
		require.Len(t, baseline, 12, "a year of baseline payments")
		sum := 0
		for _, d := range baseline {
			sum += d
		}
		assert.Equal(t, -24, sum, "baseline DBT -2 on average over 12 months")
		exposure, limit := acme.Exposure(), acme.CreditLimit()
		assert.Equal(t, int64(39_220_00), exposure.Minor)
		assert.Equal(t, int64(45_000_00), limit.Minor)
		utilBP := exposure.Minor * 10_000 / limit.Minor
		assert.True(t, utilBP > 8_600 && utilBP < 9_000, "utilisation %d bp", utilBP)
		p := acme.Profile()
		assert.Equal(t, 60, p.DeclarationDays)
		assert.Equal(t, "sme", p.Segment)
		var overdue []domain.InvoiceView
		for _, v := range acme.OpenItems() {
			if v.DueDate.Before(cfg.End) {
				overdue = append(overdue, v)
			}
		}
		require.Len(t, overdue, 1)
		assert.Equal(t, e(51), overdue[0].DueDate, "declaration deadline = due + 60 = End + 9")
	})

	t.Run("SILENT stops paying 92 days before End and goes over its limit", func(t *testing.T) {
		silent := l.customers[CustomerSilent]
		var lastPaid domain.Date
		for _, p := range silent.Payments() {
			if p.ReceivedOn.After(lastPaid) {
				lastPaid = p.ReceivedOn
			}
		}
		assert.Equal(t, e(93), lastPaid, "last payment")
		var issuedSince, unpaid int
		for _, v := range silent.Invoices() {
			if v.IssueDate.After(lastPaid) {
				issuedSince++
			}
			if v.Open == v.Amount {
				unpaid++
				assert.False(t, v.IssueDate.Before(e(128)), "unpaid invoice %s issued %s", v.InvoiceID, v.IssueDate)
			}
		}
		assert.Equal(t, 7, issuedSince, "still invoiced")
		assert.Equal(t, 10, unpaid, "unpaid invoices, issued E-128 to E-2")
		assert.Greater(t, silent.Exposure().Minor, silent.CreditLimit().Minor, "over its limit")
	})

	t.Run("PLAN misses its third instalment", func(t *testing.T) {
		plan := l.customers[CustomerPlan]
		plans := plan.Plans()
		require.Len(t, plans, 1)
		var planned int64
		for _, in := range plans[0].Instalments {
			planned += in.Amount.Minor
		}
		assert.Equal(t, int64(20_378_30), planned)
		var open int64
		for _, id := range plans[0].InvoiceIDs {
			v, ok := plan.Invoice(id)
			require.True(t, ok)
			open += v.Open.Minor
		}
		assert.Equal(t, planned-2*plans[0].Instalments[0].Amount.Minor, open, "two instalments paid")
		assert.Equal(t, int64(15_000_00), plan.CreditLimit().Minor)
	})

	t.Run("PROMISE keeps one promise and breaks one", func(t *testing.T) {
		pr := l.customers[CustomerPromise]
		ps := pr.Promises()
		require.Len(t, ps, 2)
		kept, ok := pr.Invoice(ps[0].InvoiceIDs[0])
		require.True(t, ok)
		on, settled := settledOn(kept)
		assert.True(t, settled && !on.After(ps[0].PromisedFor), "kept promise settled %s", on)
		broken, ok := pr.Invoice(ps[1].InvoiceIDs[0])
		require.True(t, ok)
		assert.Equal(t, broken.Amount, broken.Open, "broken promise: nothing paid")
		assert.Equal(t, e(12), ps[1].PromisedFor)
	})

	t.Run("BOUNCE has two reversed payments", func(t *testing.T) {
		var reversed []domain.PaymentID
		for _, p := range l.customers[CustomerBounce].Payments() {
			if p.Reversed {
				reversed = append(reversed, p.PaymentID)
			}
		}
		assert.Len(t, reversed, 2)
	})

	t.Run("DISPUTE disputes, is credited, keeps cash on account and writes off", func(t *testing.T) {
		d := l.customers[CustomerDispute]
		var disputes, open, writtenOff int
		for _, v := range d.Invoices() {
			disputes += v.Disputes
			if v.Disputed {
				open++
			}
			if v.WrittenOff {
				writtenOff++
			}
		}
		assert.Equal(t, 4, disputes)
		assert.Equal(t, 1, open)
		assert.Equal(t, 1, writtenOff)
		assert.Len(t, d.CreditNotes(), 3)
	})

	t.Run("the generated population is varied", func(t *testing.T) {
		segments, currencies, countries := map[string]int{}, map[domain.Currency]int{}, map[string]int{}
		sectorCode := regexp.MustCompile(`^[A-U][0-9]{2}$`)
		var partial, reversed, brokenOrKept, insured, overLimit80 int
		for id, c := range l.customers {
			p := c.Profile()
			segments[p.Segment]++
			currencies[p.Currency]++
			countries[p.Country]++
			assert.Regexp(t, sectorCode, p.Sector, "sector of %s", id)
			if p.InsuredCover.IsPositive() {
				insured++
			}
			if c.CreditLimit().IsPositive() && c.Exposure().Minor*100 > 80*c.CreditLimit().Minor {
				overLimit80++
			}
			for _, v := range c.Invoices() {
				cash := 0
				for _, s := range v.Settled {
					if s.PaymentID != "" {
						cash++
					}
				}
				if cash >= 2 {
					partial++
				}
			}
			for _, pay := range c.Payments() {
				if pay.Reversed {
					reversed++
				}
			}
			brokenOrKept += len(c.Promises())
		}
		t.Logf("segments %v, currencies %v, countries %v, partial %d, reversed %d, promises %d, insured %d, >80%% of limit %d",
			segments, currencies, countries, partial, reversed, brokenOrKept, insured, overLimit80)
		assert.Len(t, segments, 3)
		assert.Greater(t, segments["sme"], segments["corporate"])
		assert.Greater(t, segments["corporate"], segments["public"])
		assert.Positive(t, currencies["GBP"]+currencies["USD"], "a few customers outside the euro")
		assert.Greater(t, countries["FR"], len(l.customers)/2, "mostly French")
		assert.Greater(t, partial, 10, "partial payments")
		assert.Greater(t, reversed, 2, "reversals beyond BOUNCE's")
		assert.Greater(t, brokenOrKept, 10, "promises beyond PROMISE's")
		assert.Greater(t, insured, 30)
		assert.Positive(t, overLimit80)
	})

	t.Run("Anomalies lists the generated customers that drift or go silent", func(t *testing.T) {
		as, err := Anomalies(cfg)
		require.NoError(t, err)
		t.Logf("anomalies %+v", as)
		kinds := map[string]int{}
		for _, a := range as {
			kinds[a.Kind]++
			c := l.customers[a.CustomerID]
			require.NotNil(t, c, "customer %s", a.CustomerID)
			switch a.Kind {
			case AnomalySilent:
				for _, p := range c.Payments() {
					assert.True(t, p.ReceivedOn.Before(a.From), "%s paid on %s, silent from %s", a.CustomerID, p.ReceivedOn, a.From)
				}
			case AnomalyDrift:
				// Days beyond terms of invoices issued after From exceed those before it.
				var before, after, nBefore, nAfter int
				for _, v := range c.Invoices() {
					on, ok := settledOn(v)
					if !ok || v.Disputes > 0 {
						continue
					}
					if v.IssueDate.After(a.From) {
						after += v.DueDate.DaysUntil(on)
						nAfter++
					} else {
						before += v.DueDate.DaysUntil(on)
						nBefore++
					}
				}
				if nAfter > 0 && nBefore > 0 {
					assert.Greater(t, after*nBefore, before*nAfter, "%s pays later after %s", a.CustomerID, a.From)
				}
			default:
				t.Errorf("unknown kind %q", a.Kind)
			}
		}
		assert.Positive(t, kinds[AnomalyDrift], "drifting customers")
		assert.Positive(t, kinds[AnomalySilent], "silent customers")
	})
}

// TestGenerateStaysBoundedAndFast: 2000 customers over three years stream in well under a
// few seconds, and the queue (the only state that grows with the portfolio) holds the
// customers' next months, not their history: its high-water mark does not grow with the
// number of years.
func TestGenerateStaysBoundedAndFast(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the large portfolio is for full runs")
	}
	pending := func(cfg Config) genStats {
		g := newGenerator(cfg)
		g.run(func(Step) bool { return true })
		return g.stats
	}
	begin := time.Now()
	big := pending(Config{Customers: 2000, Years: 3, Seed: 1, End: testEnd})
	elapsed := time.Since(begin)
	t.Logf("2000 customers × 3 years: %d steps in %v (%.0f steps/s), queue high-water %d",
		big.steps, elapsed, float64(big.steps)/elapsed.Seconds(), big.pendingMax)
	assert.Greater(t, big.steps, 100_000)
	if !raceEnabled {
		assert.Less(t, elapsed, 3*time.Second, "2000 customers × 3 years")
	}
	assert.Less(t, big.pendingMax, 10*(2000+len(NamedCustomers())), "a few entries per customer")

	short := pending(Config{Customers: 300, Years: 2, Seed: 1, End: testEnd})
	long := pending(Config{Customers: 300, Years: 10, Seed: 1, End: testEnd})
	t.Logf("300 customers: queue high-water %d over 2 years, %d over 10 years (%d and %d steps)",
		short.pendingMax, long.pendingMax, short.steps, long.steps)
	assert.Greater(t, long.steps, 4*short.steps)
	assert.Less(t, long.pendingMax*4, short.pendingMax*5, "the queue does not grow with the years")
	assert.Less(t, long.pendingMax, 10*300, "a few entries per customer")
}

func BenchmarkGenerate(b *testing.B) {
	cfg := Config{Customers: 2000, Years: 3, Seed: 1, End: testEnd}
	seq, err := Generate(cfg)
	require.NoError(b, err)
	steps := 0
	b.ReportAllocs()
	for b.Loop() {
		for range seq {
			steps++
		}
	}
	b.ReportMetric(float64(steps)/b.Elapsed().Seconds(), "steps/s")
}
