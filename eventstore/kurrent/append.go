package kurrent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// Field limits: the canonical decoder's (domain.AppendCanonical), so an event it would refuse
// is never written.
const (
	fieldBytesMax       = 1 << 10 // ids, stream names, actor, keys
	dataBytesMax        = 1 << 20 // one event's data
	requestHashBytesLen = sha256.Size
)

// Internal retries of Append: the writer reloads the tail from the server and tries again.
var (
	// errLostRace: another Store appended to the log first.
	errLostRace = errors.New("lost the race for the log")
	// errStaleTail: the remembered tail may be behind another Store's appends.
	errStaleTail = errors.New("tail may be stale")
)

// tail is what the writer knows of the end of the log. It is exact as long as no other Store
// appended since; an append at the wrong expected revision of the log says when that is not
// so, and the writer reloads it.
type tail struct {
	known   bool
	last    *batch // the last append in the log; nil when the log is empty
	indexed bool   // last's links and idempotency record are written
	// versions holds stream versions as of last, for the streams the writer has looked at.
	versions map[string]uint64
}

// revision is the log revision of the last event, -1 when the log is empty.
func (t *tail) revision() int64 {
	if t.last == nil {
		return -1
	}
	return int64(t.last.last().Position) - 1
}

// loadTail reads the last append of the log from the server.
func (s *Store) loadTail(ctx context.Context) error {
	last, err := s.readLastBatch(ctx)
	if err != nil {
		return fmt.Errorf("read the head of the log: %w", err)
	}
	s.tail = tail{known: true, last: last, indexed: last == nil, versions: make(map[string]uint64)}
	return nil
}

// indexTail writes the indexes of the last append, if they may be missing.
func (s *Store) indexTail(ctx context.Context) error {
	t := &s.tail
	if t.indexed {
		return nil
	}
	if err := s.ensureIndexed(ctx, t.last); err != nil {
		return fmt.Errorf("index the append at positions %d..%d: %w", t.last.first().Position, t.last.last().Position, err)
	}
	t.indexed = true
	t.versions[t.last.last().Stream] = t.last.last().StreamVersion
	return nil
}

// ensureIndexed writes b's links into its stream's index and its idempotency record. Both
// writes carry IDs derived from b's event IDs at the revision they belong to, so writing what
// is there already is one of KurrentDB's idempotent writes; a WrongExpectedVersion is read
// back and accepted when the index already holds b.
func (s *Store) ensureIndexed(ctx context.Context, b *batch) error {
	first := b.first()
	links := make([]esdb.EventData, len(b.events))
	for i := range b.events {
		links[i] = linkEvent(s.logStream, uuid.MustParse(b.events[i].EventID), b.events[i].Position-1)
	}
	var want esdb.ExpectedRevision = esdb.NoStream{}
	if first.StreamVersion > 1 {
		want = esdb.Revision(first.StreamVersion - 2)
	}
	err := s.appendTo(ctx, s.ns+first.Stream, want, links)
	if code(err) == esdb.ErrorCodeWrongExpectedVersion {
		// Not answered as an idempotent write: look at what the index holds there. Another
		// Store may have written these links, and appended more to the stream since.
		got, rerr := s.read(ctx, s.ns+first.Stream, esdb.Revision(first.StreamVersion-1), esdb.Forwards, uint64(len(links)), false)
		if rerr != nil {
			return rerr
		}
		if len(got) != len(links) {
			return fmt.Errorf("index of %q: %d links from version %d, the log has %d: %w", first.Stream, len(got), first.StreamVersion, len(links), eventstore.ErrCorrupt)
		}
		for i, ev := range got {
			if ev.OriginalEvent().EventID != links[i].EventID {
				return fmt.Errorf("index of %q at version %d: link %s, want %s: %w", first.Stream, first.StreamVersion+uint64(i), ev.OriginalEvent().EventID, links[i].EventID, eventstore.ErrCorrupt)
			}
		}
		err = nil
	}
	if err != nil {
		return fmt.Errorf("write the index of %q: %w", first.Stream, err)
	}
	key := first.IdempotencyKey
	if key == "" {
		return nil
	}
	rec := b.idemRecord()
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	err = s.appendTo(ctx, s.idemStream(key), esdb.NoStream{}, []esdb.EventData{{
		EventID: idemID(uuid.MustParse(first.EventID)), EventType: idemEventType, ContentType: esdb.ContentTypeJson, Data: data}})
	if code(err) == esdb.ErrorCodeWrongExpectedVersion {
		got, found, rerr := s.readIdem(ctx, key)
		if rerr != nil {
			return rerr
		}
		if !found || got.Position != rec.Position {
			return fmt.Errorf("idempotency key %q recorded for position %d, the log has it at %d: %w", key, got.Position, rec.Position, eventstore.ErrCorrupt)
		}
		err = nil
	}
	if err != nil {
		return fmt.Errorf("write the idempotency record of %q: %w", key, err)
	}
	return nil
}

