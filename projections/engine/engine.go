package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// Defaults and limits (style §8).
const (
	// SnapshotEveryDefault: events between snapshots. At ~1 M events/s of apply, a restart
	// replays at most about 10 ms of log beyond the snapshot.
	SnapshotEveryDefault = 10_000
	// SnapshotIntervalDefault: a snapshot is also written this long after the last one when
	// events arrived since, so a quiet daemon does not keep a stale checkpoint.
	SnapshotIntervalDefault = time.Minute
	// applyBatchMax: envelopes applied under one write lock when several are waiting, so
	// readers are not starved by a catch-up and the lock is not taken per event.
	applyBatchMax = 256
)

// Errors callers tell apart with errors.Is.
var (
	// ErrGap: the store delivered an envelope that is not the next position.
	ErrGap = errors.New("position gap in subscription")
	// ErrChain: an envelope's prev_hash is not the hash of the one before it.
	ErrChain = errors.New("hash chain broken")
)

// Projection is a read model the engine can feed from the log and checkpoint with its
// state. *ledger.Model is one.
type Projection interface {
	// Apply applies the next envelope; one at or below Position is ignored.
	Apply(domain.Envelope) error
	// Position and Hash say which envelope the projection was last built from.
	Position() uint64
	Hash() domain.Hash
	encodingBinary
}

type encodingBinary interface {
	MarshalBinary() ([]byte, error)
	UnmarshalBinary([]byte) error
}

// Source is what the engine needs of the event store (a narrower eventstore.Store).
type Source interface {
	Subscribe(ctx context.Context, fromPosition uint64) (eventstore.Subscription, error)
	ReadAll(ctx context.Context, fromPosition uint64, limit int) ([]domain.Envelope, error)
	Head(ctx context.Context) (eventstore.Head, error)
}

// Config configures an Engine.
type Config[P Projection] struct {
	// Name names the projection; its snapshot is <Dir>/<Name>.snapshot.
	Name string
	// Version is the projection's version constant: change it whenever the projection's
	// state or its meaning changes, and the engine rebuilds from position 0 instead of
	// loading a snapshot made by the old code.
	Version uint32
	// New returns an empty projection at position 0.
	New func() P
	// Dir holds the snapshot; "" keeps no snapshot (every start rebuilds from the log).
	Dir string
	// SnapshotEvery and SnapshotInterval set how often a snapshot is written (defaults
	// SnapshotEveryDefault, SnapshotIntervalDefault); one is always written on a clean stop.
	SnapshotEvery    int
	SnapshotInterval time.Duration
	// SkipChainVerification lets the catch-up read of a store that offers it (the embedded
	// store's Scan) skip recomputing each record's SHA-256: Open has already checked every
	// record's hash and link, and the CRC-32C of each record is still checked as it is read.
	// The link between consecutive events (prev_hash) is checked either way.
	SkipChainVerification bool
	// Logger receives start, rebuild and snapshot notes. Default: discard.
	Logger *slog.Logger
}

// Stats describe the engine's checkpoints, for logs and metrics.
type Stats struct {
	HeadAtStart        uint64        // the store's head when Run started: Ready once reached
	SnapshotLoaded     bool          // the projection started from a snapshot
	SnapshotPosition   uint64        // … at this position
	SnapshotLoadTime   time.Duration // read, verify and decode
	SnapshotDiscarded  string        // why a snapshot found was not used ("" if none)
	SnapshotsWritten   int
	LastSnapshotBytes  int
	LastSnapshotWrite  time.Duration // encode, write, fsync, rename
	LastSnapshotAtPos  uint64
	EventsApplied      uint64 // since Run started
	CatchUpDuration    time.Duration
	CatchUpEventsCount uint64
}

