package ledger

import (
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strconv"

	"github.com/encours/encours/domain"
)

// rateScale is the scale of exchange rates (domain.Rate.E9: 9 decimals).
const rateScale = 1_000_000_000

// countbackMonthsMax bounds the countback walk (style §8: every loop is bounded). Five years
// of sales that do not exhaust the ending AR mean the DSO is no longer a meaningful figure;
// the result is then flagged dso_countback_capped.
const countbackMonthsMax = 60

// ErrMissingRate: a figure mixes currencies and no ExchangeRatesPublished rate to the
// reporting currency is in force at the as-of date for one of them.
var ErrMissingRate = errors.New("no exchange rate in force")

// ErrUnknownCustomer: the scope names a customer the model does not hold.
var ErrUnknownCustomer = errors.New("unknown customer")

// Dimension is how customers are grouped (Projections issue: group by customer, segment,
// sector, country and portfolio; by currency for the per-currency view).
type Dimension uint8

// The dimensions.
const (
	ByPortfolio Dimension = iota // every customer
	ByCustomer
	BySegment
	BySector
	ByCountry
	ByCurrency
)

// String returns the name used in JSON ("portfolio", "customer", ...).
func (d Dimension) String() string {
	switch d {
	case ByPortfolio:
		return "portfolio"
	case ByCustomer:
		return "customer"
	case BySegment:
		return "segment"
	case BySector:
		return "sector"
	case ByCountry:
		return "country"
	case ByCurrency:
		return "currency"
	}
	return "dimension(" + strconv.Itoa(int(d)) + ")"
}

// Scope selects the customers a figure covers: all of them (the zero Scope, the portfolio),
// or those whose profile field By equals Key.
type Scope struct {
	By  Dimension
	Key string
}

// Portfolio is the scope of every customer.
func Portfolio() Scope { return Scope{By: ByPortfolio} }

// CustomerScope is the scope of one customer.
func CustomerScope(id domain.CustomerID) Scope { return Scope{By: ByCustomer, Key: string(id)} }

func (c *customer) key(d Dimension) string {
	switch d {
	case ByCustomer:
		return string(c.id)
	case BySegment:
		return c.segment
	case BySector:
		return c.sector
	case ByCountry:
		return c.country
	case ByCurrency:
		return string(c.currency)
	}
	return ""
}

func (s Scope) has(c *customer) bool { return s.By == ByPortfolio || c.key(s.By) == s.Key }

// Period is a closed range of business dates [Start, End].
type Period struct {
	Start domain.Date
	End   domain.Date
}

// Days returns the number of days in p, both ends included.
func (p Period) Days() int { return p.Start.DaysUntil(p.End) + 1 }

// DefaultPeriod returns the three calendar months ending at asOf (design §Metrics, DSO period
// method: "default period: the three calendar months ending at the as-of date"): at a month
// end, the three whole months (2013-12-31: 2013-10-01..2013-12-31); otherwise the day after
// the same day three months earlier (2014-02-15: 2013-11-16..2014-02-15).
func DefaultPeriod(asOf domain.Date) Period {
	if asOf.Equal(asOf.EndOfMonth()) {
		return Period{Start: asOf.StartOfMonth().AddMonths(-2), End: asOf}
	}
	return Period{Start: asOf.AddMonths(-3).AddDays(1), End: asOf}
}

// Config holds the configurable parts of the metrics. The zero Config means the defaults.
type Config struct {
	// AgingBoundsDays are the upper bounds, in days past due, of every aging bucket but the
	// last (design §Metrics, aging: "not due, 1–30, 31–60, 61–90, 91–120, >120 (buckets
	// configurable)"). The first must be 0: the "not due" bucket. Default 0, 30, 60, 90, 120.
	AgingBoundsDays []int
	// ProvisionBP is the provision rate of each aging bucket in basis points (design
	// §Metrics, provision suggestion), len(AgingBoundsDays)+1 values. The default,
	// 0 / 5 % / 10 % / 25 % / 50 % / 100 %, is illustrative: set the company's policy.
	ProvisionBP []int64
	// Period is the DSO, BPDSO and CEI period; zero: DefaultPeriod(asOf).
	Period Period
	// PaymentsFrom limits days to pay and DBT to cash received on or after it; zero: all
	// history up to the as-of date.
	PaymentsFrom domain.Date
}

// Default aging and provision policy.
var (
	defaultAgingBoundsDays = []int{0, 30, 60, 90, 120}
	defaultProvisionBP     = []int64{0, 500, 1000, 2500, 5000, 10_000}
)

