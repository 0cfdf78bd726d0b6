// Package relay publishes every committed event of the event store to the Kafka topic
// encours.events, keyed by customer (design §Flow step 4: "a relay publishes each committed
// event to the Kafka topic encours.events, keyed by customer, and projection workers in a
// consumer group each own some partitions").
//
// Run subscribes to the store from the position after its checkpoint, turns each envelope
// into one watermill message — UUID = event_id, payload = the envelope's JSON with its hashes
// (Payload), metadata position, stream, stream_version and type, and the partition key of
// PartitionKey — and publishes them in batches, one Publish call per batch and one batch in
// flight. After Kafka acknowledges a batch, the checkpoint moves past it (a small file
// written atomically, FileCheckpoint). Delivery is at least once: a crash between a
// publish and its checkpoint republishes that one batch after the restart, and consumers
// deduplicate (projections/worker does, by stream version).
//
// It imports domain and the eventstore port; never projections, handlers or cmd
// (scripts/check-deps). Its tests run against franz-go's in-process kfake broker always and
// against a real Apache Kafka broker (scripts/kafka up) when one is reachable.
package relay