// idemStream is the KurrentDB stream of key's idempotency record.
func (s *Store) idemStream(key string) string {
	h := sha256.Sum256([]byte(key))
	return s.ns + idemStreamPrefix + hex.EncodeToString(h[:])
}

// readIdem reads key's idempotency record.
func (s *Store) readIdem(ctx context.Context, key string) (idemRecord, bool, error) {
	evs, err := s.read(ctx, s.idemStream(key), esdb.Start{}, esdb.Forwards, 1, false)
	if err != nil || len(evs) == 0 {
		return idemRecord{}, false, err
	}
	var rec idemRecord
	if err := json.Unmarshal(evs[0].OriginalEvent().Data, &rec); err != nil || rec.Key != key {
		return idemRecord{}, false, fmt.Errorf("idempotency record of %q: %v: %w", key, err, eventstore.ErrCorrupt)
	}
	return rec, true, nil
}

// indexVersion reads the version of stream from its index: the number of links in it.
func (s *Store) indexVersion(ctx context.Context, stream string) (uint64, error) {
	evs, err := s.read(ctx, s.ns+stream, esdb.End{}, esdb.Backwards, 1, false)
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	return evs[0].OriginalEvent().EventNumber + 1, nil
}

// readLastEvent reads the last event of the log; nil when the log is empty.
func (s *Store) readLastEvent(ctx context.Context) (*domain.Envelope, *logMeta, error) {
	evs, err := s.read(ctx, s.logStream, esdb.End{}, esdb.Backwards, 1, false)
	if err != nil || len(evs) == 0 {
		return nil, nil, err
	}
	e, m, _, err := decodeLogEvent(evs[0].OriginalEvent(), nil)
	if err != nil {
		return nil, nil, err
	}
	if m.BatchIndex != m.BatchEvents-1 {
		return nil, nil, fmt.Errorf("the log ends inside an append (event %d of %d): %w", m.BatchIndex+1, m.BatchEvents, eventstore.ErrCorrupt)
	}
	return &e, &m, nil
}

// readLastBatch reads the last append of the log; nil when the log is empty.
func (s *Store) readLastBatch(ctx context.Context) (*batch, error) {
	last, m, err := s.readLastEvent(ctx)
	if err != nil || last == nil {
		return nil, err
	}
	return s.readBatchEnding(ctx, last, m)
}

// readBatchEnding reads the append whose last event is last.
func (s *Store) readBatchEnding(ctx context.Context, last *domain.Envelope, m *logMeta) (*batch, error) {
	if m.BatchEvents == 1 {
		return &batch{events: []domain.Envelope{*last}}, nil
	}
	first := last.Position - uint64(m.BatchEvents) + 1
	es, err := s.readLog(ctx, first, m.BatchEvents)
	if err != nil {
		return nil, err
	}
	if len(es) != m.BatchEvents || es[len(es)-1].EventID != last.EventID {
		return nil, fmt.Errorf("the append ending at position %d: read %d of its %d events: %w", last.Position, len(es), m.BatchEvents, eventstore.ErrCorrupt)
	}
	for i := range es {
		if es[i].Stream != last.Stream || es[i].StreamVersion != last.StreamVersion-uint64(len(es)-1-i) {
			return nil, fmt.Errorf("the append ending at position %d: position %d is %s v%d: %w", last.Position, es[i].Position, es[i].Stream, es[i].StreamVersion, eventstore.ErrCorrupt)
		}
	}
	return &batch{events: es}, nil
}

// Append appends req.Events atomically to req.Stream and to the log; see doc.go for how.
func (s *Store) Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error) {
	if err := s.enter(); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %q: %w", req.Stream, err)
	}
	defer s.ops.Done()
	ids, err := validate(&req)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.AppendTimeout)
	defer cancel()
	select {
	case s.writer <- struct{}{}:
	case <-ctx.Done():
		return eventstore.AppendResult{}, fmt.Errorf("append to %q: wait for the writer: %w", req.Stream, ctx.Err())
	}
	defer func() { <-s.writer }()
	for attempt := 1; ; attempt++ {
		res, err := s.appendOnce(ctx, &req, ids)
		stale := errors.Is(err, errStaleTail)
		if !stale && !errors.Is(err, errLostRace) {
			return res, err
		}
		s.tail.known = false
		if stale {
			continue // at most once: the next try reads the tail
		}
		if attempt >= appendAttemptsMax {
			return eventstore.AppendResult{}, fmt.Errorf("append to %q: %w %d times", req.Stream, errLostRace, attempt)
		}
		backoff := min(backoffMax, backoffMin<<min(attempt-1, 16))
		select {
		case <-time.After(backoff/2 + rand.N(backoff/2+1)):
		case <-ctx.Done():
			return eventstore.AppendResult{}, fmt.Errorf("append to %q after %d lost races: %w", req.Stream, attempt, ctx.Err())
		}
	}
}

