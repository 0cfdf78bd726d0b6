package command

import (
	"context"
	"crypto/sha256"
	"errors"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

var testNow = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func newTestService(t *testing.T, store eventStore) *Service {
	t.Helper()
	return New(store, NewManualClock(testNow), Options{})
}

func eur(minor int64) domain.Money { return domain.Money{Minor: minor, Ccy: "EUR"} }

func registerCmd(id string, limit int64) domain.RegisterCustomer {
	return domain.RegisterCustomer{
		CustomerID: domain.CustomerID(id), Name: "Customer " + id, Country: "FR", Currency: "EUR",
		Terms: domain.Net(30), CreditLimit: eur(limit), On: domain.MustDate("2026-01-02"),
	}
}

func invoiceCmd(customer, invoice string, minor int64) domain.IssueInvoice {
	return domain.IssueInvoice{
		CustomerID: domain.CustomerID(customer), InvoiceID: domain.InvoiceID(invoice), Number: "N-" + invoice,
		Amount: eur(minor), IssueDate: domain.MustDate("2026-01-05"), DueDate: domain.MustDate("2026-02-04"),
	}
}

func mustExecute(t *testing.T, s *Service, cmd domain.Command, meta Meta) Result {
	t.Helper()
	res, err := s.Execute(context.Background(), cmd, meta)
	require.NoError(t, err, "execute %T", cmd)
	return res
}

func codeOf(err error) string { return domain.ErrorCode(err) }

func hashOf(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

// A retry with the same key and request hash gets the first result from the store without
// deciding again: the command would now be refused as a duplicate, and the store sees no
// second append. Another request under the same key is refused.
func TestExecuteIdempotentReplay(t *testing.T) {
	store := newMemStore()
	s := newTestService(t, store)
	mustExecute(t, s, registerCmd("C1", 10_000), Meta{Actor: "test"})

	meta := Meta{Actor: "test", IdempotencyKey: "k-1", RequestHash: hashOf("invoice I1")}
	first := mustExecute(t, s, invoiceCmd("C1", "I1", 50_000), meta)
	require.Len(t, first.Events, 1)
	assert.False(t, first.Replayed)
	assert.Equal(t, []Warning{{Code: WarnCreditLimitExceeded, Message: "exposure 500.00 EUR is above the credit limit 100.00 EUR"}}, first.Warnings)
	appends, head := store.appendCount(), store.head()

	again := mustExecute(t, s, invoiceCmd("C1", "I1", 50_000), meta)
	assert.True(t, again.Replayed)
	assert.Equal(t, first.AppendResult.EventIDs, again.AppendResult.EventIDs)
	assert.Equal(t, first.Position, again.Position)
	assert.Equal(t, first.StreamVersion, again.StreamVersion)
	assert.Equal(t, first.Warnings, again.Warnings, "a replay recomputes the same warnings")
	assert.Equal(t, first.Events, again.Events)
	assert.Equal(t, appends, store.appendCount(), "a replay must not reach Append")
	assert.Equal(t, head, store.head())

	// A fresh service (a restarted daemon) answers the same from the store alone.
	again2 := mustExecute(t, newTestService(t, store), invoiceCmd("C1", "I1", 50_000), meta)
	assert.Equal(t, again.AppendResult, again2.AppendResult)

	_, err := s.Execute(context.Background(), invoiceCmd("C1", "I2", 50_000), Meta{IdempotencyKey: "k-1", RequestHash: hashOf("invoice I2")})
	assert.Equal(t, CodeIdempotencyKeyReused, codeOf(err), "got %v", err)
	assert.Equal(t, domain.KindConflict, domain.ErrorKind(err))
	assert.Equal(t, head, store.head(), "a refused command appends nothing")

	_, err = s.Execute(context.Background(), invoiceCmd("C1", "I3", 1), Meta{IdempotencyKey: "k-2"})
	assert.Error(t, err, "a key without a request hash is a caller bug")

	// A replay of a command without invoices reads only its own events.
	rating := domain.RecordRating{CustomerID: "C1", Agency: "A", Score: 10, On: domain.MustDate("2026-01-03")}
	r1 := mustExecute(t, s, rating, Meta{IdempotencyKey: "k-3", RequestHash: hashOf("rating")})
	r2 := mustExecute(t, s, rating, Meta{IdempotencyKey: "k-3", RequestHash: hashOf("rating")})
	assert.True(t, r2.Replayed)
	assert.Equal(t, r1.Events, r2.Events)
	assert.Empty(t, r2.Warnings)
}

// Concurrent retries with one key: exactly one append, every caller gets the same result.
func TestExecuteConcurrentRetriesOneKey(t *testing.T) {
	store := newMemStore()
	s := newTestService(t, store)
	mustExecute(t, s, registerCmd("C1", 0), Meta{})
	head := store.head()

	const callers = 8
	results := make([]Result, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			results[i], errs[i] = s.Execute(context.Background(), invoiceCmd("C1", "I1", 100), Meta{IdempotencyKey: "k", RequestHash: hashOf("same")})
		})
	}
	wg.Wait()
	for i := range callers {
		require.NoError(t, errs[i])
		assert.Equal(t, results[0].EventIDs, results[i].EventIDs)
	}
	assert.Equal(t, head+1, store.head())
}