// Engine feeds one projection from the store in position order, from its checkpoint on:
// Subscribe(checkpoint+1), apply, idempotent by position, and checkpoint the projection
// with its state in an atomically written snapshot file. It serialises Apply and reads
// (View), so the projection itself need not be safe for concurrent use.
type Engine[P Projection] struct {
	src Source
	cfg Config[P]
	log *slog.Logger

	mu sync.RWMutex // guards p
	p  P

	position atomic.Uint64
	ready    atomic.Bool
	running  atomic.Bool

	statsMu sync.Mutex
	stats   Stats
}

// New returns an engine over src. It panics on a nil dependency (a wiring error).
func New[P Projection](src Source, cfg Config[P]) *Engine[P] {
	if src == nil || cfg.New == nil {
		panic("engine: New needs a source and Config.New")
	}
	if cfg.Name == "" {
		panic("engine: Config.Name is empty")
	}
	if cfg.SnapshotEvery <= 0 {
		cfg.SnapshotEvery = SnapshotEveryDefault
	}
	if cfg.SnapshotInterval <= 0 {
		cfg.SnapshotInterval = SnapshotIntervalDefault
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine[P]{src: src, cfg: cfg, log: log.With("projection", cfg.Name), p: cfg.New()}
}

// Ready reports whether the projection has caught up with the store's head as it was when
// Run started (for /readyz): before that, reads would show an old state.
func (e *Engine[P]) Ready() bool { return e.ready.Load() }

// Position returns the position of the last envelope applied (for lag metrics: the store's
// head minus this).
func (e *Engine[P]) Position() uint64 { return e.position.Load() }

// Stats returns a copy of the engine's checkpoint statistics.
func (e *Engine[P]) Stats() Stats {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	return e.stats
}

// View calls fn with the projection under a read lock: fn must not keep it, nor modify it.
func (e *Engine[P]) View(fn func(P)) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	fn(e.p)
}

// Run loads the checkpoint, subscribes from the position after it and applies envelopes
// until ctx is done (then it writes a last snapshot and returns nil), the subscription ends
// with an error, or an envelope cannot be applied (fail-stop: the projection keeps its last
// good state, which is snapshotted, and the error is returned). Run may be called once.
func (e *Engine[P]) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("engine: Run called twice")
	}
	head, err := e.src.Head(ctx)
	if err != nil {
		return fmt.Errorf("engine %s: head: %w", e.cfg.Name, err)
	}
	e.setStats(func(s *Stats) { s.HeadAtStart = head.Position })
	if err := e.loadCheckpoint(ctx, head); err != nil {
		return err
	}
	pos := e.position.Load()
	e.log.Info("projection starting", "position", pos, "head", head.Position)
	caughtUp := uint64(0)
	if pos < head.Position {
		n, err := e.catchUp(ctx, pos, head.Position)
		if err != nil {
			return err
		}
		pos, caughtUp = e.position.Load(), n
	}
	if e.markReady(pos, head.Position) && caughtUp >= uint64(e.cfg.SnapshotEvery) {
		e.snapshot() // after Ready: the catch-up's work is kept, readers need not wait for it
		caughtUp = 0
	}

	ctx, cancel := context.WithCancel(ctx) // ends the subscription when Run returns, whyever
	defer cancel()
	sub, err := e.src.Subscribe(ctx, pos+1)
	if err != nil {
		if ctx.Err() != nil { // stopped during the catch-up or right after it: a clean stop
			return e.stop(nil, caughtUp > 0)
		}
		return fmt.Errorf("engine %s: subscribe from %d: %w", e.cfg.Name, pos+1, err)
	}
	started := time.Now()
	lastSnapshot, sinceSnapshot := time.Now(), int(caughtUp)
	tick := time.NewTicker(e.cfg.SnapshotInterval)
	defer tick.Stop()
	batch := make([]domain.Envelope, 0, applyBatchMax)
	// This loop runs until the subscription's channel closes (ctx done or store closed)
	// or an envelope fails to apply.
	for {
		select {
		case env, ok := <-sub.C():
			if !ok {
				return e.stop(sub.Err(), sinceSnapshot > 0)
			}
			batch = append(batch[:0], env)
		drain:
			for len(batch) < applyBatchMax {
				select {
				case env, ok := <-sub.C():
					if !ok {
						break drain
					}
					batch = append(batch, env)
				default:
					break drain
				}
			}
			n, err := e.applyBatch(batch, nil, false)
			sinceSnapshot += n
			if err != nil {
				if sinceSnapshot > 0 {
					e.snapshot()
				}
				return err
			}
			if !e.ready.Load() && e.markReady(e.position.Load(), head.Position) {
				e.setStats(func(s *Stats) {
					s.CatchUpDuration = time.Since(started)
					s.CatchUpEventsCount = s.EventsApplied
				})
			}
			if sinceSnapshot >= e.cfg.SnapshotEvery {
				e.snapshot()
				lastSnapshot, sinceSnapshot = time.Now(), 0
			}
		case <-tick.C:
			if sinceSnapshot > 0 && time.Since(lastSnapshot) >= e.cfg.SnapshotInterval {
				e.snapshot()
				lastSnapshot, sinceSnapshot = time.Now(), 0
			}
		}
	}
}

