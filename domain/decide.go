package domain

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what one command may carry. Each bounds a loop in Decide and the size of the
// event it produces; the numbers come from the canonical event data limit (1 MiB,
// canonicalDataMax): a worst-case allocation (128-byte invoice id, 20-digit amount) is about
// 205 bytes of JSON, so 4000 of them stay under 820 KiB.
const (
	idBytesMax         = 128  // ids sit in URL paths and stream names (events.go)
	nameRunesMax       = 200  // names, numbers, agencies, insurers, outcomes, references
	textRunesMax       = 1000 // reasons and notes
	allocationsMax     = 4000 // allocations per payment or credit note over its life, and per command
	planInvoicesMax    = 4000 // invoices named by one plan or promise
	instalmentsMax     = 360  // thirty years of monthly instalments
	reminderLevelMax   = 9    // dunning levels 1..9
	ratingScoreMax     = 100  // scores 0..100, higher is safer
	declarationDaysMax = 365  // insurers' declaration windows are counted in days after due
)

// reminderChannels is the closed set of dunning channels (ReminderSent.Channel).
var reminderChannels = map[string]bool{"email": true, "letter": true, "phone": true, "formal_notice": true}

// Decide turns a command into the events it causes on c, or refuses it with a *Error whose
// Code is stable and whose Field names the JSON field of the API request at fault. c may be
// NewCustomer() (an unregistered customer); Decide never mutates c, has no clock and does no
// I/O: the shell folds c, calls Decide and appends the events with c.Version() as the
// expected version (design §The flow of one event, step 2).
//
// Choices where the design is silent, each tested in decide_test.go:
//   - Automatic allocation (a payment without allocations, or AllocatePayment without any)
//     settles open invoices oldest due first (due date, then issue date, then id), skipping
//     disputed invoices (cash against a disputed invoice needs a human decision: allocate it
//     explicitly), written-off ones, and invoices issued after the payment date. It settles at
//     most allocationsMax invoices; the rest stays unallocated on account.
//   - A reversal re-opens what the payment settled even on an invoice written off since: the
//     write-off recognised the loss of what was open then, and the bounced cash is owed again.
//     The invoice comes back into open items (WrittenOff false, WrittenOffAmount kept) and can
//     be written off again.
//   - A fully paid invoice can be disputed (the complaint may end in a credit note); a
//     written-off one cannot.
//   - A reminder on a disputed invoice is refused (invoice_disputed): disputed invoices are
//     excluded from dunning (design §Events).
//   - A credit note on a paid or written-off invoice applies nothing to it: all of it stands as
//     customer credit.
//   - Dates may precede the registration (historic imports), but never the fact they follow:
//     an invoice's issue date (date_before_issue), a payment's receipt or credit note's issue
//     for a later allocation or reversal, a dispute for its resolution, the agreement for its
//     instalments, the recording for the promised date (date_out_of_order).
func Decide(c *Customer, cmd Command) ([]Event, error) {
	ev, err := DecideEvent(c, cmd)
	if err != nil {
		return nil, err
	}
	return []Event{ev}, nil
}

// DecideEvent is Decide for a caller that takes the event itself: every command decides
// exactly one event. The bulk importer decides millions of commands and appends their events
// to a slice it reuses, without Decide's one-element slice each.
func DecideEvent(c *Customer, cmd Command) (Event, error) {
	if c == nil {
		c = NewCustomer()
	}
	cmd = derefCommand(cmd)
	if cmd == nil {
		return nil, Errorf(KindInternal, CodeUnknownCommand, "decide: nil command")
	}
	if reg, ok := cmd.(RegisterCustomer); ok {
		return c.decideRegister(reg)
	}
	if err := c.checkCustomer(cmd.Customer()); err != nil {
		return nil, err
	}
	switch cmd := cmd.(type) {
	case ChangeCreditLimit:
		return c.decideChangeCreditLimit(cmd)
	case IssueInvoice:
		return c.decideIssueInvoice(cmd)
	case IssueCreditNote:
		return c.decideIssueCreditNote(cmd)
	case RecordPayment:
		return c.decideRecordPayment(cmd)
	case AllocatePayment:
		return c.decideAllocatePayment(cmd)
	case ReversePayment:
		return c.decideReversePayment(cmd)
	case DisputeInvoice:
		return c.decideDisputeInvoice(cmd)
	case ResolveDispute:
		return c.decideResolveDispute(cmd)
	case WriteOffInvoice:
		return c.decideWriteOffInvoice(cmd)
	case AgreePaymentPlan:
		return c.decideAgreePaymentPlan(cmd)
	case RecordPromise:
		return c.decideRecordPromise(cmd)
	case SendReminder:
		return c.decideSendReminder(cmd)
	case RecordRating:
		return c.decideRecordRating(cmd)
	case ChangeInsuranceCover:
		return c.decideChangeInsuranceCover(cmd)
	}
	return nil, Errorf(KindInternal, CodeUnknownCommand, "decide: unknown command %T", cmd)
}

