package embedded

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"runtime"
	"sync"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// appendCall is one Append on its way through the writer. It is a per-call message, as an
// http.Request is, so it carries the caller's context; the writer drops it once answered.
type appendCall struct {
	ctx   context.Context
	req   eventstore.AppendRequest
	bytes int           // record bytes of all its events, computed before queueing
	done  chan struct{} // capacity 1: signalled once res and err are set

	res eventstore.AppendResult
	err error
	// idem is the index entry of an append with an idempotency key, prepared by Append
	// (prepareIdemEntry) for publish to complete.
	idem idemEntry

	// Writer scratch, valid during one group.
	first        uint64      // position of its first event
	firstVersion uint64      // stream version of its first event
	replayOf     *appendCall // an accepted call earlier in the group with the same key and hash
}

var callPool = sync.Pool{New: func() any { return &appendCall{done: make(chan struct{}, 1)} }}

// writer is the state of the single writer: whoever holds Store.writing (runWriter, or an
// Append committing directly). Nothing else touches it.
type writer struct {
	next            uint64      // position of the next event
	prev            domain.Hash // hash of the last committed event
	recordedAtNanos int64       // RecordedAt of the last committed event
	seg             *segment    // segment being written, nil before the first append
	off             int64       // write offset in seg: the end of its last committed record

	buf             []byte
	hasher          hash.Hash
	group, accepted []*appendCall
	chunks          []chunk
	locs            []uint32 // offset of each record of the group in its segment
	pendingVersions map[string]uint64
	pendingKeys     map[string]*appendCall
	answeredAt      time.Time       // when the last group was answered
	answeredCalls   int             // and how many calls it had
	cached          []cachedSegment // the segments written to whose pages are still cached (cache.go)
}

// chunk is the part of a group written to one segment: buf[from:to] at offset off.
type chunk struct {
	seg      *segment // nil: a new segment starting at first
	first    uint64
	off      int64
	from, to int
	records  int
}

// Append appends req.Events atomically to req.Stream. It returns once the events are durable
// (after the fdatasync of the write that holds them) or refused. ctx bounds the wait for room
// in the queue and, once queued, is checked again just before the append is validated; after
// that the append completes whatever ctx does, and Append waits for its outcome (one group
// commit at most).
func (s *Store) Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error) {
	if s.readOnly {
		return eventstore.AppendResult{}, fmt.Errorf("append to %q: %w", req.Stream, ErrReadOnly)
	}
	size, err := s.validate(&req)
	if err != nil {
		s.stats.rejected.Add(1)
		return eventstore.AppendResult{}, err
	}
	if err := s.Failed(); err != nil {
		s.stats.rejected.Add(1)
		return eventstore.AppendResult{}, fmt.Errorf("append to %q: %w", req.Stream, err)
	}
	c := callPool.Get().(*appendCall)
	c.ctx, c.req, c.bytes = ctx, req, size
	if req.IdempotencyKey != "" {
		c.idem = prepareIdemEntry(len(req.Events), func(i int) string { return req.Events[i].EventID }, req.RequestHash)
	}
	s.sendMu.RLock()
	if s.sendClosed {
		s.sendMu.RUnlock()
		s.releaseCall(c)
		return eventstore.AppendResult{}, fmt.Errorf("append to %q: %w", req.Stream, eventstore.ErrClosed)
	}
	// A lone caller (the last group had one call, none is queued, the writer is idle) commits
	// in its own goroutine. Handing its call to the writer goroutine and the answer back cost
	// it ~25 µs on top of its write and fdatasync (BenchmarkOneWriter: two goroutines waking
	// each other across processors), a fifth of a single writer's rate. Under load the
	// callers queue for the writer goroutine as before: with 32 writers, committing directly
	// whenever the writer was idle cost 13 % of the throughput (the writer goroutine, holding
	// a call it took, woke on every group to wait again).
	// queued, not len(reqs): runWriter may hold a call it took, waiting for writing, and a
	// direct group would leave that call for the next group (p99 of 32 writers ×2).
	if s.queued.Load() == 0 && s.lastGroupCalls.Load() <= 1 && s.writing.TryLock() {
		s.stats.direct.Add(1)
		s.commitFrom(c, false)
		s.writing.Unlock()
		s.sendMu.RUnlock()
		<-c.done // answered by commitGroup above
		res, err := c.res, c.err
		s.releaseCall(c)
		return res, err
	}
	s.queued.Add(1)
	select {
	case s.reqs <- c:
	case <-ctx.Done():
		s.queued.Add(-1)
		s.sendMu.RUnlock()
		s.releaseCall(c)
		s.stats.rejected.Add(1)
		return eventstore.AppendResult{}, fmt.Errorf("append to %q: waiting for the writer: %w", req.Stream, ctx.Err())
	}
	s.sendMu.RUnlock()
	<-c.done
	res, err := c.res, c.err
	s.releaseCall(c)
	return res, err
}

