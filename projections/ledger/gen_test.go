package ledger

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/encours/encours/domain"
)

// histGen generates random valid histories event by event, keeping just enough shadow state
// to make every event consistent: allocations never exceed an open amount, reversals re-open
// exactly what the payment settled, credit is applied only while it stands.
type histGen struct {
	r     *rand.Rand
	today domain.Date
	// backdateDaysMax > 0 dates some events up to that many days before today.
	backdateDaysMax int
	custs           []*genCustomer
	rates           bool
	n               int // ids
}

type genCustomer struct {
	id       domain.CustomerID
	ccy      domain.Currency
	invoices []*genInvoice
	payments []*genPayment
	credits  []*genCredit
}

type genInvoice struct {
	id         domain.InvoiceID
	open       int64
	disputed   bool
	issue, due domain.Date
}

type genPayment struct {
	id          domain.PaymentID
	amount      int64
	unallocated int64
	allocated   map[domain.InvoiceID]int64
	order       []domain.InvoiceID
	reversed    bool
	received    domain.Date
}

type genCredit struct {
	id       domain.CreditNoteID
	standing int64
}

func newGen(seed uint64, start domain.Date) *histGen {
	return &histGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), today: start}
}

func (g *histGen) id(prefix string) string {
	g.n++
	return fmt.Sprintf("%s%04d", prefix, g.n)
}

func (g *histGen) money(c *genCustomer, v int64) domain.Money {
	return domain.Money{Minor: v, Ccy: c.ccy}
}

// date returns the business date of the next event: today, or a few days before.
func (g *histGen) date() domain.Date {
	if g.backdateDaysMax > 0 && g.r.IntN(4) == 0 {
		return g.today.AddDays(-g.r.IntN(g.backdateDaysMax + 1))
	}
	return g.today
}

func (g *histGen) openInvoices(c *genCustomer) []*genInvoice {
	var out []*genInvoice
	for _, v := range c.invoices {
		if v.open > 0 {
			out = append(out, v)
		}
	}
	return out
}

// allocate picks some open invoices and amounts totalling at most budget.
func (g *histGen) allocate(c *genCustomer, budget int64) ([]domain.Allocation, int64) {
	var out []domain.Allocation
	var total int64
	open := g.openInvoices(c)
	g.r.Shuffle(len(open), func(i, j int) { open[i], open[j] = open[j], open[i] })
	for _, v := range open[:min(len(open), 1+g.r.IntN(3))] {
		a := min(v.open, budget-total)
		if g.r.IntN(3) == 0 {
			a = min(a, 1+g.r.Int64N(v.open))
		}
		if a <= 0 {
			break
		}
		out = append(out, domain.Allocation{InvoiceID: v.id, Amount: g.money(c, a)})
		v.open -= a
		total += a
	}
	return out, total
}

func (g *histGen) invoice(c *genCustomer, id domain.InvoiceID) *genInvoice {
	for _, v := range c.invoices {
		if v.id == id {
			return v
		}
	}
	panic("gen: unknown invoice " + string(id))
}

