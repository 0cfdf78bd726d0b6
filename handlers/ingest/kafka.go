package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/encours/encours/bus/kafka"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/handlers/httpapi"
)

// The ingest topics (design §Flow step 1: "or a Kafka ingest message").
const (
	CommandsTopic   = "encours.commands"
	DeadLetterTopic = "encours.commands.dlq"
)

// Headers of a message on encours.commands. The value is the write route's JSON body, byte
// for byte what POST <path> takes; the Kafka key should be the customer id, so that one
// customer's commands stay in order (a partition is handled one message at a time).
const (
	// HeaderPath names the write route, as its HTTP path: /v1/invoices,
	// /v1/customers/ACME/credit-limit, /v1/invoices/F1/dispute ... (the method is POST).
	HeaderPath = "path"
	// HeaderIdempotencyKey is required on the topic (Kafka delivers at least once, so a
	// command without a key could be appended twice); same rules as the HTTP header, and the
	// same key space: a key used over HTTP with the same path and body is the same request.
	HeaderIdempotencyKey = "idempotency-key"
	// HeaderCorrelationID, optional, is recorded on the events.
	HeaderCorrelationID = "correlation-id"
)

// Headers a dead letter on encours.commands.dlq carries beside the original message's own
// headers, key and value.
const (
	HeaderErrorStatus     = "error-status" // the HTTP status the route would have answered
	HeaderErrorCode       = "error-code"   // the API's error code: invalid_json, unknown_field ...
	HeaderErrorMessage    = "error-message"
	HeaderErrorField      = "error-field" // when the error names one
	HeaderSourceTopic     = "source-topic"
	HeaderSourcePartition = "source-partition"
	HeaderSourceOffset    = "source-offset"
)

// CodeMissingIdempotencyKey is the dead letter's code of a command sent without
// HeaderIdempotencyKey.
const CodeMissingIdempotencyKey = "missing_idempotency_key"

// Executor runs one command: httpapi.Commands.
type Executor interface {
	Execute(ctx context.Context, req httpapi.CommandRequest) (command.Result, error)
}

// KafkaConfig configures KafkaIngest.
type KafkaConfig struct {
	// Topic is consumed (CommandsTopic); DeadLetterTopic receives what cannot be executed.
	Topic, DeadLetterTopic string
	// Actor is recorded on the events the topic's commands append, e.g. "kafka:encours.commands".
	Actor string
	// Logger receives refusals and retries; nil discards them.
	Logger *slog.Logger
}

// DefaultKafkaConfig is the daemon's configuration.
func DefaultKafkaConfig() KafkaConfig {
	return KafkaConfig{Topic: CommandsTopic, DeadLetterTopic: DeadLetterTopic, Actor: "kafka:" + CommandsTopic}
}

// KafkaStats are the ingest's counters.
type KafkaStats struct {
	Executed     uint64 // commands appended
	Replayed     uint64 // commands whose idempotency key had already been executed: nothing appended
	DeadLettered uint64 // messages sent to the dead-letter topic
	Retries      uint64 // messages nacked after a failure that may pass (store unavailable, DLQ publish failed)
}

// KafkaIngest executes the commands of the topic encours.commands. Each message is acked —
// so its offset committed — only after its command is appended (or was already, under its
// idempotency key) or after it is on the dead-letter topic: a command refused as written (a
// 4xx answer: malformed JSON, unknown field, unknown route, a refusal of the domain) goes to
// DeadLetterTopic with its error code and message; a failure that may pass (the store
// unavailable) nacks the message, which is handed over again.
type KafkaIngest struct {
	sub  message.Subscriber
	dlq  message.Publisher
	exec Executor
	cfg  KafkaConfig
	log  *slog.Logger

	executed, replayed, dead, retries atomic.Uint64
}

