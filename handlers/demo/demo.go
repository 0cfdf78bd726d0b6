package demo

import (
	"fmt"
	"iter"
	"strconv"

	"github.com/encours/encours/domain"
)

// Config says which portfolio to generate.
type Config struct {
	// Customers is the number of generated customers C0001, C0002, …, besides the six named
	// ones (NamedCustomers), which are always present. 0..CustomersMax.
	Customers int
	// Years of history before End, 1..YearsMax. Every customer registered in that window;
	// most at its start, some later.
	Years int
	// Seed selects the portfolio; the same Config yields the same steps, byte for byte.
	Seed uint64
	// End is the last business date (e.g. today): nothing is dated after it, and the named
	// customers' stories are placed relative to it.
	End domain.Date
}

// Limits of a Config.
const (
	// CustomersMax bounds Customers: a million customers is about 120 million commands, far
	// beyond any demo, and keeps ids within seven digits.
	CustomersMax = 1_000_000
	// YearsMax bounds Years: twenty years of history is more than any ledger migrates.
	YearsMax = 20
)

// The named customers, in the order they appear in the portfolio. Their stories, with
// every date and amount, are documented at the top of named.go.
const (
	CustomerACME    domain.CustomerID = "ACME"    // payment drift over its last four invoices; utilisation 87 %
	CustomerSilent  domain.CustomerID = "SILENT"  // stops paying 92 days before End, still invoiced
	CustomerPlan    domain.CustomerID = "PLAN"    // payment plan with a missed instalment
	CustomerPromise domain.CustomerID = "PROMISE" // one promise to pay kept, one broken
	CustomerBounce  domain.CustomerID = "BOUNCE"  // two payments reversed (bounced)
	CustomerDispute domain.CustomerID = "DISPUTE" // disputes, credit notes, cash on account, a write-off
)

// NamedCustomers returns the ids of the named customers, in portfolio order.
func NamedCustomers() []domain.CustomerID {
	return []domain.CustomerID{CustomerACME, CustomerSilent, CustomerPlan, CustomerPromise, CustomerBounce, CustomerDispute}
}

// Step is one command of the portfolio.
type Step struct {
	// Key is the command's idempotency key, "demo:<seed>:<n>" with n = 1, 2, … in stream
	// order: replaying the same Config twice appends nothing the second time.
	Key string
	// On is the command's effective date (issue, receipt, dispute… date): the date a replay
	// sets its manual clock to before sending the command.
	On domain.Date
	// Command is the domain command, a value type (domain.IssueInvoice, not a pointer).
	Command domain.Command
}

// Validate refuses a Config that Generate cannot honour.
func (cfg Config) Validate() error {
	if cfg.Customers < 0 || cfg.Customers > CustomersMax {
		return fmt.Errorf("demo: %d customers, want 0..%d", cfg.Customers, CustomersMax)
	}
	if cfg.Years < 1 || cfg.Years > YearsMax {
		return fmt.Errorf("demo: %d years, want 1..%d", cfg.Years, YearsMax)
	}
	if !cfg.End.Valid() {
		return fmt.Errorf("demo: end date %q is not a valid date", cfg.End)
	}
	if start := cfg.start(); !start.Valid() {
		return fmt.Errorf("demo: %d years before %s is out of range", cfg.Years, cfg.End)
	}
	return nil
}

// start is the first day of the history: End minus Years, plus one day.
func (cfg Config) start() domain.Date { return cfg.End.AddMonths(-12 * cfg.Years).AddDays(1) }

// Generate returns the portfolio as a stream of steps, or an error for an invalid Config.
//
// Ordering guarantee: steps come in a global merge by effective date across the whole
// portfolio, non-decreasing in Step.On; within one date, customer by customer (named ones
// first, then C0001, C0002, …), and within one customer and date in causal order (an
// invoice before its payment, a dispute before its resolution and credit note). Hence each
// customer's own commands are in date order too, and folding them in stream order through
// domain.Decide accepts every one. Nothing is dated after Config.End.
//
// The sequence may be ranged over several times; each range regenerates it from the seed.
// Memory is bounded by the customers and the commands already scheduled (the next few
// months of each customer's story), not by the length of the history.
func Generate(cfg Config) (iter.Seq[Step], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return func(yield func(Step) bool) {
		g := newGenerator(cfg)
		g.run(yield)
	}, nil
}

// stepsPerCustomerYearMax bounds the stream (style §8: every loop is bounded). A generated
// customer issues at most about 2 invoices a month (the fastest IBM payer, 1.7, times the
// December peak), and each invoice causes at most about ten commands; the named customers
// stay far below too.
const stepsPerCustomerYearMax = 2_000

// genStats are figures about one run that the tests check (the memory bound).
type genStats struct {
	steps      int
	pendingMax int // the queue's high-water mark
}

