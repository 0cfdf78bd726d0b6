package command

import (
	"context"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// corrected names the earlier event a compensating event corrects (design §Events: "a
// correction is always a new, compensating event"): the payment a reversal undoes, the
// invoice a credit note reduces or a write-off takes off the books, the dispute a resolution
// ends. ok is false for an event that corrects nothing.
func corrected(e domain.Event) (typ, id string, ok bool) {
	switch e := e.(type) {
	case domain.PaymentReversed:
		return domain.TypePaymentReceived, string(e.PaymentID), true
	case domain.CreditNoteIssued:
		if e.InvoiceID == "" {
			return "", "", false // standing credit corrects no invoice
		}
		return domain.TypeInvoiceIssued, string(e.InvoiceID), true
	case domain.InvoiceWrittenOff:
		return domain.TypeInvoiceIssued, string(e.InvoiceID), true
	case domain.DisputeResolved:
		return domain.TypeInvoiceDisputed, string(e.InvoiceID), true
	}
	return "", "", false
}

// documentID is the invoice or payment id an event introduces or concerns, for matching a
// correction with the event it corrects.
func documentID(e domain.Event) string {
	switch e := e.(type) {
	case domain.PaymentReceived:
		return string(e.PaymentID)
	case domain.InvoiceIssued:
		return string(e.InvoiceID)
	case domain.InvoiceDisputed:
		return string(e.InvoiceID)
	}
	return ""
}

// causations returns, for each event, the causation_id its envelope carries: the id of the
// event it corrects for a compensating event, meta's CausationID for the others. The
// corrected events are found by reading the customer's stream once, only when the command
// decided a correction (corrections are rare; the stream read is bounded like a fold). The
// latest matching event wins: a dispute resolution ends the dispute opened last.
func (s *Service) causations(ctx context.Context, stream string, events []Prepared, meta Meta) ([]string, error) {
	out := make([]string, len(events))
	type target struct{ typ, id string }
	var want map[target]string
	for i := range events {
		out[i] = meta.CausationID
		if e := &events[i]; e.CorrectsType != "" {
			if want == nil {
				want = map[target]string{}
			}
			want[target{e.CorrectsType, e.CorrectsID}] = ""
		}
	}
	if len(want) == 0 {
		return out, nil
	}
	err := s.readStream(ctx, stream, 1, func(env *domain.Envelope, ev domain.Event) bool {
		k := target{env.Type, documentID(ev)}
		if _, ok := want[k]; ok {
			want[k] = env.EventID
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	for i := range events {
		// Decide accepted the correction, so the corrected event is normally in the stream;
		// a history imported without it keeps the command's own causation.
		if e := &events[i]; e.CorrectsType != "" && want[target{e.CorrectsType, e.CorrectsID}] != "" {
			out[i] = want[target{e.CorrectsType, e.CorrectsID}]
		}
	}
	return out, nil
}

// linkWithinRequest sets the causation_id of a compensating event whose corrected event is
// earlier in the same append (a bulk import's batch may hold an invoice and its write-off):
// the stream read by causations could not see it. The latest earlier match wins, as there.
func linkWithinRequest(req *eventstore.AppendRequest, events []Prepared) {
	for i := range events {
		e := &events[i]
		if e.CorrectsType == "" {
			continue
		}
		for j := i - 1; j >= 0; j-- {
			if events[j].Type == e.CorrectsType && events[j].Document == e.CorrectsID {
				req.Events[i].CausationID = req.Events[j].EventID
				break
			}
		}
	}
}