func (cfg Config) resolve(asOf domain.Date) (Config, error) {
	if len(cfg.AgingBoundsDays) == 0 {
		cfg.AgingBoundsDays = defaultAgingBoundsDays
	}
	if len(cfg.ProvisionBP) == 0 && slices.Equal(cfg.AgingBoundsDays, defaultAgingBoundsDays) {
		cfg.ProvisionBP = defaultProvisionBP
	}
	b := cfg.AgingBoundsDays
	if b[0] != 0 {
		return cfg, fmt.Errorf("ledger: aging bounds %v: the first must be 0 (not due)", b)
	}
	for i := 1; i < len(b); i++ {
		if b[i] <= b[i-1] {
			return cfg, fmt.Errorf("ledger: aging bounds %v must increase", b)
		}
	}
	if len(cfg.ProvisionBP) != len(b)+1 {
		return cfg, fmt.Errorf("ledger: %d provision rates for %d aging buckets", len(cfg.ProvisionBP), len(b)+1)
	}
	for _, p := range cfg.ProvisionBP {
		if p < 0 || p > 10_000 {
			return cfg, fmt.Errorf("ledger: provision rate %d bp outside 0..10000", p)
		}
	}
	if cfg.Period.Start.IsZero() || cfg.Period.End.IsZero() {
		cfg.Period = DefaultPeriod(asOf)
	}
	if cfg.Period.End.Before(cfg.Period.Start) {
		return cfg, fmt.Errorf("ledger: period %s..%s ends before it starts", cfg.Period.Start, cfg.Period.End)
	}
	return cfg, nil
}

// bucketOf returns the aging bucket of a number of days past due.
func bucketOf(bounds []int, dpd int) int {
	for i, b := range bounds {
		if dpd <= b {
			return i
		}
	}
	return len(bounds)
}

// bucketLabels names the buckets: "not_due", "1-30", ..., "over_120".
func bucketLabels(bounds []int) []string {
	out := make([]string, 0, len(bounds)+1)
	out = append(out, "not_due")
	for i := 1; i < len(bounds); i++ {
		out = append(out, strconv.Itoa(bounds[i-1]+1)+"-"+strconv.Itoa(bounds[i]))
	}
	return append(out, "over_"+strconv.Itoa(bounds[len(bounds)-1]))
}

// sums are the additive figures of a set of customers in one currency. Everything a ratio
// needs is here, so groups add sums and only then divide (a ratio of sums, never a mean of
// ratios), and a multi-currency group converts sums before dividing.
type sums struct {
	customers     int
	limit         int64
	unallocated   int64
	standing      int64
	exposurePos   int64 // Σ max(exposure, 0) over customers
	insured       int64
	openItems     int
	overdueItems  int
	buckets       []int64 // aging, the open invoice total by days past due (Σ = open invoices)
	bucketItems   []int
	arOpening     int64   // AR at the day before the period starts (CEI)
	sales         int64   // credit sales in the period
	months        []int64 // credit sales per countback window, newest first
	settled       int64   // cash settled (days to pay, DBT)
	settledItems  int
	dtp, dbt      wide    // Σ settled amount × days
	provisionBase []int64 // aging of the customers provisioned by bucket
	provisionFull int64   // open invoices of customers provisioned at 100 %
	fullCustomers int
}

func newSums(nBuckets int) sums {
	return sums{
		buckets: make([]int64, nBuckets), bucketItems: make([]int, nBuckets),
		provisionBase: make([]int64, nBuckets), months: make([]int64, countbackMonthsMax),
	}
}

func (s *sums) openInvoices() int64 {
	var t int64
	for _, b := range s.buckets {
		t += b
	}
	return t
}

func (s *sums) add(o *sums) {
	s.customers += o.customers
	s.limit += o.limit
	s.unallocated += o.unallocated
	s.standing += o.standing
	s.exposurePos += o.exposurePos
	s.insured += o.insured
	s.openItems += o.openItems
	s.overdueItems += o.overdueItems
	for i := range s.buckets {
		s.buckets[i] += o.buckets[i]
		s.bucketItems[i] += o.bucketItems[i]
		s.provisionBase[i] += o.provisionBase[i]
	}
	s.arOpening += o.arOpening
	s.sales += o.sales
	for i := range s.months {
		s.months[i] += o.months[i]
	}
	s.settled += o.settled
	s.settledItems += o.settledItems
	s.dtp.add(o.dtp)
	s.dbt.add(o.dbt)
	s.provisionFull += o.provisionFull
	s.fullCustomers += o.fullCustomers
}

