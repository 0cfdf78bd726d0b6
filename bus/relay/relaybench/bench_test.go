package relaybench_test

// The distributed mode's benchmarks (issue 6, item 7), in one run on one broker: the real
// one of scripts/kafka when it is reachable, else franz-go's in-process kfake (each
// benchmark logs which). Run from this directory:
//
//	go test -run '^$' -bench . -benchtime 1x
//
// Targets (reported, not asserted): relay ≥ 100k events/s; append → applied p99 ≤ 50 ms;
// bus/kafka's publisher ≥ 2× watermill-kafka's.

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/ThreeDotsLabs/watermill"
	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/encours/encours/bus/kafka"
	"github.com/encours/encours/bus/relay"
	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/projections/worker"
)

const (
	realBroker = "127.0.0.1:9092"
	partitions = 8
	// relayEvents is the store the relay benchmark publishes (issue 6: 100k events).
	relayEvents = 100_000
	// customers share the events: 100 events each, appended 100 at a time.
	customers = 1_000
	// publishMessages is what each publisher of the comparison publishes, at most, in at
	// most publishDurationMax.
	publishMessages    = 100_000
	publishDurationMax = 20 * time.Second
	// latencyRate and latencyDuration: the steady append rate of the latency benchmark (one
	// event per append) and how long it lasts.
	latencyInterval = 2 * time.Millisecond // 500 appends/s
	latencyDuration = 10 * time.Second
	waitMax         = 2 * time.Minute
)

// brokers returns the real broker if reachable, else a fresh kfake cluster, and its name.
func brokers(b *testing.B) ([]string, string) {
	b.Helper()
	if conn, err := net.DialTimeout("tcp", realBroker, 2*time.Second); err == nil {
		_ = conn.Close()
		return []string{realBroker}, "real Apache Kafka broker at " + realBroker
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(partitions), kfake.AllowAutoTopicCreation())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c.ListenAddrs(), "kfake (no broker at " + realBroker + "; scripts/kafka up for the real one)"
}

func logger() watermill.LoggerAdapter {
	if os.Getenv("ENCOURS_TEST_LOG") != "" {
		return watermill.NewStdLogger(true, false)
	}
	return watermill.NopLogger{}
}

func uniqueName(prefix string) string { return prefix + "-" + watermill.NewShortUUID() }

// newPublisher is the relay's publisher (relay.KafkaPublisherConfig) with topic creation on
// and batchMessagesMax messages per produce request.
func newPublisher(b *testing.B, addrs []string, batchMessagesMax int) *kafka.Publisher {
	b.Helper()
	cfg := relay.KafkaPublisherConfig(addrs)
	cfg.Topics = kafka.TopicConfig{Create: true, Partitions: partitions, ReplicationFactor: 1}
	cfg.BatchMessagesMax = batchMessagesMax
	pub, err := kafka.NewPublisher(cfg, logger())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = pub.Close() })
	return pub
}

// fillStore appends n events over the customers' streams, 100 per append.
func fillStore(b *testing.B, s eventstore.Store, n int) {
	b.Helper()
	const perAppend = 100
	for k := 0; k*perAppend < n; k++ {
		c := domain.CustomerID(fmt.Sprintf("C%05d", k%customers))
		stream := domain.CustomerStream(c)
		envs := make([]domain.Envelope, 0, perAppend)
		for i := range min(perAppend, n-k*perAppend) {
			ev := domain.InvoiceIssued{InvoiceID: domain.InvoiceID(fmt.Sprintf("I%d-%d", k, i)), Number: fmt.Sprintf("F%d", i),
				Amount: domain.Money{Minor: int64(10_000 + i), Ccy: "EUR"}, IssueDate: domain.MustDate("2024-01-01"), DueDate: domain.MustDate("2024-02-01")}
			envs = append(envs, envelope(b, stream, ev))
		}
		if _, err := s.Append(context.Background(), eventstore.AppendRequest{Stream: stream, ExpectedVersion: eventstore.AnyVersion, Events: envs}); err != nil {
			b.Fatal(err)
		}
	}
}

