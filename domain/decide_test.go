package domain_test

import (
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// decideCase reads as given events, when a command, then events or an error code (and the
// request field it names). check, when set, looks at the state after the produced events are
// folded in.
type decideCase struct {
	name  string
	given []domain.Event
	when  domain.Command
	then  []domain.Event
	code  string
	field string
	check func(t *testing.T, c *domain.Customer)
}

// TestDecide runs every rule and every refusal of the customer aggregate. For each case it
// also checks that Decide left its input state untouched (deep equality with a second fold)
// and, on success, that the produced events fold without tripping an assertion and keep the
// totals consistent.
func TestDecide(t *testing.T) {
	var cases []decideCase
	cases = append(cases, registerCases()...)
	cases = append(cases, limitCases()...)
	cases = append(cases, invoiceCases()...)
	cases = append(cases, paymentCases()...)
	cases = append(cases, allocateCases()...)
	cases = append(cases, reversalCases()...)
	cases = append(cases, creditNoteCases()...)
	cases = append(cases, disputeCases()...)
	cases = append(cases, writeOffCases()...)
	cases = append(cases, planCases()...)
	cases = append(cases, promiseCases()...)
	cases = append(cases, reminderCases()...)
	cases = append(cases, ratingAndInsuranceCases()...)
	names := map[string]bool{}
	for _, tc := range cases {
		require.Falsef(t, names[tc.name], "case name %q used twice", tc.name)
		names[tc.name] = true
		t.Run(tc.name, func(t *testing.T) { runDecideCase(t, tc) })
	}
	t.Logf("%d cases", len(cases))
}

func runDecideCase(t *testing.T, tc decideCase) {
	t.Helper()
	c := domain.Fold(tc.given)
	untouched := domain.Fold(tc.given)
	got, err := domain.Decide(c, tc.when)
	require.Truef(t, reflect.DeepEqual(untouched, c), "Decide(%+v) mutated the state", tc.when)
	// DecideEvent decides the same: Decide's one event, or its error.
	ev, evErr := domain.DecideEvent(c, tc.when)
	require.Truef(t, reflect.DeepEqual(untouched, c), "DecideEvent(%+v) mutated the state", tc.when)
	assert.Equal(t, err, evErr, "DecideEvent's error")
	if err == nil && assert.Len(t, got, 1, "Decide's events") {
		assert.Equal(t, got[0], ev, "DecideEvent's event")
	}
	if tc.code != "" {
		require.Errorf(t, err, "Decide(%+v): got events %+v, want error %s", tc.when, got, tc.code)
		assert.Nil(t, got, "events with an error")
		var de *domain.Error
		require.Truef(t, errors.As(err, &de), "got %T (%v), want *domain.Error", err, err)
		assert.Equalf(t, tc.code, domain.ErrorCode(err), "code of %q", err)
		assert.Truef(t, errors.Is(err, &domain.Error{Code: tc.code}), "errors.Is(%v, %s)", err, tc.code)
		assert.Equalf(t, tc.field, de.Field, "field of %q", err)
		assert.NotEmpty(t, de.Message)
		return
	}
	require.NoErrorf(t, err, "Decide(%+v)", tc.when)
	assert.Equal(t, tc.then, got)
	for _, e := range got {
		domain.Evolve(c, e)
	}
	assert.Equal(t, uint64(len(tc.given)+len(got)), c.Version(), "version")
	checkInvariants(t, c)
	if tc.check != nil {
		tc.check(t, c)
	}
}

func refused(name string, given []domain.Event, when domain.Command, code, field string) decideCase {
	return decideCase{name: name, given: given, when: when, code: code, field: field}
}

func registerCmd(mod func(*domain.RegisterCustomer)) domain.RegisterCustomer {
	cmd := domain.RegisterCustomer{
		CustomerID: custID, Name: "Boulangerie Martin SARL", Country: "FR", Sector: "10.71",
		Segment: "sme", Currency: "EUR", Terms: domain.Net(30), CreditLimit: eur(100_000),
		On: day("2025-01-01"),
	}
	if mod != nil {
		mod(&cmd)
	}
	return cmd
}

func registerCases() []decideCase {
	reg := func(mod func(*domain.RegisterCustomer)) domain.RegisterCustomer { return registerCmd(mod) }
	return []decideCase{
		{name: "register a new customer", when: reg(nil), then: []domain.Event{registered()},
			check: func(t *testing.T, c *domain.Customer) {
				p := c.Profile()
				assert.True(t, c.Registered())
				assert.Equal(t, custID, p.ID)
				assert.Equal(t, domain.Net(30), p.Terms)
				assert.Equal(t, eur(100_000), p.CreditLimit)
				assert.Equal(t, eur(0), c.Exposure())
				assert.Nil(t, p.Rating)
			}},
		{name: "register with a zero limit extends no credit but is accepted",
			when: reg(func(r *domain.RegisterCustomer) { r.CreditLimit = eur(0) }),
			then: []domain.Event{func() domain.Event { e := registered(); e.CreditLimit = eur(0); return e }()}},
		refused("register twice is customer_exists", []domain.Event{registered()}, reg(nil), domain.CodeCustomerExists, "id"),
		refused("register with a malformed id is invalid_id", nil, reg(func(r *domain.RegisterCustomer) { r.CustomerID = "C 1" }), domain.CodeInvalidID, "id"),
		refused("register with an empty id is invalid_id", nil, reg(func(r *domain.RegisterCustomer) { r.CustomerID = "" }), domain.CodeInvalidID, "id"),
		refused("register with a 129-byte id is invalid_id", nil, reg(func(r *domain.RegisterCustomer) { r.CustomerID = domain.CustomerID(strings.Repeat("a", 129)) }), domain.CodeInvalidID, "id"),
		refused("register without a name is missing_field", nil, reg(func(r *domain.RegisterCustomer) { r.Name = "  " }), domain.CodeMissingField, "name"),
		refused("register with a 201-character name is invalid_field", nil, reg(func(r *domain.RegisterCustomer) { r.Name = strings.Repeat("é", 201) }), domain.CodeInvalidField, "name"),
		refused("register with a control character in the name is invalid_field", nil, reg(func(r *domain.RegisterCustomer) { r.Name = "Martin\x00SARL" }), domain.CodeInvalidField, "name"),
		refused("register with invalid UTF-8 in the sector is invalid_field", nil, reg(func(r *domain.RegisterCustomer) { r.Sector = "\xff" }), domain.CodeInvalidField, "sector"),
		refused("register with a lower-case country is invalid_field", nil, reg(func(r *domain.RegisterCustomer) { r.Country = "fr" }), domain.CodeInvalidField, "country"),
		refused("register with a three-letter country is invalid_field", nil, reg(func(r *domain.RegisterCustomer) { r.Country = "FRA" }), domain.CodeInvalidField, "country"),
		refused("register without a country is missing_field", nil, reg(func(r *domain.RegisterCustomer) { r.Country = "" }), domain.CodeMissingField, "country"),
		refused("register without a currency is missing_field", nil, reg(func(r *domain.RegisterCustomer) { r.Currency = ""; r.CreditLimit.Ccy = "" }), domain.CodeMissingField, "currency"),
		refused("register in an unknown currency is unknown_currency", nil, reg(func(r *domain.RegisterCustomer) { r.Currency = "XXX"; r.CreditLimit.Ccy = "XXX" }), domain.CodeUnknownCurrency, "currency"),
		refused("register with invalid terms is invalid_terms", nil, reg(func(r *domain.RegisterCustomer) { r.Terms = domain.Net(366) }), domain.CodeInvalidTerms, "terms_days"),
		refused("register with no terms is invalid_terms", nil, reg(func(r *domain.RegisterCustomer) { r.Terms = domain.Terms{} }), domain.CodeInvalidTerms, "terms_days"),
		refused("register with a negative limit is amount_negative", nil, reg(func(r *domain.RegisterCustomer) { r.CreditLimit = eur(-1) }), domain.CodeAmountNegative, "credit_limit"),
		refused("register with a limit in another currency is currency_mismatch", nil, reg(func(r *domain.RegisterCustomer) { r.CreditLimit.Ccy = "USD" }), domain.CodeCurrencyMismatch, "credit_limit"),
		refused("register without a date is missing_field", nil, reg(func(r *domain.RegisterCustomer) { r.On = domain.Date{} }), domain.CodeMissingField, "registered_on"),
		refused("register with a date out of range is invalid_date", nil, reg(func(r *domain.RegisterCustomer) { r.On = day("2999-12-31").AddDays(1) }), domain.CodeInvalidDate, "registered_on"),
		refused("an invoice for an unregistered customer is unknown_customer", nil,
			domain.IssueInvoice{CustomerID: custID, InvoiceID: "I1", Number: "N-I1", Amount: eur(1), IssueDate: day("2025-01-10")},
			domain.CodeUnknownCustomer, "customer_id"),
		refused("a payment for an unregistered customer is unknown_customer", nil,
			domain.RecordPayment{CustomerID: custID, PaymentID: "P1", Amount: eur(1), ReceivedOn: day("2025-01-10")},
			domain.CodeUnknownCustomer, "customer_id"),
		refused("a command with a malformed customer id is invalid_id", history(),
			domain.DisputeInvoice{CustomerID: "C/1", InvoiceID: "I1", On: day("2025-02-01")}, domain.CodeInvalidID, "customer_id"),
		refused("a command decided on another customer's stream is customer_mismatch", history(),
			domain.DisputeInvoice{CustomerID: "C2", InvoiceID: "I1", On: day("2025-02-01")}, domain.CodeCustomerMismatch, ""),
		refused("a registration decided on another customer's stream is customer_mismatch", history(),
			registerCmd(func(r *domain.RegisterCustomer) { r.CustomerID = "C2" }), domain.CodeCustomerMismatch, ""),
		refused("an unknown command type is unknown_command", history(), strangeCommand{}, domain.CodeUnknownCommand, ""),
		{name: "a pointer to a command is decided like the command",
			given: history(), when: &domain.DisputeInvoice{CustomerID: custID, InvoiceID: "I1", On: day("2025-02-01")},
			then: []domain.Event{disputed("I1", "2025-02-01")}},
		refused("a nil command pointer is unknown_command", history(), (*domain.IssueInvoice)(nil), domain.CodeUnknownCommand, ""),
	}
}

type strangeCommand struct{}

func (strangeCommand) Customer() domain.CustomerID { return custID }

func limitCases() []decideCase {
	change := func(minor int64, reason string) domain.ChangeCreditLimit {
		return domain.ChangeCreditLimit{CustomerID: custID, Limit: eur(minor), Reason: reason, ApprovedBy: "dcf", On: day("2025-03-01")}
	}
	return []decideCase{
		{name: "a limit change records the previous limit", given: history(), when: change(250_000, "annual review"),
			then:  []domain.Event{domain.CreditLimitChanged{Limit: eur(250_000), Previous: eur(100_000), Reason: "annual review", ApprovedBy: "dcf", ChangedOn: day("2025-03-01")}},
			check: func(t *testing.T, c *domain.Customer) { assert.Equal(t, eur(250_000), c.Profile().CreditLimit) }},
		{name: "a zero limit means extend no more credit", given: history(), when: change(0, "insolvency proceedings"),
			then: []domain.Event{domain.CreditLimitChanged{Limit: eur(0), Previous: eur(100_000), Reason: "insolvency proceedings", ApprovedBy: "dcf", ChangedOn: day("2025-03-01")}}},
		refused("a negative limit is amount_negative", history(), change(-1, "x"), domain.CodeAmountNegative, "amount"),
		refused("a limit in another currency is currency_mismatch", history(),
			domain.ChangeCreditLimit{CustomerID: custID, Limit: domain.Money{Minor: 5, Ccy: "USD"}, Reason: "x", On: day("2025-03-01")}, domain.CodeCurrencyMismatch, "amount"),
		refused("a limit change without a reason is missing_field", history(), change(5, ""), domain.CodeMissingField, "reason"),
		refused("a reason over 1000 characters is invalid_field", history(), change(5, strings.Repeat("r", 1001)), domain.CodeInvalidField, "reason"),
		refused("a limit change without a date is missing_field", history(),
			domain.ChangeCreditLimit{CustomerID: custID, Limit: eur(5), Reason: "x"}, domain.CodeMissingField, "changed_on"),
	}
}

func invoiceCmd(mod func(*domain.IssueInvoice)) domain.IssueInvoice {
	cmd := domain.IssueInvoice{CustomerID: custID, InvoiceID: "I9", Number: "N-I9", Amount: eur(12_345),
		IssueDate: day("2025-03-10"), DueDate: day("2025-04-30")}
	if mod != nil {
		mod(&cmd)
	}
	return cmd
}

func invoiceCases() []decideCase {
	inv := invoiceCmd
	eomCustomer := registered()
	eomCustomer.Terms = domain.Terms{Kind: domain.TermsEndOfMonthNet, Days: 45}
	return []decideCase{
		{name: "an invoice with its own due date", given: history(), when: inv(nil),
			then: []domain.Event{issued("I9", 12_345, "2025-03-10", "2025-04-30")},
			check: func(t *testing.T, c *domain.Customer) {
				assert.Equal(t, eur(47_345), c.OpenInvoiceTotal())
				assert.Equal(t, eur(47_345), c.Exposure())
			}},
		{name: "an invoice without a due date takes the customer's terms", given: history(),
			when: inv(func(i *domain.IssueInvoice) { i.DueDate = domain.Date{} }),
			then: []domain.Event{func() domain.Event {
				e := issued("I9", 12_345, "2025-03-10", "2025-04-09")
				e.Terms = "net30"
				return e
			}()}},
		{name: "end-of-month terms give the end of the month plus the days", given: []domain.Event{eomCustomer},
			when: inv(func(i *domain.IssueInvoice) { i.DueDate = domain.Date{} }),
			then: []domain.Event{func() domain.Event {
				e := issued("I9", 12_345, "2025-03-10", "2025-05-15") // 03-31 + 45 days
				e.Terms = "eom+45"
				return e
			}()}},
		{name: "an invoice due on its issue date is fine", given: history(),
			when: inv(func(i *domain.IssueInvoice) { i.DueDate = i.IssueDate }),
			then: []domain.Event{issued("I9", 12_345, "2025-03-10", "2025-03-10")}},
		{name: "an invoice over the credit limit is recorded: it is a fact", given: history(),
			when: inv(func(i *domain.IssueInvoice) { i.Amount = eur(10_000_000) }),
			then: []domain.Event{issued("I9", 10_000_000, "2025-03-10", "2025-04-30")},
			check: func(t *testing.T, c *domain.Customer) {
				assert.Greater(t, c.Exposure().Minor, c.Profile().CreditLimit.Minor)
			}},
		refused("an invoice due before its issue is due_before_issue", history(),
			inv(func(i *domain.IssueInvoice) { i.DueDate = day("2025-03-09") }), domain.CodeDueBeforeIssue, "due_date"),
		refused("an invoice id issued before is duplicate_invoice", history(),
			inv(func(i *domain.IssueInvoice) { i.InvoiceID = "I1"; i.Number = "N-new" }), domain.CodeDuplicateInvoice, "invoice_id"),
		refused("an invoice number used before is duplicate_invoice_number", history(),
			inv(func(i *domain.IssueInvoice) { i.Number = "N-I2" }), domain.CodeDuplicateInvoiceNumber, "number"),
		refused("a zero invoice amount is amount_not_positive", history(),
			inv(func(i *domain.IssueInvoice) { i.Amount = eur(0) }), domain.CodeAmountNotPositive, "amount"),
		refused("a negative invoice amount is amount_not_positive", history(),
			inv(func(i *domain.IssueInvoice) { i.Amount = eur(-100) }), domain.CodeAmountNotPositive, "amount"),
		refused("an invoice in another currency is currency_mismatch", history(),
			inv(func(i *domain.IssueInvoice) { i.Amount.Ccy = "USD" }), domain.CodeCurrencyMismatch, "currency"),
		refused("an invoice in an unknown currency is unknown_currency", history(),
			inv(func(i *domain.IssueInvoice) { i.Amount.Ccy = "EURO" }), domain.CodeUnknownCurrency, "currency"),
		refused("an invoice without an issue date is missing_field", history(),
			inv(func(i *domain.IssueInvoice) { i.IssueDate = domain.Date{} }), domain.CodeMissingField, "issue_date"),
		refused("an invoice issued out of the date range is invalid_date", history(),
			inv(func(i *domain.IssueInvoice) { i.IssueDate = domain.DateFromDays(-30_000) }), domain.CodeInvalidDate, "issue_date"),
		refused("terms that carry the due date past 2999 are invalid_date", history(),
			inv(func(i *domain.IssueInvoice) { i.IssueDate = day("2999-12-31"); i.DueDate = domain.Date{} }), domain.CodeInvalidDate, "due_date"),
		refused("a malformed invoice id is invalid_id", history(),
			inv(func(i *domain.IssueInvoice) { i.InvoiceID = "I9?" }), domain.CodeInvalidID, "invoice_id"),
		refused("an invoice without a number is missing_field", history(),
			inv(func(i *domain.IssueInvoice) { i.Number = "" }), domain.CodeMissingField, "number"),
		refused("an invoice that would overflow the customer's totals is amount_overflow",
			[]domain.Event{registered(), issued("BIG", math.MaxInt64-10, "2025-01-10", "2025-02-09")},
			inv(func(i *domain.IssueInvoice) { i.Amount = eur(100) }), domain.CodeAmountOverflow, "amount"),
	}
}

func paymentCmd(id string, minor int64, on string, allocs ...domain.Allocation) domain.RecordPayment {
	return domain.RecordPayment{CustomerID: custID, PaymentID: domain.PaymentID(id), Amount: eur(minor), ReceivedOn: day(on), Allocations: allocs}
}

func paymentCases() []decideCase {
	pay := paymentCmd
	return []decideCase{
		{name: "a payment settling one invoice exactly", given: history(),
			when: pay("P1", 10_000, "2025-02-05", alloc("I1", 10_000)),
			then: []domain.Event{received("P1", 10_000, "2025-02-05", alloc("I1", 10_000))},
			check: func(t *testing.T, c *domain.Customer) {
				i1 := mustInvoice(t, c, "I1")
				assert.Equal(t, eur(0), i1.Open)
				assert.Equal(t, []domain.Settlement{{On: day("2025-02-05"), Amount: eur(10_000), PaymentID: "P1"}}, i1.Settled)
				assert.Len(t, c.OpenItems(), 2)
				assert.Equal(t, eur(25_000), c.Exposure())
			}},
		{name: "a partial payment leaves the rest of the invoice open", given: history(),
			when: pay("P1", 4_000, "2025-02-05", alloc("I1", 4_000)),
			then: []domain.Event{received("P1", 4_000, "2025-02-05", alloc("I1", 4_000))},
			check: func(t *testing.T, c *domain.Customer) {
				assert.Equal(t, eur(6_000), mustInvoice(t, c, "I1").Open)
				assert.Equal(t, domain.InvoiceID("I1"), c.OpenItems()[0].InvoiceID)
				assert.Equal(t, eur(31_000), c.Exposure())
			}},
		{name: "an overpayment leaves the excess unallocated on account", given: history(),
			when: pay("P1", 15_000, "2025-02-05", alloc("I1", 10_000)),
			then: []domain.Event{received("P1", 15_000, "2025-02-05", alloc("I1", 10_000))},
			check: func(t *testing.T, c *domain.Customer) {
				assert.Equal(t, eur(5_000), c.UnallocatedCash())
				assert.Equal(t, eur(25_000), c.OpenInvoiceTotal())
				assert.Equal(t, eur(20_000), c.Exposure()) // 250,00 open − 50,00 on account
				assert.Equal(t, eur(5_000), mustPayment(t, c, "P1").Unallocated)
			}},
		{name: "a payment without allocations settles the oldest due first", given: []domain.Event{
			registered(),
			issued("LATE", 10_000, "2025-01-05", "2025-03-31"),
			issued("SOON", 20_000, "2025-01-20", "2025-02-10"),
			issued("MID", 5_000, "2025-01-25", "2025-02-28"),
		}, when: pay("P1", 27_000, "2025-02-15"),
			then: []domain.Event{received("P1", 27_000, "2025-02-15", alloc("SOON", 20_000), alloc("MID", 5_000), alloc("LATE", 2_000))},
			check: func(t *testing.T, c *domain.Customer) {
				assert.Equal(t, eur(8_000), mustInvoice(t, c, "LATE").Open)
				assert.Equal(t, eur(0), c.UnallocatedCash())
			}},
		{name: "automatic allocation breaks due-date ties by issue date, then id", given: []domain.Event{
			registered(),
			issued("B", 1_000, "2025-01-10", "2025-02-28"),
			issued("A", 1_000, "2025-01-10", "2025-02-28"),
			issued("C", 1_000, "2025-01-05", "2025-02-28"),
		}, when: pay("P1", 2_500, "2025-02-15"),
			then: []domain.Event{received("P1", 2_500, "2025-02-15", alloc("C", 1_000), alloc("A", 1_000), alloc("B", 500))}},
		{name: "automatic allocation skips disputed invoices", given: history(disputed("I1", "2025-02-01")),
			when:  pay("P1", 25_000, "2025-02-15"),
			then:  []domain.Event{received("P1", 25_000, "2025-02-15", alloc("I2", 20_000), alloc("I3", 5_000))},
			check: func(t *testing.T, c *domain.Customer) { assert.Equal(t, eur(10_000), mustInvoice(t, c, "I1").Open) }},
		{name: "automatic allocation skips invoices issued after the payment date", given: history(),
			when: pay("P1", 40_000, "2025-01-25"),
			then: []domain.Event{received("P1", 40_000, "2025-01-25", alloc("I1", 10_000), alloc("I2", 20_000))},
			check: func(t *testing.T, c *domain.Customer) {
				assert.Equal(t, eur(10_000), c.UnallocatedCash())
				assert.Equal(t, eur(-5_000), c.Exposure()) // I3 50,00 open − 100,00 on account
			}},
		{name: "automatic allocation with nothing open keeps the whole payment on account",
			given: []domain.Event{registered()}, when: pay("P1", 7_000, "2025-02-15"),
			then:  []domain.Event{received("P1", 7_000, "2025-02-15")},
			check: func(t *testing.T, c *domain.Customer) { assert.Equal(t, eur(-7_000), c.Exposure()) }},
		{name: "automatic allocation skips written-off invoices", given: history(writtenOff("I1", 10_000, "2025-03-01")),
			when: pay("P1", 1_000, "2025-03-05"),
			then: []domain.Event{received("P1", 1_000, "2025-03-05", alloc("I2", 1_000))}},
		{name: "a payment dated before the registration is fine (historic imports)", given: []domain.Event{registered()},
			when: pay("P0", 1_000, "2024-06-01"),
			then: []domain.Event{received("P0", 1_000, "2024-06-01")}},
		{name: "an explicit allocation to a disputed invoice is a human decision, and allowed",
			given: history(disputed("I1", "2025-02-01")), when: pay("P1", 10_000, "2025-02-15", alloc("I1", 10_000)),
			then: []domain.Event{received("P1", 10_000, "2025-02-15", alloc("I1", 10_000))}},
		refused("a payment id recorded before is duplicate_payment", history(received("P1", 100, "2025-02-01")),
			pay("P1", 100, "2025-02-02"), domain.CodeDuplicatePayment, "payment_id"),
		refused("an allocation to an unknown invoice is unknown_invoice", history(),
			pay("P1", 100, "2025-02-01", alloc("I1", 50), alloc("NOPE", 50)), domain.CodeUnknownInvoice, "allocations[1].invoice_id"),
		refused("an allocation to another customer's invoice is just unknown here", history(),
			pay("P1", 100, "2025-02-01", alloc("OTHER-CUSTOMERS-INVOICE", 50)), domain.CodeUnknownInvoice, "allocations[0].invoice_id"),
		refused("an allocation to a written-off invoice is invoice_written_off", history(writtenOff("I1", 10_000, "2025-03-01")),
			pay("P1", 100, "2025-03-02", alloc("I1", 100)), domain.CodeInvoiceWrittenOff, "allocations[0].invoice_id"),
		refused("a zero allocation is amount_not_positive", history(),
			pay("P1", 100, "2025-02-01", alloc("I1", 0)), domain.CodeAmountNotPositive, "allocations[0].amount"),
		refused("a negative allocation is amount_not_positive", history(),
			pay("P1", 100, "2025-02-01", alloc("I1", -5)), domain.CodeAmountNotPositive, "allocations[0].amount"),
		refused("an allocation in another currency is currency_mismatch", history(),
			pay("P1", 100, "2025-02-01", domain.Allocation{InvoiceID: "I1", Amount: domain.Money{Minor: 100, Ccy: "USD"}}),
			domain.CodeCurrencyMismatch, "allocations[0].amount"),
		refused("an allocation above the invoice's open amount is allocation_exceeds_open_amount", history(),
			pay("P1", 50_000, "2025-02-05", alloc("I1", 100), alloc("I2", 20_001)), domain.CodeAllocationExceedsOpen, "allocations[1].amount"),
		refused("an allocation to a fully paid invoice is allocation_exceeds_open_amount",
			history(received("P0", 10_000, "2025-02-01", alloc("I1", 10_000))),
			pay("P1", 100, "2025-02-05", alloc("I1", 100)), domain.CodeAllocationExceedsOpen, "allocations[0].amount"),
		refused("allocations summing above the payment are allocation_exceeds_payment", history(),
			pay("P1", 15_000, "2025-02-05", alloc("I1", 10_000), alloc("I2", 5_001)), domain.CodeAllocationExceedsPayment, "allocations"),
		refused("the same invoice twice in one payment is duplicate_allocation", history(),
			pay("P1", 15_000, "2025-02-05", alloc("I1", 1_000), alloc("I1", 1_000)), domain.CodeDuplicateAllocation, "allocations[1].invoice_id"),
		refused("an allocation to an invoice issued after the payment date is date_before_issue", history(),
			pay("P1", 5_000, "2025-01-25", alloc("I3", 5_000)), domain.CodeDateBeforeIssue, "received_on"),
		refused("a malformed allocation invoice id is invalid_id", history(),
			pay("P1", 5_000, "2025-02-25", alloc("", 5_000)), domain.CodeInvalidID, "allocations[0].invoice_id"),
		refused("a zero payment is amount_not_positive", history(), pay("P1", 0, "2025-02-05"), domain.CodeAmountNotPositive, "amount"),
		refused("a payment without a date is missing_field", history(),
			domain.RecordPayment{CustomerID: custID, PaymentID: "P1", Amount: eur(100)}, domain.CodeMissingField, "received_on"),
		refused("a payment in another currency is currency_mismatch", history(),
			domain.RecordPayment{CustomerID: custID, PaymentID: "P1", Amount: domain.Money{Minor: 100, Ccy: "GBP"}, ReceivedOn: day("2025-02-05")},
			domain.CodeCurrencyMismatch, "currency"),
		refused("a malformed payment id is invalid_id", history(), pay("P 1", 100, "2025-02-05"), domain.CodeInvalidID, "payment_id"),
		refused("a payment reference with a newline is invalid_field", history(),
			domain.RecordPayment{CustomerID: custID, PaymentID: "P1", Amount: eur(100), ReceivedOn: day("2025-02-05"), Reference: "a\nb"},
			domain.CodeInvalidField, "reference"),
	}
}

func allocateCmd(payment string, on string, allocs ...domain.Allocation) domain.AllocatePayment {
	return domain.AllocatePayment{CustomerID: custID, PaymentID: domain.PaymentID(payment), On: day(on), Allocations: allocs}
}

func allocateCases() []decideCase {
	onAccount := history(received("P1", 30_000, "2025-01-25", alloc("I1", 10_000))) // 200,00 on account
	withCredit := history(credited("CN1", "", 8_000, 0, "2025-02-01"))
	return []decideCase{
		{name: "cash on account allocated later", given: onAccount,
			when: allocateCmd("P1", "2025-02-10", alloc("I3", 5_000)),
			then: []domain.Event{allocated("P1", "2025-02-10", alloc("I3", 5_000))},
			check: func(t *testing.T, c *domain.Customer) {
				p := mustPayment(t, c, "P1")
				assert.Equal(t, eur(15_000), p.Unallocated)
				assert.Equal(t, []domain.Allocation{alloc("I1", 10_000), alloc("I3", 5_000)}, p.Allocations, "allocations at receipt and later")
				assert.Equal(t, []domain.Settlement{{On: day("2025-02-10"), Amount: eur(5_000), PaymentID: "P1"}}, mustInvoice(t, c, "I3").Settled)
				assert.Equal(t, eur(5_000), c.Exposure())
			}},
		{name: "cash on account allocated automatically, oldest due first", given: onAccount,
			when: allocateCmd("P1", "2025-02-10"),
			then: []domain.Event{allocated("P1", "2025-02-10", alloc("I2", 20_000))}},
		{name: "standing credit allocated to an invoice", given: withCredit,
			when: domain.AllocatePayment{CustomerID: custID, CreditNoteID: "CN1", On: day("2025-02-02"), Allocations: []domain.Allocation{alloc("I2", 8_000)}},
			then: []domain.Event{domain.PaymentAllocated{CreditNoteID: "CN1", AllocatedOn: day("2025-02-02"), Allocations: []domain.Allocation{alloc("I2", 8_000)}}},
			check: func(t *testing.T, c *domain.Customer) {
				assert.Equal(t, eur(0), c.OpenCredit())
				assert.Equal(t, eur(12_000), mustInvoice(t, c, "I2").Open)
				assert.Equal(t, domain.CreditNoteID("CN1"), mustInvoice(t, c, "I2").Settled[0].CreditNoteID)
			}},
		{name: "standing credit allocated automatically", given: withCredit,
			when: domain.AllocatePayment{CustomerID: custID, CreditNoteID: "CN1", On: day("2025-02-02")},
			then: []domain.Event{domain.PaymentAllocated{CreditNoteID: "CN1", AllocatedOn: day("2025-02-02"), Allocations: []domain.Allocation{alloc("I1", 8_000)}}}},
		refused("an allocation from neither a payment nor a credit note is invalid_field", onAccount,
			domain.AllocatePayment{CustomerID: custID, On: day("2025-02-10")}, domain.CodeInvalidField, "payment_id"),
		refused("an allocation from both a payment and a credit note is invalid_field", onAccount,
			domain.AllocatePayment{CustomerID: custID, PaymentID: "P1", CreditNoteID: "CN1", On: day("2025-02-10")}, domain.CodeInvalidField, "payment_id"),
		refused("an allocation from an unknown payment is unknown_payment", onAccount,
			allocateCmd("P9", "2025-02-10", alloc("I3", 1)), domain.CodeUnknownPayment, "payment_id"),
		refused("an allocation from an unknown credit note is unknown_credit_note", onAccount,
			domain.AllocatePayment{CustomerID: custID, CreditNoteID: "CN9", On: day("2025-02-10")}, domain.CodeUnknownCreditNote, "credit_note_id"),
		refused("an allocation above the cash on account is allocation_exceeds_unallocated_cash", onAccount,
			allocateCmd("P1", "2025-02-10", alloc("I2", 16_000), alloc("I3", 5_000)), domain.CodeAllocationExceedsCash, "allocations"),
		refused("an allocation above the standing credit is allocation_exceeds_unallocated_cash", withCredit,
			domain.AllocatePayment{CustomerID: custID, CreditNoteID: "CN1", On: day("2025-02-02"), Allocations: []domain.Allocation{alloc("I2", 8_001)}},
			domain.CodeAllocationExceedsCash, "allocations"),
		refused("an allocation above the invoice's open amount is refused later too", onAccount,
			allocateCmd("P1", "2025-02-10", alloc("I3", 5_001)), domain.CodeAllocationExceedsOpen, "allocations[0].amount"),
		refused("the same invoice twice in a later allocation is duplicate_allocation", onAccount,
			allocateCmd("P1", "2025-02-10", alloc("I3", 1), alloc("I3", 1)), domain.CodeDuplicateAllocation, "allocations[1].invoice_id"),
		refused("an allocation from a reversed payment is payment_already_reversed",
			append(onAccount, domain.PaymentReversed{PaymentID: "P1", Amount: eur(30_000), ReversedOn: day("2025-02-01"),
				Reopened: []domain.Allocation{alloc("I1", 10_000)}, UnallocatedRemoved: eur(20_000)}),
			allocateCmd("P1", "2025-02-10"), domain.CodeAlreadyReversed, "payment_id"),
		refused("an automatic allocation with nothing on account is allocation_exceeds_unallocated_cash",
			history(received("P1", 10_000, "2025-02-01", alloc("I1", 10_000))),
			allocateCmd("P1", "2025-02-10"), domain.CodeAllocationExceedsCash, "allocations"),
		refused("an automatic allocation with no eligible invoice is nothing_to_allocate",
			[]domain.Event{registered(), received("P1", 10_000, "2025-02-01")},
			allocateCmd("P1", "2025-02-10"), domain.CodeNothingToAllocate, "allocations"),
		refused("an allocation dated before the payment was received is date_out_of_order", onAccount,
			allocateCmd("P1", "2025-01-24", alloc("I2", 1)), domain.CodeDateOutOfOrder, "allocated_on"),
		refused("an allocation dated before the credit note was issued is date_out_of_order", withCredit,
			domain.AllocatePayment{CustomerID: custID, CreditNoteID: "CN1", On: day("2025-01-31")}, domain.CodeDateOutOfOrder, "allocated_on"),
		refused("an allocation dated before the invoice was issued is date_before_issue", onAccount,
			allocateCmd("P1", "2025-01-26", alloc("I3", 1)), domain.CodeDateBeforeIssue, "allocated_on"),
		refused("an allocation without a date is missing_field", onAccount,
			domain.AllocatePayment{CustomerID: custID, PaymentID: "P1"}, domain.CodeMissingField, "allocated_on"),
		refused("an allocation from a malformed credit note id is invalid_id", onAccount,
			domain.AllocatePayment{CustomerID: custID, CreditNoteID: "CN 1", On: day("2025-02-10")}, domain.CodeInvalidID, "credit_note_id"),
	}
}

func reverseCmd(payment, on string) domain.ReversePayment {
	return domain.ReversePayment{CustomerID: custID, PaymentID: domain.PaymentID(payment), On: day(on), Reason: "bounced"}
}

func reversalCases() []decideCase {
	// P1: 300,00 received 01-25, 100,00 to I1 at receipt, 50,00 to I3 later; 150,00 on account.
	paidTwice := history(
		received("P1", 30_000, "2025-01-25", alloc("I1", 10_000)),
		allocated("P1", "2025-02-10", alloc("I3", 5_000)),
	)
	return []decideCase{
		{name: "a reversal re-opens exactly what it settled, including a later allocation", given: paidTwice,
			when: reverseCmd("P1", "2025-02-20"),
			then: []domain.Event{domain.PaymentReversed{PaymentID: "P1", Amount: eur(30_000), ReversedOn: day("2025-02-20"), Reason: "bounced",
				Reopened: []domain.Allocation{alloc("I1", 10_000), alloc("I3", 5_000)}, UnallocatedRemoved: eur(15_000)}},
			check: func(t *testing.T, c *domain.Customer) {
				assert.Equal(t, eur(10_000), mustInvoice(t, c, "I1").Open)
				assert.Equal(t, eur(5_000), mustInvoice(t, c, "I3").Open)
				assert.Empty(t, mustInvoice(t, c, "I1").Settled, "a reversed payment settles nothing")
				assert.Equal(t, eur(0), c.UnallocatedCash())
				assert.Equal(t, eur(35_000), c.Exposure(), "back to the exposure before the payment")
				p := mustPayment(t, c, "P1")
				assert.True(t, p.Reversed)
				assert.Equal(t, day("2025-02-20"), p.ReversedOn)
				assert.Equal(t, eur(0), p.Unallocated)
			}},
		{name: "a reversal keeps what other payments settled on the same invoice",
			given: history(
				received("P1", 4_000, "2025-02-01", alloc("I1", 4_000)),
				received("P2", 3_000, "2025-02-02", alloc("I1", 3_000)),
			), when: reverseCmd("P1", "2025-02-20"),
			then: []domain.Event{domain.PaymentReversed{PaymentID: "P1", Amount: eur(4_000), ReversedOn: day("2025-02-20"), Reason: "bounced",
				Reopened: []domain.Allocation{alloc("I1", 4_000)}, UnallocatedRemoved: eur(0)}},
			check: func(t *testing.T, c *domain.Customer) {
				i1 := mustInvoice(t, c, "I1")
				assert.Equal(t, eur(7_000), i1.Open)
				assert.Equal(t, []domain.Settlement{{On: day("2025-02-02"), Amount: eur(3_000), PaymentID: "P2"}}, i1.Settled)
			}},
		{name: "a reversal of a payment held on account removes the cash",
			given: history(received("P1", 7_000, "2025-01-05")), when: reverseCmd("P1", "2025-01-06"),
			then: []domain.Event{domain.PaymentReversed{PaymentID: "P1", Amount: eur(7_000), ReversedOn: day("2025-01-06"), Reason: "bounced",
				Reopened: []domain.Allocation{}, UnallocatedRemoved: eur(7_000)}},
			check: func(t *testing.T, c *domain.Customer) { assert.Equal(t, eur(35_000), c.Exposure()) }},
		{name: "a reversal re-opens an invoice written off since: the bounced cash is owed again",
			given: history(
				received("P1", 6_000, "2025-02-01", alloc("I1", 6_000)),
				writtenOff("I1", 4_000, "2025-03-01"),
			), when: reverseCmd("P1", "2025-03-05"),
			then: []domain.Event{domain.PaymentReversed{PaymentID: "P1", Amount: eur(6_000), ReversedOn: day("2025-03-05"), Reason: "bounced",
				Reopened: []domain.Allocation{alloc("I1", 6_000)}, UnallocatedRemoved: eur(0)}},
			check: func(t *testing.T, c *domain.Customer) {
				i1 := mustInvoice(t, c, "I1")
				assert.Equal(t, eur(6_000), i1.Open)
				assert.False(t, i1.WrittenOff, "owed again, no longer written off")
				assert.Equal(t, eur(4_000), i1.WrittenOffAmount, "the loss recognised stays")
				assert.Equal(t, domain.InvoiceID("I1"), c.OpenItems()[0].InvoiceID)
				assert.Equal(t, eur(31_000), c.Exposure())
				// and it can be written off again
				evs, err := domain.Decide(c, domain.WriteOffInvoice{CustomerID: custID, InvoiceID: "I1", On: day("2025-03-06")})
				require.NoError(t, err)
				assert.Equal(t, []domain.Event{writtenOff("I1", 6_000, "2025-03-06")}, evs)
			}},
		{name: "cash on account is allocated to an invoice a reversal re-opened",
			given: history(
				received("P1", 10_000, "2025-02-01", alloc("I1", 10_000)),
				received("P2", 50_000, "2025-02-02", alloc("I2", 20_000), alloc("I3", 5_000)),
				domain.PaymentReversed{PaymentID: "P1", Amount: eur(10_000), ReversedOn: day("2025-02-10"),
					Reopened: []domain.Allocation{alloc("I1", 10_000)}, UnallocatedRemoved: eur(0)},
			), when: allocateCmd("P2", "2025-02-11"),
			then: []domain.Event{allocated("P2", "2025-02-11", alloc("I1", 10_000))},
			check: func(t *testing.T, c *domain.Customer) {
				assert.Equal(t, eur(0), mustInvoice(t, c, "I1").Open)
				assert.Equal(t, []domain.Settlement{{On: day("2025-02-11"), Amount: eur(10_000), PaymentID: "P2"}}, mustInvoice(t, c, "I1").Settled)
				assert.Equal(t, eur(15_000), c.UnallocatedCash())
				assert.Equal(t, eur(-15_000), c.Exposure())
			}},
		refused("a second reversal is payment_already_reversed",
			history(received("P1", 7_000, "2025-01-05"), domain.PaymentReversed{PaymentID: "P1", Amount: eur(7_000), ReversedOn: day("2025-01-06"),
				Reopened: []domain.Allocation{}, UnallocatedRemoved: eur(7_000)}),
			reverseCmd("P1", "2025-01-07"), domain.CodeAlreadyReversed, "payment_id"),
		refused("a reversal of an unknown payment is unknown_payment", history(), reverseCmd("P1", "2025-01-07"), domain.CodeUnknownPayment, "payment_id"),
		refused("a reversal dated before the payment is date_out_of_order", paidTwice, reverseCmd("P1", "2025-01-24"), domain.CodeDateOutOfOrder, "reversed_on"),
		refused("a reversal without a date is missing_field", paidTwice,
			domain.ReversePayment{CustomerID: custID, PaymentID: "P1"}, domain.CodeMissingField, "reversed_on"),
	}
}

func creditNoteCmd(id, inv string, minor int64, on string) domain.IssueCreditNote {
	return domain.IssueCreditNote{CustomerID: custID, CreditNoteID: domain.CreditNoteID(id), InvoiceID: domain.InvoiceID(inv), Amount: eur(minor), IssueDate: day(on)}
}

func creditNoteCases() []decideCase {
	return []decideCase{
		{name: "a credit note reduces its invoice and stands as credit for the rest", given: history(received("P1", 4_000, "2025-02-01", alloc("I1", 4_000))),
			when: creditNoteCmd("CN1", "I1", 10_000, "2025-02-15"),
			then: []domain.Event{credited("CN1", "I1", 10_000, 6_000, "2025-02-15")},
			check: func(t *testing.T, c *domain.Customer) {
				i1 := mustInvoice(t, c, "I1")
				assert.Equal(t, eur(0), i1.Open)
				assert.Equal(t, domain.Settlement{On: day("2025-02-15"), Amount: eur(6_000), CreditNoteID: "CN1"}, i1.Settled[1])
				assert.Equal(t, eur(4_000), c.OpenCredit())
				assert.Equal(t, eur(25_000), c.OpenInvoiceTotal())
				assert.Equal(t, eur(21_000), c.Exposure(), "250,00 open − 40,00 credit")
				assert.True(t, c.HasCreditNote("CN1"))
			}},
		{name: "a credit note smaller than the open amount applies in full", given: history(),
			when: creditNoteCmd("CN1", "I2", 2_500, "2025-02-15"),
			then: []domain.Event{credited("CN1", "I2", 2_500, 2_500, "2025-02-15")},
			check: func(t *testing.T, c *domain.Customer) {
				assert.Equal(t, eur(17_500), mustInvoice(t, c, "I2").Open)
				assert.Equal(t, eur(0), c.OpenCredit())
			}},
		{name: "a credit note without an invoice stands as credit", given: history(),
			when: creditNoteCmd("CN1", "", 3_000, "2025-02-15"),
			then: []domain.Event{credited("CN1", "", 3_000, 0, "2025-02-15")},
			check: func(t *testing.T, c *domain.Customer) {
				assert.Equal(t, eur(3_000), c.OpenCredit())
				assert.Equal(t, eur(32_000), c.Exposure())
			}},
		{name: "a credit note on a paid invoice stands entirely as credit", given: history(received("P1", 10_000, "2025-02-01", alloc("I1", 10_000))),
			when: creditNoteCmd("CN1", "I1", 1_000, "2025-02-15"),
			then: []domain.Event{credited("CN1", "I1", 1_000, 0, "2025-02-15")}},
		refused("a credit note id issued before is duplicate_credit_note", history(credited("CN1", "", 1, 0, "2025-02-01")),
			creditNoteCmd("CN1", "", 1, "2025-02-02"), domain.CodeDuplicateCreditNote, "credit_note_id"),
		refused("a credit note on an unknown invoice is unknown_invoice", history(),
			creditNoteCmd("CN1", "I9", 1, "2025-02-02"), domain.CodeUnknownInvoice, "invoice_id"),
		refused("a credit note dated before its invoice is date_before_issue", history(),
			creditNoteCmd("CN1", "I3", 1, "2025-01-31"), domain.CodeDateBeforeIssue, "issue_date"),
		refused("a zero credit note is amount_not_positive", history(),
			creditNoteCmd("CN1", "I1", 0, "2025-02-02"), domain.CodeAmountNotPositive, "amount"),
		refused("a credit note in another currency is currency_mismatch", history(),
			domain.IssueCreditNote{CustomerID: custID, CreditNoteID: "CN1", Amount: domain.Money{Minor: 1, Ccy: "CHF"}, IssueDate: day("2025-02-02")},
			domain.CodeCurrencyMismatch, "currency"),
		refused("a credit note without a date is missing_field", history(),
			domain.IssueCreditNote{CustomerID: custID, CreditNoteID: "CN1", Amount: eur(1)}, domain.CodeMissingField, "issue_date"),
		refused("a credit note with a malformed id is invalid_id", history(),
			creditNoteCmd("CN#1", "", 1, "2025-02-02"), domain.CodeInvalidID, "credit_note_id"),
	}
}

func disputeCases() []decideCase {
	dispute := func(inv, on string) domain.DisputeInvoice {
		return domain.DisputeInvoice{CustomerID: custID, InvoiceID: domain.InvoiceID(inv), On: day(on), Reason: "goods damaged"}
	}
	resolve := func(inv, on string) domain.ResolveDispute {
		return domain.ResolveDispute{CustomerID: custID, InvoiceID: domain.InvoiceID(inv), On: day(on), Outcome: "rejected"}
	}
	return []decideCase{
		{name: "a dispute on an open invoice", given: history(), when: dispute("I2", "2025-02-01"),
			then: []domain.Event{domain.InvoiceDisputed{InvoiceID: "I2", DisputedOn: day("2025-02-01"), Reason: "goods damaged"}},
			check: func(t *testing.T, c *domain.Customer) {
				i2 := mustInvoice(t, c, "I2")
				assert.True(t, i2.Disputed)
				assert.Equal(t, 1, i2.Disputes)
				assert.Equal(t, eur(35_000), c.Exposure(), "a disputed invoice still counts in exposure")
				assert.Len(t, c.OpenItems(), 3)
			}},
		{name: "a dispute on a fully paid invoice is allowed", given: history(received("P1", 10_000, "2025-02-01", alloc("I1", 10_000))),
			when: dispute("I1", "2025-02-03"),
			then: []domain.Event{domain.InvoiceDisputed{InvoiceID: "I1", DisputedOn: day("2025-02-03"), Reason: "goods damaged"}}},
		{name: "a resolved dispute", given: history(disputed("I2", "2025-02-01")), when: resolve("I2", "2025-02-20"),
			then:  []domain.Event{domain.DisputeResolved{InvoiceID: "I2", ResolvedOn: day("2025-02-20"), Outcome: "rejected"}},
			check: func(t *testing.T, c *domain.Customer) { assert.False(t, mustInvoice(t, c, "I2").Disputed) }},
		{name: "an invoice disputed again after a resolution", given: history(disputed("I2", "2025-02-01"),
			domain.DisputeResolved{InvoiceID: "I2", ResolvedOn: day("2025-02-10")}), when: dispute("I2", "2025-02-20"),
			then:  []domain.Event{domain.InvoiceDisputed{InvoiceID: "I2", DisputedOn: day("2025-02-20"), Reason: "goods damaged"}},
			check: func(t *testing.T, c *domain.Customer) { assert.Equal(t, 2, mustInvoice(t, c, "I2").Disputes) }},
		refused("a second dispute is already_disputed", history(disputed("I2", "2025-02-01")), dispute("I2", "2025-02-02"), domain.CodeAlreadyDisputed, "invoice_id"),
		refused("a dispute on a written-off invoice is invoice_written_off", history(writtenOff("I2", 20_000, "2025-03-01")),
			dispute("I2", "2025-03-02"), domain.CodeInvoiceWrittenOff, "invoice_id"),
		refused("a dispute on an unknown invoice is unknown_invoice", history(), dispute("I9", "2025-02-02"), domain.CodeUnknownInvoice, "invoice_id"),
		refused("a dispute before the invoice was issued is date_before_issue", history(), dispute("I3", "2025-01-31"), domain.CodeDateBeforeIssue, "disputed_on"),
		refused("a dispute reason over 1000 characters is invalid_field", history(),
			domain.DisputeInvoice{CustomerID: custID, InvoiceID: "I1", On: day("2025-02-02"), Reason: strings.Repeat("x", 1001)}, domain.CodeInvalidField, "reason"),
		refused("a dispute without a date is missing_field", history(),
			domain.DisputeInvoice{CustomerID: custID, InvoiceID: "I1"}, domain.CodeMissingField, "disputed_on"),
		refused("resolving an undisputed invoice is not_disputed", history(), resolve("I2", "2025-02-20"), domain.CodeNotDisputed, "invoice_id"),
		refused("resolving before the dispute opened is date_out_of_order", history(disputed("I2", "2025-02-01")),
			resolve("I2", "2025-01-31"), domain.CodeDateOutOfOrder, "resolved_on"),
		refused("resolving an unknown invoice is unknown_invoice", history(), resolve("I9", "2025-02-20"), domain.CodeUnknownInvoice, "invoice_id"),
	}
}

func writeOffCases() []decideCase {
	writeOff := func(inv, on string) domain.WriteOffInvoice {
		return domain.WriteOffInvoice{CustomerID: custID, InvoiceID: domain.InvoiceID(inv), On: day(on), Reason: "liquidation"}
	}
	return []decideCase{
		{name: "a write-off takes the open amount out of exposure", given: history(), when: writeOff("I2", "2025-06-30"),
			then: []domain.Event{domain.InvoiceWrittenOff{InvoiceID: "I2", Amount: eur(20_000), WrittenOffOn: day("2025-06-30"), Reason: "liquidation"}},
			check: func(t *testing.T, c *domain.Customer) {
				i2 := mustInvoice(t, c, "I2")
				assert.True(t, i2.WrittenOff)
				assert.Equal(t, eur(0), i2.Open)
				assert.Equal(t, eur(20_000), i2.WrittenOffAmount)
				assert.Equal(t, eur(15_000), c.Exposure())
				for _, it := range c.OpenItems() {
					assert.NotEqual(t, domain.InvoiceID("I2"), it.InvoiceID, "written off is not an open item")
				}
			}},
		{name: "a write-off of a partly paid invoice writes off the rest", given: history(received("P1", 3_000, "2025-02-01", alloc("I1", 3_000))),
			when:  writeOff("I1", "2025-06-30"),
			then:  []domain.Event{domain.InvoiceWrittenOff{InvoiceID: "I1", Amount: eur(7_000), WrittenOffOn: day("2025-06-30"), Reason: "liquidation"}},
			check: func(t *testing.T, c *domain.Customer) { assert.Equal(t, eur(25_000), c.Exposure()) }},
		refused("a second write-off is invoice_written_off", history(writtenOff("I2", 20_000, "2025-06-30")), writeOff("I2", "2025-07-01"), domain.CodeInvoiceWrittenOff, "invoice_id"),
		refused("a write-off of a paid invoice is invoice_closed", history(received("P1", 10_000, "2025-02-01", alloc("I1", 10_000))),
			writeOff("I1", "2025-06-30"), domain.CodeInvoiceClosed, "invoice_id"),
		refused("a write-off of an unknown invoice is unknown_invoice", history(), writeOff("I9", "2025-06-30"), domain.CodeUnknownInvoice, "invoice_id"),
		refused("a write-off before the issue date is date_before_issue", history(), writeOff("I3", "2025-01-15"), domain.CodeDateBeforeIssue, "written_off_on"),
		refused("a write-off without a date is missing_field", history(), domain.WriteOffInvoice{CustomerID: custID, InvoiceID: "I1"}, domain.CodeMissingField, "written_off_on"),
	}
}

func planCases() []decideCase {
	inst := func(due string, minor int64) domain.Instalment {
		return domain.Instalment{Due: day(due), Amount: eur(minor)}
	}
	plan := func(ids []domain.InvoiceID, ins ...domain.Instalment) domain.AgreePaymentPlan {
		return domain.AgreePaymentPlan{CustomerID: custID, PlanID: "PL1", InvoiceIDs: ids, Instalments: ins, On: day("2025-03-01")}
	}
	both := []domain.InvoiceID{"I1", "I2"}
	return []decideCase{
		{name: "a plan over two invoices", given: history(), when: plan(both, inst("2025-03-31", 15_000), inst("2025-04-30", 15_000)),
			then: []domain.Event{domain.PaymentPlanAgreed{PlanID: "PL1", InvoiceIDs: both,
				Instalments: []domain.Instalment{inst("2025-03-31", 15_000), inst("2025-04-30", 15_000)}, AgreedOn: day("2025-03-01")}},
			check: func(t *testing.T, c *domain.Customer) {
				assert.True(t, mustInvoice(t, c, "I1").UnderPlan)
				assert.Equal(t, "PL1", mustInvoice(t, c, "I2").PlanID)
				assert.False(t, mustInvoice(t, c, "I3").UnderPlan)
				assert.Len(t, c.Plans(), 1)
			}},
		{name: "a plan over a partly paid invoice covers its open amount", given: history(received("P1", 4_000, "2025-02-01", alloc("I1", 4_000))),
			when: plan([]domain.InvoiceID{"I1"}, inst("2025-03-01", 6_000)),
			then: []domain.Event{domain.PaymentPlanAgreed{PlanID: "PL1", InvoiceIDs: []domain.InvoiceID{"I1"},
				Instalments: []domain.Instalment{inst("2025-03-01", 6_000)}, AgreedOn: day("2025-03-01")}}},
		refused("instalments not adding up to the open total are plan_total_mismatch", history(),
			plan(both, inst("2025-03-31", 15_000), inst("2025-04-30", 14_999)), domain.CodePlanMismatch, "instalments"),
		refused("an instalment due before the agreement is date_out_of_order", history(),
			plan(both, inst("2025-02-28", 15_000), inst("2025-04-30", 15_000)), domain.CodeDateOutOfOrder, "instalments[0].due_date"),
		refused("an instalment of zero is amount_not_positive", history(),
			plan(both, inst("2025-03-31", 30_000), inst("2025-04-30", 0)), domain.CodeAmountNotPositive, "instalments[1].amount"),
		refused("an instalment without a date is missing_field", history(),
			plan(both, domain.Instalment{Amount: eur(30_000)}), domain.CodeMissingField, "instalments[0].due_date"),
		refused("an instalment in another currency is currency_mismatch", history(),
			plan(both, domain.Instalment{Due: day("2025-03-31"), Amount: domain.Money{Minor: 30_000, Ccy: "USD"}}), domain.CodeCurrencyMismatch, "instalments[0].amount"),
		refused("a plan on a paid invoice is invoice_closed", history(received("P1", 10_000, "2025-02-01", alloc("I1", 10_000))),
			plan(both, inst("2025-03-31", 20_000)), domain.CodeInvoiceClosed, "invoice_ids[0]"),
		refused("a plan on a written-off invoice is invoice_written_off", history(writtenOff("I2", 20_000, "2025-02-25")),
			plan(both, inst("2025-03-31", 10_000)), domain.CodeInvoiceWrittenOff, "invoice_ids[1]"),
		refused("a plan on an unknown invoice is unknown_invoice", history(),
			plan([]domain.InvoiceID{"I1", "I9"}, inst("2025-03-31", 10_000)), domain.CodeUnknownInvoice, "invoice_ids[1]"),
		refused("a plan naming an invoice twice is invalid_field", history(),
			plan([]domain.InvoiceID{"I1", "I1"}, inst("2025-03-31", 20_000)), domain.CodeInvalidField, "invoice_ids[1]"),
		refused("a plan without invoices is missing_field", history(), plan(nil, inst("2025-03-31", 1)), domain.CodeMissingField, "invoice_ids"),
		refused("a plan without instalments is missing_field", history(), plan(both), domain.CodeMissingField, "instalments"),
		refused("a plan id agreed before is duplicate_plan",
			history(domain.PaymentPlanAgreed{PlanID: "PL1", InvoiceIDs: []domain.InvoiceID{"I3"}, Instalments: []domain.Instalment{inst("2025-03-31", 5_000)}, AgreedOn: day("2025-02-15")}),
			plan(both, inst("2025-03-31", 30_000)), domain.CodeDuplicatePlan, "plan_id"),
		refused("a malformed plan id is invalid_id", history(),
			domain.AgreePaymentPlan{CustomerID: custID, PlanID: "", InvoiceIDs: both, Instalments: []domain.Instalment{inst("2025-03-31", 30_000)}, On: day("2025-03-01")},
			domain.CodeInvalidID, "plan_id"),
		refused("a plan agreed before an invoice was issued is date_before_issue", history(),
			domain.AgreePaymentPlan{CustomerID: custID, PlanID: "PL1", InvoiceIDs: []domain.InvoiceID{"I3"}, Instalments: []domain.Instalment{inst("2025-03-31", 5_000)}, On: day("2025-01-31")},
			domain.CodeDateBeforeIssue, "agreed_on"),
	}
}

func promiseCases() []decideCase {
	promise := func(mod func(*domain.RecordPromise)) domain.RecordPromise {
		p := domain.RecordPromise{CustomerID: custID, PromiseID: "PR1", Amount: eur(10_000), PromisedFor: day("2025-03-15"),
			InvoiceIDs: []domain.InvoiceID{"I1"}, On: day("2025-03-01"), Note: "phone call with the CFO"}
		if mod != nil {
			mod(&p)
		}
		return p
	}
	return []decideCase{
		{name: "a promise to pay", given: history(), when: promise(nil),
			then: []domain.Event{domain.PromiseToPayRecorded{PromiseID: "PR1", Amount: eur(10_000), PromisedFor: day("2025-03-15"),
				InvoiceIDs: []domain.InvoiceID{"I1"}, RecordedOn: day("2025-03-01"), Note: "phone call with the CFO"}},
			check: func(t *testing.T, c *domain.Customer) { assert.Len(t, c.Promises(), 1) }},
		{name: "a promise for the same day, naming no invoice", given: history(),
			when: promise(func(p *domain.RecordPromise) { p.PromisedFor = p.On; p.InvoiceIDs = nil; p.Note = "" }),
			then: []domain.Event{domain.PromiseToPayRecorded{PromiseID: "PR1", Amount: eur(10_000), PromisedFor: day("2025-03-01"), RecordedOn: day("2025-03-01")}}},
		refused("a promise of zero is amount_not_positive", history(), promise(func(p *domain.RecordPromise) { p.Amount = eur(0) }), domain.CodeAmountNotPositive, "amount"),
		refused("a promise for a date before it was made is date_out_of_order", history(),
			promise(func(p *domain.RecordPromise) { p.PromisedFor = day("2025-02-28") }), domain.CodeDateOutOfOrder, "promised_for"),
		refused("a promise without a date promised is missing_field", history(),
			promise(func(p *domain.RecordPromise) { p.PromisedFor = domain.Date{} }), domain.CodeMissingField, "promised_for"),
		refused("a promise id recorded before is duplicate_promise",
			history(domain.PromiseToPayRecorded{PromiseID: "PR1", Amount: eur(1), PromisedFor: day("2025-03-10"), RecordedOn: day("2025-03-01")}),
			promise(nil), domain.CodeDuplicatePromise, "promise_id"),
		refused("a promise naming an unknown invoice is unknown_invoice", history(),
			promise(func(p *domain.RecordPromise) { p.InvoiceIDs = []domain.InvoiceID{"I1", "I9"} }), domain.CodeUnknownInvoice, "invoice_ids[1]"),
		refused("a promise naming a paid invoice is invoice_closed", history(received("P1", 10_000, "2025-02-01", alloc("I1", 10_000))),
			promise(nil), domain.CodeInvoiceClosed, "invoice_ids[0]"),
		refused("a promise note over 1000 characters is invalid_field", history(),
			promise(func(p *domain.RecordPromise) { p.Note = strings.Repeat("n", 1001) }), domain.CodeInvalidField, "note"),
	}
}

func reminderCases() []decideCase {
	remind := func(inv string, level int, channel string) domain.SendReminder {
		return domain.SendReminder{CustomerID: custID, InvoiceID: domain.InvoiceID(inv), Level: level, Channel: channel, On: day("2025-02-20")}
	}
	return []decideCase{
		{name: "a first reminder by email", given: history(), when: remind("I1", 1, "email"),
			then:  []domain.Event{domain.ReminderSent{InvoiceID: "I1", Level: 1, Channel: "email", SentOn: day("2025-02-20")}},
			check: func(t *testing.T, c *domain.Customer) { assert.Equal(t, 1, mustInvoice(t, c, "I1").ReminderLevel) }},
		{name: "a formal notice at level 9", given: history(), when: remind("I1", 9, "formal_notice"),
			then: []domain.Event{domain.ReminderSent{InvoiceID: "I1", Level: 9, Channel: "formal_notice", SentOn: day("2025-02-20")}}},
		refused("reminder level 0 is invalid_field", history(), remind("I1", 0, "email"), domain.CodeInvalidField, "level"),
		refused("reminder level 10 is invalid_field", history(), remind("I1", 10, "email"), domain.CodeInvalidField, "level"),
		refused("a reminder by sms is invalid_field", history(), remind("I1", 1, "sms"), domain.CodeInvalidField, "channel"),
		refused("a reminder without a channel is missing_field", history(), remind("I1", 1, ""), domain.CodeMissingField, "channel"),
		refused("a reminder on a disputed invoice is invoice_disputed", history(disputed("I1", "2025-02-10")), remind("I1", 2, "letter"), domain.CodeInvoiceDisputed, "invoice_id"),
		refused("a reminder on a paid invoice is invoice_closed", history(received("P1", 10_000, "2025-02-01", alloc("I1", 10_000))),
			remind("I1", 1, "phone"), domain.CodeInvoiceClosed, "invoice_id"),
		refused("a reminder on a written-off invoice is invoice_written_off", history(writtenOff("I1", 10_000, "2025-02-15")),
			remind("I1", 1, "phone"), domain.CodeInvoiceWrittenOff, "invoice_id"),
		refused("a reminder on an unknown invoice is unknown_invoice", history(), remind("I9", 1, "phone"), domain.CodeUnknownInvoice, "invoice_id"),
		refused("a reminder before the invoice was issued is date_before_issue", history(),
			domain.SendReminder{CustomerID: custID, InvoiceID: "I3", Level: 1, Channel: "email", On: day("2025-01-31")}, domain.CodeDateBeforeIssue, "sent_on"),
	}
}

func ratingAndInsuranceCases() []decideCase {
	rate := func(score int) domain.RecordRating {
		return domain.RecordRating{CustomerID: custID, Agency: "Banque de France", Score: score, Grade: "4+", On: day("2025-02-01")}
	}
	cover := func(insurer string, minor int64, days int) domain.ChangeInsuranceCover {
		return domain.ChangeInsuranceCover{CustomerID: custID, Insurer: insurer, Covered: eur(minor), DeclarationDays: days, On: day("2025-02-01")}
	}
	return []decideCase{
		{name: "a rating", given: history(), when: rate(72),
			then: []domain.Event{domain.ExternalRatingReceived{Agency: "Banque de France", Score: 72, Grade: "4+", RatedOn: day("2025-02-01")}},
			check: func(t *testing.T, c *domain.Customer) {
				require.NotNil(t, c.Profile().Rating)
				assert.Equal(t, 72, c.Profile().Rating.Score)
			}},
		{name: "an older rating recorded later does not replace the newer one",
			given: history(domain.ExternalRatingReceived{Agency: "A", Score: 40, RatedOn: day("2025-03-01")}), when: rate(72),
			then:  []domain.Event{domain.ExternalRatingReceived{Agency: "Banque de France", Score: 72, Grade: "4+", RatedOn: day("2025-02-01")}},
			check: func(t *testing.T, c *domain.Customer) { assert.Equal(t, 40, c.Profile().Rating.Score) }},
		{name: "scores 0 and 100 are the bounds", given: history(), when: rate(0),
			then: []domain.Event{domain.ExternalRatingReceived{Agency: "Banque de France", Score: 0, Grade: "4+", RatedOn: day("2025-02-01")}}},
		{name: "score 100 is in range", given: history(), when: rate(100),
			then: []domain.Event{domain.ExternalRatingReceived{Agency: "Banque de France", Score: 100, Grade: "4+", RatedOn: day("2025-02-01")}}},
		refused("score 101 is rating_out_of_range", history(), rate(101), domain.CodeRatingOutOfRange, "score"),
		refused("score -1 is rating_out_of_range", history(), rate(-1), domain.CodeRatingOutOfRange, "score"),
		refused("a rating without an agency is missing_field", history(),
			domain.RecordRating{CustomerID: custID, Score: 50, On: day("2025-02-01")}, domain.CodeMissingField, "agency"),
		refused("a rating without a date is missing_field", history(),
			domain.RecordRating{CustomerID: custID, Agency: "A", Score: 50}, domain.CodeMissingField, "rated_on"),
		{name: "an insurance cover", given: history(), when: cover("Allianz Trade", 80_000, 90),
			then: []domain.Event{domain.CreditInsuranceCoverChanged{Insurer: "Allianz Trade", Covered: eur(80_000), DeclarationDays: 90, ChangedOn: day("2025-02-01")}},
			check: func(t *testing.T, c *domain.Customer) {
				p := c.Profile()
				assert.Equal(t, "Allianz Trade", p.Insurer)
				assert.Equal(t, eur(80_000), p.InsuredCover)
				assert.Equal(t, 90, p.DeclarationDays)
			}},
		{name: "removing the cover needs no insurer", given: history(), when: cover("", 0, 60),
			then: []domain.Event{domain.CreditInsuranceCoverChanged{Covered: eur(0), DeclarationDays: 60, ChangedOn: day("2025-02-01")}}},
		refused("a cover without an insurer is missing_field", history(), cover("", 1, 60), domain.CodeMissingField, "insurer"),
		refused("a negative cover is amount_negative", history(), cover("X", -1, 60), domain.CodeAmountNegative, "covered"),
		refused("a cover in another currency is currency_mismatch", history(),
			domain.ChangeInsuranceCover{CustomerID: custID, Insurer: "X", Covered: domain.Money{Minor: 1, Ccy: "USD"}, DeclarationDays: 60, On: day("2025-02-01")},
			domain.CodeCurrencyMismatch, "covered"),
		refused("a declaration window of 0 days is invalid_field", history(), cover("X", 1, 0), domain.CodeInvalidField, "declaration_days"),
		refused("a declaration window of 366 days is invalid_field", history(), cover("X", 1, 366), domain.CodeInvalidField, "declaration_days"),
	}
}

// TestDecideOnNilCustomer: a nil state is an unregistered customer, not a panic.
func TestDecideOnNilCustomer(t *testing.T) {
	evs, err := domain.Decide(nil, registerCmd(nil))
	require.NoError(t, err)
	assert.Equal(t, []domain.Event{registered()}, evs)
	_, err = domain.Decide(nil, invoiceCmd(nil))
	assert.Equal(t, domain.CodeUnknownCustomer, domain.ErrorCode(err))
}

// TestErrorKinds pins the kind of each refusal the API maps to a status: a not-found is 404,
// a contradiction with the stream 409, a request that can never succeed 400/422.
func TestErrorKinds(t *testing.T) {
	cases := []struct {
		given []domain.Event
		when  domain.Command
		kind  domain.Kind
	}{
		{nil, invoiceCmd(nil), domain.KindNotFound},
		{[]domain.Event{registered()}, registerCmd(nil), domain.KindConflict},
		{history(), invoiceCmd(func(i *domain.IssueInvoice) { i.InvoiceID = "I1" }), domain.KindConflict},
		{history(), invoiceCmd(func(i *domain.IssueInvoice) { i.Amount = eur(0) }), domain.KindInvalid},
		{history(), paymentCmd("P1", 1, "2025-02-01", alloc("I9", 1)), domain.KindNotFound},
		{history(), paymentCmd("P1", 1_000_000, "2025-02-01", alloc("I1", 10_001)), domain.KindConflict},
		{history(), strangeCommand{}, domain.KindInternal},
	}
	for _, tc := range cases {
		_, err := domain.Decide(domain.Fold(tc.given), tc.when)
		assert.Equalf(t, tc.kind, domain.ErrorKind(err), "kind of %v for %+v", err, tc.when)
	}
}

// TestValidateID covers the id alphabet and its bounds.
func TestValidateID(t *testing.T) {
	good := []string{"a", "C1", "INV-2025-0001", "x.y_z:w-1", strings.Repeat("A", 128)}
	bad := []string{"", " ", "a b", "é", "a/b", "a?b", "a#b", "a\x00", strings.Repeat("A", 129)}
	for _, id := range good {
		assert.NoErrorf(t, domain.ValidateID(id), "ValidateID(%q)", id)
	}
	for _, id := range bad {
		err := domain.ValidateID(id)
		assert.Equalf(t, domain.CodeInvalidID, domain.ErrorCode(err), "ValidateID(%q): got %v, want invalid_id", id, err)
	}
}

// TestEvolveAssertions: Evolve refuses nothing, but a fact Decide could never have produced
// trips an assertion instead of corrupting the state.
func TestEvolveAssertions(t *testing.T) {
	cases := map[string][]domain.Event{
		"invoice before registration":   {issued("I1", 1, "2025-01-01", "2025-01-01")},
		"registered twice":              {registered(), registered()},
		"allocation above open":         history(received("P1", 20_000, "2025-02-01", alloc("I1", 10_001))),
		"write-off of more than open":   history(writtenOff("I1", 10_001, "2025-02-01")),
		"allocation on unknown invoice": history(received("P1", 1, "2025-02-01", alloc("I9", 1))),
		"alert in a customer stream":    history(domain.AlertRaised{AlertID: "A1"}),
		"reversal re-opening too much": history(received("P1", 1_000, "2025-02-01", alloc("I1", 1_000)),
			domain.PaymentReversed{PaymentID: "P1", Amount: eur(1_000), Reopened: []domain.Allocation{alloc("I1", 2_000)}, UnallocatedRemoved: eur(-1_000)}),
	}
	for name, evs := range cases {
		assert.Panicsf(t, func() { domain.Fold(evs) }, "%s: want an assertion panic", name)
	}
}