// stop ends Run: a last snapshot if anything changed, and the subscription's error.
func (e *Engine[P]) stop(subErr error, dirty bool) error {
	if dirty {
		e.snapshot()
	}
	if subErr != nil && !errors.Is(subErr, context.Canceled) && !errors.Is(subErr, context.DeadlineExceeded) {
		return fmt.Errorf("engine %s: subscription at %d: %w", e.cfg.Name, e.position.Load(), subErr)
	}
	e.log.Info("projection stopped", "position", e.position.Load())
	return nil
}

func (e *Engine[P]) markReady(pos, head uint64) bool {
	if pos >= head {
		e.ready.Store(true)
		return true
	}
	return false
}

// applyBatch applies envelopes in position order under one write lock; it checks that they
// follow each other (position and hash chain) and returns how many were applied. evs, when
// not nil, holds the envelopes' decoded events (nil where not decoded) for a DecodedApplier.
//
// linked says the caller checked that each envelope of batch links to the one before it
// (its PrevHash is their Hash): only the first envelope applied is then checked against the
// projection's hash. The catch-up checks the links on the reading core, where the bytes
// are in cache; on the applying core each check was a cache miss.
func (e *Engine[P]) applyBatch(batch []domain.Envelope, evs []domain.Event, linked bool) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	da, _ := any(e.p).(DecodedApplier)
	n := 0
	// The projection's position and hash are read once: after each envelope it applies they
	// are that envelope's (Projection), so the loop follows them without a call per event.
	pos, prev := e.p.Position(), e.p.Hash()
	for i := range batch {
		env := &batch[i]
		if env.Position <= pos {
			continue // already applied: the subscription may repeat at a reconnect
		}
		if env.Position != pos+1 {
			return n, fmt.Errorf("engine %s: got position %d after %d: %w", e.cfg.Name, env.Position, pos, ErrGap)
		}
		if pos > 0 && (n == 0 || !linked) && env.PrevHash != prev {
			return n, fmt.Errorf("engine %s: position %d prev_hash %s, previous hash %s: %w", e.cfg.Name, env.Position, env.PrevHash, prev, ErrChain)
		}
		var err error
		if da != nil && evs != nil && evs[i] != nil {
			err = da.ApplyDecoded(env, evs[i])
		} else {
			err = e.p.Apply(*env)
		}
		if err != nil {
			e.log.Error("projection stopped on an event it cannot apply", "position", env.Position, "type", env.Type, "stream", env.Stream, "err", err)
			return n, fmt.Errorf("engine %s: %w", e.cfg.Name, err)
		}
		n++
		pos, prev = env.Position, env.Hash
		e.position.Store(pos)
	}
	e.setStats(func(s *Stats) { s.EventsApplied += uint64(n) })
	return n, nil
}

func (e *Engine[P]) setStats(fn func(*Stats)) {
	e.statsMu.Lock()
	defer e.statsMu.Unlock()
	fn(&e.stats)
}
