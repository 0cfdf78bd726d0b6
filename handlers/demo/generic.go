package demo

import (
	"math"
	"math/rand/v2"
	"strconv"

	"github.com/encours/encours/domain"
)

// generator holds one run: the queue of scheduled entries and the generated customers'
// state. Named customers are scripted up front (named.go) and only sit in the queue.
type generator struct {
	cfg        Config
	start, end domain.Date
	q          queue
	named      []*script
	customers  []customer
	idWidth    int
	stats      genStats
}

// customer is a generated customer (C0001…): its parameters, drawn once, its random
// source, and its counters. Its story is produced lazily, invoice by invoice, as the queue
// reaches each invoice's issue date.
type customer struct {
	id      domain.CustomerID
	idx     int32 // position in the portfolio (named customers first)
	seq     uint32
	pcg     rand.PCG
	rng     *rand.Rand
	ccy     domain.Currency
	terms   domain.Terms
	segment string
	profile payerProfile
	// typicalMinor is the amount of an invoice of the IBM mean (59.90): invoice amounts are
	// IBM draws scaled by typicalMinor / 59.90.
	typicalMinor int64
	limitMinor   int64
	limitStep    int64
	registeredOn domain.Date
	insured      bool
	// clockDays is the continuous time (days since 1970) of the last invoice of the
	// customer's invoicing process (a Poisson process thinned by season and weekends).
	clockDays float64
	// driftFrom is when the customer starts paying later and later (zero: never), by
	// driftTenthsPerMonth per month of invoice issue date after it.
	driftFrom           domain.Date
	driftTenthsPerMonth int32
	// silentFrom is when the customer stops paying (zero: never).
	silentFrom domain.Date

	invoices, payments, creditNotes, promises int
}

// Behaviour rates of the generated customers. The IBM sample has neither of these (every
// invoice in it is settled in one go), so they are the demo's choices, kept low enough that
// the calibrated figures stay within the tolerances of the calibration test.
const (
	partialPerMille  = 40  // invoices paid in two goes (first 30–70 %)
	reversalPerMille = 3   // payments that bounce and are paid again 1–4 weeks later
	promisePercent   = 15  // of invoices reaching the first reminder, a promise is recorded
	brokenPercent    = 25  // of promises, broken (paid 5–25 days after the promised date)
	driftPerMille    = 20  // customers who drift (need 300 days of history)
	silentPerMille   = 5   // customers who stop paying (idem)
	latePercent      = 15  // customers who join after the start of the history
	reviewUpPercent  = 20  // yearly reviews raising the limit 10–25 %
	reviewCutPercent = 5   // yearly reviews cutting it 10–25 %
	thinningTriesMax = 400 // candidate days per invoice; at the lowest rate, 400 tries are ~20 years

	// limitTimesExposureTenths and limitInvoicesMin size a new customer's credit limit: with
	// them, about one customer in ten is above 80 % of its limit at any time and a few
	// above 100 % (TestPortfolioHasEveryFeature logs the figures), which keeps limit alerts
	// meaningful rather than everywhere.
	limitTimesExposureTenths = 20
	limitInvoicesMin         = 3
)

// reminderOffsetsDays are the dunning steps after the due date, and their channels (the
// usual French sequence: e-mail, phone, letter, then formal notice).
var (
	reminderOffsetsDays = [4]int{7, 21, 35, 60}
	reminderChannels    = [4]string{"email", "phone", "letter", "formal_notice"}
)

func newGenerator(cfg Config) *generator {
	g := &generator{cfg: cfg, start: cfg.start(), end: cfg.End}
	g.idWidth = max(4, len(strconv.Itoa(cfg.Customers)))
	g.named = namedScripts(g.start, g.end)
	for i := range g.named {
		g.pushNamed(int32(i))
	}
	g.customers = make([]customer, cfg.Customers) // never reallocated: rng points into it
	for i := range g.customers {
		c := &g.customers[i]
		c.idx = int32(len(g.named) + i)
		// Independent, well-mixed streams per customer: PCG's first outputs for nearby seeds
		// are correlated, so both halves of its seed go through splitmix64 first.
		c.pcg = *rand.NewPCG(splitmix64(cfg.Seed^splitmix64(uint64(i))), splitmix64(uint64(i)+0x632BE59BD9B4E019))
		c.rng = rand.New(&c.pcg)
		reg := g.drawCustomer(c, i+1)
		g.push(c, c.registeredOn, hookRegister, reg)
	}
	return g
}

