package embedded

import (
	"context"
	"crypto/sha256"
	"fmt"
	"hash"
	"hash/crc32"
	"slices"
	"sort"
	"sync"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// span is a run of records with consecutive positions, adjacent in one segment: record i has
// position first+i and lies at offs[i]..offs[i+1].
type span struct {
	seg   *segment // only its immutable f and name are used outside mu
	first uint64
	offs  []int64
}

func readLimit(limit int) int {
	if limit <= 0 || limit > eventstore.ReadLimitMax {
		return eventstore.ReadLimitMax
	}
	return limit
}

// ReadAll returns up to limit events (eventstore.ReadLimitMax when limit <= 0 or above it)
// with Position >= fromPosition, in position order. It reads the records with one ReadAt per
// segment and checks each one's hash and link to the one before; the hash covers the bytes
// the CRC covers, so the CRC is computed only to say why a record failed (readSpansInto).
// A flip in a header's stored CRC alone thus goes unnoticed here, with every byte of the
// event intact; ReadAllUnhashed, Open's scan and Verify report it.
func (s *Store) ReadAll(ctx context.Context, fromPosition uint64, limit int) ([]domain.Envelope, error) {
	return s.readAll(ctx, fromPosition, limit, true)
}

// ReadAllUnhashed is ReadAll without recomputing each record's SHA-256: it checks each
// record's CRC-32C, position and link (prev_hash equals the stored hash of the record before)
// and returns the stored hashes. Open checked every record's hash, and a record changed since
// fails its CRC, so a projection catching up can skip the hashing (its cost bounds a
// verified replay); Verify and ReadAll still recompute every hash.
func (s *Store) ReadAllUnhashed(ctx context.Context, fromPosition uint64, limit int) ([]domain.Envelope, error) {
	return s.readAll(ctx, fromPosition, limit, false)
}

func (s *Store) readAll(ctx context.Context, fromPosition uint64, limit int, hashed bool) ([]domain.Envelope, error) {
	envs, _, err := s.readPage(ctx, fromPosition, limit, hashed, nil, nil)
	return envs, err
}

// ReadPage is ReadAll (hashed) or ReadAllUnhashed (not hashed) for a reader that keeps
// nothing of what it reads, a projection catching up: the envelopes are decoded into envs
// (its capacity reused) and their strings and data alias buf (its capacity reused, the
// bytes of the records read), which ReadPage returns for the next call. Nothing is copied
// per envelope, so a replay allocates nothing per event here; the caller must be done with
// the envelopes, and anything taken from them, before it passes envs and buf again.
func (s *Store) ReadPage(ctx context.Context, fromPosition uint64, limit int, hashed bool, envs []domain.Envelope, buf []byte) ([]domain.Envelope, []byte, error) {
	if buf == nil {
		buf = []byte{} // non-nil: a view
	}
	return s.readPage(ctx, fromPosition, limit, hashed, envs, buf)
}

// readPage reads like ReadAll; with a nil buf it copies the envelopes' bytes, otherwise
// they alias buf (ReadPage).
func (s *Store) readPage(ctx context.Context, fromPosition uint64, limit int, hashed bool, envs []domain.Envelope, buf []byte) ([]domain.Envelope, []byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, buf, err
	}
	fromPosition, limit = max(fromPosition, 1), readLimit(limit)
	s.fileMu.RLock()
	defer s.fileMu.RUnlock()
	if s.filesClosed {
		return nil, buf, fmt.Errorf("read from position %d: %w", fromPosition, eventstore.ErrClosed)
	}
	s.mu.RLock()
	spans := s.spansFrom(fromPosition, limit)
	s.mu.RUnlock()
	return s.readSpansInto(spans, true, hashed, envs, buf)
}

// spansFrom returns the spans of up to limit positions from from. The caller holds mu.
func (s *Store) spansFrom(from uint64, limit int) []span {
	head := s.head.Position
	if from > head {
		return nil
	}
	last := min(head, from+uint64(limit)-1)
	var spans []span
	budget := int64(readBytesMax)
	for p := from; p <= last && budget > 0; {
		i := sort.Search(len(s.segs), func(i int) bool { return s.segs[i].first > p }) - 1
		if i < 0 {
			broken("position %d before the first segment", p)
		}
		seg := s.segs[i]
		k, kLast := p-seg.first, min(last, seg.first+uint64(len(seg.offsets))-1)-seg.first
		sp := span{seg: seg, first: p, offs: make([]int64, 0, kLast-k+2)}
		for ; k <= kLast && budget > 0; k++ {
			start := int64(seg.offsets[k])
			sp.offs = append(sp.offs, start)
			end := seg.end
			if k+1 < uint64(len(seg.offsets)) {
				end = int64(seg.offsets[k+1])
			}
			budget -= end - start
			p++
		}
		end := seg.end
		if k < uint64(len(seg.offsets)) {
			end = int64(seg.offsets[k])
		}
		sp.offs = append(sp.offs, end)
		spans = append(spans, sp)
	}
	return spans
}

