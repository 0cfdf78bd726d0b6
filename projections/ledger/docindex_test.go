package ledger

import (
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// Goal: documents are found whether their customer's list is scanned (up to docScanMax) or
// indexed (beyond), across the crossing and after a snapshot round trip, and a duplicate id
// is refused on both sides of it. Customer A crosses docScanMax with invoices, payments and
// credit notes; customer B stays below and reuses A's ids (ids are unique per customer only).
func TestDocumentLookupAcrossScanLimit(t *testing.T) {
	l := newLog()
	m := New()
	apply := func(cust domain.CustomerID, ev domain.Event) error {
		return m.Apply(l.add(t, cust, ev, time.Time{}))
	}
	for _, c := range []domain.CustomerID{"A", "B"} {
		require.NoError(t, apply(c, domain.CustomerRegistered{CustomerID: c, Name: string(c), Country: "FR", Currency: "EUR",
			Terms: domain.Net(30), CreditLimit: eur(1_000_000_00), RegisteredOn: d("2024-01-01")}))
	}
	docs := map[domain.CustomerID]int{"A": docScanMax + 8, "B": docScanMax / 2}
	for c, n := range docs {
		for i := range n {
			inv := domain.InvoiceID(fmt.Sprintf("I%d", i))
			require.NoError(t, apply(c, domain.InvoiceIssued{InvoiceID: inv, Number: string(inv), Amount: eur(100_00),
				IssueDate: d("2024-01-02"), DueDate: d("2024-02-01")}))
			require.NoError(t, apply(c, domain.PaymentReceived{PaymentID: domain.PaymentID(fmt.Sprintf("P%d", i)), Amount: eur(10_00),
				ReceivedOn: d("2024-01-10"), Allocations: []domain.Allocation{{InvoiceID: inv, Amount: eur(10_00)}}, Unallocated: eur(0)}))
			require.NoError(t, apply(c, domain.CreditNoteIssued{CreditNoteID: domain.CreditNoteID(fmt.Sprintf("N%d", i)), Amount: eur(5_00),
				AppliedToInvoice: eur(5_00), InvoiceID: inv, IssueDate: d("2024-01-11")}))
		}
	}
	check := func(t *testing.T, m *Model) {
		t.Helper()
		for c, n := range docs {
			ci := m.customerIndex[c]
			for i := range n {
				ii, ok := m.invoiceOf(ci, domain.InvoiceID(fmt.Sprintf("I%d", i)))
				require.True(t, ok, "%s invoice %d", c, i)
				assert.Equal(t, fmt.Sprintf("I%d", i), string(m.invoices.at(ii).id))
				assert.Equal(t, ci, m.invoices.at(ii).cust)
				pi, ok := m.paymentOf(ci, domain.PaymentID(fmt.Sprintf("P%d", i)))
				require.True(t, ok, "%s payment %d", c, i)
				assert.Equal(t, ci, m.payments.at(pi).cust)
				ni, ok := m.creditNoteOf(ci, domain.CreditNoteID(fmt.Sprintf("N%d", i)))
				require.True(t, ok, "%s credit note %d", c, i)
				assert.Equal(t, ci, m.creditNotes.at(ni).cust)
			}
			_, ok := m.invoiceOf(ci, "I-none")
			assert.False(t, ok)
			_, ok = m.paymentOf(ci, "P-none")
			assert.False(t, ok)
		}
		assert.Len(t, m.invoiceIndex, docs["A"], "only the large customer's invoices are indexed")
		assert.Len(t, m.paymentIndex, docs["A"])
		assert.Len(t, m.creditNoteIndex, docs["A"])
		require.NoError(t, m.check())
		require.NoError(t, m.checkDocTags())
	}
	t.Run("applied", func(t *testing.T) { check(t, m) })
	t.Run("snapshot", func(t *testing.T) {
		b, err := m.MarshalBinary()
		require.NoError(t, err)
		var back Model
		require.NoError(t, back.UnmarshalBinary(b))
		check(t, &back)
	})
	// A refused event leaves the model as it was: the log forgets it too.
	refuse := func(cust domain.CustomerID, ev domain.Event) error {
		envs, prev, clock, versions := l.envs, l.prev, l.clock, maps.Clone(l.versions)
		err := apply(cust, ev)
		l.envs, l.prev, l.clock, l.versions = envs, prev, clock, versions
		return err
	}
	for _, c := range []domain.CustomerID{"A", "B"} {
		err := refuse(c, domain.InvoiceIssued{InvoiceID: "I3", Number: "I3", Amount: eur(1), IssueDate: d("2024-01-02"), DueDate: d("2024-02-01")})
		require.ErrorIs(t, err, ErrInconsistent, "%s: invoice issued twice", c)
		err = refuse(c, domain.PaymentReceived{PaymentID: "P3", Amount: eur(1), ReceivedOn: d("2024-01-10"), Unallocated: eur(1)})
		require.ErrorIs(t, err, ErrInconsistent, "%s: payment received twice", c)
	}
}

// Goal: ids whose tags collide (same last 8 bytes; a short id against a longer one) are told
// apart by their bytes: each is found as itself, and a true duplicate is still refused.
func TestDocumentTagsCollide(t *testing.T) {
	l := newLog()
	m := New()
	apply := func(ev domain.Event) error { return m.Apply(l.add(t, "C", ev, time.Time{})) }
	require.NoError(t, apply(domain.CustomerRegistered{CustomerID: "C", Name: "C", Country: "FR", Currency: "EUR",
		Terms: domain.Net(30), CreditLimit: eur(1_000_000_00), RegisteredOn: d("2024-01-01")}))
	ids := []domain.InvoiceID{"X-12345678", "Y-12345678", "12345678", "1234567", "\x07"}
	require.Equal(t, docTag(string(ids[0])), docTag(string(ids[1])), "the test needs colliding tags")
	require.Equal(t, docTag(string(ids[0])), docTag(string(ids[2])))
	for k, id := range ids {
		require.NoError(t, apply(domain.InvoiceIssued{InvoiceID: id, Number: string(id), Amount: eur(int64(k+1) * 100),
			IssueDate: d("2024-01-02"), DueDate: d("2024-02-01")}), "invoice %q", id)
	}
	ci := m.customerIndex["C"]
	for k, id := range ids {
		ii, ok := m.invoiceOf(ci, id)
		require.True(t, ok, "invoice %q", id)
		assert.Equal(t, int64(k+1)*100, m.invoices.at(ii).amount, "invoice %q", id)
	}
	_, ok := m.invoiceOf(ci, "Z-12345678")
	assert.False(t, ok)
	err := apply(domain.InvoiceIssued{InvoiceID: ids[1], Number: string(ids[1]), Amount: eur(100),
		IssueDate: d("2024-01-02"), DueDate: d("2024-02-01")})
	require.ErrorIs(t, err, ErrInconsistent)
	require.NoError(t, m.checkDocTags())
}
