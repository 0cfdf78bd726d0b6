package kafka_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/bus/kafka"
)

var someBrokers = []string{"127.0.0.1:9092"}

func TestDefaultConfigsAreValid(t *testing.T) {
	require.NoError(t, kafka.DefaultPublisherConfig(someBrokers).Validate())
	require.NoError(t, kafka.DefaultSubscriberConfig(someBrokers, "projections").Validate())
}

// Every option is set at the call site (style §8): a zero value is refused, naming the field,
// rather than silently replaced by a library default.
func TestConfigRefusesMissingOptions(t *testing.T) {
	pubCases := []struct {
		name   string
		mutate func(*kafka.PublisherConfig)
		want   string
	}{
		{"no brokers", func(c *kafka.PublisherConfig) { c.Brokers = nil }, "brokers is empty"},
		{"broker without port", func(c *kafka.PublisherConfig) { c.Brokers = []string{"localhost"} }, "not host:port"},
		{"no marshaler", func(c *kafka.PublisherConfig) { c.Marshaler = nil }, "Marshaler is nil"},
		{"no publish timeout", func(c *kafka.PublisherConfig) { c.PublishTimeout = 0 }, "PublishTimeout is not positive"},
		{"no write timeout", func(c *kafka.PublisherConfig) { c.WriteTimeout = 0 }, "WriteTimeout is not positive"},
		{"no batch timeout", func(c *kafka.PublisherConfig) { c.BatchTimeout = 0 }, "BatchTimeout is not positive"},
		{"no batch size", func(c *kafka.PublisherConfig) { c.BatchMessagesMax = 0 }, "BatchMessagesMax is below 1"},
		{"no attempts", func(c *kafka.PublisherConfig) { c.WriteAttemptsMax = 0 }, "WriteAttemptsMax is below 1"},
		{"created topic without partitions", func(c *kafka.PublisherConfig) {
			c.Topics = kafka.TopicConfig{Create: true, Partitions: 0, ReplicationFactor: 1}
		}, "Topics.Partitions is below 1"},
	}
	for _, tc := range pubCases {
		t.Run("publisher/"+tc.name, func(t *testing.T) {
			cfg := kafka.DefaultPublisherConfig(someBrokers)
			tc.mutate(&cfg)
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			_, err = kafka.NewPublisher(cfg, watermill.NopLogger{})
			assert.Error(t, err)
		})
	}

	subCases := []struct {
		name   string
		mutate func(*kafka.SubscriberConfig)
		want   string
	}{
		{"no group", func(c *kafka.SubscriberConfig) { c.ConsumerGroup = " " }, "ConsumerGroup is empty"},
		{"no commit timeout", func(c *kafka.SubscriberConfig) { c.CommitTimeout = 0 }, "CommitTimeout is not positive"},
		{"no close timeout", func(c *kafka.SubscriberConfig) { c.CloseTimeout = 0 }, "CloseTimeout is not positive"},
		{"no session timeout", func(c *kafka.SubscriberConfig) { c.SessionTimeout = 0 }, "SessionTimeout is not positive"},
		{"heartbeat too slow for the session", func(c *kafka.SubscriberConfig) {
			c.HeartbeatInterval = c.SessionTimeout
		}, "HeartbeatInterval is above a third of SessionTimeout"},
		{"negative commit interval", func(c *kafka.SubscriberConfig) { c.CommitInterval = -1 }, "CommitInterval is negative"},
		{"no fetch queue", func(c *kafka.SubscriberConfig) { c.FetchQueueMax = 0 }, "FetchQueueMax is below 1"},
	}
	for _, tc := range subCases {
		t.Run("subscriber/"+tc.name, func(t *testing.T) {
			cfg := kafka.DefaultSubscriberConfig(someBrokers, "projections")
			tc.mutate(&cfg)
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			_, err = kafka.NewSubscriber(cfg, watermill.NopLogger{})
			assert.Error(t, err)
		})
	}
}

func TestConstructorsRefuseNilLogger(t *testing.T) {
	_, err := kafka.NewPublisher(kafka.DefaultPublisherConfig(someBrokers), nil)
	assert.Error(t, err)
	_, err = kafka.NewSubscriber(kafka.DefaultSubscriberConfig(someBrokers, "g"), nil)
	assert.Error(t, err)
}
