package relay_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/bus/kafka"
	"github.com/encours/encours/bus/relay"
	"github.com/encours/encours/domain"
)

// memPublisher records what it is given. failNext makes the next calls fail before
// publishing anything; loseAckNext makes them publish and then fail, as when Kafka has the
// messages but the acknowledgement is lost.
type memPublisher struct {
	mu          sync.Mutex
	calls       [][]*message.Message
	published   []*message.Message
	failNext    int
	loseAckNext int
}

func (p *memPublisher) Publish(topic string, msgs ...*message.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, msgs)
	if p.failNext > 0 {
		p.failNext--
		return errors.New("broker unavailable")
	}
	p.published = append(p.published, msgs...)
	if p.loseAckNext > 0 {
		p.loseAckNext--
		return errors.New("acknowledgement lost")
	}
	return nil
}

func (p *memPublisher) Close() error { return nil }

func (p *memPublisher) positions(t *testing.T) []uint64 {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]uint64, 0, len(p.published))
	for _, m := range p.published {
		pos, err := strconv.ParseUint(m.Metadata.Get(relay.MetadataPosition), 10, 64)
		require.NoError(t, err)
		out = append(out, pos)
	}
	return out
}

func seq(from, to uint64) []uint64 {
	out := make([]uint64, 0, to-from+1)
	for p := from; p <= to; p++ {
		out = append(out, p)
	}
	return out
}

func TestPartitionKey(t *testing.T) {
	cases := []struct{ name, stream, want string }{
		{"customer stream gives the customer id", "customer-C042", "C042"},
		{"alerts stream gives the same customer id", "alerts-C042", "C042"},
		{"system stream keeps its name", "system-rates", "system-rates"},
		{"other system stream keeps its name", "system-tokens", "system-tokens"},
		{"bare prefix keeps the name", "customer-", "customer-"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, relay.PartitionKey(tc.stream), "PartitionKey(%q)", tc.stream)
		})
	}
}

// TestNewMessageCarriesTheEnvelope: the message's UUID is the event id, its metadata the
// routing fields, and its payload the envelope's JSON with hashes and request hash, which
// decode to the same envelope and verify against the event's own hash — names with "&",
// "<", ">" included, which default JSON encoding would rewrite.
func TestNewMessageCarriesTheEnvelope(t *testing.T) {
	s := openStore(t)
	fill(t, s, 1, 3, 60)
	envs := readAll(t, s)
	require.Len(t, envs, 60)
	withRequestHash := 0
	for _, e := range envs {
		msg, err := relay.NewMessage(&e)
		require.NoError(t, err)
		assert.Equal(t, e.EventID, msg.UUID)
		assert.Equal(t, message.Metadata{
			kafka.PartitionKeyMetadata:  relay.PartitionKey(e.Stream),
			relay.MetadataPosition:      strconv.FormatUint(e.Position, 10),
			relay.MetadataStream:        e.Stream,
			relay.MetadataStreamVersion: strconv.FormatUint(e.StreamVersion, 10),
			relay.MetadataType:          e.Type,
		}, msg.Metadata, "metadata of position %d", e.Position)

		var p relay.Payload
		require.NoError(t, json.Unmarshal(msg.Payload, &p))
		got := p.Envelope
		got.RequestHash = p.RequestHash
		require.NoError(t, domain.VerifyHash(&got, nil), "position %d after a JSON round trip", e.Position)
		assert.True(t, bytes.Equal(e.Data, got.Data), "data of position %d: got %s, want %s", e.Position, got.Data, e.Data)
		assert.Equal(t, e.Hash, got.Hash)
		assert.Equal(t, e.PrevHash, got.PrevHash)
		if len(e.RequestHash) > 0 {
			withRequestHash++
		}
	}
	assert.Positive(t, withRequestHash, "no event with a request hash: the test would not cover it")
}