// convert returns s in the reporting currency: each amount is converted once, half-up; the
// open invoice total stays the sum of its buckets.
func (s *sums) convert(cn conversion) sums {
	out := newSums(len(s.buckets))
	cv := cn.apply
	out.customers = s.customers
	out.limit = cv(s.limit)
	out.unallocated = cv(s.unallocated)
	out.standing = cv(s.standing)
	out.exposurePos = cv(s.exposurePos)
	out.insured = min(cv(s.insured), out.exposurePos)
	out.openItems, out.overdueItems = s.openItems, s.overdueItems
	for i := range s.buckets {
		out.buckets[i] = cv(s.buckets[i])
		out.bucketItems[i] = s.bucketItems[i]
		out.provisionBase[i] = cv(s.provisionBase[i])
	}
	out.arOpening = cv(s.arOpening)
	out.sales = cv(s.sales)
	for i := range s.months {
		out.months[i] = cv(s.months[i])
	}
	out.settled = cv(s.settled)
	out.settledItems = s.settledItems
	out.dtp = cn.applyWide(s.dtp)
	out.dbt = cn.applyWide(s.dbt)
	out.provisionFull = cv(s.provisionFull)
	out.fullCustomers = s.fullCustomers
	return out
}

// scheduleLine is an amount due on a date: an invoice's open amount on its due date, or an
// instalment of a payment plan.
type scheduleLine struct {
	amount int64
	due    domain.Date
	inv    int32 // the invoice (first invoice of a plan for plan lines)
	plan   int32 // 1 + plan index, 0 for an invoice line
}

// schedule returns what a customer owes, line by line: open invoices on their due dates,
// and the invoices under a payment plan through the plan's remaining instalments (design
// §Events, PaymentPlanAgreed: "instalments replacing the original due date"). Written-off
// and settled invoices have no line. Σ amounts = the customer's open invoice total.
func (m *Model) schedule(c *customer, buf []scheduleLine) []scheduleLine {
	buf = buf[:0]
	var planOpen map[int32]int64
	var planFirst map[int32]int32
	for _, ii := range c.invoices {
		v := m.invoices.at(ii)
		if v.open == 0 {
			continue
		}
		if v.plan == 0 {
			buf = append(buf, scheduleLine{amount: v.open, due: v.due, inv: ii})
			continue
		}
		if planOpen == nil {
			planOpen, planFirst = make(map[int32]int64), make(map[int32]int32)
		}
		if _, ok := planFirst[v.plan]; !ok {
			planFirst[v.plan] = ii
		}
		planOpen[v.plan] += v.open
	}
	if planOpen == nil {
		return buf
	}
	keys := make([]int32, 0, len(planOpen))
	for k := range planOpen {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		buf = m.planLines(k, planOpen[k], planFirst[k], buf)
	}
	return buf
}

// planLines appends the remaining instalments of plan k whose invoices have open amount
// open now. What was paid since the agreement settles the earliest instalments first; if
// the instalments and the open amount differ (a later credit note, a reversal), the
// difference is taken from, or added to, the last instalments, so the lines sum to open.
func (m *Model) planLines(k int32, open int64, first int32, buf []scheduleLine) []scheduleLine {
	p := &m.plans[k-1]
	paid := max(p.openAtAgreement-open, 0)
	start := len(buf)
	for _, in := range p.instalments {
		a := in.amount
		if paid >= a {
			paid -= a
			continue
		}
		a -= paid
		paid = 0
		buf = append(buf, scheduleLine{amount: a, due: in.due, inv: first, plan: k})
	}
	var sum int64
	for _, l := range buf[start:] {
		sum += l.amount
	}
	switch {
	case sum < open:
		if len(buf) == start {
			last := p.instalments[len(p.instalments)-1]
			buf = append(buf, scheduleLine{amount: 0, due: last.due, inv: first, plan: k})
		}
		buf[len(buf)-1].amount += open - sum
	case sum > open:
		excess := sum - open
		for i := len(buf) - 1; i >= start && excess > 0; i-- {
			t := min(excess, buf[i].amount)
			buf[i].amount -= t
			excess -= t
		}
		buf = slices.DeleteFunc(buf[:len(buf):len(buf)], func(l scheduleLine) bool { return l.amount == 0 && l.plan == k })
	}
	return buf
}

// openAt returns the open amount of invoice v at the end of day d from its dated history
// (0 before it is issued). It is how AR at an earlier date is computed (CEI opening AR).
func (v *invoice) openAt(d domain.Date) int64 {
	if v.issue.After(d) {
		return 0
	}
	o := v.amount
	for _, en := range v.entries {
		if !en.on.After(d) {
			o -= en.amount
		}
	}
	return o
}

