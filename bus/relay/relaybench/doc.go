// Package relaybench holds the distributed mode's benchmarks (issue 6, item 7) in a module
// of its own, so that watermill-kafka — the publisher it compares bus/kafka's against — and
// its Kafka client (IBM/sarama) stay out of Encours's own module graph. It has no code
// outside its tests.
package relaybench
