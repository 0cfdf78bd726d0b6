package domain

import (
	"bytes"
	"encoding/json"
)

// Event is one fact of the v1 catalogue (design §Events). Each event knows its type name and
// its business date, which becomes the envelope's effective_on.
type Event interface {
	EventType() string
	Effective() Date
}

// Event type names: stored in every envelope, never renamed.
const (
	TypeCustomerRegistered          = "CustomerRegistered"
	TypeCreditLimitChanged          = "CreditLimitChanged"
	TypeInvoiceIssued               = "InvoiceIssued"
	TypeCreditNoteIssued            = "CreditNoteIssued"
	TypePaymentReceived             = "PaymentReceived"
	TypePaymentAllocated            = "PaymentAllocated"
	TypePaymentReversed             = "PaymentReversed"
	TypeInvoiceDisputed             = "InvoiceDisputed"
	TypeDisputeResolved             = "DisputeResolved"
	TypePaymentPlanAgreed           = "PaymentPlanAgreed"
	TypePromiseToPayRecorded        = "PromiseToPayRecorded"
	TypeReminderSent                = "ReminderSent"
	TypeInvoiceWrittenOff           = "InvoiceWrittenOff"
	TypeExternalRatingReceived      = "ExternalRatingReceived"
	TypeCreditInsuranceCoverChanged = "CreditInsuranceCoverChanged"
	TypeExchangeRatesPublished      = "ExchangeRatesPublished"
	TypeAlertRaised                 = "AlertRaised"
	TypeAlertResolved               = "AlertResolved"
	TypeAlertAcknowledged           = "AlertAcknowledged"
	TypeTokenIssued                 = "TokenIssued"
	TypeTokenRevoked                = "TokenRevoked"
)

// Streams. A customer's facts live in one stream so that one expected version guards them all.
const (
	CustomerStreamPrefix = "customer-"
	AlertStreamPrefix    = "alerts-"
	RatesStream          = "system-rates"
	// TokensStream holds the API's access tokens (TokenIssued, TokenRevoked): who may record
	// what is itself an audited fact (Audit/access-control issue).
	TokensStream = "system-tokens"
)

// CustomerStream returns the stream of a customer.
func CustomerStream(id CustomerID) string { return CustomerStreamPrefix + string(id) }

// AlertStream returns the alert stream of a customer.
func AlertStream(id CustomerID) string { return AlertStreamPrefix + string(id) }

// Identifiers. They are opaque, 1..128 bytes of [A-Za-z0-9._:-] (ValidateID), so they can sit
// in a URL path and a stream name without escaping.
type (
	CustomerID   string
	InvoiceID    string
	PaymentID    string
	CreditNoteID string
)

// Allocation is an amount of cash or credit applied to one invoice.
type Allocation struct {
	InvoiceID InvoiceID `json:"invoice_id"`
	Amount    Money     `json:"amount"`
}

// Instalment is one dated amount of a payment plan.
type Instalment struct {
	Due    Date  `json:"due_date"`
	Amount Money `json:"amount"`
}

// CustomerRegistered opens a customer's stream.
type CustomerRegistered struct {
	CustomerID   CustomerID `json:"customer_id"`
	Name         string     `json:"name"`
	Country      string     `json:"country"`           // ISO 3166-1 alpha-2
	Sector       string     `json:"sector,omitempty"`  // NACE Rev. 2 code
	Segment      string     `json:"segment,omitempty"` // e.g. sme, corporate, public
	Currency     Currency   `json:"currency"`
	Terms        Terms      `json:"terms"`
	CreditLimit  Money      `json:"credit_limit"`
	RegisteredOn Date       `json:"registered_on"`
}

// CreditLimitChanged sets a new limit. Zero means extend no more credit; invoices are still
// recorded (they are facts) and raise a limit alert.
type CreditLimitChanged struct {
	Limit      Money  `json:"limit"`
	Previous   Money  `json:"previous"`
	Reason     string `json:"reason"`
	ApprovedBy string `json:"approved_by,omitempty"`
	ChangedOn  Date   `json:"changed_on"`
}

// InvoiceIssued records an invoice sent to the customer.
type InvoiceIssued struct {
	InvoiceID InvoiceID `json:"invoice_id"`
	Number    string    `json:"number"`
	Amount    Money     `json:"amount"`
	IssueDate Date      `json:"issue_date"`
	DueDate   Date      `json:"due_date"`
	Terms     string    `json:"terms,omitempty"`
}