// ReadStream returns up to limit events (eventstore.ReadLimitMax when limit <= 0 or above
// it) of stream with StreamVersion >= fromVersion, in version order. It finds them in the
// stream's position index, never by scanning the log.
func (s *Store) ReadStream(ctx context.Context, stream string, fromVersion uint64, limit int) ([]domain.Envelope, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	fromVersion, limit = max(fromVersion, 1), readLimit(limit)
	s.fileMu.RLock()
	defer s.fileMu.RUnlock()
	if s.filesClosed {
		return nil, fmt.Errorf("read stream %q: %w", stream, eventstore.ErrClosed)
	}
	s.mu.RLock()
	var spans []span
	if si := s.streams[stream]; si != nil && fromVersion <= uint64(len(si.positions)) {
		ps := si.positions[fromVersion-1:]
		ps = ps[:min(len(ps), limit)]
		budget := int64(readBytesMax)
		for i, p := range ps {
			seg, start, end := s.locate(p)
			merged := false
			if i > 0 {
				last := &spans[len(spans)-1]
				if last.seg == seg && last.first+uint64(len(last.offs))-1 == p && last.offs[len(last.offs)-1] == start {
					last.offs = append(last.offs, end) // the next record of the same run
					merged = true
				}
			}
			if !merged {
				spans = append(spans, span{seg: seg, first: p, offs: []int64{start, end}})
			}
			if budget -= end - start; budget <= 0 {
				break
			}
		}
	}
	s.mu.RUnlock()
	return s.readSpans(spans, false, true)
}

var readHashers = sync.Pool{New: func() any { return sha256.New() }}

// readSpans reads and checks the records of spans. The caller holds fileMu's read lock.
// A CRC mismatch is damage since Open (ErrCorrupt); a CRC-valid record with a wrong hash,
// position or link was written wrong, which is a broken invariant (Open checked every
// record, the writer writes only checked ones).
// hashed false skips recomputing the hashes (ReadAllUnhashed).
func (s *Store) readSpans(spans []span, linked, hashed bool) ([]domain.Envelope, error) {
	envs, _, err := s.readSpansInto(spans, linked, hashed, nil, nil)
	return envs, err
}

// readSpansInto is readSpans decoding into envs' capacity; with a non-nil buf, the records
// are read into its capacity and the envelopes alias it (ReadPage), otherwise they are
// copies. It returns the buffer the records were read into.
func (s *Store) readSpansInto(spans []span, linked, hashed bool, envs []domain.Envelope, buf []byte) ([]domain.Envelope, []byte, error) {
	view := buf != nil
	n, size := 0, int64(0)
	for _, sp := range spans {
		n += len(sp.offs) - 1
		size += sp.offs[len(sp.offs)-1] - sp.offs[0]
	}
	if n == 0 {
		if envs == nil {
			return []domain.Envelope{}, buf, nil
		}
		return envs[:0], buf, nil
	}
	var h hash.Hash
	if hashed {
		h = readHashers.Get().(hash.Hash)
		defer readHashers.Put(h)
	}
	out := slices.Grow(envs[:0], n)[:n]
	if int64(cap(buf)) < size {
		buf = make([]byte, size)
	}
	rest := buf[:size]
	j := 0
	for _, sp := range spans {
		base := sp.offs[0]
		spanBuf := rest[:sp.offs[len(sp.offs)-1]-base]
		rest = rest[len(spanBuf):]
		if _, err := sp.seg.f.ReadAt(spanBuf, base); err != nil {
			return nil, buf, fmt.Errorf("read %s at %d: %w", sp.seg.name, base, err)
		}
		for i := 0; i < len(sp.offs)-1; i++ {
			pos, off := sp.first+uint64(i), sp.offs[i]
			rec := spanBuf[off-base : sp.offs[i+1]-base]
			e := &out[j]
			// Hashed, the record's SHA-256 covers every byte its CRC covers (the payload),
			// and more surely: the CRC is computed only to tell damage since Open from a
			// record written wrong when the decoding or the hash fails (~3 % of a verified
			// 1M replay's CPU profile otherwise).
			reason := checkHeader(rec)
			if reason == "" && !hashed && !crcValid(rec) {
				reason = "CRC mismatch"
			}
			if reason != "" {
				return nil, buf, &CorruptError{Segment: sp.seg.name, Offset: off, Position: pos, Reason: reason}
			}
			err := decodePayload(h, rec[recordHeaderBytes:], e, view)
			if err != nil {
				if hashed && !crcValid(rec) {
					return nil, buf, &CorruptError{Segment: sp.seg.name, Offset: off, Position: pos, Reason: "CRC mismatch"}
				}
				broken("%s at %d (position %d) passed its CRC but not its decoding: %v", sp.seg.name, off, pos, err)
			}
			if e.Position != pos {
				broken("%s at %d holds position %d, index says %d", sp.seg.name, off, e.Position, pos)
			}
			if linked && j > 0 {
				if e.PrevHash != out[j-1].Hash {
					broken("position %d: prev_hash %s, previous event's hash %s", pos, e.PrevHash, out[j-1].Hash)
				}
			}
			j++
		}
	}
	return out, buf, nil
}

