package command

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// memStore is a test double of the event store: the port's append, read and idempotency
// semantics in a mutex-guarded slice, with no durability and no hash chain. The HTTP tests
// run the real embedded store; this double keeps the command service's tests small and lets
// them count calls.
type memStore struct {
	mu      sync.Mutex
	log     []domain.Envelope
	streams map[string][]int // stream -> indexes in log
	keys    map[string]memKey
	appends int
	// beforeAppend, when set, runs (without the lock) before each Append: a test uses it to
	// slip in another writer's append.
	beforeAppend func()
}

type memKey struct {
	res  eventstore.AppendResult
	hash []byte
}

func newMemStore() *memStore {
	return &memStore{streams: map[string][]int{}, keys: map[string]memKey{}}
}

func (m *memStore) Append(_ context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error) {
	if f := m.beforeAppend; f != nil {
		f()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.appends++
	if len(req.Events) == 0 || len(req.Events) > eventstore.AppendEventsMax {
		return eventstore.AppendResult{}, eventstore.ErrInvalidAppend
	}
	if req.IdempotencyKey != "" {
		if k, ok := m.keys[req.IdempotencyKey]; ok {
			if string(k.hash) != string(req.RequestHash) {
				return eventstore.AppendResult{}, eventstore.ErrIdempotencyKeyReused
			}
			r := k.res
			r.Replayed = true
			return r, nil
		}
	}
	version := uint64(len(m.streams[req.Stream]))
	if req.ExpectedVersion != eventstore.AnyVersion && uint64(req.ExpectedVersion) != version {
		return eventstore.AppendResult{}, fmt.Errorf("append %s: at v%d, want v%d: %w", req.Stream, version, req.ExpectedVersion, eventstore.ErrWrongVersion)
	}
	res := eventstore.AppendResult{Stream: req.Stream}
	for i, e := range req.Events {
		if e.Stream != req.Stream {
			return eventstore.AppendResult{}, eventstore.ErrInvalidAppend
		}
		e.StreamVersion = version + uint64(i) + 1
		e.Position = uint64(len(m.log)) + 1
		e.RecordedAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(e.Position) * time.Second)
		e.IdempotencyKey = req.IdempotencyKey
		m.streams[req.Stream] = append(m.streams[req.Stream], len(m.log))
		m.log = append(m.log, e)
		res.StreamVersion, res.Position = e.StreamVersion, e.Position
		res.EventIDs = append(res.EventIDs, e.EventID)
	}
	if req.IdempotencyKey != "" {
		m.keys[req.IdempotencyKey] = memKey{res: res, hash: append([]byte(nil), req.RequestHash...)}
	}
	return res, nil
}

func (m *memStore) ReadStream(_ context.Context, stream string, from uint64, limit int) ([]domain.Envelope, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []domain.Envelope
	for _, i := range m.streams[stream] {
		if e := m.log[i]; e.StreamVersion >= from && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *memStore) ReadAll(_ context.Context, from uint64, limit int) ([]domain.Envelope, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []domain.Envelope
	for _, e := range m.log {
		if e.Position >= from && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *memStore) LookupIdempotency(_ context.Context, key string) (eventstore.AppendResult, []byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[key]
	return k.res, k.hash, ok, nil
}

func (m *memStore) appendCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.appends
}

func (m *memStore) head() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return uint64(len(m.log))
}
