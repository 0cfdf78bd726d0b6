package reports

import (
	"context"
	"fmt"
	"time"

	"github.com/encours/encours/domain"
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
// of, recorded_at <= known at).
type Ledger struct {
	live  live // may be nil: every read replays
	store engine.Reader
}

// NewLedger returns the read side over a live projection (nil: always replay) and the log.
func NewLedger(l live, store engine.Reader) *Ledger {
	if store == nil {
		panic("reports: NewLedger needs the log")
	}
	return &Ledger{live: l, store: store}
}

// With calls fn with a model as of asOf and known at knownAt (nil: now). today is the
// clock's date: a read at today and known now uses the live projection when it is ready.
// fn must not keep the model.
func (l *Ledger) With(ctx context.Context, asOf, today domain.Date, knownAt *time.Time, fn func(*ledger.Model, Basis) error) error {
	if l.live != nil && knownAt == nil && asOf.Equal(today) && l.live.Ready() {
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
	m, err := engine.LedgerAsOf(ctx, l.store, asOf, kt)
	if err != nil {
		return fmt.Errorf("replay as of %s: %w", asOf, err)
	}
	return fn(m, Basis{AsOf: asOf, KnownAt: knownAt, Position: m.Position(), ChainHash: m.Hash()})
}
