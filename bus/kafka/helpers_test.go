package kafka_test

import (
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/encours/encours/bus/kafka"
)

const (
	// realBrokerDefault is where scripts/kafka up starts its broker.
	realBrokerDefault = "127.0.0.1:9092"
	// realBrokerDialTimeout bounds the reachability probe of the real broker.
	realBrokerDialTimeout = 2 * time.Second
	// testPartitions is the partition count of every topic the tests create: more partitions
	// than most tests have subscribers, so a group really splits the work.
	testPartitions = 8
	// testWait bounds every wait for a message in the focused tests.
	testWait = 30 * time.Second
)

// broker is a Kafka cluster a test runs against.
type broker struct {
	name    string
	brokers func(t *testing.T) []string
}

// brokersUnderTest are the two clusters of design §Scale-out: franz-go's in-process kfake,
// always, and a real Apache Kafka broker, skipped (or failed in CI) when none is reachable.
var brokersUnderTest = []broker{
	{name: "kfake", brokers: startKfake},
	{name: "kafka", brokers: realKafka},
}

// startKfake starts a fresh in-process Kafka-protocol cluster of three brokers, each on
// 127.0.0.1 and a random port, and closes it when the test ends.
func startKfake(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(
		kfake.NumBrokers(3),
		kfake.DefaultNumPartitions(testPartitions),
		kfake.AllowAutoTopicCreation(),
		// kfake's default group session bounds (6 s .. 5 min), the same as Kafka's, stated.
		kfake.GroupMinSessionTimeout(6*time.Second),
		kfake.GroupMaxSessionTimeout(5*time.Minute),
	)
	require.NoError(t, err, "start kfake cluster")
	t.Cleanup(c.Close)
	addrs := c.ListenAddrs()
	for _, a := range addrs {
		require.True(t, strings.HasPrefix(a, "127.0.0.1:"), "kfake listens on %s, want 127.0.0.1", a)
	}
	return addrs
}

// realKafka returns the real broker's addresses: ENCOURS_KAFKA_BROKERS (comma separated)
// when set, else 127.0.0.1:9092 when something listens there. With no broker it skips, unless
// CI=true: CI starts one (scripts/kafka up), so its absence there is a failure.
func realKafka(t *testing.T) []string {
	t.Helper()
	if env := strings.TrimSpace(os.Getenv("ENCOURS_KAFKA_BROKERS")); env != "" {
		brokers := strings.Split(env, ",")
		if err := probe(brokers[0]); err != nil {
			t.Fatalf("real Kafka broker: ENCOURS_KAFKA_BROKERS=%s is not reachable: %v", env, err)
		}
		return brokers
	}
	if err := probe(realBrokerDefault); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("real Kafka broker: none reachable at %s (%v); CI must start one with scripts/kafka up", realBrokerDefault, err)
		}
		t.Skip("real Kafka broker: none reachable at 127.0.0.1:9092; run scripts/kafka up (CI does)")
	}
	return []string{realBrokerDefault}
}

func probe(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, realBrokerDialTimeout)
	if err != nil {
		return err
	}
	return conn.Close()
}

// testLogger discards logs unless ENCOURS_TEST_LOG is set: kafka-go reports every rebalance,
// and the suite makes hundreds.
func testLogger() watermill.LoggerAdapter {
	if os.Getenv("ENCOURS_TEST_LOG") != "" {
		return watermill.NewStdLogger(true, false)
	}
	return watermill.NopLogger{}
}

// testPublisherConfig is the daemon's configuration with topic creation on (8 partitions, one
// replica: kfake and the script's broker have no replicas to spare).
func testPublisherConfig(brokers []string, m kafka.Marshaler) kafka.PublisherConfig {
	cfg := kafka.DefaultPublisherConfig(brokers)
	cfg.Marshaler = m
	cfg.Topics = kafka.TopicConfig{Create: true, Partitions: testPartitions, ReplicationFactor: 1}
	return cfg
}

// testSubscriberConfig is the daemon's configuration with topic creation on and the group
// timings shortened, so the suite's hundreds of joins and leaves stay quick.
func testSubscriberConfig(brokers []string, group string, m kafka.Marshaler) kafka.SubscriberConfig {
	cfg := kafka.DefaultSubscriberConfig(brokers, group)
	cfg.Marshaler = m
	cfg.Topics = kafka.TopicConfig{Create: true, Partitions: testPartitions, ReplicationFactor: 1}
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
	pub, err := kafka.NewPublisher(testPublisherConfig(brokers, m), testLogger())
	require.NoError(t, err)
	return pub
}

func newSubscriber(t *testing.T, brokers []string, group string, m kafka.Marshaler) *kafka.Subscriber {
	t.Helper()
	sub, err := kafka.NewSubscriber(testSubscriberConfig(brokers, group, m), testLogger())
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
