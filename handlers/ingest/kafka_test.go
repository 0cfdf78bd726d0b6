package ingest_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/bus/kafka"
	"github.com/encours/encours/bus/kafka/kafkatest"
	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/handlers/httpapi"
	"github.com/encours/encours/handlers/ingest"
)

const ingestWait = 30 * time.Second

func kafkaPublisher(t *testing.T, brokers []string) *kafka.Publisher {
	t.Helper()
	cfg := kafka.DefaultPublisherConfig(brokers)
	cfg.Topics = kafka.TopicConfig{Create: true, Partitions: kafkatest.Partitions, ReplicationFactor: 1}
	pub, err := kafka.NewPublisher(cfg, kafkatest.Logger())
	require.NoError(t, err)
	t.Cleanup(func() { _ = pub.Close() })
	return pub
}

func kafkaSubscriber(t *testing.T, brokers []string, group string) *kafka.Subscriber {
	t.Helper()
	cfg := kafka.DefaultSubscriberConfig(brokers, group)
	cfg.Topics = kafka.TopicConfig{Create: true, Partitions: kafkatest.Partitions, ReplicationFactor: 1}
	cfg.SessionTimeout = 6 * time.Second
	cfg.HeartbeatInterval = 500 * time.Millisecond
	cfg.RebalanceTimeout = 5 * time.Second
	cfg.JoinGroupBackoff = 200 * time.Millisecond
	cfg.FetchErrorBackoff = 100 * time.Millisecond
	cfg.NackResendDelay = 10 * time.Millisecond
	sub, err := kafka.NewSubscriber(cfg, kafkatest.Logger())
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

// commandMessage is a command as a finance system puts it on encours.commands.
func commandMessage(customer, path, key, body string) *message.Message {
	msg := message.NewMessage(watermill.NewUUID(), []byte(body))
	msg.Metadata.Set(kafka.PartitionKeyMetadata, customer)
	msg.Metadata.Set(ingest.HeaderPath, path)
	if key != "" {
		msg.Metadata.Set(ingest.HeaderIdempotencyKey, key)
	}
	return msg
}

// flakyPublisher fails its first failures Publish calls.
type flakyPublisher struct {
	message.Publisher
	failures atomic.Int64
}

func (f *flakyPublisher) Publish(topic string, msgs ...*message.Message) error {
	if f.failures.Add(-1) >= 0 {
		return errors.New("broker unavailable (test)")
	}
	return f.Publisher.Publish(topic, msgs...)
}

type runningIngest struct {
	in     *ingest.KafkaIngest
	cancel context.CancelFunc
	done   chan error
}

func startIngest(t *testing.T, brokers []string, group string, dlq message.Publisher, cmds *httpapi.Commands, topic, dlqTopic string) *runningIngest {
	t.Helper()
	cfg := ingest.DefaultKafkaConfig()
	cfg.Topic, cfg.DeadLetterTopic = topic, dlqTopic
	in, err := ingest.NewKafkaIngest(kafkaSubscriber(t, brokers, group), dlq, cmds, cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningIngest{in: in, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- in.Run(ctx) }() // ends with cancel
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *runningIngest) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		require.NoError(t, err)
		r.done <- nil // a second stop returns at once
	case <-time.After(ingestWait):
		t.Fatalf("ingest did not stop within %s", ingestWait)
	}
}

