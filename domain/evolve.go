package domain

import (
	"fmt"
	"slices"
)

// Evolve folds one event of the customer's stream into c. The event has already happened (it
// is in the log), so Evolve never refuses it: every check left here is an assertion of what
// Decide guarantees, and a broken one panics (style §5, §8). Events of other streams
// (alerts, exchange rates) are a programmer error here.
func Evolve(c *Customer, e Event) {
	if c == nil {
		broken("Evolve on a nil *Customer")
	}
	if _, isReg := e.(CustomerRegistered); !isReg {
		if !c.registered {
			broken("%s folded before CustomerRegistered", eventTypeOf(e))
		}
	}
	switch e := e.(type) {
	case CustomerRegistered:
		c.evolveRegistered(e)
	case CreditLimitChanged:
		c.assertCurrency(e.Limit)
		c.limit = e.Limit
	case InvoiceIssued:
		c.evolveInvoiceIssued(e)
	case CreditNoteIssued:
		c.evolveCreditNoteIssued(e)
	case PaymentReceived:
		c.evolvePaymentReceived(e)
	case PaymentAllocated:
		c.evolvePaymentAllocated(e)
	case PaymentReversed:
		c.evolvePaymentReversed(e)
	case InvoiceDisputed:
		inv := c.mustInvoice(e.InvoiceID)
		if inv.disputed {
			broken("invoice %s disputed twice", inv.id)
		}
		inv.disputed, inv.disputedOn = true, e.DisputedOn
		inv.disputes++
	case DisputeResolved:
		inv := c.mustInvoice(e.InvoiceID)
		if !inv.disputed {
			broken("dispute resolved on undisputed invoice %s", inv.id)
		}
		inv.disputed = false
	case InvoiceWrittenOff:
		c.evolveWrittenOff(e)
	case PaymentPlanAgreed:
		if c.planIDs[e.PlanID] {
			broken("plan %s agreed twice", e.PlanID)
		}
		e.InvoiceIDs = slices.Clone(e.InvoiceIDs)
		e.Instalments = slices.Clone(e.Instalments)
		for _, id := range e.InvoiceIDs {
			c.mustInvoice(id).planID = e.PlanID
		}
		c.planIDs[e.PlanID] = true
		c.plans = append(c.plans, e)
	case PromiseToPayRecorded:
		if c.promiseIDs[e.PromiseID] {
			broken("promise %s recorded twice", e.PromiseID)
		}
		c.assertCurrency(e.Amount)
		e.InvoiceIDs = slices.Clone(e.InvoiceIDs)
		c.promiseIDs[e.PromiseID] = true
		c.promises = append(c.promises, e)
	case ReminderSent:
		c.mustInvoice(e.InvoiceID).reminderLevel = e.Level
		c.reminders = append(c.reminders, e)
	case ExternalRatingReceived:
		if c.rating == nil || !e.RatedOn.Before(c.rating.RatedOn) {
			c.rating = &RatingView{Agency: e.Agency, Score: e.Score, Grade: e.Grade, RatedOn: e.RatedOn}
		}
	case CreditInsuranceCoverChanged:
		c.assertCurrency(e.Covered)
		c.insurer, c.insuredCover, c.declarationDays = e.Insurer, e.Covered, e.DeclarationDays
	default:
		panic(fmt.Sprintf("domain: Evolve: event %s does not belong to a customer stream", eventTypeOf(e)))
	}
	c.version++
	c.assertTotals()
}

// Fold returns the state of a stream from its events: NewCustomer, then Evolve each.
func Fold(events []Event) *Customer {
	c := NewCustomer()
	for _, e := range events {
		Evolve(c, e)
	}
	if c.version != uint64(len(events)) {
		broken("Fold: version %d after %d events", c.version, len(events))
	}
	return c
}

func eventTypeOf(e Event) string {
	if e == nil {
		return "<nil>"
	}
	return e.EventType()
}

