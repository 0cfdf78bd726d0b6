package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/projections/ledger"
)

// TestEngineOverEmbeddedStore runs the ledger engine over the real embedded store: catch-up,
// live appends, a clean stop with the store closed, and a restart on the reopened store that
// resumes from the snapshot (checked against the store's own event at that position).
func TestEngineOverEmbeddedStore(t *testing.T) {
	storeDir, snapDir := t.TempDir(), t.TempDir()
	s, err := embedded.Open(storeDir, embedded.Options{})
	require.NoError(t, err)
	fillCustomers(t, s, 0, 30, 4)

	r := start(t, s, snapDir, LedgerVersion)
	waitPosition(t, r.eng, head(t, s))
	require.Eventually(t, r.eng.Ready, 5*time.Second, 5*time.Millisecond, "waiting for Ready")
	fillCustomers(t, s, 30, 10, 2)
	waitPosition(t, r.eng, head(t, s))
	assert.Equal(t, reference(t, s), viewFigures(t, r.eng))
	require.NoError(t, r.stop())
	stopped := r.eng.Position()
	require.NoError(t, s.Close())

	s, err = embedded.Open(storeDir, embedded.Options{})
	require.NoError(t, err)
	defer s.Close()
	fillCustomers(t, s, 40, 5, 3)
	again := start(t, s, snapDir, LedgerVersion)
	waitPosition(t, again.eng, head(t, s))
	st := again.eng.Stats()
	assert.True(t, st.SnapshotLoaded, "discarded: %s", st.SnapshotDiscarded)
	assert.Equal(t, stopped, st.SnapshotPosition)
	assert.Equal(t, head(t, s)-stopped, st.EventsApplied)
	assert.Equal(t, reference(t, s), viewFigures(t, again.eng))
	require.NoError(t, again.stop())
}

// cancelAtHead is an embedded store whose reads cancel the engine's context once they reach
// the head: Run is stopped between its catch-up and its subscription.
type cancelAtHead struct {
	*embedded.Store
	cancel context.CancelFunc
}

func (c cancelAtHead) ReadAll(ctx context.Context, from uint64, limit int) ([]domain.Envelope, error) {
	envs, err := c.Store.ReadAll(ctx, from, limit)
	if h, _ := c.Store.Head(ctx); len(envs) > 0 && envs[len(envs)-1].Position == h.Position {
		c.cancel()
	}
	return envs, err
}

func (c cancelAtHead) ReadPage(ctx context.Context, from uint64, limit int, hashed bool, envs []domain.Envelope, buf []byte) ([]domain.Envelope, []byte, error) {
	envs, buf, err := c.Store.ReadPage(ctx, from, limit, hashed, envs, buf)
	if h, _ := c.Store.Head(ctx); len(envs) > 0 && envs[len(envs)-1].Position == h.Position {
		c.cancel()
	}
	return envs, buf, err
}

// TestEngineStoppedAfterCatchUp: a stop that lands between the catch-up and the
// subscription is a clean stop, with what was caught up snapshotted.
func TestEngineStoppedAfterCatchUp(t *testing.T) {
	s, err := embedded.Open(t.TempDir(), embedded.Options{})
	require.NoError(t, err)
	defer s.Close()
	fillCustomers(t, s, 0, 10, 3)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	eng := NewLedgerEngine(cancelAtHead{s, cancel}, t.TempDir(), Config[*ledger.Model]{})
	require.NoError(t, eng.Run(ctx))
	// The last page may or may not have been handed over before the stop; whatever was
	// applied is in the snapshot.
	assert.Equal(t, eng.Position(), eng.Stats().LastSnapshotAtPos)
}

// plainReader hides every method of a store but ReadAll: LedgerAsOf then replays page by page
// on one goroutine (Envelopes into ledger.Replay), the reference for its catch-up path.
type plainReader struct{ r Reader }

func (p plainReader) ReadAll(ctx context.Context, from uint64, limit int) ([]domain.Envelope, error) {
	return p.r.ReadAll(ctx, from, limit)
}