// derefCommand accepts *IssueInvoice as well as IssueInvoice: both satisfy Command.
func derefCommand(cmd Command) Command {
	switch v := cmd.(type) {
	case *RegisterCustomer:
		return derefOrNil(v)
	case *ChangeCreditLimit:
		return derefOrNil(v)
	case *IssueInvoice:
		return derefOrNil(v)
	case *IssueCreditNote:
		return derefOrNil(v)
	case *RecordPayment:
		return derefOrNil(v)
	case *AllocatePayment:
		return derefOrNil(v)
	case *ReversePayment:
		return derefOrNil(v)
	case *DisputeInvoice:
		return derefOrNil(v)
	case *ResolveDispute:
		return derefOrNil(v)
	case *WriteOffInvoice:
		return derefOrNil(v)
	case *AgreePaymentPlan:
		return derefOrNil(v)
	case *RecordPromise:
		return derefOrNil(v)
	case *SendReminder:
		return derefOrNil(v)
	case *RecordRating:
		return derefOrNil(v)
	case *ChangeInsuranceCover:
		return derefOrNil(v)
	}
	return cmd
}

func derefOrNil[T Command](p *T) Command {
	if p == nil {
		return nil
	}
	return *p
}

// checkCustomer: the command names a well-formed id of a registered customer, and the shell
// folded that customer's stream.
func (c *Customer) checkCustomer(id CustomerID) error {
	if err := checkID("customer_id", string(id)); err != nil {
		return err
	}
	if !c.registered {
		return FieldErrorf(KindNotFound, CodeUnknownCustomer, "customer_id", "customer %s is not registered", id)
	}
	if id != c.id {
		return Errorf(KindInternal, CodeCustomerMismatch, "command for customer %s decided on the stream of %s", id, c.id)
	}
	return nil
}

func (c *Customer) decideRegister(cmd RegisterCustomer) (Event, error) {
	if err := checkID("id", string(cmd.CustomerID)); err != nil {
		return nil, err
	}
	if c.registered {
		if cmd.CustomerID != c.id {
			return nil, Errorf(KindInternal, CodeCustomerMismatch, "registration of %s decided on the stream of %s", cmd.CustomerID, c.id)
		}
		return nil, FieldErrorf(KindConflict, CodeCustomerExists, "id", "customer %s is already registered", cmd.CustomerID)
	}
	if err := firstErr(
		checkName("name", cmd.Name, true),
		checkCountry(cmd.Country),
		checkName("sector", cmd.Sector, false),
		checkName("segment", cmd.Segment, false),
	); err != nil {
		return nil, err
	}
	if cmd.Currency == "" {
		return nil, FieldErrorf(KindInvalid, CodeMissingField, "currency", "currency is required")
	}
	if !cmd.Currency.Valid() {
		return nil, FieldErrorf(KindInvalid, CodeUnknownCurrency, "currency", "unknown currency %q (want an ISO 4217 code such as EUR)", cmd.Currency)
	}
	if err := cmd.Terms.Validate(); err != nil {
		return nil, FieldErrorf(KindInvalid, CodeInvalidTerms, "terms_days", "invalid payment terms %v (want 0..%d days)", cmd.Terms, termsDaysMax)
	}
	if cmd.CreditLimit.Ccy != cmd.Currency {
		return nil, FieldErrorf(KindInvalid, CodeCurrencyMismatch, "credit_limit", "credit limit in %q, customer in %s", cmd.CreditLimit.Ccy, cmd.Currency)
	}
	if cmd.CreditLimit.Minor < 0 {
		return nil, FieldErrorf(KindInvalid, CodeAmountNegative, "credit_limit", "credit limit %v is negative", cmd.CreditLimit)
	}
	if err := checkDate("registered_on", cmd.On, true); err != nil {
		return nil, err
	}
	return CustomerRegistered{
		CustomerID: cmd.CustomerID, Name: cmd.Name, Country: cmd.Country, Sector: cmd.Sector,
		Segment: cmd.Segment, Currency: cmd.Currency, Terms: cmd.Terms, CreditLimit: cmd.CreditLimit,
		RegisteredOn: cmd.On,
	}, nil
}

func (c *Customer) decideChangeCreditLimit(cmd ChangeCreditLimit) (Event, error) {
	if err := c.checkAmount("amount", "amount", cmd.Limit, false); err != nil {
		return nil, err
	}
	if err := firstErr(
		checkText("reason", cmd.Reason, true),
		checkName("approved_by", cmd.ApprovedBy, false),
		checkDate("changed_on", cmd.On, true),
	); err != nil {
		return nil, err
	}
	return CreditLimitChanged{
		Limit: cmd.Limit, Previous: c.limit, Reason: cmd.Reason, ApprovedBy: cmd.ApprovedBy, ChangedOn: cmd.On,
	}, nil
}

