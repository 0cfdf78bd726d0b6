package relay

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/encours/encours/bus/kafka"
	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// Topic is the topic every committed event goes to (design §Flow step 4).
const Topic = "encours.events"

// Metadata fields of each message, beside kafka.PartitionKeyMetadata (the Kafka key). They
// repeat fields of the payload so that tools can route and inspect without decoding JSON.
const (
	MetadataPosition      = "position"       // global position, decimal
	MetadataStream        = "stream"         // stream name
	MetadataStreamVersion = "stream_version" // version within the stream, decimal
	MetadataType          = "type"           // event type, e.g. InvoiceIssued
	// MetadataRedacted is set ("secret") on the message of an event whose data held a
	// secret (a webhook subscription's HMAC key): the payload carries it redacted
	// (domain.RedactSecrets), so its data is not what its hash covers.
	MetadataRedacted = "redacted"
)

// Defaults of DefaultConfig, and where their numbers come from.
const (
	// BatchEventsMaxDefault: events per Publish call. A Publish is synchronous and costs a
	// few produce round trips whatever its size, so throughput comes from large batches;
	// 4096 events of ~1 KiB is 4 MiB in memory for the batch being filled and as much for
	// the one in flight.
	BatchEventsMaxDefault = 4096
	// PublishAttemptsMaxDefault and the backoffs: a batch is tried 10 times over about 40 s
	// (each attempt bounded by the publisher's own timeout), enough to ride out a broker
	// restart or a leader election; then Run fails and its supervisor restarts it.
	PublishAttemptsMaxDefault = 10
	PublishBackoffMinDefault  = 200 * time.Millisecond
	PublishBackoffMaxDefault  = 10 * time.Second
	// StoreTimeoutDefault bounds each call to the store other than the subscription itself
	// (Head, reading the checkpoint's event).
	StoreTimeoutDefault = 10 * time.Second
	// HeadRefreshIntervalDefault: how often the store's head is read for the lag statistic
	// while catching up (a live relay sees the head in the events it receives).
	HeadRefreshIntervalDefault = time.Second
)

// Errors callers tell apart with errors.Is.
var (
	// ErrCheckpointMismatch: the checkpoint names a position the store does not have, or an
	// event whose hash differs from the store's: it belongs to another store. The relay
	// refuses to start; an operator removes the checkpoint to republish from position 1.
	ErrCheckpointMismatch = errors.New("relay checkpoint does not match the store")
	// ErrPublish: a batch failed PublishAttemptsMax times.
	ErrPublish = errors.New("relay publish failed")
	// ErrSubscription: the store's subscription ended with an error or out of order.
	ErrSubscription = errors.New("relay subscription failed")
)

// Source is what the relay needs of the event store (a narrower eventstore.Store).
type Source interface {
	Subscribe(ctx context.Context, fromPosition uint64) (eventstore.Subscription, error)
	ReadAll(ctx context.Context, fromPosition uint64, limit int) ([]domain.Envelope, error)
	Head(ctx context.Context) (eventstore.Head, error)
}

