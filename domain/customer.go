package domain

import (
	"slices"
	"strings"
)

// Customer is the state of one customer's stream, folded from its events by Evolve. Its
// fields are unexported: the only ways to change it are Evolve (a fact that happened) and
// Fold; Decide reads it and never writes. A Customer is not safe for concurrent use: the
// command shell owns the one it folds.
type Customer struct {
	version    uint64
	registered bool

	id           CustomerID
	name         string
	country      string
	sector       string
	segment      string
	currency     Currency
	terms        Terms
	registeredOn Date
	limit        Money

	insurer         string
	insuredCover    Money
	declarationDays int
	rating          *RatingView

	invoices       map[InvoiceID]*invoiceState
	invoiceNumbers map[string]InvoiceID
	payments       map[PaymentID]*paymentState
	creditNotes    map[CreditNoteID]*creditNoteState
	plans          []PaymentPlanAgreed
	planIDs        map[string]bool
	promises       []PromiseToPayRecorded
	promiseIDs     map[string]bool
	reminders      []ReminderSent

	// Running totals in minor units of currency, kept by Evolve so that Exposure is O(1).
	// Each is ≥ 0, and Decide keeps their sum ≤ math.MaxInt64 (checkHeadroom), so exposure
	// can never overflow. The property test recomputes them from the items after every event.
	openInvoiceMinor int64 // Σ invoice open amounts
	unallocatedMinor int64 // Σ payment cash on account
	openCreditMinor  int64 // Σ credit-note credit standing
}

type invoiceState struct {
	id               InvoiceID
	number           string
	amount           Money
	open             Money
	issueDate        Date
	dueDate          Date
	terms            string
	disputed         bool
	disputedOn       Date
	disputes         int
	writtenOff       bool
	writtenOffAmount Money
	planID           string
	reminderLevel    int
	settled          []Settlement
}

type paymentState struct {
	id          PaymentID
	amount      Money
	receivedOn  Date
	reference   string
	unallocated Money
	allocations []Allocation
	reversed    bool
	reversedOn  Date
}

type creditNoteState struct {
	id          CreditNoteID
	invoiceID   InvoiceID
	amount      Money
	applied     Money
	standing    Money
	issueDate   Date
	reason      string
	allocations []Allocation
}

// Profile is who the customer is and what credit it is given.
type Profile struct {
	ID              CustomerID  `json:"id"`
	Name            string      `json:"name"`
	Country         string      `json:"country"`
	Sector          string      `json:"sector,omitempty"`
	Segment         string      `json:"segment,omitempty"`
	Currency        Currency    `json:"currency"`
	Terms           Terms       `json:"terms"`
	RegisteredOn    Date        `json:"registered_on"`
	CreditLimit     Money       `json:"credit_limit"`
	Insurer         string      `json:"insurer,omitempty"`
	InsuredCover    Money       `json:"insured_cover"`
	DeclarationDays int         `json:"declaration_days,omitempty"`
	Rating          *RatingView `json:"rating,omitempty"` // nil until a rating is received
}

// RatingView is the most recent external rating (by rating date; on a tie, the later event).
type RatingView struct {
	Agency  string `json:"agency"`
	Score   int    `json:"score"`
	Grade   string `json:"grade,omitempty"`
	RatedOn Date   `json:"rated_on"`
}

// Settlement is an amount that reduced an invoice's open amount: cash from a payment
// (PaymentID set, at receipt or by a later allocation) or a credit note (CreditNoteID set,
// applied at issue or allocated later). On is the date the invoice was settled by it, which
// is what days to pay and days beyond terms are measured to (design §Metrics). A reversed
// payment's settlements are removed: it did not pay.
type Settlement struct {
	On           Date         `json:"on"`
	Amount       Money        `json:"amount"`
	PaymentID    PaymentID    `json:"payment_id,omitempty"`
	CreditNoteID CreditNoteID `json:"credit_note_id,omitempty"`
}