// next returns the next event and its customer; it advances today now and then.
func (g *histGen) next() (domain.CustomerID, domain.Event) {
	if g.r.IntN(3) == 0 {
		g.today = g.today.AddDays(g.r.IntN(4))
	}
	if len(g.custs) == 0 || g.r.IntN(12) == 0 {
		return g.register()
	}
	if g.r.IntN(40) == 0 {
		return g.publishRates()
	}
	c := g.custs[g.r.IntN(len(g.custs))]
	on := g.date()
	for range 20 { // try kinds until one applies to this customer's state
		switch k := g.r.IntN(16); {
		case k < 5:
			v := &genInvoice{id: domain.InvoiceID(g.id("INV")), open: 1 + g.r.Int64N(500_000), issue: on}
			v.due = on.AddDays([]int{0, 15, 30, 45, 60, 90}[g.r.IntN(6)])
			c.invoices = append(c.invoices, v)
			number := string(v.id)
			if g.r.IntN(4) == 0 {
				number = "N-" + number
			}
			return c.id, domain.InvoiceIssued{InvoiceID: v.id, Number: number, Amount: g.money(c, v.open), IssueDate: on, DueDate: v.due}
		case k < 9:
			amount := 1 + g.r.Int64N(400_000)
			allocs, total := g.allocate(c, amount)
			p := &genPayment{id: domain.PaymentID(g.id("PAY")), amount: amount, unallocated: amount - total, allocated: map[domain.InvoiceID]int64{}, received: on}
			for _, a := range allocs {
				p.allocated[a.InvoiceID] += a.Amount.Minor
				p.order = append(p.order, a.InvoiceID)
			}
			c.payments = append(c.payments, p)
			return c.id, domain.PaymentReceived{PaymentID: p.id, Amount: g.money(c, amount), ReceivedOn: on, Allocations: allocs, Unallocated: g.money(c, p.unallocated)}
		case k == 9:
			var ps []*genPayment
			for _, p := range c.payments {
				if !p.reversed && p.unallocated > 0 {
					ps = append(ps, p)
				}
			}
			if len(ps) == 0 {
				continue
			}
			p := ps[g.r.IntN(len(ps))]
			allocs, total := g.allocate(c, p.unallocated)
			if total == 0 {
				continue
			}
			p.unallocated -= total
			for _, a := range allocs {
				if p.allocated[a.InvoiceID] == 0 {
					p.order = append(p.order, a.InvoiceID)
				}
				p.allocated[a.InvoiceID] += a.Amount.Minor
			}
			return c.id, domain.PaymentAllocated{PaymentID: p.id, AllocatedOn: on, Allocations: allocs}
		case k == 10:
			var ps []*genPayment
			for _, p := range c.payments {
				if !p.reversed {
					ps = append(ps, p)
				}
			}
			if len(ps) == 0 {
				continue
			}
			p := ps[g.r.IntN(len(ps))]
			p.reversed = true
			e := domain.PaymentReversed{PaymentID: p.id, Amount: g.money(c, p.amount), ReversedOn: on, Reopened: []domain.Allocation{}, UnallocatedRemoved: g.money(c, p.unallocated)}
			for _, id := range p.order {
				e.Reopened = append(e.Reopened, domain.Allocation{InvoiceID: id, Amount: g.money(c, p.allocated[id])})
				g.invoice(c, id).open += p.allocated[id]
			}
			p.unallocated = 0
			return c.id, e
		case k == 11:
			amount := 1 + g.r.Int64N(100_000)
			e := domain.CreditNoteIssued{CreditNoteID: domain.CreditNoteID(g.id("CN")), Amount: g.money(c, amount), IssueDate: on, AppliedToInvoice: g.money(c, 0)}
			if open := g.openInvoices(c); len(open) > 0 && g.r.IntN(3) > 0 {
				v := open[g.r.IntN(len(open))]
				e.InvoiceID = v.id
				applied := min(amount, v.open)
				if g.r.IntN(3) == 0 {
					applied = g.r.Int64N(applied + 1)
				}
				e.AppliedToInvoice = g.money(c, applied)
				v.open -= applied
			}
			c.credits = append(c.credits, &genCredit{id: e.CreditNoteID, standing: amount - e.AppliedToInvoice.Minor})
			return c.id, e
		case k == 12:
			var cs []*genCredit
			for _, n := range c.credits {
				if n.standing > 0 {
					cs = append(cs, n)
				}
			}
			if len(cs) == 0 {
				continue
			}
			n := cs[g.r.IntN(len(cs))]
			allocs, total := g.allocate(c, n.standing)
			if total == 0 {
				continue
			}
			n.standing -= total
			return c.id, domain.PaymentAllocated{CreditNoteID: n.id, AllocatedOn: on, Allocations: allocs}
		case k == 13:
			if len(c.invoices) == 0 {
				continue
			}
			v := c.invoices[g.r.IntN(len(c.invoices))]
			v.disputed = !v.disputed
			if v.disputed {
				return c.id, domain.InvoiceDisputed{InvoiceID: v.id, DisputedOn: on}
			}
			return c.id, domain.DisputeResolved{InvoiceID: v.id, ResolvedOn: on}
		case k == 14:
			open := g.openInvoices(c)
			if len(open) == 0 {
				continue
			}
			if g.r.IntN(2) == 0 {
				v := open[g.r.IntN(len(open))]
				a := v.open
				v.open = 0
				return c.id, domain.InvoiceWrittenOff{InvoiceID: v.id, Amount: g.money(c, a), WrittenOffOn: on}
			}
			pick := open[:1+g.r.IntN(len(open))]
			e := domain.PaymentPlanAgreed{PlanID: g.id("PLAN"), AgreedOn: on}
			var total int64
			for _, v := range pick {
				e.InvoiceIDs = append(e.InvoiceIDs, v.id)
				total += v.open
			}
			n := int64(1 + g.r.IntN(4))
			for i := range n {
				a := total / n
				if i == n-1 {
					a = total - a*(n-1)
				}
				if a > 0 {
					e.Instalments = append(e.Instalments, domain.Instalment{Due: on.AddDays(int(30 * (i + 1))), Amount: g.money(c, a)})
				}
			}
			return c.id, e
		default:
			switch g.r.IntN(5) {
			case 0:
				return c.id, domain.CreditLimitChanged{Limit: g.money(c, g.r.Int64N(2_000_000)), Reason: "review", ChangedOn: on}
			case 1:
				return c.id, domain.CreditInsuranceCoverChanged{Insurer: "Insurer", Covered: g.money(c, g.r.Int64N(1_000_000)), DeclarationDays: 30 + g.r.IntN(60), ChangedOn: on}
			case 2:
				return c.id, domain.ExternalRatingReceived{Agency: "Agency", Score: g.r.IntN(101), Grade: "B", RatedOn: on}
			case 3:
				if len(c.invoices) == 0 {
					continue
				}
				return c.id, domain.ReminderSent{InvoiceID: c.invoices[g.r.IntN(len(c.invoices))].id, Level: 1 + g.r.IntN(3), Channel: "email", SentOn: on}
			default:
				return c.id, domain.PromiseToPayRecorded{PromiseID: g.id("PR"), Amount: g.money(c, 1+g.r.Int64N(10_000)), PromisedFor: on.AddDays(7), RecordedOn: on}
			}
		}
	}
	return g.register()
}

