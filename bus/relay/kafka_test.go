package relay_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/bus/kafka"
	"github.com/encours/encours/bus/kafka/kafkatest"
	"github.com/encours/encours/bus/relay"
	"github.com/encours/encours/domain"
)

// record is one message read back from a topic.
type record struct {
	partition     int
	offset        int64
	key           string
	position      uint64
	stream        string
	streamVersion uint64
	uuid          string
}

// readTopic reads every partition of topic from its first offset to its end, without a
// consumer group, and returns the records by partition in offset order.
func readTopic(t *testing.T, brokers []string, topic string) map[int][]record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	conn, err := kafkago.DialContext(ctx, "tcp", brokers[0])
	require.NoError(t, err)
	parts, err := conn.ReadPartitions(topic)
	require.NoError(t, conn.Close())
	require.NoError(t, err)
	out := map[int][]record{}
	for _, p := range parts {
		lc, err := kafkago.DialLeader(ctx, "tcp", brokers[0], topic, p.ID)
		require.NoError(t, err, "dial leader of partition %d", p.ID)
		first, last, err := lc.ReadOffsets()
		require.NoError(t, err)
		_, err = lc.Seek(first, kafkago.SeekAbsolute)
		require.NoError(t, err)
		for off := first; off < last; { // each batch read advances off or fails the test
			require.NoError(t, lc.SetReadDeadline(time.Now().Add(10*time.Second)))
			b := lc.ReadBatch(1, 16<<20)
			for {
				m, err := b.ReadMessage()
				if err != nil {
					break
				}
				out[p.ID] = append(out[p.ID], recordOf(t, m))
				off = m.Offset + 1
			}
			require.NoError(t, b.Close())
		}
		require.NoError(t, lc.Close())
	}
	return out
}

func recordOf(t *testing.T, m kafkago.Message) record {
	t.Helper()
	r := record{partition: m.Partition, offset: m.Offset, key: string(m.Key)}
	for _, h := range m.Headers {
		switch h.Key {
		case relay.MetadataPosition:
			r.position, _ = strconv.ParseUint(string(h.Value), 10, 64)
		case relay.MetadataStream:
			r.stream = string(h.Value)
		case relay.MetadataStreamVersion:
			r.streamVersion, _ = strconv.ParseUint(string(h.Value), 10, 64)
		case kafka.UUIDHeader:
			r.uuid = string(h.Value)
		}
	}
	require.NotZero(t, r.position, "record at %d/%d has no position header", m.Partition, m.Offset)
	return r
}

// checkTopic checks what readTopic returned against the store's events: each position
// from 1 to head is there at least once, with its event id and key; all events of a key are
// in one partition, in stream-version order with no gap; and it returns the positions found
// more than once.
func checkTopic(t *testing.T, parts map[int][]record, envs []domain.Envelope) (dups []uint64) {
	t.Helper()
	byPos := map[uint64]domain.Envelope{}
	for _, e := range envs {
		byPos[e.Position] = e
	}
	seen := map[uint64]int{}
	keyPartition := map[string]int{}
	for p, recs := range parts {
		version := map[string]uint64{}
		for _, r := range recs {
			e, ok := byPos[r.position]
			require.True(t, ok, "partition %d offset %d: position %d is not in the store", p, r.offset, r.position)
			assert.Equal(t, e.EventID, r.uuid, "uuid at position %d", r.position)
			assert.Equal(t, relay.PartitionKey(e.Stream), r.key, "key at position %d", r.position)
			if kp, ok := keyPartition[r.key]; ok {
				assert.Equal(t, kp, p, "key %s in partitions %d and %d", r.key, kp, p)
			}
			keyPartition[r.key] = p
			// In order: each record is the stream's next version, or a repeat of an earlier
			// one (a republished batch) — never beyond the next.
			assert.LessOrEqual(t, r.streamVersion, version[r.stream]+1, "partition %d offset %d: %s v%d after v%d",
				p, r.offset, r.stream, r.streamVersion, version[r.stream])
			version[r.stream] = max(version[r.stream], r.streamVersion)
			seen[r.position]++
		}
	}
	for _, e := range envs {
		require.Positive(t, seen[e.Position], "position %d (%s v%d) is not in the topic", e.Position, e.Stream, e.StreamVersion)
		if seen[e.Position] > 1 {
			dups = append(dups, e.Position)
		}
	}
	assert.Greater(t, len(keyPartition), 1, "every key in one partition: the test would not cover keying")
	return dups
}

// loseOneAck publishes through the real publisher, and on the call armed by arm reports a
// failure after Kafka has taken the batch: a lost acknowledgement.
type loseOneAck struct {
	message.Publisher
	armed chan struct{}
}

func (p *loseOneAck) Publish(topic string, msgs ...*message.Message) error {
	if err := p.Publisher.Publish(topic, msgs...); err != nil {
		return err
	}
	select {
	case <-p.armed:
		return errors.New("acknowledgement lost")
	default:
		return nil
	}
}

// TestRelayOverKafka publishes a store of a few thousand events (customers, their alerts,
// the rates stream) to a topic of 8 partitions and reads every partition back: every event
// is there exactly once, keyed by customer, in order per key. Then the relay is stopped,
// events are appended, and a new Run resumes after its checkpoint: still exactly once. Last,
// a batch's acknowledgement is lost and the relay gives up; the next Run republishes that
// batch, and the topic then holds duplicates of that batch only.
func TestRelayOverKafka(t *testing.T) {
	kafkatest.ForEach(t, func(t *testing.T, brokers []string) {
		started := time.Now()
		s := openStore(t)
		fill(t, s, 1, 40, 2000)
		topic := uniqueTopic("relay")
		dir := t.TempDir()
		var stats relay.Stats
		cfg := testConfig(dir, &stats)
		cfg.Topic = topic
		cfg.BatchEventsMax = 500
		pub := newKafkaPublisher(t, brokers)

		r := runRelay(t, s, pub, cfg)
		waitCheckpoint(t, &stats, 2000)
		fill(t, s, 2, 40, 500)
		waitCheckpoint(t, &stats, 2500)
		require.NoError(t, r.stop(t))
		assert.Empty(t, checkTopic(t, readTopic(t, brokers, topic), readAll(t, s)), "duplicates after a clean run")

		fill(t, s, 3, 40, 500)
		r = runRelay(t, s, pub, cfg)
		waitCheckpoint(t, &stats, 3000)
		require.NoError(t, r.stop(t))
		assert.Empty(t, checkTopic(t, readTopic(t, brokers, topic), readAll(t, s)), "duplicates after a resume")

		lossy := &loseOneAck{Publisher: pub, armed: make(chan struct{}, 1)}
		lossy.armed <- struct{}{}
		cfg.PublishAttemptsMax = 1
		fill(t, s, 4, 40, 300)
		r = runRelay(t, s, lossy, cfg)
		require.ErrorIs(t, r.wait(t), relay.ErrPublish)
		r = runRelay(t, s, pub, cfg)
		waitCheckpoint(t, &stats, 3300)
		require.NoError(t, r.stop(t))
		dups := checkTopic(t, readTopic(t, brokers, topic), readAll(t, s))
		require.NotEmpty(t, dups, "the lost acknowledgement should cause a republish")
		assert.GreaterOrEqual(t, dups[0], uint64(3001), "duplicates before the unconfirmed batch: %v", dups[:min(len(dups), 10)])
		assert.LessOrEqual(t, len(dups), cfg.BatchEventsMax, "more duplicates than one batch")
		t.Logf("%d events, %d republished after a lost ack, in %s", headOf(t, s), len(dups), time.Since(started).Round(time.Millisecond))
	})
}
