// Package kafka is Encours's watermill Publisher and Subscriber over Apache Kafka, built on
// github.com/segmentio/kafka-go (design §Flow step 4, §Scale-out): the relay publishes each
// committed event to the topic encours.events keyed by customer, and projection workers in
// one consumer group each own some of its partitions.
//
// Delivery is at least once, in order within a partition:
//
//   - The Publisher writes synchronously with RequiredAcks=all: Publish returns nil only when
//     every in-sync replica has the messages. The Kafka key is the message's partition_key
//     metadata (PartitionKeyMetadata), so all events of one customer land in one partition.
//   - Each Subscribe joins the subscriber's consumer group with its own kafka-go Reader; calls
//     with the same group share the topic's partitions. A subscription hands over one message
//     at a time, commits its offset only after the handler Acks it, and on Nack hands the same
//     message over again (from memory, after NackResendDelay) before fetching the next, so
//     order within a partition holds.
//   - Closing the Subscriber, or cancelling a subscription's context, stops fetching, commits
//     nothing that was not acked, leaves the group, and closes the output channel. A message
//     not acked by then is delivered again to whichever member owns its partition next.
//
// What Kafka does not give: exactly-once delivery (a commit can be lost after the Ack, and a
// rebalance can hand a partition over while a message is in flight, so handlers must be
// idempotent — Encours's projections track the last applied position), and order across
// partitions.
//
// The acceptance suite is watermill's pubsub/tests.TestPubSub, run in pubsub_test.go against
// franz-go's in-process kfake broker and against a real Apache Kafka broker (scripts/kafka).
//
// It imports no other Encours package; domain and eventstore would be allowed, projections,
// handlers and cmd never (scripts/check-deps).
package kafka
