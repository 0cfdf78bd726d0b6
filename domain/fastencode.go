package domain

import "strconv"

// encodeFast is EncodeEvent for InvoiceIssued, the event the write path records most,
// without encoding/json's reflection: json.Marshal's bytes exactly. ok is false for any other
// event, and for an invoice with a string json.Marshal would escape, which it then encodes.
func encodeFast(e Event) (data []byte, ok bool) {
	ev, isInvoice := e.(InvoiceIssued)
	if !isInvoice || !PlainJSON(string(ev.InvoiceID)) || !PlainJSON(ev.Number) ||
		!PlainJSON(string(ev.Amount.Ccy)) || !PlainJSON(ev.Terms) {
		return nil, false
	}
	b := make([]byte, 0, 128+len(ev.InvoiceID)+len(ev.Number)+len(ev.Terms))
	b = append(b, `{"invoice_id":"`...)
	b = append(b, ev.InvoiceID...)
	b = append(b, `","number":"`...)
	b = append(b, ev.Number...)
	b = append(b, `","amount":{"amount":`...)
	b = strconv.AppendInt(b, ev.Amount.Minor, 10)
	b = append(b, `,"currency":"`...)
	b = append(b, ev.Amount.Ccy...)
	b = append(b, `"},"issue_date":`...)
	b = ev.IssueDate.appendJSON(b)
	b = append(b, `,"due_date":`...)
	b = ev.DueDate.appendJSON(b)
	if ev.Terms != "" {
		b = append(b, `,"terms":"`...)
		b = append(b, ev.Terms...)
		b = append(b, '"')
	}
	return append(b, '}'), true
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