func (s *Store) releaseCall(c *appendCall) {
	*c = appendCall{done: c.done}
	callPool.Put(c)
}

func invalid(stream, format string, args ...any) error {
	return fmt.Errorf("append to %q: %s: %w", stream, fmt.Sprintf(format, args...), eventstore.ErrInvalidAppend)
}

// validate checks what needs no state, in the caller's goroutine, and returns the record
// bytes the append will take. Field limits are the canonical decoder's: an event it would
// refuse must never be written.
func (s *Store) validate(req *eventstore.AppendRequest) (int, error) {
	switch {
	case req.Stream == "":
		return 0, invalid(req.Stream, "empty stream name")
	case len(req.Stream) > fieldBytesMax:
		return 0, invalid(req.Stream[:32]+"...", "stream name of %d bytes, want at most %d", len(req.Stream), fieldBytesMax)
	case len(req.Events) == 0:
		return 0, invalid(req.Stream, "no events")
	case len(req.Events) > eventstore.AppendEventsMax:
		return 0, invalid(req.Stream, "%d events, want at most %d", len(req.Events), eventstore.AppendEventsMax)
	case req.ExpectedVersion < eventstore.AnyVersion:
		return 0, invalid(req.Stream, "expected version %d", req.ExpectedVersion)
	case len(req.IdempotencyKey) > fieldBytesMax:
		return 0, invalid(req.Stream, "idempotency key of %d bytes, want at most %d", len(req.IdempotencyKey), fieldBytesMax)
	case req.IdempotencyKey != "" && len(req.RequestHash) != requestHashBytesLen:
		return 0, invalid(req.Stream, "request hash of %d bytes with an idempotency key, want %d", len(req.RequestHash), requestHashBytesLen)
	case req.IdempotencyKey == "" && len(req.RequestHash) != 0:
		return 0, invalid(req.Stream, "request hash without an idempotency key")
	}
	size := 0
	for i := range req.Events {
		e := &req.Events[i]
		switch {
		case e.Stream != req.Stream:
			return 0, invalid(req.Stream, "event %d is for stream %q", i, e.Stream)
		case e.EventID == "":
			return 0, invalid(req.Stream, "event %d has no event id", i)
		case e.Type == "":
			return 0, invalid(req.Stream, "event %d has no type", i)
		case len(e.Data) > dataBytesMax:
			return 0, invalid(req.Stream, "event %d: data of %d bytes, want at most %d", i, len(e.Data), dataBytesMax)
		}
		for _, f := range [...]struct {
			name string
			n    int
		}{{"event_id", len(e.EventID)}, {"type", len(e.Type)}, {"actor", len(e.Actor)},
			{"correlation_id", len(e.CorrelationID)}, {"causation_id", len(e.CausationID)}} {
			if f.n > fieldBytesMax {
				return 0, invalid(req.Stream, "event %d: %s of %d bytes, want at most %d", i, f.name, f.n, fieldBytesMax)
			}
		}
		var rh []byte
		if i == 0 {
			rh = req.RequestHash
		}
		size += recordBytes(e, req.IdempotencyKey, rh)
	}
	if int64(size) > s.segBytes {
		return 0, invalid(req.Stream, "%d bytes of records, more than a segment (%d)", size, s.segBytes)
	}
	return size, nil
}

