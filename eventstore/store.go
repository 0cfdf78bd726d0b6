package eventstore

import (
	"context"
	"errors"

	"github.com/encours/encours/domain"
)

// AnyVersion as AppendRequest.ExpectedVersion skips the optimistic-concurrency check.
const AnyVersion int64 = -1

// Limits every adapter enforces (style §8).
const (
	AppendEventsMax = 1000 // events in one Append; more is ErrInvalidAppend (the Foundation issue benchmarks batches of 1000)
	ReadLimitMax    = 10_000
)

// AppendRequest is one atomic append to one stream.
type AppendRequest struct {
	Stream string
	// ExpectedVersion is the stream's current version the caller decided on (0: the stream
	// must not exist yet), or AnyVersion.
	ExpectedVersion int64
	// IdempotencyKey, when set, makes the append happen at most once: a later append with the
	// same key and the same RequestHash returns the first AppendResult (Replayed set) and
	// appends nothing; with another RequestHash it fails with ErrIdempotencyKeyReused.
	IdempotencyKey string
	// RequestHash is the SHA-256 of what the caller considers "the same request" (for the HTTP
	// API, the method, route and body). Required when IdempotencyKey is set.
	RequestHash []byte
	// Events to append. The store assigns StreamVersion, Position, RecordedAt, PrevHash, Hash,
	// IdempotencyKey and RequestHash; the caller fills EventID, Type, SchemaVersion,
	// EffectiveOn, Actor, CorrelationID, CausationID and Data. Stream must equal Stream above.
	Events []domain.Envelope
}

// AppendResult says where an append landed. It is what the API answers with 201.
type AppendResult struct {
	Stream        string   `json:"stream"`
	StreamVersion uint64   `json:"stream_version"` // version of the last event appended
	Position      uint64   `json:"position"`       // position of the last event appended
	EventIDs      []string `json:"event_ids"`
	// Replayed is true when this is the stored result of an earlier append with the same
	// idempotency key: nothing was appended this time.
	Replayed bool `json:"-"`
}

// Head describes the end of the log.
type Head struct {
	Position uint64      // last committed position, 0 when empty
	Hash     domain.Hash // hash of that event, zero when empty
}

// Store is the event-store port. Every method is safe for concurrent use.
//
// Semantics every adapter must keep (checked by storetest): positions are 1-based and
// gap-free, stream versions are 1-based and contiguous, an acknowledged append is durable,
// an append is all-or-nothing, and reads see only acknowledged events.
type Store interface {
	// Append appends req.Events atomically at the end of req.Stream and of the global log.
	Append(ctx context.Context, req AppendRequest) (AppendResult, error)
	// ReadStream returns up to limit events of stream with StreamVersion >= fromVersion, in
	// version order. An unknown stream gives an empty slice and no error.
	ReadStream(ctx context.Context, stream string, fromVersion uint64, limit int) ([]domain.Envelope, error)
	// ReadAll returns up to limit events with Position >= fromPosition, in position order.
	ReadAll(ctx context.Context, fromPosition uint64, limit int) ([]domain.Envelope, error)
	// Subscribe delivers every event with Position >= fromPosition in position order: first
	// the stored ones (catch-up), then new ones as they are acknowledged (live), with no gap
	// and no duplicate at the switch. It ends when ctx is done or the store closes.
	Subscribe(ctx context.Context, fromPosition uint64) (Subscription, error)
	// LookupIdempotency returns the stored result of the append made with key, if any, and the
	// RequestHash it was made with. found is false when the key was never used.
	LookupIdempotency(ctx context.Context, key string) (res AppendResult, requestHash []byte, found bool, err error)
	// Head returns the last committed position and its hash.
	Head(ctx context.Context) (Head, error)
	// Close stops accepting appends, waits for those in flight, and releases resources.
	Close() error
}

// Subscription is a running subscription. Events arrive on C in position order; when C is
// closed, Err says why (nil after the context ended or the store closed cleanly).
type Subscription interface {
	C() <-chan domain.Envelope
	Err() error
}

// Errors callers tell apart with errors.Is. Adapters wrap them with context.
var (
	// ErrWrongVersion: the stream's version is not the expected one (a lost race).
	ErrWrongVersion = errors.New("wrong expected version")
	// ErrIdempotencyKeyReused: the key was used before with another request.
	ErrIdempotencyKeyReused = errors.New("idempotency key reused with another request")
	// ErrInvalidAppend: the request is malformed (empty, too many events, wrong stream).
	ErrInvalidAppend = errors.New("invalid append")
	// ErrFailed: an earlier write or sync failed; the store refuses every write until it is
	// reopened (fail-stop: a failed fsync is never retried).
	ErrFailed = errors.New("event store failed")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("event store closed")
	// ErrCorrupt: stored bytes are damaged somewhere other than a torn tail.
	ErrCorrupt = errors.New("event store corrupt")
)