// appendOnce is one try of Append, by the holder of the writer lock.
func (s *Store) appendOnce(ctx context.Context, req *eventstore.AppendRequest, ids []uuid.UUID) (eventstore.AppendResult, error) {
	t := &s.tail
	fresh := !t.known // the tail comes from the server in this try, not from memory
	if fresh {
		if err := s.loadTail(ctx); err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("append to %q: %w", req.Stream, err)
		}
	}
	// Indexes are complete up to the log's last append, so the checks below are exact.
	if err := s.indexTail(ctx); err != nil {
		t.known = false
		return eventstore.AppendResult{}, fmt.Errorf("append to %q: %w", req.Stream, err)
	}
	if key := req.IdempotencyKey; key != "" {
		rec, found, err := s.readIdem(ctx, key)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("append to %q: look up key %q: %w", req.Stream, key, err)
		}
		if found {
			if h, _ := hex.DecodeString(rec.RequestHash); !bytes.Equal(h, req.RequestHash) {
				return eventstore.AppendResult{}, fmt.Errorf("append to %q with key %q: %w", req.Stream, key, eventstore.ErrIdempotencyKeyReused)
			}
			res := rec.result()
			res.Replayed = true
			return res, nil
		}
	}
	v, ok := t.versions[req.Stream]
	if !ok {
		var err error
		if v, err = s.indexVersion(ctx, req.Stream); err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("append to %q: read its version: %w", req.Stream, err)
		}
		if len(t.versions) >= streamVersionsMax {
			clear(t.versions)
		}
		t.versions[req.Stream] = v
	}
	if req.ExpectedVersion != eventstore.AnyVersion && uint64(req.ExpectedVersion) != v {
		if !fresh {
			// Say "wrong version" only from a tail checked during this call: the remembered
			// one may be behind another Store's appends that the caller has seen. One read
			// of the log's last event tells.
			cur, _, err := s.readLastEvent(ctx)
			if err != nil {
				return eventstore.AppendResult{}, fmt.Errorf("append to %q: read the head of the log: %w", req.Stream, err)
			}
			if (cur == nil) != (t.last == nil) || cur != nil && cur.EventID != t.last.last().EventID {
				return eventstore.AppendResult{}, errStaleTail
			}
		}
		return eventstore.AppendResult{}, fmt.Errorf("append to %q at v%d, stream at v%d: %w", req.Stream, req.ExpectedVersion, v, eventstore.ErrWrongVersion)
	}

	// Seal the events: positions follow the log's last revision, the chain its last hash.
	prevRev := t.revision()
	var prev domain.Hash
	at := s.opts.Clock().Round(0).UTC()
	if t.last != nil {
		prev = t.last.last().Hash
		if last := t.last.last().RecordedAt; at.Before(last) {
			at = last
		}
	}
	n := len(req.Events)
	events := make([]domain.Envelope, n)
	data := make([]esdb.EventData, n)
	var scratch []byte
	for i := range req.Events {
		e := req.Events[i]
		e.EventID = ids[i].String()
		e.StreamVersion = v + 1 + uint64(i)
		e.Position = uint64(prevRev+2) + uint64(i)
		e.RecordedAt = at
		e.IdempotencyKey = req.IdempotencyKey
		e.RequestHash = nil
		if i == 0 && len(req.RequestHash) > 0 {
			e.RequestHash = append([]byte(nil), req.RequestHash...)
		}
		scratch = domain.Seal(&e, prev, scratch)
		prev = e.Hash
		events[i] = e
		var err error
		if data[i], err = encodeLogEvent(&e, ids[i], n, i); err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("append to %q: %w", req.Stream, err)
		}
	}
	if err := s.writeLog(ctx, prevRev, data); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %q: %w", req.Stream, err)
	}

	// Committed. The indexes follow; if they fail, the next append (or Open) writes them.
	b := &batch{events: events}
	t.last, t.indexed = b, false
	t.versions[req.Stream] = b.last().StreamVersion
	if s.skipIndexes.Load() {
		return b.result(), nil
	}
	if err := s.indexTail(ctx); err != nil {
		s.log.Warn("kurrent: append committed to the log, its indexes not yet written; the next append writes them",
			"stream", req.Stream, "position", b.last().Position, "err", err)
		return b.result(), nil
	}
	s.cache.add(req.Stream, events)
	return b.result(), nil
}