// InvoiceView is one invoice as the stream tells it. Amount = Open + Σ Settled +
// WrittenOffAmount always holds.
type InvoiceView struct {
	InvoiceID InvoiceID `json:"invoice_id"`
	Number    string    `json:"number"`
	Amount    Money     `json:"amount"`
	Open      Money     `json:"open"`
	IssueDate Date      `json:"issue_date"`
	// DueDate is the invoice's own due date; a payment plan does not move it (its
	// instalments are in Plans()).
	DueDate Date   `json:"due_date"`
	Terms   string `json:"terms,omitempty"`
	// Disputed is true while a dispute is open; Disputes counts every dispute ever opened.
	Disputed   bool `json:"disputed"`
	DisputedOn Date `json:"disputed_on,omitempty"`
	Disputes   int  `json:"disputes"`
	// WrittenOff is true while the invoice stands written off (Open is then zero). A later
	// payment reversal re-opens what the payment had settled and clears it; WrittenOffAmount
	// keeps every loss recognised.
	WrittenOff       bool         `json:"written_off"`
	WrittenOffAmount Money        `json:"written_off_amount"`
	UnderPlan        bool         `json:"under_plan"`
	PlanID           string       `json:"plan_id,omitempty"`
	ReminderLevel    int          `json:"reminder_level"` // level of the last reminder sent, 0: none
	Settled          []Settlement `json:"settled"`
}

// OpenItem is an invoice with something still open (Open > 0, not written off).
type OpenItem = InvoiceView

// PaymentView is one payment: its cash, what is still on account, every allocation it made
// (at receipt and later, in order) and whether it was reversed. A reversed payment keeps its
// allocations as history; they no longer settle anything, and Unallocated is zero.
type PaymentView struct {
	PaymentID   PaymentID    `json:"payment_id"`
	Amount      Money        `json:"amount"`
	ReceivedOn  Date         `json:"received_on"`
	Reference   string       `json:"reference,omitempty"`
	Unallocated Money        `json:"unallocated"`
	Allocations []Allocation `json:"allocations"`
	Reversed    bool         `json:"reversed"`
	ReversedOn  Date         `json:"reversed_on,omitempty"`
}

// CreditNoteView is one credit note: what it applied to its invoice at issue, what it
// allocated later, and the credit still standing for the customer.
type CreditNoteView struct {
	CreditNoteID     CreditNoteID `json:"credit_note_id"`
	InvoiceID        InvoiceID    `json:"invoice_id,omitempty"`
	Amount           Money        `json:"amount"`
	AppliedToInvoice Money        `json:"applied_to_invoice"`
	Standing         Money        `json:"standing"`
	IssueDate        Date         `json:"issue_date"`
	Reason           string       `json:"reason,omitempty"`
	Allocations      []Allocation `json:"allocations"`
}

// NewCustomer returns an empty, unregistered customer at version 0.
func NewCustomer() *Customer {
	return &Customer{
		invoices:       map[InvoiceID]*invoiceState{},
		invoiceNumbers: map[string]InvoiceID{},
		payments:       map[PaymentID]*paymentState{},
		creditNotes:    map[CreditNoteID]*creditNoteState{},
		planIDs:        map[string]bool{},
		promiseIDs:     map[string]bool{},
	}
}

// Reserve makes room in c for about invoices more invoices and payments more payments, so
// that folding many events at once (a bulk import deciding a customer's rows) does not grow
// its indexes step by step, rehashing them each time. It changes nothing c says.
func (c *Customer) Reserve(invoices, payments int) {
	if invoices > 8 {
		c.invoices = grown(c.invoices, invoices)
		c.invoiceNumbers = grown(c.invoiceNumbers, invoices)
	}
	if payments > 8 {
		c.payments = grown(c.payments, payments)
	}
}

// grown is m, copied into a map with room for more entries beyond its own.
func grown[K comparable, V any](m map[K]V, more int) map[K]V {
	g := make(map[K]V, len(m)+more)
	for k, v := range m {
		g[k] = v
	}
	return g
}

// Version returns the number of events folded into c: the stream version the next append
// expects.
func (c *Customer) Version() uint64 { return c.version }

