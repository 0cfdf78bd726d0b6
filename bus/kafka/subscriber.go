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

// Subscriber is a watermill message.Subscriber reading from Kafka with kafka-go, as a member
// of one consumer group. Each Subscribe call joins the group with its own kafka-go Reader and
// runs one goroutine that hands over one message at a time; see the package documentation
// for the delivery rules. It is safe for concurrent use.
type Subscriber struct {
	cfg    SubscriberConfig
	logger watermill.LoggerAdapter
	dialer *kafkago.Dialer
	topics *topicCreator

	// closing is cancelled by Close; every subscription's context derives from it.
	closing     context.Context
	stopAll     context.CancelFunc
	stopAdmin   context.CancelFunc // ends the admin transport's background goroutines
	adminTransp *kafkago.Transport

	mu     sync.Mutex // guards closed and the Add side of running
	closed bool
	// running counts the subscription goroutines; Close waits for it to reach zero.
	running sync.WaitGroup
}

var (
	_ message.Subscriber           = (*Subscriber)(nil)
	_ message.SubscribeInitializer = (*Subscriber)(nil)
)

// NewSubscriber validates cfg and returns a Subscriber. It does not contact the brokers: the
// first Subscribe does. A nil logger is refused; pass watermill.NopLogger{} to discard logs.
func NewSubscriber(cfg SubscriberConfig, logger watermill.LoggerAdapter) (*Subscriber, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new kafka subscriber: %w", err)
	}
	if logger == nil {
		return nil, errors.New("new kafka subscriber: logger is nil (pass watermill.NopLogger{} to discard logs)")
	}
	logger = logger.With(watermill.LogFields{"component": "kafka_subscriber", "consumer_group": cfg.ConsumerGroup})

	// The admin transport only creates topics (kafka-go's Readers dial their own
	// connections), so its connections and cached metadata may live as long as one request.
	adminCtx, stopAdmin := context.WithCancel(context.Background())
	adminTransport := &kafkago.Transport{
		Dial:        (&net.Dialer{Timeout: cfg.DialTimeout}).DialContext,
		DialTimeout: cfg.DialTimeout,
		IdleTimeout: cfg.AdminTimeout,
		MetadataTTL: cfg.AdminTimeout,
		ClientID:    cfg.ClientID,
		Context:     adminCtx,
	}
	client := &kafkago.Client{Addr: kafkago.TCP(cfg.Brokers...), Timeout: cfg.AdminTimeout, Transport: adminTransport}
	closing, stopAll := context.WithCancel(context.Background())
	return &Subscriber{
		cfg:    cfg,
		logger: logger,
		dialer: &kafkago.Dialer{
			ClientID:  cfg.ClientID,
			Timeout:   cfg.DialTimeout,
			DualStack: true,
			KeepAlive: 30 * time.Second, // the OS's probes notice a vanished broker
		},
		topics:      newTopicCreator(client, cfg.Topics, cfg.AdminTimeout),
		closing:     closing,
		stopAll:     stopAll,
		stopAdmin:   stopAdmin,
		adminTransp: adminTransport,
	}, nil
}

// SubscribeInitialize creates topic when TopicConfig.Create is set, so that a subscription
// started before the first Publish gets the topic's partitions at once. It implements
// watermill's message.SubscribeInitializer.
func (s *Subscriber) SubscribeInitialize(topic string) error {
	if s.isClosed() {
		return ErrClosed
	}
	if err := s.topics.ensure(s.closing, topic); err != nil {
		return fmt.Errorf("subscribe initialize %s: %w", topic, err)
	}
	return nil
}

// Subscribe joins the consumer group on topic and returns the channel on which its messages
// arrive, one at a time: the next one comes after the previous is acked, or the same one
// again after a Nack. The channel is closed when ctx is cancelled or the Subscriber is
// closed. Each message's context derives from ctx, carries its Origin, and is cancelled once
// the message is acked or nacked, or the subscription ends.
func (s *Subscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	s.running.Add(1)
	s.mu.Unlock()

	if err := s.topics.ensure(ctx, topic); err != nil {
		s.running.Done()
		return nil, fmt.Errorf("subscribe to %s: %w", topic, err)
	}
	reader := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers:   s.cfg.Brokers,
		GroupID:   s.cfg.ConsumerGroup,
		Topic:     topic,
		Partition: 0, // must stay 0 with GroupID: the group assigns partitions
		Dialer:    s.dialer,

		QueueCapacity:    s.cfg.FetchQueueMax,
		MinBytes:         s.cfg.FetchBytesMin,
		MaxBytes:         s.cfg.FetchBytesMax,
		MaxWait:          s.cfg.FetchWaitMax,
		ReadBatchTimeout: s.cfg.ReadBatchTimeout,
		ReadBackoffMin:   100 * time.Millisecond, // kafka-go's defaults: pause between empty fetches
		ReadBackoffMax:   time.Second,
		ReadLagInterval:  -1, // no lag polling goroutine; lag is the broker's to report

		// Range first, as the Java client: with keyed partitions, members get contiguous ranges.
		GroupBalancers:         []kafkago.GroupBalancer{kafkago.RangeGroupBalancer{}, kafkago.RoundRobinGroupBalancer{}},
		HeartbeatInterval:      s.cfg.HeartbeatInterval,
		SessionTimeout:         s.cfg.SessionTimeout,
		RebalanceTimeout:       s.cfg.RebalanceTimeout,
		JoinGroupBackoff:       s.cfg.JoinGroupBackoff,
		WatchPartitionChanges:  true,
		PartitionWatchInterval: s.cfg.PartitionWatchInterval,
		CommitInterval:         s.cfg.CommitInterval,
		RetentionTime:          -time.Millisecond,   // kafka-go: leave it to the broker's offsets.retention.minutes (7 days)
		StartOffset:            kafkago.FirstOffset, // a new group reads the topic from its start
		IsolationLevel:         kafkago.ReadCommitted,
		MaxAttempts:            3, // kafka-go's default: connection attempts per join, then report
		OffsetOutOfRangeError:  false,

		Logger:      kafkaLogger(s.logger),
		ErrorLogger: kafkaErrorLogger(s.logger),
	})

	// The subscription ends when the caller's ctx is cancelled or Close cancels s.closing.
	subCtx, cancel := context.WithCancel(ctx)
	stopOnClose := context.AfterFunc(s.closing, cancel)
	out := make(chan *message.Message) // unbuffered: one message in flight per subscription
	sub := &subscription{
		cfg:    s.cfg,
		logger: s.logger.With(watermill.LogFields{"topic": topic}),
		reader: reader,
		out:    out,
	}
	go func() { // owned by s (Close waits for running); ends with subCtx
		defer s.running.Done()
		defer cancel()
		defer stopOnClose()
		sub.run(subCtx)
	}()
	return out, nil
}