func envelope(b *testing.B, stream string, ev domain.Event) domain.Envelope {
	data, err := domain.EncodeEvent(ev)
	if err != nil {
		b.Fatal(err)
	}
	return domain.Envelope{EventID: watermill.NewUUID(), Stream: stream, Type: ev.EventType(),
		SchemaVersion: domain.CurrentSchemaVersion, EffectiveOn: ev.Effective(), Actor: "bench", Data: data}
}

func openStore(b *testing.B) *embedded.Store {
	b.Helper()
	s, err := embedded.Open(b.TempDir(), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkRelayThroughput publishes a store of 100k events from position 1 with relay.Run
// and measures events/s until the checkpoint reaches the head, for bus/kafka's default
// produce batch (100 messages per partition request) and for 1000.
func BenchmarkRelayThroughput(b *testing.B) {
	addrs, name := brokers(b)
	s := openStore(b)
	fillStore(b, s, relayEvents)
	for _, bc := range []struct{ produce, relay int }{{100, 4096}, {1000, 4096}, {1000, 16384}} {
		batch := bc.produce
		b.Run(fmt.Sprintf("produce_batch_%d/relay_batch_%d", bc.produce, bc.relay), func(b *testing.B) {
			b.Logf("broker: %s", name)
			pub := newPublisher(b, addrs, batch)
			var total time.Duration
			for range b.N {
				var stats relay.Stats
				cfg := relay.DefaultConfig(relay.NewFileCheckpoint(b.TempDir() + "/relay.checkpoint"))
				cfg.Topic = uniqueName("bench-relay")
				cfg.Stats = &stats
				cfg.BatchEventsMax = bc.relay
				// The topic's creation is not the relay's work: publish one message first.
				if err := pub.Publish(cfg.Topic, message.NewMessage(watermill.NewUUID(), []byte("{}"))); err != nil {
					b.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				started := time.Now()
				go func() { done <- relay.Run(ctx, s, pub, cfg) }() // ends with cancel
				deadline := time.Now().Add(waitMax)
				for stats.Snapshot().Checkpoint < relayEvents {
					if time.Now().After(deadline) {
						b.Fatalf("relay at %d of %d after %s", stats.Snapshot().Checkpoint, relayEvents, waitMax)
					}
					time.Sleep(time.Millisecond)
				}
				total += time.Since(started)
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				b.Logf("relay: %d events in %s = %.0f events/s, %d batches", relayEvents, time.Since(started).Round(time.Millisecond),
					float64(relayEvents)/time.Since(started).Seconds(), stats.Snapshot().PublishedBatches)
			}
			b.ReportMetric(float64(relayEvents*b.N)/total.Seconds(), "events/s")
		})
	}
}

// BenchmarkAppendToApplied appends one event every 2 ms to the embedded store for 10 s,
// while a relay publishes and one projection worker applies; it reports the latency from the
// start of each Append to its application in the worker (fsync, relay, produce with acks=all,
// fetch, apply, before the ack), p50 and p99.
//
// Two worker set-ups: bus/kafka's default synchronous commit after each ack, and commits sent
// every 100 ms in the background (SubscriberConfig.CommitInterval), which the worker can
// afford since it deduplicates by stream version whatever a crash redelivers.
func BenchmarkAppendToApplied(b *testing.B) {
	for _, commit := range []time.Duration{0, 100 * time.Millisecond} {
		name := "commit_sync"
		if commit > 0 {
			name = "commit_every_" + commit.String()
		}
		b.Run(name, func(b *testing.B) { benchmarkAppendToApplied(b, commit) })
	}
}

func benchmarkAppendToApplied(b *testing.B, commitInterval time.Duration) {
	addrs, name := brokers(b)
	b.Logf("broker: %s", name)
	duration := latencyDuration
	if testing.Short() {
		duration = 2 * time.Second
	}
	for range b.N {
		s := openStore(b)
		topic := uniqueName("bench-latency")
		var starts sync.Map // event id -> time.Time
		var mu sync.Mutex
		var latencies []time.Duration
		var warm atomic.Bool
		wcfg := worker.DefaultConfig(s)
		wcfg.Topic = topic
		wcfg.Applied = func(e domain.Envelope) {
			if t0, ok := starts.Load(e.EventID); ok {
				d := time.Since(t0.(time.Time))
				mu.Lock()
				latencies = append(latencies, d)
				mu.Unlock()
			} else {
				warm.Store(true)
			}
		}
		subCfg := kafka.DefaultSubscriberConfig(addrs, uniqueName("bench-projectors"))
		subCfg.Topics = kafka.TopicConfig{Create: true, Partitions: partitions, ReplicationFactor: 1}
		subCfg.CommitInterval = commitInterval
		sub, err := kafka.NewSubscriber(subCfg, logger())
		if err != nil {
			b.Fatal(err)
		}
		w, err := worker.New(sub, wcfg)
		if err != nil {
			b.Fatal(err)
		}
		cfg := relay.DefaultConfig(relay.NewFileCheckpoint(b.TempDir() + "/relay.checkpoint"))
		cfg.Topic = topic
		latencyPub := newPublisher(b, addrs, 1000)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _ = relay.Run(ctx, s, latencyPub, cfg) }() // ends with cancel
		go func() { defer wg.Done(); _ = w.Run(ctx) }()                         // ends with cancel

		// Warm up: the group is joined and the topic exists once a first event is applied.
		register := domain.CustomerRegistered{CustomerID: "C1", Name: "Bench", Country: "FR", Currency: "EUR",
			Terms: domain.Net(30), CreditLimit: domain.Money{Minor: 1_000_000, Ccy: "EUR"}, RegisteredOn: domain.MustDate("2024-01-01")}
		if _, err := s.Append(ctx, eventstore.AppendRequest{Stream: "customer-C1", ExpectedVersion: 0,
			Events: []domain.Envelope{envelope(b, "customer-C1", register)}}); err != nil {
			b.Fatal(err)
		}
		for deadline := time.Now().Add(waitMax); !warm.Load(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatalf("worker applied nothing within %s", waitMax)
			}
		}

		var appendLatencies []time.Duration // the Append call alone: group commit and fdatasync
		tick := time.NewTicker(latencyInterval)
		end := time.Now().Add(duration)
		sent := 0
		for now := range tick.C {
			if now.After(end) {
				break
			}
			c := domain.CustomerID(fmt.Sprintf("L%03d", sent%200))
			stream := domain.CustomerStream(c)
			var ev domain.Event = domain.CustomerRegistered{CustomerID: c, Name: "Bench", Country: "FR", Currency: "EUR",
				Terms: domain.Net(30), CreditLimit: domain.Money{Minor: 1_000_000, Ccy: "EUR"}, RegisteredOn: domain.MustDate("2024-01-01")}
			if sent >= 200 {
				ev = domain.InvoiceIssued{InvoiceID: domain.InvoiceID(fmt.Sprintf("I%d", sent)), Number: "F", Amount: domain.Money{Minor: 100, Ccy: "EUR"},
					IssueDate: domain.MustDate("2024-01-01"), DueDate: domain.MustDate("2024-02-01")}
			}
			e := envelope(b, stream, ev)
			t0 := time.Now()
			starts.Store(e.EventID, t0)
			if _, err := s.Append(ctx, eventstore.AppendRequest{Stream: stream, ExpectedVersion: eventstore.AnyVersion, Events: []domain.Envelope{e}}); err != nil {
				b.Fatal(err)
			}
			appendLatencies = append(appendLatencies, time.Since(t0))
			sent++
		}
		tick.Stop()
		for deadline := time.Now().Add(waitMax); ; time.Sleep(10 * time.Millisecond) {
			mu.Lock()
			n := len(latencies)
			mu.Unlock()
			if n >= sent {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("worker applied %d of %d within %s", n, sent, waitMax)
			}
		}
		cancel()
		wg.Wait()
		_ = sub.Close()
		slices.Sort(latencies)
		p50, p99 := latencies[len(latencies)/2], latencies[len(latencies)*99/100]
		b.Logf("append → applied: %d events over %s (%.0f/s): p50 %s, p99 %s, max %s", sent, duration,
			float64(sent)/duration.Seconds(), p50.Round(10*time.Microsecond), p99.Round(10*time.Microsecond), latencies[len(latencies)-1].Round(10*time.Microsecond))
		slices.Sort(appendLatencies)
		b.Logf("of which the Append call (durable): p50 %s, p99 %s", appendLatencies[len(appendLatencies)/2].Round(10*time.Microsecond),
			appendLatencies[len(appendLatencies)*99/100].Round(10*time.Microsecond))
		b.ReportMetric(float64(p50.Microseconds())/1000, "p50_ms")
		b.ReportMetric(float64(p99.Microseconds())/1000, "p99_ms")
	}
}

// BenchmarkPublishers publishes the same relay messages (events of the 100k store) to the
// same broker through bus/kafka's Publisher (kafka-go; 4096 messages per Publish, as the
// relay does) and through watermill-kafka's (sarama's SyncProducer, which sends one message
// per round trip), from one goroutine and — as watermill-kafka gets its throughput — from
// 16. Both wait for all in-sync replicas and key by customer.
func BenchmarkPublishers(b *testing.B) {
	addrs, name := brokers(b)
	s := openStore(b)
	fillStore(b, s, publishMessages)
	var msgs []*message.Message
	for next := uint64(1); ; {
		page, err := s.ReadAll(context.Background(), next, eventstore.ReadLimitMax)
		if err != nil {
			b.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, e := range page {
			m, err := relay.NewMessage(&e)
			if err != nil {
				b.Fatal(err)
			}
			msgs = append(msgs, m)
		}
		next = page[len(page)-1].Position + 1
	}

	kafkaGo := func(batch int) func(b *testing.B) message.Publisher {
		return func(b *testing.B) message.Publisher { return newPublisher(b, addrs, batch) }
	}
	watermillKafka := func(b *testing.B) message.Publisher {
		sc := wkafka.DefaultSaramaSyncPublisherConfig()
		sc.Producer.RequiredAcks = sarama.WaitForAll // as bus/kafka: every in-sync replica
		sc.Producer.Partitioner = sarama.NewHashPartitioner
		pub, err := wkafka.NewPublisher(wkafka.PublisherConfig{
			Brokers: addrs,
			Marshaler: wkafka.NewWithPartitioningMarshaler(func(topic string, msg *message.Message) (string, error) {
				return msg.Metadata.Get(kafka.PartitionKeyMetadata), nil
			}),
			OverwriteSaramaConfig: sc,
		}, logger())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = pub.Close() })
		return pub
	}
	cases := []struct {
		name       string
		newPub     func(b *testing.B) message.Publisher
		goroutines int
		perCall    int
	}{
		{"bus_kafka_kafka-go/1_goroutine_4096_per_call", kafkaGo(1000), 1, 4096},
		{"watermill-kafka_sarama/1_goroutine", watermillKafka, 1, 4096},
		{"watermill-kafka_sarama/16_goroutines", watermillKafka, 16, 1},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			b.Logf("broker: %s", name)
			pub := tc.newPub(b)
			var rate float64
			for range b.N {
				topic := uniqueName("bench-publish")
				if err := pub.Publish(topic, message.NewMessage(watermill.NewUUID(), []byte("{}"))); err != nil {
					b.Fatal(err) // creates the topic (broker auto-creation), not measured
				}
				time.Sleep(time.Second) // let the new topic's leaders settle for both clients alike
				var next atomic.Int64
				var failed atomic.Value
				started := time.Now()
				deadline := started.Add(publishDurationMax)
				var wg sync.WaitGroup
				for range tc.goroutines {
					wg.Add(1)
					go func() { // ends when every message is taken, or at the deadline
						defer wg.Done()
						for time.Now().Before(deadline) {
							lo := int(next.Add(int64(tc.perCall))) - tc.perCall
							if lo >= len(msgs) {
								return
							}
							batch := make([]*message.Message, 0, tc.perCall)
							for _, m := range msgs[lo:min(lo+tc.perCall, len(msgs))] {
								batch = append(batch, m.Copy())
							}
							if err := pub.Publish(topic, batch...); err != nil {
								failed.Store(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				if err, ok := failed.Load().(error); ok {
					b.Fatal(err)
				}
				// Every message claimed was published: claims stop at the deadline.
				sent := min(int(next.Load()), len(msgs))
				elapsed := time.Since(started)
				rate = float64(sent) / elapsed.Seconds()
				b.Logf("%s: %d messages in %s = %.0f messages/s", tc.name, sent, elapsed.Round(time.Millisecond), rate)
			}
			b.ReportMetric(rate, "messages/s")
		})
	}
}
