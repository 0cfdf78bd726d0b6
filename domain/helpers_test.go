package domain_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// Builders for the given/when/then tests: one customer "C1" in EUR, net 30, limit 1 000,00.

const custID = domain.CustomerID("C1")

var day = domain.MustDate

func eur(minor int64) domain.Money { return domain.Money{Minor: minor, Ccy: "EUR"} }

func alloc(inv string, minor int64) domain.Allocation {
	return domain.Allocation{InvoiceID: domain.InvoiceID(inv), Amount: eur(minor)}
}

func registered() domain.CustomerRegistered {
	return domain.CustomerRegistered{
		CustomerID: custID, Name: "Boulangerie Martin SARL", Country: "FR", Sector: "10.71",
		Segment: "sme", Currency: "EUR", Terms: domain.Net(30), CreditLimit: eur(100_000),
		RegisteredOn: day("2025-01-01"),
	}
}

// issued is invoice id of amount minor, number "N-"+id, issued and due on the given dates.
func issued(id string, minor int64, issue, due string) domain.InvoiceIssued {
	return domain.InvoiceIssued{
		InvoiceID: domain.InvoiceID(id), Number: "N-" + id, Amount: eur(minor),
		IssueDate: day(issue), DueDate: day(due),
	}
}

// received is payment id of amount minor on date on, with its allocations; the rest is
// unallocated.
func received(id string, minor int64, on string, allocs ...domain.Allocation) domain.PaymentReceived {
	rest := minor
	for _, a := range allocs {
		rest -= a.Amount.Minor
	}
	if allocs == nil {
		allocs = []domain.Allocation{}
	}
	return domain.PaymentReceived{
		PaymentID: domain.PaymentID(id), Amount: eur(minor), ReceivedOn: day(on),
		Allocations: allocs, Unallocated: eur(rest),
	}
}

func allocated(payment string, on string, allocs ...domain.Allocation) domain.PaymentAllocated {
	return domain.PaymentAllocated{PaymentID: domain.PaymentID(payment), AllocatedOn: day(on), Allocations: allocs}
}

func credited(id, inv string, minor, applied int64, on string) domain.CreditNoteIssued {
	return domain.CreditNoteIssued{
		CreditNoteID: domain.CreditNoteID(id), InvoiceID: domain.InvoiceID(inv), Amount: eur(minor),
		AppliedToInvoice: eur(applied), IssueDate: day(on),
	}
}

func disputed(inv, on string) domain.InvoiceDisputed {
	return domain.InvoiceDisputed{InvoiceID: domain.InvoiceID(inv), DisputedOn: day(on)}
}

func writtenOff(inv string, minor int64, on string) domain.InvoiceWrittenOff {
	return domain.InvoiceWrittenOff{InvoiceID: domain.InvoiceID(inv), Amount: eur(minor), WrittenOffOn: day(on)}
}

// history is the usual start: registered, then I1 (100,00 due 02-09), I2 (200,00 due 02-19)
// and I3 (50,00 due 03-03).
func history(more ...domain.Event) []domain.Event {
	h := []domain.Event{
		registered(),
		issued("I1", 10_000, "2025-01-10", "2025-02-09"),
		issued("I2", 20_000, "2025-01-20", "2025-02-19"),
		issued("I3", 5_000, "2025-02-01", "2025-03-03"),
	}
	return append(h, more...)
}

func mustInvoice(t *testing.T, c *domain.Customer, id string) domain.InvoiceView {
	t.Helper()
	v, ok := c.Invoice(domain.InvoiceID(id))
	require.Truef(t, ok, "invoice %s unknown", id)
	return v
}

func mustPayment(t *testing.T, c *domain.Customer, id string) domain.PaymentView {
	t.Helper()
	v, ok := c.Payment(domain.PaymentID(id))
	require.Truef(t, ok, "payment %s unknown", id)
	return v
}

// checkInvariants recomputes the customer's totals from its items and checks them against
// the running totals Evolve keeps: exposure = open − unallocated − credit (design §Metrics),
// every invoice 0 ≤ open ≤ amount with open + settled + written off = amount, open items
// sorted by due date then id, and payments' allocations + unallocated = amount unless
// reversed.
func checkInvariants(t *testing.T, c *domain.Customer) {
	t.Helper()
	ccy := c.Profile().Currency
	open, unallocated, credit := domain.Zero(ccy), domain.Zero(ccy), domain.Zero(ccy)
	openItems := 0
	for _, inv := range c.Invoices() {
		require.GreaterOrEqualf(t, inv.Open.Minor, int64(0), "invoice %s open", inv.InvoiceID)
		require.LessOrEqualf(t, inv.Open.Minor, inv.Amount.Minor, "invoice %s open", inv.InvoiceID)
		sum := inv.Open.Minor + inv.WrittenOffAmount.Minor
		for _, s := range inv.Settled {
			require.Positivef(t, s.Amount.Minor, "invoice %s settlement", inv.InvoiceID)
			require.Truef(t, (s.PaymentID == "") != (s.CreditNoteID == ""), "settlement %+v has one source", s)
			sum += s.Amount.Minor
		}
		require.Equalf(t, inv.Amount.Minor, sum, "invoice %s: open + settled + written off", inv.InvoiceID)
		if inv.WrittenOff {
			require.Zerof(t, inv.Open.Minor, "written-off invoice %s open", inv.InvoiceID)
		}
		open.Minor += inv.Open.Minor
		if inv.Open.Minor > 0 {
			openItems++
		}
	}
	for _, p := range c.Payments() {
		require.GreaterOrEqual(t, p.Unallocated.Minor, int64(0))
		if p.Reversed {
			require.Zerof(t, p.Unallocated.Minor, "reversed payment %s keeps cash", p.PaymentID)
			continue
		}
		sum := p.Unallocated.Minor
		for _, a := range p.Allocations {
			sum += a.Amount.Minor
		}
		require.Equalf(t, p.Amount.Minor, sum, "payment %s: allocations + unallocated", p.PaymentID)
		unallocated.Minor += p.Unallocated.Minor
	}
	for _, n := range c.CreditNotes() {
		sum := n.Standing.Minor + n.AppliedToInvoice.Minor
		for _, a := range n.Allocations {
			sum += a.Amount.Minor
		}
		require.Equalf(t, n.Amount.Minor, sum, "credit note %s: applied + allocated + standing", n.CreditNoteID)
		credit.Minor += n.Standing.Minor
	}
	assert.Equal(t, open, c.OpenInvoiceTotal(), "open invoice total")
	assert.Equal(t, unallocated, c.UnallocatedCash(), "unallocated cash")
	assert.Equal(t, credit, c.OpenCredit(), "open credit")
	assert.Equal(t, domain.Money{Minor: open.Minor - unallocated.Minor - credit.Minor, Ccy: ccy}, c.Exposure(), "exposure")
	items := c.OpenItems()
	assert.Len(t, items, openItems, "open items")
	for i := 1; i < len(items); i++ {
		a, b := items[i-1], items[i]
		assert.Truef(t, a.DueDate.Before(b.DueDate) || (a.DueDate.Equal(b.DueDate) && a.InvoiceID < b.InvoiceID),
			"open items out of order: %s (due %s) before %s (due %s)", a.InvoiceID, a.DueDate, b.InvoiceID, b.DueDate)
	}
}