func (c *Customer) decideIssueInvoice(cmd IssueInvoice) (Event, error) {
	if err := firstErr(
		checkID("invoice_id", string(cmd.InvoiceID)),
		checkName("number", cmd.Number, true),
	); err != nil {
		return nil, err
	}
	if err := c.checkAmount("amount", "currency", cmd.Amount, true); err != nil {
		return nil, err
	}
	if err := checkDate("issue_date", cmd.IssueDate, true); err != nil {
		return nil, err
	}
	due, terms := cmd.DueDate, ""
	if due.IsZero() {
		due, terms = c.terms.DueDate(cmd.IssueDate), c.terms.String()
		if !due.Valid() {
			return nil, FieldErrorf(KindInvalid, CodeInvalidDate, "due_date", "due date %s from terms %v is out of range", due, c.terms)
		}
	} else if err := checkDate("due_date", due, true); err != nil {
		return nil, err
	}
	if due.Before(cmd.IssueDate) {
		return nil, FieldErrorf(KindInvalid, CodeDueBeforeIssue, "due_date", "invoice %s due %s, before its issue on %s", cmd.InvoiceID, due, cmd.IssueDate)
	}
	if _, dup := c.invoices[cmd.InvoiceID]; dup {
		return nil, FieldErrorf(KindConflict, CodeDuplicateInvoice, "invoice_id", "invoice %s already issued", cmd.InvoiceID)
	}
	if other, dup := c.invoiceNumbers[cmd.Number]; dup {
		return nil, FieldErrorf(KindConflict, CodeDuplicateInvoiceNumber, "number", "invoice number %q already used by invoice %s", cmd.Number, other)
	}
	if err := c.checkHeadroom("amount", cmd.Amount.Minor, 0); err != nil {
		return nil, err
	}
	// Over the credit limit is not refused: the invoice is a fact already sent to the
	// customer. The limit signal raises an alert instead (design §Early-warning signals).
	return InvoiceIssued{
		InvoiceID: cmd.InvoiceID, Number: cmd.Number, Amount: cmd.Amount,
		IssueDate: cmd.IssueDate, DueDate: due, Terms: terms,
	}, nil
}

func (c *Customer) decideIssueCreditNote(cmd IssueCreditNote) (Event, error) {
	if err := checkID("credit_note_id", string(cmd.CreditNoteID)); err != nil {
		return nil, err
	}
	if cmd.InvoiceID != "" {
		if err := checkID("invoice_id", string(cmd.InvoiceID)); err != nil {
			return nil, err
		}
	}
	if err := c.checkAmount("amount", "currency", cmd.Amount, true); err != nil {
		return nil, err
	}
	if err := firstErr(
		checkDate("issue_date", cmd.IssueDate, true),
		checkText("reason", cmd.Reason, false),
	); err != nil {
		return nil, err
	}
	if _, dup := c.creditNotes[cmd.CreditNoteID]; dup {
		return nil, FieldErrorf(KindConflict, CodeDuplicateCreditNote, "credit_note_id", "credit note %s already issued", cmd.CreditNoteID)
	}
	applied := Zero(c.currency)
	if cmd.InvoiceID != "" {
		inv, err := c.findInvoice("invoice_id", cmd.InvoiceID)
		if err != nil {
			return nil, err
		}
		if cmd.IssueDate.Before(inv.issueDate) {
			return nil, FieldErrorf(KindInvalid, CodeDateBeforeIssue, "issue_date", "credit note dated %s, before invoice %s was issued on %s", cmd.IssueDate, inv.id, inv.issueDate)
		}
		// A paid or written-off invoice has nothing open: the whole note stands as credit.
		applied = cmd.Amount.Min(inv.open)
	}
	standing := cmd.Amount.Minor - applied.Minor
	if err := c.checkHeadroom("amount", standing, applied.Minor); err != nil {
		return nil, err
	}
	return CreditNoteIssued{
		CreditNoteID: cmd.CreditNoteID, InvoiceID: cmd.InvoiceID, Amount: cmd.Amount,
		AppliedToInvoice: applied, IssueDate: cmd.IssueDate, Reason: cmd.Reason,
	}, nil
}

func (c *Customer) decideRecordPayment(cmd RecordPayment) (Event, error) {
	if err := checkID("payment_id", string(cmd.PaymentID)); err != nil {
		return nil, err
	}
	if err := c.checkAmount("amount", "currency", cmd.Amount, true); err != nil {
		return nil, err
	}
	if err := firstErr(
		checkDate("received_on", cmd.ReceivedOn, true),
		checkName("reference", cmd.Reference, false),
	); err != nil {
		return nil, err
	}
	if _, dup := c.payments[cmd.PaymentID]; dup {
		return nil, FieldErrorf(KindConflict, CodeDuplicatePayment, "payment_id", "payment %s already recorded", cmd.PaymentID)
	}
	var allocs []Allocation
	if len(cmd.Allocations) > 0 {
		var err error
		allocs, err = c.checkAllocations(cmd.Allocations, allocationsMax, cmd.ReceivedOn, "received_on", cmd.Amount, KindInvalid, CodeAllocationExceedsPayment)
		if err != nil {
			return nil, err
		}
	} else {
		allocs = c.autoAllocate(cmd.Amount, cmd.ReceivedOn, allocationsMax)
	}
	allocated := sumAllocations(allocs)
	unallocated := Money{Minor: cmd.Amount.Minor - allocated, Ccy: c.currency}
	if err := c.checkHeadroom("amount", unallocated.Minor, allocated); err != nil {
		return nil, err
	}
	return PaymentReceived{
		PaymentID: cmd.PaymentID, Amount: cmd.Amount, ReceivedOn: cmd.ReceivedOn,
		Allocations: allocs, Unallocated: unallocated, Reference: cmd.Reference,
	}, nil
}

