// Package relaybench holds the distributed mode's benchmarks (issue 6, item 7) in a module
// of its own, so that watermill-kafka — the publisher it compares bus/kafka's against — and
// its Kafka client (IBM/sarama) stay out of Encours's own module graph. It has no code
// outside its tests.
//
// Last run on the real broker (scripts/kafka, Kafka 4.4, one node) on 2026-11-23 16:30 UTC,
// on the project's 2-core machine with nothing else running, one iteration per figure:
//   - relay (store -> encours.events): 99,772 events/s with produce batches of 100; with
//     batches of 1000, 107,748 to 148,349 events/s over 5 runs (relay batch 4096 or 16384);
//   - publishers, same broker: bus/kafka (kafka-go) 138,494 messages/s; watermill-kafka
//     2,379 messages/s from one goroutine and 9,169 to 9,823 from 16, so kafka-go is 14x the
//     better of the two;
//   - append -> applied by a projector, commits every 100 ms, 3 runs: p50 5.7 to 6.3 ms, p99
//     15.5 to 43.2 ms; committing every message synchronously: p50 7.1 ms, p99 60 ms.
//
// An earlier run while eight builds shared the machine (load average 25 to 30) gave a tenth
// of these: the broker, the relay and the projector all compete for the same two cores.
package relaybench