// referencePayload is what encoding/json writes for e's Payload with HTML escaping off: the
// definition EncodePayload must match byte for byte.
func referencePayload(t testing.TB, e domain.Envelope) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(relay.Payload{Envelope: e, RequestHash: e.RequestHash}))
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// TestEncodePayloadMatchesEncodingJSON: the hand-written encoder gives encoding/json's bytes,
// for the store's events and for strings that need escaping (quotes, backslashes, control
// characters, U+2028, invalid UTF-8, HTML characters), empty optional fields and data with
// whitespace.
func TestEncodePayloadMatchesEncodingJSON(t *testing.T) {
	s := openStore(t)
	fill(t, s, 1, 3, 40)
	envs := readAll(t, s)
	odd := envs[0]
	odd.EventID = "quote\" backslash\\ nl\n cr\r tab\t nul\x00 esc\x1b del\x7f"
	odd.Actor = "ls\u2028ps\u2029 bad\xff\xfe utf8 é 日本 <&>"
	odd.CorrelationID, odd.CausationID, odd.IdempotencyKey = "", "cause", ""
	odd.Data = []byte("{ \"a\" : [1, 2],\n\t\"b\":\"x y\" }")
	odd.RequestHash = nil
	empty := envs[1]
	empty.Data = nil
	empty.EffectiveOn = domain.Date{}
	for i, e := range append(envs, odd, empty) {
		got, err := relay.EncodePayload(nil, &e)
		require.NoError(t, err)
		assert.Equal(t, string(referencePayload(t, e)), string(got), "envelope %d", i)
	}
}

// TestEncodePayloadWritesEveryField: EncodePayload names its fields by hand, so a field added
// to domain.Envelope must be added there too; this list changes with it.
func TestEncodePayloadWritesEveryField(t *testing.T) {
	var tags []string
	for f := range reflect.TypeFor[domain.Envelope]().Fields() {
		tags = append(tags, f.Tag.Get("json"))
	}
	assert.Equal(t, []string{"event_id", "stream", "stream_version", "position", "type", "schema_version",
		"effective_on", "recorded_at", "actor", "correlation_id,omitempty", "causation_id,omitempty",
		"idempotency_key,omitempty", "-", "data", "prev_hash", "hash"}, tags,
		"domain.Envelope changed: update relay.EncodePayload (and this list)")
}

// TestRunPublishesEveryEventOnceInOrderAndResumes: a relay catches up with the store, follows
// live appends, stops cleanly, and a second Run resumes after the checkpoint: every position
// is published exactly once, in order, in batches no larger than BatchEventsMax.
func TestRunPublishesEveryEventOnceInOrderAndResumes(t *testing.T) {
	s := openStore(t)
	fill(t, s, 1, 10, 500)
	dir := t.TempDir()
	pub := &memPublisher{}
	var stats relay.Stats
	cfg := testConfig(dir, &stats)
	cfg.BatchEventsMax = 64

	r := runRelay(t, s, pub, cfg)
	waitCheckpoint(t, &stats, 500)
	fill(t, s, 2, 10, 300) // live
	waitCheckpoint(t, &stats, 800)
	require.NoError(t, r.stop(t))
	fill(t, s, 3, 10, 200) // while stopped

	r = runRelay(t, s, pub, cfg)
	waitCheckpoint(t, &stats, 1000)
	require.NoError(t, r.stop(t))

	assert.Equal(t, seq(1, 1000), pub.positions(t), "published positions")
	for i, call := range pub.calls {
		assert.LessOrEqual(t, len(call), cfg.BatchEventsMax, "Publish call %d", i)
	}
	snap := stats.Snapshot()
	assert.Equal(t, uint64(1000), snap.PublishedEvents)
	assert.Equal(t, uint64(1000), snap.Checkpoint)
	assert.Equal(t, uint64(0), snap.LagPositions)
	mark, err := relay.NewFileCheckpoint(filepath.Join(dir, "relay.checkpoint")).Load()
	require.NoError(t, err)
	assert.Equal(t, uint64(1000), mark.Position)
}