// Two services on one store stand for two daemons: the second one's cached state goes stale
// when the first appends, its append fails with ErrWrongVersion, and it re-reads and retries.
func TestExecuteRetriesAfterVersionConflict(t *testing.T) {
	store := newMemStore()
	a, b := newTestService(t, store), newTestService(t, store)
	mustExecute(t, a, registerCmd("C1", 1_000_000), Meta{})
	mustExecute(t, a, invoiceCmd("C1", "I1", 100), Meta{}) // a caches C1 at v2
	mustExecute(t, b, invoiceCmd("C1", "I2", 200), Meta{}) // b folds v2, appends v3

	res := mustExecute(t, a, invoiceCmd("C1", "I3", 300), Meta{})
	assert.Equal(t, uint64(4), res.StreamVersion, "a must re-read v3 and append at v4")

	c, ok, err := b.Customer(context.Background(), "C1")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, uint64(4), c.Version())
	assert.Equal(t, int64(600), c.OpenInvoiceTotal().Minor)

	// b decided I2 on its own view; a's I2 would be a duplicate that b's cache must see after
	// a conflict too.
	_, err = a.Execute(context.Background(), invoiceCmd("C1", "I2", 200), Meta{})
	assert.Equal(t, domain.CodeDuplicateInvoice, codeOf(err))
}

// When another writer wins every round, the service stops after appendRetriesMax rounds with
// version_conflict and appends nothing of its own.
func TestExecuteGivesUpAfterRetriesMax(t *testing.T) {
	store := newMemStore()
	s := newTestService(t, store)
	other := newTestService(t, store)
	mustExecute(t, s, registerCmd("C1", 0), Meta{})
	mustExecute(t, s, invoiceCmd("C1", "I1", 100), Meta{})

	rounds := 0
	store.beforeAppend = intrude(t, store, other, &rounds)
	_, err := s.Execute(context.Background(), domain.DisputeInvoice{InvoiceID: "I1", On: domain.MustDate("2026-01-06")}, Meta{})
	store.beforeAppend = nil
	require.Error(t, err)
	assert.Equal(t, domain.CodeVersionConflict, codeOf(err))
	assert.Equal(t, domain.KindConflict, domain.ErrorKind(err))
	assert.Equal(t, appendRetriesMax, rounds)

	c, _, err := s.Customer(context.Background(), "C1")
	require.NoError(t, err)
	inv, _ := c.Invoice("I1")
	assert.False(t, inv.Disputed, "the refused command appended nothing")
}

