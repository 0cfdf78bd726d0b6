package ledger

import (
	"fmt"
	"slices"
	"strings"

	"github.com/encours/encours/domain"
)

// Settlement is one dated change of an invoice's open amount.
type Settlement struct {
	Kind   string       `json:"kind"` // cash, credit, write_off, reopened
	Amount domain.Money `json:"amount"`
	On     domain.Date  `json:"on"`      // the business date the open amount changed
	PaidOn domain.Date  `json:"paid_on"` // cash: the day the customer paid
	Source string       `json:"source"`  // payment or credit-note id
	// Reversed marks cash of a payment reversed later: it no longer counts as paid.
	Reversed bool `json:"reversed"`
}

// InvoiceView is one invoice at an as-of date.
type InvoiceView struct {
	InvoiceID     domain.InvoiceID `json:"invoice_id"`
	Number        string           `json:"number"`
	IssueDate     domain.Date      `json:"issue_date"`
	DueDate       domain.Date      `json:"due_date"`
	Amount        domain.Money     `json:"amount"`
	Open          domain.Money     `json:"open"`
	DaysPastDue   int              `json:"days_past_due"` // as-of − due date (negative: not yet due)
	Disputed      bool             `json:"disputed"`
	DisputedOn    domain.Date      `json:"disputed_on"`
	WrittenOff    bool             `json:"written_off"`
	PlanID        string           `json:"plan_id,omitempty"`
	ReminderLevel int              `json:"reminder_level"`
	// LMECapExceeded: terms beyond 60 days from issue or 45 days end of month (design
	// §Metrics, payment-term compliance; domain.ExceedsLMECap).
	LMECapExceeded bool         `json:"lme_cap_exceeded"`
	Settlements    []Settlement `json:"settlements"`
	// Days to pay and DBT of this invoice's cash (not reversed, paid by the as-of date),
	// amount-weighted, in hundredths of a day; nil when nothing was paid.
	DaysToPayCentidays *int64 `json:"days_to_pay_centidays"`
	DBTCentidays       *int64 `json:"dbt_centidays"`
}