// TestRunRepublishesOnlyTheUnconfirmedBatch: Kafka takes a batch but its acknowledgement is
// lost, and the relay gives up (one attempt): the checkpoint stays before that batch. The
// next Run republishes that batch, and nothing else twice.
func TestRunRepublishesOnlyTheUnconfirmedBatch(t *testing.T) {
	s := openStore(t)
	fill(t, s, 1, 10, 300)
	dir := t.TempDir()
	var stats relay.Stats
	cfg := testConfig(dir, &stats)
	cfg.BatchEventsMax = 50
	cfg.PublishAttemptsMax = 1
	pub := &memPublisher{}

	r := runRelay(t, s, pub, cfg)
	waitCheckpoint(t, &stats, 300)
	pub.mu.Lock()
	pub.loseAckNext = 1
	pub.mu.Unlock()
	fill(t, s, 2, 10, 40)
	err := r.wait(t)
	require.ErrorIs(t, err, relay.ErrPublish)
	assert.Equal(t, uint64(300), stats.Snapshot().Checkpoint)

	r = runRelay(t, s, pub, cfg)
	waitCheckpoint(t, &stats, 340)
	require.NoError(t, r.stop(t))

	got := pub.positions(t)
	seen := map[uint64]int{}
	for _, p := range got {
		seen[p]++
	}
	var dups []uint64
	for p := uint64(1); p <= 340; p++ {
		require.Positive(t, seen[p], "position %d never published", p)
		if seen[p] > 1 {
			dups = append(dups, p)
		}
	}
	require.NotEmpty(t, dups, "the lost acknowledgement should cause a republish")
	assert.GreaterOrEqual(t, dups[0], uint64(301), "duplicates %v before the unconfirmed batch", dups)
	assert.LessOrEqual(t, len(dups), cfg.BatchEventsMax, "more duplicates than one batch: %v", dups)
}

// TestRunRetriesAFailedPublish: two failed attempts are retried with backoff, then the
// batch goes through once; the failures are counted.
func TestRunRetriesAFailedPublish(t *testing.T) {
	s := openStore(t)
	fill(t, s, 1, 5, 100)
	var stats relay.Stats
	pub := &memPublisher{failNext: 2}
	r := runRelay(t, s, pub, testConfig(t.TempDir(), &stats))
	waitCheckpoint(t, &stats, 100)
	require.NoError(t, r.stop(t))
	assert.Equal(t, seq(1, 100), pub.positions(t))
	assert.Equal(t, uint64(2), stats.Snapshot().PublishFailures)
}

// TestRunStopsDuringBackoff: cancelling a relay that waits to retry a failing broker stops
// it at once, without an error and without moving the checkpoint.
func TestRunStopsDuringBackoff(t *testing.T) {
	s := openStore(t)
	fill(t, s, 1, 5, 20)
	var stats relay.Stats
	cfg := testConfig(t.TempDir(), &stats)
	cfg.PublishBackoffMin, cfg.PublishBackoffMax = time.Minute, time.Minute
	pub := &memPublisher{failNext: 1}
	r := runRelay(t, s, pub, cfg)
	require.Eventually(t, func() bool { return stats.Snapshot().PublishFailures == 1 }, testWait, time.Millisecond)
	started := time.Now()
	require.NoError(t, r.stop(t))
	assert.Less(t, time.Since(started), 10*time.Second)
	assert.Equal(t, uint64(0), stats.Snapshot().Checkpoint)
}

// TestRunRefusesAForeignCheckpoint: a checkpoint beyond the store's head, or naming an event
// whose hash is not the store's, is ErrCheckpointMismatch and nothing is published.
func TestRunRefusesAForeignCheckpoint(t *testing.T) {
	s := openStore(t)
	fill(t, s, 1, 5, 30)
	envs := readAll(t, s)
	cases := []struct {
		name string
		mark relay.Mark
	}{
		{"beyond the head", relay.Mark{Position: 31, Hash: envs[29].Hash}},
		{"hash of another event", relay.Mark{Position: 10, Hash: envs[9].PrevHash}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cp := relay.NewFileCheckpoint(filepath.Join(t.TempDir(), "relay.checkpoint"))
			require.NoError(t, cp.Save(tc.mark))
			cfg := relay.DefaultConfig(cp)
			pub := &memPublisher{}
			err := relay.Run(t.Context(), s, pub, cfg)
			require.ErrorIs(t, err, relay.ErrCheckpointMismatch)
			assert.Empty(t, pub.positions(t))
		})
	}
}

