package kafka_test

import (
	"context"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/bus/kafka"
	"github.com/encours/encours/bus/kafka/kafkatest"
)

// TestCreateTopics: the daemon's start creates missing topics with the partitions asked for,
// and leaves existing ones as they are (a second call with other settings changes nothing).
func TestCreateTopics(t *testing.T) {
	kafkatest.ForEach(t, func(t *testing.T, brokers []string) {
		a, b := uniqueName("created-a"), uniqueName("created-b")
		ctx := context.Background()
		require.NoError(t, kafka.CreateTopics(ctx, brokers, "test", kafka.TopicConfig{Partitions: 3, ReplicationFactor: 1}, 30*time.Second, a, b))
		require.NoError(t, kafka.CreateTopics(ctx, brokers, "test", kafka.TopicConfig{Partitions: 5, ReplicationFactor: 1}, 30*time.Second, a))
		client := &kafkago.Client{Addr: kafkago.TCP(brokers...), Timeout: 10 * time.Second}
		md, err := client.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{a, b}})
		require.NoError(t, err)
		got := map[string]int{}
		for _, topic := range md.Topics {
			require.NoError(t, topic.Error, topic.Name)
			got[topic.Name] = len(topic.Partitions)
		}
		assert.Equal(t, map[string]int{a: 3, b: 3}, got)

		err = kafka.CreateTopics(ctx, brokers, "test", kafka.TopicConfig{Partitions: 0, ReplicationFactor: 1}, time.Second, uniqueName("bad"))
		assert.ErrorContains(t, err, "Partitions is below 1")
	})
}