// runWriter commits the calls queued in reqs: it takes the first one, waits for the writer
// state (an Append may be committing directly), and commits it with those queued behind it
// as one group, one write and one fdatasync, answering every call of it. It runs until reqs
// is closed (Close), committing what was queued before.
func (s *Store) runWriter() {
	defer close(s.writerDone)
	for {
		c, ok := <-s.reqs
		if !ok {
			return
		}
		s.writing.Lock()
		s.commitFrom(c, true)
		s.writing.Unlock()
	}
}

// commitFrom commits one group: c (taken from reqs, or an Append's own) and the calls queued
// behind it (collect). The caller holds writing.
func (s *Store) commitFrom(c *appendCall, fromQueue bool) {
	w := &s.w
	group := s.collect(append(w.group[:0], c))
	taken := len(group)
	if !fromQueue {
		taken--
	}
	s.queued.Add(-int64(taken))
	s.commitGroup(group)
	w.answeredAt, w.answeredCalls = time.Now(), len(group)
	s.lastGroupCalls.Store(int32(len(group)))
	s.dropBehind() // once the group is answered: it delays no acknowledgement (cache.go)
	clear(group)   // drop the answered calls: their owners reuse them
	w.group = group[:0]
}

// collect adds to group the calls waiting in reqs, up to the group limits, and lingers for
// those just answered to come back.
//
// Why linger: with N callers that append in a loop (as request handlers under load do) and
// one fdatasync in flight, a group that takes only what is queued settles into two cohorts
// that alternate, each caller in every other group: N/2 appends per fdatasync (measured:
// 15.9 with 32 writers, ~120k events/s). Callers answered a moment ago come back within
// tens of microseconds, far less than an fdatasync, so waiting for them doubles the events
// per fdatasync (32.0, ~200k events/s, and p50 latency down from ~250 to ~145 µs). The
// writer waits only right after answering a group, only until as many calls are queued as it
// answered, and never past lingerMax: a caller that does not come back costs at most that.
// It yields the processor while it waits, so the callers it waits for can run.
func (s *Store) collect(group []*appendCall) []*appendCall {
	w := &s.w
	events := 0
	for _, c := range group {
		events += len(c.req.Events)
	}
	deadline := w.answeredAt.Add(lingerMax)
	for { // at most until deadline: lingerMax after the previous group was answered
	take:
		for len(group) < groupAppendsMax && events < groupEventsMax {
			select {
			case c, ok := <-s.reqs: // runWriter may take the one len counted: never wait
				if !ok {
					return group // the next receive in runWriter sees the close too
				}
				group, events = append(group, c), events+len(c.req.Events)
			default:
				break take
			}
		}
		if len(group) >= w.answeredCalls || len(group) >= groupAppendsMax || events >= groupEventsMax ||
			!time.Now().Before(deadline) {
			return group
		}
		runtime.Gosched()
	}
}