func TestFileCheckpoint(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "relay.checkpoint")
	cp := relay.NewFileCheckpoint(path)

	m, err := cp.Load()
	require.NoError(t, err, "a missing file is the zero mark")
	assert.Equal(t, relay.Mark{}, m)

	want := relay.Mark{Position: 42, Hash: domain.Hash{1, 2, 3}}
	require.NoError(t, cp.Save(want))
	require.NoError(t, cp.Save(relay.Mark{Position: 43, Hash: domain.Hash{4}}))
	m, err = cp.Load()
	require.NoError(t, err)
	assert.Equal(t, relay.Mark{Position: 43, Hash: domain.Hash{4}}, m)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "temporary files left beside the checkpoint: %v", entries)

	bad := []struct{ name, content string }{
		{"truncated", `{"position":43,"ha`},
		{"unknown field", `{"position":43,"hash":"` + domain.Hash{4}.String() + `","x":1}`},
		{"position without hash", `{"position":43,"hash":"` + domain.Hash{}.String() + `"}`},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, os.WriteFile(path, []byte(tc.content), 0o600))
			_, err := cp.Load()
			assert.Error(t, err, "content %q", tc.content)
		})
	}
}

func TestConfigRefusesMissingOptions(t *testing.T) {
	good := relay.DefaultConfig(relay.NewFileCheckpoint("x"))
	require.NoError(t, good.Validate())
	cases := []struct {
		name   string
		mutate func(*relay.Config)
		want   string
	}{
		{"no topic", func(c *relay.Config) { c.Topic = "" }, "Topic is empty"},
		{"no checkpoint", func(c *relay.Config) { c.Checkpoint = nil }, "Checkpoint is nil"},
		{"no batch", func(c *relay.Config) { c.BatchEventsMax = 0 }, "BatchEventsMax"},
		{"no attempts", func(c *relay.Config) { c.PublishAttemptsMax = 0 }, "PublishAttemptsMax"},
		{"backoff upside down", func(c *relay.Config) { c.PublishBackoffMax = time.Millisecond }, "PublishBackoffMax"},
		{"no store timeout", func(c *relay.Config) { c.StoreTimeout = 0 }, "StoreTimeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.mutate(&cfg)
			err := cfg.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// BenchmarkNewMessage measures encoding one envelope into the relay's message, the relay's
// own CPU cost per event.
func BenchmarkNewMessage(b *testing.B) {
	data, err := domain.EncodeEvent(domain.InvoiceIssued{InvoiceID: "I-2024-000123", Number: "F-000123",
		Amount: domain.Money{Minor: 125_000, Ccy: "EUR"}, IssueDate: domain.MustDate("2024-01-01"), DueDate: domain.MustDate("2024-02-01")})
	require.NoError(b, err)
	e := domain.Envelope{EventID: "0190c2d4-9f6e-7abc-8def-0123456789ab", Stream: "customer-C00042", StreamVersion: 17,
		Position: 123456, Type: "InvoiceIssued", SchemaVersion: 1, EffectiveOn: domain.MustDate("2024-01-01"),
		RecordedAt: time.Date(2024, 1, 1, 10, 0, 0, 123, time.UTC), Actor: "api", CorrelationID: "c-1",
		Data: data, PrevHash: domain.Hash{1}, Hash: domain.Hash{2}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := relay.NewMessage(&e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFileCheckpointSave measures one checkpoint save (write, fsync, rename, fsync of
// the directory): the relay pays it once per batch, on its critical path.
func BenchmarkFileCheckpointSave(b *testing.B) {
	cp := relay.NewFileCheckpoint(filepath.Join(b.TempDir(), "relay.checkpoint"))
	m := relay.Mark{Position: 1, Hash: domain.Hash{1}}
	for b.Loop() {
		m.Position++
		if err := cp.Save(m); err != nil {
			b.Fatal(err)
		}
	}
}

func TestKafkaPublisherConfigIsValid(t *testing.T) {
	cfg := relay.KafkaPublisherConfig([]string{"127.0.0.1:9092"})
	require.NoError(t, cfg.Validate())
	assert.Equal(t, 1000, cfg.BatchMessagesMax)
	assert.Equal(t, time.Millisecond, cfg.BatchTimeout)
}
