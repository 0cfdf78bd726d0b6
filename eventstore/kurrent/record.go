package kurrent

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// KurrentDB stream names the adapter owns, after Options.Namespace. Encours stream names may
// not start with reservedPrefix (nor with "$", KurrentDB's system streams).
const (
	logStreamName    = "encours.log"   // the log: revision r holds the event of position r+1
	idemStreamPrefix = "encours.idem-" // + hex SHA-256 of the key: the key's first use
	reservedPrefix   = "encours."

	linkEventType = "$>" // KurrentDB's link: data "<revision>@<stream>", resolved on read
	idemEventType = "EncoursIdempotencyKeyUsed"
)

// idNamespace derives the event IDs of links and idempotency records from the IDs of the
// events they index (UUIDv5), so that writing an index twice is one of KurrentDB's
// idempotent writes. It must never change: stored IDs depend on it.
var idNamespace = uuid.MustParse("5b0c7e0e-6f3a-4d36-9a53-0e9d1c3e8a41")

func linkID(event uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(idNamespace, append([]byte("link:"), event[:]...))
}

func idemID(firstEvent uuid.UUID) uuid.UUID {
	return uuid.NewSHA1(idNamespace, append([]byte("idempotency:"), firstEvent[:]...))
}

// logMeta is the JSON metadata of an event in the log: the envelope fields KurrentDB does
// not keep natively (design §Events, envelope), and the adapter's bookkeeping. The event's
// ID, type and data are KurrentDB's own EventID, EventType and Data.
type logMeta struct {
	// Dates, instants and hashes are plain strings here, converted by hand: this is decoded
	// for every event read, and the types' own UnmarshalJSON would parse each value twice.
	Stream         string `json:"stream"`
	StreamVersion  uint64 `json:"stream_version"`
	Position       uint64 `json:"position"`
	SchemaVersion  uint16 `json:"schema_version"`
	EffectiveOn    string `json:"effective_on,omitempty"` // YYYY-MM-DD; absent when not given
	RecordedAt     string `json:"recorded_at"`            // RFC 3339 with nanoseconds, UTC: exact
	Actor          string `json:"actor"`
	CorrelationID  string `json:"correlation_id,omitempty"`
	CausationID    string `json:"causation_id,omitempty"`
	IdempotencyKey string `json:"idempotency_key,omitempty"`
	RequestHash    string `json:"request_hash,omitempty"` // hex; first event of an append only
	PrevHash       string `json:"prev_hash"`              // hex
	Hash           string `json:"hash"`                   // hex
	// KurrentDB's own keys, read by its $by_correlation_id projection.
	KurrentCorrelationID string `json:"$correlationId,omitempty"`
	KurrentCausationID   string `json:"$causationId,omitempty"`
	// The event is number BatchIndex (from 0) of an append of BatchEvents events. Not hashed:
	// only the repair of an append's indexes (see doc.go) reads it.
	BatchEvents int `json:"batch_events"`
	BatchIndex  int `json:"batch_index"`
}

// encodeLogEvent turns a sealed envelope into the event written to the log.
func encodeLogEvent(e *domain.Envelope, id uuid.UUID, batchEvents, batchIndex int) (esdb.EventData, error) {
	m := logMeta{
		Stream: e.Stream, StreamVersion: e.StreamVersion, Position: e.Position,
		SchemaVersion: e.SchemaVersion, RecordedAt: e.RecordedAt.UTC().Format(time.RFC3339Nano),
		Actor: e.Actor, CorrelationID: e.CorrelationID, CausationID: e.CausationID,
		IdempotencyKey: e.IdempotencyKey, RequestHash: hex.EncodeToString(e.RequestHash),
		PrevHash: e.PrevHash.String(), Hash: e.Hash.String(),
		KurrentCorrelationID: e.CorrelationID, KurrentCausationID: e.CausationID,
		BatchEvents: batchEvents, BatchIndex: batchIndex,
	}
	if !e.EffectiveOn.IsZero() {
		m.EffectiveOn = e.EffectiveOn.String()
	}
	md, err := json.Marshal(m)
	if err != nil {
		return esdb.EventData{}, fmt.Errorf("encode metadata of %s: %w", e.EventID, err)
	}
	return esdb.EventData{EventID: id, EventType: e.Type, ContentType: esdb.ContentTypeJson, Data: e.Data, Metadata: md}, nil
}