// intrude returns a beforeAppend hook that appends a rating through other before each of
// the service's appends (all on the test's goroutine).
func intrude(t *testing.T, store *memStore, other *Service, rounds *int) func() {
	return func() {
		store.beforeAppend = nil // the intruder's own append must not recurse
		defer func() { store.beforeAppend = intrude(t, store, other, rounds) }()
		*rounds++
		mustExecute(t, other, domain.RecordRating{CustomerID: "C1", Agency: "A", Score: 50, On: domain.MustDate("2026-01-03")}, Meta{})
	}
}

// Routes that name only an invoice or a payment rely on the directory; ids are unique across
// customers; a second service finds what the first appended.
func TestDirectory(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	s := newTestService(t, store)
	mustExecute(t, s, registerCmd("C1", 0), Meta{})
	mustExecute(t, s, registerCmd("C2", 0), Meta{})
	mustExecute(t, s, invoiceCmd("C1", "I1", 1000), Meta{})
	mustExecute(t, s, domain.RecordPayment{CustomerID: "C1", PaymentID: "P1", Amount: eur(400), ReceivedOn: domain.MustDate("2026-01-10")}, Meta{})

	t.Run("dispute names only the invoice", func(t *testing.T) {
		res := mustExecute(t, s, domain.DisputeInvoice{InvoiceID: "I1", On: domain.MustDate("2026-01-06")}, Meta{})
		assert.Equal(t, "customer-C1", res.Stream)
	})
	t.Run("a command given by pointer resolves the same", func(t *testing.T) {
		_, err := s.Execute(ctx, &domain.WriteOffInvoice{InvoiceID: "nope", On: domain.MustDate("2026-01-06")}, Meta{})
		assert.Equal(t, domain.CodeUnknownInvoice, codeOf(err))
		_, err = s.Execute(ctx, (*domain.IssueInvoice)(nil), Meta{})
		assert.Error(t, err)
	})
	t.Run("reversal names only the payment", func(t *testing.T) {
		res := mustExecute(t, s, domain.ReversePayment{PaymentID: "P1", On: domain.MustDate("2026-01-11")}, Meta{})
		assert.Equal(t, "customer-C1", res.Stream)
	})
	t.Run("unknown invoice and payment", func(t *testing.T) {
		_, err := s.Execute(ctx, domain.WriteOffInvoice{InvoiceID: "nope", On: domain.MustDate("2026-01-06")}, Meta{})
		assert.Equal(t, domain.CodeUnknownInvoice, codeOf(err))
		assert.Equal(t, domain.KindNotFound, domain.ErrorKind(err))
		_, err = s.Execute(ctx, domain.ReversePayment{PaymentID: "nope", On: domain.MustDate("2026-01-06")}, Meta{})
		assert.Equal(t, domain.CodeUnknownPayment, codeOf(err))
	})
	t.Run("an invoice id of another customer is a duplicate", func(t *testing.T) {
		head := store.head()
		_, err := s.Execute(ctx, invoiceCmd("C2", "I1", 1000), Meta{})
		assert.Equal(t, domain.CodeDuplicateInvoice, codeOf(err))
		assert.Equal(t, head, store.head())
		_, err = s.Execute(ctx, domain.RecordPayment{CustomerID: "C2", PaymentID: "P1", Amount: eur(1), ReceivedOn: domain.MustDate("2026-01-10")}, Meta{})
		assert.Equal(t, domain.CodeDuplicatePayment, codeOf(err))
	})
	t.Run("a refused invoice does not keep its id", func(t *testing.T) {
		bad := invoiceCmd("C2", "I9", 1000)
		bad.DueDate = domain.MustDate("2025-12-01") // before issue
		_, err := s.Execute(ctx, bad, Meta{})
		assert.Equal(t, domain.CodeDueBeforeIssue, codeOf(err))
		mustExecute(t, s, invoiceCmd("C1", "I9", 1000), Meta{})
	})
	t.Run("a second service sees the first one's ids", func(t *testing.T) {
		other := newTestService(t, store)
		require.NoError(t, other.Warm(ctx))
		mustExecute(t, s, invoiceCmd("C2", "I2", 10), Meta{}) // after other warmed up
		c, ok, err := other.InvoiceCustomer(ctx, "I2")
		require.NoError(t, err)
		assert.True(t, ok)
		assert.Equal(t, domain.CustomerID("C2"), c)
		_, err = other.Execute(ctx, invoiceCmd("C1", "I2", 10), Meta{})
		assert.Equal(t, domain.CodeDuplicateInvoice, codeOf(err))
	})
}

