package kafka_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/encours/encours/bus/kafka"
	"github.com/encours/encours/bus/kafka/kafkatest"
)

// features are what this adapter promises, field by field of watermill's tests.Features.
func features(ordered bool) tests.Features {
	return tests.Features{
		// Each Subscribe joins the subscriber's consumer group; the members of a group share
		// the partitions, and each group gets every message.
		ConsumerGroups: true,
		// No: a commit can be lost after an Ack, and a rebalance can move a partition while
		// a message is in flight; either way the message comes again (at-least-once).
		ExactlyOnceDelivery: false,
		// Order holds within a partition, so for messages with the same key. The suite checks
		// order per payload, which the ordered run uses as the key; the unordered run sends
		// unkeyed messages, spread at random.
		GuaranteedOrder: ordered,
		// Order holds with several members too: each one hands over its partitions' messages
		// in order, and a partition that moves restarts at its last commit.
		GuaranteedOrderWithSingleSubscriber: false,
		// Messages live in the broker, and committed offsets in the group, whatever happens
		// to the Publisher and Subscriber instances.
		Persistent: true,
		// Not tested: the real broker's script starts it with empty log dirs, so a restart
		// would lose what the test published, and kfake runs inside the test process.
		RestartServiceCommand: nil,
		// Many instances work together through the broker.
		RequireSingleInstance: false,
		// No: every subscription is in a consumer group, and a new member of a group starts
		// at the group's committed offsets, not at the topic's first message.
		NewSubscriberReceivesOldMessages: false,
		// Only bytes and headers cross Kafka; a received message's context is the
		// subscription's, with the message's Origin.
		ContextPreserved: false,
		// The full suite sizes (5,000 messages for 50 subscribers, 10,000 for publisher
		// close) run in about a minute on kfake; -short shrinks them.
		ForceShort: false,
	}
}

// payloadKeyMarshaler keys each message by its payload, as watermill-kafka's ordered test
// does: the suite's order check groups messages by payload.
type payloadKeyMarshaler struct{ kafka.DefaultMarshaler }

func (m payloadKeyMarshaler) Marshal(topic string, msg *message.Message) (kafkago.Message, error) {
	km, err := m.DefaultMarshaler.Marshal(topic, msg)
	km.Key = append([]byte{}, msg.Payload...)
	return km, err
}

// TestPubSub runs watermill's acceptance suite (pubsub/tests.TestPubSub) on each broker of
// kafkatest.Brokers, twice: with unkeyed messages, and keyed by payload with the order checks
// on. Each run has its own cluster (kfake) or its own group names (real broker).
func TestPubSub(t *testing.T) {
	for _, b := range kafkatest.Brokers() {
		t.Run(b.Name, func(t *testing.T) {
			brokers := b.Brokers(t)
			for _, run := range []struct {
				name      string
				ordered   bool
				marshaler kafka.Marshaler
			}{
				{name: "unkeyed", ordered: false, marshaler: kafka.DefaultMarshaler{}},
				{name: "keyed", ordered: true, marshaler: payloadKeyMarshaler{}},
			} {
				t.Run(run.name, func(t *testing.T) {
					runSuite(t, brokers, run.ordered, run.marshaler)
				})
			}
		})
	}
}

func runSuite(t *testing.T, brokers []string, ordered bool, m kafka.Marshaler) {
	// Group names are unique to this run, so a real broker's groups from earlier runs
	// (and their committed offsets) play no part.
	runID := watermill.NewShortUUID()
	newPubSub := func(t *testing.T) (message.Publisher, message.Subscriber) {
		return newPublisher(t, brokers, m), &groupPerTopic{
			prefix: "suite-" + runID + "-",
			newSub: func(group string) *kafka.Subscriber { return newSubscriber(t, brokers, group, m) },
		}
	}
	newGroupPubSub := func(t *testing.T, group string) (message.Publisher, message.Subscriber) {
		return newPublisher(t, brokers, m), newSubscriber(t, brokers, runID+"-"+group, m)
	}
	tests.TestPubSub(t, features(ordered), newPubSub, newGroupPubSub)
}