// Registered reports whether CustomerRegistered has been folded.
func (c *Customer) Registered() bool { return c.registered }

// ID returns the customer's id ("" before registration).
func (c *Customer) ID() CustomerID { return c.id }

// Currency returns the customer's currency ("" before registration).
func (c *Customer) Currency() Currency { return c.currency }

// Profile returns who the customer is, its credit limit, insurance cover and latest rating.
func (c *Customer) Profile() Profile {
	p := Profile{
		ID: c.id, Name: c.name, Country: c.country, Sector: c.sector, Segment: c.segment,
		Currency: c.currency, Terms: c.terms, RegisteredOn: c.registeredOn, CreditLimit: c.limit,
		Insurer: c.insurer, InsuredCover: c.insuredCover, DeclarationDays: c.declarationDays,
	}
	if c.rating != nil {
		r := *c.rating
		p.Rating = &r
	}
	return p
}

// CreditLimit returns the current credit limit (zero: extend no more credit).
func (c *Customer) CreditLimit() Money { return c.limit }

// Exposure is the customer's encours: open invoice amounts − unallocated cash − open
// (unapplied) credit notes (design §Metrics, Exposure). It is negative when the customer has
// more cash and credit on account than it owes.
func (c *Customer) Exposure() Money {
	// checkHeadroom in Decide keeps the three totals' sum ≤ MaxInt64, so this cannot overflow.
	return Money{Minor: c.openInvoiceMinor - c.unallocatedMinor - c.openCreditMinor, Ccy: c.currency}
}

// OpenInvoiceTotal is the sum of the open amounts of all invoices (disputed ones included).
func (c *Customer) OpenInvoiceTotal() Money { return Money{Minor: c.openInvoiceMinor, Ccy: c.currency} }

// UnallocatedCash is the cash received and not yet applied to invoices (reversed payments
// excluded).
func (c *Customer) UnallocatedCash() Money { return Money{Minor: c.unallocatedMinor, Ccy: c.currency} }

// OpenCredit is the credit-note credit standing for the customer, not applied to invoices.
func (c *Customer) OpenCredit() Money { return Money{Minor: c.openCreditMinor, Ccy: c.currency} }

// OpenItems returns the open invoices (Open > 0, not written off), sorted by due date, then
// invoice id. Disputed invoices and invoices under a plan are included: they are still owed.
func (c *Customer) OpenItems() []OpenItem {
	out := make([]OpenItem, 0, len(c.invoices))
	for _, inv := range c.invoices {
		if inv.open.IsPositive() && !inv.writtenOff {
			out = append(out, inv.view())
		}
	}
	slices.SortFunc(out, func(a, b OpenItem) int {
		if d := a.DueDate.Days() - b.DueDate.Days(); d != 0 {
			return int(d)
		}
		return strings.Compare(string(a.InvoiceID), string(b.InvoiceID))
	})
	return out
}

// Invoices returns every invoice of the stream, open or not, sorted by issue date, then
// invoice id.
func (c *Customer) Invoices() []InvoiceView {
	out := make([]InvoiceView, 0, len(c.invoices))
	for _, inv := range c.invoices {
		out = append(out, inv.view())
	}
	slices.SortFunc(out, func(a, b InvoiceView) int {
		if d := a.IssueDate.Days() - b.IssueDate.Days(); d != 0 {
			return int(d)
		}
		return strings.Compare(string(a.InvoiceID), string(b.InvoiceID))
	})
	return out
}

// Invoice returns one invoice of this customer; an invoice of another customer is unknown.
func (c *Customer) Invoice(id InvoiceID) (InvoiceView, bool) {
	inv, ok := c.invoices[id]
	if !ok {
		return InvoiceView{}, false
	}
	return inv.view(), true
}

// HasPayment reports whether a payment with this id was received (reversed or not).
func (c *Customer) HasPayment(id PaymentID) bool { _, ok := c.payments[id]; return ok }

// HasCreditNote reports whether a credit note with this id was issued.
func (c *Customer) HasCreditNote(id CreditNoteID) bool { _, ok := c.creditNotes[id]; return ok }

