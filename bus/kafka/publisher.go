package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
)

// ErrClosed is returned by Publish, Subscribe and SubscribeInitialize after Close.
var ErrClosed = errors.New("kafka: closed")

// Publisher is a watermill message.Publisher writing to Kafka with kafka-go. Publish is
// synchronous: it returns nil only once every in-sync replica has every message
// (RequiredAcks=all). It is safe for concurrent use.
type Publisher struct {
	cfg    PublisherConfig
	logger watermill.LoggerAdapter

	transport     *kafkago.Transport
	stopTransport context.CancelFunc // ends the transport's background goroutines
	writer        *kafkago.Writer
	topics        *topicCreator

	// mu is held for reading by each Publish and for writing by Close, so Close waits for
	// the Publish calls in flight (each bounded by PublishTimeout) before closing the writer.
	mu     sync.RWMutex
	closed bool
}

var _ message.Publisher = (*Publisher)(nil)

// NewPublisher validates cfg and returns a Publisher. It does not contact the brokers: the
// first Publish does. A nil logger is refused; pass watermill.NopLogger{} to discard logs.
func NewPublisher(cfg PublisherConfig, logger watermill.LoggerAdapter) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new kafka publisher: %w", err)
	}
	if logger == nil {
		return nil, errors.New("new kafka publisher: logger is nil (pass watermill.NopLogger{} to discard logs)")
	}
	logger = logger.With(watermill.LogFields{"component": "kafka_publisher"})

	transportCtx, stopTransport := context.WithCancel(context.Background())
	transport := &kafkago.Transport{
		Dial:        (&net.Dialer{Timeout: cfg.DialTimeout}).DialContext,
		DialTimeout: cfg.DialTimeout,
		IdleTimeout: cfg.IdleConnTimeout,
		MetadataTTL: cfg.MetadataTTL,
		ClientID:    cfg.ClientID,
		Context:     transportCtx,
	}
	addr := kafkago.TCP(cfg.Brokers...)
	writer := &kafkago.Writer{
		Addr:      addr,
		Transport: transport,
		// Topic is left empty: each message names its own, so one writer serves every topic.
		Topic: "",
		// Java's default partitioner hashes keys with murmur2, so a customer's events land in
		// the same partition whichever client wrote them. A nil key (no partition_key) goes
		// to a random partition.
		Balancer:        &kafkago.Murmur2Balancer{Consistent: false},
		MaxAttempts:     cfg.WriteAttemptsMax,
		WriteBackoffMin: cfg.WriteBackoffMin,
		WriteBackoffMax: cfg.WriteBackoffMax,
		BatchSize:       cfg.BatchMessagesMax,
		BatchBytes:      cfg.BatchBytesMax,
		BatchTimeout:    cfg.BatchTimeout,
		ReadTimeout:     cfg.ReadTimeout,
		WriteTimeout:    cfg.WriteTimeout,
		// All in-sync replicas, not kafka-go's default of none: an event Publish reported as
		// sent survives the loss of the partition leader.
		RequiredAcks: kafkago.RequireAll,
		// Synchronous: Publish must report the outcome, and the relay moves its checkpoint
		// only past events Kafka has.
		Async:       false,
		Compression: 0, // none: events are small JSON, and the CPU is shared
		// With topic creation allowed, a topic missing from the transport's metadata cache
		// (created a moment ago by another process) is looked up at the broker instead of
		// failing until the cache expires; topicCreator has already created it with the
		// configured partitions, so the broker's own defaults never apply.
		AllowAutoTopicCreation: cfg.Topics.Create,
		Logger:                 kafkaLogger(logger),
		ErrorLogger:            kafkaErrorLogger(logger),
	}
	client := &kafkago.Client{Addr: addr, Timeout: cfg.AdminTimeout, Transport: transport}
	return &Publisher{
		cfg:           cfg,
		logger:        logger,
		transport:     transport,
		stopTransport: stopTransport,
		writer:        writer,
		topics:        newTopicCreator(client, cfg.Topics, cfg.AdminTimeout),
	}, nil
}

// Publish writes msgs to topic in order and returns once Kafka has acknowledged all of them,
// or the first error. It is bounded by PublishTimeout. Like every Kafka producer it is not
// atomic: on error, some of the messages may have been written.
func (p *Publisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	if len(msgs) == 0 {
		return nil
	}

	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.PublishTimeout)
	defer cancel()
	if err := p.topics.ensure(ctx, topic); err != nil {
		return fmt.Errorf("publish to %s: %w", topic, err)
	}
	kms := make([]kafkago.Message, 0, len(msgs))
	for _, msg := range msgs {
		km, err := p.cfg.Marshaler.Marshal(topic, msg)
		if err != nil {
			return fmt.Errorf("publish to %s: %w", topic, err)
		}
		km.Topic = topic
		kms = append(kms, km)
	}

	// kafka-go retries failed produce requests itself (WriteAttemptsMax), but fails at once
	// when the topic is missing from its metadata cache; a topic created by someone else a
	// moment ago appears there within MetadataTTL, so that error alone is retried here.
	for attempt := 1; ; attempt++ {
		err := p.writer.WriteMessages(ctx, kms...)
		if err == nil {
			p.logger.Trace("published", watermill.LogFields{"topic": topic, "messages": len(kms)})
			return nil
		}
		if !errors.Is(err, kafkago.UnknownTopicOrPartition) || attempt >= p.cfg.WriteAttemptsMax {
			return fmt.Errorf("publish %d messages to %s: %w", len(kms), topic, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("publish %d messages to %s: %w (after %v)", len(kms), topic, err, ctx.Err())
		case <-time.After(p.cfg.WriteBackoffMax):
		}
	}
}

// Close waits for the Publish calls in flight, flushes and closes the writer, and closes the
// connections. Publish returns ErrClosed afterwards. Close is idempotent.
func (p *Publisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	err := p.writer.Close()
	p.transport.CloseIdleConnections()
	p.stopTransport()
	if err != nil {
		return fmt.Errorf("close kafka publisher: %w", err)
	}
	return nil
}

// kafkaLogger sends kafka-go's chatter (joins, commits, rebalances) to the Trace level.
func kafkaLogger(logger watermill.LoggerAdapter) kafkago.Logger {
	return kafkago.LoggerFunc(func(format string, args ...any) {
		logger.Trace("kafka-go: "+fmt.Sprintf(format, args...), nil)
	})
}

// kafkaErrorLogger sends kafka-go's errors to the Info level, not Error: kafka-go reports
// there what it recovers from by itself (a rebalance in progress, a broker that went away),
// and what it cannot recover from reaches us as an error anyway.
func kafkaErrorLogger(logger watermill.LoggerAdapter) kafkago.Logger {
	return kafkago.LoggerFunc(func(format string, args ...any) {
		logger.Info("kafka-go error: "+fmt.Sprintf(format, args...), nil)
	})
}
