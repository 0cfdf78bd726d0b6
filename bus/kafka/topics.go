package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	kafkago "github.com/segmentio/kafka-go"
)

const (
	// topicsKnownMax bounds the set of topic names a topicCreator remembers as existing.
	// Encours uses a handful of topics; the acceptance suite a few hundred. When full, the
	// set stops growing and further topics are simply checked on each use (one CreateTopics
	// round trip answered TopicAlreadyExists).
	topicsKnownMax = 4096

	// topicLeaderPollInterval is the pause between two metadata reads while waiting for a
	// new topic's partitions to have leaders.
	topicLeaderPollInterval = 50 * time.Millisecond
)

// topicCreator creates missing topics with the configured partitions, once per topic and
// process, and waits until every partition has a leader, so that the first produce or
// consumer-group join after it sees the whole topic.
type topicCreator struct {
	client  *kafkago.Client
	cfg     TopicConfig
	timeout time.Duration

	mu    sync.Mutex
	known map[string]struct{} // topics seen to exist; at most topicsKnownMax
}

func newTopicCreator(client *kafkago.Client, cfg TopicConfig, timeout time.Duration) *topicCreator {
	return &topicCreator{client: client, cfg: cfg, timeout: timeout, known: map[string]struct{}{}}
}

// ensure creates topic when TopicConfig.Create is set and the topic is not known to exist.
// It is bounded by the creator's timeout and by ctx.
func (tc *topicCreator) ensure(ctx context.Context, topic string) error {
	if !tc.cfg.Create {
		return nil
	}
	if topic == "" {
		return errors.New("topic name is empty")
	}
	tc.mu.Lock()
	_, known := tc.known[topic]
	tc.mu.Unlock()
	if known {
		return nil
	}

	ctx, cancel := context.WithTimeout(ctx, tc.timeout)
	defer cancel()
	resp, err := tc.client.CreateTopics(ctx, &kafkago.CreateTopicsRequest{
		Topics: []kafkago.TopicConfig{{
			Topic:             topic,
			NumPartitions:     tc.cfg.Partitions,
			ReplicationFactor: tc.cfg.ReplicationFactor,
		}},
		ValidateOnly: false,
	})
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	switch err := resp.Errors[topic]; {
	case err == nil:
		if err := tc.waitForLeaders(ctx, topic); err != nil {
			return err
		}
	case errors.Is(err, kafkago.TopicAlreadyExists):
		// Created by someone else (another process, or this process's other side), who
		// waited for its leaders. Our metadata cache may not have it yet: the Publisher's
		// writer asks the broker for topics missing from its cache (AllowAutoTopicCreation),
		// and the Subscriber's readers do not use the cache.
	default:
		return fmt.Errorf("create topic %s: %w", topic, err)
	}

	tc.mu.Lock()
	if len(tc.known) < topicsKnownMax {
		tc.known[topic] = struct{}{}
	}
	tc.mu.Unlock()
	return nil
}

// waitForLeaders polls the topic's metadata until each partition has a leader. Creation is
// asynchronous in Kafka: the controller has the topic before every broker can serve it.
func (tc *topicCreator) waitForLeaders(ctx context.Context, topic string) error {
	ticker := time.NewTicker(topicLeaderPollInterval)
	defer ticker.Stop()
	// Bounded by ctx, which carries the creator's timeout.
	for {
		ready, err := tc.leadersReady(ctx, topic)
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("create topic %s: partitions without a leader after %s (last error: %v): %w",
				topic, tc.timeout, err, ctx.Err())
		case <-ticker.C:
		}
	}
}

func (tc *topicCreator) leadersReady(ctx context.Context, topic string) (bool, error) {
	md, err := tc.client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return false, err
	}
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return false, t.Error
		}
		if len(t.Partitions) == 0 {
			return false, errors.New("no partitions yet")
		}
		for _, p := range t.Partitions {
			if p.Error != nil {
				return false, p.Error
			}
			if p.Leader.Host == "" {
				return false, fmt.Errorf("partition %d has no leader", p.ID)
			}
		}
		return true, nil
	}
	return false, kafkago.UnknownTopicOrPartition
}

// CreateTopics creates each of topics that does not exist yet on brokers, with cfg's
// partitions and replication factor (cfg.Create is implied), and waits until every partition
// of a topic it created has a leader. An existing topic is left as it is. The daemon calls it
// at start for the topics it uses; timeout bounds each topic.
func CreateTopics(ctx context.Context, brokers []string, clientID string, cfg TopicConfig, timeout time.Duration, topics ...string) error {
	cfg.Create = true
	if err := validateBrokers(brokers); err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	if errs := cfg.validate(); len(errs) > 0 {
		return fmt.Errorf("create topics: %v", errs)
	}
	if timeout <= 0 {
		return errors.New("create topics: timeout is not positive")
	}
	transport := &kafkago.Transport{DialTimeout: timeout, ClientID: clientID}
	defer transport.CloseIdleConnections()
	tc := newTopicCreator(&kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: timeout, Transport: transport}, cfg, timeout)
	for _, topic := range topics {
		if err := tc.ensure(ctx, topic); err != nil {
			return err
		}
	}
	return nil
}
