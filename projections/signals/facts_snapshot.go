package signals

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/encours/encours/domain"
)

// The facts' snapshot (handlers/alerting's evaluator keeps one beside the ledger's, so that
// a restart folds only the tail of the log): JSON of the mirror types below, customers in id
// order, so the same facts give the same bytes.

type factsSnapshot struct {
	Position  uint64                  `json:"position"`
	Customers []customerFactsSnapshot `json:"customers"`
}

type customerFactsSnapshot struct {
	ID        domain.CustomerID           `json:"id"`
	Last      uint64                      `json:"last"`
	Limit     uint64                      `json:"limit,omitempty"`
	Rating    uint64                      `json:"rating,omitempty"`
	Insurance uint64                      `json:"insurance,omitempty"`
	Invoices  map[domain.InvoiceID]uint64 `json:"invoices,omitempty"`
	Payments  map[domain.PaymentID]uint64 `json:"payments,omitempty"`
	Disputes  []datedFactSnapshot         `json:"disputes,omitempty"`
	Reversals []datedFactSnapshot         `json:"reversals,omitempty"`
	Promises  []promiseFactSnapshot       `json:"promises,omitempty"`
	Plans     []planFactSnapshot          `json:"plans,omitempty"`
}

type datedFactSnapshot struct {
	ID       string      `json:"id"`
	On       domain.Date `json:"on"`
	Position uint64      `json:"position"`
}

type promiseFactSnapshot struct {
	Event    domain.PromiseToPayRecorded `json:"event"`
	Position uint64                      `json:"position"`
}

type planFactSnapshot struct {
	Event    domain.PaymentPlanAgreed `json:"event"`
	Position uint64                   `json:"position"`
}

// MarshalBinary encodes the facts (encoding.BinaryMarshaler).
func (f *Facts) MarshalBinary() ([]byte, error) {
	s := factsSnapshot{Position: f.position, Customers: make([]customerFactsSnapshot, 0, len(f.customers))}
	for id, c := range f.customers {
		cs := customerFactsSnapshot{ID: id, Last: c.last, Limit: c.limit, Rating: c.rating, Insurance: c.insurance,
			Invoices: c.invoices, Payments: c.payments}
		for _, d := range c.disputes {
			cs.Disputes = append(cs.Disputes, datedFactSnapshot{d.id, d.on, d.position})
		}
		for _, d := range c.reversals {
			cs.Reversals = append(cs.Reversals, datedFactSnapshot{d.id, d.on, d.position})
		}
		for _, p := range c.promises {
			cs.Promises = append(cs.Promises, promiseFactSnapshot{p.PromiseToPayRecorded, p.position})
		}
		for _, p := range c.plans {
			cs.Plans = append(cs.Plans, planFactSnapshot{p.PaymentPlanAgreed, p.position})
		}
		s.Customers = append(s.Customers, cs)
	}
	slices.SortFunc(s.Customers, func(a, b customerFactsSnapshot) int { return strings.Compare(string(a.ID), string(b.ID)) })
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("signals: encode facts: %w", err)
	}
	return buf.Bytes(), nil
}

// UnmarshalBinary replaces f by the facts b encodes (MarshalBinary's bytes).
func (f *Facts) UnmarshalBinary(b []byte) error {
	var s factsSnapshot
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return fmt.Errorf("signals: decode facts: %w", err)
	}
	out := NewFacts()
	out.position = s.Position
	for _, cs := range s.Customers {
		if _, dup := out.customers[cs.ID]; dup || cs.ID == "" {
			return fmt.Errorf("signals: decode facts: customer %q twice or empty", cs.ID)
		}
		c := out.customer(cs.ID)
		c.last, c.limit, c.rating, c.insurance = cs.Last, cs.Limit, cs.Rating, cs.Insurance
		if cs.Invoices != nil {
			c.invoices = cs.Invoices
		}
		if cs.Payments != nil {
			c.payments = cs.Payments
		}
		for _, d := range cs.Disputes {
			c.disputes = append(c.disputes, datedFact{d.ID, d.On, d.Position})
		}
		for _, d := range cs.Reversals {
			c.reversals = append(c.reversals, datedFact{d.ID, d.On, d.Position})
		}
		for _, p := range cs.Promises {
			c.promises = append(c.promises, promiseFact{p.Event, p.Position})
		}
		for _, p := range cs.Plans {
			c.plans = append(c.plans, planFact{p.Event, p.Position})
		}
	}
	*f = *out
	return nil
}