// commitGroup validates each call against the committed state plus the calls accepted before
// it in the group, encodes the accepted ones into one buffer, writes and syncs it, publishes
// the new head, and answers every call. Refused calls consume no position. A write or sync
// error fails the store and is every call's answer.
func (s *Store) commitGroup(group []*appendCall) {
	answer := func(c *appendCall, err error) {
		if err != nil {
			c.err = err
			s.stats.rejected.Add(1)
		}
		c.done <- struct{}{}
	}
	if err := s.Failed(); err != nil {
		for _, c := range group {
			answer(c, fmt.Errorf("append to %q: %w", c.req.Stream, err))
		}
		return
	}
	w := &s.w
	clear(w.pendingVersions)
	clear(w.pendingKeys)
	accepted := w.accepted[:0]
	next := w.next
	for _, c := range group {
		c.err = s.admit(c, next)
		if c.err != nil || c.replayOf != nil || c.res.Replayed {
			continue
		}
		accepted = append(accepted, c)
		next += uint64(len(c.req.Events))
	}
	w.accepted = accepted
	if len(accepted) > 0 {
		if err := s.writeGroup(accepted); err != nil {
			s.fail(err)
			for _, c := range group {
				c.res = eventstore.AppendResult{}
				c.err = fmt.Errorf("append to %q: %w", c.req.Stream, s.Failed())
			}
		}
	}
	for _, c := range group {
		switch {
		case c.err != nil:
		case c.replayOf != nil:
			c.res = copyResult(c.replayOf.res)
			c.res.Replayed = true
			s.stats.replays.Add(1)
		case c.res.Replayed:
			s.stats.replays.Add(1)
		default:
			s.stats.appends.Add(1)
		}
	}
	// Answer only once every result is set: an answered call goes back to its owner, and a
	// replay above may have read its result.
	for _, c := range group {
		answer(c, c.err)
	}
	clear(accepted)
}

// admit decides one call of a group: refused (an error), a replay (of a committed append, or
// of one accepted earlier in this group), or accepted with positions from next.
func (s *Store) admit(c *appendCall, next uint64) error {
	w, req := &s.w, &c.req
	if err := c.ctx.Err(); err != nil {
		return fmt.Errorf("append to %q: %w", req.Stream, err)
	}
	if key := req.IdempotencyKey; key != "" {
		if e, ok := s.idem[key]; ok { // no mu: the writer is the index's only writer
			if !bytes.Equal(e.requestHash, req.RequestHash) {
				return fmt.Errorf("append to %q with key %q: %w", req.Stream, key, eventstore.ErrIdempotencyKeyReused)
			}
			c.res = e.appendResult()
			c.res.Replayed = true
			return nil
		}
		if first, ok := w.pendingKeys[key]; ok {
			if !bytes.Equal(first.req.RequestHash, req.RequestHash) {
				return fmt.Errorf("append to %q with key %q: %w", req.Stream, key, eventstore.ErrIdempotencyKeyReused)
			}
			c.replayOf = first
			return nil
		}
	}
	cur, ok := w.pendingVersions[req.Stream]
	if !ok {
		cur = s.streamVersion(req.Stream)
	}
	if req.ExpectedVersion != eventstore.AnyVersion && uint64(req.ExpectedVersion) != cur {
		return fmt.Errorf("append to %q: expected version %d, stream is at %d: %w",
			req.Stream, req.ExpectedVersion, cur, eventstore.ErrWrongVersion)
	}
	n := uint64(len(req.Events))
	c.first, c.firstVersion = next, cur+1
	w.pendingVersions[req.Stream] = cur + n
	if req.IdempotencyKey != "" {
		w.pendingKeys[req.IdempotencyKey] = c
	}
	return nil
}

func (s *Store) fail(err error) {
	err = fmt.Errorf("%w: %w", eventstore.ErrFailed, err)
	if s.failure.CompareAndSwap(nil, &err) {
		s.log.Error("eventstore: write failed, refusing appends until reopened", "err", err)
	}
}

// recordedAt is the group's RecordedAt: the clock, in UTC, never before the previous group's.
func (s *Store) recordedAt() time.Time {
	now := s.clock().Round(0).UTC()
	if n := now.UnixNano(); n < s.w.recordedAtNanos {
		return time.Unix(0, s.w.recordedAtNanos).UTC()
	}
	return now
}