// writeLog appends events to the log after revision prevRev (-1: the log must not exist).
// A lost race is errLostRace. A failure with an unknown outcome is retried with the same
// event IDs at the same expected revision, which KurrentDB answers as an idempotent write
// if the first try landed.
func (s *Store) writeLog(ctx context.Context, prevRev int64, data []esdb.EventData) error {
	var want esdb.ExpectedRevision = esdb.NoStream{}
	if prevRev >= 0 {
		want = esdb.Revision(uint64(prevRev))
	}
	for attempt := 1; ; attempt++ {
		err := s.appendTo(ctx, s.logStream, want, data)
		switch {
		case err == nil:
			return nil
		case code(err) == esdb.ErrorCodeWrongExpectedVersion:
			return errLostRace
		case !transient(err) || attempt == logWriteAttemptsMax || ctx.Err() != nil:
			// Committed or not, the next try reads the tail from the server and sees.
			s.tail.known = false
			return fmt.Errorf("write the log after revision %d (outcome unknown): %w", prevRev, err)
		}
		s.log.Warn("kurrent: log write failed, retrying it", "attempt", attempt, "err", err)
	}
}

// validate checks what needs no state, and parses the event IDs.
func validate(req *eventstore.AppendRequest) ([]uuid.UUID, error) {
	invalid := func(format string, args ...any) ([]uuid.UUID, error) {
		return nil, fmt.Errorf("append to %q: %s: %w", req.Stream, fmt.Sprintf(format, args...), eventstore.ErrInvalidAppend)
	}
	switch {
	case req.Stream == "":
		return invalid("empty stream name")
	case len(req.Stream) > fieldBytesMax:
		return invalid("stream name of %d bytes, want at most %d", len(req.Stream), fieldBytesMax)
	case req.Stream[0] == '$' || len(req.Stream) >= len(reservedPrefix) && req.Stream[:len(reservedPrefix)] == reservedPrefix:
		return invalid("stream names starting with $ or %s are reserved", reservedPrefix)
	case len(req.Events) == 0:
		return invalid("no events")
	case len(req.Events) > eventstore.AppendEventsMax:
		return invalid("%d events, want at most %d", len(req.Events), eventstore.AppendEventsMax)
	case req.ExpectedVersion < eventstore.AnyVersion:
		return invalid("expected version %d", req.ExpectedVersion)
	case len(req.IdempotencyKey) > fieldBytesMax:
		return invalid("idempotency key of %d bytes, want at most %d", len(req.IdempotencyKey), fieldBytesMax)
	case req.IdempotencyKey != "" && len(req.RequestHash) != requestHashBytesLen:
		return invalid("request hash of %d bytes with an idempotency key, want %d", len(req.RequestHash), requestHashBytesLen)
	case req.IdempotencyKey == "" && len(req.RequestHash) != 0:
		return invalid("request hash without an idempotency key")
	}
	ids := make([]uuid.UUID, len(req.Events))
	seen := make(map[uuid.UUID]bool, len(req.Events))
	for i := range req.Events {
		e := &req.Events[i]
		id, err := uuid.Parse(e.EventID)
		switch {
		case e.Stream != req.Stream:
			return invalid("event %d is for stream %q", i, e.Stream)
		case err != nil || id == uuid.Nil:
			return invalid("event %d: event id %q is not a UUID (KurrentDB's event ids are)", i, e.EventID)
		case seen[id]:
			return invalid("event %d: event id %s twice", i, id)
		case e.Type == "" || e.Type[0] == '$':
			return invalid("event %d: type %q (empty, or a KurrentDB system type)", i, e.Type)
		case len(e.Data) > dataBytesMax:
			return invalid("event %d: data of %d bytes, want at most %d", i, len(e.Data), dataBytesMax)
		case !e.EffectiveOn.IsZero() && !e.EffectiveOn.Valid():
			return invalid("event %d: effective on %s out of range", i, e.EffectiveOn)
		}
		for _, f := range [...]struct {
			name string
			n    int
		}{{"type", len(e.Type)}, {"actor", len(e.Actor)}, {"correlation_id", len(e.CorrelationID)}, {"causation_id", len(e.CausationID)}} {
			if f.n > fieldBytesMax {
				return invalid("event %d: %s of %d bytes, want at most %d", i, f.name, f.n, fieldBytesMax)
			}
		}
		seen[id] = true
		ids[i] = id
	}
	return ids, nil
}