// TestKafkaIngest feeds encours.commands the same JSON commands as the HTTP API and checks
// that: valid commands are appended once, with the topic's actor; a redelivered command (same
// idempotency key, same body) appends nothing; each invalid one — malformed JSON, an unknown
// field, no idempotency key, an unknown route, a refusal of the domain, a key reused with
// another body — is on encours.commands.dlq with its error code and message, and nothing of
// it is appended; a dead letter whose publish fails is retried, not committed; and a new
// member of the group after a restart re-executes nothing (every offset was committed after
// its append or dead letter).
func TestKafkaIngest(t *testing.T) {
	kafkatest.ForEach(t, func(t *testing.T, brokers []string) {
		store, err := embedded.Open(t.TempDir(), embedded.Options{})
		require.NoError(t, err)
		defer store.Close()
		svc := command.New(store, command.NewManualClock(time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC)), command.Options{})
		cmds := httpapi.NewCommands(svc, store, httpapi.Options{})
		suffix := watermill.NewShortUUID()
		topic, dlqTopic, group := "commands-"+suffix, "commands-dlq-"+suffix, "ingest-"+suffix

		pub := kafkaPublisher(t, brokers)
		const register = `{"id":"ACME","name":"Acme SAS","country":"FR","segment":"sme","currency":"EUR","terms_days":30,"credit_limit":5000000}`
		const invoice = `{"customer_id":"ACME","invoice_id":"F1","number":"F1","amount":125000,"currency":"EUR","issue_date":"2026-11-02","due_date":"2026-12-02"}`
		valid := []*message.Message{
			commandMessage("ACME", "/v1/customers", "reg-ACME", register),
			commandMessage("ACME", "/v1/invoices", "inv-F1", invoice),
			commandMessage("ACME", "/v1/invoices", "inv-F1", invoice), // redelivered by the producer
			commandMessage("ACME", "/v1/invoices/F1/dispute", "dis-F1", `{"reason":"wrong quantity","disputed_on":"2026-11-05"}`),
		}
		invalid := map[string]*message.Message{ // want code -> message
			"invalid_json":            commandMessage("ACME", "/v1/invoices", "bad-json", `{"customer_id":`),
			"unknown_field":           commandMessage("ACME", "/v1/invoices", "bad-field", `{"customer_id":"ACME","colour":"red"}`),
			"missing_idempotency_key": commandMessage("ACME", "/v1/invoices", "", invoice),
			"route_not_found":         commandMessage("ACME", "/v1/nothing-here", "bad-route", `{}`),
			"due_before_issue": commandMessage("ACME", "/v1/invoices", "bad-due",
				`{"customer_id":"ACME","invoice_id":"F2","number":"F2","amount":1000,"currency":"EUR","issue_date":"2026-11-02","due_date":"2026-10-02"}`),
			"idempotency_key_reused": commandMessage("ACME", "/v1/invoices", "inv-F1",
				`{"customer_id":"ACME","invoice_id":"F3","number":"F3","amount":1000,"currency":"EUR","issue_date":"2026-11-02","due_date":"2026-12-02"}`),
		}
		for _, m := range valid {
			require.NoError(t, pub.Publish(topic, m))
		}
		for _, m := range invalid {
			require.NoError(t, pub.Publish(topic, m))
		}

		// The dead-letter publisher fails twice first: those messages are handed over again.
		dlq := &flakyPublisher{Publisher: kafkaPublisher(t, brokers)}
		dlq.failures.Store(2)
		r := startIngest(t, brokers, group, dlq, cmds, topic, dlqTopic)
		require.Eventually(t, func() bool {
			st := r.in.Stats()
			return st.Executed+st.Replayed == uint64(len(valid)) && st.DeadLettered == uint64(len(invalid))
		}, ingestWait, 20*time.Millisecond, "ingest stats %+v", r.in.Stats())
		st := r.in.Stats()
		assert.Equal(t, uint64(3), st.Executed)
		assert.Equal(t, uint64(1), st.Replayed, "the redelivered invoice appends nothing")
		assert.GreaterOrEqual(t, st.Retries, uint64(2), "the failed dead-letter publishes were retried")
		r.stop(t)

		// The log: the customer, one invoice, one dispute, by the topic's actor, nothing else.
		envs, err := store.ReadStream(context.Background(), domain.CustomerStream("ACME"), 1, 100)
		require.NoError(t, err)
		var types []string
		for _, e := range envs {
			types = append(types, e.Type)
			assert.Equal(t, "kafka:"+ingest.CommandsTopic, e.Actor)
			assert.NotEmpty(t, e.IdempotencyKey)
		}
		assert.Equal(t, []string{domain.TypeCustomerRegistered, domain.TypeInvoiceIssued, domain.TypeInvoiceDisputed}, types)

		// The dead letters: one per invalid message, with its code, message and origin.
		byUUID := map[string]string{}
		for code, m := range invalid {
			byUUID[m.UUID] = code
		}
		dsub := kafkaSubscriber(t, brokers, "dlq-check-"+suffix)
		ch, err := dsub.Subscribe(context.Background(), dlqTopic)
		require.NoError(t, err)
		got := map[string]bool{}
		for len(got) < len(invalid) {
			select {
			case m := <-ch:
				code, ok := byUUID[m.UUID]
				require.True(t, ok, "dead letter %s is not one of the invalid messages", m.UUID)
				assert.Equal(t, code, m.Metadata.Get(ingest.HeaderErrorCode), "dead letter of the %s message", code)
				assert.NotEmpty(t, m.Metadata.Get(ingest.HeaderErrorMessage), code)
				assert.NotEmpty(t, m.Metadata.Get(ingest.HeaderErrorStatus), code)
				assert.Equal(t, topic, m.Metadata.Get(ingest.HeaderSourceTopic), code)
				assert.NotEmpty(t, m.Metadata.Get(ingest.HeaderSourceOffset), code)
				assert.Equal(t, "ACME", m.Metadata.Get(kafka.PartitionKeyMetadata), "the dead letter keeps the key")
				assert.Equal(t, string(invalid[code].Payload), string(m.Payload), "the dead letter keeps the value")
				assert.False(t, got[code], "dead letter %s twice", code)
				got[code] = true
				m.Ack()
			case <-time.After(ingestWait):
				t.Fatalf("dead letters after %s: %v", ingestWait, got)
			}
		}

		// A restart in the same group re-executes nothing: every offset was committed.
		head, err := store.Head(context.Background())
		require.NoError(t, err)
		marker := commandMessage("ACME", "/v1/invoices", "inv-F4",
			`{"customer_id":"ACME","invoice_id":"F4","number":"F4","amount":2000,"currency":"EUR","issue_date":"2026-11-02","due_date":"2026-12-02"}`)
		require.NoError(t, pub.Publish(topic, marker))
		r2 := startIngest(t, brokers, group, dlq, cmds, topic, dlqTopic)
		require.Eventually(t, func() bool { s := r2.in.Stats(); return s.Executed+s.DeadLettered > 0 }, ingestWait, 20*time.Millisecond)
		r2.stop(t)
		assert.Equal(t, ingest.KafkaStats{Executed: 1}, r2.in.Stats(), "after the restart only the new command is handled")
		after, err := store.Head(context.Background())
		require.NoError(t, err)
		assert.Equal(t, head.Position+1, after.Position)
	})
}