// writeGroup encodes the accepted calls, writes them (one write and one fdatasync per
// segment touched: one, except at a rollover), and publishes them.
func (s *Store) writeGroup(accepted []*appendCall) error {
	w := &s.w
	// The chain continues from the committed head (no mu: the writer is its only writer).
	if w.prev != s.head.Hash || w.next != s.head.Position+1 {
		broken("writer at %d after %s, head %d %s",
			w.next, w.prev, s.head.Position, s.head.Hash)
	}
	at := s.recordedAt()
	buf, chunks, locs := w.buf[:0], w.chunks[:0], w.locs[:0]
	prev, pos := w.prev, w.next
	segOff, segCap := w.off, int64(0) // no segment yet: nothing fits, the first call opens one
	if w.seg != nil {
		segCap = w.seg.capBytes
	}
	chunks = append(chunks, chunk{seg: w.seg, first: pos, off: segOff})
	var e domain.Envelope
	for _, c := range accepted {
		if c.first != pos {
			broken("call's first position %d, writer at %d", c.first, pos)
		}
		if segOff+int64(c.bytes) > segCap {
			// An append never spans segments: roll over before it.
			last := &chunks[len(chunks)-1]
			if last.records > 0 {
				last.to = len(buf)
				chunks = append(chunks, chunk{})
			}
			chunks[len(chunks)-1] = chunk{first: pos, from: len(buf)}
			segOff, segCap = 0, s.segBytes
		}
		start := len(buf)
		req := &c.req
		for i := range req.Events {
			e = req.Events[i]
			e.StreamVersion = c.firstVersion + uint64(i)
			e.Position = pos
			e.RecordedAt = at
			e.IdempotencyKey = req.IdempotencyKey
			e.RequestHash = nil
			if i == 0 {
				e.RequestHash = req.RequestHash
			}
			e.PrevHash = prev
			rec := len(buf)
			buf = append(buf, make([]byte, recordHeaderBytes)...)
			buf = domain.AppendCanonical(buf, &e)
			w.hasher.Reset()
			w.hasher.Write(prev[:])
			w.hasher.Write(buf[rec+recordHeaderBytes:])
			buf = w.hasher.Sum(buf)
			copy(prev[:], buf[len(buf)-hashBytes:])
			payload := buf[rec+recordHeaderBytes:]
			magic := magicContinue
			if i == len(req.Events)-1 {
				magic = magicCommit
			}
			binary.BigEndian.PutUint32(buf[rec:], magic)
			binary.BigEndian.PutUint32(buf[rec+4:], uint32(len(payload)))
			binary.BigEndian.PutUint32(buf[rec+8:], crc32.Checksum(payload, castagnoli))
			locs = append(locs, uint32(segOff))
			segOff += int64(len(buf) - rec)
			chunks[len(chunks)-1].records++
			pos++
		}
		if len(buf)-start != c.bytes {
			broken("append to %q encoded to %d bytes, predicted %d", req.Stream, len(buf)-start, c.bytes)
		}
	}
	chunks[len(chunks)-1].to = len(buf)
	w.buf, w.chunks, w.locs = buf, chunks, locs
	if cap(w.buf) > groupBufferKeepBytesMax {
		w.buf = nil
	}

	for i := range chunks {
		ch := &chunks[i]
		if ch.seg == nil {
			seg, err := s.createSegment(ch.first)
			if err != nil {
				return err
			}
			ch.seg = seg
		}
		if ch.off+int64(ch.to-ch.from) > ch.seg.capBytes {
			broken("chunk of %d bytes at %d overflows segment %s",
				ch.to-ch.from, ch.off, ch.seg.name)
		}
		if _, err := ch.seg.f.WriteAt(buf[ch.from:ch.to], ch.off); err != nil {
			return fmt.Errorf("write %s at %d: %w", ch.seg.name, ch.off, err)
		}
		s.stats.bytes.Add(uint64(ch.to - ch.from))
		if i == len(chunks)-1 {
			if err := s.zeroAhead(ch.seg, ch.off+int64(ch.to-ch.from), ch.to-ch.from); err != nil {
				return err
			}
		}
		err := ch.seg.f.Datasync()
		s.stats.syncs.Add(1)
		if err != nil {
			return fmt.Errorf("fdatasync %s: %w", ch.seg.name, err)
		}
		s.noteDurable(ch.seg, ch.off+int64(ch.to-ch.from))
	}
	s.publish(accepted, chunks, locs, pos, prev)
	w.next, w.prev, w.recordedAtNanos = pos, prev, at.UnixNano()
	last := chunks[len(chunks)-1]
	w.seg, w.off = last.seg, last.off+int64(last.to-last.from)
	s.stats.groups.Add(1)
	return nil
}

