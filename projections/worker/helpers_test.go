package worker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/bus/kafka"
	"github.com/encours/encours/bus/kafka/kafkatest"
	"github.com/encours/encours/bus/relay"
	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/projections/ledger"
	"github.com/encours/encours/projections/worker"
)

const (
	// testWait bounds every wait for the relay, the workers or the broker.
	testWait = 30 * time.Second
)

var asOf = domain.MustDate("2024-12-31")

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

// subscriberConfig is the daemon's subscriber with topic creation on and group timings
// shortened (the broker's minimum session), so a departed member's partitions move soon.
func subscriberConfig(brokers []string, group string) kafka.SubscriberConfig {
	cfg := kafka.DefaultSubscriberConfig(brokers, group)
	cfg.Topics = kafka.TopicConfig{Create: true, Partitions: kafkatest.Partitions, ReplicationFactor: 1}
	cfg.SessionTimeout = 6 * time.Second
	cfg.HeartbeatInterval = 500 * time.Millisecond
	cfg.RebalanceTimeout = 5 * time.Second
	cfg.JoinGroupBackoff = 200 * time.Millisecond
	cfg.PartitionWatchInterval = 2 * time.Second
	cfg.FetchErrorBackoff = 100 * time.Millisecond
	cfg.NackResendDelay = 10 * time.Millisecond
	cfg.CloseTimeout = 20 * time.Second
	return cfg
}