func (c *Customer) decideAllocatePayment(cmd AllocatePayment) (Event, error) {
	if (cmd.PaymentID == "") == (cmd.CreditNoteID == "") {
		return nil, FieldErrorf(KindInvalid, CodeInvalidField, "payment_id", "allocate from exactly one of payment_id and credit_note_id")
	}
	if cmd.PaymentID != "" {
		if err := checkID("payment_id", string(cmd.PaymentID)); err != nil {
			return nil, err
		}
	} else if err := checkID("credit_note_id", string(cmd.CreditNoteID)); err != nil {
		return nil, err
	}
	if err := checkDate("allocated_on", cmd.On, true); err != nil {
		return nil, err
	}
	var available Money
	var slots int // allocations the source may still make (allocationsMax over its life)
	if cmd.PaymentID != "" {
		p, err := c.findPayment(cmd.PaymentID)
		if err != nil {
			return nil, err
		}
		if cmd.On.Before(p.receivedOn) {
			return nil, FieldErrorf(KindInvalid, CodeDateOutOfOrder, "allocated_on", "allocation on %s, before payment %s was received on %s", cmd.On, p.id, p.receivedOn)
		}
		available, slots = p.unallocated, allocationsMax-len(p.allocations)
	} else {
		n, ok := c.creditNotes[cmd.CreditNoteID]
		if !ok {
			return nil, FieldErrorf(KindNotFound, CodeUnknownCreditNote, "credit_note_id", "credit note %s is unknown for customer %s", cmd.CreditNoteID, c.id)
		}
		if cmd.On.Before(n.issueDate) {
			return nil, FieldErrorf(KindInvalid, CodeDateOutOfOrder, "allocated_on", "allocation on %s, before credit note %s was issued on %s", cmd.On, n.id, n.issueDate)
		}
		available, slots = n.standing, allocationsMax-len(n.allocations)
	}
	var allocs []Allocation
	if len(cmd.Allocations) > 0 {
		var err error
		allocs, err = c.checkAllocations(cmd.Allocations, slots, cmd.On, "allocated_on", available, KindConflict, CodeAllocationExceedsCash)
		if err != nil {
			return nil, err
		}
	} else {
		if !available.IsPositive() {
			return nil, FieldErrorf(KindConflict, CodeAllocationExceedsCash, "allocations", "nothing left to allocate: %v on account", available)
		}
		allocs = c.autoAllocate(available, cmd.On, slots)
		if len(allocs) == 0 {
			return nil, FieldErrorf(KindConflict, CodeNothingToAllocate, "allocations", "no open, undisputed invoice issued by %s to allocate to", cmd.On)
		}
	}
	return PaymentAllocated{
		PaymentID: cmd.PaymentID, CreditNoteID: cmd.CreditNoteID, AllocatedOn: cmd.On, Allocations: allocs,
	}, nil
}

func (c *Customer) decideReversePayment(cmd ReversePayment) (Event, error) {
	if err := firstErr(
		checkID("payment_id", string(cmd.PaymentID)),
		checkDate("reversed_on", cmd.On, true),
		checkText("reason", cmd.Reason, false),
	); err != nil {
		return nil, err
	}
	p, err := c.findPayment(cmd.PaymentID)
	if err != nil {
		return nil, err
	}
	if cmd.On.Before(p.receivedOn) {
		return nil, FieldErrorf(KindInvalid, CodeDateOutOfOrder, "reversed_on", "reversal on %s, before payment %s was received on %s", cmd.On, p.id, p.receivedOn)
	}
	// Every allocation the payment made, at receipt and later, is re-opened as it was made
	// (design §Events: "re-opens what it settled"); what it still had on account leaves.
	reopened := append([]Allocation{}, p.allocations...)
	if err := c.checkHeadroom("payment_id", sumAllocations(reopened), p.unallocated.Minor); err != nil {
		return nil, err
	}
	return PaymentReversed{
		PaymentID: p.id, Amount: p.amount, ReversedOn: cmd.On, Reason: cmd.Reason,
		Reopened: reopened, UnallocatedRemoved: p.unallocated,
	}, nil
}

func (c *Customer) decideDisputeInvoice(cmd DisputeInvoice) (Event, error) {
	if err := firstErr(
		checkID("invoice_id", string(cmd.InvoiceID)),
		checkDate("disputed_on", cmd.On, true),
		checkText("reason", cmd.Reason, false),
	); err != nil {
		return nil, err
	}
	inv, err := c.findInvoice("invoice_id", cmd.InvoiceID)
	if err != nil {
		return nil, err
	}
	if inv.writtenOff {
		return nil, FieldErrorf(KindConflict, CodeInvoiceWrittenOff, "invoice_id", "invoice %s is written off", inv.id)
	}
	if inv.disputed {
		return nil, FieldErrorf(KindConflict, CodeAlreadyDisputed, "invoice_id", "invoice %s is already disputed since %s", inv.id, inv.disputedOn)
	}
	if err := checkNotBeforeIssue("disputed_on", cmd.On, inv); err != nil {
		return nil, err
	}
	return InvoiceDisputed{InvoiceID: inv.id, DisputedOn: cmd.On, Reason: cmd.Reason}, nil
}

func (c *Customer) decideResolveDispute(cmd ResolveDispute) (Event, error) {
	if err := firstErr(
		checkID("invoice_id", string(cmd.InvoiceID)),
		checkDate("resolved_on", cmd.On, true),
		checkName("outcome", cmd.Outcome, false),
		checkText("note", cmd.Note, false),
	); err != nil {
		return nil, err
	}
	inv, err := c.findInvoice("invoice_id", cmd.InvoiceID)
	if err != nil {
		return nil, err
	}
	if !inv.disputed {
		return nil, FieldErrorf(KindConflict, CodeNotDisputed, "invoice_id", "invoice %s is not disputed", inv.id)
	}
	if cmd.On.Before(inv.disputedOn) {
		return nil, FieldErrorf(KindInvalid, CodeDateOutOfOrder, "resolved_on", "dispute on invoice %s resolved on %s, before it was opened on %s", inv.id, cmd.On, inv.disputedOn)
	}
	return DisputeResolved{InvoiceID: inv.id, ResolvedOn: cmd.On, Outcome: cmd.Outcome, Note: cmd.Note}, nil
}

