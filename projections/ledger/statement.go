package ledger

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/encours/encours/domain"
)

// Statement line kinds, in the order lines of one day are listed.
const (
	LineInvoice         = "invoice"
	LineCreditNote      = "credit_note"
	LinePayment         = "payment"
	LinePaymentReversal = "payment_reversal"
	LineWriteOff        = "write_off"
	// LineReplayAdjustment appears only when a replay could not follow some references as
	// recorded (ReplayAdjustments): it carries the difference, so the lines still add up to
	// the closing balance the ledger shows.
	LineReplayAdjustment = "replay_adjustment"
)

var lineRank = map[string]int{LineInvoice: 0, LineCreditNote: 1, LinePayment: 2, LinePaymentReversal: 3, LineWriteOff: 4, LineReplayAdjustment: 5}

// StatementLine is one movement of a customer's account. Debit raises what the customer
// owes (an invoice, a reversed payment), Credit lowers it (a payment, a credit note, a
// write-off); Balance is the running balance after the line. Amounts are minor units of the
// statement's currency.
type StatementLine struct {
	Date     domain.Date  `json:"date"`
	Kind     string       `json:"kind"`
	Document string       `json:"document"`           // invoice, payment or credit-note id
	Number   string       `json:"number,omitempty"`   // the invoice number
	DueDate  *domain.Date `json:"due_date,omitempty"` // invoices
	// Corrects names the document a compensating line corrects: the invoice of a credit note
	// or write-off, the payment of a reversal (design §Events: corrections are new events).
	Corrects string `json:"corrects,omitempty"`
	Debit    int64  `json:"debit"`
	Credit   int64  `json:"credit"`
	Balance  int64  `json:"balance"`
	seq      int32  // order of the document in the model (the log's order), for ties
}

// Statement is a customer's statement of account from From to AsOf: the opening balance at
// the end of the day before From, each movement, and the closing balance at AsOf, which is
// the customer's exposure (design §Metrics: open invoices − unallocated cash − open credit
// notes), with the aging of its open invoices at AsOf.
type Statement struct {
	CustomerID     domain.CustomerID `json:"customer_id"`
	Name           string            `json:"name"`
	Currency       domain.Currency   `json:"currency"`
	From           *domain.Date      `json:"from"` // nil: since the first movement
	AsOf           domain.Date       `json:"as_of"`
	OpeningBalance int64             `json:"opening_balance"`
	Lines          []StatementLine   `json:"lines"`
	ClosingBalance int64             `json:"closing_balance"`
	Aging          []AgingBucket     `json:"aging"`
	Overdue        int64             `json:"overdue"`
}

// CustomerStatement returns customer id's statement of account as of asOf, from from (zero:
// since the first movement). The model should hold what was known at asOf (Replay): every
// movement it holds is then dated on or before asOf. Each line is a document of the model:
// an invoice at its issue date, a payment at its receipt, a credit note at its issue, a
// reversal at its date for the payment's whole amount (what bounced is owed again, and
// what stood on account leaves), a write-off at its date.
func CustomerStatement(m *Model, id domain.CustomerID, from, asOf domain.Date) (Statement, error) {
	ci, ok := m.customerIndex[id]
	if !ok {
		return Statement{}, fmt.Errorf("ledger: customer %q: %w", id, ErrUnknownCustomer)
	}
	if !from.IsZero() && from.After(asOf) {
		return Statement{}, domain.FieldErrorf(domain.KindInvalid, "invalid_query", "from", "from %s is after as_of %s", from, asOf)
	}
	c := m.customers.at(ci)
	st := Statement{CustomerID: c.id, Name: c.name, Currency: c.currency, AsOf: asOf, Lines: []StatementLine{}}
	if !from.IsZero() {
		f := from
		st.From = &f
	}
	var all []StatementLine
	for _, ii := range c.invoices {
		v := m.invoices.at(ii)
		due := v.due
		all = append(all, StatementLine{Date: v.issue, Kind: LineInvoice, Document: string(v.id), Number: v.number, DueDate: &due, Debit: v.amount, seq: ii})
		for _, en := range v.entries {
			if en.kind == entryWriteOff {
				all = append(all, StatementLine{Date: en.on, Kind: LineWriteOff, Document: string(v.id), Corrects: string(v.id), Credit: en.amount, seq: ii})
			}
		}
	}
	for _, pi := range c.payments {
		p := m.payments.at(pi)
		all = append(all, StatementLine{Date: p.received, Kind: LinePayment, Document: string(p.id), Credit: p.amount, seq: pi})
		if p.reversed() {
			all = append(all, StatementLine{Date: p.reversedOn, Kind: LinePaymentReversal, Document: string(p.id), Corrects: string(p.id), Debit: p.amount, seq: pi})
		}
	}
	for _, ni := range c.creditNotes {
		n := m.creditNotes.at(ni)
		l := StatementLine{Date: n.issue, Kind: LineCreditNote, Document: string(n.id), Credit: n.amount, seq: ni}
		if n.invoice >= 0 {
			l.Corrects = string(m.invoices.at(n.invoice).id)
		}
		all = append(all, l)
	}
	slices.SortStableFunc(all, func(a, b StatementLine) int {
		if c := cmp.Compare(a.Date.Days(), b.Date.Days()); c != 0 {
			return c
		}
		if c := cmp.Compare(lineRank[a.Kind], lineRank[b.Kind]); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	var balance int64
	for _, l := range all {
		if !from.IsZero() && l.Date.Before(from) {
			st.OpeningBalance += l.Debit - l.Credit
			balance = st.OpeningBalance
			continue
		}
		balance += l.Debit - l.Credit
		l.Balance = balance
		st.Lines = append(st.Lines, l)
	}
	// The closing balance is the ledger's own exposure figure; the lines must reach it.
	st.ClosingBalance = c.exposure()
	if d := st.ClosingBalance - balance; d != 0 {
		// Only a replay's lenient references can make them differ (ReplayAdjustments);
		// the live model keeps exposure equal to the documents' sum.
		invariant(m.lenient(), "statement of %s: lines end at %d, exposure %d", id, balance, st.ClosingBalance)
		l := StatementLine{Date: asOf, Kind: LineReplayAdjustment, Balance: st.ClosingBalance}
		if d > 0 {
			l.Debit = d
		} else {
			l.Credit = -d
		}
		st.Lines = append(st.Lines, l)
	}
	fig, err := ComputeFigures(m, CustomerScope(id), asOf, Config{})
	if err != nil {
		return Statement{}, err
	}
	st.Aging, st.Overdue = fig.Aging, fig.Overdue.Minor
	return st, nil
}