// TestLedgerAsOfCatchUpEqualsSequentialReplay: from the embedded store, LedgerAsOf runs the
// engine's catch-up (readers decoding pages into buffers they reuse); the model it builds is
// the one the sequential replay builds, byte for byte, as of dates before and after the
// registrations and known at instants before and after part of the log was recorded.
//
// The log is an import of history: 1,000 registrations effective 2024-06-01 come first, then
// each customer's invoices and payments, dated from January on, so that as of March every
// registration waits (pending) until its customer's first fact. The last customers' facts
// are read more than catchUpPagesAhead pages per reader after their registrations: by then
// the buffers the registrations were decoded from hold other events.
func TestLedgerAsOfCatchUpEqualsSequentialReplay(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { // a minute per append
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Minute)
		return now
	}
	s, err := embedded.Open(t.TempDir(), embedded.Options{Clock: clock})
	require.NoError(t, err)
	defer s.Close()
	const customers, invoices = 1000, 4
	id := func(i int) domain.CustomerID { return domain.CustomerID(fmt.Sprintf("H%05d", i)) }
	for i := range customers {
		appendEvents(t, s, id(i), domain.CustomerRegistered{CustomerID: id(i), Name: fmt.Sprintf("Historic %05d SARL", i), Country: "FR",
			Sector: "C25", Segment: "sme", Currency: "EUR", Terms: domain.Net(30), CreditLimit: eur(2_000_000), RegisteredOn: d("2024-06-01")})
	}
	midway := clock() // the knowledge cut: half of the facts are recorded after it
	for i := range customers {
		if i == customers/2 {
			midway = clock()
		}
		var evs []domain.Event
		for j := range invoices {
			issue := d("2024-01-05").AddDays((i*13 + j*47) % 240)
			inv := domain.InvoiceID(fmt.Sprintf("%s-F%d", id(i), j))
			amount := eur(int64(20_000 + (i*37+j*101)%80_000))
			evs = append(evs, domain.InvoiceIssued{InvoiceID: inv, Number: string(inv), Amount: amount, IssueDate: issue, DueDate: issue.AddDays(30)})
			if j%2 == 0 {
				evs = append(evs, domain.PaymentReceived{PaymentID: domain.PaymentID("P" + string(inv)), Amount: amount, ReceivedOn: issue.AddDays(40),
					Allocations: []domain.Allocation{{InvoiceID: inv, Amount: amount}}, Unallocated: eur(0)})
			}
		}
		appendEventsOneAppend(t, s, id(i), evs...)
	}
	require.Greater(t, head(t, s), uint64(2*catchUpRangeLen*(catchUpPagesAhead+1)), "the log must outlast the readers' buffers")

	ctx := context.Background()
	for _, asOf := range []domain.Date{d("2024-03-31"), d("2024-12-31")} {
		for _, knownAt := range []time.Time{midway, farFuture} {
			name := fmt.Sprintf("as of %s known at %s", asOf, knownAt.Format(time.RFC3339))
			got, err := LedgerAsOf(ctx, s, asOf, knownAt)
			require.NoError(t, err, name)
			want, err := LedgerAsOf(ctx, plainReader{s}, asOf, knownAt)
			require.NoError(t, err, name)
			assert.Equal(t, figuresAt(t, want, asOf), figuresAt(t, got, asOf), name)
			assert.Equal(t, want.Position(), got.Position(), name)
			assert.Equal(t, want.Hash(), got.Hash(), name)
			assert.Equal(t, head(t, s), got.ReplaySeen(), name)
			assert.Equal(t, want.ReplayAdjustments(), got.ReplayAdjustments(), name)
			n, inv, _, _ := got.Counts()
			assert.Positive(t, inv, name)
			assert.Positive(t, n, name)
		}
	}
	// Several dates in one pass (the dashboard's month ends): each model is its date's.
	dates := []domain.Date{d("2024-03-31"), d("2024-06-30"), d("2024-12-31")}
	for _, knownAt := range []time.Time{midway, farFuture} {
		ms, err := LedgerAsOfMany(ctx, s, dates, knownAt)
		require.NoError(t, err)
		require.Len(t, ms, len(dates))
		for i, on := range dates {
			want, err := LedgerAsOf(ctx, plainReader{s}, on, knownAt)
			require.NoError(t, err)
			assert.Equal(t, figuresAt(t, want, on), figuresAt(t, ms[i], on), "many, as of %s", on)
			assert.Equal(t, want.Position(), ms[i].Position())
		}
	}
	// Nor is the reference an empty model: as of March, known at the end, most customers
	// have an invoice dated by then, the last one registered among them, under its name.
	m, err := LedgerAsOf(ctx, s, d("2024-03-31"), farFuture)
	require.NoError(t, err)
	n, _, _, _ := m.Counts()
	assert.Greater(t, n, customers*9/10)
	last, err := ledger.CustomerProfile(m, id(customers-1))
	require.NoError(t, err)
	assert.Equal(t, "Historic 00999 SARL", last.Name)
}

// appendEventsOneAppend appends events to one customer's stream in one append.
func appendEventsOneAppend(t testing.TB, s eventstore.Store, cust domain.CustomerID, evs ...domain.Event) {
	t.Helper()
	stream := domain.CustomerStream(cust)
	envs := make([]domain.Envelope, len(evs))
	for i, ev := range evs {
		data, err := domain.EncodeEvent(ev)
		require.NoError(t, err)
		envs[i] = domain.Envelope{Stream: stream, EventID: fmt.Sprintf("%s-%d-%d", cust, i, time.Now().UnixNano()), Type: ev.EventType(),
			SchemaVersion: domain.CurrentSchemaVersion, EffectiveOn: ev.Effective(), Actor: "test", Data: data}
	}
	_, err := s.Append(context.Background(), eventstore.AppendRequest{Stream: stream, ExpectedVersion: eventstore.AnyVersion, Events: envs})
	require.NoError(t, err)
}