func (c *Customer) evolveRegistered(e CustomerRegistered) {
	if c.registered {
		broken("customer %s registered twice", c.id)
	}
	if e.CreditLimit.Ccy != e.Currency {
		broken("credit limit in %s, customer in %s", e.CreditLimit.Ccy, e.Currency)
	}
	c.registered = true
	c.id, c.name, c.country, c.sector, c.segment = e.CustomerID, e.Name, e.Country, e.Sector, e.Segment
	c.currency, c.terms, c.registeredOn, c.limit = e.Currency, e.Terms, e.RegisteredOn, e.CreditLimit
	c.insuredCover = Zero(e.Currency)
}

func (c *Customer) evolveInvoiceIssued(e InvoiceIssued) {
	_, dup := c.invoices[e.InvoiceID]
	if dup {
		broken("invoice %s issued twice", e.InvoiceID)
	}
	_, dupNumber := c.invoiceNumbers[e.Number]
	if dupNumber {
		broken("invoice number %q issued twice", e.Number)
	}
	c.assertCurrency(e.Amount)
	if !e.Amount.IsPositive() {
		broken("invoice %s amount %v not positive", e.InvoiceID, e.Amount)
	}
	inv := &invoiceState{
		id: e.InvoiceID, number: e.Number, amount: e.Amount, open: e.Amount,
		issueDate: e.IssueDate, dueDate: e.DueDate, terms: e.Terms,
		writtenOffAmount: Zero(c.currency),
	}
	c.invoices[e.InvoiceID] = inv
	c.invoiceNumbers[e.Number] = e.InvoiceID
	c.openInvoiceMinor = mustAdd(c.openInvoiceMinor, e.Amount.Minor)
	assertInvoice(inv)
}

func (c *Customer) evolveCreditNoteIssued(e CreditNoteIssued) {
	_, dup := c.creditNotes[e.CreditNoteID]
	if dup {
		broken("credit note %s issued twice", e.CreditNoteID)
	}
	c.assertCurrency(e.Amount)
	c.assertCurrency(e.AppliedToInvoice)
	if !e.Amount.IsPositive() {
		broken("credit note %s amount %v not positive", e.CreditNoteID, e.Amount)
	}
	if !(e.AppliedToInvoice.Minor >= 0 && e.AppliedToInvoice.Minor <= e.Amount.Minor) {
		broken("credit note %s applies %v of %v", e.CreditNoteID, e.AppliedToInvoice, e.Amount)
	}
	standing := Money{Minor: e.Amount.Minor - e.AppliedToInvoice.Minor, Ccy: c.currency}
	if e.AppliedToInvoice.IsPositive() {
		if e.InvoiceID == "" {
			broken("credit note %s applies %v to no invoice", e.CreditNoteID, e.AppliedToInvoice)
		}
		c.settle(e.InvoiceID, Settlement{On: e.IssueDate, Amount: e.AppliedToInvoice, CreditNoteID: e.CreditNoteID})
	}
	c.creditNotes[e.CreditNoteID] = &creditNoteState{
		id: e.CreditNoteID, invoiceID: e.InvoiceID, amount: e.Amount, applied: e.AppliedToInvoice,
		standing: standing, issueDate: e.IssueDate, reason: e.Reason,
	}
	c.openCreditMinor = mustAdd(c.openCreditMinor, standing.Minor)
}

func (c *Customer) evolvePaymentReceived(e PaymentReceived) {
	_, dup := c.payments[e.PaymentID]
	if dup {
		broken("payment %s received twice", e.PaymentID)
	}
	c.assertCurrency(e.Amount)
	c.assertCurrency(e.Unallocated)
	if !e.Amount.IsPositive() {
		broken("payment %s amount %v not positive", e.PaymentID, e.Amount)
	}
	var allocated int64
	for _, a := range e.Allocations {
		c.settle(a.InvoiceID, Settlement{On: e.ReceivedOn, Amount: a.Amount, PaymentID: e.PaymentID})
		allocated = mustAdd(allocated, a.Amount.Minor)
	}
	if !(e.Unallocated.Minor >= 0 && mustAdd(allocated, e.Unallocated.Minor) == e.Amount.Minor) {
		broken("payment %s: allocated %d + unallocated %v != amount %v", e.PaymentID, allocated, e.Unallocated, e.Amount)
	}
	c.payments[e.PaymentID] = &paymentState{
		id: e.PaymentID, amount: e.Amount, receivedOn: e.ReceivedOn, reference: e.Reference,
		unallocated: e.Unallocated, allocations: slices.Clone(e.Allocations),
	}
	c.unallocatedMinor = mustAdd(c.unallocatedMinor, e.Unallocated.Minor)
}

