package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// UnhashedReader is implemented by a store that can read the log checking each record's
// checksum and link but without recomputing its SHA-256 chain hash (the embedded store, whose
// Open has checked every hash). The engine uses it to catch up when
// Config.SkipChainVerification is set.
type UnhashedReader interface {
	ReadAllUnhashed(ctx context.Context, fromPosition uint64, limit int) ([]domain.Envelope, error)
}

// DecodedApplier is a Projection that can apply an envelope whose event the engine has
// decoded beforehand: the catch-up decodes on its reading core. *ledger.Model is one.
type DecodedApplier interface {
	ApplyDecoded(domain.Envelope, domain.Event) error
}

// catchUpPagesAhead is how many pages the catch-up reader may read ahead of the applier.
const catchUpPagesAhead = 2

type catchUpPage struct {
	envs []domain.Envelope
	evs  []domain.Event // envs' events decoded, nil where not (or when not wanted)
	err  error
}

// catchUp applies the log from pos+1 to head before Run subscribes: one goroutine reads
// pages of eventstore.ReadLimitMax events (the store's reading, checksums and, unless
// skipped, the chain hashes; and the decoding of the events for a DecodedApplier) while this
// one applies them (decoding and the read model), so
// a replay keeps both cores busy. It returns how many envelopes it applied. Envelopes are checked (position, link) and applied as in
// Run, applyBatchMax at a time under the write lock so readers are not starved.
func (e *Engine[P]) catchUp(ctx context.Context, pos, head uint64) (uint64, error) {
	started := time.Now()
	read := e.src.ReadAll
	if ur, ok := e.src.(UnhashedReader); ok && e.cfg.SkipChainVerification {
		read = ur.ReadAllUnhashed
	}
	_, decode := any(e.p).(DecodedApplier)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pages := make(chan catchUpPage, catchUpPagesAhead)
	go func() { // ends at head, on a read error, or when catchUp returns (cancel)
		defer close(pages)
		for next := pos + 1; next <= head; {
			envs, err := read(ctx, next, int(min(head-next+1, eventstore.ReadLimitMax)))
			if err == nil && len(envs) == 0 {
				err = fmt.Errorf("read from %d below the head %d returned nothing", next, head)
			}
			var evs []domain.Event
			if decode && err == nil {
				// An envelope that does not decode is left to the projection's Apply, which
				// skips it or says why it cannot apply it.
				evs = make([]domain.Event, len(envs))
				for i := range envs {
					evs[i], _ = domain.DecodeEvent(envs[i].Type, envs[i].SchemaVersion, envs[i].Data)
				}
			}
			select {
			case pages <- catchUpPage{envs: envs, evs: evs, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
			next = envs[len(envs)-1].Position + 1
		}
	}()
	applied := uint64(0)
	for page := range pages {
		if page.err != nil {
			if ctx.Err() != nil {
				return applied, nil // Run's context ended: Run subscribes, sees it and stops cleanly
			}
			return applied, fmt.Errorf("engine %s: catch up from %d: %w", e.cfg.Name, e.position.Load()+1, page.err)
		}
		for envs, evs := page.envs, page.evs; len(envs) > 0; {
			k := min(len(envs), applyBatchMax)
			var batchEvs []domain.Event
			if evs != nil {
				batchEvs, evs = evs[:k], evs[k:]
			}
			n, err := e.applyBatch(envs[:k], batchEvs)
			applied += uint64(n)
			if err != nil {
				if applied > 0 {
					e.snapshot()
				}
				return applied, err
			}
			envs = envs[k:]
		}
	}
	took := time.Since(started)
	if e.position.Load() >= head {
		e.setStats(func(s *Stats) {
			s.CatchUpDuration = took
			s.CatchUpEventsCount = s.EventsApplied
		})
		e.log.Info("projection caught up", "position", e.position.Load(), "events", applied, "took", took)
	}
	return applied, nil
}