// NewKafkaIngest returns an ingest reading sub (a bus/kafka Subscriber in a consumer group
// the api nodes share) and dead-lettering through dlq.
func NewKafkaIngest(sub message.Subscriber, dlq message.Publisher, exec Executor, cfg KafkaConfig) (*KafkaIngest, error) {
	if sub == nil || dlq == nil || exec == nil {
		return nil, errors.New("new kafka ingest: needs a subscriber, a dead-letter publisher and an executor")
	}
	if strings.TrimSpace(cfg.Topic) == "" || strings.TrimSpace(cfg.DeadLetterTopic) == "" || cfg.Topic == cfg.DeadLetterTopic {
		return nil, fmt.Errorf("new kafka ingest: topics %q and %q: want two distinct names", cfg.Topic, cfg.DeadLetterTopic)
	}
	if strings.TrimSpace(cfg.Actor) == "" {
		return nil, errors.New("new kafka ingest: Actor is empty")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &KafkaIngest{sub: sub, dlq: dlq, exec: exec, cfg: cfg, log: log.With("component", "kafka_ingest")}, nil
}

// Stats returns the counters.
func (k *KafkaIngest) Stats() KafkaStats {
	return KafkaStats{Executed: k.executed.Load(), Replayed: k.replayed.Load(), DeadLettered: k.dead.Load(), Retries: k.retries.Load()}
}

// Run consumes the topic until ctx is done (nil; the message in hand is neither acked nor
// nacked and goes to the partition's next owner) or the subscription closes.
func (k *KafkaIngest) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the subscription whyever Run returns
	msgs, err := k.sub.Subscribe(ctx, k.cfg.Topic)
	if err != nil {
		return fmt.Errorf("kafka ingest: subscribe to %s: %w", k.cfg.Topic, err)
	}
	k.log.Info("kafka ingest started", "topic", k.cfg.Topic, "dead_letters", k.cfg.DeadLetterTopic)
	// Runs until ctx is done or the subscription closes.
	for {
		var msg *message.Message
		var ok bool
		select {
		case msg, ok = <-msgs:
		case <-ctx.Done():
			return nil
		}
		if !ok {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("kafka ingest: %s: subscription closed", k.cfg.Topic)
		}
		if k.handle(ctx, msg) {
			msg.Ack()
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		k.retries.Add(1)
		msg.Nack()
	}
}

// handle executes or dead-letters msg; false: neither happened, the message is to be
// handed over again.
func (k *KafkaIngest) handle(ctx context.Context, msg *message.Message) bool {
	key := msg.Metadata.Get(HeaderIdempotencyKey)
	if key == "" {
		return k.deadLetter(msg, &httpapi.CommandError{Status: http.StatusBadRequest, Code: CodeMissingIdempotencyKey,
			Message: "a command on " + k.cfg.Topic + " needs an " + HeaderIdempotencyKey + " header (delivery is at least once)",
			Field:   HeaderIdempotencyKey})
	}
	res, err := k.exec.Execute(ctx, httpapi.CommandRequest{Path: msg.Metadata.Get(HeaderPath), IdempotencyKey: key,
		CorrelationID: msg.Metadata.Get(HeaderCorrelationID), Body: msg.Payload, Actor: k.cfg.Actor})
	var refused *httpapi.CommandError
	switch {
	case err == nil:
		if res.Replayed {
			k.replayed.Add(1)
		} else {
			k.executed.Add(1)
		}
		return true
	case errors.As(err, &refused) && !refused.Retryable():
		return k.deadLetter(msg, refused)
	default:
		k.log.Warn("kafka ingest: command failed; it will be handed over again", "uuid", msg.UUID, "err", err)
		return false
	}
}

// deadLetter publishes msg to the dead-letter topic with why; false when that failed.
func (k *KafkaIngest) deadLetter(msg *message.Message, why *httpapi.CommandError) bool {
	dl := message.NewMessage(msg.UUID, msg.Payload)
	dl.Metadata = make(message.Metadata, len(msg.Metadata)+7)
	for name, v := range msg.Metadata {
		dl.Metadata[name] = v
	}
	dl.Metadata[HeaderErrorStatus] = strconv.Itoa(why.Status)
	dl.Metadata[HeaderErrorCode] = why.Code
	dl.Metadata[HeaderErrorMessage] = why.Message
	if why.Field != "" {
		dl.Metadata[HeaderErrorField] = why.Field
	}
	if o, ok := kafka.OriginFromContext(msg.Context()); ok {
		dl.Metadata[HeaderSourceTopic] = o.Topic
		dl.Metadata[HeaderSourcePartition] = strconv.Itoa(o.Partition)
		dl.Metadata[HeaderSourceOffset] = strconv.FormatInt(o.Offset, 10)
	}
	if err := k.dlq.Publish(k.cfg.DeadLetterTopic, dl); err != nil {
		k.log.Warn("kafka ingest: dead-letter publish failed; the message will be handed over again", "uuid", msg.UUID, "err", err)
		return false
	}
	k.dead.Add(1)
	k.log.Info("kafka ingest: command dead-lettered", "uuid", msg.UUID, "code", why.Code, "message", why.Message)
	return true
}