// fullProvision reports whether a customer is provisioned at 100 % (design §Metrics,
// provision suggestion: "100 % for a disputed or insolvent customer"): it has an open
// disputed invoice, or a write-off has recognised a loss on it.
func (m *Model) fullProvision(c *customer) bool {
	if c.writeOffs > 0 {
		return true
	}
	for _, ii := range c.invoices {
		if v := m.invoices.at(ii); v.disputed() && v.open > 0 {
			return true
		}
	}
	return false
}

// exposure is design §Metrics, exposure (encours): open invoice amounts − unallocated cash −
// open credit notes.
func (c *customer) exposure() int64 { return c.openInvoices - c.unallocated - c.standingCredit }

// customerSums computes the additive figures of one customer at asOf.
func (m *Model) customerSums(c *customer, asOf domain.Date, cfg Config, lines []scheduleLine) (sums, []scheduleLine) {
	bounds := cfg.AgingBoundsDays
	s := newSums(len(bounds) + 1)
	s.customers = 1
	s.limit = c.limit
	s.unallocated = c.unallocated
	s.standing = c.standingCredit
	exp := c.exposure()
	s.exposurePos = max(exp, 0)
	// Insured exposure: the part of the (positive) exposure the insurer covers.
	s.insured = min(s.exposurePos, max(c.covered, 0))

	// Aging: design §Metrics, "open amounts by days past due at the as-of date".
	lines = m.schedule(c, lines)
	for _, l := range lines {
		b := bucketOf(bounds, l.due.DaysUntil(asOf))
		s.buckets[b] += l.amount
		s.bucketItems[b]++
	}
	for _, ii := range c.invoices {
		if v := m.invoices.at(ii); v.open > 0 {
			s.openItems++
			if m.lineDue(v).Before(asOf) {
				s.overdueItems++
			}
		}
	}
	invariant(s.openInvoices() == c.openInvoices, "customer %s: aging sums to %d, open invoices %d", c.id, s.openInvoices(), c.openInvoices)

	// Provision suggestion: design §Metrics.
	if m.fullProvision(c) {
		s.provisionFull = c.openInvoices
		s.fullCustomers = 1
	} else {
		copy(s.provisionBase, s.buckets)
	}

	// Credit sales (design §Metrics, DSO period method: "invoices issued in the period minus
	// credit notes issued in it"), the opening AR of CEI, and the countback windows.
	p := cfg.Period
	dayBefore := p.Start.AddDays(-1)
	windows := countbackWindows(p.End)
	for _, ii := range c.invoices {
		v := m.invoices.at(ii)
		if inPeriod(v.issue, p) {
			s.sales += v.amount
		}
		s.arOpening += v.openAt(dayBefore)
		if w := windows.index(v.issue); w >= 0 {
			s.months[w] += v.amount
		}
		// Days to pay and DBT: design §Metrics, "payment date − issue date" and "payment
		// date − due date", amount-weighted; only cash of payments not reversed counts.
		for _, en := range v.entries {
			if en.kind != entryCash || m.payments.at(en.src).reversed() || en.paidOn.After(asOf) ||
				(!cfg.PaymentsFrom.IsZero() && en.paidOn.Before(cfg.PaymentsFrom)) {
				continue
			}
			s.settled += en.amount
			s.settledItems++
			s.dtp.addMul(en.amount, int64(v.issue.DaysUntil(en.paidOn)))
			s.dbt.addMul(en.amount, int64(v.due.DaysUntil(en.paidOn)))
		}
	}
	for _, ni := range c.creditNotes {
		n := m.creditNotes.at(ni)
		if inPeriod(n.issue, p) {
			s.sales -= n.amount
		}
		if w := windows.index(n.issue); w >= 0 {
			s.months[w] -= n.amount
		}
	}
	return s, lines
}

// lineDue is the date an open invoice counts as due: its own due date, or the earliest
// remaining instalment of its plan.
func (m *Model) lineDue(v *invoice) domain.Date {
	if v.plan == 0 {
		return v.due
	}
	p := &m.plans[v.plan-1]
	var open int64
	c := m.customers.at(v.cust)
	for _, ii := range c.invoices {
		if w := m.invoices.at(ii); w.plan == v.plan {
			open += w.open
		}
	}
	lines := m.planLines(v.plan, open, 0, nil)
	if len(lines) == 0 {
		return p.instalments[len(p.instalments)-1].due
	}
	return lines[0].due
}

func inPeriod(d domain.Date, p Period) bool { return !d.Before(p.Start) && !d.After(p.End) }

