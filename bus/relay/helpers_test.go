package relay_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/bus/kafka"
	"github.com/encours/encours/bus/kafka/kafkatest"
	"github.com/encours/encours/bus/relay"
	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/embedded"
)

const (
	// testWait bounds every wait for the relay or the broker in these tests.
	testWait = 60 * time.Second
)

// newKafkaPublisher is the daemon's publisher with topic creation on (8 partitions, one
// replica) and batches of up to 1000 messages per partition request.
func newKafkaPublisher(t *testing.T, brokers []string) *kafka.Publisher {
	t.Helper()
	cfg := kafka.DefaultPublisherConfig(brokers)
	cfg.Topics = kafka.TopicConfig{Create: true, Partitions: kafkatest.Partitions, ReplicationFactor: 1}
	cfg.BatchMessagesMax = 1000
	pub, err := kafka.NewPublisher(cfg, kafkatest.Logger())
	require.NoError(t, err)
	t.Cleanup(func() { _ = pub.Close() })
	return pub
}

func uniqueTopic(prefix string) string { return prefix + "-" + watermill.NewShortUUID() }

func openStore(t *testing.T) *embedded.Store {
	t.Helper()
	s, err := embedded.Open(t.TempDir(), embedded.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// fill appends n events to s, spread over customers customer streams (with an alert now and
// then on the customer's alerts stream) and the system rates stream, in appends of up to 8
// events of one stream. The relay does not interpret events, so amounts are arbitrary; the
// names carry "&", "<" and ">", which JSON would escape unless told not to.
func fill(t testing.TB, s eventstore.Store, seed, customers, n int) {
	t.Helper()
	ctx := context.Background()
	for done, k := 0, 0; done < n; k++ {
		var stream string
		var ev domain.Event
		c := domain.CustomerID(fmt.Sprintf("C%03d", (k*7+seed)%customers))
		switch {
		case k%29 == 0:
			stream = domain.RatesStream
			ev = domain.ExchangeRatesPublished{Reporting: "EUR", RatesOn: domain.MustDate("2024-01-01").AddDays(k % 300),
				Rates: []domain.Rate{{Currency: "USD", E9: 900_000_000 + int64(k)}}}
		case k%11 == 0:
			stream = domain.AlertStream(c)
			ev = domain.AlertRaised{AlertID: fmt.Sprintf("A%d-%d", seed, k), CustomerID: c, Rule: "limit", Subject: "limit",
				Severity: "warning", Message: "exposure > 80% of limit & rising <fast>", RaisedOn: domain.MustDate("2024-03-01")}
		default:
			stream = domain.CustomerStream(c)
			ev = domain.InvoiceIssued{InvoiceID: domain.InvoiceID(fmt.Sprintf("I%d-%d", seed, k)), Number: "F&<" + fmt.Sprint(k) + ">",
				Amount: domain.Money{Minor: int64(1000 + k), Ccy: "EUR"}, IssueDate: domain.MustDate("2024-01-01"), DueDate: domain.MustDate("2024-02-01")}
		}
		size := min(1+k%8, n-done)
		envs := make([]domain.Envelope, 0, size)
		for range size {
			data, err := domain.EncodeEvent(ev)
			require.NoError(t, err)
			envs = append(envs, domain.Envelope{EventID: watermill.NewUUID(), Stream: stream, Type: ev.EventType(),
				SchemaVersion: domain.CurrentSchemaVersion, EffectiveOn: ev.Effective(), Actor: "test", Data: data})
		}
		req := eventstore.AppendRequest{Stream: stream, ExpectedVersion: eventstore.AnyVersion, Events: envs}
		if k%5 == 0 {
			// Some appends carry an idempotency key: their first event has a request hash,
			// which the chain hash covers and the envelope's JSON leaves out.
			req.IdempotencyKey = fmt.Sprintf("key-%d-%d", seed, k)
			req.RequestHash = []byte(fmt.Sprintf("%032d", k))
		}
		_, err := s.Append(ctx, req)
		require.NoError(t, err)
		done += size
	}
}

func headOf(t testing.TB, s eventstore.Store) uint64 {
	t.Helper()
	h, err := s.Head(context.Background())
	require.NoError(t, err)
	return h.Position
}

func readAll(t testing.TB, s eventstore.Store) []domain.Envelope {
	t.Helper()
	var out []domain.Envelope
	for next := uint64(1); ; {
		page, err := s.ReadAll(context.Background(), next, eventstore.ReadLimitMax)
		require.NoError(t, err)
		if len(page) == 0 {
			return out
		}
		out = append(out, page...)
		next = page[len(page)-1].Position + 1
	}
}

// running is relay.Run started in a goroutine.
type running struct {
	cancel context.CancelFunc
	errc   chan error
	once   sync.Once
	err    error
}

// runRelay starts relay.Run in a goroutine, stopped (if still running) when the test ends.
func runRelay(t *testing.T, s relay.Source, pub message.Publisher, cfg relay.Config) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, errc: make(chan error, 1)}
	go func() { r.errc <- relay.Run(ctx, s, pub, cfg) }() // ends when ctx is cancelled, or on an error
	t.Cleanup(func() { _ = r.stop(t) })
	return r
}

// wait waits up to testWait for Run to return by itself, and returns its error.
func (r *running) wait(t *testing.T) error {
	t.Helper()
	r.once.Do(func() {
		select {
		case r.err = <-r.errc:
		case <-time.After(testWait):
			t.Fatalf("relay did not return within %s", testWait)
		}
	})
	return r.err
}

// stop cancels Run and returns its error.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	return r.wait(t)
}

// testConfig is the daemon's relay configuration with a file checkpoint in dir.
func testConfig(dir string, stats *relay.Stats) relay.Config {
	cfg := relay.DefaultConfig(relay.NewFileCheckpoint(dir + "/relay.checkpoint"))
	cfg.Stats = stats
	cfg.PublishBackoffMin = 10 * time.Millisecond
	cfg.PublishBackoffMax = 200 * time.Millisecond
	return cfg
}

// waitCheckpoint waits until the relay's checkpoint reaches pos.
func waitCheckpoint(t *testing.T, stats *relay.Stats, pos uint64) {
	t.Helper()
	require.Eventually(t, func() bool { return stats.Snapshot().Checkpoint >= pos }, testWait, 5*time.Millisecond,
		"waiting for the relay's checkpoint to reach %d", pos)
}