// pushNamed schedules the next command of the named customer i, if any. One entry per
// named customer sits in the queue at a time, the script being in date order already.
func (g *generator) pushNamed(i int32) {
	s := g.named[i]
	if s.next >= len(s.entries) {
		return
	}
	e := s.entries[s.next]
	g.q.push(entry{day: e.on.Days(), cust: i, seq: uint32(s.next), cmd: e.cmd})
	s.next++
}

// push schedules an entry of c; entries after End are dropped (they happen after the demo).
func (g *generator) push(c *customer, on domain.Date, h hook, cmd domain.Command) {
	if on.After(g.end) {
		return
	}
	assertf(!on.Before(g.start), "customer %s: entry on %s before the history starts on %s", c.id, on, g.start)
	c.seq++
	g.q.push(entry{day: on.Days(), cust: c.idx, seq: c.seq, hook: h, cmd: cmd})
}

func (c *customer) money(minor int64) domain.Money { return domain.Money{Minor: minor, Ccy: c.ccy} }

// drawCustomer draws the customer's parameters and returns its registration.
func (g *generator) drawCustomer(c *customer, n int) domain.RegisterCustomer {
	r := c.rng
	c.id = domain.CustomerID(customerID(n, g.idWidth))
	c.segment = pickWeighted(r, segments[:]).name
	country := pickCountry(r, c.segment)
	c.ccy = country.ccy
	sector := pickSector(r, c.segment)
	c.terms = pickTerms(r, c.segment, country.code, sector.code)
	c.profile = ibmPayerProfiles[r.IntN(len(ibmPayerProfiles))]
	sizes := typicalInvoiceEUR[c.segment]
	c.typicalMinor = sizes[r.IntN(len(sizes))] * 100

	// Registration: most at the start of the history, some later (portfolio growth), never
	// in the last four months so that every customer has a story.
	total := g.start.DaysUntil(g.end)
	if r.IntN(100) < latePercent && total > 240 {
		c.registeredOn = nextBusinessDay(g.start.AddDays(15 + r.IntN(total-135)))
	} else {
		c.registeredOn = nextBusinessDay(g.start.AddDays(r.IntN(15)))
	}
	c.clockDays = float64(c.registeredOn.Days())

	// Credit limit consistent with volume: the exposure a customer carries is about a
	// month's invoicing times (days open / 30.4), days open = terms + its own late days +
	// ten days of slack; the limit is twice that, and at least three typical invoices
	// (invoices come one at a time: a customer with one a month often has three open),
	// rounded up to a round figure.
	monthlyMinor := mulDiv(c.typicalMinor, int64(c.profile.invoicesPerMonthMilli), 1000)
	daysOpen := int64(c.registeredOn.DaysUntil(c.terms.DueDate(c.registeredOn))) + int64(max(c.profile.dbtMeanTenths, 0)/10) + 10
	c.limitStep = 1_000_00
	if c.segment != "sme" {
		c.limitStep = 10_000_00
	}
	c.limitMinor = roundUp(max(mulDiv(monthlyMinor, daysOpen*limitTimesExposureTenths, 304), limitInvoicesMin*c.typicalMinor), c.limitStep)

	// Insurers cover private buyers; public bodies do not fail.
	switch c.segment {
	case "sme":
		c.insured = r.IntN(100) < 30
	case "corporate":
		c.insured = r.IntN(100) < 55
	}

	if g.start.DaysUntil(c.registeredOn) < total-300 {
		switch x := r.IntN(1000); {
		case x < driftPerMille:
			c.driftFrom = g.end.AddDays(-150 - r.IntN(91))
			c.driftTenthsPerMonth = int32(30 + r.IntN(31))
		case x < driftPerMille+silentPerMille:
			c.silentFrom = g.end.AddDays(-75 - r.IntN(46))
		}
	}

	return domain.RegisterCustomer{
		CustomerID: c.id, Name: customerName(r, country.code, c.segment, sector.code),
		Country: country.code, Sector: sector.code, Segment: c.segment, Currency: c.ccy,
		Terms: c.terms, CreditLimit: c.money(c.limitMinor), On: c.registeredOn,
	}
}