// Concurrent commands on one customer are serialised in the process: no conflicts, and the
// stream's versions stay contiguous.
func TestExecuteSerialisesOneCustomer(t *testing.T) {
	store := newMemStore()
	s := newTestService(t, store)
	mustExecute(t, s, registerCmd("C1", 0), Meta{})
	var wg sync.WaitGroup
	const n = 20
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.Execute(context.Background(), invoiceCmd("C1", "I"+string(rune('a'+i)), 10), Meta{})
		})
	}
	wg.Wait()
	for _, err := range errs {
		assert.NoError(t, err)
	}
	events, err := store.ReadStream(context.Background(), "customer-C1", 1, 100)
	require.NoError(t, err)
	require.Len(t, events, n+1)
	for i, e := range events {
		assert.Equal(t, uint64(i+1), e.StreamVersion)
	}
}

// Envelopes carry what the design asks: UUIDv7 ids, the type, the schema version, the
// business date and the caller's metadata.
func TestExecuteBuildsEnvelopes(t *testing.T) {
	store := newMemStore()
	s := newTestService(t, store)
	res := mustExecute(t, s, registerCmd("C1", 0), Meta{Actor: "alice", CorrelationID: "corr-1", CausationID: "cause-1"})
	events, err := store.ReadAll(context.Background(), 1, 10)
	require.NoError(t, err)
	require.Len(t, events, 1)
	e := events[0]
	assert.Equal(t, res.EventIDs[0], e.EventID)
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`), e.EventID)
	assert.Equal(t, domain.TypeCustomerRegistered, e.Type)
	assert.Equal(t, domain.CurrentSchemaVersion, e.SchemaVersion)
	assert.Equal(t, "2026-01-02", e.EffectiveOn.String())
	assert.Equal(t, "alice", e.Actor)
	assert.Equal(t, "corr-1", e.CorrelationID)
	assert.Equal(t, "cause-1", e.CausationID)
}

// Event ids from one process increase strictly even when the clock stands still or steps
// back, as a manual clock does.
func TestUUIDv7Monotonic(t *testing.T) {
	clock := NewManualClock(testNow)
	g := &uuidGen{clock: clock}
	prev := g.newID()
	for i := range 10_000 {
		if i == 5000 {
			clock.Set(testNow.Add(-time.Hour))
		}
		id := g.newID()
		require.Greater(t, id, prev, "id %d", i)
		prev = id
	}
	assert.Equal(t, "7", prev[14:15])
}

func TestNewRefusesNilDependencies(t *testing.T) {
	assert.Panics(t, func() { New(nil, WallClock{}, Options{}) })
	assert.Panics(t, func() { New(newMemStore(), nil, Options{}) })
}

// A store failure is an internal error, never a domain code, and the cached state is
// dropped so the next command re-reads the truth.
func TestExecuteStoreFailureIsInternal(t *testing.T) {
	store := &failingStore{memStore: newMemStore()}
	s := newTestService(t, store)
	mustExecute(t, s, registerCmd("C1", 0), Meta{})
	store.fail = true
	_, err := s.Execute(context.Background(), invoiceCmd("C1", "I1", 1), Meta{})
	require.Error(t, err)
	assert.True(t, errors.Is(err, eventstore.ErrFailed))
	assert.Equal(t, domain.KindInternal, domain.ErrorKind(err))
}

type failingStore struct {
	*memStore
	fail bool
}

func (f *failingStore) Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error) {
	if f.fail {
		return eventstore.AppendResult{}, eventstore.ErrFailed
	}
	return f.memStore.Append(ctx, req)
}