// CreditNoteIssued reduces an invoice (AppliedToInvoice) and/or stands as customer credit
// (the rest of Amount).
type CreditNoteIssued struct {
	CreditNoteID     CreditNoteID `json:"credit_note_id"`
	InvoiceID        InvoiceID    `json:"invoice_id,omitempty"`
	Amount           Money        `json:"amount"`
	AppliedToInvoice Money        `json:"applied_to_invoice"`
	IssueDate        Date         `json:"issue_date"`
	Reason           string       `json:"reason,omitempty"`
}

// PaymentReceived records cash in: Allocations settle invoices; Unallocated stays on account.
type PaymentReceived struct {
	PaymentID   PaymentID    `json:"payment_id"`
	Amount      Money        `json:"amount"`
	ReceivedOn  Date         `json:"received_on"`
	Allocations []Allocation `json:"allocations"`
	Unallocated Money        `json:"unallocated"`
	Reference   string       `json:"reference,omitempty"`
}

// PaymentAllocated applies cash on account (from PaymentID) or standing credit (from
// CreditNoteID) to invoices later. Exactly one source is set.
type PaymentAllocated struct {
	PaymentID    PaymentID    `json:"payment_id,omitempty"`
	CreditNoteID CreditNoteID `json:"credit_note_id,omitempty"`
	AllocatedOn  Date         `json:"allocated_on"`
	Allocations  []Allocation `json:"allocations"`
}

// PaymentReversed undoes a payment (bounced, recalled): every allocation it made, at receipt
// and later, is re-opened (Reopened), and its unallocated rest leaves the account.
type PaymentReversed struct {
	PaymentID          PaymentID    `json:"payment_id"`
	Amount             Money        `json:"amount"`
	ReversedOn         Date         `json:"reversed_on"`
	Reason             string       `json:"reason,omitempty"`
	Reopened           []Allocation `json:"reopened"`
	UnallocatedRemoved Money        `json:"unallocated_removed"`
}

// InvoiceDisputed excludes an invoice from dunning; disputes count in signals.
type InvoiceDisputed struct {
	InvoiceID  InvoiceID `json:"invoice_id"`
	DisputedOn Date      `json:"disputed_on"`
	Reason     string    `json:"reason,omitempty"`
}

// DisputeResolved ends a dispute. Any money consequence is a separate credit note.
type DisputeResolved struct {
	InvoiceID  InvoiceID `json:"invoice_id"`
	ResolvedOn Date      `json:"resolved_on"`
	Outcome    string    `json:"outcome,omitempty"` // e.g. upheld, rejected, settled
	Note       string    `json:"note,omitempty"`
}

// PaymentPlanAgreed replaces the due dates of invoices by instalments.
type PaymentPlanAgreed struct {
	PlanID      string       `json:"plan_id"`
	InvoiceIDs  []InvoiceID  `json:"invoice_ids"`
	Instalments []Instalment `json:"instalments"`
	AgreedOn    Date         `json:"agreed_on"`
}

// PromiseToPayRecorded is a dated promise; a broken promise is a signal.
type PromiseToPayRecorded struct {
	PromiseID   string      `json:"promise_id"`
	Amount      Money       `json:"amount"`
	PromisedFor Date        `json:"promised_for"`
	InvoiceIDs  []InvoiceID `json:"invoice_ids,omitempty"`
	RecordedOn  Date        `json:"recorded_on"`
	Note        string      `json:"note,omitempty"`
}

// ReminderSent records a dunning step.
type ReminderSent struct {
	InvoiceID InvoiceID `json:"invoice_id"`
	Level     int       `json:"level"`
	Channel   string    `json:"channel"` // email, letter, phone, formal_notice
	SentOn    Date      `json:"sent_on"`
}

// InvoiceWrittenOff recognises a loss of the invoice's open amount; it stays in history.
type InvoiceWrittenOff struct {
	InvoiceID    InvoiceID `json:"invoice_id"`
	Amount       Money     `json:"amount"`
	WrittenOffOn Date      `json:"written_off_on"`
	Reason       string    `json:"reason,omitempty"`
}

