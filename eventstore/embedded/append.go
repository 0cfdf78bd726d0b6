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
	seq             uint64                // groups committed
	pendingVersions map[string]uint64     // streams appended to by groups not yet published
	pendingKeys     map[string]pendingKey // idempotency keys accepted by groups not yet published
	answeredAt      time.Time             // when the last group was answered
	answeredCalls   int                   // and how many calls it had
	cached          []cachedSegment       // the segments written to whose pages are still cached (cache.go)
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
// is closed (Close), committing what was queued before, then closes flights so that the
// syncer publishes what is in flight and ends.
func (s *Store) runWriter() {
	defer close(s.writerDone)
	defer close(s.flights)
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
	f := s.newFlight()
	f.group = s.collect(append(f.group, c))
	taken := len(f.group)
	if !fromQueue {
		taken--
	}
	s.queued.Add(-int64(taken))
	s.lastGroupCalls.Store(int32(len(f.group)))
	if s.commitGroup(f) {
		w.answeredAt, w.answeredCalls = time.Time{}, 0 // answered later, by the syncer: no linger
		return
	}
	w.answeredAt, w.answeredCalls = time.Now(), len(f.group)
	if s.inflight.Load() == 0 { // else the drop-behind state is the syncer's, which drops
		s.dropBehind() // once the group is answered: it delays no acknowledgement (cache.go)
	}
	s.recycle(f)
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

// Pipelined commit. A group's fdatasync takes the disk's time, its encoding and hashing the
// writer's CPU; done one after the other, a bulk import's append pass was the sum of both
// (1.8M events: ~1.4 s of the writer's CPU, ~1 s of writes at ~630 MB/s). So a group of at
// least pipelineBytesMin with calls queued behind it, or any group while one is in flight,
// is written and handed to the syncer goroutine (flights), which syncs it, publishes it and
// answers its calls, while the writer goes on with the next group. Other groups are synced
// and answered by the writer itself, as before: a lone writer has nothing to overlap, and
// for small groups (single events: the disk's time is their whole cost) a hand-over would
// cost a wake-up each and split closed-loop callers into two cohorts that take turns (see
// collect). The syncer syncs every flight waiting for it with one fdatasync per
// segment, and publishes and answers them in order: readers still see only durable events,
// in position order.
//
// Ownership: the writer state (Store.w) is the writing holder's; what durability moves (the
// published index, the drop-behind state of cache.go) is the syncer's while a flight is in
// the air (inflight > 0), and the writer's again once inflight is back to 0.
const (
	pipelineBytesMin = 64 << 10
	flightsMax       = 2 // flights handed to the syncer and not yet taken: the writer waits beyond
)

// flight is one group through the commit: its calls, those accepted, and what it wrote.
type flight struct {
	seq      uint64 // the writer's group number (w.seq)
	group    []*appendCall
	accepted []*appendCall
	chunks   []chunk
	locs     []uint32    // offset of each record of the group in its segment
	next     uint64      // position after its last event
	hash     domain.Hash // of its last event
	prev     domain.Hash // the hash its first event links to
	bytes    int
}

func (s *Store) newFlight() *flight {
	select {
	case f := <-s.freeFlights:
		return f
	default:
		return &flight{}
	}
}

// recycle keeps f's slices for a later group once its calls are answered (their owners reuse
// them, so f must not keep them).
func (s *Store) recycle(f *flight) {
	clear(f.group)
	clear(f.accepted)
	clear(f.chunks)
	*f = flight{group: f.group[:0], accepted: f.accepted[:0], chunks: f.chunks[:0], locs: f.locs[:0]}
	select {
	case s.freeFlights <- f:
	default:
	}
}

// runSyncer syncs, publishes and answers the flights the writer hands it, in order, until
// flights is closed (runWriter, at Close).
func (s *Store) runSyncer() {
	defer close(s.syncerDone)
	batch := make([]*flight, 0, flightsMax+1)
	for f := range s.flights {
		batch = append(batch[:0], f)
	more:
		for len(batch) < cap(batch) {
			select {
			case f, ok := <-s.flights:
				if !ok {
					break more
				}
				batch = append(batch, f)
			default:
				break more
			}
		}
		s.syncFlights(batch)
		for _, f := range batch {
			s.finish(f)
		}
		s.dropBehind()
		for i, f := range batch {
			batch[i] = nil
			s.recycle(f)
		}
		s.inflight.Add(-int64(len(batch)))
	}
}

// syncFlights makes the flights durable: one fdatasync of each segment they wrote to, after
// all their writes. A failed fdatasync fails the store, and every call of them is refused.
func (s *Store) syncFlights(fs []*flight) {
	if err := s.Failed(); err != nil {
		for _, f := range fs {
			s.refuse(f, err)
		}
		return
	}
	for i, f := range fs {
		for j := range f.chunks {
			ch := &f.chunks[j]
			if writtenLater(fs[i:], j) {
				continue // a later chunk of the same segment is synced, and covers it
			}
			err := ch.seg.f.Datasync()
			s.stats.syncs.Add(1)
			if err != nil {
				s.fail(fmt.Errorf("fdatasync %s: %w", ch.seg.name, err))
				for _, f := range fs {
					s.refuse(f, s.Failed())
				}
				return
			}
		}
	}
	for _, f := range fs {
		for j := range f.chunks {
			ch := &f.chunks[j]
			s.noteDurable(ch.seg, ch.off+int64(ch.to-ch.from))
		}
		s.publish(f)
	}
}

// writtenLater reports whether a chunk after fs[0].chunks[j] (in fs[0], or in a flight after
// it) wrote to the same segment.
func writtenLater(fs []*flight, j int) bool {
	seg := fs[0].chunks[j].seg
	for i, g := range fs {
		from := 0
		if i == 0 {
			from = j + 1
		}
		for k := from; k < len(g.chunks); k++ {
			if g.chunks[k].seg == seg {
				return true
			}
		}
	}
	return false
}

// refuse sets err as the answer of every call of f that its write would have answered: the
// accepted ones, and the replays of them within f (same key and hash), none durable. Replays
// of published appends keep their answer.
func (s *Store) refuse(f *flight, err error) {
	for _, c := range f.group {
		if c.err == nil && !c.res.Replayed {
			c.res, c.replayOf = eventstore.AppendResult{}, nil
			c.err = fmt.Errorf("append to %q: %w", c.req.Stream, err)
		}
	}
}

// commitGroup validates each call of f against the committed state plus the calls accepted
// before it (in this group, or in one in flight), encodes the accepted ones into one buffer
// and writes it. It then syncs and publishes it and answers every call itself, or hands f
// to the syncer (handedOff true) when it is large or another group is in flight. Refused
// calls consume no position. A write or sync error fails the store and is every call's
// answer.
func (s *Store) commitGroup(f *flight) (handedOff bool) {
	if err := s.Failed(); err != nil {
		for _, c := range f.group {
			c.err = fmt.Errorf("append to %q: %w", c.req.Stream, err)
		}
		s.finish(f)
		return false
	}
	w := &s.w
	w.seq++
	f.seq = w.seq
	if s.inflight.Load() == 0 {
		// Everything written is published: the committed index answers for the rest.
		clear(w.pendingVersions)
		clear(w.pendingKeys)
	}
	next := w.next
	for _, c := range f.group {
		c.err = s.admit(c, next, f.seq)
		if c.err != nil || c.replayOf != nil || c.res.Replayed {
			continue
		}
		f.accepted = append(f.accepted, c)
		next += uint64(len(c.req.Events))
	}
	if len(f.accepted) == 0 {
		s.finish(f)
		return false
	}
	if err := s.writeGroup(f); err != nil {
		s.fail(err)
		s.refuse(f, s.Failed())
		if s.inflight.Load() == 0 {
			s.finish(f)
			return false
		}
		// Answered after the flights before it, as every group is.
	} else if s.inflight.Load() == 0 && !s.forcePipeline && (f.bytes < pipelineBytesMin || s.queued.Load() == 0) {
		// Small, or nothing queued to write while it syncs: sync it here.
		s.syncFlights([]*flight{f})
		s.finish(f)
		return false
	}
	s.inflight.Add(1)
	s.flights <- f
	return true
}

// finish sets the results of f's replays and counts, then answers every call of f. It answers
// only once every result is set: an answered call goes back to its owner, and a replay of
// this group may have read its result.
func (s *Store) finish(f *flight) {
	for _, c := range f.group {
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
	for _, c := range f.group {
		if c.err != nil {
			s.stats.rejected.Add(1)
		}
		c.done <- struct{}{}
	}
}

// pendingKey is an idempotency key accepted in a group not yet published: its call, and the
// group's number.
type pendingKey struct {
	c   *appendCall
	seq uint64
}

// admit decides one call of group seq: refused (an error), a replay (of a committed append,
// or of one accepted earlier in this group), or accepted with positions from next.
func (s *Store) admit(c *appendCall, next, seq uint64) error {
	w, req := &s.w, &c.req
	if err := c.ctx.Err(); err != nil {
		return fmt.Errorf("append to %q: %w", req.Stream, err)
	}
	if key := req.IdempotencyKey; key != "" {
		first, ok := w.pendingKeys[key]
		if ok && first.seq != seq {
			// Accepted in a group still in flight, whose call goes back to its owner once
			// answered: wait for it to be published, then answer from the index.
			s.waitFlights()
			delete(w.pendingKeys, key)
			ok = false
			if err := s.Failed(); err != nil { // that flight, or another, failed
				return fmt.Errorf("append to %q: %w", req.Stream, err)
			}
		}
		s.mu.RLock() // the syncer publishes while groups are in flight
		e, found := s.idem[key]
		s.mu.RUnlock()
		if found {
			if !bytes.Equal(e.requestHash, req.RequestHash) {
				return fmt.Errorf("append to %q with key %q: %w", req.Stream, key, eventstore.ErrIdempotencyKeyReused)
			}
			c.res = e.appendResult()
			c.res.Replayed = true
			return nil
		}
		if ok {
			if !bytes.Equal(first.c.req.RequestHash, req.RequestHash) {
				return fmt.Errorf("append to %q with key %q: %w", req.Stream, key, eventstore.ErrIdempotencyKeyReused)
			}
			c.replayOf = first.c
			return nil
		}
	}
	cur, ok := w.pendingVersions[req.Stream]
	if !ok {
		s.mu.RLock()
		cur = s.streamVersion(req.Stream)
		s.mu.RUnlock()
	}
	if req.ExpectedVersion != eventstore.AnyVersion && uint64(req.ExpectedVersion) != cur {
		return fmt.Errorf("append to %q: expected version %d, stream is at %d: %w",
			req.Stream, req.ExpectedVersion, cur, eventstore.ErrWrongVersion)
	}
	n := uint64(len(req.Events))
	c.first, c.firstVersion = next, cur+1
	w.pendingVersions[req.Stream] = cur + n
	if req.IdempotencyKey != "" {
		w.pendingKeys[req.IdempotencyKey] = pendingKey{c: c, seq: seq}
	}
	return nil
}

// waitFlights waits until the syncer has published and answered every flight (rare: a retry
// of an append still in flight).
func (s *Store) waitFlights() {
	for s.inflight.Load() > 0 {
		time.Sleep(20 * time.Microsecond)
	}
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

// writeGroup encodes f's accepted calls and writes them (one write per segment touched: one,
// except at a rollover), and advances the writer past them; syncing and publishing them is
// the caller's (commitGroup) or the syncer's.
func (s *Store) writeGroup(f *flight) error {
	w := &s.w
	accepted := f.accepted
	if s.inflight.Load() == 0 {
		// A flight that failed left the writer past the head: write nothing. (The syncer
		// fails the store before it counts the flight out, so this sees the failure.)
		if err := s.Failed(); err != nil {
			return err
		}
		// The chain continues from the committed head (no mu: nothing is being published).
		if w.prev != s.head.Hash || w.next != s.head.Position+1 {
			broken("writer at %d after %s, head %d %s",
				w.next, w.prev, s.head.Position, s.head.Hash)
		}
	}
	at := s.recordedAt()
	f.prev = w.prev
	buf, chunks, locs := w.buf[:0], f.chunks[:0], f.locs[:0]
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
	w.buf, f.chunks, f.locs, f.bytes = buf, chunks, locs, len(buf)
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
	}
	f.next, f.hash = pos, prev
	w.next, w.prev, w.recordedAtNanos = pos, prev, at.UnixNano()
	last := chunks[len(chunks)-1]
	w.seg, w.off = last.seg, last.off+int64(last.to-last.from)
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
func (s *Store) publish(f *flight) {
	accepted, chunks, locs, next, hash := f.accepted, f.chunks, f.locs, f.next, f.hash
	s.mu.Lock()
	defer s.mu.Unlock()
	if f.prev != s.head.Hash { // every group, pipelined or not, continues the published chain
		broken("group linking to %s published after head %d %s", f.prev, s.head.Position, s.head.Hash)
	}
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
	s.stats.groups.Add(1)
	close(s.commitC)
	s.commitC = make(chan struct{})
}
