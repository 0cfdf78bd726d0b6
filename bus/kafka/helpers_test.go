package kafka_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/bus/kafka"
	"github.com/encours/encours/bus/kafka/kafkatest"
)

const (
	// testWait bounds every wait for a message in the focused tests.
	testWait = 30 * time.Second
)

// testPublisherConfig is the daemon's configuration with topic creation on (8 partitions, one
// replica: kfake and the script's broker have no replicas to spare).
func testPublisherConfig(brokers []string, m kafka.Marshaler) kafka.PublisherConfig {
	cfg := kafka.DefaultPublisherConfig(brokers)
	cfg.Marshaler = m
	cfg.Topics = kafka.TopicConfig{Create: true, Partitions: kafkatest.Partitions, ReplicationFactor: 1}
	return cfg
}

// testSubscriberConfig is the daemon's configuration with topic creation on and the group
// timings shortened, so the suite's hundreds of joins and leaves stay quick.
func testSubscriberConfig(brokers []string, group string, m kafka.Marshaler) kafka.SubscriberConfig {
	cfg := kafka.DefaultSubscriberConfig(brokers, group)
	cfg.Marshaler = m
	cfg.Topics = kafka.TopicConfig{Create: true, Partitions: kafkatest.Partitions, ReplicationFactor: 1}
	cfg.SessionTimeout = 6 * time.Second // the broker's minimum
	cfg.HeartbeatInterval = 500 * time.Millisecond
	cfg.RebalanceTimeout = 5 * time.Second
	cfg.JoinGroupBackoff = 200 * time.Millisecond
	cfg.PartitionWatchInterval = 2 * time.Second
	cfg.FetchErrorBackoff = 100 * time.Millisecond
	cfg.NackResendDelay = 10 * time.Millisecond
	cfg.CloseTimeout = 20 * time.Second
	return cfg
}

func newPublisher(t *testing.T, brokers []string, m kafka.Marshaler) *kafka.Publisher {
	t.Helper()
	pub, err := kafka.NewPublisher(testPublisherConfig(brokers, m), kafkatest.Logger())
	require.NoError(t, err)
	return pub
}

func newSubscriber(t *testing.T, brokers []string, group string, m kafka.Marshaler) *kafka.Subscriber {
	t.Helper()
	sub, err := kafka.NewSubscriber(testSubscriberConfig(brokers, group, m), kafkatest.Logger())
	require.NoError(t, err)
	return sub
}

// groupPerTopic is a message.Subscriber that subscribes to each topic in the consumer group
// prefix+topic. The acceptance suite's plain constructor has no group parameter and runs its
// tests in parallel on distinct topics; one group per topic keeps a join in one test from
// rebalancing the members of all the others (as one group per stream does in production).
// Every groupPerTopic with the same prefix shares the groups, hence the committed offsets.
type groupPerTopic struct {
	newSub func(group string) *kafka.Subscriber
	prefix string

	mu     sync.Mutex
	subs   []*kafka.Subscriber
	closed bool
}

var (
	_ message.Subscriber           = (*groupPerTopic)(nil)
	_ message.SubscribeInitializer = (*groupPerTopic)(nil)
)

func (g *groupPerTopic) subscriber(topic string) (*kafka.Subscriber, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, kafka.ErrClosed
	}
	s := g.newSub(g.prefix + topic)
	g.subs = append(g.subs, s)
	return s, nil
}

func (g *groupPerTopic) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s, err := g.subscriber(topic)
	if err != nil {
		return nil, err
	}
	return s.Subscribe(ctx, topic)
}

func (g *groupPerTopic) SubscribeInitialize(topic string) error {
	s, err := g.subscriber(topic)
	if err != nil {
		return err
	}
	return s.SubscribeInitialize(topic)
}

// Close closes the subscribers concurrently (each one waits for its group to be left) and
// returns the first error.
func (g *groupPerTopic) Close() error {
	g.mu.Lock()
	subs := g.subs
	g.closed = true
	g.mu.Unlock()
	errs := make(chan error, len(subs))
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Add(1)
		go func() { // ends when s.Close returns, bounded by CloseTimeout
			defer wg.Done()
			errs <- s.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// receive waits up to testWait for the next message on ch; it fails the test on timeout or
// when ch is closed.
func receive(t *testing.T, ch <-chan *message.Message, what string) *message.Message {
	t.Helper()
	select {
	case msg, ok := <-ch:
		require.True(t, ok, "%s: channel closed", what)
		return msg
	case <-time.After(testWait):
		t.Fatalf("%s: no message after %s", what, testWait)
		return nil
	}
}

// requireClosed waits up to testWait for ch to be closed, nacking anything still on it, so
// nothing is committed.
func requireClosed(t *testing.T, ch <-chan *message.Message, what string) {
	t.Helper()
	deadline := time.After(testWait)
	for {
		select {
		case msg, ok := <-ch:
			if !ok {
				return
			}
			msg.Nack()
		case <-deadline:
			t.Fatalf("%s: channel still open after %s", what, testWait)
		}
	}
}