func (c *Customer) evolvePaymentAllocated(e PaymentAllocated) {
	if (e.PaymentID == "") == (e.CreditNoteID == "") {
		broken("allocation with payment %q and credit note %q", e.PaymentID, e.CreditNoteID)
	}
	var allocated int64
	for _, a := range e.Allocations {
		c.settle(a.InvoiceID, Settlement{On: e.AllocatedOn, Amount: a.Amount, PaymentID: e.PaymentID, CreditNoteID: e.CreditNoteID})
		allocated = mustAdd(allocated, a.Amount.Minor)
	}
	if e.PaymentID != "" {
		p, ok := c.payments[e.PaymentID]
		if !ok {
			broken("allocation from unknown payment %s", e.PaymentID)
		}
		if p.reversed {
			broken("allocation from reversed payment %s", p.id)
		}
		if allocated > p.unallocated.Minor {
			broken("payment %s allocates %d of %v on account", p.id, allocated, p.unallocated)
		}
		p.unallocated.Minor -= allocated
		p.allocations = append(p.allocations, e.Allocations...)
		c.unallocatedMinor -= allocated
		return
	}
	n, ok := c.creditNotes[e.CreditNoteID]
	if !ok {
		broken("allocation from unknown credit note %s", e.CreditNoteID)
	}
	if allocated > n.standing.Minor {
		broken("credit note %s allocates %d of %v standing", n.id, allocated, n.standing)
	}
	n.standing.Minor -= allocated
	n.allocations = append(n.allocations, e.Allocations...)
	c.openCreditMinor -= allocated
}

// evolvePaymentReversed re-opens exactly what the payment settled, on each invoice, written
// off or not: its settlements leave the invoices and their amounts are open again.
func (c *Customer) evolvePaymentReversed(e PaymentReversed) {
	p, ok := c.payments[e.PaymentID]
	if !ok {
		broken("reversal of unknown payment %s", e.PaymentID)
	}
	if p.reversed {
		broken("payment %s reversed twice", p.id)
	}
	if e.Amount != p.amount {
		broken("payment %s: reversal of %v, received %v", p.id, e.Amount, p.amount)
	}
	if e.UnallocatedRemoved != p.unallocated {
		broken("payment %s: reversal removes %v, %v on account", p.id, e.UnallocatedRemoved, p.unallocated)
	}
	reopenedByInvoice := map[InvoiceID]int64{}
	var order []InvoiceID
	var reopened int64
	for _, a := range e.Reopened {
		c.assertCurrency(a.Amount)
		if _, seen := reopenedByInvoice[a.InvoiceID]; !seen {
			order = append(order, a.InvoiceID)
		}
		reopenedByInvoice[a.InvoiceID] = mustAdd(reopenedByInvoice[a.InvoiceID], a.Amount.Minor)
		reopened = mustAdd(reopened, a.Amount.Minor)
	}
	if mustAdd(reopened, e.UnallocatedRemoved.Minor) != p.amount.Minor {
		broken("payment %s: reversal re-opens %d + removes %v, amount %v", p.id, reopened, e.UnallocatedRemoved, p.amount)
	}
	for _, id := range order {
		inv := c.mustInvoice(id)
		var removed int64
		inv.settled = slices.DeleteFunc(inv.settled, func(s Settlement) bool {
			if s.PaymentID == p.id {
				removed = mustAdd(removed, s.Amount.Minor)
				return true
			}
			return false
		})
		if removed != reopenedByInvoice[id] {
			broken("payment %s re-opens %d on %s, had settled %d", p.id, reopenedByInvoice[id], id, removed)
		}
		inv.open.Minor = mustAdd(inv.open.Minor, removed)
		if removed > 0 {
			inv.writtenOff = false // owed again: the write-off covered what was open then
		}
		assertInvoice(inv)
	}
	c.openInvoiceMinor = mustAdd(c.openInvoiceMinor, reopened)
	c.unallocatedMinor -= p.unallocated.Minor
	p.unallocated.Minor = 0
	p.reversed, p.reversedOn = true, e.ReversedOn
}

