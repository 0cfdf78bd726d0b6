package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/projections/ledger"
)

// Defaults of DefaultConfig, and where their numbers come from.
const (
	// TopicDefault is the topic bus/relay publishes to (design §Flow step 4).
	TopicDefault = "encours.events"
	// StoreTimeoutDefault bounds one read of a stream's missing versions from the store.
	StoreTimeoutDefault = 10 * time.Second
	// RetriesMaxDefault: a message whose store read fails is nacked and retried this many
	// times in a row (about NackResendDelay apart, 100 ms in bus/kafka) before Run fails;
	// a store that stays down for that long is an outage the supervisor should see.
	RetriesMaxDefault = 50
	// FillVersionsMaxDefault bounds the versions read from the store to fill one gap: a
	// customer stream holds at most a few thousand events a year; more than a million
	// missing versions means something other than a moved partition, and is an error.
	FillVersionsMaxDefault = 1_000_000
	// fillReadLimit is the page size of the store reads that fill a gap
	// (eventstore.ReadLimitMax).
	fillReadLimit = 10_000
	// payloadBytesMax bounds one message's payload: the envelope's canonical size limit
	// (domain.CanonicalSizeMax), its JSON being a few hundred bytes larger.
	payloadBytesMax = domain.CanonicalSizeMax + 64<<10
)

// Errors callers tell apart with errors.Is.
var (
	// ErrGap: an event came beyond its stream's next version and no store was configured to
	// read the missing ones from (or the store does not have them).
	ErrGap = errors.New("stream version gap")
	// ErrMessage: a message is not an event of encours.events as bus/relay writes it
	// (undecodable, or not matching its own hash). It is not acked: a worker stops rather
	// than show figures without it.
	ErrMessage = errors.New("malformed event message")
	// ErrSubscriptionClosed: the subscription's channel closed while Run's context was live.
	ErrSubscriptionClosed = errors.New("subscription closed")
)

// StreamReader reads one stream from the event store (a narrower eventstore.Store): the
// worker reads the versions of a stream it has not received when a partition moves to it.
type StreamReader interface {
	ReadStream(ctx context.Context, stream string, fromVersion uint64, limit int) ([]domain.Envelope, error)
}