// ExternalRatingReceived is a credit agency's view of the customer. Score is 0..100, higher is
// safer; Grade is the agency's own label.
type ExternalRatingReceived struct {
	Agency  string `json:"agency"`
	Score   int    `json:"score"`
	Grade   string `json:"grade,omitempty"`
	RatedOn Date   `json:"rated_on"`
}

// CreditInsuranceCoverChanged sets the insurer's cover for the customer (zero: no cover).
type CreditInsuranceCoverChanged struct {
	Insurer         string `json:"insurer"`
	Covered         Money  `json:"covered"`
	DeclarationDays int    `json:"declaration_days"` // unpaid invoices must be declared this many days after due
	ChangedOn       Date   `json:"changed_on"`
}

// Rate is an exchange rate with 9 decimals in integer form (1.0834 is {1_083_400_000}): how
// many units of the reporting currency one unit of Currency buys. Never a float.
type Rate struct {
	Currency Currency `json:"currency"`
	E9       int64    `json:"rate_e9"`
}

// ExchangeRatesPublished gives dated rates to the reporting currency (system stream).
type ExchangeRatesPublished struct {
	Reporting Currency `json:"reporting"`
	RatesOn   Date     `json:"rates_on"`
	Rates     []Rate   `json:"rates"`
	Source    string   `json:"source,omitempty"`
}

// AlertRaised opens (or escalates) an alert on one rule and subject (stream alerts-<customer>).
// Explanation is the signal's own JSON: baseline, current value, threshold, the events that
// moved it.
type AlertRaised struct {
	AlertID         string          `json:"alert_id"`
	CustomerID      CustomerID      `json:"customer_id"`
	Rule            string          `json:"rule"`
	Subject         string          `json:"subject"`
	Severity        string          `json:"severity"`
	Message         string          `json:"message"`
	Explanation     json.RawMessage `json:"explanation,omitempty"`
	TriggerPosition uint64          `json:"trigger_position"`
	RaisedOn        Date            `json:"raised_on"`
}

// AlertResolved closes an alert, automatically (the condition cleared) or by hand.
type AlertResolved struct {
	AlertID    string `json:"alert_id"`
	Reason     string `json:"reason"`
	ResolvedOn Date   `json:"resolved_on"`
	// Comment is the credit manager's note on a resolution by hand.
	Comment string `json:"comment,omitempty"`
}

// AlertAcknowledged records that someone saw the alert.
type AlertAcknowledged struct {
	AlertID string `json:"alert_id"`
	Comment string `json:"comment,omitempty"`
	AckedOn Date   `json:"acked_on"`
}

// TokenIssued records an API access token (stream system-tokens). Only the SHA-256 of the
// token is stored: the token itself is shown once, to whoever issued it. Role is one of the
// API's roles (handlers/auth); IssuedBy is the actor who issued it.
type TokenIssued struct {
	TokenID  string `json:"token_id"`
	Role     string `json:"role"`
	Name     string `json:"name"`
	Hash     Hash   `json:"hash"`
	IssuedBy string `json:"issued_by"`
	IssuedOn Date   `json:"issued_on"`
}

// TokenRevoked withdraws a token: from then on it authenticates nothing. It stays in history.
type TokenRevoked struct {
	TokenID   string `json:"token_id"`
	RevokedBy string `json:"revoked_by"`
	RevokedOn Date   `json:"revoked_on"`
}

func (e CustomerRegistered) EventType() string          { return TypeCustomerRegistered }
func (e CreditLimitChanged) EventType() string          { return TypeCreditLimitChanged }
func (e InvoiceIssued) EventType() string               { return TypeInvoiceIssued }
func (e CreditNoteIssued) EventType() string            { return TypeCreditNoteIssued }
func (e PaymentReceived) EventType() string             { return TypePaymentReceived }
func (e PaymentAllocated) EventType() string            { return TypePaymentAllocated }
func (e PaymentReversed) EventType() string             { return TypePaymentReversed }
func (e InvoiceDisputed) EventType() string             { return TypeInvoiceDisputed }
func (e DisputeResolved) EventType() string             { return TypeDisputeResolved }
func (e PaymentPlanAgreed) EventType() string           { return TypePaymentPlanAgreed }
func (e PromiseToPayRecorded) EventType() string        { return TypePromiseToPayRecorded }
func (e ReminderSent) EventType() string                { return TypeReminderSent }
func (e InvoiceWrittenOff) EventType() string           { return TypeInvoiceWrittenOff }
func (e ExternalRatingReceived) EventType() string      { return TypeExternalRatingReceived }
func (e CreditInsuranceCoverChanged) EventType() string { return TypeCreditInsuranceCoverChanged }
func (e ExchangeRatesPublished) EventType() string      { return TypeExchangeRatesPublished }
func (e AlertRaised) EventType() string                 { return TypeAlertRaised }
func (e AlertResolved) EventType() string               { return TypeAlertResolved }
func (e AlertAcknowledged) EventType() string           { return TypeAlertAcknowledged }
func (e TokenIssued) EventType() string                 { return TypeTokenIssued }
func (e TokenRevoked) EventType() string                { return TypeTokenRevoked }