func (c *Customer) evolveWrittenOff(e InvoiceWrittenOff) {
	inv := c.mustInvoice(e.InvoiceID)
	if inv.writtenOff {
		broken("invoice %s written off twice", inv.id)
	}
	if !(e.Amount == inv.open && e.Amount.IsPositive()) {
		broken("invoice %s writes off %v, open %v", inv.id, e.Amount, inv.open)
	}
	inv.open.Minor = 0
	inv.writtenOff = true
	inv.writtenOffAmount.Minor = mustAdd(inv.writtenOffAmount.Minor, e.Amount.Minor)
	c.openInvoiceMinor -= e.Amount.Minor
	assertInvoice(inv)
}

// settle applies s to its invoice: the open amount goes down by s.Amount.
func (c *Customer) settle(id InvoiceID, s Settlement) {
	inv := c.mustInvoice(id)
	c.assertCurrency(s.Amount)
	if !s.Amount.IsPositive() {
		broken("settlement of %v on %s", s.Amount, id)
	}
	if inv.writtenOff {
		broken("settlement on written-off invoice %s", id)
	}
	inv.open.Minor -= s.Amount.Minor
	inv.settled = append(inv.settled, s)
	c.openInvoiceMinor -= s.Amount.Minor
	assertInvoice(inv)
}

func (c *Customer) mustInvoice(id InvoiceID) *invoiceState {
	inv, ok := c.invoices[id]
	if !ok {
		broken("event names unknown invoice %s", id)
	}
	return inv
}

func (c *Customer) assertCurrency(m Money) {
	if m.Ccy != c.currency {
		broken("amount %v in a %s stream", m, c.currency)
	}
}

// assertInvoice is the invoice invariant Decide must never break: 0 ≤ open ≤ amount,
// open + Σ settled + written off = amount, and a written-off invoice has nothing open.
func assertInvoice(inv *invoiceState) {
	if inv.open.Minor < 0 {
		broken("invoice %s open %v is negative", inv.id, inv.open)
	}
	if inv.open.Minor > inv.amount.Minor {
		broken("invoice %s open %v exceeds its amount %v", inv.id, inv.open, inv.amount)
	}
	if inv.writtenOff && !inv.open.IsZero() {
		broken("written-off invoice %s has %v open", inv.id, inv.open)
	}
	sum := mustAdd(inv.open.Minor, inv.writtenOffAmount.Minor)
	for _, s := range inv.settled {
		sum = mustAdd(sum, s.Amount.Minor)
	}
	if sum != inv.amount.Minor {
		broken("invoice %s: open + settled + written off = %d, amount %v", inv.id, sum, inv.amount)
	}
}

// assertTotals checks the running totals: each non-negative and their sum within int64, so
// that Exposure cannot overflow (checkHeadroom in Decide keeps it so).
func (c *Customer) assertTotals() {
	if !(c.openInvoiceMinor >= 0 && c.unallocatedMinor >= 0 && c.openCreditMinor >= 0) {
		broken("negative total: open %d, unallocated %d, credit %d", c.openInvoiceMinor, c.unallocatedMinor, c.openCreditMinor)
	}
	mustAdd(mustAdd(c.openInvoiceMinor, c.unallocatedMinor), c.openCreditMinor)
}

// mustAdd adds two amounts that Decide has already proven to fit.
func mustAdd(a, b int64) int64 {
	s, ok := addInt64(a, b)
	if !ok {
		broken("%d + %d overflows", a, b)
	}
	return s
}