// Payment returns one payment: amount, unallocated cash, allocations (including later
// ones) and whether it was reversed.
func (c *Customer) Payment(id PaymentID) (PaymentView, bool) {
	p, ok := c.payments[id]
	if !ok {
		return PaymentView{}, false
	}
	return p.view(), true
}

// Payments returns every payment, sorted by received date, then payment id.
func (c *Customer) Payments() []PaymentView {
	out := make([]PaymentView, 0, len(c.payments))
	for _, p := range c.payments {
		out = append(out, p.view())
	}
	slices.SortFunc(out, func(a, b PaymentView) int {
		if d := a.ReceivedOn.Days() - b.ReceivedOn.Days(); d != 0 {
			return int(d)
		}
		return strings.Compare(string(a.PaymentID), string(b.PaymentID))
	})
	return out
}

// CreditNote returns one credit note.
func (c *Customer) CreditNote(id CreditNoteID) (CreditNoteView, bool) {
	n, ok := c.creditNotes[id]
	if !ok {
		return CreditNoteView{}, false
	}
	return n.view(), true
}

// CreditNotes returns every credit note, sorted by issue date, then credit note id.
func (c *Customer) CreditNotes() []CreditNoteView {
	out := make([]CreditNoteView, 0, len(c.creditNotes))
	for _, n := range c.creditNotes {
		out = append(out, n.view())
	}
	slices.SortFunc(out, func(a, b CreditNoteView) int {
		if d := a.IssueDate.Days() - b.IssueDate.Days(); d != 0 {
			return int(d)
		}
		return strings.Compare(string(a.CreditNoteID), string(b.CreditNoteID))
	})
	return out
}

// Plans returns the payment plans agreed, in stream order. A later plan naming an invoice
// replaces the earlier one for that invoice (InvoiceView.PlanID).
func (c *Customer) Plans() []PaymentPlanAgreed {
	out := make([]PaymentPlanAgreed, len(c.plans))
	for i, p := range c.plans {
		p.InvoiceIDs = slices.Clone(p.InvoiceIDs)
		p.Instalments = slices.Clone(p.Instalments)
		out[i] = p
	}
	return out
}

// Promises returns the promises to pay, in stream order.
func (c *Customer) Promises() []PromiseToPayRecorded {
	out := make([]PromiseToPayRecorded, len(c.promises))
	for i, p := range c.promises {
		p.InvoiceIDs = slices.Clone(p.InvoiceIDs)
		out[i] = p
	}
	return out
}

// Reminders returns the reminders sent, in stream order.
func (c *Customer) Reminders() []ReminderSent { return slices.Clone(c.reminders) }

func (inv *invoiceState) view() InvoiceView {
	return InvoiceView{
		InvoiceID: inv.id, Number: inv.number, Amount: inv.amount, Open: inv.open,
		IssueDate: inv.issueDate, DueDate: inv.dueDate, Terms: inv.terms,
		Disputed: inv.disputed, DisputedOn: inv.disputedOn, Disputes: inv.disputes,
		WrittenOff: inv.writtenOff, WrittenOffAmount: inv.writtenOffAmount,
		UnderPlan: inv.planID != "", PlanID: inv.planID, ReminderLevel: inv.reminderLevel,
		Settled: append([]Settlement{}, inv.settled...),
	}
}

func (p *paymentState) view() PaymentView {
	return PaymentView{
		PaymentID: p.id, Amount: p.amount, ReceivedOn: p.receivedOn, Reference: p.reference,
		Unallocated: p.unallocated, Allocations: append([]Allocation{}, p.allocations...),
		Reversed: p.reversed, ReversedOn: p.reversedOn,
	}
}

func (n *creditNoteState) view() CreditNoteView {
	return CreditNoteView{
		CreditNoteID: n.id, InvoiceID: n.invoiceID, Amount: n.amount, AppliedToInvoice: n.applied,
		Standing: n.standing, IssueDate: n.issueDate, Reason: n.reason,
		Allocations: append([]Allocation{}, n.allocations...),
	}
}