// splitmix64 is Steele, Lea and Flood's 64-bit finaliser (SplitMix64), the usual way to seed
// a family of generators from one seed and an index.
func splitmix64(x uint64) uint64 {
	x += 0x9E3779B97F4A7C15
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9
	x = (x ^ (x >> 27)) * 0x94D049BB133111EB
	return x ^ (x >> 31)
}

func customerID(n, width int) string {
	s := strconv.Itoa(n)
	for len(s) < width {
		s = "0" + s
	}
	return "C" + s
}

// scheduleLife runs at registration: the first invoice, the first rating, the insurance
// cover and the first yearly limit review.
func (g *generator) scheduleLife(c *customer, on domain.Date) {
	r := c.rng
	if c.insured {
		covered := roundUp(mulDiv(c.limitMinor, int64(5+r.IntN(6)), 10), c.limitStep)
		d := nextBusinessDay(on.AddDays(1 + r.IntN(20)))
		g.push(c, d, hookNone, domain.ChangeInsuranceCover{
			CustomerID: c.id, Insurer: insurers[r.IntN(len(insurers))], Covered: c.money(covered),
			DeclarationDays: 30 * (1 + r.IntN(3)), On: d,
		})
	}
	g.push(c, nextBusinessDay(on.AddDays(r.IntN(30))), hookRating, nil)
	g.push(c, nextBusinessDay(on.AddDays(365)), hookReview, nil)
	if d, ok := g.nextInvoiceDate(c); ok {
		g.push(c, d, hookInvoice, nil)
	}
}

// nextInvoiceDate advances the customer's invoicing process: a Poisson process of
// invoicesPerMonth × season(month) on business days, simulated by thinning a process at the
// peak rate (candidates on weekends, and off-peak by season, are rejected).
func (g *generator) nextInvoiceDate(c *customer) (domain.Date, bool) {
	// Per calendar day at the peak: rate × 1.20 × 7/5 (only five days in seven are kept).
	ratePerDay := float64(c.profile.invoicesPerMonthMilli) / 1000 * seasonPercentMax / 100 * 7 / 5 / 30.4375
	for range thinningTriesMax {
		c.clockDays += c.rng.ExpFloat64() / ratePerDay
		d := domain.DateFromDays(int32(math.Floor(c.clockDays)))
		if d.After(g.end) {
			return domain.Date{}, false
		}
		_, m, _ := d.Civil()
		accept := c.rng.Int32N(seasonPercentMax) < seasonPercent[m-1]
		if accept && !isWeekend(d) {
			return d, true
		}
	}
	return domain.Date{}, false
}

// drawAmountMinor draws an invoice amount: an IBM amount by inverse transform on the
// quantile table, scaled so that the IBM mean becomes the customer's typical invoice.
// Integer arithmetic only (style §6: never a float for money).
func (c *customer) drawAmountMinor() int64 {
	const resolution = 1_000_000
	pos := c.rng.Int64N(20 * resolution)
	i, frac := pos/resolution, pos%resolution
	lo, hi := ibmAmountQuantilesCents[i], ibmAmountQuantilesCents[i+1]
	ibmCents := lo*resolution + (hi-lo)*frac // in millionths of a cent
	return max(1, mulDiv(ibmCents, c.typicalMinor, ibmAmountMeanCents*resolution))
}

