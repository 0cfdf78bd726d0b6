package worker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/bus/relay"
	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/projections/ledger"
	"github.com/encours/encours/projections/worker"
)

// chanSubscriber hands the test's messages to the worker, as one subscription would.
type chanSubscriber struct {
	ch      chan *message.Message
	subDone chan (<-chan struct{}) // the subscription's ctx.Done(), once subscribed
}

func newChanSubscriber() *chanSubscriber {
	return &chanSubscriber{ch: make(chan *message.Message), subDone: make(chan (<-chan struct{}), 1)}
}

func (s *chanSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	s.subDone <- ctx.Done()
	return s.ch, nil
}

func (s *chanSubscriber) Close() error { return nil }

// outcome is what the worker did with a message.
type outcome string

const (
	acked   outcome = "acked"
	nacked  outcome = "nacked"
	unacked outcome = "neither acked nor nacked"
)

// deliver hands msg over and reports whether the worker acked or nacked it, or ended its
// subscription (Run returned) without doing either.
func (s *chanSubscriber) deliver(t *testing.T, msg *message.Message) outcome {
	t.Helper()
	var done <-chan struct{}
	select {
	case done = <-s.subDone:
		s.subDone <- done
	case <-time.After(testWait):
		t.Fatalf("worker did not subscribe within %s", testWait)
	}
	select {
	case s.ch <- msg:
	case <-done:
		return unacked
	case <-time.After(testWait):
		t.Fatalf("worker did not take a message within %s", testWait)
	}
	select {
	case <-msg.Acked():
		return acked
	case <-msg.Nacked():
		return nacked
	case <-done:
		return unacked
	case <-time.After(testWait):
		t.Fatalf("message %s neither acked nor nacked within %s", msg.UUID, testWait)
		return unacked
	}
}

func messageOf(t *testing.T, e domain.Envelope) *message.Message {
	t.Helper()
	msg, err := relay.NewMessage(&e)
	require.NoError(t, err)
	return msg
}

func testWorkerConfig(store worker.StreamReader) worker.Config {
	cfg := worker.DefaultConfig(store)
	cfg.RetriesMax = 3
	return cfg
}

// TestDecodePayloadAgreesWithTheRelay: the worker reads back exactly the envelope the
// relay encoded (request hash included), and the result verifies against its hash.
func TestDecodePayloadAgreesWithTheRelay(t *testing.T) {
	s := openStore(t)
	newHistory(1, 5).appendEvents(t, s, 100)
	for _, e := range readAll(t, s) {
		got, err := worker.DecodePayload(messageOf(t, e).Payload)
		require.NoError(t, err)
		require.NoError(t, domain.VerifyHash(&got, nil), "position %d", e.Position)
		assert.Equal(t, e.RecordedAt.UnixNano(), got.RecordedAt.UnixNano())
		assert.Equal(t, e.RequestHash, got.RequestHash)
		assert.True(t, bytes.Equal(e.Data, got.Data))
	}
}

// TestWorkerIsIdempotentByStreamVersion feeds one worker every event of a store as two
// partitions would: each stream in order, the streams interleaved differently from the
// positions, every event delivered twice and some a third time later (redeliveries). The
// model ends equal to a full replay, each duplicate acked but not applied.
func TestWorkerIsIdempotentByStreamVersion(t *testing.T) {
	s := openStore(t)
	newHistory(2, 12).appendEvents(t, s, 600)
	envs := readAll(t, s)
	// Two "partitions": customers by the parity of their key's last byte; the second
	// partition's events come first, then the first's.
	var first, second []domain.Envelope
	for _, e := range envs {
		if k := relay.PartitionKey(e.Stream); k[len(k)-1]%2 == 0 {
			first = append(first, e)
		} else {
			second = append(second, e)
		}
	}
	sub := newChanSubscriber()
	r := startWorker(t, sub, testWorkerConfig(nil))
	delivered := 0
	for _, e := range slices.Concat(second, first) {
		require.Equal(t, acked, sub.deliver(t, messageOf(t, e)), "position %d", e.Position)
		require.Equal(t, acked, sub.deliver(t, messageOf(t, e)), "redelivery of position %d", e.Position)
		delivered += 2
		if e.Position%7 == 0 {
			old := envs[e.Position/2]
			if r.w.Stats().Applied > 0 && old.StreamVersion <= streamVersion(r.w, old.Stream) {
				require.Equal(t, acked, sub.deliver(t, messageOf(t, old)), "late redelivery of position %d", old.Position)
				delivered++
			}
		}
	}
	require.NoError(t, r.stop(t))
	st := r.w.Stats()
	assert.Equal(t, uint64(len(envs)), st.Applied)
	assert.Equal(t, uint64(delivered-len(envs)), st.Duplicates)
	assert.Equal(t, uint64(delivered), st.Received)
	requireUnionEqualsReplay(t, s, []*worker.Worker{r.w}, nil)
}