// windows are the countback windows, newest first: the (possibly partial) calendar month
// ending at the end date, then whole calendar months before it.
type windows struct {
	end   domain.Date
	first domain.Date // start of the oldest window
}

func countbackWindows(end domain.Date) windows {
	return windows{end: end, first: end.StartOfMonth().AddMonths(-(countbackMonthsMax - 1))}
}

func (w windows) index(d domain.Date) int {
	if d.After(w.end) || d.Before(w.first) {
		return -1
	}
	ey, em, _ := w.end.Civil()
	y, mm, _ := d.Civil()
	return (ey*12 + int(em)) - (y*12 + int(mm))
}

// window returns the dates of window i.
func (w windows) window(i int) Period {
	start := w.end.StartOfMonth().AddMonths(-i)
	if i == 0 {
		return Period{Start: start, End: w.end}
	}
	return Period{Start: start, End: start.EndOfMonth()}
}

// countback is design §Metrics, DSO countback: "walk back month by month from the end date,
// subtracting each month's sales from the ending AR; full months count their days, the last
// partial month its pro-rata share". A month whose sales are covered by the remaining AR
// counts all its days (the first window, ending at the end date, counts the days it has); the
// month that exhausts the AR counts days × remaining AR / its sales, half-up, in hundredths
// of a day. A month with no (or negative) net sales cannot absorb AR and counts whole.
func countback(ar int64, months []int64, end domain.Date) (centidays int64, capped bool) {
	if ar <= 0 {
		return 0, false
	}
	w := countbackWindows(end)
	left := ar
	for i := range countbackMonthsMax {
		days := int64(w.window(i).Days())
		sales := months[i]
		if sales > 0 && left <= sales {
			part, ok := ratio(left, days*100, sales)
			invariant(ok, "countback ratio")
			return centidays + part, false
		}
		centidays += days * 100
		if sales > 0 {
			left -= sales
		}
	}
	return centidays, true
}

// Money in minor units of one currency; the JSON form of design §API v1.
func money(v int64, ccy domain.Currency) domain.Money { return domain.Money{Minor: v, Ccy: ccy} }

// AgingBucket is one aging bucket at the as-of date. Days bounds are inclusive; nil means
// unbounded.
type AgingBucket struct {
	Label          string       `json:"label"`
	MinDaysPastDue *int         `json:"min_days_past_due"`
	MaxDaysPastDue *int         `json:"max_days_past_due"`
	Amount         domain.Money `json:"amount"`
	Items          int          `json:"items"` // schedule lines: open invoices, or plan instalments
}

// DSOFigures are the DSO family over a period (design §Metrics). Durations are in hundredths
// of a day (1234 is 12.34 days), rounded half-up; nil when credit sales are not positive.
type DSOFigures struct {
	PeriodStart           domain.Date  `json:"period_start"`
	PeriodEnd             domain.Date  `json:"period_end"`
	PeriodDays            int          `json:"period_days"`
	ARClosing             domain.Money `json:"ar_closing"` // open invoices at the period end
	ARCurrent             domain.Money `json:"ar_current"` // of which not past due
	CreditSales           domain.Money `json:"credit_sales"`
	PeriodCentidays       *int64       `json:"dso_period_centidays"`
	CountbackCentidays    *int64       `json:"dso_countback_centidays"`
	CountbackCapped       bool         `json:"dso_countback_capped"`
	BestPossibleCentidays *int64       `json:"bpdso_centidays"`
	ADDCentidays          *int64       `json:"add_centidays"`
}

// CEIFigures is the collection effectiveness index over a period (design §Metrics), in basis
// points of a percent-scale ratio: 8523 is 85.23 %.
type CEIFigures struct {
	PeriodStart      domain.Date  `json:"period_start"`
	PeriodEnd        domain.Date  `json:"period_end"`
	OpeningAR        domain.Money `json:"opening_ar"`
	CreditSales      domain.Money `json:"credit_sales"`
	ClosingAR        domain.Money `json:"closing_ar"`
	ClosingCurrentAR domain.Money `json:"closing_current_ar"`
	CEIBP            *int64       `json:"cei_bp"`
}

// PaymentFigures are days to pay and days beyond terms, amount-weighted over cash settled up
// to the as-of date (design §Metrics), in hundredths of a day; nil when nothing was paid.
type PaymentFigures struct {
	SettledAmount      domain.Money `json:"settled_amount"`
	Settlements        int          `json:"settlements"`
	DaysToPayCentidays *int64       `json:"days_to_pay_centidays"`
	DBTCentidays       *int64       `json:"dbt_centidays"`
}

