package kurrent

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// readLimit is limit, or eventstore.ReadLimitMax when limit <= 0 or above it.
func readLimit(limit int) int {
	if limit <= 0 || limit > eventstore.ReadLimitMax {
		return eventstore.ReadLimitMax
	}
	return limit
}

// readLog reads up to limit events of the log from position from, decoded and checked:
// positions contiguous, each hash the chain hash of its bytes and of the one before.
func (s *Store) readLog(ctx context.Context, from uint64, limit int) ([]domain.Envelope, error) {
	evs, err := s.read(ctx, s.logStream, esdb.Revision(from-1), esdb.Forwards, uint64(limit), false)
	if err != nil {
		return nil, err
	}
	out := make([]domain.Envelope, len(evs))
	var scratch []byte
	for i, ev := range evs {
		if out[i], _, scratch, err = decodeLogEvent(ev.OriginalEvent(), scratch); err != nil {
			return nil, err
		}
		if out[i].Position != from+uint64(i) {
			return nil, fmt.Errorf("read the log from %d: event %d at position %d: %w", from, i, out[i].Position, eventstore.ErrCorrupt)
		}
		if i > 0 && out[i].PrevHash != out[i-1].Hash {
			return nil, fmt.Errorf("position %d: prev_hash %s, previous event's hash %s: %w", out[i].Position, out[i].PrevHash, out[i-1].Hash, eventstore.ErrCorrupt)
		}
	}
	return out, nil
}

// ReadAll returns up to limit events (eventstore.ReadLimitMax when limit <= 0 or above it)
// with Position >= fromPosition: one read of the log stream.
func (s *Store) ReadAll(ctx context.Context, fromPosition uint64, limit int) ([]domain.Envelope, error) {
	if err := s.enter(); err != nil {
		return nil, fmt.Errorf("read all from %d: %w", fromPosition, err)
	}
	defer s.ops.Done()
	es, err := s.readLog(ctx, max(fromPosition, 1), readLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read all from %d: %w", fromPosition, err)
	}
	return es, nil
}

// ReadStream returns up to limit events (eventstore.ReadLimitMax when limit <= 0 or above
// it) of stream from fromVersion.
//
// One read of the stream index's last link gives the stream's version; the events the stream
// cache holds come from it, and the rest from one read of the index with links resolved
// (which then go into the cache). So a stream read before costs one small round trip.
func (s *Store) ReadStream(ctx context.Context, stream string, fromVersion uint64, limit int) ([]domain.Envelope, error) {
	if err := s.enter(); err != nil {
		return nil, fmt.Errorf("read %q from v%d: %w", stream, fromVersion, err)
	}
	defer s.ops.Done()
	if stream == "" || stream[0] == '$' || strings.HasPrefix(stream, reservedPrefix) {
		return nil, nil // no Encours stream has such a name
	}
	fromVersion = max(fromVersion, 1)
	head, err := s.indexVersion(ctx, stream)
	if err != nil {
		return nil, fmt.Errorf("read %q from v%d: %w", stream, fromVersion, err)
	}
	if head < fromVersion {
		return nil, nil
	}
	to := min(head, fromVersion+uint64(readLimit(limit))-1)
	out := s.cache.get(stream, fromVersion, to)
	next := fromVersion + uint64(len(out))
	if next > to {
		return out, nil
	}
	evs, err := s.read(ctx, s.ns+stream, esdb.Revision(next-1), esdb.Forwards, to-next+1, true)
	if err != nil {
		return nil, fmt.Errorf("read %q from v%d: %w", stream, next, err)
	}
	fetched := make([]domain.Envelope, len(evs))
	var scratch []byte
	for i, ev := range evs {
		if ev.Link == nil || ev.Event == nil || ev.Event.StreamID != s.logStream {
			return nil, fmt.Errorf("read %q: index entry %d is not a link into the log: %w", stream, next+uint64(i), eventstore.ErrCorrupt)
		}
		if fetched[i], _, scratch, err = decodeLogEvent(ev.Event, scratch); err != nil {
			return nil, fmt.Errorf("read %q: %w", stream, err)
		}
		if e := &fetched[i]; e.Stream != stream || e.StreamVersion != next+uint64(i) || ev.Link.EventNumber+1 != e.StreamVersion {
			return nil, fmt.Errorf("read %q: index entry %d points at %s v%d: %w", stream, ev.Link.EventNumber+1, e.Stream, e.StreamVersion, eventstore.ErrCorrupt)
		}
	}
	if uint64(len(fetched)) != to-next+1 {
		return nil, fmt.Errorf("read %q: versions %d..%d, got %d events: %w", stream, next, to, len(fetched), eventstore.ErrCorrupt)
	}
	s.cache.add(stream, fetched)
	return append(out, fetched...), nil
}

// Head returns the last position and its hash: one read of the log's last event.
func (s *Store) Head(ctx context.Context) (eventstore.Head, error) {
	if err := s.enter(); err != nil {
		return eventstore.Head{}, fmt.Errorf("head: %w", err)
	}
	defer s.ops.Done()
	last, _, err := s.readLastEvent(ctx)
	if err != nil || last == nil {
		return eventstore.Head{}, err
	}
	return eventstore.Head{Position: last.Position, Hash: last.Hash}, nil
}

// LookupIdempotency returns the result of the append made with key, and its request hash.
//
// Two reads, in this order: the log's last append, then the key's record. Every append but
// the last has its record (doc.go), so a key used before the first read is found by one of
// them; a key used after it is concurrent with the call, and either answer is right.
func (s *Store) LookupIdempotency(ctx context.Context, key string) (eventstore.AppendResult, []byte, bool, error) {
	if err := s.enter(); err != nil {
		return eventstore.AppendResult{}, nil, false, fmt.Errorf("look up key %q: %w", key, err)
	}
	defer s.ops.Done()
	if key == "" {
		return eventstore.AppendResult{}, nil, false, nil
	}
	last, m, err := s.readLastEvent(ctx)
	if err != nil {
		return eventstore.AppendResult{}, nil, false, fmt.Errorf("look up key %q: %w", key, err)
	}
	if last != nil && last.IdempotencyKey == key {
		b, err := s.readBatchEnding(ctx, last, m)
		if err != nil {
			return eventstore.AppendResult{}, nil, false, fmt.Errorf("look up key %q: %w", key, err)
		}
		return b.result(), bytes.Clone(b.first().RequestHash), true, nil
	}
	rec, found, err := s.readIdem(ctx, key)
	if err != nil || !found {
		return eventstore.AppendResult{}, nil, false, err
	}
	h, err := hex.DecodeString(rec.RequestHash)
	if err != nil {
		return eventstore.AppendResult{}, nil, false, fmt.Errorf("look up key %q: request hash: %v: %w", key, err, eventstore.ErrCorrupt)
	}
	return rec.result(), h, true, nil
}
