package command

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// readCountingStore counts the calls to ReadAll and the events it hands out.
type readCountingStore struct {
	*memStore
	read, calls int
}

func (s *readCountingStore) ReadAll(ctx context.Context, from uint64, limit int) ([]domain.Envelope, error) {
	page, err := s.memStore.ReadAll(ctx, from, limit)
	s.read += len(page)
	s.calls++
	return page, err
}

// lastPositionStore knows its head in memory, as the embedded store does.
type lastPositionStore struct{ *readCountingStore }

func (s lastPositionStore) LastPosition() uint64 { return s.head() }

// A lookup that misses reads the log only when the store's head is past what the directory
// indexed (a store that says so cheaply), and then still finds what another writer appended.
func TestDirectoryMissReadsOnlyWhatIsNew(t *testing.T) {
	ctx := context.Background()
	store := lastPositionStore{&readCountingStore{memStore: newMemStore()}}
	s := newTestService(t, store)
	mustExecute(t, s, registerCmd("C1", 0), Meta{})
	mustExecute(t, s, registerCmd("C2", 0), Meta{})
	store.calls = 0
	for _, id := range []domain.InvoiceID{"I1", "I2", "I3"} {
		_, ok, err := s.InvoiceCustomer(ctx, id)
		require.NoError(t, err)
		assert.False(t, ok)
	}
	assert.Zero(t, store.calls, "log reads for misses with nothing new")

	other := newTestService(t, store.memStore)
	mustExecute(t, other, invoiceCmd("C2", "I7", 100), Meta{})
	c, ok, err := s.InvoiceCustomer(ctx, "I7")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, domain.CustomerID("C2"), c)
	assert.Equal(t, 1, store.calls, "log reads once another writer appended")
}

// The directory indexes the service's own appends as they land, and reads back from the
// store only what others appended; an id another writer took meanwhile is still seen.
func TestDirectoryIndexesOwnAppends(t *testing.T) {
	ctx := context.Background()
	store := &readCountingStore{memStore: newMemStore()}
	s := newTestService(t, store)
	mustExecute(t, s, registerCmd("C1", 0), Meta{})
	mustExecute(t, s, registerCmd("C2", 0), Meta{})
	store.read = 0
	for _, id := range []domain.InvoiceID{"I1", "I2", "I3"} {
		mustExecute(t, s, invoiceCmd("C1", string(id), 100), Meta{})
	}
	assert.Zero(t, store.read, "events read back from the store")
	assert.Equal(t, store.head(), s.dir.position)
	c, ok, err := s.InvoiceCustomer(ctx, "I2")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, domain.CustomerID("C1"), c)

	// Another writer appends C2's invoice I7 just before this service's next append: that
	// append does not follow what the directory indexed, so it is left to the catch-up.
	other := newTestService(t, store.memStore)
	store.memStore.beforeAppend = func() {
		store.memStore.beforeAppend = nil
		mustExecute(t, other, invoiceCmd("C2", "I7", 100), Meta{})
	}
	mustExecute(t, s, invoiceCmd("C1", "I4", 100), Meta{})
	assert.Less(t, s.dir.position, store.head())
	_, err = s.Execute(ctx, invoiceCmd("C1", "I7", 100), Meta{})
	assert.Equal(t, domain.CodeDuplicateInvoice, codeOf(err))
	assert.Equal(t, store.head(), s.dir.position)
	assert.Equal(t, 2, store.read, "I7's and I4's events read back")
}

// The directory reads the id of an event in every form its data may take: EncodeEvent's
// (domain's fast decoder), other valid JSON (encoding/json), JSON with a field this build
// does not know (the lenient idFields), a credit note; data that does not decode is an error.
func TestDirectoryIndexesEveryForm(t *testing.T) {
	inv, err := domain.EncodeEvent(domain.InvoiceIssued{InvoiceID: "I1", Number: "I1", Amount: domain.Money{Minor: 100, Ccy: "EUR"},
		IssueDate: domain.MustDate("2026-01-05"), DueDate: domain.MustDate("2026-02-04")})
	require.NoError(t, err)
	pay, err := domain.EncodeEvent(domain.PaymentReceived{PaymentID: "P1", Amount: domain.Money{Minor: 100, Ccy: "EUR"},
		ReceivedOn: domain.MustDate("2026-01-20"), Allocations: []domain.Allocation{{InvoiceID: "I1", Amount: domain.Money{Minor: 100, Ccy: "EUR"}}},
		Unallocated: domain.Money{Ccy: "EUR"}})
	require.NoError(t, err)
	cases := []struct {
		typ, data string
		k         idKind
		id        string
	}{
		{domain.TypeInvoiceIssued, string(inv), idInvoice, "I1"},
		{domain.TypeInvoiceIssued, `{ "invoice_id": "I2", "number": "I2", "amount": {"amount": 5, "currency": "EUR"}, "issue_date": "2026-01-05", "due_date": "2026-02-04" }`, idInvoice, "I2"},
		{domain.TypePaymentReceived, string(pay), idPayment, "P1"},
		{domain.TypePaymentReceived, `{"payment_id":"P2","amount":{"amount":5,"currency":"EUR"},"received_on":"2026-01-20","allocations":[],"unallocated":{"amount":5,"currency":"EUR"},"channel":"sepa"}`, idPayment, "P2"},
		{domain.TypeCreditNoteIssued, `{"credit_note_id":"N1","amount":{"amount":5,"currency":"EUR"},"issued_on":"2026-01-21"}`, idCreditNote, "N1"},
	}
	d := newDirectory(nil)
	for i, c := range cases {
		e := domain.Envelope{Position: uint64(i + 1), Stream: domain.CustomerStream("C1"), Type: c.typ,
			SchemaVersion: domain.CurrentSchemaVersion, Data: []byte(c.data)}
		require.NoError(t, d.indexLocked(&e), c.data)
		got, ok := d.committed(c.k, c.id)
		assert.True(t, ok, c.data)
		assert.Equal(t, domain.CustomerID("C1"), got, c.data)
	}
	bad := domain.Envelope{Position: 9, Stream: domain.CustomerStream("C1"), Type: domain.TypeInvoiceIssued,
		SchemaVersion: domain.CurrentSchemaVersion, Data: []byte(`{"invoice_id":`)}
	assert.Error(t, d.indexLocked(&bad))
}