func (g *generator) run(yield func(Step) bool) {
	limit := (g.cfg.Customers + len(g.named)) * g.cfg.Years * stepsPerCustomerYearMax
	prefix := "demo:" + strconv.FormatUint(g.cfg.Seed, 10) + ":"
	for g.q.len() > 0 {
		g.stats.pendingMax = max(g.stats.pendingMax, g.q.len())
		e := g.q.pop()
		cmd := g.fire(e)
		if cmd == nil {
			continue
		}
		g.stats.steps++
		assertf(g.stats.steps <= limit, "more than %d steps for %d customers over %d years", limit, g.cfg.Customers, g.cfg.Years)
		on := domain.DateFromDays(e.day)
		assertf(!on.After(g.end) && !on.Before(g.start), "step dated %s outside %s..%s", on, g.start, g.end)
		if !yield(Step{Key: prefix + strconv.Itoa(g.stats.steps), On: on, Command: cmd}) {
			return
		}
	}
}

// fire runs the entry's hook and returns the command to emit, nil for none.
func (g *generator) fire(e entry) domain.Command {
	if int(e.cust) < len(g.named) {
		assertf(e.hook == hookNone, "named customer %d with hook %d", e.cust, e.hook)
		g.pushNamed(e.cust)
		return e.cmd
	}
	c := &g.customers[int(e.cust)-len(g.named)]
	on := domain.DateFromDays(e.day)
	switch e.hook {
	case hookNone:
		return e.cmd
	case hookRegister:
		g.scheduleLife(c, on)
		return e.cmd
	case hookInvoice:
		return g.issueInvoice(c, on)
	case hookRating:
		return g.rate(c, on)
	case hookReview:
		return g.review(c, on)
	}
	panic(fmt.Sprintf("demo: unknown hook %d", e.hook))
}

// assert panics when a programmer's invariant does not hold (style §8).
func assertf(ok bool, format string, args ...any) {
	if !ok {
		panic("demo: assertion failed: " + fmt.Sprintf(format, args...))
	}
}

// Business days: 1970-01-01 (day 0) was a Thursday.
func weekday(d domain.Date) int { return int((int64(d.Days())%7 + 7 + 4) % 7) } // 0 Sunday .. 6 Saturday

func isWeekend(d domain.Date) bool { w := weekday(d); return w == 0 || w == 6 }

// nextBusinessDay returns d, or the Monday after it when d falls on a weekend (banks credit
// payments and suppliers send invoices on business days).
func nextBusinessDay(d domain.Date) domain.Date {
	switch weekday(d) {
	case 6:
		return d.AddDays(2)
	case 0:
		return d.AddDays(1)
	}
	return d
}

// nearestBusinessDay returns d, or the business day nearest to it when d falls on a weekend
// (Saturday: the Friday before; Sunday: the Monday after). Payment dates use it, so that
// moving them off weekends adds no systematic delay to the calibrated days beyond terms.
func nearestBusinessDay(d domain.Date) domain.Date {
	switch weekday(d) {
	case 6:
		return d.AddDays(-1)
	case 0:
		return d.AddDays(1)
	}
	return d
}

// prevBusinessDay returns d, or the Friday before it when d falls on a weekend.
func prevBusinessDay(d domain.Date) domain.Date {
	switch weekday(d) {
	case 6:
		return d.AddDays(-1)
	case 0:
		return d.AddDays(-2)
	}
	return d
}

func laterOf(a, b domain.Date) domain.Date {
	if a.After(b) {
		return a
	}
	return b
}

// mulDiv is domain.MulDiv for figures that cannot overflow (amounts of a demo portfolio,
// far below 2^63 / 1000); an error is a programmer bug.
func mulDiv(a, b, c int64) int64 {
	v, err := domain.MulDiv(a, b, c, domain.RoundHalfUp)
	assertf(err == nil, "mulDiv(%d, %d, %d): %v", a, b, c, err)
	return v
}

// roundUp rounds minor up to a multiple of step.
func roundUp(minor, step int64) int64 {
	return (minor + step - 1) / step * step
}

// Anomaly is a generated customer (C…) whose payment behaviour turns bad towards End, for
// tests of the drift and silent non-payment signals beyond the named customers. Which
// customers misbehave depends on Seed and on the customer's position only: C0029 is the
// same customer in a portfolio of 200 and of 2000.
type Anomaly struct {
	CustomerID domain.CustomerID
	// Kind is "drift" (invoices issued after From are paid later and later: their days
	// beyond terms grow by DriftDaysPerMonthTenths/10 for each month of issue date after
	// From) or "silent" (no payment is dated on or after From; invoicing goes on).
	Kind                    string
	From                    domain.Date
	DriftDaysPerMonthTenths int
}

// Anomaly kinds.
const (
	AnomalyDrift  = "drift"
	AnomalySilent = "silent"
)

// Anomalies lists the generated customers of cfg that drift or go silent, in id order. About
// 2 % drift and 0.5 % go silent, among those registered at least 300 days before End.
func Anomalies(cfg Config) ([]Anomaly, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := newGenerator(cfg)
	var out []Anomaly
	for i := range g.customers {
		c := &g.customers[i]
		switch {
		case !c.driftFrom.IsZero():
			out = append(out, Anomaly{CustomerID: c.id, Kind: AnomalyDrift, From: c.driftFrom, DriftDaysPerMonthTenths: int(c.driftTenthsPerMonth)})
		case !c.silentFrom.IsZero():
			out = append(out, Anomaly{CustomerID: c.id, Kind: AnomalySilent, From: c.silentFrom})
		}
	}
	return out, nil
}
