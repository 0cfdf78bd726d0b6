package engine

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// memStore is an in-memory eventstore.Store test double: gap-free positions, stream versions,
// a non-decreasing recorded_at, the hash chain, and subscriptions that catch up then follow.
type memStore struct {
	mu       sync.Mutex
	envs     []domain.Envelope
	versions map[string]uint64
	changed  chan struct{} // closed and replaced at every append
	closed   bool
	clock    time.Time
	scratch  []byte
	wg       sync.WaitGroup // subscriptions' goroutines
}

func newMemStore() *memStore {
	return &memStore{versions: map[string]uint64{}, changed: make(chan struct{}), clock: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (s *memStore) Append(_ context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	if len(req.Events) == 0 || len(req.Events) > eventstore.AppendEventsMax {
		return eventstore.AppendResult{}, eventstore.ErrInvalidAppend
	}
	if req.ExpectedVersion != eventstore.AnyVersion && uint64(req.ExpectedVersion) != s.versions[req.Stream] {
		return eventstore.AppendResult{}, eventstore.ErrWrongVersion
	}
	for _, e := range req.Events {
		if e.Stream != req.Stream {
			return eventstore.AppendResult{}, eventstore.ErrInvalidAppend
		}
	}
	res := eventstore.AppendResult{Stream: req.Stream}
	for _, e := range req.Events {
		s.clock = s.clock.Add(time.Millisecond)
		s.versions[req.Stream]++
		e.StreamVersion = s.versions[req.Stream]
		e.Position = uint64(len(s.envs) + 1)
		e.RecordedAt = s.clock
		var prev domain.Hash
		if len(s.envs) > 0 {
			prev = s.envs[len(s.envs)-1].Hash
		}
		s.scratch = domain.Seal(&e, prev, s.scratch)
		s.envs = append(s.envs, e)
		res.StreamVersion, res.Position = e.StreamVersion, e.Position
		res.EventIDs = append(res.EventIDs, e.EventID)
	}
	close(s.changed)
	s.changed = make(chan struct{})
	return res, nil
}

func (s *memStore) ReadStream(_ context.Context, stream string, from uint64, limit int) ([]domain.Envelope, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.Envelope
	for _, e := range s.envs {
		if e.Stream == stream && e.StreamVersion >= from && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (s *memStore) ReadAll(_ context.Context, from uint64, limit int) ([]domain.Envelope, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	from = max(from, 1)
	if from > uint64(len(s.envs)) {
		return nil, nil
	}
	end := min(uint64(len(s.envs)), from-1+uint64(limit))
	return append([]domain.Envelope(nil), s.envs[from-1:end]...), nil
}

type memSub struct {
	c   chan domain.Envelope
	err error
}

func (m *memSub) C() <-chan domain.Envelope { return m.c }
func (m *memSub) Err() error                { return m.err }

func (s *memStore) Subscribe(ctx context.Context, from uint64) (eventstore.Subscription, error) {
	sub := &memSub{c: make(chan domain.Envelope, 16)}
	s.wg.Add(1)
	go func() { // ends on ctx.Done or Close
		defer s.wg.Done()
		defer close(sub.c)
		next := max(from, 1)
		for {
			s.mu.Lock()
			var batch []domain.Envelope
			if next <= uint64(len(s.envs)) {
				batch = append(batch, s.envs[next-1:]...)
			}
			changed, closed := s.changed, s.closed
			s.mu.Unlock()
			for _, e := range batch {
				select {
				case sub.c <- e:
					next = e.Position + 1
				case <-ctx.Done():
					return
				}
			}
			if len(batch) > 0 {
				continue
			}
			if closed {
				return
			}
			select {
			case <-changed:
			case <-ctx.Done():
				return
			}
		}
	}()
	return sub, nil
}

func (s *memStore) LookupIdempotency(context.Context, string) (eventstore.AppendResult, []byte, bool, error) {
	return eventstore.AppendResult{}, nil, false, nil
}

func (s *memStore) Head(context.Context) (eventstore.Head, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.envs) == 0 {
		return eventstore.Head{}, nil
	}
	last := s.envs[len(s.envs)-1]
	return eventstore.Head{Position: last.Position, Hash: last.Hash}, nil
}

func (s *memStore) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.changed)
		s.changed = make(chan struct{})
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

var _ eventstore.Store = (*memStore)(nil)

// appendEvents appends events to one customer's stream, one append each.
func appendEvents(t testing.TB, s eventstore.Store, cust domain.CustomerID, evs ...domain.Event) {
	t.Helper()
	for _, ev := range evs {
		data, err := domain.EncodeEvent(ev)
		require.NoError(t, err)
		stream := domain.CustomerStream(cust)
		_, err = s.Append(context.Background(), eventstore.AppendRequest{
			Stream: stream, ExpectedVersion: eventstore.AnyVersion,
			Events: []domain.Envelope{{
				Stream: stream, EventID: fmt.Sprintf("%s-%s-%d", cust, ev.EventType(), time.Now().UnixNano()), Type: ev.EventType(),
				SchemaVersion: domain.CurrentSchemaVersion, EffectiveOn: ev.Effective(), Actor: "test", Data: data,
			}},
		})
		require.NoError(t, err)
	}
}

func d(s string) domain.Date { return domain.MustDate(s) }

func eur(v int64) domain.Money { return domain.Money{Minor: v, Ccy: "EUR"} }

// fillCustomers appends, for customers from first to first+n-1, a registration, invoices and
// a payment on the first invoice of each: 2 + invoices events per customer.
func fillCustomers(t testing.TB, s eventstore.Store, first, n, invoices int) {
	t.Helper()
	for i := first; i < first+n; i++ {
		id := domain.CustomerID(fmt.Sprintf("C%05d", i))
		appendEvents(t, s, id, domain.CustomerRegistered{CustomerID: id, Name: "Customer " + string(id), Country: "FR",
			Segment: []string{"sme", "corporate"}[i%2], Currency: "EUR", Terms: domain.Net(30), CreditLimit: eur(1_000_000), RegisteredOn: d("2024-01-01")})
		for j := range invoices {
			issue := d("2024-01-01").AddDays((i*7 + j*11) % 150)
			appendEvents(t, s, id, domain.InvoiceIssued{InvoiceID: domain.InvoiceID(fmt.Sprintf("%s-F%03d", id, j)), Number: fmt.Sprintf("F%03d", j),
				Amount: eur(int64(10_000 + (i*31+j*17)%90_000)), IssueDate: issue, DueDate: issue.AddDays(30)})
		}
		if invoices > 0 {
			first := domain.InvoiceID(fmt.Sprintf("%s-F%03d", id, 0))
			issue := d("2024-01-01").AddDays((i * 7) % 150)
			appendEvents(t, s, id, domain.PaymentReceived{PaymentID: domain.PaymentID(string(id) + "-P"), Amount: eur(5_000), ReceivedOn: issue.AddDays(20),
				Allocations: []domain.Allocation{{InvoiceID: first, Amount: eur(5_000)}}, Unallocated: eur(0)})
		}
	}
}