// issueInvoice issues the invoice due on, plans everything that will happen to it, and
// schedules the customer's next invoice.
func (g *generator) issueInvoice(c *customer, on domain.Date) domain.Command {
	c.invoices++
	n := strconv.Itoa(c.invoices)
	y, _, _ := on.Civil()
	inv := domain.IssueInvoice{
		CustomerID: c.id,
		InvoiceID:  domain.InvoiceID("INV-" + string(c.id) + "-" + n),
		Number:     "F" + strconv.Itoa(y) + "-" + string(c.id) + "-" + n,
		Amount:     c.money(c.drawAmountMinor()),
		IssueDate:  on,
		DueDate:    c.terms.DueDate(on),
	}
	g.planInvoice(c, inv)
	if d, ok := g.nextInvoiceDate(c); ok {
		g.push(c, d, hookInvoice, nil)
	}
	return inv
}

// dbtTenths draws the invoice's days beyond terms: the customer's baseline and spread, the
// dispute delay, and any drift.
func (c *customer) dbtTenths(issue domain.Date, disputed bool) float64 {
	v := float64(c.profile.dbtMeanTenths) + float64(c.profile.dbtSDTenths)*c.rng.NormFloat64()
	if disputed {
		v += ibmDisputeDelayTenths
	}
	if !c.driftFrom.IsZero() && issue.After(c.driftFrom) {
		v += float64(c.driftTenthsPerMonth) * float64(c.driftFrom.DaysUntil(issue)) / 30.4375
	}
	return v
}