func (c *Customer) decideWriteOffInvoice(cmd WriteOffInvoice) (Event, error) {
	if err := firstErr(
		checkID("invoice_id", string(cmd.InvoiceID)),
		checkDate("written_off_on", cmd.On, true),
		checkText("reason", cmd.Reason, false),
	); err != nil {
		return nil, err
	}
	inv, err := c.findInvoice("invoice_id", cmd.InvoiceID)
	if err != nil {
		return nil, err
	}
	if err := firstErr(
		checkOpen("invoice_id", inv),
		checkNotBeforeIssue("written_off_on", cmd.On, inv),
	); err != nil {
		return nil, err
	}
	return InvoiceWrittenOff{InvoiceID: inv.id, Amount: inv.open, WrittenOffOn: cmd.On, Reason: cmd.Reason}, nil
}

func (c *Customer) decideAgreePaymentPlan(cmd AgreePaymentPlan) (Event, error) {
	if err := firstErr(
		checkID("plan_id", cmd.PlanID),
		checkDate("agreed_on", cmd.On, true),
	); err != nil {
		return nil, err
	}
	if len(cmd.InvoiceIDs) == 0 {
		return nil, FieldErrorf(KindInvalid, CodeMissingField, "invoice_ids", "a payment plan names at least one invoice")
	}
	if err := checkInvoiceIDs("invoice_ids", cmd.InvoiceIDs); err != nil {
		return nil, err
	}
	if len(cmd.Instalments) == 0 {
		return nil, FieldErrorf(KindInvalid, CodeMissingField, "instalments", "a payment plan has at least one instalment")
	}
	if len(cmd.Instalments) > instalmentsMax {
		return nil, FieldErrorf(KindInvalid, CodeInvalidField, "instalments", "%d instalments, at most %d", len(cmd.Instalments), instalmentsMax)
	}
	var planned int64
	for i, in := range cmd.Instalments {
		field := fmt.Sprintf("instalments[%d]", i)
		if err := checkDate(field+".due_date", in.Due, true); err != nil {
			return nil, err
		}
		if in.Due.Before(cmd.On) {
			return nil, FieldErrorf(KindInvalid, CodeDateOutOfOrder, field+".due_date", "instalment due %s, before the plan was agreed on %s", in.Due, cmd.On)
		}
		if err := c.checkAmount(field+".amount", field+".amount", in.Amount, true); err != nil {
			return nil, err
		}
		var ok bool
		if planned, ok = addInt64(planned, in.Amount.Minor); !ok {
			return nil, FieldErrorf(KindInvalid, CodeAmountOverflow, "instalments", "instalments overflow")
		}
	}
	if c.planIDs[cmd.PlanID] {
		return nil, FieldErrorf(KindConflict, CodeDuplicatePlan, "plan_id", "payment plan %s already agreed", cmd.PlanID)
	}
	var open int64
	for i, id := range cmd.InvoiceIDs {
		field := fmt.Sprintf("invoice_ids[%d]", i)
		inv, err := c.findInvoice(field, id)
		if err != nil {
			return nil, err
		}
		if err := checkOpen(field, inv); err != nil {
			return nil, err
		}
		if err := checkNotBeforeIssue("agreed_on", cmd.On, inv); err != nil {
			return nil, err
		}
		open += inv.open.Minor // Σ open ≤ openInvoiceMinor: cannot overflow
	}
	if planned != open {
		return nil, FieldErrorf(KindConflict, CodePlanMismatch, "instalments", "instalments total %s, the invoices have %s open",
			Money{Minor: planned, Ccy: c.currency}, Money{Minor: open, Ccy: c.currency})
	}
	return PaymentPlanAgreed{
		PlanID: cmd.PlanID, InvoiceIDs: slices.Clone(cmd.InvoiceIDs), Instalments: slices.Clone(cmd.Instalments), AgreedOn: cmd.On,
	}, nil
}

func (c *Customer) decideRecordPromise(cmd RecordPromise) (Event, error) {
	if err := checkID("promise_id", cmd.PromiseID); err != nil {
		return nil, err
	}
	if err := c.checkAmount("amount", "currency", cmd.Amount, true); err != nil {
		return nil, err
	}
	if err := firstErr(
		checkDate("recorded_on", cmd.On, true),
		checkDate("promised_for", cmd.PromisedFor, true),
	); err != nil {
		return nil, err
	}
	if cmd.PromisedFor.Before(cmd.On) {
		return nil, FieldErrorf(KindInvalid, CodeDateOutOfOrder, "promised_for", "promise for %s, before it was made on %s", cmd.PromisedFor, cmd.On)
	}
	if err := firstErr(
		checkInvoiceIDs("invoice_ids", cmd.InvoiceIDs),
		checkText("note", cmd.Note, false),
	); err != nil {
		return nil, err
	}
	if c.promiseIDs[cmd.PromiseID] {
		return nil, FieldErrorf(KindConflict, CodeDuplicatePromise, "promise_id", "promise %s already recorded", cmd.PromiseID)
	}
	for i, id := range cmd.InvoiceIDs {
		field := fmt.Sprintf("invoice_ids[%d]", i)
		inv, err := c.findInvoice(field, id)
		if err != nil {
			return nil, err
		}
		if err := checkOpen(field, inv); err != nil {
			return nil, err
		}
	}
	var ids []InvoiceID
	if len(cmd.InvoiceIDs) > 0 {
		ids = slices.Clone(cmd.InvoiceIDs)
	}
	return PromiseToPayRecorded{
		PromiseID: cmd.PromiseID, Amount: cmd.Amount, PromisedFor: cmd.PromisedFor,
		InvoiceIDs: ids, RecordedOn: cmd.On, Note: cmd.Note,
	}, nil
}

