// Package relaybench holds the distributed mode's benchmarks (issue 6, item 7) in a module
// of its own, so that watermill-kafka — the publisher it compares bus/kafka's against — and
// its Kafka client (IBM/sarama) stay out of Encours's own module graph. It has no code
// outside its tests.
//
// Last run on the real broker (scripts/kafka, Kafka 4.4, one node) on 2026-11-23, on a
// 2-core machine shared with other work at a load average of 25 to 30, so every figure is
// far below what the same code did on a quieter day (relay 38-177k events/s, append →
// applied p50 about 9 ms):
//   - relay: 7 385 events/s (produce batch 100), 8 833 (1000), 8 490 (1000, relay batch
//     16384), one run each;
//   - publishers, same run and broker: bus/kafka (kafka-go) 11 889 messages/s; watermill-kafka
//     342 from one goroutine and 1 255 from 16, so kafka-go is 9.5× the better of the two;
//   - append → applied, commits every 100 ms, 12 runs: p50 18 to 183 ms, p99 151 ms to
//     1.8 s; the Append call alone p99 8-12 ms. The p99 ≤ 50 ms target is not met under this
//     load, and this load is too noisy to tune against (±80-180 % between runs).
package relaybench