// Config is every option of a Worker; DefaultConfig gives Encours's choices.
type Config struct {
	// Topic to consume: TopicDefault in Encours.
	Topic string
	// Store fills a stream's missing versions. Nil: any gap is ErrGap and stops the worker
	// (tests; a worker with no store access).
	Store StreamReader
	// StoreTimeout bounds each store read.
	StoreTimeout time.Duration
	// RetriesMax is how many times in a row one message is nacked for a failed store read
	// before Run fails.
	RetriesMax int
	// FillVersionsMax bounds the versions read to fill one gap.
	FillVersionsMax int
	// Applied, when set, is called from Run's goroutine with each envelope applied (filled
	// ones included), after its effect is visible to View and before its message is acked:
	// the place for signals and alert evaluation, and for latency measurements. It must not
	// call View.
	Applied func(domain.Envelope)
	// Logger receives start, stop, fill and failure notes; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig is the worker's configuration in Encours, reading gaps from store.
func DefaultConfig(store StreamReader) Config {
	return Config{
		Topic:           TopicDefault,
		Store:           store,
		StoreTimeout:    StoreTimeoutDefault,
		RetriesMax:      RetriesMaxDefault,
		FillVersionsMax: FillVersionsMaxDefault,
	}
}

// Validate reports every option that is missing or out of range.
func (c Config) Validate() error {
	var errs []string
	if strings.TrimSpace(c.Topic) == "" {
		errs = append(errs, "Topic is empty")
	}
	if c.StoreTimeout <= 0 {
		errs = append(errs, "StoreTimeout is not positive")
	}
	if c.RetriesMax < 0 {
		errs = append(errs, "RetriesMax is negative")
	}
	if c.FillVersionsMax < 1 {
		errs = append(errs, "FillVersionsMax is below 1")
	}
	if len(errs) > 0 {
		return fmt.Errorf("worker config: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Stats are a worker's counters since New, for logs and metrics.
type Stats struct {
	Received   uint64 // messages handed to the worker (redeliveries included)
	Applied    uint64 // events applied from messages
	Duplicates uint64 // messages at or below their stream's version: acked, not applied
	Filled     uint64 // events read from the store to fill gaps, and applied
	Fills      uint64 // gaps filled
	Retries    uint64 // messages nacked for a failed store read
	// Redacted counts system events received with their secret redacted by the relay: their
	// hash cannot be checked from the message, and no projection reads their data.
	Redacted uint64
	Streams  int // streams held
	// LastPosition is the global position of the last event applied from a message; with
	// the store's head, it gives this worker's lag.
	LastPosition uint64
}

// Worker is one projection worker. View and Stats may be called from any goroutine while
// Run runs.
type Worker struct {
	sub message.Subscriber
	cfg Config
	log *slog.Logger

	mu sync.RWMutex // guards p and stats
	p  *ledger.Partial
	st Stats

	running atomic.Bool
}

// New returns a worker consuming cfg.Topic through sub: a bus/kafka Subscriber whose
// consumer group the workers share. Give that subscriber a CommitInterval of about 100 ms
// rather than bus/kafka's synchronous commit after each ack: the worker deduplicates by
// stream version whatever a crash redelivers, and a synchronous commit per message made the
// worker the bottleneck (append → applied p99 144-384 ms at 450 events/s on the real broker,
// against 32-139 ms with 100 ms commits; bus/relay/relaybench).
func New(sub message.Subscriber, cfg Config) (*Worker, error) {
	if sub == nil {
		return nil, errors.New("new worker: subscriber is nil")
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new worker: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{sub: sub, cfg: cfg, log: log.With("component", "projection_worker"), p: ledger.NewPartial()}, nil
}

// View calls fn with the worker's read model under a read lock; fn must not keep it nor
// modify it. Figures come from the ledger package's functions on p.Model()
// (ledger.ComputeFigures with ledger.CustomerScope, ledger.CustomerInvoices ...).
//
// The model holds every customer this worker has received an event of, each at the version
// p.StreamVersion reports, with all earlier versions applied. A customer whose partition
// has moved to another worker stays here at the version it had then.
func (w *Worker) View(fn func(p *ledger.Partial)) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	fn(w.p)
}

// Stats returns a copy of the worker's counters.
func (w *Worker) Stats() Stats {
	w.mu.RLock()
	defer w.mu.RUnlock()
	st := w.st
	st.Streams = w.p.Streams()
	return st
}

// Run subscribes to the topic and applies its events until ctx is done (it returns nil, and
// the message in hand, if any, is neither applied nor acked: it goes to the partition's next
// owner) or until a message cannot be applied: malformed (ErrMessage), a gap it cannot fill
// (ErrGap), an event the ledger refuses (ledger.ErrInconsistent), a store read failing
// RetriesMax times in a row, or the subscription closing (ErrSubscriptionClosed). The
// failing message is not acked. Run may be called once.
func (w *Worker) Run(ctx context.Context) error {
	if !w.running.CompareAndSwap(false, true) {
		return errors.New("worker: Run called twice")
	}
	// Ends the subscription when Run returns, whyever: nothing not acked is committed.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs, err := w.sub.Subscribe(ctx, w.cfg.Topic)
	if err != nil {
		return fmt.Errorf("worker: subscribe to %s: %w", w.cfg.Topic, err)
	}
	w.log.Info("projection worker started", "topic", w.cfg.Topic)
	retries := 0
	// Runs until ctx is done, the subscription closes, or a message fails.
	for {
		var msg *message.Message
		var ok bool
		select {
		case msg, ok = <-msgs:
		case <-ctx.Done():
			w.log.Info("projection worker stopped")
			return nil
		}
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("worker: %s: %w", w.cfg.Topic, ErrSubscriptionClosed)
		}
		w.count(func(st *Stats) { st.Received++ })
		err := w.handle(ctx, msg)
		if ctx.Err() != nil {
			return nil // stopping: the message is left unacked for the next owner
		}
		var retry *retryableError
		switch {
		case err == nil:
			retries = 0
			msg.Ack()
		case errors.As(err, &retry) && retries < w.cfg.RetriesMax:
			retries++
			w.count(func(st *Stats) { st.Retries++ })
			w.log.Warn("projection worker: store read failed; message nacked", "uuid", msg.UUID, "retry", retries, "err", err)
			msg.Nack()
		default:
			w.log.Error("projection worker stopped on a message it cannot apply", "uuid", msg.UUID, "err", err)
			return fmt.Errorf("worker: message %s: %w", msg.UUID, err)
		}
	}
}

// retryableError marks a failure that may pass if the message is handled again.
type retryableError struct{ err error }

func (e *retryableError) Error() string { return e.err.Error() }
func (e *retryableError) Unwrap() error { return e.err }

// handle applies one message: decode, check, then apply it — after the missing versions of
// its stream when it is beyond the next one.
func (w *Worker) handle(ctx context.Context, msg *message.Message) error {
	e, err := DecodePayload(msg.Payload)
	if err != nil {
		return err
	}
	if e.EventID != msg.UUID {
		return fmt.Errorf("message uuid %s carries event %s: %w", msg.UUID, e.EventID, ErrMessage)
	}
	if err := domain.VerifyHash(&e, nil); err != nil {
		// The relay publishes a secret-bearing system event (a webhook subscription) with
		// its secret redacted, so its data is not what its hash covers. No projection reads
		// such an event's data; one on a ledger stream is never redacted, and fails here.
		if !domain.SecretRedacted(e) || ledger.IsLedgerStream(e.Stream) {
			return fmt.Errorf("%s v%d: %v: %w", e.Stream, e.StreamVersion, err, ErrMessage)
		}
		w.count(func(st *Stats) { st.Redacted++ })
	}

	have := w.streamVersion(e.Stream)
	if e.StreamVersion <= have {
		w.count(func(st *Stats) { st.Duplicates++ })
		return nil
	}
	if e.StreamVersion > have+1 {
		missing, err := w.readMissing(ctx, e.Stream, have, e.StreamVersion)
		if err != nil {
			return err
		}
		for _, m := range missing {
			if err := w.apply(m); err != nil {
				return fmt.Errorf("fill %s: %w", e.Stream, err)
			}
		}
		w.count(func(st *Stats) { st.Fills++; st.Filled += uint64(len(missing)) })
		w.log.Info("projection worker filled a stream from the store", "stream", e.Stream,
			"from", have+1, "to", e.StreamVersion-1)
	}
	if err := w.apply(e); err != nil {
		return err
	}
	w.count(func(st *Stats) {
		st.Applied++
		st.LastPosition = e.Position
	})
	return nil
}

func (w *Worker) streamVersion(stream string) uint64 {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.p.StreamVersion(stream)
}

// apply applies e under the write lock, then calls the Applied hook.
func (w *Worker) apply(e domain.Envelope) error {
	w.mu.Lock()
	applied, err := w.p.Apply(e)
	w.mu.Unlock()
	if err != nil {
		return err
	}
	assert(applied, "%s v%d was not the next version", e.Stream, e.StreamVersion)
	if w.cfg.Applied != nil {
		w.cfg.Applied(e)
	}
	return nil
}

// readMissing reads versions have+1 .. upto-1 of stream from the store, outside the lock
// (Run's goroutine is the only writer, so the stream cannot move meanwhile).
func (w *Worker) readMissing(ctx context.Context, stream string, have, upto uint64) ([]domain.Envelope, error) {
	if w.cfg.Store == nil {
		return nil, fmt.Errorf("%s v%d after v%d, and no store to read the missing versions from: %w", stream, upto, have, ErrGap)
	}
	want := upto - 1 - have
	if want > uint64(w.cfg.FillVersionsMax) {
		return nil, fmt.Errorf("%s v%d after v%d: more than %d versions missing: %w", stream, upto, have, w.cfg.FillVersionsMax, ErrGap)
	}
	out := make([]domain.Envelope, 0, want)
	next := have + 1
	for next < upto { // at most want/fillReadLimit+1 pages: each page advances next or fails
		limit := int(min(uint64(fillReadLimit), upto-next))
		page, err := w.readPage(ctx, stream, next, limit)
		if err != nil {
			return nil, &retryableError{fmt.Errorf("read %s from v%d: %w", stream, next, err)}
		}
		if len(page) == 0 {
			return nil, fmt.Errorf("%s v%d after v%d: the store has nothing from v%d: %w", stream, upto, have, next, ErrGap)
		}
		for _, m := range page {
			if m.Stream != stream || m.StreamVersion != next {
				return nil, fmt.Errorf("%s: store gave %s v%d, want v%d: %w", stream, m.Stream, m.StreamVersion, next, ErrGap)
			}
			out = append(out, m)
			next++
			if next == upto {
				break
			}
		}
	}
	return out, nil
}

func (w *Worker) readPage(ctx context.Context, stream string, from uint64, limit int) ([]domain.Envelope, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.StoreTimeout)
	defer cancel()
	return w.cfg.Store.ReadStream(ctx, stream, from, limit)
}

func (w *Worker) count(fn func(*Stats)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fn(&w.st)
}

// payload is the JSON body bus/relay writes (relay.Payload): the envelope's JSON plus the
// request hash its chain hash covers. It is declared again here because projections may not
// import bus; the worker's tests check that the two agree.
type payload struct {
	domain.Envelope
	RequestHash []byte `json:"request_hash,omitempty"`
}

// DecodePayload decodes the body of a message of encours.events into its envelope. It
// checks the form only; Run also checks the envelope against its hash.
func DecodePayload(b []byte) (domain.Envelope, error) {
	if len(b) > payloadBytesMax {
		return domain.Envelope{}, fmt.Errorf("payload of %d bytes, at most %d: %w", len(b), payloadBytesMax, ErrMessage)
	}
	var p payload
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&p); err != nil {
		return domain.Envelope{}, fmt.Errorf("decode payload: %v: %w", err, ErrMessage)
	}
	if dec.More() {
		return domain.Envelope{}, fmt.Errorf("decode payload: data after the envelope: %w", ErrMessage)
	}
	e := p.Envelope
	e.RequestHash = p.RequestHash
	if e.EventID == "" || e.Stream == "" || e.StreamVersion == 0 || e.Position == 0 || e.Type == "" {
		return domain.Envelope{}, fmt.Errorf("payload lacks event_id, stream, stream_version, position or type: %w", ErrMessage)
	}
	return e, nil
}

// assert panics when an invariant of this package is broken (style §8).
func assert(ok bool, format string, args ...any) {
	if !ok {
		panic("worker: invariant broken: " + fmt.Sprintf(format, args...))
	}
}