// checkFrame checks a whole record's header and CRC; it returns why it is bad, or "".
func checkFrame(rec []byte) string {
	if reason := checkHeader(rec); reason != "" {
		return reason
	}
	if !crcValid(rec) {
		return "CRC mismatch"
	}
	return ""
}

// checkHeader checks a record's magic and payload length against the index's extent of it.
func checkHeader(rec []byte) string {
	if len(rec) < recordHeaderBytes {
		return fmt.Sprintf("record of %d bytes", len(rec))
	}
	h := parseHeader(rec)
	switch {
	case !h.magicValid():
		return fmt.Sprintf("bad magic %#08x", h.magic)
	case int(h.payloadLen) != len(rec)-recordHeaderBytes:
		return fmt.Sprintf("payload length %d, index says %d", h.payloadLen, len(rec)-recordHeaderBytes)
	}
	return ""
}

// crcValid reports whether the CRC of a record whose header checkHeader accepted matches
// its payload.
func crcValid(rec []byte) bool {
	return crc32.Checksum(rec[recordHeaderBytes:], castagnoli) == parseHeader(rec).crc
}

// Subscribe delivers every event with Position >= fromPosition in position order: the stored
// ones first, then each group as it is acknowledged. One goroutine per subscription reads
// batches with ReadAll and, once caught up, waits for the next commit; it ends when ctx is
// done, when the store closes (Err nil for both), or when a read fails (Err says why).
func (s *Store) Subscribe(ctx context.Context, fromPosition uint64) (eventstore.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.subMu.Lock()
	defer s.subMu.Unlock()
	if s.subsClosed {
		return nil, fmt.Errorf("subscribe from %d: %w", fromPosition, eventstore.ErrClosed)
	}
	sub := &subscription{c: make(chan domain.Envelope, subscribeBufferMax)}
	s.wg.Add(1)
	go s.runSubscription(ctx, sub, max(fromPosition, 1)) // ends on ctx.Done, stop (Close) or a read error
	return sub, nil
}

func (s *Store) runSubscription(ctx context.Context, sub *subscription, next uint64) {
	defer s.wg.Done()
	defer close(sub.c)
	var prev domain.Hash // hash of position next-1, once read
	linked := false
	for { // until ctx is done, the store closes, or a read fails
		s.mu.RLock()
		head, commit := s.head.Position, s.commitC
		s.mu.RUnlock()
		if next > head {
			select {
			case <-commit:
				continue
			case <-ctx.Done():
				return
			case <-s.stop:
				return
			}
		}
		batch, err := s.ReadAll(ctx, next, subscribeBatchMax)
		if err != nil {
			if ctx.Err() == nil {
				sub.setErr(fmt.Errorf("subscription at position %d: %w", next, err))
			}
			return
		}
		if len(batch) == 0 || batch[0].Position != next {
			broken("read from %d below head %d returned %d events", next, head, len(batch))
		}
		if linked && batch[0].PrevHash != prev {
			broken("position %d: prev_hash %s, previous event's hash %s", next, batch[0].PrevHash, prev)
		}
		for _, e := range batch {
			select {
			case sub.c <- e:
			case <-ctx.Done():
				return
			case <-s.stop:
				return
			}
		}
		last := batch[len(batch)-1]
		next, prev, linked = last.Position+1, last.Hash, true
	}
}

type subscription struct {
	c   chan domain.Envelope
	mu  sync.Mutex
	err error
}

func (sub *subscription) C() <-chan domain.Envelope { return sub.c }

func (sub *subscription) Err() error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.err
}

func (sub *subscription) setErr(err error) {
	sub.mu.Lock()
	sub.err = err
	sub.mu.Unlock()
}