func (c *Customer) decideSendReminder(cmd SendReminder) (Event, error) {
	if err := checkID("invoice_id", string(cmd.InvoiceID)); err != nil {
		return nil, err
	}
	if cmd.Level < 1 || cmd.Level > reminderLevelMax {
		return nil, FieldErrorf(KindInvalid, CodeInvalidField, "level", "reminder level %d, want 1..%d", cmd.Level, reminderLevelMax)
	}
	if cmd.Channel == "" {
		return nil, FieldErrorf(KindInvalid, CodeMissingField, "channel", "channel is required (email, letter, phone or formal_notice)")
	}
	if !reminderChannels[cmd.Channel] {
		return nil, FieldErrorf(KindInvalid, CodeInvalidField, "channel", "channel %q, want email, letter, phone or formal_notice", cmd.Channel)
	}
	if err := checkDate("sent_on", cmd.On, true); err != nil {
		return nil, err
	}
	inv, err := c.findInvoice("invoice_id", cmd.InvoiceID)
	if err != nil {
		return nil, err
	}
	if err := checkOpen("invoice_id", inv); err != nil {
		return nil, err
	}
	if inv.disputed {
		return nil, FieldErrorf(KindConflict, CodeInvoiceDisputed, "invoice_id", "invoice %s is disputed since %s: no dunning", inv.id, inv.disputedOn)
	}
	if err := checkNotBeforeIssue("sent_on", cmd.On, inv); err != nil {
		return nil, err
	}
	return ReminderSent{InvoiceID: inv.id, Level: cmd.Level, Channel: cmd.Channel, SentOn: cmd.On}, nil
}

func (c *Customer) decideRecordRating(cmd RecordRating) (Event, error) {
	if err := checkName("agency", cmd.Agency, true); err != nil {
		return nil, err
	}
	if cmd.Score < 0 || cmd.Score > ratingScoreMax {
		return nil, FieldErrorf(KindInvalid, CodeRatingOutOfRange, "score", "score %d, want 0..%d", cmd.Score, ratingScoreMax)
	}
	if err := firstErr(
		checkName("grade", cmd.Grade, false),
		checkDate("rated_on", cmd.On, true),
	); err != nil {
		return nil, err
	}
	return ExternalRatingReceived{Agency: cmd.Agency, Score: cmd.Score, Grade: cmd.Grade, RatedOn: cmd.On}, nil
}

func (c *Customer) decideChangeInsuranceCover(cmd ChangeInsuranceCover) (Event, error) {
	if err := c.checkAmount("covered", "covered", cmd.Covered, false); err != nil {
		return nil, err
	}
	// Removing cover (zero) needs no insurer; any cover does.
	if err := checkName("insurer", cmd.Insurer, cmd.Covered.IsPositive()); err != nil {
		return nil, err
	}
	if cmd.DeclarationDays < 1 || cmd.DeclarationDays > declarationDaysMax {
		return nil, FieldErrorf(KindInvalid, CodeInvalidField, "declaration_days", "declaration window %d days, want 1..%d", cmd.DeclarationDays, declarationDaysMax)
	}
	if err := checkDate("changed_on", cmd.On, true); err != nil {
		return nil, err
	}
	return CreditInsuranceCoverChanged{
		Insurer: cmd.Insurer, Covered: cmd.Covered, DeclarationDays: cmd.DeclarationDays, ChangedOn: cmd.On,
	}, nil
}

// checkAllocations validates explicit allocations of cash or credit made on date on (named
// onField in the request) against the invoices, drawing on available: each invoice named
// once, known, not written off, issued by on, and settled by no more than its open amount;
// their sum no more than available (exceedsCode otherwise). It returns a copy.
func (c *Customer) checkAllocations(allocs []Allocation, slots int, on Date, onField string, available Money, exceedsKind Kind, exceedsCode string) ([]Allocation, error) {
	if len(allocs) > slots {
		return nil, FieldErrorf(KindInvalid, CodeInvalidField, "allocations", "%d allocations, at most %d more for this source", len(allocs), max(slots, 0))
	}
	seen := make(map[InvoiceID]bool, len(allocs))
	var sum int64
	for i, a := range allocs {
		f := allocationField(i)
		if err := checkID(f.invoiceID, string(a.InvoiceID)); err != nil {
			return nil, err
		}
		if seen[a.InvoiceID] {
			return nil, FieldErrorf(KindInvalid, CodeDuplicateAllocation, f.invoiceID, "invoice %s is allocated twice", a.InvoiceID)
		}
		seen[a.InvoiceID] = true
		if err := c.checkAmount(f.amount, f.amount, a.Amount, true); err != nil {
			return nil, err
		}
		inv, err := c.findInvoice(f.invoiceID, a.InvoiceID)
		if err != nil {
			return nil, err
		}
		if inv.writtenOff {
			return nil, FieldErrorf(KindConflict, CodeInvoiceWrittenOff, f.invoiceID, "invoice %s is written off", inv.id)
		}
		if err := checkNotBeforeIssue(onField, on, inv); err != nil {
			return nil, err
		}
		if a.Amount.Minor > inv.open.Minor {
			return nil, FieldErrorf(KindConflict, CodeAllocationExceedsOpen, f.amount, "allocation %v to invoice %s, which has %v open", a.Amount, inv.id, inv.open)
		}
		var ok bool
		if sum, ok = addInt64(sum, a.Amount.Minor); !ok || sum > available.Minor {
			return nil, FieldErrorf(exceedsKind, exceedsCode, "allocations", "allocations exceed the %v available", available)
		}
	}
	return slices.Clone(allocs), nil
}

