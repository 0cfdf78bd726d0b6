package engine

import (
	"context"
	"fmt"
	"runtime"
	"sync"
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

// PageReader is implemented by a store that can read a page of the log into buffers the
// caller passes back for the next page, envelopes aliasing the bytes read (the embedded
// store): a catch-up then allocates nothing per event to read. hashed false skips
// recomputing the chain hashes, as UnhashedReader does.
type PageReader interface {
	ReadPage(ctx context.Context, fromPosition uint64, limit int, hashed bool, envs []domain.Envelope, buf []byte) ([]domain.Envelope, []byte, error)
}

// DecodedApplier is a Projection that can apply an envelope whose event the engine has
// decoded beforehand: the catch-up decodes on its reading cores. *ledger.Model is one. The
// event may alias the envelope's bytes (domain.DecodeEventView), which the engine reuses
// once the page is applied: the projection copies whatever it keeps of either.
type DecodedApplier interface {
	ApplyDecoded(*domain.Envelope, domain.Event) error
}

// catchUpPagesAhead is how many pages each catch-up reader may read ahead of the applier.
const catchUpPagesAhead = 4

// catchUpRangeLen is how many positions a catch-up reader reads at a time, in one page, from
// a PageReader (the embedded store; others are read eventstore.ReadLimitMax at a time).
// Small enough that the pages in flight (readers × catchUpPagesAhead, ~180 KB each) stay in
// the cores' caches between the reading, the decoding and the applying: pages of
// ReadLimitMax events (3.5 MB) were read from memory on each of those passes. CPU per
// event of a 1M replay, 10,000 → 512: −21 % (benchstat, n=6, p=0.015).
const catchUpRangeLen = 512

// catchUpReadersMax bounds the catch-up's reading goroutines (one per core up to it).
const catchUpReadersMax = 8

// catchUpPage is one read of the log and, for a DecodedApplier, its decoded events. Its
// buffers go back to the reader that filled them once applied.
type catchUpPage struct {
	envs []domain.Envelope
	evs  []domain.Event   // envs' events decoded, nil where not (or when not wanted)
	buf  []byte           // the bytes envs alias (PageReader)
	slab domain.EventSlab // the events evs point to (PageReader)
	last bool             // the last page of its range
	// linked: each envelope's PrevHash is the Hash of the one before it in envs (checked
	// by the reader).
	linked bool
	err    error
}

// catchUpReader reads every readers-th range of the log for the catch-up.
type catchUpReader struct {
	out  chan *catchUpPage // filled pages, in position order
	free chan *catchUpPage // pages the applier is done with
}

// catchUp applies the log from pos+1 to head before Run subscribes. The log is cut in ranges
// of catchUpRangeLen positions (ReadLimitMax from a store that is not a PageReader); one
// goroutine per core reads every n-th range (the store's reading, checksums and, unless
// skipped, the chain hashes; and the decoding of the events for a DecodedApplier) while
// this one applies them in position order, so a replay keeps every core busy whichever
// side costs more. It returns how many envelopes it applied.
// Envelopes are checked (position, link) and applied as in Run, applyBatchMax at a time
// under the write lock so readers are not starved.
func (e *Engine[P]) catchUp(ctx context.Context, pos, head uint64) (uint64, error) {
	started := time.Now()
	read := e.pageReader()
	_, decode := any(e.p).(DecodedApplier)
	rangeLen := uint64(eventstore.ReadLimitMax) // a remote store: fewer round trips
	if _, local := e.src.(PageReader); local && decode {
		rangeLen = catchUpRangeLen
	}
	ranges := (head - pos + rangeLen - 1) / rangeLen
	n := int(min(uint64(min(runtime.GOMAXPROCS(0), catchUpReadersMax)), ranges))
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()
	readers := make([]catchUpReader, n)
	for w := range readers {
		r := catchUpReader{out: make(chan *catchUpPage, catchUpPagesAhead), free: make(chan *catchUpPage, catchUpPagesAhead)}
		for range catchUpPagesAhead {
			r.free <- &catchUpPage{}
		}
		readers[w] = r
		wg.Add(1)
		go func() { // ends after its last range, on a read error, or when catchUp returns (cancel)
			defer wg.Done()
			for k := uint64(w); k < ranges; k += uint64(n) {
				first, last := pos+1+k*rangeLen, min(head, pos+(k+1)*rangeLen)
				for next := first; next <= last; {
					var p *catchUpPage
					select {
					case p = <-r.free:
					case <-ctx.Done():
						return
					}
					p.err = read(ctx, next, int(last-next+1), p)
					if p.err == nil && len(p.envs) == 0 {
						p.err = fmt.Errorf("read from %d below the head %d returned nothing", next, head)
					}
					if p.err == nil {
						next = p.envs[len(p.envs)-1].Position + 1
						p.last = next > last
						p.linked = linkedPage(p.envs)
						if decode {
							decodePage(p, p.buf != nil)
						}
					}
					select {
					case r.out <- p:
					case <-ctx.Done():
						return
					}
					if p.err != nil {
						return
					}
				}
			}
		}()
	}
	applied := uint64(0)
	for k := uint64(0); k < ranges; k++ {
		r := readers[k%uint64(n)]
		for done := false; !done; {
			var page *catchUpPage
			select {
			case page = <-r.out:
			case <-ctx.Done():
				return applied, nil // Run's context ended: Run subscribes, sees it and stops cleanly
			}
			if page.err != nil {
				if ctx.Err() != nil {
					return applied, nil
				}
				return applied, fmt.Errorf("engine %s: catch up from %d: %w", e.cfg.Name, e.position.Load()+1, page.err)
			}
			for envs, evs := page.envs, page.evs; len(envs) > 0; {
				b := min(len(envs), applyBatchMax)
				var batchEvs []domain.Event
				if evs != nil {
					batchEvs, evs = evs[:b], evs[b:]
				}
				n, err := e.applyBatch(envs[:b], batchEvs, page.linked)
				applied += uint64(n)
				if err != nil {
					if applied > 0 {
						e.snapshot()
					}
					return applied, err
				}
				envs = envs[b:]
			}
			done = page.last
			clear(page.evs) // the events alias the buffer the reader fills next
			r.free <- page
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

// pageReader returns how the catch-up reads a page: into the page's own buffers from a
// PageReader for a DecodedApplier, otherwise with ReadAll (ReadAllUnhashed when the chain verification is
// skipped and the store offers it).
func (e *Engine[P]) pageReader() func(ctx context.Context, from uint64, limit int, p *catchUpPage) error {
	hashed := !e.cfg.SkipChainVerification
	// Only a DecodedApplier promises to copy what it keeps of an envelope: any other
	// projection gets envelopes of their own.
	_, decoded := any(e.p).(DecodedApplier)
	if pr, ok := e.src.(PageReader); ok && decoded {
		return func(ctx context.Context, from uint64, limit int, p *catchUpPage) (err error) {
			if p.buf == nil {
				p.buf = []byte{}
			}
			p.envs, p.buf, err = pr.ReadPage(ctx, from, limit, hashed, p.envs, p.buf)
			return err
		}
	}
	read := e.src.ReadAll
	if ur, ok := e.src.(UnhashedReader); ok && !hashed {
		read = ur.ReadAllUnhashed
	}
	return func(ctx context.Context, from uint64, limit int, p *catchUpPage) (err error) {
		p.envs, err = read(ctx, from, limit)
		return err
	}
}

// decodePage decodes the events of p's envelopes for a DecodedApplier, as views of the
// page's bytes held in the page's slab when view. An envelope that does not decode is left to the projection's
// Apply, which skips it or says why it cannot apply it.
func decodePage(p *catchUpPage, view bool) {
	if cap(p.evs) < len(p.envs) {
		p.evs = make([]domain.Event, len(p.envs))
	}
	p.evs = p.evs[:len(p.envs)]
	p.slab.Reset()
	for i := range p.envs {
		e := &p.envs[i]
		if view {
			p.evs[i], _ = domain.DecodeEventView(e.Type, e.SchemaVersion, e.Data, &p.slab)
		} else {
			p.evs[i], _ = domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
		}
	}
}

// linkedPage reports whether each envelope of envs links to the one before it.
func linkedPage(envs []domain.Envelope) bool {
	for i := 1; i < len(envs); i++ {
		if envs[i].PrevHash != envs[i-1].Hash {
			return false
		}
	}
	return true
}