func (g *histGen) register() (domain.CustomerID, domain.Event) {
	c := &genCustomer{id: domain.CustomerID(g.id("C")), ccy: "EUR"}
	if g.r.IntN(4) == 0 {
		c.ccy = []domain.Currency{"USD", "JPY"}[g.r.IntN(2)]
	}
	g.custs = append(g.custs, c)
	return c.id, domain.CustomerRegistered{
		CustomerID: c.id, Name: "Name " + string(c.id), Country: []string{"FR", "DE", "IT"}[g.r.IntN(3)],
		Sector: []string{"C10", "G46", ""}[g.r.IntN(3)], Segment: []string{"sme", "corporate"}[g.r.IntN(2)],
		Currency: c.ccy, Terms: domain.Net(30), CreditLimit: g.money(c, g.r.Int64N(1_000_000)), RegisteredOn: g.today,
	}
}

// publishRates publishes rates for the non-EUR currencies; the first publication is dated
// far back so that every as-of date has a rate in force.
func (g *histGen) publishRates() (domain.CustomerID, domain.Event) {
	on := g.today
	if !g.rates {
		on = d("2000-01-01")
		g.rates = true
	}
	return "", domain.ExchangeRatesPublished{Reporting: "EUR", RatesOn: on, Rates: []domain.Rate{
		{Currency: "USD", E9: 800_000_000 + g.r.Int64N(300_000_000)},
		{Currency: "JPY", E9: 5_000_000 + g.r.Int64N(3_000_000)},
	}}
}

// genHistory returns n events from seed, rates first so multi-currency groups convert.
func genHistory(seed uint64, n int, start domain.Date, backdate int) ([]domain.CustomerID, []domain.Event, []domain.Date) {
	g := newGen(seed, start)
	g.backdateDaysMax = backdate
	custs, evs, days := []domain.CustomerID{}, []domain.Event{}, []domain.Date{}
	c, e := g.publishRates()
	custs, evs, days = append(custs, c), append(evs, e), append(days, g.today)
	for len(evs) < n {
		c, e := g.next()
		custs, evs, days = append(custs, c), append(evs, e), append(days, g.today)
	}
	return custs, evs, days
}

// recordedOn returns an instant during day d (the i-th event of the log).
func recordedOn(day domain.Date, i int) time.Time {
	y, m, dd := day.Civil()
	return time.Date(y, m, dd, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
}

func endOfDay(day domain.Date) time.Time {
	y, m, dd := day.Civil()
	return time.Date(y, m, dd, 23, 59, 59, 0, time.UTC)
}