// planInvoice decides the invoice's whole story at issue and schedules its commands:
// dispute, resolution and credit note; payment (possibly in two goes, possibly bounced and
// paid again); reminders while it is overdue, open and undisputed; a promise to pay, kept or
// broken. Commands of the same day are pushed in causal order.
func (g *generator) planInvoice(c *customer, inv domain.IssueInvoice) {
	r := c.rng
	issue, due, amount := inv.IssueDate, inv.DueDate, inv.Amount.Minor
	never := g.end.AddDays(1) // not by End: nothing after End is emitted
	// A customer about to go silent raises no dispute, pays nothing in part, bounces nothing
	// and promises nothing in its last months of paying: it just stops.
	silentSoon := !c.silentFrom.IsZero() && !issue.Before(c.silentFrom.AddDays(-120))

	disputed := !silentSoon && r.Int32N(1000) < c.profile.disputePerMille
	settle := due.AddDays(int(math.Round(c.dbtTenths(issue, disputed) / 10)))
	settle = nearestBusinessDay(laterOf(settle, issue))

	// Dispute: raised 1..20 days after issue, resolved up to 40 days later, before the
	// payment when there is room (the calibrated payment date already includes the delay a
	// dispute causes, ibmDisputeDelayTenths); otherwise the payment waits for the
	// resolution. Rejected (60 %): paid in full; upheld (30 %): a credit note of 5–30 %, the
	// rest paid; cancelled (10 %): a credit note for all of it.
	var disputedOn, resolvedOn domain.Date
	var creditMinor int64
	cancelled := false
	var outcome, note string
	if disputed {
		room := max(1, issue.DaysUntil(settle)-1)
		disputedOn = nextBusinessDay(issue.AddDays(1 + r.IntN(min(20, room))))
		resolvedOn = nextBusinessDay(disputedOn.AddDays(1 + r.IntN(max(1, min(40, disputedOn.DaysUntil(settle)-1)))))
		settle = laterOf(settle, resolvedOn)
		switch x := r.IntN(100); {
		case x < 60:
			outcome, note = "rejected", "delivery and price confirmed"
		case x < 90:
			outcome, note = "upheld", "partial credit granted"
			creditMinor = max(1, mulDiv(amount, int64(5+r.IntN(26)), 100))
		default:
			outcome, note = "upheld", "invoice cancelled by a credit note"
			creditMinor, cancelled = amount, true
		}
	}
	if !c.silentFrom.IsZero() && !settle.Before(c.silentFrom) {
		settle = never
	}

	// Partial payment (undisputed, at least ten days to pay): 30–70 % first, the rest on the
	// settlement date.
	var partialOn domain.Date
	var partialMinor int64
	if !disputed && !silentSoon && settle.Before(never) && r.IntN(1000) < partialPerMille && issue.DaysUntil(settle) >= 10 {
		partialOn = nextBusinessDay(issue.AddDays(3 + r.IntN(issue.DaysUntil(settle)-7)))
		partialMinor = max(1, mulDiv(amount, int64(30+r.IntN(41)), 100))
	}

	// Bounced payment: reversed 2..6 days after receipt, paid again 5..20 days later.
	var reversedOn, repaidOn domain.Date
	if !disputed && !silentSoon && partialOn.IsZero() && settle.Before(never) && r.IntN(1000) < reversalPerMille {
		reversedOn = nextBusinessDay(settle.AddDays(2 + r.IntN(5)))
		repaidOn = nextBusinessDay(reversedOn.AddDays(5 + r.IntN(16)))
	}

	// Promise to pay after the first reminder, for invoices with a plain story.
	var promisedOn, promisedFor domain.Date
	firstReminder := nextBusinessDay(due.AddDays(reminderOffsetsDays[0]))
	if !disputed && !silentSoon && partialOn.IsZero() && reversedOn.IsZero() && settle.Before(never) &&
		firstReminder.Before(settle) && r.IntN(100) < promisePercent {
		promisedOn = nextBusinessDay(firstReminder.AddDays(1 + r.IntN(3)))
		promisedFor = promisedOn.AddDays(5 + r.IntN(11))
		if !promisedOn.Before(settle) {
			promisedOn = domain.Date{} // paid before anyone called
		} else if r.IntN(100) < brokenPercent {
			if !settle.After(promisedFor) {
				settle = nextBusinessDay(promisedFor.AddDays(5 + r.IntN(21)))
			}
		} else if settle.After(promisedFor) {
			settle = laterOf(prevBusinessDay(promisedFor.AddDays(-r.IntN(3))), promisedOn)
		}
	}

	// closedOn is when nothing is left open for good: the last payment, or the cancelling
	// credit note.
	closedOn := settle
	switch {
	case cancelled:
		closedOn = resolvedOn
	case !repaidOn.IsZero():
		closedOn = repaidOn
	}
	inDispute := func(d domain.Date) bool {
		return disputed && !d.Before(disputedOn) && !d.After(resolvedOn)
	}
	inBounceGap := func(d domain.Date) bool { // paid, not yet bounced: nothing open
		return !reversedOn.IsZero() && !d.Before(settle) && !d.After(reversedOn)
	}

	// Schedule, causal order within a day.
	if disputed {
		g.push(c, disputedOn, hookNone, domain.DisputeInvoice{
			CustomerID: c.id, InvoiceID: inv.InvoiceID, On: disputedOn, Reason: disputeReasons[r.IntN(len(disputeReasons))],
		})
		g.push(c, resolvedOn, hookNone, domain.ResolveDispute{
			CustomerID: c.id, InvoiceID: inv.InvoiceID, On: resolvedOn, Outcome: outcome, Note: note,
		})
		if creditMinor > 0 {
			c.creditNotes++
			g.push(c, resolvedOn, hookNone, domain.IssueCreditNote{
				CustomerID:   c.id,
				CreditNoteID: domain.CreditNoteID("CN-" + string(c.id) + "-" + strconv.Itoa(c.creditNotes)),
				InvoiceID:    inv.InvoiceID, Amount: c.money(creditMinor), IssueDate: resolvedOn,
				Reason: "dispute resolved: " + note,
			})
		}
	}
	if !promisedOn.IsZero() {
		c.promises++
		g.push(c, promisedOn, hookNone, domain.RecordPromise{
			CustomerID: c.id, PromiseID: "PTP-" + string(c.id) + "-" + strconv.Itoa(c.promises),
			Amount: inv.Amount, PromisedFor: promisedFor, InvoiceIDs: []domain.InvoiceID{inv.InvoiceID},
			On: promisedOn, Note: "promised by phone",
		})
	}
	level := 0
	for i, off := range reminderOffsetsDays {
		d := nextBusinessDay(due.AddDays(off))
		if !d.Before(closedOn) || inDispute(d) || inBounceGap(d) {
			continue
		}
		level++
		g.push(c, d, hookNone, domain.SendReminder{
			CustomerID: c.id, InvoiceID: inv.InvoiceID, Level: level, Channel: reminderChannels[i], On: d,
		})
	}
	if cancelled || !settle.Before(never) {
		return
	}
	rest := amount - creditMinor
	if partialMinor > 0 {
		g.pay(c, partialOn, inv, partialMinor)
		rest -= partialMinor
	}
	paid := g.pay(c, settle, inv, rest)
	if !reversedOn.IsZero() {
		g.push(c, reversedOn, hookNone, domain.ReversePayment{
			CustomerID: c.id, PaymentID: paid, On: reversedOn, Reason: "direct debit returned: insufficient funds",
		})
		g.pay(c, repaidOn, inv, rest)
	}
}

