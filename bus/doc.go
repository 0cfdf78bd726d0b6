// Package bus is the watermill wiring of Encours (design §Flow step 4, §Scale-out): the
// in-process pub/sub used in embedded mode, built here on watermill's gochannel, and, in its
// subpackages, the Kafka pub/sub of distributed mode (bus/kafka, on segmentio/kafka-go) and
// the relay that publishes each committed event from the event store to the topic
// encours.events, keyed by customer (bus/relay). Embedded mode's projections subscribe to
// the store directly (cmd/encoursd says why); the in-process pub/sub is for what fans out
// within one process.
//
// Every pub/sub built here runs watermill's own acceptance suite, pubsub/tests.TestPubSub,
// with the tests.Features it really promises (gochannel_test.go, kafka/pubsub_test.go).
//
// It may import domain and eventstore, never projections, handlers or cmd
// (scripts/check-deps).
package bus