// decodeLogEvent rebuilds the envelope of the log event r and checks it: its revision is its
// position - 1 and its hash is the chain hash of its bytes. Any mismatch is ErrCorrupt.
func decodeLogEvent(r *esdb.RecordedEvent, scratch []byte) (domain.Envelope, logMeta, []byte, error) {
	var m logMeta
	corrupt := func(what string, err error) (domain.Envelope, logMeta, []byte, error) {
		return domain.Envelope{}, m, scratch, fmt.Errorf("log revision %d: %s: %v: %w", r.EventNumber, what, err, eventstore.ErrCorrupt)
	}
	if err := json.Unmarshal(r.UserMetadata, &m); err != nil {
		return corrupt("metadata", err)
	}
	e := domain.Envelope{
		EventID: r.EventID.String(), Stream: m.Stream, StreamVersion: m.StreamVersion, Position: m.Position,
		Type: r.EventType, SchemaVersion: m.SchemaVersion,
		Actor: m.Actor, CorrelationID: m.CorrelationID, CausationID: m.CausationID,
		IdempotencyKey: m.IdempotencyKey, Data: json.RawMessage(r.Data),
	}
	var err error
	if m.RequestHash != "" {
		if e.RequestHash, err = hex.DecodeString(m.RequestHash); err != nil {
			return corrupt("request hash", err)
		}
	}
	if m.EffectiveOn != "" {
		if e.EffectiveOn, err = domain.ParseDate(m.EffectiveOn); err != nil {
			return corrupt("effective on", err)
		}
	}
	if e.RecordedAt, err = time.Parse(time.RFC3339Nano, m.RecordedAt); err != nil {
		return corrupt("recorded at", err)
	}
	e.RecordedAt = e.RecordedAt.UTC()
	if e.PrevHash, err = domain.ParseHash(m.PrevHash); err != nil {
		return corrupt("prev hash", err)
	}
	if e.Hash, err = domain.ParseHash(m.Hash); err != nil {
		return corrupt("hash", err)
	}
	if e.Data == nil {
		e.Data = json.RawMessage{}
	}
	switch {
	case r.EventNumber+1 != m.Position:
		return e, m, scratch, fmt.Errorf("log revision %d holds position %d, want %d: %w", r.EventNumber, m.Position, r.EventNumber+1, eventstore.ErrCorrupt)
	case m.BatchEvents < 1 || m.BatchIndex < 0 || m.BatchIndex >= m.BatchEvents || uint64(m.BatchIndex) > r.EventNumber:
		return e, m, scratch, fmt.Errorf("log revision %d: event %d of a batch of %d: %w", r.EventNumber, m.BatchIndex, m.BatchEvents, eventstore.ErrCorrupt)
	}
	scratch = domain.AppendCanonical(scratch[:0], &e)
	if got := domain.ChainHash(e.PrevHash, scratch); got != e.Hash {
		return e, m, scratch, fmt.Errorf("position %d: hash %s does not match its bytes (%s): %w", e.Position, e.Hash, got, eventstore.ErrCorrupt)
	}
	return e, m, scratch, nil
}

// linkEvent is the event of a stream's index that points at log revision rev.
func linkEvent(logStream string, event uuid.UUID, rev uint64) esdb.EventData {
	return esdb.EventData{
		EventID: linkID(event), EventType: linkEventType, ContentType: esdb.ContentTypeBinary,
		Data: []byte(strconv.FormatUint(rev, 10) + "@" + logStream),
	}
}

// idemRecord is the data of a key's idempotency record: the first result and what it was
// asked with.
type idemRecord struct {
	Key           string   `json:"key"`
	RequestHash   string   `json:"request_hash"` // hex
	Stream        string   `json:"stream"`
	StreamVersion uint64   `json:"stream_version"`
	Position      uint64   `json:"position"`
	EventIDs      []string `json:"event_ids"`
}

func (r idemRecord) result() eventstore.AppendResult {
	return eventstore.AppendResult{Stream: r.Stream, StreamVersion: r.StreamVersion, Position: r.Position,
		EventIDs: append([]string(nil), r.EventIDs...)}
}

// batch is one append as the log holds it: its events, in order.
type batch struct {
	events []domain.Envelope // len >= 1
}

func (b *batch) first() *domain.Envelope { return &b.events[0] }
func (b *batch) last() *domain.Envelope  { return &b.events[len(b.events)-1] }

func (b *batch) result() eventstore.AppendResult {
	res := eventstore.AppendResult{Stream: b.last().Stream, StreamVersion: b.last().StreamVersion,
		Position: b.last().Position, EventIDs: make([]string, len(b.events))}
	for i := range b.events {
		res.EventIDs[i] = b.events[i].EventID
	}
	return res
}

func (b *batch) idemRecord() idemRecord {
	res := b.result()
	return idemRecord{Key: b.first().IdempotencyKey, RequestHash: hex.EncodeToString(b.first().RequestHash),
		Stream: res.Stream, StreamVersion: res.StreamVersion, Position: res.Position, EventIDs: res.EventIDs}
}