func newKafkaSubscriber(t *testing.T, brokers []string, group string) *kafka.Subscriber {
	t.Helper()
	sub, err := kafka.NewSubscriber(subscriberConfig(brokers, group), kafkatest.Logger())
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

func openStore(t *testing.T) *embedded.Store {
	t.Helper()
	s, err := embedded.Open(t.TempDir(), embedded.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func eur(v int64) domain.Money { return domain.Money{Minor: v, Ccy: "EUR"} }

// history generates valid ledger histories, one append at a time: registrations, invoices,
// payments allocated to the oldest open invoice (partly, fully, or with cash left on
// account), limit changes, and alerts on the customers' alerts streams, so every event
// applies to a live ledger.
type history struct {
	r     *rand.Rand
	seed  uint64
	custs []*histCustomer
	n     int
}

type histCustomer struct {
	id         domain.CustomerID
	registered bool
	open       []*histInvoice
}

type histInvoice struct {
	id   domain.InvoiceID
	open int64
}

func newHistory(seed uint64, customers int) *history {
	h := &history{r: rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)), seed: seed}
	for i := range customers {
		h.custs = append(h.custs, &histCustomer{id: domain.CustomerID(fmt.Sprintf("C%03d", i))})
	}
	return h
}

func (h *history) id(prefix string) string {
	h.n++
	return fmt.Sprintf("%s%d-%d", prefix, h.seed, h.n)
}

// next returns the stream and events of the next append (1 to 4 events).
func (h *history) next() (string, []domain.Event) {
	c := h.custs[h.r.IntN(len(h.custs))]
	day := domain.MustDate("2024-01-01").AddDays(h.r.IntN(300))
	if !c.registered {
		c.registered = true
		return domain.CustomerStream(c.id), []domain.Event{domain.CustomerRegistered{
			CustomerID: c.id, Name: "Dupont & Fils <" + string(c.id) + ">", Country: "FR", Segment: "sme",
			Currency: "EUR", Terms: domain.Net(30), CreditLimit: eur(1_000_000), RegisteredOn: domain.MustDate("2024-01-01"),
		}}
	}
	if h.r.IntN(10) == 0 {
		return domain.AlertStream(c.id), []domain.Event{domain.AlertRaised{
			AlertID: h.id("A"), CustomerID: c.id, Rule: "limit", Subject: "limit", Severity: "warning",
			Message: "exposure above 80% of the limit", RaisedOn: day,
		}}
	}
	var evs []domain.Event
	for range 1 + h.r.IntN(4) {
		switch k := h.r.IntN(20); {
		case k < 11 || len(c.open) == 0:
			v := &histInvoice{id: domain.InvoiceID(h.id("I")), open: 10_000 + h.r.Int64N(90_000)}
			c.open = append(c.open, v)
			evs = append(evs, domain.InvoiceIssued{InvoiceID: v.id, Number: string(v.id), Amount: eur(v.open),
				IssueDate: day, DueDate: day.AddDays(30)})
		case k < 19:
			v := c.open[0]
			paid := 1 + h.r.Int64N(v.open)
			if h.r.IntN(3) == 0 {
				paid = v.open
			}
			extra := int64(0)
			if h.r.IntN(5) == 0 {
				extra = 1 + h.r.Int64N(5_000)
			}
			v.open -= paid
			if v.open == 0 {
				c.open = c.open[1:]
			}
			evs = append(evs, domain.PaymentReceived{PaymentID: domain.PaymentID(h.id("P")), Amount: eur(paid + extra),
				ReceivedOn: day, Allocations: []domain.Allocation{{InvoiceID: v.id, Amount: eur(paid)}}, Unallocated: eur(extra)})
		default:
			evs = append(evs, domain.CreditLimitChanged{Limit: eur(500_000 + h.r.Int64N(1_000_000)), Reason: "review", ApprovedBy: "cm", ChangedOn: day})
		}
	}
	return domain.CustomerStream(c.id), evs
}

// appendNext appends the history's next append to s and returns how many events it holds.
func (h *history) appendNext(t testing.TB, s eventstore.Store) int {
	t.Helper()
	n, err := h.tryAppendNext(s)
	require.NoError(t, err)
	return n
}

// tryAppendNext is appendNext for goroutines other than the test's.
func (h *history) tryAppendNext(s eventstore.Store) (int, error) {
	stream, evs := h.next()
	envs := make([]domain.Envelope, 0, len(evs))
	for _, ev := range evs {
		data, err := domain.EncodeEvent(ev)
		if err != nil {
			return 0, err
		}
		envs = append(envs, domain.Envelope{EventID: watermill.NewUUID(), Stream: stream, Type: ev.EventType(),
			SchemaVersion: domain.CurrentSchemaVersion, EffectiveOn: ev.Effective(), Actor: "test", Data: data})
	}
	req := eventstore.AppendRequest{Stream: stream, ExpectedVersion: eventstore.AnyVersion, Events: envs,
		IdempotencyKey: h.id("K"), RequestHash: []byte(fmt.Sprintf("%032d", h.n))}
	if _, err := s.Append(context.Background(), req); err != nil {
		return 0, err
	}
	return len(envs), nil
}

// appendEvents appends at least n events of the history to s.
func (h *history) appendEvents(t testing.TB, s eventstore.Store, n int) {
	t.Helper()
	for done := 0; done < n; {
		done += h.appendNext(t, s)
	}
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

func headOf(t testing.TB, s eventstore.Store) uint64 {
	t.Helper()
	h, err := s.Head(context.Background())
	require.NoError(t, err)
	return h.Position
}

// customerView is what the tests compare per customer: exposure and its parts from the
// figures, and the open items.
type customerView struct {
	Figures   ledger.Figures
	OpenItems []ledger.InvoiceView
}

func viewOf(t testing.TB, m *ledger.Model, id domain.CustomerID) customerView {
	t.Helper()
	f, err := ledger.ComputeFigures(m, ledger.CustomerScope(id), asOf, ledger.Config{})
	require.NoError(t, err, "figures of %s", id)
	open, err := ledger.CustomerInvoices(m, id, asOf, true)
	require.NoError(t, err, "open items of %s", id)
	return customerView{Figures: f, OpenItems: open}
}

// replay is the reference: the whole store applied to a fresh ledger in position order.
func replay(t testing.TB, s eventstore.Store) (*ledger.Model, map[string]uint64) {
	t.Helper()
	m := ledger.New()
	versions := map[string]uint64{}
	for _, e := range readAll(t, s) {
		require.NoError(t, m.Apply(e))
		versions[e.Stream] = e.StreamVersion
	}
	return m, versions
}

// held is one worker's copy of a stream: its version and, for customer streams, its view.
type held struct {
	worker  int
	version uint64
	view    customerView
}

// requireUnionEqualsReplay checks the workers' models against a full replay of the store
// (of the streams in only, when only is not nil).
// For each stream, the owner is the worker holding it at the highest version; that version
// must be the store's (nothing lost), and the owner's figures and open items must equal the
// replay's (nothing doubled). Another worker may hold an older copy (a partition that moved
// away from it), never a newer one, and a copy at the same version must agree.
func requireUnionEqualsReplay(t *testing.T, s eventstore.Store, workers []*worker.Worker, only map[string]bool) {
	t.Helper()
	ref, versions := replay(t, s)
	for stream := range versions {
		if only != nil && !only[stream] {
			delete(versions, stream)
		}
	}
	copies := map[string][]held{}
	for wi, w := range workers {
		w.View(func(p *ledger.Partial) {
			for stream := range versions {
				v := p.StreamVersion(stream)
				if v == 0 {
					continue
				}
				h := held{worker: wi, version: v}
				if id, ok := strings.CutPrefix(stream, domain.CustomerStreamPrefix); ok {
					h.view = viewOf(t, p.Model(), domain.CustomerID(id))
				}
				copies[stream] = append(copies[stream], h)
			}
		})
	}
	for stream, want := range versions {
		cs := copies[stream]
		require.NotEmpty(t, cs, "stream %s (v%d) is held by no worker", stream, want)
		owner := cs[0]
		for _, c := range cs[1:] {
			if c.version > owner.version {
				owner = c
			}
		}
		require.Equal(t, want, owner.version, "stream %s: the owner (worker %d) is at v%d, the store at v%d", stream, owner.worker, owner.version, want)
		id, isCustomer := strings.CutPrefix(stream, domain.CustomerStreamPrefix)
		if !isCustomer {
			continue
		}
		refView := viewOf(t, ref, domain.CustomerID(id))
		assert.Equal(t, refView.Figures.Exposure, owner.view.Figures.Exposure, "exposure of %s", id)
		assert.Equal(t, refView, owner.view, "figures and open items of %s", id)
		for _, c := range cs {
			if c.version == want && c.worker != owner.worker {
				assert.Equal(t, refView, c.view, "second current copy of %s at worker %d", id, c.worker)
			}
		}
	}
}

// runningWorker is a worker's Run in a goroutine.
type runningWorker struct {
	w      *worker.Worker
	cancel context.CancelFunc
	errc   chan error
	once   sync.Once
	err    error
}

func startWorker(t *testing.T, sub message.Subscriber, cfg worker.Config) *runningWorker {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	return startWorkerCtx(t, ctx, cancel, sub, cfg)
}

// startWorkerCtx runs a worker with ctx, which cancel cancels.
func startWorkerCtx(t *testing.T, ctx context.Context, cancel context.CancelFunc, sub message.Subscriber, cfg worker.Config) *runningWorker {
	t.Helper()
	w, err := worker.New(sub, cfg)
	require.NoError(t, err)
	r := &runningWorker{w: w, cancel: cancel, errc: make(chan error, 1)}
	go func() { r.errc <- w.Run(ctx) }() // ends when ctx is cancelled, or on an error
	t.Cleanup(func() { _ = r.stop(t) })
	return r
}

func (r *runningWorker) wait(t *testing.T) error {
	t.Helper()
	r.once.Do(func() {
		select {
		case r.err = <-r.errc:
		case <-time.After(testWait):
			t.Fatalf("worker did not return within %s", testWait)
		}
	})
	return r.err
}

func (r *runningWorker) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	return r.wait(t)
}

// runningRelay is relay.Run in a goroutine.
type runningRelay struct {
	cancel context.CancelFunc
	errc   chan error
	once   sync.Once
	err    error
}

func startRelay(t *testing.T, s relay.Source, pub message.Publisher, cfg relay.Config) *runningRelay {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningRelay{cancel: cancel, errc: make(chan error, 1)}
	go func() { r.errc <- relay.Run(ctx, s, pub, cfg) }() // ends when ctx is cancelled, or on an error
	t.Cleanup(func() { _ = r.stop(t) })
	return r
}

func (r *runningRelay) wait(t *testing.T) error {
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

func (r *runningRelay) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	return r.wait(t)
}

func relayConfig(dir, topic string, stats *relay.Stats) relay.Config {
	cfg := relay.DefaultConfig(relay.NewFileCheckpoint(dir + "/relay.checkpoint"))
	cfg.Topic = topic
	cfg.Stats = stats
	cfg.BatchEventsMax = 500
	cfg.PublishBackoffMin = 50 * time.Millisecond
	cfg.PublishBackoffMax = time.Second
	return cfg
}

func uniqueName(prefix string) string { return prefix + "-" + watermill.NewShortUUID() }