func (e CustomerRegistered) Effective() Date          { return e.RegisteredOn }
func (e CreditLimitChanged) Effective() Date          { return e.ChangedOn }
func (e InvoiceIssued) Effective() Date               { return e.IssueDate }
func (e CreditNoteIssued) Effective() Date            { return e.IssueDate }
func (e PaymentReceived) Effective() Date             { return e.ReceivedOn }
func (e PaymentAllocated) Effective() Date            { return e.AllocatedOn }
func (e PaymentReversed) Effective() Date             { return e.ReversedOn }
func (e InvoiceDisputed) Effective() Date             { return e.DisputedOn }
func (e DisputeResolved) Effective() Date             { return e.ResolvedOn }
func (e PaymentPlanAgreed) Effective() Date           { return e.AgreedOn }
func (e PromiseToPayRecorded) Effective() Date        { return e.RecordedOn }
func (e ReminderSent) Effective() Date                { return e.SentOn }
func (e InvoiceWrittenOff) Effective() Date           { return e.WrittenOffOn }
func (e ExternalRatingReceived) Effective() Date      { return e.RatedOn }
func (e CreditInsuranceCoverChanged) Effective() Date { return e.ChangedOn }
func (e ExchangeRatesPublished) Effective() Date      { return e.RatesOn }
func (e AlertRaised) Effective() Date                 { return e.RaisedOn }
func (e AlertResolved) Effective() Date               { return e.ResolvedOn }
func (e AlertAcknowledged) Effective() Date           { return e.AckedOn }
func (e TokenIssued) Effective() Date                 { return e.IssuedOn }
func (e TokenRevoked) Effective() Date                { return e.RevokedOn }

// CurrentSchemaVersion is the schema version every event is written with today. An older
// version is upcast on read, in DecodeEvent, one place per event type.
const CurrentSchemaVersion uint16 = 1

// eventFactories makes an empty event of each type for decoding.
var eventFactories = map[string]func() Event{
	TypeCustomerRegistered:          func() Event { return new(CustomerRegistered) },
	TypeCreditLimitChanged:          func() Event { return new(CreditLimitChanged) },
	TypeInvoiceIssued:               func() Event { return new(InvoiceIssued) },
	TypeCreditNoteIssued:            func() Event { return new(CreditNoteIssued) },
	TypePaymentReceived:             func() Event { return new(PaymentReceived) },
	TypePaymentAllocated:            func() Event { return new(PaymentAllocated) },
	TypePaymentReversed:             func() Event { return new(PaymentReversed) },
	TypeInvoiceDisputed:             func() Event { return new(InvoiceDisputed) },
	TypeDisputeResolved:             func() Event { return new(DisputeResolved) },
	TypePaymentPlanAgreed:           func() Event { return new(PaymentPlanAgreed) },
	TypePromiseToPayRecorded:        func() Event { return new(PromiseToPayRecorded) },
	TypeReminderSent:                func() Event { return new(ReminderSent) },
	TypeInvoiceWrittenOff:           func() Event { return new(InvoiceWrittenOff) },
	TypeExternalRatingReceived:      func() Event { return new(ExternalRatingReceived) },
	TypeCreditInsuranceCoverChanged: func() Event { return new(CreditInsuranceCoverChanged) },
	TypeExchangeRatesPublished:      func() Event { return new(ExchangeRatesPublished) },
	TypeAlertRaised:                 func() Event { return new(AlertRaised) },
	TypeAlertResolved:               func() Event { return new(AlertResolved) },
	TypeAlertAcknowledged:           func() Event { return new(AlertAcknowledged) },
	TypeTokenIssued:                 func() Event { return new(TokenIssued) },
	TypeTokenRevoked:                func() Event { return new(TokenRevoked) },
}