// ProvisionBucket is the suggested provision of one aging bucket.
type ProvisionBucket struct {
	Label  string       `json:"label"`
	RateBP int64        `json:"rate_bp"`
	Base   domain.Money `json:"base"`
	Amount domain.Money `json:"amount"`
}

// ProvisionFigures is the provision suggestion (design §Metrics): a rate per aging bucket,
// or 100 % of the open invoices of a disputed or written-off customer.
type ProvisionFigures struct {
	Buckets       []ProvisionBucket `json:"buckets"`
	FullBase      domain.Money      `json:"full_base"`
	FullCustomers int               `json:"full_provision_customers"`
	Total         domain.Money      `json:"total"`
}

// Figures are the figures of one scope at an as-of date. Amounts are in Currency: the
// customers' own currency when they share one, otherwise the reporting currency at the rate
// in force at the as-of date, with the native figures in PerCurrency.
type Figures struct {
	Dimension         string           `json:"dimension"`
	Key               string           `json:"key"`
	AsOf              domain.Date      `json:"as_of"`
	Currency          domain.Currency  `json:"currency"`
	RateE9            int64            `json:"rate_e9,omitempty"` // per-currency entries: the rate to the reporting currency
	Customers         int              `json:"customers"`
	OpenInvoices      domain.Money     `json:"open_invoices"`
	UnallocatedCash   domain.Money     `json:"unallocated_cash"`
	OpenCreditNotes   domain.Money     `json:"open_credit_notes"`
	Exposure          domain.Money     `json:"exposure"`
	CreditLimit       domain.Money     `json:"credit_limit"`
	UtilisationBP     *int64           `json:"utilisation_bp"`
	InsuredExposure   domain.Money     `json:"insured_exposure"`
	UninsuredExposure domain.Money     `json:"uninsured_exposure"`
	OpenItems         int              `json:"open_items"`
	OverdueItems      int              `json:"overdue_items"`
	Overdue           domain.Money     `json:"overdue"`
	Aging             []AgingBucket    `json:"aging"`
	DSO               DSOFigures       `json:"dso"`
	CEI               CEIFigures       `json:"cei"`
	Payments          PaymentFigures   `json:"payments"`
	Provision         ProvisionFigures `json:"provision"`
	PerCurrency       []Figures        `json:"per_currency,omitempty"`
}

// finish turns sums into Figures: the ratios are computed here, once, on the sums.
func (s *sums) finish(ccy domain.Currency, asOf domain.Date, cfg Config) Figures {
	bounds := cfg.AgingBoundsDays
	labels := bucketLabels(bounds)
	open := s.openInvoices()
	exposure := open - s.unallocated - s.standing
	f := Figures{
		AsOf: asOf, Currency: ccy, Customers: s.customers,
		OpenInvoices:    money(open, ccy),
		UnallocatedCash: money(s.unallocated, ccy),
		OpenCreditNotes: money(s.standing, ccy),
		Exposure:        money(exposure, ccy),
		CreditLimit:     money(s.limit, ccy),
		InsuredExposure: money(s.insured, ccy),
		// Uninsured: the positive exposure the insurer does not cover.
		UninsuredExposure: money(s.exposurePos-s.insured, ccy),
		OpenItems:         s.openItems,
		OverdueItems:      s.overdueItems,
	}
	// Utilisation = exposure / credit limit (design §Metrics), in basis points; nil when
	// there is no limit to divide by (a zero limit means "extend no more credit").
	if s.limit > 0 {
		f.UtilisationBP = optRatio(exposure, 10_000, s.limit)
	}
	var overdue int64
	for i, b := range s.buckets {
		ab := AgingBucket{Label: labels[i], Amount: money(b, ccy), Items: s.bucketItems[i]}
		if i == 0 {
			ab.MaxDaysPastDue = ptr(0)
		} else {
			ab.MinDaysPastDue = ptr(bounds[i-1] + 1)
			if i < len(bounds) {
				ab.MaxDaysPastDue = ptr(bounds[i])
			}
			overdue += b
		}
		f.Aging = append(f.Aging, ab)
	}
	f.Overdue = money(overdue, ccy)
	current := s.buckets[0]

	p := cfg.Period
	days := int64(p.Days())
	f.DSO = DSOFigures{
		PeriodStart: p.Start, PeriodEnd: p.End, PeriodDays: int(days),
		ARClosing: money(open, ccy), ARCurrent: money(current, ccy), CreditSales: money(s.sales, ccy),
	}
	if s.sales > 0 {
		// DSO, period method: AR at period end / credit sales × days (design §Metrics).
		f.DSO.PeriodCentidays = optRatio(open, days*100, s.sales)
		// Best possible DSO: current AR / credit sales × days; ADD = DSO − BPDSO.
		f.DSO.BestPossibleCentidays = optRatio(current, days*100, s.sales)
		if f.DSO.PeriodCentidays != nil && f.DSO.BestPossibleCentidays != nil {
			f.DSO.ADDCentidays = ptr(*f.DSO.PeriodCentidays - *f.DSO.BestPossibleCentidays)
		}
	}
	cb, capped := countback(open, s.months, p.End)
	f.DSO.CountbackCentidays, f.DSO.CountbackCapped = ptr(cb), capped

	// CEI: (opening AR + credit sales − closing total AR) / (opening AR + credit sales −
	// closing current AR) × 100 (design §Metrics); here × 10 000, in basis points.
	f.CEI = CEIFigures{
		PeriodStart: p.Start, PeriodEnd: p.End,
		OpeningAR: money(s.arOpening, ccy), CreditSales: money(s.sales, ccy),
		ClosingAR: money(open, ccy), ClosingCurrentAR: money(current, ccy),
	}
	if den := s.arOpening + s.sales - current; den != 0 {
		f.CEI.CEIBP = optRatio(s.arOpening+s.sales-open, 10_000, den)
	}

	f.Payments = PaymentFigures{SettledAmount: money(s.settled, ccy), Settlements: s.settledItems}
	if s.settled > 0 {
		f.Payments.DaysToPayCentidays = optWideRatio(s.dtp, 100, s.settled)
		f.Payments.DBTCentidays = optWideRatio(s.dbt, 100, s.settled)
	}

	total := s.provisionFull
	for i, base := range s.provisionBase {
		a, ok := ratio(base, cfg.ProvisionBP[i], 10_000)
		invariant(ok, "provision ratio")
		f.Provision.Buckets = append(f.Provision.Buckets, ProvisionBucket{
			Label: labels[i], RateBP: cfg.ProvisionBP[i], Base: money(base, ccy), Amount: money(a, ccy),
		})
		total += a
	}
	f.Provision.FullBase = money(s.provisionFull, ccy)
	f.Provision.FullCustomers = s.fullCustomers
	f.Provision.Total = money(total, ccy)
	return f
}