// allocationNames are the request fields of one allocation.
type allocationNames struct{ invoiceID, amount string }

// allocationFields are the names of the first allocations' fields: most payments allocate to
// one invoice, and formatting the names for every allocation checked was a tenth of deciding
// a payment.
var allocationFields = func() (out [16]allocationNames) {
	for i := range out {
		out[i] = allocationNamesOf(i)
	}
	return out
}()

func allocationNamesOf(i int) allocationNames {
	field := fmt.Sprintf("allocations[%d]", i)
	return allocationNames{invoiceID: field + ".invoice_id", amount: field + ".amount"}
}

// allocationField names the fields of allocation i of a request ("allocations[3].amount").
func allocationField(i int) allocationNames {
	if i < len(allocationFields) {
		return allocationFields[i]
	}
	return allocationNamesOf(i)
}

// autoAllocate settles up to slots open invoices oldest due first (due date, then issue
// date, then id) with available, skipping disputed and written-off invoices and those issued
// after on (see Decide's doc). The result is never nil, so the event's JSON says [].
func (c *Customer) autoAllocate(available Money, on Date, slots int) []Allocation {
	eligible := make([]*invoiceState, 0, len(c.invoices))
	for _, inv := range c.invoices {
		if inv.open.IsPositive() && !inv.writtenOff && !inv.disputed && !inv.issueDate.After(on) {
			eligible = append(eligible, inv)
		}
	}
	slices.SortFunc(eligible, func(a, b *invoiceState) int {
		return cmp.Or(
			cmp.Compare(a.dueDate.Days(), b.dueDate.Days()),
			cmp.Compare(a.issueDate.Days(), b.issueDate.Days()),
			strings.Compare(string(a.id), string(b.id)),
		)
	})
	out := []Allocation{}
	left := available.Minor
	for _, inv := range eligible {
		if left == 0 || len(out) >= slots {
			break
		}
		amt := min(left, inv.open.Minor)
		out = append(out, Allocation{InvoiceID: inv.id, Amount: Money{Minor: amt, Ccy: c.currency}})
		left -= amt
	}
	return out
}

func sumAllocations(allocs []Allocation) int64 {
	var s int64
	for _, a := range allocs {
		s = mustAdd(s, a.Amount.Minor) // each checked against an open amount already
	}
	return s
}

// checkHeadroom refuses an event that would take open invoices + unallocated cash + open
// credit (each ≥ 0) past math.MaxInt64 after adding add and removing remove, so that Exposure
// and the running totals never overflow (Evolve asserts it).
func (c *Customer) checkHeadroom(field string, add, remove int64) error {
	gross := mustAdd(mustAdd(c.openInvoiceMinor, c.unallocatedMinor), c.openCreditMinor)
	after, ok := addInt64(gross-remove, add)
	if !ok || after < 0 {
		return FieldErrorf(KindInvalid, CodeAmountOverflow, field, "the customer's totals would exceed %d minor units", int64(math.MaxInt64))
	}
	return nil
}

func (c *Customer) findInvoice(field string, id InvoiceID) (*invoiceState, error) {
	inv, ok := c.invoices[id]
	if !ok {
		// An invoice of another customer is unknown here: streams do not see each other.
		return nil, FieldErrorf(KindNotFound, CodeUnknownInvoice, field, "invoice %s is unknown for customer %s", id, c.id)
	}
	return inv, nil
}

func (c *Customer) findPayment(id PaymentID) (*paymentState, error) {
	p, ok := c.payments[id]
	if !ok {
		return nil, FieldErrorf(KindNotFound, CodeUnknownPayment, "payment_id", "payment %s is unknown for customer %s", id, c.id)
	}
	if p.reversed {
		return nil, FieldErrorf(KindConflict, CodeAlreadyReversed, "payment_id", "payment %s was reversed on %s", id, p.reversedOn)
	}
	return p, nil
}

// checkOpen refuses an invoice with nothing left to act on: written off, or fully settled.
func checkOpen(field string, inv *invoiceState) error {
	if inv.writtenOff {
		return FieldErrorf(KindConflict, CodeInvoiceWrittenOff, field, "invoice %s is written off", inv.id)
	}
	if !inv.open.IsPositive() {
		return FieldErrorf(KindConflict, CodeInvoiceClosed, field, "invoice %s has nothing open", inv.id)
	}
	return nil
}

