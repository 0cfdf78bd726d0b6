package reports

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"iter"
	"strconv"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/projections/engine"
	"github.com/encours/encours/projections/ledger"
)

// StatementRow is a statement line (its figures from the ledger projection) with the event
// that recorded it: position, event id, actor and causation id, and for a correction the
// event that introduced the document it corrects (CorrectsEventID), so an auditor sees both.
type StatementRow struct {
	ledger.StatementLine
	Position        uint64 `json:"position"`
	EventID         string `json:"event_id"`
	Actor           string `json:"actor"`
	CausationID     string `json:"causation_id"`
	CorrectsEventID string `json:"corrects_event_id,omitempty"`
}

// StatementDoc is the statement export's JSON document.
type StatementDoc struct {
	ledger.Statement
	KnownAt *time.Time     `json:"known_at,omitempty"`
	Lines   []StatementRow `json:"lines"`
}

// docEvent identifies the event that recorded a statement line: its type and the document.
type docEvent struct{ typ, doc string }

// lineEventType is the event type behind each kind of statement line.
var lineEventType = map[string]string{
	ledger.LineInvoice:         domain.TypeInvoiceIssued,
	ledger.LinePayment:         domain.TypePaymentReceived,
	ledger.LineCreditNote:      domain.TypeCreditNoteIssued,
	ledger.LinePaymentReversal: domain.TypePaymentReversed,
	ledger.LineWriteOff:        domain.TypeInvoiceWrittenOff,
}

// correctedEventType is the event type that introduced the document a correction names.
var correctedEventType = map[string]string{
	ledger.LineCreditNote:      domain.TypeInvoiceIssued,
	ledger.LinePaymentReversal: domain.TypePaymentReceived,
	ledger.LineWriteOff:        domain.TypeInvoiceIssued,
}

// statementDocID is the document an event records, for matching it with a statement line.
func statementDocID(ev domain.Event) string {
	switch e := ev.(type) {
	case domain.InvoiceIssued:
		return string(e.InvoiceID)
	case domain.PaymentReceived:
		return string(e.PaymentID)
	case domain.CreditNoteIssued:
		return string(e.CreditNoteID)
	case domain.PaymentReversed:
		return string(e.PaymentID)
	case domain.InvoiceWrittenOff:
		return string(e.InvoiceID)
	}
	return ""
}

// statement replays the log as of asOf, known at knownAt, keeping aside the envelopes of
// the customer's stream the replay counts, and returns the statement with each line's event.
// The figures are the ledger projection's (ledger.CustomerStatement); the log only names the
// events behind them.
func statement(ctx context.Context, store engine.Reader, id domain.CustomerID, from, asOf domain.Date, knownAt *time.Time) (StatementDoc, Basis, error) {
	kt := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)
	if knownAt != nil {
		kt = *knownAt
	}
	stream := domain.CustomerStream(id)
	events := map[docEvent][]domain.Envelope{}
	var readErr error
	var decodeErr error
	seq := iter.Seq[domain.Envelope](func(yield func(domain.Envelope) bool) {
		for e := range engine.Envelopes(ctx, store, 1, &readErr) {
			if e.Stream == stream && !e.RecordedAt.After(kt) && !e.EffectiveOn.After(asOf) {
				if _, ok := lineTypes[e.Type]; ok {
					ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
					if err != nil {
						decodeErr = fmt.Errorf("statement: decode position %d: %w", e.Position, err)
						return
					}
					k := docEvent{e.Type, statementDocID(ev)}
					events[k] = append(events[k], e)
				}
			}
			if !yield(e) {
				return
			}
		}
	})
	m, err := ledger.Replay(seq, asOf, kt)
	for _, e := range []error{readErr, decodeErr, err} {
		if e != nil {
			return StatementDoc{}, Basis{}, fmt.Errorf("replay as of %s: %w", asOf, e)
		}
	}
	basis := Basis{AsOf: asOf, KnownAt: knownAt, Position: m.Position(), ChainHash: m.Hash()}
	st, err := ledger.CustomerStatement(m, id, from, asOf)
	if err != nil {
		return StatementDoc{}, basis, err
	}
	doc := StatementDoc{Statement: st, KnownAt: knownAt, Lines: make([]StatementRow, 0, len(st.Lines))}
	used := map[docEvent]int{}
	for _, l := range st.Lines {
		r := StatementRow{StatementLine: l}
		if typ, ok := lineEventType[l.Kind]; ok {
			// Lines of one document and kind come in log order (several write-offs of an
			// invoice re-opened in between): the n-th line takes the n-th event.
			k := docEvent{typ, l.Document}
			if envs := events[k]; used[k] < len(envs) {
				e := envs[used[k]]
				r.Position, r.EventID, r.Actor, r.CausationID = e.Position, e.EventID, e.Actor, e.CausationID
			}
			used[k]++
		}
		if typ, ok := correctedEventType[l.Kind]; ok && l.Corrects != "" {
			if envs := events[docEvent{typ, l.Corrects}]; len(envs) > 0 {
				r.CorrectsEventID = envs[0].EventID
			}
		}
		doc.Lines = append(doc.Lines, r)
	}
	return doc, basis, nil
}

// lineTypes are the event types statement lines come from.
var lineTypes = func() map[string]struct{} {
	out := map[string]struct{}{}
	for _, t := range lineEventType {
		out[t] = struct{}{}
	}
	return out
}()

// renderStatement writes the statement as JSON, or as CSV: an opening_balance row, one row
// per line, and a closing_balance row carrying the aging columns at as_of.
func renderStatement(doc StatementDoc, format Format) ([]byte, error) {
	if format == FormatJSON {
		return marshalLines(doc)
	}
	dec := doc.Currency.MinorUnits()
	amt := func(v int64) string { return domain.FormatMinor(v, dec) }
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	header := []string{"date", "kind", "document", "number", "due_date", "corrects", "debit", "credit", "balance",
		"position", "event_id", "actor", "causation_id", "corrects_event_id"}
	for _, b := range doc.Aging {
		header = append(header, b.Label)
	}
	header = append(header, "overdue")
	_ = w.Write(header)
	blank := make([]string, len(doc.Aging)+1)
	from := ""
	if doc.From != nil {
		from = doc.From.AddDays(-1).String()
	}
	_ = w.Write(append([]string{from, "opening_balance", string(doc.CustomerID), doc.Name, "", "", "", "", amt(doc.OpeningBalance), "", "", "", "", ""}, blank...))
	for _, r := range doc.Lines {
		due := ""
		if r.DueDate != nil {
			due = r.DueDate.String()
		}
		pos := ""
		if r.Position != 0 {
			pos = strconv.FormatUint(r.Position, 10)
		}
		_ = w.Write(append([]string{r.Date.String(), r.Kind, r.Document, r.Number, due, r.Corrects, amt(r.Debit), amt(r.Credit), amt(r.Balance),
			pos, r.EventID, r.Actor, r.CausationID, r.CorrectsEventID}, blank...))
	}
	closing := []string{doc.AsOf.String(), "closing_balance", string(doc.CustomerID), string(doc.Currency), "", "", "", "", amt(doc.ClosingBalance), "", "", "", "", ""}
	for _, b := range doc.Aging {
		closing = append(closing, amt(b.Amount.Minor))
	}
	_ = w.Write(append(closing, amt(doc.Overdue)))
	w.Flush()
	return buf.Bytes(), w.Error()
}
