package kafka_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/bus/kafka"
	"github.com/encours/encours/bus/kafka/kafkatest"
)

func uniqueName(prefix string) string { return prefix + "-" + watermill.NewShortUUID() }

// keyedMessage is an event-like message of customer, numbered n.
func keyedMessage(customer string, n int) *message.Message {
	msg := message.NewMessage(watermill.NewUUID(), fmt.Appendf(nil, `{"customer":%q,"n":%d}`, customer, n))
	msg.Metadata.Set(kafka.PartitionKeyMetadata, customer)
	msg.Metadata.Set("type", "InvoiceIssued")
	msg.Metadata.Set("correlation_id", fmt.Sprintf("corr-%s-%d", customer, n))
	return msg
}

// TestHeadersAndKeyRoundTrip publishes two customers' messages interleaved and checks what a
// subscriber gets: the same UUID, payload and metadata (partition_key included), every
// message of a customer in one partition (the key chooses it), in publish order, with
// increasing offsets (design §Flow step 4: "keyed by customer").
func TestHeadersAndKeyRoundTrip(t *testing.T) {
	kafkatest.ForEach(t, func(t *testing.T, brokers []string) {
		topic := uniqueName("roundtrip")
		pub := newPublisher(t, brokers, kafka.DefaultMarshaler{})
		defer func() { require.NoError(t, pub.Close()) }()

		const perCustomer = 20
		customers := []string{"customer-7", "customer-9"}
		sent := map[string]*message.Message{}
		var batch []*message.Message
		for n := range perCustomer {
			for _, c := range customers {
				msg := keyedMessage(c, n)
				sent[msg.UUID] = msg
				batch = append(batch, msg)
			}
		}
		require.NoError(t, pub.Publish(topic, batch...))

		sub := newSubscriber(t, brokers, uniqueName("roundtrip"), kafka.DefaultMarshaler{})
		defer func() { require.NoError(t, sub.Close()) }()
		ch, err := sub.Subscribe(context.Background(), topic)
		require.NoError(t, err)

		partitionOf := map[string]int{}
		lastOffset := map[string]int64{}
		nextN := map[string]int{}
		for range len(batch) {
			got := receive(t, ch, "round-trip message")
			want, ok := sent[got.UUID]
			require.True(t, ok, "received unknown UUID %s", got.UUID)
			assert.Equal(t, want.Payload, got.Payload, "payload of %s", got.UUID)
			assert.Equal(t, want.Metadata, got.Metadata, "metadata of %s", got.UUID)

			origin, ok := kafka.OriginFromContext(got.Context())
			require.True(t, ok, "message %s has no Origin", got.UUID)
			assert.Equal(t, topic, origin.Topic)
			assert.False(t, origin.Time.IsZero(), "record time of %s", got.UUID)
			c := got.Metadata.Get(kafka.PartitionKeyMetadata)
			if p, seen := partitionOf[c]; seen {
				assert.Equal(t, p, origin.Partition, "partition of %s, got %d, want %d", c, origin.Partition, p)
				assert.Greater(t, origin.Offset, lastOffset[c], "offset of %s", c)
			}
			partitionOf[c], lastOffset[c] = origin.Partition, origin.Offset
			assert.Equal(t, fmt.Sprintf(`{"customer":%q,"n":%d}`, c, nextN[c]), string(got.Payload), "order of %s", c)
			nextN[c]++
			require.True(t, got.Ack())
		}
	})
}

// TestCommitOnlyAfterAck: a member acks m1, receives m2 and does not ack it, then closes. The
// group's other member must get m2 (never committed) and then m3, and not m1 (committed on
// Ack). One key, so one partition and a strict order.
func TestCommitOnlyAfterAck(t *testing.T) {
	kafkatest.ForEach(t, func(t *testing.T, brokers []string) {
		topic, group := uniqueName("commit"), uniqueName("commit")
		pub := newPublisher(t, brokers, kafka.DefaultMarshaler{})
		defer func() { require.NoError(t, pub.Close()) }()
		m1, m2, m3 := keyedMessage("customer-1", 1), keyedMessage("customer-1", 2), keyedMessage("customer-1", 3)
		require.NoError(t, pub.Publish(topic, m1, m2, m3))

		first := newSubscriber(t, brokers, group, kafka.DefaultMarshaler{})
		firstCh, err := first.Subscribe(context.Background(), topic)
		require.NoError(t, err)
		got := receive(t, firstCh, "first member, m1")
		require.Equal(t, m1.UUID, got.UUID)
		require.True(t, got.Ack())
		pending := receive(t, firstCh, "first member, m2")
		require.Equal(t, m2.UUID, pending.UUID)

		// The second member joins while m2 is in flight at the first; the rebalance may hand it
		// the partition at once, which must also start at m2.
		second := newSubscriber(t, brokers, group, kafka.DefaultMarshaler{})
		defer func() { require.NoError(t, second.Close()) }()
		secondCh, err := second.Subscribe(context.Background(), topic)
		require.NoError(t, err)

		require.NoError(t, first.Close())
		requireClosed(t, firstCh, "first member's channel after Close")
		select {
		case <-pending.Context().Done():
		default:
			t.Error("context of the unacked m2 not cancelled by Close")
		}

		got = receive(t, secondCh, "second member, m2 again")
		assert.Equal(t, m2.UUID, got.UUID, "got %s, want m2 %s (m1 is %s)", got.UUID, m2.UUID, m1.UUID)
		require.True(t, got.Ack())
		got = receive(t, secondCh, "second member, m3")
		assert.Equal(t, m3.UUID, got.UUID)
		require.True(t, got.Ack())
	})
}