func checkNotBeforeIssue(field string, on Date, inv *invoiceState) error {
	if on.Before(inv.issueDate) {
		return FieldErrorf(KindInvalid, CodeDateBeforeIssue, field, "%s is before invoice %s was issued on %s", on, inv.id, inv.issueDate)
	}
	return nil
}

// checkAmount: m is in the customer's currency, and positive (or, when !positive, at least
// zero). currencyField is the request field carrying the currency, when it has its own.
func (c *Customer) checkAmount(amountField, currencyField string, m Money, positive bool) error {
	if !m.Ccy.Valid() {
		return FieldErrorf(KindInvalid, CodeUnknownCurrency, currencyField, "unknown currency %q (want an ISO 4217 code such as EUR)", m.Ccy)
	}
	if m.Ccy != c.currency {
		return FieldErrorf(KindInvalid, CodeCurrencyMismatch, currencyField, "amount in %s, customer %s in %s", m.Ccy, c.id, c.currency)
	}
	if positive && !m.IsPositive() {
		return FieldErrorf(KindInvalid, CodeAmountNotPositive, amountField, "amount %v must be positive", m)
	}
	if m.Minor < 0 {
		return FieldErrorf(KindInvalid, CodeAmountNegative, amountField, "amount %v must not be negative", m)
	}
	return nil
}

// ValidateID checks an identifier: 1..128 bytes of [A-Za-z0-9._:-], so that it can sit in a
// URL path and a stream name unescaped (events.go, Identifiers). Errors have code invalid_id
// and no field; Decide names the field.
func ValidateID(id string) error {
	if id == "" {
		return Errorf(KindInvalid, CodeInvalidID, "id is empty")
	}
	if len(id) > idBytesMax {
		return Errorf(KindInvalid, CodeInvalidID, "id of %d bytes, at most %d", len(id), idBytesMax)
	}
	for i := 0; i < len(id); i++ {
		switch b := id[i]; {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9', b == '.', b == '_', b == ':', b == '-':
		default:
			return Errorf(KindInvalid, CodeInvalidID, "id %q: byte %d is not one of [A-Za-z0-9._:-]", id, i)
		}
	}
	return nil
}

// firstErr returns the first non-nil error of errs: a command's field checks, in the order
// its errors are reported.
func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func checkID(field, id string) error {
	if err := ValidateID(id); err != nil {
		e := *err.(*Error)
		e.Field = field
		e.Message = field + ": " + e.Message
		return &e
	}
	return nil
}

// checkInvoiceIDs: at most planInvoicesMax well-formed ids, none twice.
func checkInvoiceIDs(field string, ids []InvoiceID) error {
	if len(ids) > planInvoicesMax {
		return FieldErrorf(KindInvalid, CodeInvalidField, field, "%d invoices, at most %d", len(ids), planInvoicesMax)
	}
	seen := make(map[InvoiceID]bool, len(ids))
	for i, id := range ids {
		f := fmt.Sprintf("%s[%d]", field, i)
		if err := checkID(f, string(id)); err != nil {
			return err
		}
		if seen[id] {
			return FieldErrorf(KindInvalid, CodeInvalidField, f, "invoice %s is named twice", id)
		}
		seen[id] = true
	}
	return nil
}

func checkDate(field string, d Date, required bool) error {
	if d.IsZero() {
		if required {
			return FieldErrorf(KindInvalid, CodeMissingField, field, "%s is required", field)
		}
		return nil
	}
	if !d.Valid() {
		return FieldErrorf(KindInvalid, CodeInvalidDate, field, "%s %s is outside 1900-01-01..2999-12-31", field, d)
	}
	return nil
}

// checkName checks a one-line label (name, number, agency...): valid UTF-8, no control
// characters, at most nameRunesMax characters; required means not blank.
func checkName(field, s string, required bool) error {
	return checkString(field, s, required, nameRunesMax, false)
}

// checkText checks free text (reason, note): like checkName, up to textRunesMax characters,
// line breaks and tabs allowed.
func checkText(field, s string, required bool) error {
	return checkString(field, s, required, textRunesMax, true)
}

func checkString(field, s string, required bool, runesMax int, multiline bool) error {
	if strings.TrimSpace(s) == "" {
		if required {
			return FieldErrorf(KindInvalid, CodeMissingField, field, "%s is required", field)
		}
		if s == "" {
			return nil
		}
	}
	if !utf8.ValidString(s) {
		return FieldErrorf(KindInvalid, CodeInvalidField, field, "%s is not valid UTF-8", field)
	}
	if n := utf8.RuneCountInString(s); n > runesMax {
		return FieldErrorf(KindInvalid, CodeInvalidField, field, "%s has %d characters, at most %d", field, n, runesMax)
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			return FieldErrorf(KindInvalid, CodeInvalidField, field, "%s contains control character %U", field, r)
		}
	}
	return nil
}

// checkCountry: ISO 3166-1 alpha-2, two upper-case ASCII letters.
func checkCountry(s string) error {
	if s == "" {
		return FieldErrorf(KindInvalid, CodeMissingField, "country", "country is required")
	}
	if len(s) != 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' {
		return FieldErrorf(KindInvalid, CodeInvalidField, "country", "country %q, want an ISO 3166-1 alpha-2 code such as FR", s)
	}
	return nil
}
