// Package worker is the projection worker of distributed mode (design §Flow step 4,
// §Scale-out): it consumes the topic encours.events, which bus/relay fills from the event
// store keyed by customer, as one member of a consumer group, and keeps the ledger read
// model of the customers whose partitions it receives (ledger.Partial), so that projection
// work scales with the topic's partitions.
//
// Delivery is at least once (a redelivery after a rebalance or a broker restart, the relay's
// republished last batch), and a worker sees only its partitions, so global positions have
// gaps for it. Applying is therefore idempotent by stream version: an event at or below its
// stream's applied version is ignored and acked; the next version is applied and then acked;
// an event beyond it is a gap, never skipped — the worker reads the missing versions from
// the event store and applies them first (a partition that moved here from another worker
// starts at that worker's committed offset), or, with no store configured, stops with
// ErrGap. A message is acked only after its effect is in the model.
//
// It imports domain and projections/ledger, and watermill's message.Subscriber interface
// (bus/kafka's Subscriber in production); never bus, handlers or cmd (scripts/check-deps).
// Its tests run the relay and two workers against franz-go's kfake broker, and against a real
// Apache Kafka broker (scripts/kafka up) when one is reachable.
package worker