// zeroAhead writes zeros after a small write that ends at end beyond what the writer zeroed
// so far, up to zeroAheadBytes further (see the preallocation note in store.go). They go to
// disk with the group's fdatasync. Only the writer writes at or after the committed end, so
// the zeros never cover a record.
func (s *Store) zeroAhead(seg *segment, end int64, written int) error {
	if end <= seg.zeroedTo || written >= zeroAheadWriteBytesMax {
		return nil
	}
	to := min(seg.capBytes, end+zeroAheadBytes)
	if to > end {
		if _, err := seg.f.WriteAt(zeroChunk[:to-end], end); err != nil {
			return fmt.Errorf("write zeros to %s at %d: %w", seg.name, end, err)
		}
	}
	seg.zeroedTo = to
	return nil
}

// publish makes a synced group visible to readers and sets each accepted call's result.
func (s *Store) publish(accepted []*appendCall, chunks []chunk, locs []uint32, next uint64, hash domain.Hash) {
	s.mu.Lock()
	defer s.mu.Unlock()
	oldHead := s.head.Position
	li := 0
	for _, ch := range chunks {
		if ch.first != ch.seg.first+uint64(len(ch.seg.offsets)) {
			broken("chunk at position %d, segment %s holds %d..%d",
				ch.first, ch.seg.name, ch.seg.first, ch.seg.first+uint64(len(ch.seg.offsets))-1)
		}
		ch.seg.offsets = append(ch.seg.offsets, locs[li:li+ch.records]...)
		li += ch.records
		ch.seg.end = ch.off + int64(ch.to-ch.from)
	}
	events := 0
	for _, c := range accepted {
		req := &c.req
		n := len(req.Events)
		si := s.streams[req.Stream]
		if si == nil {
			si = &streamIndex{}
			s.streams[req.Stream] = si
		}
		if uint64(len(si.positions))+1 != c.firstVersion {
			broken("stream %q at version %d, call starts at %d",
				req.Stream, len(si.positions), c.firstVersion)
		}
		ids := make([]string, n)
		for i := range req.Events {
			si.positions = append(si.positions, c.first+uint64(i))
			ids[i] = req.Events[i].EventID
		}
		c.res = eventstore.AppendResult{
			Stream:        req.Stream,
			StreamVersion: uint64(len(si.positions)), // Version == len(stream positions)
			Position:      c.first + uint64(n) - 1,
			EventIDs:      ids,
		}
		if c.res.StreamVersion != c.firstVersion+uint64(n)-1 {
			broken("stream %q version %d after append, want %d",
				req.Stream, c.res.StreamVersion, c.firstVersion+uint64(n)-1)
		}
		if req.IdempotencyKey != "" {
			e := c.idem // its ids and request hash are copies (prepareIdemEntry)
			e.setResult(eventstore.AppendResult{Stream: c.res.Stream, StreamVersion: c.res.StreamVersion, Position: c.res.Position})
			s.idem[req.IdempotencyKey] = e
		}
		events += n
	}
	// Positions contiguous: the group continues the head exactly.
	if li != len(locs) || oldHead+uint64(events) != next-1 {
		broken("group of %d events from head %d ends at %d",
			events, oldHead, next-1)
	}
	s.head = eventstore.Head{Position: next - 1, Hash: hash}
	s.stats.events.Add(uint64(events))
	close(s.commitC)
	s.commitC = make(chan struct{})
}
