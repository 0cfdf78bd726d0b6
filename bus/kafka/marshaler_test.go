package kafka_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/bus/kafka"
)

// TestDefaultMarshaler checks the mapping of design §Flow step 4 without a broker: the UUID
// travels in its header, the partition key in the Kafka key (and only there), every other
// metadata field in a header of its own name, in name order; and Unmarshal(Marshal(m)) is m.
func TestDefaultMarshaler(t *testing.T) {
	cases := []struct {
		name     string
		metadata message.Metadata
		wantKey  []byte
		wantHdrs []string
	}{
		{
			name:     "partition key becomes the Kafka key, other metadata headers in name order",
			metadata: message.Metadata{"partition_key": "customer-42", "type": "InvoiceIssued", "correlation_id": "c-1"},
			wantKey:  []byte("customer-42"),
			wantHdrs: []string{kafka.UUIDHeader, "correlation_id", "type"},
		},
		{
			name:     "no partition key leaves the key nil",
			metadata: message.Metadata{"type": "PaymentReceived"},
			wantKey:  nil,
			wantHdrs: []string{kafka.UUIDHeader, "type"},
		},
		{
			name:     "an empty partition key is still a key",
			metadata: message.Metadata{"partition_key": ""},
			wantKey:  []byte{},
			wantHdrs: []string{kafka.UUIDHeader},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := kafka.DefaultMarshaler{}
			msg := message.NewMessage("0190b3c2-7d4e-7000-8000-000000000001", []byte(`{"amount":125000}`))
			msg.Metadata = tc.metadata
			km, err := m.Marshal("encours.events", msg)
			require.NoError(t, err)

			assert.Equal(t, "encours.events", km.Topic)
			assert.Equal(t, tc.wantKey, km.Key, "key of metadata %v", tc.metadata)
			var names []string
			for _, h := range km.Headers {
				names = append(names, h.Key)
			}
			assert.Equal(t, tc.wantHdrs, names)
			assert.Equal(t, msg.UUID, string(km.Headers[0].Value))

			km.Partition, km.Offset = 3, 17 // as fetched
			got, err := m.Unmarshal(km)
			require.NoError(t, err)
			assert.Equal(t, msg.UUID, got.UUID)
			assert.Equal(t, msg.Payload, got.Payload)
			assert.Equal(t, tc.metadata, got.Metadata)
		})
	}
}

func TestDefaultMarshalerRefusesReservedMetadata(t *testing.T) {
	msg := message.NewMessage("id-1", nil)
	msg.Metadata.Set(kafka.UUIDHeader, "spoofed")
	_, err := kafka.DefaultMarshaler{}.Marshal("t", msg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), kafka.UUIDHeader)
}

// A message written by another producer (an ERP on the ingest topic) has no UUID header; it
// gets one made of its position, the same on each redelivery, so deduplication still works.
func TestDefaultMarshalerForeignMessage(t *testing.T) {
	km := kafkago.Message{Topic: "encours.ingest", Partition: 2, Offset: 41, Key: []byte("customer-9"),
		Value: []byte("x"), Headers: []kafkago.Header{{Key: "source", Value: []byte("erp")}}}
	first, err := kafka.DefaultMarshaler{}.Unmarshal(km)
	require.NoError(t, err)
	again, err := kafka.DefaultMarshaler{}.Unmarshal(km)
	require.NoError(t, err)
	assert.Equal(t, "kafka:encours.ingest/2/41", first.UUID)
	assert.Equal(t, first.UUID, again.UUID)
	assert.Equal(t, message.Metadata{"source": "erp", "partition_key": "customer-9"}, first.Metadata)
}