// Close ends every subscription (no message that was not acked is committed), leaves the
// group, and closes the output channels. It waits for all of that up to CloseTimeout and
// reports an error if something is still running then. Close is idempotent.
func (s *Subscriber) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()

	s.stopAll()
	done := make(chan struct{})
	// This goroutine ends when the last subscription does; after a CloseTimeout it outlives
	// Close by as long as kafka-go's own deadlines keep a reader closing.
	go func() {
		s.running.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-time.After(s.cfg.CloseTimeout):
		err = fmt.Errorf("close kafka subscriber: subscriptions still running after %s", s.cfg.CloseTimeout)
	}
	s.adminTransp.CloseIdleConnections()
	s.stopAdmin()
	return err
}

func (s *Subscriber) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// subscription is the state of one Subscribe call, owned by its goroutine.
type subscription struct {
	cfg    SubscriberConfig
	logger watermill.LoggerAdapter
	reader *kafkago.Reader
	out    chan *message.Message
}

// run fetches, delivers and commits until ctx ends — it runs for the subscription's whole
// life and exits only on ctx.Done() or on a message the Marshaler refuses — then closes the
// reader (leaving the group, committing nothing more) and the output channel.
func (sub *subscription) run(ctx context.Context) {
	defer close(sub.out)
	defer func() {
		if err := sub.reader.Close(); err != nil {
			sub.logger.Error("close kafka reader", err, nil)
		}
	}()
	for ctx.Err() == nil {
		km, err := sub.reader.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			// The group could not be joined, or a fetch failed: kafka-go reconnects by itself;
			// pause so a broker that is down is not asked in a tight loop.
			sub.logger.Info("fetch failed, retrying", watermill.LogFields{"err": err.Error()})
			select {
			case <-ctx.Done():
				return
			case <-time.After(sub.cfg.FetchErrorBackoff):
			}
			continue
		}
		assert(km.Partition >= 0 && km.Offset >= 0, "fetched message with partition %d offset %d", km.Partition, km.Offset)
		if !sub.deliver(ctx, km) {
			return
		}
	}
}

// deliver hands km over until it is acked (then commits it and returns true), handing it
// over again after each Nack. It returns false when the subscription must end: ctx is done
// (km is not committed), or the Marshaler refused km — skipping it would commit past a
// message nobody saw, so the subscription stops and says why.
//
// The Nack loop has no attempt limit of its own: watermill's router middlewares (Retry,
// PoisonQueue) decide when a message is hopeless; the loop ends on Ack or ctx.Done().
func (sub *subscription) deliver(ctx context.Context, km kafkago.Message) bool {
	fields := watermill.LogFields{"partition": km.Partition, "offset": km.Offset}
	for {
		msg, err := sub.cfg.Marshaler.Unmarshal(km)
		if err != nil {
			sub.logger.Error("unmarshal failed; subscription stops before this message", err, fields)
			return false
		}
		msgCtx, cancelMsg := context.WithCancel(withOrigin(ctx, km))
		msg.SetContext(msgCtx)

		select {
		case sub.out <- msg:
		case <-ctx.Done():
			cancelMsg()
			return false
		}

		select {
		case <-msg.Acked():
			cancelMsg()
			sub.commit(km, fields)
			return true
		case <-msg.Nacked():
			cancelMsg()
			select {
			case <-ctx.Done():
				return false
			case <-time.After(sub.cfg.NackResendDelay):
			}
		case <-ctx.Done():
			// Closing with the message unacked: cancel its context so the handler stops, and
			// leave its offset uncommitted so it is delivered again.
			cancelMsg()
			return false
		}
	}
}

// commit records km as processed. Its context is not the subscription's: a message acked
// just before Close is still committed, within CommitTimeout.
func (sub *subscription) commit(km kafkago.Message, fields watermill.LogFields) {
	ctx, cancel := context.WithTimeout(context.Background(), sub.cfg.CommitTimeout)
	defer cancel()
	if err := sub.reader.CommitMessages(ctx, km); err != nil {
		// Not fatal: a later commit on this partition covers it, else it is redelivered.
		sub.logger.Info("commit failed; the message may be delivered again", fields.Add(watermill.LogFields{"err": err.Error()}))
	}
}

// assert panics when a programmer's invariant is broken (style §8). It never checks input
// from the network beyond what kafka-go guarantees.
func assert(ok bool, format string, args ...any) {
	if !ok {
		panic("bus/kafka: invariant broken: " + fmt.Sprintf(format, args...))
	}
}
