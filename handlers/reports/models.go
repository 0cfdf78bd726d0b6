package reports

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/projections/engine"
	"github.com/encours/encours/projections/ledger"
)

// Basis says which log a set of figures was computed from: the manifest of every export.
type Basis struct {
	AsOf      domain.Date `json:"as_of"`
	KnownAt   *time.Time  `json:"known_at,omitempty"` // nil: everything recorded so far
	Position  uint64      `json:"position"`           // last log position the model holds
	ChainHash domain.Hash `json:"chain_hash"`         // hash of the event at Position
	Live      bool        `json:"live"`               // the running projection, not a replay
}

// live is the running ledger projection.
type live interface {
	Ready() bool
	View(fn func(*ledger.Model))
}

// Ledger gives read models for an as-of date and a knowledge time: the live projection for
// "today, as known now", a replay from the log otherwise (ledger.Replay: effective_on <= as
// of, recorded_at <= known at). Replayed models are kept (replayCache) and continued with
// what was appended since, so the dashboard's month ends are not replayed from position 1
// at every request.
type Ledger struct {
	live  live // may be nil: every read replays
	store engine.Reader
	cache *replayCache
	// liveWait is how long a read of today waits for live to be ready (LiveWaitMax; tests
	// shorten it).
	liveWait time.Duration
}

// ReplayCacheBytesDefault bounds the replayed models a Ledger keeps, in estimated heap
// bytes summed over the models (ledger.Model.ApproxBytes): room for the dashboard's twelve
// month ends of a portfolio of about 30 000 customers.
const ReplayCacheBytesDefault = 1 << 30

// NewLedger returns the read side over a live projection (nil: always replay) and the log.
func NewLedger(l live, store engine.Reader) *Ledger {
	if store == nil {
		panic("reports: NewLedger needs the log")
	}
	return &Ledger{live: l, store: store, cache: newReplayCache(ReplayCacheBytesDefault), liveWait: LiveWaitMax}
}

// SetReplayCache bounds the replayed models kept, in estimated heap bytes summed over them;
// 0 keeps none (every past-date read replays the whole log).
func (l *Ledger) SetReplayCache(bytes uint64) { l.cache.setBudget(bytes) }

// With calls fn with a model as of asOf and known at knownAt (nil: now). today is the
// clock's date: a read at today and known now uses the live projection, waiting for it to
// be ready just after a start (waitLive).
// fn must not keep the model.
func (l *Ledger) With(ctx context.Context, asOf, today domain.Date, knownAt *time.Time, fn func(*ledger.Model, Basis) error) error {
	if l.live != nil && knownAt == nil && asOf.Equal(today) && l.waitLive(ctx) {
		var err error
		l.live.View(func(m *ledger.Model) {
			err = fn(m, Basis{AsOf: asOf, Position: m.Position(), ChainHash: m.Hash(), Live: true})
		})
		return err
	}
	kt := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) // beyond any recorded_at: everything recorded so far
	if knownAt != nil {
		kt = *knownAt
	}
	return l.cache.with(ctx, l.store, asOf, kt, func(m *ledger.Model) error {
		return fn(m, Basis{AsOf: asOf, KnownAt: knownAt, Position: m.Position(), ChainHash: m.Hash()})
	})
}

// LiveWaitMax is how long a read of today, as known now, waits for the live projection to
// be ready (just after a start: loading its snapshot and catching up the events since takes
// a second or a few) before it replays the whole log instead, which on a long log takes far
// longer than the wait. A projection that stopped on an error is never ready: its reads then
// replay after this wait.
const LiveWaitMax = 10 * time.Second

// liveWaitTick is how often waitLive looks at the live projection.
const liveWaitTick = 20 * time.Millisecond

// waitLive reports whether the live projection is ready, waiting up to l.liveWait
// (LiveWaitMax) or the end of ctx for it.
func (l *Ledger) waitLive(ctx context.Context) bool {
	if l.live.Ready() {
		return true
	}
	deadline := time.NewTimer(l.liveWait)
	defer deadline.Stop()
	tick := time.NewTicker(liveWaitTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return l.live.Ready()
		case <-tick.C:
			if l.live.Ready() {
				return true
			}
		}
	}
}

// streamReader reads one stream (eventstore.Store has it); a store without it replays the
// whole log for one customer too.
type streamReader interface {
	ReadStream(ctx context.Context, stream string, fromVersion uint64, limit int) ([]domain.Envelope, error)
}

// customerReplayEventsMax bounds a customer-scoped replay: beyond it (a customer with more
// events than this), the whole log is replayed instead.
const customerReplayEventsMax = 1_000_000

// WithCustomer is With for the figures of one customer only: a past date (or a knowledge
// time) replays the customer's own stream and the exchange rates, the only facts its figures
// depend on, instead of the whole log; today as known now is the live projection, as in
// With. The model holds no other customer. Its basis position is the last of those events
// (the log's head may be further on, with events of other streams only).
func (l *Ledger) WithCustomer(ctx context.Context, id domain.CustomerID, asOf, today domain.Date, knownAt *time.Time, fn func(*ledger.Model, Basis) error) error {
	sr, ok := l.store.(streamReader)
	if !ok || (l.live != nil && knownAt == nil && asOf.Equal(today) && l.live.Ready()) {
		return l.With(ctx, asOf, today, knownAt, fn)
	}
	var envs []domain.Envelope
	for _, stream := range []string{domain.CustomerStream(id), domain.RatesStream} {
		for from := uint64(1); ; { // bounded by customerReplayEventsMax
			page, err := sr.ReadStream(ctx, stream, from, eventstore.ReadLimitMax)
			if err != nil {
				return fmt.Errorf("read %s: %w", stream, err)
			}
			envs = append(envs, page...)
			if len(envs) > customerReplayEventsMax {
				return l.With(ctx, asOf, today, knownAt, fn)
			}
			if len(page) < eventstore.ReadLimitMax {
				break
			}
			from = page[len(page)-1].StreamVersion + 1
		}
	}
	slices.SortFunc(envs, func(a, b domain.Envelope) int { return cmp.Compare(a.Position, b.Position) })
	kt := time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) // as in With
	if knownAt != nil {
		kt = *knownAt
	}
	m, err := ledger.ReplaySlice(envs, asOf, kt)
	if err != nil {
		return fmt.Errorf("replay %s as of %s: %w", id, asOf, err)
	}
	return fn(m, Basis{AsOf: asOf, KnownAt: knownAt, Position: m.Position(), ChainHash: m.Hash()})
}
