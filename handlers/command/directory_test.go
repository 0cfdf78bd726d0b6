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
