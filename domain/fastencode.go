package domain

import (
	"encoding/json"
	"strconv"
)

// appendFast appends EncodeEvent's bytes for the events the write path and the bulk import
// record most (CustomerRegistered, InvoiceIssued, PaymentReceived, InvoiceDisputed,
// DisputeResolved) without encoding/json's reflection: json.Marshal's bytes exactly. ok is
// false, and b returned as given, for any other event and for an event with a string
// json.Marshal would escape or terms it would refuse: EncodeEvent then uses json.Marshal.
func appendFast(b []byte, e Event) (out []byte, ok bool) {
	start := len(b)
	switch ev := e.(type) {
	case InvoiceIssued:
		b, ok = appendInvoiceIssued(b, &ev)
	case PaymentReceived:
		b, ok = appendPaymentReceived(b, &ev)
	case CustomerRegistered:
		b, ok = appendCustomerRegistered(b, &ev)
	case InvoiceDisputed:
		if ok = PlainJSON(string(ev.InvoiceID)) && PlainJSON(ev.Reason); ok {
			b = appendJSONField(b, `{"invoice_id":`, string(ev.InvoiceID))
			b = ev.DisputedOn.appendJSON(append(b, `,"disputed_on":`...))
			if ev.Reason != "" {
				b = appendJSONField(b, `,"reason":`, ev.Reason)
			}
			b = append(b, '}')
		}
	case DisputeResolved:
		if ok = PlainJSON(string(ev.InvoiceID)) && PlainJSON(ev.Outcome) && PlainJSON(ev.Note); ok {
			b = appendJSONField(b, `{"invoice_id":`, string(ev.InvoiceID))
			b = ev.ResolvedOn.appendJSON(append(b, `,"resolved_on":`...))
			if ev.Outcome != "" {
				b = appendJSONField(b, `,"outcome":`, ev.Outcome)
			}
			if ev.Note != "" {
				b = appendJSONField(b, `,"note":`, ev.Note)
			}
			b = append(b, '}')
		}
	}
	if !ok {
		return b[:start], false
	}
	return b, true
}

// encodeFast is appendFast into a new slice of the encoding's size.
func encodeFast(e Event) (data []byte, ok bool) {
	var buf [384]byte // most events fit: encoded on the stack, then copied once
	out, ok := appendFast(buf[:0], e)
	if !ok {
		return nil, false
	}
	return append(make([]byte, 0, len(out)), out...), true
}

// AppendEvent appends EncodeEvent's bytes of e to b: the bulk import encodes a batch's
// events into one buffer instead of one allocation per event.
func AppendEvent(b []byte, e Event) ([]byte, error) {
	if out, ok := appendFast(b, e); ok {
		return out, nil
	}
	data, err := json.Marshal(e)
	if err != nil {
		return b, err
	}
	return append(b, data...), nil
}

func appendInvoiceIssued(b []byte, ev *InvoiceIssued) ([]byte, bool) {
	if !PlainJSON(string(ev.InvoiceID)) || !PlainJSON(ev.Number) || !PlainJSON(string(ev.Amount.Ccy)) || !PlainJSON(ev.Terms) {
		return b, false
	}
	b = appendJSONField(b, `{"invoice_id":`, string(ev.InvoiceID))
	b = appendJSONField(b, `,"number":`, ev.Number)
	b = appendMoney(append(b, `,"amount":`...), ev.Amount)
	b = ev.IssueDate.appendJSON(append(b, `,"issue_date":`...))
	b = ev.DueDate.appendJSON(append(b, `,"due_date":`...))
	if ev.Terms != "" {
		b = appendJSONField(b, `,"terms":`, ev.Terms)
	}
	return append(b, '}'), true
}

func appendPaymentReceived(b []byte, ev *PaymentReceived) ([]byte, bool) {
	if !PlainJSON(string(ev.PaymentID)) || !PlainJSON(string(ev.Amount.Ccy)) || !PlainJSON(string(ev.Unallocated.Ccy)) || !PlainJSON(ev.Reference) {
		return b, false
	}
	for _, a := range ev.Allocations {
		if !PlainJSON(string(a.InvoiceID)) || !PlainJSON(string(a.Amount.Ccy)) {
			return b, false
		}
	}
	b = appendJSONField(b, `{"payment_id":`, string(ev.PaymentID))
	b = appendMoney(append(b, `,"amount":`...), ev.Amount)
	b = ev.ReceivedOn.appendJSON(append(b, `,"received_on":`...))
	b = append(b, `,"allocations":`...)
	if ev.Allocations == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, a := range ev.Allocations {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONField(b, `{"invoice_id":`, string(a.InvoiceID))
			b = append(appendMoney(append(b, `,"amount":`...), a.Amount), '}')
		}
		b = append(b, ']')
	}
	b = appendMoney(append(b, `,"unallocated":`...), ev.Unallocated)
	if ev.Reference != "" {
		b = appendJSONField(b, `,"reference":`, ev.Reference)
	}
	return append(b, '}'), true
}

func appendCustomerRegistered(b []byte, ev *CustomerRegistered) ([]byte, bool) {
	if !PlainJSON(string(ev.CustomerID)) || !PlainJSON(ev.Name) || !PlainJSON(ev.Country) || !PlainJSON(ev.Sector) ||
		!PlainJSON(ev.Segment) || !PlainJSON(string(ev.Currency)) || !PlainJSON(string(ev.CreditLimit.Ccy)) {
		return b, false
	}
	if ev.Terms != (Terms{}) && ev.Terms.Validate() != nil {
		return b, false // json.Marshal refuses them: EncodeEvent reports its error
	}
	b = appendJSONField(b, `{"customer_id":`, string(ev.CustomerID))
	b = appendJSONField(b, `,"name":`, ev.Name)
	b = appendJSONField(b, `,"country":`, ev.Country)
	if ev.Sector != "" {
		b = appendJSONField(b, `,"sector":`, ev.Sector)
	}
	if ev.Segment != "" {
		b = appendJSONField(b, `,"segment":`, ev.Segment)
	}
	b = appendJSONField(b, `,"currency":`, string(ev.Currency))
	b = ev.Terms.appendJSON(append(b, `,"terms":`...))
	b = appendMoney(append(b, `,"credit_limit":`...), ev.CreditLimit)
	b = ev.RegisteredOn.appendJSON(append(b, `,"registered_on":`...))
	return append(b, '}'), true
}

// appendJSONField appends key (with its punctuation) and s quoted; s is PlainJSON.
func appendJSONField(b []byte, key, s string) []byte {
	b = append(b, key...)
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendMoney appends m as json.Marshal writes it; its currency is PlainJSON.
func appendMoney(b []byte, m Money) []byte {
	b = strconv.AppendInt(append(b, `{"amount":`...), m.Minor, 10)
	return append(appendJSONField(b, `,"currency":`, string(m.Ccy)), '}')
}

// appendJSON appends what MarshalJSON returns for valid or zero terms.
func (t Terms) appendJSON(b []byte) []byte {
	switch t.Kind {
	case TermsNet:
		return append(strconv.AppendInt(append(b, `"net`...), int64(t.Days), 10), '"')
	case TermsEndOfMonth:
		return append(b, `"eom"`...)
	case TermsEndOfMonthNet:
		return append(strconv.AppendInt(append(b, `"eom+`...), int64(t.Days), 10), '"')
	}
	return append(b, "null"...)
}

// PlainJSON reports whether json.Marshal writes s as its bytes between quotes: printable
// ASCII with nothing it escapes (quote, backslash, and <, >, & for HTML safety).
func PlainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c > 0x7e, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}