// String names the kind as Settlement.Kind shows it.
func (k entryKind) String() string {
	switch k {
	case entryCash:
		return "cash"
	case entryCredit:
		return "credit"
	case entryWriteOff:
		return "write_off"
	case entryReopen:
		return "reopened"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

func (m *Model) invoiceView(c *customer, v *invoice, asOf domain.Date) InvoiceView {
	iv := InvoiceView{
		InvoiceID: v.id, Number: v.number, IssueDate: v.issue, DueDate: v.due,
		Amount: money(v.amount, c.currency), Open: money(v.open, c.currency),
		DaysPastDue: v.due.DaysUntil(asOf), Disputed: v.disputed(), DisputedOn: v.disputedOn,
		WrittenOff: v.writtenOff(), ReminderLevel: int(v.reminderLevel),
		LMECapExceeded: domain.ExceedsLMECap(v.issue, v.due),
		Settlements:    make([]Settlement, 0, len(v.entries)),
	}
	if v.plan != 0 {
		iv.PlanID = m.plans[v.plan-1].id
	}
	var settled int64
	var dtp, dbt wide
	for _, en := range v.entries {
		s := Settlement{Kind: en.kind.String(), Amount: money(en.amount, c.currency), On: en.on, PaidOn: en.paidOn}
		switch en.kind {
		case entryCash, entryReopen:
			p := m.payments.at(en.src)
			s.Source, s.Reversed = string(p.id), p.reversed() && en.kind == entryCash
			if en.kind == entryCash && !p.reversed() && !en.paidOn.After(asOf) {
				settled += en.amount
				dtp.addMul(en.amount, int64(v.issue.DaysUntil(en.paidOn)))
				dbt.addMul(en.amount, int64(v.due.DaysUntil(en.paidOn)))
			}
		case entryCredit:
			s.Source = string(m.creditNotes.at(en.src).id)
		}
		iv.Settlements = append(iv.Settlements, s)
	}
	if settled > 0 {
		iv.DaysToPayCentidays = optWideRatio(dtp, 100, settled)
		iv.DBTCentidays = optWideRatio(dbt, 100, settled)
	}
	return iv
}

// CustomerInvoices returns a customer's invoices at asOf in issue order (openOnly: those with
// an open amount, the open items).
func CustomerInvoices(m *Model, id domain.CustomerID, asOf domain.Date, openOnly bool) ([]InvoiceView, error) {
	ci, ok := m.customerIndex[id]
	if !ok {
		return nil, fmt.Errorf("ledger: customer %q: %w", id, ErrUnknownCustomer)
	}
	c := m.customers.at(ci)
	out := make([]InvoiceView, 0, len(c.invoices))
	for _, ii := range c.invoices {
		v := m.invoices.at(ii)
		if openOnly && v.open == 0 {
			continue
		}
		out = append(out, m.invoiceView(c, v, asOf))
	}
	return out, nil
}

// PaymentView is one payment.
type PaymentView struct {
	PaymentID   domain.PaymentID `json:"payment_id"`
	Amount      domain.Money     `json:"amount"`
	ReceivedOn  domain.Date      `json:"received_on"`
	Unallocated domain.Money     `json:"unallocated"`
	ReversedOn  domain.Date      `json:"reversed_on"`
}

// CreditNoteView is one credit note; Standing is what stands as customer credit.
type CreditNoteView struct {
	CreditNoteID domain.CreditNoteID `json:"credit_note_id"`
	InvoiceID    domain.InvoiceID    `json:"invoice_id,omitempty"`
	Amount       domain.Money        `json:"amount"`
	IssueDate    domain.Date         `json:"issue_date"`
	Standing     domain.Money        `json:"standing"`
}

// RatingView is the last external rating received.
type RatingView struct {
	Agency  string      `json:"agency"`
	Score   int         `json:"score"`
	Grade   string      `json:"grade"`
	RatedOn domain.Date `json:"rated_on"`
}

// PromiseView is a promise to pay.
type PromiseView struct {
	PromiseID   string       `json:"promise_id"`
	Amount      domain.Money `json:"amount"`
	PromisedFor domain.Date  `json:"promised_for"`
	RecordedOn  domain.Date  `json:"recorded_on"`
}

// Profile is a customer's profile and counters.
type Profile struct {
	CustomerID      domain.CustomerID `json:"customer_id"`
	Name            string            `json:"name"`
	Country         string            `json:"country"`
	Sector          string            `json:"sector"`
	Segment         string            `json:"segment"`
	Currency        domain.Currency   `json:"currency"`
	Terms           domain.Terms      `json:"terms"`
	RegisteredOn    domain.Date       `json:"registered_on"`
	CreditLimit     domain.Money      `json:"credit_limit"`
	Insurer         string            `json:"insurer,omitempty"`
	InsuranceCover  domain.Money      `json:"insurance_cover"`
	DeclarationDays int               `json:"declaration_days"`
	Rating          *RatingView       `json:"rating"`
	Invoices        int               `json:"invoices"`
	Disputes        int               `json:"disputes"`
	Reversals       int               `json:"reversals"`
	WriteOffs       int               `json:"write_offs"`
	Reminders       int               `json:"reminders"`
	Payments        []PaymentView     `json:"payments"`
	CreditNotes     []CreditNoteView  `json:"credit_notes"`
	Promises        []PromiseView     `json:"promises"`
}

// CustomerProfile returns a customer's profile, payments, credit notes and promises.
func CustomerProfile(m *Model, id domain.CustomerID) (Profile, error) {
	ci, ok := m.customerIndex[id]
	if !ok {
		return Profile{}, fmt.Errorf("ledger: customer %q: %w", id, ErrUnknownCustomer)
	}
	c := m.customers.at(ci)
	p := Profile{
		CustomerID: c.id, Name: c.name, Country: c.country, Sector: c.sector, Segment: c.segment,
		Currency: c.currency, Terms: c.terms, RegisteredOn: c.registeredOn,
		CreditLimit: money(c.limit, c.currency), Insurer: c.insurer,
		InsuranceCover: money(c.covered, c.currency), DeclarationDays: int(c.declarationDays),
		Invoices: len(c.invoices), Disputes: int(c.disputes), Reversals: int(c.reversals),
		WriteOffs: int(c.writeOffs), Reminders: int(c.reminders),
		Payments: []PaymentView{}, CreditNotes: []CreditNoteView{}, Promises: []PromiseView{},
	}
	if c.rating.agency != "" || !c.rating.on.IsZero() {
		p.Rating = &RatingView{Agency: c.rating.agency, Score: int(c.rating.score), Grade: c.rating.grade, RatedOn: c.rating.on}
	}
	for _, pi := range c.payments {
		py := m.payments.at(pi)
		p.Payments = append(p.Payments, PaymentView{PaymentID: py.id, Amount: money(py.amount, c.currency),
			ReceivedOn: py.received, Unallocated: money(py.unallocated, c.currency), ReversedOn: py.reversedOn})
	}
	for _, ni := range c.creditNotes {
		n := m.creditNotes.at(ni)
		cv := CreditNoteView{CreditNoteID: n.id, Amount: money(n.amount, c.currency), IssueDate: n.issue, Standing: money(n.standing, c.currency)}
		if n.invoice >= 0 {
			cv.InvoiceID = m.invoices.at(n.invoice).id
		}
		p.CreditNotes = append(p.CreditNotes, cv)
	}
	for _, pr := range c.promises {
		p.Promises = append(p.Promises, PromiseView{PromiseID: pr.id, Amount: money(pr.amount, c.currency), PromisedFor: pr.promisedFor, RecordedOn: pr.recordedOn})
	}
	return p, nil
}

// CustomerIDs returns the ids of the customers in scope s, sorted.
func CustomerIDs(m *Model, s Scope) []domain.CustomerID {
	out := make([]domain.CustomerID, 0, m.customers.len())
	for ci := range int32(m.customers.len()) {
		if c := m.customers.at(ci); s.has(c) {
			out = append(out, c.id)
		}
	}
	slices.SortFunc(out, func(a, b domain.CustomerID) int { return strings.Compare(string(a), string(b)) })
	return out
}

// Counts returns the number of customers, invoices, payments and credit notes held.
func (m *Model) Counts() (customers, invoices, payments, creditNotes int) {
	return m.customers.len(), m.invoices.len(), m.payments.len(), m.creditNotes.len()
}

// TermFinding is an invoice whose payment terms exceed the LME cap.
type TermFinding struct {
	CustomerID domain.CustomerID `json:"customer_id"`
	InvoiceID  domain.InvoiceID  `json:"invoice_id"`
	Number     string            `json:"number"`
	IssueDate  domain.Date       `json:"issue_date"`
	DueDate    domain.Date       `json:"due_date"`
	TermsDays  int               `json:"terms_days"`
}

// PaymentTermFindings flags the invoices of scope s issued by asOf whose terms run beyond 60
// days from issue or 45 days end of month (design §Metrics, payment-term compliance: the LME
// cap, domain.ExceedsLMECap).
func PaymentTermFindings(m *Model, s Scope, asOf domain.Date) []TermFinding {
	out := []TermFinding{}
	for ci := range int32(m.customers.len()) {
		c := m.customers.at(ci)
		if !s.has(c) {
			continue
		}
		for _, ii := range c.invoices {
			v := m.invoices.at(ii)
			if v.issue.After(asOf) || !domain.ExceedsLMECap(v.issue, v.due) {
				continue
			}
			out = append(out, TermFinding{CustomerID: c.id, InvoiceID: v.id, Number: v.number,
				IssueDate: v.issue, DueDate: v.due, TermsDays: v.issue.DaysUntil(v.due)})
		}
	}
	return out
}

// Declaration statuses.
const (
	DeclarationPending = "pending"  // the deadline is more than the warning window away
	DeclarationDueSoon = "due_soon" // within the warning window: warn
	DeclarationPassed  = "passed"   // the deadline is behind the as-of date
)

// DeclarationDeadline is when an unpaid invoice must be declared to the credit insurer.
type DeclarationDeadline struct {
	CustomerID domain.CustomerID `json:"customer_id"`
	InvoiceID  domain.InvoiceID  `json:"invoice_id"`
	Number     string            `json:"number"`
	DueDate    domain.Date       `json:"due_date"`
	Open       domain.Money      `json:"open"`
	Insurer    string            `json:"insurer"`
	Deadline   domain.Date       `json:"deadline"`
	DaysLeft   int               `json:"days_left"`
	Status     string            `json:"status"`
}

// InsuranceDeadlines lists, for the insured customers of scope s, each unpaid invoice's
// declaration deadline: due date + the cover's declaration days (design §Metrics,
// credit-insurance deadline: "warn before it passes"), soonest first. warnDays is the
// warning window.
func InsuranceDeadlines(m *Model, s Scope, asOf domain.Date, warnDays int) []DeclarationDeadline {
	out := []DeclarationDeadline{}
	for ci := range int32(m.customers.len()) {
		c := m.customers.at(ci)
		if !s.has(c) || c.declarationDays <= 0 || c.covered <= 0 {
			continue
		}
		for _, ii := range c.invoices {
			v := m.invoices.at(ii)
			if v.open == 0 || v.writtenOff() || v.issue.After(asOf) {
				continue
			}
			d := v.due.AddDays(int(c.declarationDays))
			left := asOf.DaysUntil(d)
			st := DeclarationPending
			switch {
			case left < 0:
				st = DeclarationPassed
			case left <= warnDays:
				st = DeclarationDueSoon
			}
			out = append(out, DeclarationDeadline{CustomerID: c.id, InvoiceID: v.id, Number: v.number,
				DueDate: v.due, Open: money(v.open, c.currency), Insurer: c.insurer, Deadline: d, DaysLeft: left, Status: st})
		}
	}
	slices.SortStableFunc(out, func(a, b DeclarationDeadline) int { return a.DaysLeft - b.DaysLeft })
	return out
}
