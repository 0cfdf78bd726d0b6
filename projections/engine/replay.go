package engine

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/projections/ledger"
)

// Reader reads the log in position order (a narrower eventstore.Store).
type Reader interface {
	ReadAll(ctx context.Context, fromPosition uint64, limit int) ([]domain.Envelope, error)
}

// readPagesMax bounds one sequence: 10^6 pages of eventstore.ReadLimitMax events is 10^10
// events, beyond any store Encours runs on.
const readPagesMax = 1_000_000

// envelopesAhead is how many pages Envelopes reads ahead of its consumer.
const envelopesAhead = 2

// Envelopes returns the log from position from on, in position order, read page by page
// (eventstore.ReadLimitMax at a time) on another goroutine, envelopesAhead pages ahead of
// the consumer: a store's reading (checksums, chain hashes) and the consumer's work (a
// replay's decoding and applying) then run on two cores. A read error ends the sequence
// and is stored in *errp. The reading goroutine ends before the sequence returns.
func Envelopes(ctx context.Context, src Reader, from uint64, errp *error) iter.Seq[domain.Envelope] {
	type page struct {
		envs []domain.Envelope
		err  error
	}
	return func(yield func(domain.Envelope) bool) {
		ctx, cancel := context.WithCancel(ctx)
		pages := make(chan page, envelopesAhead)
		done := make(chan struct{})
		defer func() {
			cancel()
			<-done
		}()
		go func() { // ends after the last page, on an error, or at cancel
			defer close(done)
			next := max(from, 1)
			for range readPagesMax {
				envs, err := src.ReadAll(ctx, next, eventstore.ReadLimitMax)
				if err != nil {
					err = fmt.Errorf("read log from %d: %w", next, err)
				}
				select {
				case pages <- page{envs, err}:
				case <-ctx.Done():
					return
				}
				if err != nil || len(envs) == 0 {
					return
				}
				next = envs[len(envs)-1].Position + 1
			}
			select {
			case pages <- page{err: fmt.Errorf("read log: more than %d pages", readPagesMax)}:
			case <-ctx.Done():
			}
		}()
		for {
			var p page
			select {
			case p = <-pages:
			case <-ctx.Done():
				*errp = ctx.Err()
				return
			}
			if p.err != nil {
				*errp = p.err
				return
			}
			if len(p.envs) == 0 {
				return
			}
			for _, e := range p.envs {
				if !yield(e) {
					return
				}
			}
		}
	}
}

// LedgerAsOf replays the store's log into a fresh ledger as of a business date and as known
// at an instant (ledger.Replay): the figures accountants ask for with `replay --as-of`.
// From the embedded store (a PageReader) it runs the engine's catch-up: a reader per core
// reads, checks (CRC, links, every record's SHA-256) and decodes, while this goroutine
// applies Replay's rules. From another store it reads page by page (Envelopes), each
// record's hash checked by the store's ReadAll.
func LedgerAsOf(ctx context.Context, src Reader, asOf domain.Date, knownAt time.Time) (*ledger.Model, error) {
	ms, err := LedgerAsOfMany(ctx, src, []domain.Date{asOf}, knownAt)
	if err != nil {
		return nil, err
	}
	return ms[0], nil
}

// LedgerAsOfMany is LedgerAsOf for several business dates known at the same instant, in one
// pass over the log, each event decoded once for all of them (ledger.ReplayMany): the
// dashboard's month ends.
func LedgerAsOfMany(ctx context.Context, src Reader, dates []domain.Date, knownAt time.Time) ([]*ledger.Model, error) {
	if len(dates) == 0 {
		return nil, nil
	}
	if s, ok := src.(pagedSource); ok {
		return ledgerAsOfCatchUp(ctx, s, dates, knownAt)
	}
	var readErr error
	ms, err := ledger.ReplayMany(Envelopes(ctx, src, 1, &readErr), dates, knownAt)
	if readErr != nil {
		return nil, readErr
	}
	if err != nil {
		return nil, err
	}
	return ms, nil
}

// pagedSource is a store the catch-up reads in pages (the embedded store).
type pagedSource interface {
	Source
	PageReader
}

func ledgerAsOfCatchUp(ctx context.Context, s pagedSource, dates []domain.Date, knownAt time.Time) ([]*ledger.Model, error) {
	head, err := s.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the log's head: %w", err)
	}
	p := asOfProjection{ms: make([]*ledger.Model, len(dates))}
	for i, d := range dates {
		p.ms[i] = ledger.NewReplay(d, knownAt)
	}
	if head.Position == 0 {
		return p.ms, nil
	}
	eng := New(s, Config[asOfProjection]{Name: "ledger-as-of", New: func() asOfProjection { return p }})
	if _, err := eng.catchUp(ctx, 0, head.Position); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil { // catchUp ends quietly when ctx does
		return nil, err
	}
	if seen := p.ms[0].ReplaySeen(); seen != head.Position {
		return nil, fmt.Errorf("as-of replay read to %d, head %d", seen, head.Position)
	}
	return p.ms, nil
}

// asOfProjection runs models of ledger.NewReplay, one per date, as an engine projection for
// one catch-up: its position is the last envelope read (Replay skips those recorded after
// its known-at instant, but reads them). It is never snapshotted.
type asOfProjection struct{ ms []*ledger.Model }

func (p asOfProjection) Apply(e domain.Envelope) error { return ledger.ReplayApplyAll(p.ms, &e, nil) }
func (p asOfProjection) ApplyDecoded(e *domain.Envelope, ev domain.Event) error {
	return ledger.ReplayApplyAll(p.ms, e, ev)
}
func (p asOfProjection) Position() uint64  { return p.ms[0].ReplaySeen() }
func (p asOfProjection) Hash() domain.Hash { return p.ms[0].ReplaySeenHash() }

func (asOfProjection) MarshalBinary() ([]byte, error) {
	return nil, errors.New("engine: an as-of replay has no snapshot")
}

func (asOfProjection) UnmarshalBinary([]byte) error {
	return errors.New("engine: an as-of replay has no snapshot")
}

// LedgerProjection is the engine configuration of the ledger read model; LedgerVersion is
// its version constant: bump it whenever the ledger's state or the meaning of its figures
// changes, so that snapshots made by older code are rebuilt rather than trusted.
const LedgerVersion = 4

// NewLedgerEngine returns an engine running the ledger read model over src, keeping its
// snapshot in dir ("" for none).
func NewLedgerEngine(src Source, dir string, cfg Config[*ledger.Model]) *Engine[*ledger.Model] {
	cfg.Name = "ledger"
	cfg.Version = LedgerVersion
	cfg.New = ledger.New
	cfg.Dir = dir
	return New(src, cfg)
}
