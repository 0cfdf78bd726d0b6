package signals

import (
	"fmt"
	"strings"

	"github.com/encours/encours/domain"
)

// Facts is what the signals need of the log beyond the ledger read model: the log position
// of each fact that can move a signal (so that an explanation names the events behind it),
// and the dated behaviour events the ledger only counts (disputes, reversals, promises,
// payment plans with their instalments). Feed it the same envelopes as the ledger, in
// position order; it is not safe for concurrent use (the evaluator serialises it with the
// model).
type Facts struct {
	position  uint64
	customers map[domain.CustomerID]*customerFacts
}

// datedFact is one event of a customer: its subject id, business date and position.
type datedFact struct {
	id       string
	on       domain.Date
	position uint64
}

type promiseFact struct {
	domain.PromiseToPayRecorded
	position uint64
}

type planFact struct {
	domain.PaymentPlanAgreed
	position uint64
}

type customerFacts struct {
	last      uint64 // last event of the customer's stream
	limit     uint64 // last CustomerRegistered or CreditLimitChanged
	rating    uint64
	insurance uint64
	invoices  map[domain.InvoiceID]uint64
	payments  map[domain.PaymentID]uint64
	disputes  []datedFact // InvoiceDisputed: id is the invoice
	reversals []datedFact // PaymentReversed: id is the payment
	promises  []promiseFact
	plans     []planFact
}

// NewFacts returns empty facts at position 0.
func NewFacts() *Facts {
	return &Facts{customers: make(map[domain.CustomerID]*customerFacts)}
}

// Position returns the position of the last envelope applied.
func (f *Facts) Position() uint64 { return f.position }

// Apply records e. It is idempotent by position (an envelope at or below Position is
// ignored) and reads only customer streams; an event it cannot decode is an error, and
// leaves the facts unchanged.
func (f *Facts) Apply(e domain.Envelope) error {
	if e.Position <= f.position {
		return nil
	}
	id, ok := strings.CutPrefix(e.Stream, domain.CustomerStreamPrefix)
	if !ok {
		f.position = e.Position
		return nil
	}
	switch e.Type {
	case domain.TypeCustomerRegistered, domain.TypeCreditLimitChanged, domain.TypeInvoiceIssued,
		domain.TypePaymentReceived, domain.TypePaymentReversed, domain.TypeInvoiceDisputed,
		domain.TypePromiseToPayRecorded, domain.TypePaymentPlanAgreed, domain.TypeExternalRatingReceived,
		domain.TypeCreditInsuranceCoverChanged:
	default:
		f.customer(domain.CustomerID(id)).last = e.Position
		f.position = e.Position
		return nil
	}
	ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
	if err != nil {
		return fmt.Errorf("signals: facts at position %d: %w", e.Position, err)
	}
	c := f.customer(domain.CustomerID(id))
	p := e.Position
	switch v := ev.(type) {
	case domain.CustomerRegistered, domain.CreditLimitChanged:
		c.limit = p
	case domain.InvoiceIssued:
		c.invoices[v.InvoiceID] = p
	case domain.PaymentReceived:
		c.payments[v.PaymentID] = p
	case domain.PaymentReversed:
		c.reversals = append(c.reversals, datedFact{id: string(v.PaymentID), on: v.ReversedOn, position: p})
	case domain.InvoiceDisputed:
		c.disputes = append(c.disputes, datedFact{id: string(v.InvoiceID), on: v.DisputedOn, position: p})
	case domain.PromiseToPayRecorded:
		c.promises = append(c.promises, promiseFact{v, p})
	case domain.PaymentPlanAgreed:
		c.plans = append(c.plans, planFact{v, p})
	case domain.ExternalRatingReceived:
		c.rating = p
	case domain.CreditInsuranceCoverChanged:
		c.insurance = p
	}
	c.last = p
	f.position = p
	return nil
}

func (f *Facts) customer(id domain.CustomerID) *customerFacts {
	c := f.customers[id]
	if c == nil {
		c = &customerFacts{invoices: make(map[domain.InvoiceID]uint64), payments: make(map[domain.PaymentID]uint64)}
		f.customers[id] = c
	}
	return c
}

// of returns the facts of a customer; an empty value for a customer never seen.
func (f *Facts) of(id domain.CustomerID) *customerFacts {
	if c := f.customers[id]; c != nil {
		return c
	}
	return &customerFacts{}
}