func optRatio(a, scale, b int64) *int64 {
	if v, ok := ratio(a, scale, b); ok {
		return &v
	}
	return nil
}

func optWideRatio(w wide, scale, b int64) *int64 {
	if v, ok := divRound(w.big(), scale, b); ok {
		return &v
	}
	return nil
}

// RateAt returns the rate × 1e9 from ccy to the reporting currency in force at asOf: the
// latest ExchangeRatesPublished on or before asOf (design §Events: "portfolio totals use the
// rate of the as-of date"). The reporting currency itself is 1e9.
func (m *Model) RateAt(ccy domain.Currency, asOf domain.Date) (e9 int64, reporting domain.Currency, ok bool) {
	if ccy == m.reporting && ccy != "" {
		return rateScale, m.reporting, true
	}
	pts := m.rates[ccy]
	i, _ := slices.BinarySearchFunc(pts, asOf, func(p ratePoint, d domain.Date) int {
		switch {
		case p.on.Before(d):
			return -1
		case p.on.After(d):
			return 1
		}
		return 0
	})
	if i < len(pts) && pts[i].on.Equal(asOf) {
		return pts[i].e9, m.reporting, true
	}
	if i == 0 {
		return 0, m.reporting, false
	}
	return pts[i-1].e9, m.reporting, true
}

// conversion converts minor units of one currency into minor units of the reporting
// currency: × e9 / 1e9 for the rate, and × 10^(reporting decimals − source decimals) for the
// minor units (100 000 JPY at 0.0061 is 610 EUR, 61 000 cents).
type conversion struct {
	e9       int64
	num, den int64
}

func (m *Model) conversionAt(ccy domain.Currency, asOf domain.Date) (conversion, error) {
	e9, rep, ok := m.RateAt(ccy, asOf)
	if !ok {
		return conversion{}, fmt.Errorf("ledger: %s to %q at %s: %w", ccy, m.reporting, asOf, ErrMissingRate)
	}
	cn := conversion{e9: e9, num: e9, den: rateScale}
	for range max(rep.MinorUnits()-ccy.MinorUnits(), 0) {
		cn.num *= 10
	}
	for range max(ccy.MinorUnits()-rep.MinorUnits(), 0) {
		cn.den *= 10
	}
	return cn, nil
}

func (cn conversion) apply(v int64) int64 {
	r, err := domain.MulDiv(v, cn.num, cn.den, domain.RoundHalfUp)
	invariant(err == nil, "conversion of %d at %d/%d overflows", v, cn.num, cn.den)
	return r
}