// Config is every option of Run; DefaultConfig gives Encours's choices and Validate refuses
// missing ones.
type Config struct {
	// Topic to publish to: Topic in Encours.
	Topic string
	// Checkpoint keeps how far the relay got (FileCheckpoint).
	Checkpoint Checkpoint
	// BatchEventsMax caps the events of one Publish call. A batch holds what arrived while
	// the previous Publish was in flight, so batches are small when the relay keeps up and
	// grow to this cap when it does not. One batch is in flight at a time: see Run.
	BatchEventsMax int
	// PublishAttemptsMax is how many times one batch is published before Run fails with
	// ErrPublish, backing off from PublishBackoffMin to PublishBackoffMax (doubling, with
	// jitter). Each attempt is bounded by the publisher's own timeout (bus/kafka:
	// PublisherConfig.PublishTimeout): watermill's Publish takes no context.
	PublishAttemptsMax int
	PublishBackoffMin  time.Duration
	PublishBackoffMax  time.Duration
	// StoreTimeout bounds each store call other than the subscription.
	StoreTimeout time.Duration
	// HeadRefreshInterval is how often the store's head is read for Stats while catching up.
	HeadRefreshInterval time.Duration
	// Stats, when set, receives the relay's counters (metrics read it concurrently).
	Stats *Stats
	// Logger receives start, stop and retry notes; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig is the relay's configuration in Encours, with every value stated.
func DefaultConfig(cp Checkpoint) Config {
	return Config{
		Topic:               Topic,
		Checkpoint:          cp,
		BatchEventsMax:      BatchEventsMaxDefault,
		PublishAttemptsMax:  PublishAttemptsMaxDefault,
		PublishBackoffMin:   PublishBackoffMinDefault,
		PublishBackoffMax:   PublishBackoffMaxDefault,
		StoreTimeout:        StoreTimeoutDefault,
		HeadRefreshInterval: HeadRefreshIntervalDefault,
	}
}

// KafkaPublisherConfig is bus/kafka's publisher configuration for the relay: the daemon's
// defaults (acks from every in-sync replica, synchronous Publish) with two changes, measured
// by the benchmarks of bus/relay/relaybench on the real broker:
//   - BatchMessagesMax 1000: a relay batch of 4096 events spread over a dozen partitions
//     goes in one or two produce requests per partition instead of four or five;
//   - BatchTimeout 1 ms: the relay hands over whole batches, so waiting for kafka-go to fill
//     a produce batch (5 ms by default) only adds latency; append → applied p50 fell from
//     about 14 ms to about 9 ms.
func KafkaPublisherConfig(brokers []string) kafka.PublisherConfig {
	cfg := kafka.DefaultPublisherConfig(brokers)
	cfg.ClientID = "encours-relay"
	cfg.BatchMessagesMax = 1000
	cfg.BatchTimeout = time.Millisecond
	return cfg
}

// Validate reports every option that is missing or out of range.
func (c Config) Validate() error {
	var errs []string
	if strings.TrimSpace(c.Topic) == "" {
		errs = append(errs, "Topic is empty")
	}
	if c.Checkpoint == nil {
		errs = append(errs, "Checkpoint is nil")
	}
	if c.BatchEventsMax < 1 {
		errs = append(errs, "BatchEventsMax is below 1")
	}
	if c.PublishAttemptsMax < 1 {
		errs = append(errs, "PublishAttemptsMax is below 1")
	}
	if c.PublishBackoffMin <= 0 || c.PublishBackoffMax < c.PublishBackoffMin {
		errs = append(errs, "PublishBackoffMin must be positive and PublishBackoffMax at least PublishBackoffMin")
	}
	if c.StoreTimeout <= 0 {
		errs = append(errs, "StoreTimeout is not positive")
	}
	if c.HeadRefreshInterval <= 0 {
		errs = append(errs, "HeadRefreshInterval is not positive")
	}
	if len(errs) > 0 {
		return fmt.Errorf("relay config: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Stats are the relay's counters, for metrics. Run updates them; Snapshot may be called from
// any goroutine. The zero value is ready to use.
type Stats struct {
	published  atomic.Uint64
	batches    atomic.Uint64
	failures   atomic.Uint64
	checkpoint atomic.Uint64
	head       atomic.Uint64
}

// StatsSnapshot is a copy of Stats at one moment.
type StatsSnapshot struct {
	PublishedEvents  uint64 // events of batches Kafka acknowledged (republished ones count again)
	PublishedBatches uint64
	PublishFailures  uint64 // Publish attempts that failed (retried, or the last one)
	Checkpoint       uint64 // the position saved: every event up to it is in Kafka
	Head             uint64 // the store's last position, as last seen
	LagPositions     uint64 // Head - Checkpoint: events committed but not yet in Kafka
}

// Snapshot returns the current counters.
func (s *Stats) Snapshot() StatsSnapshot {
	cp, head := s.checkpoint.Load(), s.head.Load()
	lag := uint64(0)
	if head > cp {
		lag = head - cp
	}
	return StatsSnapshot{
		PublishedEvents:  s.published.Load(),
		PublishedBatches: s.batches.Load(),
		PublishFailures:  s.failures.Load(),
		Checkpoint:       cp,
		Head:             head,
		LagPositions:     lag,
	}
}

func (s *Stats) seeHead(pos uint64) {
	for {
		cur := s.head.Load()
		if pos <= cur || s.head.CompareAndSwap(cur, pos) {
			return
		}
	}
}

// PartitionKey is the Kafka key of an event of stream: the customer id for the customer's
// streams (customer-<id> and alerts-<id> both give <id>, so a customer's facts and alerts
// share a partition and its order), and the stream name itself for system streams.
func PartitionKey(stream string) string {
	if id, ok := strings.CutPrefix(stream, domain.CustomerStreamPrefix); ok && id != "" {
		return id
	}
	if id, ok := strings.CutPrefix(stream, domain.AlertStreamPrefix); ok && id != "" {
		return id
	}
	return stream
}

// Payload is the JSON body of a message on encours.events: the envelope as the API shows it
// (domain.Envelope's JSON, prev_hash and hash included) plus the request hash, which the
// envelope's JSON leaves out but the chain hash covers, so that a consumer can check each
// event against its hash (domain.VerifyHash).
type Payload struct {
	domain.Envelope
	RequestHash []byte `json:"request_hash,omitempty"`
}

// EncodePayload appends the JSON of e's Payload to buf: the bytes encoding/json gives for
// Payload with HTML escaping off (the data must reach consumers unchanged for the hash to
// verify; "&" would otherwise become \u0026), written field by field. Encoding is the
// relay's own cost per event, and encoding/json's reflection and its re-compaction of the
// data bytes made it about 10 µs; the tests compare both encodings byte for byte and fail
// when domain.Envelope gains a field this function does not write.
func EncodePayload(buf []byte, e *domain.Envelope) ([]byte, error) {
	if len(e.Data) > 0 && !json.Valid(e.Data) {
		return buf, fmt.Errorf("encode position %d: data is not JSON", e.Position)
	}
	b := append(buf, `{"event_id":`...)
	b = appendString(b, e.EventID)
	b = append(b, `,"stream":`...)
	b = appendString(b, e.Stream)
	b = append(b, `,"stream_version":`...)
	b = strconv.AppendUint(b, e.StreamVersion, 10)
	b = append(b, `,"position":`...)
	b = strconv.AppendUint(b, e.Position, 10)
	b = append(b, `,"type":`...)
	b = appendString(b, e.Type)
	b = append(b, `,"schema_version":`...)
	b = strconv.AppendUint(b, uint64(e.SchemaVersion), 10)
	b = append(b, `,"effective_on":`...)
	on, err := e.EffectiveOn.MarshalJSON()
	if err != nil {
		return buf, fmt.Errorf("encode position %d: %w", e.Position, err)
	}
	b = append(b, on...)
	b = append(b, `,"recorded_at":`...)
	if y := e.RecordedAt.Year(); y < 0 || y > 9999 {
		return buf, fmt.Errorf("encode position %d: recorded_at year %d outside 0..9999", e.Position, y)
	}
	b = append(b, '"')
	b = e.RecordedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","actor":`...)
	b = appendString(b, e.Actor)
	for _, f := range [...]struct{ name, value string }{
		{`,"correlation_id":`, e.CorrelationID},
		{`,"causation_id":`, e.CausationID},
		{`,"idempotency_key":`, e.IdempotencyKey},
	} {
		if f.value != "" { // omitempty
			b = append(b, f.name...)
			b = appendString(b, f.value)
		}
	}
	b = append(b, `,"data":`...)
	if len(e.Data) == 0 {
		b = append(b, "null"...)
	} else {
		b = appendCompactData(b, e.Data)
	}
	b = append(b, `,"prev_hash":"`...)
	b = hex.AppendEncode(b, e.PrevHash[:])
	b = append(b, `","hash":"`...)
	b = hex.AppendEncode(b, e.Hash[:])
	b = append(b, '"')
	if len(e.RequestHash) > 0 { // omitempty
		b = append(b, `,"request_hash":"`...)
		b = base64.StdEncoding.AppendEncode(b, e.RequestHash)
		b = append(b, '"')
	}
	return append(b, '}'), nil
}

// appendCompactData appends JSON data without insignificant whitespace, as encoding/json
// writes a json.RawMessage; data from domain.EncodeEvent has none, and is copied as it is.
func appendCompactData(b, data []byte) []byte {
	if !bytes.ContainsAny(data, " \t\r\n") {
		return append(b, data...)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return append(b, data...) // unreachable: data was checked with json.Valid
	}
	return append(b, buf.Bytes()...)
}

// appendString appends s as a JSON string exactly as encoding/json does with HTML escaping
// off: quote, backslash and control characters escaped (\n, \r, \t, else \u00XX), U+2028 and
// U+2029 escaped, and each invalid UTF-8 byte replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// NewMessage returns the message the relay publishes for e.
func NewMessage(e *domain.Envelope) (*message.Message, error) {
	// Secrets stay in the store: whoever reads the topic must not be able to sign webhook
	// deliveries.
	pub, redacted := domain.RedactSecretsFound(*e)
	payload, err := EncodePayload(make([]byte, 0, len(e.Data)+600), &pub)
	if err != nil {
		return nil, err
	}
	msg := message.NewMessage(e.EventID, payload)
	msg.Metadata = message.Metadata{
		kafka.PartitionKeyMetadata: PartitionKey(e.Stream),
		MetadataPosition:           strconv.FormatUint(e.Position, 10),
		MetadataStream:             e.Stream,
		MetadataStreamVersion:      strconv.FormatUint(e.StreamVersion, 10),
		MetadataType:               e.Type,
	}
	if redacted {
		msg.Metadata[MetadataRedacted] = domain.SecretField
	}
	return msg, nil
}

// batch is a run of consecutive positions, first..last, ready to publish.
type batch struct {
	msgs  []*message.Message
	first uint64
	last  Mark
}

// Run publishes every event from the position after cfg.Checkpoint's on, and keeps
// following the store, until ctx is done (it then finishes the Publish in flight, saves its
// checkpoint and returns nil) or something fails: the store's subscription, a batch after
// PublishAttemptsMax attempts (ErrPublish), or saving the checkpoint.
//
// One batch is in flight at a time, by design: two concurrent Publish calls could put a
// customer's later event in Kafka before an earlier one whenever the earlier batch failed
// and was retried, and a worker must then stop or refill from the store. One Publish of
// thousands of events already goes to every partition in parallel (kafka-go writes one
// request per partition at once); meanwhile the next batch is filled and encoded.
//
// Run does not deduplicate what it republishes after a crash (the last batch, at most
// BatchEventsMax events): consumers ignore an event at or below their stream's version.
func Run(ctx context.Context, src Source, pub message.Publisher, cfg Config) error {
	if src == nil || pub == nil {
		return errors.New("relay: Run needs a source and a publisher")
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	stats := cfg.Stats
	if stats == nil {
		stats = &Stats{}
	}
	mark, err := cfg.Checkpoint.Load()
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	head, err := checkMark(ctx, src, mark, cfg.StoreTimeout)
	if err != nil {
		return err
	}
	stats.checkpoint.Store(mark.Position)
	stats.seeHead(head)
	log.Info("relay starting", "topic", cfg.Topic, "checkpoint", mark.Position, "head", head)

	// The subscription and the batcher end when Run returns, whyever.
	subCtx, stopSub := context.WithCancel(ctx)
	defer stopSub()
	sub, err := src.Subscribe(subCtx, mark.Position+1)
	if err != nil {
		return fmt.Errorf("relay: subscribe from %d: %w", mark.Position+1, err)
	}
	batches := make(chan *batch) // unbuffered: one batch filling, one in flight
	var batchErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // ends when the subscription closes or subCtx is done; closes batches
		defer wg.Done()
		batchErr = fill(subCtx, sub, batches, mark.Position+1, cfg.BatchEventsMax, stats)
	}()
	defer wg.Wait()

	lastHeadRead := time.Now()
	for b := range batches {
		if ctx.Err() != nil {
			break // stopping: a batch handed over after the cancellation is not published
		}
		assert(b.first == mark.Position+1 && b.last.Position == b.first+uint64(len(b.msgs))-1,
			"batch %d..%d after checkpoint %d with %d messages", b.first, b.last.Position, mark.Position, len(b.msgs))
		if err := publish(ctx, pub, cfg, b, stats, log); err != nil {
			stopSub()
			if ctx.Err() != nil {
				log.Info("relay stopped", "checkpoint", mark.Position)
				return nil
			}
			return err
		}
		if err := cfg.Checkpoint.Save(b.last); err != nil {
			stopSub()
			return fmt.Errorf("relay: after publishing up to %d: %w", b.last.Position, err)
		}
		mark = b.last
		stats.checkpoint.Store(mark.Position)
		stats.published.Add(uint64(len(b.msgs)))
		stats.batches.Add(1)
		if time.Since(lastHeadRead) >= cfg.HeadRefreshInterval {
			lastHeadRead = time.Now()
			hctx, cancel := context.WithTimeout(ctx, cfg.StoreTimeout)
			if h, err := src.Head(hctx); err == nil {
				stats.seeHead(h.Position)
			}
			cancel()
		}
	}
	wg.Wait()
	if batchErr != nil && ctx.Err() == nil {
		return batchErr
	}
	log.Info("relay stopped", "checkpoint", mark.Position)
	return nil
}

// checkMark returns the store's head after checking that mark belongs to the store.
func checkMark(ctx context.Context, src Source, mark Mark, timeout time.Duration) (uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	head, err := src.Head(ctx)
	if err != nil {
		return 0, fmt.Errorf("relay: head: %w", err)
	}
	if mark.Position == 0 {
		return head.Position, nil
	}
	if mark.Position > head.Position {
		return 0, fmt.Errorf("relay: checkpoint at %d beyond the store's head %d: %w", mark.Position, head.Position, ErrCheckpointMismatch)
	}
	envs, err := src.ReadAll(ctx, mark.Position, 1)
	if err != nil {
		return 0, fmt.Errorf("relay: read checkpoint's event %d: %w", mark.Position, err)
	}
	if len(envs) != 1 || envs[0].Position != mark.Position || envs[0].Hash != mark.Hash {
		return 0, fmt.Errorf("relay: checkpoint at %d has hash %s, the store's event differs: %w", mark.Position, mark.Hash, ErrCheckpointMismatch)
	}
	return head.Position, nil
}

// fill reads the subscription from position next on, encodes each envelope and hands the
// messages over in batches on out: it offers what it holds whenever Run is ready for it,
// and keeps filling (up to batchMax) while Run is busy. It closes out when it returns: when
// ctx is done (nil), or on a subscription that ends or skips a position (ErrSubscription).
func fill(ctx context.Context, sub eventstore.Subscription, out chan<- *batch, next uint64, batchMax int, stats *Stats) error {
	defer close(out)
	cur := &batch{first: next, msgs: make([]*message.Message, 0, min(batchMax, 1024))}
	add := func(e domain.Envelope) error {
		if e.Position != next {
			return fmt.Errorf("relay: subscription gave position %d, want %d: %w", e.Position, next, ErrSubscription)
		}
		msg, err := NewMessage(&e)
		if err != nil {
			return fmt.Errorf("relay: %w", err)
		}
		cur.msgs = append(cur.msgs, msg)
		cur.last = Mark{Position: e.Position, Hash: e.Hash}
		next++
		stats.seeHead(e.Position)
		return nil
	}
	ended := func() error {
		if err := sub.Err(); err != nil && ctx.Err() == nil {
			return fmt.Errorf("relay: subscription at %d: %v: %w", next, err, ErrSubscription)
		}
		if ctx.Err() == nil {
			return fmt.Errorf("relay: subscription at %d ended (store closed): %w", next, ErrSubscription)
		}
		return nil
	}
	// Runs for the relay's life: exits on ctx.Done(), or when the subscription ends or fails.
	for {
		// Take what is already waiting before offering a batch, so a ready Run gets
		// everything available rather than a single event.
	drain:
		for len(cur.msgs) < batchMax {
			select {
			case e, ok := <-sub.C():
				if !ok {
					return ended()
				}
				if err := add(e); err != nil {
					return err
				}
			default:
				break drain
			}
		}
		in, send := sub.C(), out
		if len(cur.msgs) >= batchMax {
			in = nil // full: wait for Run
		}
		if len(cur.msgs) == 0 {
			send = nil // nothing to offer: wait for events
		}
		select {
		case e, ok := <-in:
			if !ok {
				return ended()
			}
			if err := add(e); err != nil {
				return err
			}
		case send <- cur:
			cur = &batch{first: next, msgs: make([]*message.Message, 0, min(batchMax, 1024))}
		case <-ctx.Done():
			return nil
		}
	}
}

// publish publishes b, retrying up to cfg.PublishAttemptsMax times with backoff. It returns
// ctx's error when ctx ends during a backoff (b is then not published, nor checkpointed).
func publish(ctx context.Context, pub message.Publisher, cfg Config, b *batch, stats *Stats, log *slog.Logger) error {
	backoff := cfg.PublishBackoffMin
	for attempt := 1; ; attempt++ {
		err := pub.Publish(cfg.Topic, b.msgs...)
		if err == nil {
			return nil
		}
		stats.failures.Add(1)
		if attempt >= cfg.PublishAttemptsMax {
			return fmt.Errorf("relay: publish positions %d..%d to %s, %d attempts: %v: %w",
				b.first, b.last.Position, cfg.Topic, attempt, err, ErrPublish)
		}
		// Full jitter on the upper half: retries of several relays do not line up.
		wait := backoff/2 + rand.N(backoff/2+1)
		log.Warn("relay publish failed; retrying", "first", b.first, "last", b.last.Position,
			"attempt", attempt, "wait", wait, "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		backoff = min(backoff*2, cfg.PublishBackoffMax)
	}
}

// assert panics when an invariant of this package is broken (style §8).
func assert(ok bool, format string, args ...any) {
	if !ok {
		panic("relay: invariant broken: " + fmt.Sprintf(format, args...))
	}
}