// pay schedules a payment of minor allocated to inv and returns its id.
func (g *generator) pay(c *customer, on domain.Date, inv domain.IssueInvoice, minor int64) domain.PaymentID {
	assertf(minor > 0, "customer %s: payment of %d on %s", c.id, minor, inv.InvoiceID)
	c.payments++
	id := domain.PaymentID("PAY-" + string(c.id) + "-" + strconv.Itoa(c.payments))
	g.push(c, on, hookNone, domain.RecordPayment{
		CustomerID: c.id, PaymentID: id, Amount: c.money(minor), ReceivedOn: on,
		Allocations: []domain.Allocation{{InvoiceID: inv.InvoiceID, Amount: c.money(minor)}},
		Reference:   inv.Number,
	})
	return id
}

// rate records this year's external rating and schedules next year's. The score follows the
// customer's own payment habit (a customer paying late is rated lower), public bodies are
// safer, and a customer about to drift or stop paying is downgraded in its last year.
func (g *generator) rate(c *customer, on domain.Date) domain.Command {
	r := c.rng
	score := 70 - 0.08*float64(c.profile.dbtMeanTenths) + 8*r.NormFloat64()
	if c.segment == "public" {
		score += 10
	}
	if trouble := laterOf(c.driftFrom, c.silentFrom); !trouble.IsZero() && on.After(trouble.AddDays(-60)) {
		score -= 25
	}
	s := int(math.Round(min(97, max(5, score))))
	g.push(c, nextBusinessDay(on.AddDays(345+r.IntN(41))), hookRating, nil)
	return domain.RecordRating{CustomerID: c.id, Agency: "Creditsafe", Score: s, Grade: creditsafeGrade(s), On: on}
}

// creditsafeGrade maps a 1–100 score to Creditsafe's bands (A very low risk … E).
func creditsafeGrade(score int) string {
	switch {
	case score >= 71:
		return "A"
	case score >= 51:
		return "B"
	case score >= 30:
		return "C"
	case score >= 21:
		return "D"
	}
	return "E"
}

// review is the yearly credit review: most limits stay, some grow with volume, a few are cut.
func (g *generator) review(c *customer, on domain.Date) domain.Command {
	r := c.rng
	g.push(c, nextBusinessDay(on.AddDays(365)), hookReview, nil)
	x := r.IntN(100)
	var reason string
	var percent int64
	switch {
	case x < reviewUpPercent:
		percent, reason = int64(110+r.IntN(16)), "annual review: volume growth"
	case x < reviewUpPercent+reviewCutPercent:
		percent, reason = int64(75+r.IntN(16)), "annual review: reduced volume"
	default:
		return nil
	}
	limit := roundUp(mulDiv(c.limitMinor, percent, 100), c.limitStep)
	if limit == c.limitMinor {
		return nil
	}
	c.limitMinor = limit
	return domain.ChangeCreditLimit{
		CustomerID: c.id, Limit: c.money(limit), Reason: reason, ApprovedBy: "credit committee", On: on,
	}
}