func (cn conversion) applyWide(w wide) wide {
	n := new(big.Int).Mul(w.big(), big.NewInt(cn.num))
	d := big.NewInt(cn.den)
	neg := n.Sign() < 0
	n.Abs(n)
	q, r := new(big.Int).QuoRem(n, d, new(big.Int))
	if r.Lsh(r, 1).Cmp(d) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if neg {
		q.Neg(q)
	}
	return wideOf(q)
}

// ReportingCurrency returns the currency of the exchange rates, "" before any was published.
func (m *Model) ReportingCurrency() domain.Currency { return m.reporting }

// ComputeFigures returns the figures of scope s at asOf. The model should hold what was known
// at asOf: the live model for today, or Replay(…, asOf, knownAt) for another date.
func ComputeFigures(m *Model, s Scope, asOf domain.Date, cfg Config) (Figures, error) {
	keep := func(c *customer) bool { return s.has(c) }
	if s.By == ByCustomer {
		ci, ok := m.customerIndex[domain.CustomerID(s.Key)]
		if !ok {
			return Figures{}, fmt.Errorf("ledger: customer %q: %w", s.Key, ErrUnknownCustomer)
		}
		one := m.customers.at(ci)
		keep = func(c *customer) bool { return c == one }
	}
	out, err := m.figures(s.By, keep, asOf, cfg)
	if err != nil {
		return Figures{}, err
	}
	if len(out) == 0 { // an empty group: zero figures
		cfg, _ = cfg.resolve(asOf)
		f, err := m.combine(nil, asOf, cfg)
		f.Dimension, f.Key = s.By.String(), s.Key
		return f, err
	}
	return out[0], nil
}

// GroupFigures returns the figures of every group of dimension by (one per customer,
// segment, sector, country or currency; one for the portfolio), sorted by key, in one pass.
func GroupFigures(m *Model, by Dimension, asOf domain.Date, cfg Config) ([]Figures, error) {
	return m.figures(by, func(*customer) bool { return true }, asOf, cfg)
}

func (m *Model) figures(by Dimension, keep func(*customer) bool, asOf domain.Date, cfg Config) ([]Figures, error) {
	cfg, err := cfg.resolve(asOf)
	if err != nil {
		return nil, err
	}
	groups := make(map[string]map[domain.Currency]*sums)
	var lines []scheduleLine
	for ci := range int32(m.customers.len()) {
		c := m.customers.at(ci)
		if !keep(c) {
			continue
		}
		var cs sums
		cs, lines = m.customerSums(c, asOf, cfg, lines)
		key := c.key(by)
		g := groups[key]
		if g == nil {
			g = make(map[domain.Currency]*sums)
			groups[key] = g
		}
		if t, ok := g[c.currency]; ok {
			t.add(&cs)
		} else {
			g[c.currency] = &cs
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]Figures, 0, len(keys))
	for _, k := range keys {
		f, err := m.combine(groups[k], asOf, cfg)
		if err != nil {
			return nil, fmt.Errorf("ledger: %s %q: %w", by, k, err)
		}
		f.Dimension, f.Key = by.String(), k
		out = append(out, f)
	}
	return out, nil
}

// combine finishes per-currency sums: one currency is shown as is; several are converted to
// the reporting currency at asOf and added, and each is kept in PerCurrency.
func (m *Model) combine(perCcy map[domain.Currency]*sums, asOf domain.Date, cfg Config) (Figures, error) {
	ccys := make([]domain.Currency, 0, len(perCcy))
	for k := range perCcy {
		ccys = append(ccys, k)
	}
	slices.Sort(ccys)
	switch len(ccys) {
	case 0:
		s := newSums(len(cfg.AgingBoundsDays) + 1)
		return s.finish(m.reporting, asOf, cfg), nil
	case 1:
		return perCcy[ccys[0]].finish(ccys[0], asOf, cfg), nil
	}
	total := newSums(len(cfg.AgingBoundsDays) + 1)
	var per []Figures
	for _, ccy := range ccys {
		cn, err := m.conversionAt(ccy, asOf)
		if err != nil {
			return Figures{}, err
		}
		conv := perCcy[ccy].convert(cn)
		total.add(&conv)
		pf := perCcy[ccy].finish(ccy, asOf, cfg)
		pf.Dimension, pf.Key, pf.RateE9 = ByCurrency.String(), string(ccy), cn.e9
		per = append(per, pf)
	}
	f := total.finish(m.reporting, asOf, cfg)
	f.PerCurrency = per
	return f, nil
}