func streamVersion(w *worker.Worker, stream string) (v uint64) {
	w.View(func(p *ledger.Partial) { v = p.StreamVersion(stream) })
	return v
}

// TestWorkerFillsAGapFromTheStore: a worker that receives a stream from its middle on (a
// partition that moved to it) reads the earlier versions from the store, applies them, and
// then the message; its model equals a replay of those customers.
func TestWorkerFillsAGapFromTheStore(t *testing.T) {
	s := openStore(t)
	newHistory(3, 6).appendEvents(t, s, 300)
	envs := readAll(t, s)
	var applied []uint64
	second := envs[len(envs)/2:]
	delivered := map[string]bool{}
	wantApplied := 0
	for _, e := range second {
		delivered[e.Stream] = true
	}
	for _, e := range envs {
		if delivered[e.Stream] {
			wantApplied++
		}
	}
	cfg := testWorkerConfig(s)
	cfg.Applied = func(e domain.Envelope) { applied = append(applied, e.Position) } // Run's goroutine only
	sub := newChanSubscriber()
	r := startWorker(t, sub, cfg)
	for _, e := range second {
		require.Equal(t, acked, sub.deliver(t, messageOf(t, e)), "position %d", e.Position)
	}
	require.NoError(t, r.stop(t))
	st := r.w.Stats()
	assert.Positive(t, st.Fills)
	assert.Equal(t, uint64(len(second)), st.Applied)
	assert.Equal(t, uint64(wantApplied), st.Applied+st.Filled, "applied and filled")
	requireUnionEqualsReplay(t, s, []*worker.Worker{r.w}, delivered)
	assert.Len(t, applied, wantApplied, "every event of the delivered streams applied once, filled ones included")
}

// TestWorkerStopsOnWhatItCannotApply: each of these stops the worker with its error and
// leaves the message unacked, so it goes to the partition's next owner — never skipped.
func TestWorkerStopsOnWhatItCannotApply(t *testing.T) {
	s := openStore(t)
	newHistory(4, 3).appendEvents(t, s, 40)
	envs := readAll(t, s)
	var laterVersion domain.Envelope
	for _, e := range envs {
		if e.Stream == envs[0].Stream && e.StreamVersion == 3 {
			laterVersion = e
		}
	}
	require.NotZero(t, laterVersion.Position, "history without a third event on %s", envs[0].Stream)

	tampered := messageOf(t, envs[0])
	tampered.Payload = bytes.Replace(tampered.Payload, []byte(`"actor":"test"`), []byte(`"actor":"mallory"`), 1)
	foreign := messageOf(t, envs[0])
	foreign.UUID = "another-id"

	// A ledger event never holds a secret: one that claims a redacted secret is altered.
	fakeRedacted := messageOf(t, envs[0])
	fakeRedacted.Payload = bytes.Replace(fakeRedacted.Payload, []byte(`"data":{`), []byte(`"data":{"secret":"[redacted]",`), 1)
	require.Contains(t, string(fakeRedacted.Payload), `"secret":"[redacted]"`)

	cases := []struct {
		name  string
		store worker.StreamReader
		msg   *message.Message
		want  error
	}{
		{"ledger event claiming a redacted secret", nil, fakeRedacted, worker.ErrMessage},
		{"gap without a store", nil, messageOf(t, laterVersion), worker.ErrGap},
		{"payload not JSON", nil, message.NewMessage("x", []byte("{not json")), worker.ErrMessage},
		{"payload altered after hashing", nil, tampered, worker.ErrMessage},
		{"uuid not the event id", nil, foreign, worker.ErrMessage},
		{"gap the store cannot fill", storeWithout{s}, messageOf(t, laterVersion), worker.ErrGap},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sub := newChanSubscriber()
			r := startWorker(t, sub, testWorkerConfig(tc.store))
			assert.Equal(t, unacked, sub.deliver(t, tc.msg))
			err := r.wait(t)
			require.ErrorIs(t, err, tc.want)
			assert.Zero(t, r.w.Stats().Applied)
		})
	}
}

// storeWithout is a store that has lost every stream.
type storeWithout struct{ worker.StreamReader }

func (storeWithout) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]domain.Envelope, error) {
	return nil, nil
}

// flakyStore fails its first reads.
type flakyStore struct {
	worker.StreamReader
	failures int
}

func (f *flakyStore) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]domain.Envelope, error) {
	if f.failures > 0 {
		f.failures--
		return nil, errors.New("store unavailable")
	}
	return f.StreamReader.ReadStream(ctx, stream, from, limit)
}

