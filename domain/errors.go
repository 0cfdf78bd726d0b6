package domain

import (
	"errors"
	"fmt"
)

// Kind decides the HTTP status of an error; Code is the stable, specific reason that clients
// switch on (design §API v1: "due_before_issue", "currency_mismatch", ...).
type Kind uint8

const (
	KindInvalid  Kind = iota + 1 // the request can never succeed as written (400/422)
	KindConflict                 // it contradicts the stream's current state (409)
	KindNotFound                 // the subject does not exist (404)
	KindInternal                 // anything else; details go to logs only (500)
)

func (k Kind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindConflict:
		return "conflict"
	case KindNotFound:
		return "not_found"
	case KindInternal:
		return "internal"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Error is the one error type of the domain: a kind, a machine-readable code, a human message
// and, where there is one, the offending field (JSON name of the request field).
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Field   string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is makes errors.Is(err, &Error{Code: "x"}) match on the code alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Errorf builds an *Error with a formatted message.
func Errorf(kind Kind, code, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf builds an *Error that names the offending request field.
func FieldErrorf(kind Kind, code, field, format string, args ...any) *Error {
	return &Error{Kind: kind, Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, "internal" for any other
// non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "internal"
}

// ErrorKind returns the kind of the first *Error in err's chain, KindInternal otherwise.
func ErrorKind(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// Stable error codes. Clients switch on these strings: never rename one.
const (
	CodeUnknownCustomer          = "unknown_customer"
	CodeCustomerExists           = "customer_exists"
	CodeUnknownInvoice           = "unknown_invoice"
	CodeUnknownPayment           = "unknown_payment"
	CodeUnknownCreditNote        = "unknown_credit_note"
	CodeDuplicateInvoice         = "duplicate_invoice"
	CodeDuplicateInvoiceNumber   = "duplicate_invoice_number"
	CodeDuplicatePayment         = "duplicate_payment"
	CodeDuplicateCreditNote      = "duplicate_credit_note"
	CodeCurrencyMismatch         = "currency_mismatch"
	CodeUnknownCurrency          = "unknown_currency"
	CodeAllocationExceedsOpen    = "allocation_exceeds_open_amount"
	CodeAllocationExceedsPayment = "allocation_exceeds_payment"
	CodeAllocationExceedsCash    = "allocation_exceeds_unallocated_cash"
	CodeDuplicateAllocation      = "duplicate_allocation"
	CodeCreditExceedsOpen        = "credit_exceeds_open_amount"
	CodeDueBeforeIssue           = "due_before_issue"
	CodeAmountNotPositive        = "amount_not_positive"
	CodeAmountNegative           = "amount_negative"
	CodeAmountOverflow           = "amount_overflow"
	CodeVersionConflict          = "version_conflict"
	CodeInvalidDate              = "invalid_date"
	CodeInvalidField             = "invalid_field"
	CodeMissingField             = "missing_field"
	CodeInvoiceClosed            = "invoice_closed"
	CodeInvoiceWrittenOff        = "invoice_written_off"
	CodeAlreadyDisputed          = "already_disputed"
	CodeNotDisputed              = "not_disputed"
	CodeAlreadyReversed          = "payment_already_reversed"
	CodePlanMismatch             = "plan_total_mismatch"
	CodeDateBeforeIssue          = "date_before_issue"
	CodeInvalidTerms             = "invalid_terms"
	CodeInvalidID                = "invalid_id"
	CodeUnknownEventType         = "unknown_event_type"
	CodeUnsupportedSchema        = "unsupported_schema_version"
	CodeMalformedEvent           = "malformed_event"
	CodeRatingOutOfRange         = "rating_out_of_range"
	CodeDateOutOfOrder           = "date_out_of_order"   // a date before the fact it follows (receipt, dispute, agreement)
	CodeNothingToAllocate        = "nothing_to_allocate" // automatic allocation found no eligible open invoice
	CodeDuplicatePlan            = "duplicate_plan"
	CodeDuplicatePromise         = "duplicate_promise"
	CodeInvoiceDisputed          = "invoice_disputed"  // disputed invoices are excluded from dunning
	CodeCustomerMismatch         = "customer_mismatch" // KindInternal: the shell folded another customer's stream
	CodeUnknownCommand           = "unknown_command"   // KindInternal: a command type Decide does not know
)