// EventTypes lists every type name of the catalogue.
func EventTypes() []string {
	out := make([]string, 0, len(eventFactories))
	for t := range eventFactories {
		out = append(out, t)
	}
	return out
}

// EncodeEvent returns the JSON data of e (schema CurrentSchemaVersion).
func EncodeEvent(e Event) ([]byte, error) {
	if data, ok := encodeFast(e); ok {
		return data, nil
	}
	return json.Marshal(e)
}

// DecodeEvent decodes the data of an event of type typ written at schema version schema,
// upcasting older versions. Unknown types, versions and fields are *Error, never a panic.
// The result is a value (CustomerRegistered, not *CustomerRegistered).
func DecodeEvent(typ string, schema uint16, data []byte) (Event, error) {
	return decodeEvent(typ, schema, data, false, nil)
}

// DecodeEventView is DecodeEvent whose result may share data's bytes: the strings of the
// events its fast decoder reads (InvoiceIssued, PaymentReceived, CustomerRegistered) alias
// data instead of copying it, so data must not change while the event, or a string taken
// from it, is in use. For a projection's catch-up, which decodes a page from one buffer and
// applies it before reusing the buffer; the projection copies whatever it keeps.
//
// With a slab, those events are pointers into it (*InvoiceIssued, *PaymentReceived,
// *CustomerRegistered, and their allocations carved from it), valid until slab.Reset: the
// events of a page then cost no allocation each. Every other type is a value, as from
// DecodeEvent.
func DecodeEventView(typ string, schema uint16, data []byte, slab *EventSlab) (Event, error) {
	return decodeEvent(typ, schema, data, true, slab)
}

// decodeEvent is DecodeEvent (view false, slab nil) and DecodeEventView. The fast decoder
// goes first: it decodes only types of eventFactories at the current schema version, so
// what it accepts is what the checks below would let it decode, and the events a replay
// meets most skip the factories' map (4 % of a replay's CPU).
func decodeEvent(typ string, schema uint16, data []byte, view bool, slab *EventSlab) (Event, error) {
	if schema == CurrentSchemaVersion {
		if ev, ok := decodeFast(typ, data, view, slab); ok {
			return ev, nil
		}
	}
	mk, ok := eventFactories[typ]
	if !ok {
		return nil, Errorf(KindInvalid, CodeUnknownEventType, "unknown event type %q", typ)
	}
	if schema != CurrentSchemaVersion {
		return nil, Errorf(KindInvalid, CodeUnsupportedSchema, "event %s: schema version %d, this build reads %d", typ, schema, CurrentSchemaVersion)
	}
	return decodeJSON(typ, mk, data)
}

// decodeJSON is DecodeEvent with encoding/json: every type, every form JSON allows.
func decodeJSON(typ string, mk func() Event, data []byte) (Event, error) {
	p := mk()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		return nil, Errorf(KindInvalid, CodeMalformedEvent, "event %s: %v", typ, err)
	}
	if dec.More() {
		return nil, Errorf(KindInvalid, CodeMalformedEvent, "event %s: trailing data", typ)
	}
	return deref(p), nil
}

// deref turns the *T made by a factory into the T value the rest of the domain switches on.
func deref(p Event) Event {
	switch v := p.(type) {
	case *CustomerRegistered:
		return *v
	case *CreditLimitChanged:
		return *v
	case *InvoiceIssued:
		return *v
	case *CreditNoteIssued:
		return *v
	case *PaymentReceived:
		return *v
	case *PaymentAllocated:
		return *v
	case *PaymentReversed:
		return *v
	case *InvoiceDisputed:
		return *v
	case *DisputeResolved:
		return *v
	case *PaymentPlanAgreed:
		return *v
	case *PromiseToPayRecorded:
		return *v
	case *ReminderSent:
		return *v
	case *InvoiceWrittenOff:
		return *v
	case *ExternalRatingReceived:
		return *v
	case *CreditInsuranceCoverChanged:
		return *v
	case *ExchangeRatesPublished:
		return *v
	case *AlertRaised:
		return *v
	case *AlertResolved:
		return *v
	case *AlertAcknowledged:
		return *v
	case *TokenIssued:
		return *v
	case *TokenRevoked:
		return *v
	}
	panic("domain: deref of unknown event type")
}
