package command

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// Goal: every compensating event names the event it corrects in causation_id (design
// §Events: corrections are new events), and other events keep the caller's causation.
// Method: record an invoice, a payment, a dispute; then reverse the payment, credit the
// invoice, resolve the dispute and write the rest off, and read each envelope back.
func TestCorrectionsNameTheCorrectedEvent(t *testing.T) {
	store := newMemStore()
	s := newTestService(t, store)
	ctx := context.Background()
	meta := Meta{Actor: "test", CausationID: "request-cause"}
	mustExecute(t, s, registerCmd("C1", 1_000_000), meta)
	inv := mustExecute(t, s, invoiceCmd("C1", "I1", 50_000), meta)
	inv2 := mustExecute(t, s, invoiceCmd("C1", "I2", 10_000), meta)
	pay := mustExecute(t, s, domain.RecordPayment{CustomerID: "C1", PaymentID: "P1", Amount: eur(20_000),
		ReceivedOn: domain.MustDate("2026-02-01"), Allocations: []domain.Allocation{{InvoiceID: "I1", Amount: eur(20_000)}}}, meta)
	disp1 := mustExecute(t, s, domain.DisputeInvoice{InvoiceID: "I2", On: domain.MustDate("2026-02-02"), Reason: "late"}, meta)
	mustExecute(t, s, domain.ResolveDispute{InvoiceID: "I2", On: domain.MustDate("2026-02-03"), Outcome: "rejected"}, meta)
	disp2 := mustExecute(t, s, domain.DisputeInvoice{InvoiceID: "I2", On: domain.MustDate("2026-02-04"), Reason: "again"}, meta)

	cases := []struct {
		name string
		cmd  domain.Command
		want string // the corrected event's id
	}{
		{"a reversal names the payment", domain.ReversePayment{PaymentID: "P1", On: domain.MustDate("2026-02-10"), Reason: "bounced"}, pay.EventIDs[0]},
		{"a credit note against an invoice names the invoice", domain.IssueCreditNote{CustomerID: "C1", CreditNoteID: "CN1", InvoiceID: "I1",
			Amount: eur(5_000), IssueDate: domain.MustDate("2026-02-11")}, inv.EventIDs[0]},
		{"a resolution names the dispute opened last", domain.ResolveDispute{InvoiceID: "I2", On: domain.MustDate("2026-02-12"), Outcome: "upheld"}, disp2.EventIDs[0]},
		{"a write-off names the invoice", domain.WriteOffInvoice{InvoiceID: "I1", On: domain.MustDate("2026-02-13"), Reason: "insolvent"}, inv.EventIDs[0]},
		{"a standing credit note corrects nothing", domain.IssueCreditNote{CustomerID: "C1", CreditNoteID: "CN2",
			Amount: eur(1_000), IssueDate: domain.MustDate("2026-02-14")}, "request-cause"},
		{"an invoice corrects nothing", invoiceCmd("C1", "I3", 1_000), "request-cause"},
	}
	require.NotEqual(t, disp1.EventIDs[0], disp2.EventIDs[0])
	require.NotEqual(t, inv.EventIDs[0], inv2.EventIDs[0])
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := mustExecute(t, s, tc.cmd, meta)
			require.Len(t, res.EventIDs, 1)
			envs, err := store.ReadStream(ctx, res.Stream, res.StreamVersion, 1)
			require.NoError(t, err)
			require.Len(t, envs, 1)
			assert.Equal(t, res.EventIDs[0], envs[0].EventID)
			assert.Equal(t, tc.want, envs[0].CausationID, "%s: causation_id", envs[0].Type)
		})
	}
}

// Goal: a bulk append (AppendDecided, the importer's path) links corrections too: to an
// event already in the stream, and to one earlier in the same batch, which the stream read
// cannot see. Method: an invoice I1 is in the stream; one batch issues I2 and writes it off,
// and writes I1 off.
func TestAppendDecidedLinksCorrections(t *testing.T) {
	store := newMemStore()
	s := newTestService(t, store)
	ctx := context.Background()
	meta := Meta{Actor: "import", CausationID: "file-cause"}
	mustExecute(t, s, registerCmd("C1", 1_000_000), meta)
	inv := mustExecute(t, s, invoiceCmd("C1", "I1", 50_000), meta)
	on := domain.MustDate("2026-03-01")
	events := []domain.Event{
		domain.InvoiceIssued{InvoiceID: "I2", Number: "I2", Amount: eur(10_000), IssueDate: on, DueDate: on.AddDays(30)},
		domain.InvoiceWrittenOff{InvoiceID: "I2", Amount: eur(10_000), WrittenOffOn: on, Reason: "insolvent"},
		domain.InvoiceWrittenOff{InvoiceID: "I1", Amount: eur(50_000), WrittenOffOn: on, Reason: "insolvent"},
	}
	res, err := s.AppendDecided(ctx, "C1", inv.StreamVersion, events, meta)
	require.NoError(t, err)
	envs, err := store.ReadStream(ctx, res.Stream, inv.StreamVersion+1, 3)
	require.NoError(t, err)
	require.Len(t, envs, 3)
	assert.Equal(t, "file-cause", envs[0].CausationID, "an invoice corrects nothing")
	assert.Equal(t, envs[0].EventID, envs[1].CausationID, "the write-off names I2, issued earlier in the batch")
	assert.Equal(t, inv.EventIDs[0], envs[2].CausationID, "the write-off names I1, in the stream")
}