// TestCloseWithMessagesInFlight closes a Subscriber whose three subscriptions each hold an
// unacked message. Close must return in time, close every channel, cancel each message's
// context and commit none of them: a new member of the group gets all three again. Both
// sides refuse use after Close.
func TestCloseWithMessagesInFlight(t *testing.T) {
	kafkatest.ForEach(t, func(t *testing.T, brokers []string) {
		group := uniqueName("inflight")
		topics := []string{uniqueName("inflight-a"), uniqueName("inflight-b"), uniqueName("inflight-c")}
		pub := newPublisher(t, brokers, kafka.DefaultMarshaler{})
		want := map[string]string{} // topic -> UUID
		for _, topic := range topics {
			msg := keyedMessage("customer-3", 1)
			want[topic] = msg.UUID
			require.NoError(t, pub.Publish(topic, msg))
		}

		sub := newSubscriber(t, brokers, group, kafka.DefaultMarshaler{})
		var chans []<-chan *message.Message
		var inFlight []*message.Message
		for _, topic := range topics {
			ch, err := sub.Subscribe(context.Background(), topic)
			require.NoError(t, err)
			msg := receive(t, ch, "in-flight message of "+topic)
			require.Equal(t, want[topic], msg.UUID)
			chans, inFlight = append(chans, ch), append(inFlight, msg)
		}

		start := time.Now()
		require.NoError(t, sub.Close())
		took := time.Since(start)
		assert.Less(t, took, testSubscriberConfig(brokers, group, kafka.DefaultMarshaler{}).CloseTimeout,
			"Close took %s", took)
		for i, ch := range chans {
			requireClosed(t, ch, "channel of "+topics[i])
			select {
			case <-inFlight[i].Context().Done():
			default:
				t.Errorf("context of the in-flight message of %s not cancelled", topics[i])
			}
		}
		require.NoError(t, sub.Close(), "second Close")
		_, err := sub.Subscribe(context.Background(), topics[0])
		assert.ErrorIs(t, err, kafka.ErrClosed)
		assert.ErrorIs(t, sub.SubscribeInitialize(topics[0]), kafka.ErrClosed)

		// Nothing was committed: the group delivers every in-flight message again.
		again := newSubscriber(t, brokers, group, kafka.DefaultMarshaler{})
		defer func() { require.NoError(t, again.Close()) }()
		for _, topic := range topics {
			ch, err := again.Subscribe(context.Background(), topic)
			require.NoError(t, err)
			msg := receive(t, ch, "redelivery of "+topic)
			assert.Equal(t, want[topic], msg.UUID, "redelivery of %s", topic)
			require.True(t, msg.Ack())
		}

		require.NoError(t, pub.Close())
		require.NoError(t, pub.Close(), "second Close")
		assert.ErrorIs(t, pub.Publish(topics[0], keyedMessage("customer-3", 2)), kafka.ErrClosed)
	})
}

// TestSubscriptionEndsWithItsContext: cancelling one subscription's context closes its
// channel, leaves the Subscriber's other subscriptions running, and does not commit the
// message that was in flight.
func TestSubscriptionEndsWithItsContext(t *testing.T) {
	kafkatest.ForEach(t, func(t *testing.T, brokers []string) {
		group := uniqueName("ctx")
		stopped, kept := uniqueName("ctx-stopped"), uniqueName("ctx-kept")
		pub := newPublisher(t, brokers, kafka.DefaultMarshaler{})
		defer func() { require.NoError(t, pub.Close()) }()
		first := keyedMessage("customer-5", 1)
		require.NoError(t, pub.Publish(stopped, first))

		sub := newSubscriber(t, brokers, group, kafka.DefaultMarshaler{})
		defer func() { require.NoError(t, sub.Close()) }()
		ctx, cancel := context.WithCancel(context.Background())
		stoppedCh, err := sub.Subscribe(ctx, stopped)
		require.NoError(t, err)
		keptCh, err := sub.Subscribe(context.Background(), kept)
		require.NoError(t, err)
		require.Equal(t, first.UUID, receive(t, stoppedCh, "message before cancel").UUID)

		cancel()
		requireClosed(t, stoppedCh, "channel after its context is cancelled")

		later := keyedMessage("customer-5", 2)
		require.NoError(t, pub.Publish(kept, later))
		got := receive(t, keptCh, "other subscription after the cancel")
		assert.Equal(t, later.UUID, got.UUID)
		require.True(t, got.Ack())

		again, err := sub.Subscribe(context.Background(), stopped)
		require.NoError(t, err)
		got = receive(t, again, "uncommitted message after resubscribing")
		assert.Equal(t, first.UUID, got.UUID)
		require.True(t, got.Ack())
	})
}