// TestWorkerNacksWhileTheStoreFails: a failed read of a gap's versions nacks the message
// (redelivered), up to RetriesMax times in a row; then the worker stops.
func TestWorkerNacksWhileTheStoreFails(t *testing.T) {
	s := openStore(t)
	newHistory(5, 2).appendEvents(t, s, 30)
	envs := readAll(t, s)
	last := envs[len(envs)-1]

	sub := newChanSubscriber()
	r := startWorker(t, sub, testWorkerConfig(&flakyStore{StreamReader: s, failures: 2}))
	msg := messageOf(t, last)
	assert.Equal(t, nacked, sub.deliver(t, msg))
	assert.Equal(t, nacked, sub.deliver(t, msg.Copy()))
	assert.Equal(t, acked, sub.deliver(t, msg.Copy()))
	require.NoError(t, r.stop(t))
	assert.Equal(t, uint64(2), r.w.Stats().Retries)

	sub = newChanSubscriber()
	r = startWorker(t, sub, testWorkerConfig(&flakyStore{StreamReader: s, failures: 100}))
	for range 3 {
		assert.Equal(t, nacked, sub.deliver(t, msg.Copy()))
	}
	assert.Equal(t, unacked, sub.deliver(t, msg.Copy()))
	err := r.wait(t)
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "store unavailable"), "error %v", err)
}

// TestWorkerLeavesTheMessageInHandUnackedWhenStopped: cancelling Run while a message waits
// for the worker neither applies nor acks it.
func TestWorkerLeavesTheMessageInHandUnackedWhenStopped(t *testing.T) {
	sub := newChanSubscriber()
	r := startWorker(t, sub, testWorkerConfig(nil))
	require.NoError(t, r.stop(t))
	assert.Equal(t, unacked, sub.deliver(t, message.NewMessage("x", []byte("{}"))))
}

func TestConfigRefusesMissingOptions(t *testing.T) {
	require.NoError(t, worker.DefaultConfig(nil).Validate())
	cases := []struct {
		name   string
		mutate func(*worker.Config)
		want   string
	}{
		{"no topic", func(c *worker.Config) { c.Topic = " " }, "Topic is empty"},
		{"no store timeout", func(c *worker.Config) { c.StoreTimeout = 0 }, "StoreTimeout"},
		{"negative retries", func(c *worker.Config) { c.RetriesMax = -1 }, "RetriesMax"},
		{"no fill bound", func(c *worker.Config) { c.FillVersionsMax = 0 }, "FillVersionsMax"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := worker.DefaultConfig(nil)
			tc.mutate(&cfg)
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := worker.New(nil, worker.DefaultConfig(nil))
	assert.Error(t, err, "nil subscriber")
}

// TestWorkerTakesARedactedSubscription: the relay publishes a webhook subscription with its
// secret redacted (the secret never reaches the topic); the worker cannot check that
// event's hash from the message, acks it, counts it as redacted, and moves the stream's
// version on, so the next event of the stream applies without a gap.
func TestWorkerTakesARedactedSubscription(t *testing.T) {
	const secret = "0123456789abcdef0123456789abcdef"
	s := openStore(t)
	var evs []domain.Envelope
	for i, data := range []string{
		`{"subscription_id":"S1","channel":"webhook","url":"https://example.com/hook","secret":"` + secret + `"}`,
		`{"subscription_id":"S1"}`,
	} {
		evs = append(evs, domain.Envelope{EventID: fmt.Sprintf("0193a5c2-0000-7000-8000-00000000000%d", i), Stream: "system-alert-subscriptions",
			Type: "AlertSubscriptionPaused", SchemaVersion: 1, EffectiveOn: domain.MustDate("2026-01-02"), Actor: "test", Data: []byte(data)})
	}
	_, err := s.Append(context.Background(), eventstore.AppendRequest{Stream: "system-alert-subscriptions", ExpectedVersion: 0, Events: evs})
	require.NoError(t, err)
	stored := readAll(t, s)
	require.Len(t, stored, 2)
	first := messageOf(t, stored[0])
	assert.NotContains(t, string(first.Payload), secret, "the secret stays in the store")
	assert.Equal(t, domain.SecretField, first.Metadata.Get(relay.MetadataRedacted))
	assert.Empty(t, messageOf(t, stored[1]).Metadata.Get(relay.MetadataRedacted))

	sub := newChanSubscriber()
	r := startWorker(t, sub, testWorkerConfig(nil))
	require.Equal(t, acked, sub.deliver(t, first))
	require.Equal(t, acked, sub.deliver(t, messageOf(t, stored[1])))
	st := r.w.Stats()
	assert.Equal(t, uint64(1), st.Redacted)
	assert.Equal(t, uint64(2), st.Applied)
	assert.Equal(t, uint64(2), streamVersion(r.w, "system-alert-subscriptions"))
}
