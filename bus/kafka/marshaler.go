package kafka

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	kafkago "github.com/segmentio/kafka-go"
)

const (
	// UUIDHeader is the Kafka header carrying the watermill message UUID. It is the name
	// watermill-kafka uses, so consumers built on either library read each other's messages.
	UUIDHeader = "_watermill_message_uuid"

	// PartitionKeyMetadata is the metadata field whose value becomes the Kafka message key,
	// and so chooses the partition. Encours sets it to the customer id (design §Flow step 4:
	// "keyed by customer").
	PartitionKeyMetadata = "partition_key"
)

// Marshaler turns a watermill message into a Kafka message and back. Implementations must be
// safe for concurrent use.
type Marshaler interface {
	// Marshal returns the Kafka message to write to topic. It sets Key, Value and Headers,
	// never Partition, which the Publisher's balancer picks from the key.
	Marshal(topic string, msg *message.Message) (kafkago.Message, error)
	// Unmarshal returns the watermill message carried by a fetched Kafka message.
	Unmarshal(km kafkago.Message) (*message.Message, error)
}

// DefaultMarshaler carries the payload as the Kafka value, the UUID in UUIDHeader, every
// other metadata field as a header of the same name, and the PartitionKeyMetadata field as
// the Kafka key (and only there).
type DefaultMarshaler struct{}

var _ Marshaler = DefaultMarshaler{}

// Marshal implements Marshaler. A message without partition_key gets a nil key, which the
// Publisher's balancer spreads over partitions at random. Metadata may not use the reserved
// UUIDHeader name.
func (DefaultMarshaler) Marshal(topic string, msg *message.Message) (kafkago.Message, error) {
	if _, reserved := msg.Metadata[UUIDHeader]; reserved {
		return kafkago.Message{}, fmt.Errorf("marshal message %s: metadata %q is reserved for the message UUID", msg.UUID, UUIDHeader)
	}
	// Sorted header names: the same message always has the same bytes on the wire.
	names := make([]string, 0, len(msg.Metadata))
	for name := range msg.Metadata {
		if name != PartitionKeyMetadata {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	headers := make([]kafkago.Header, 0, len(names)+1)
	headers = append(headers, kafkago.Header{Key: UUIDHeader, Value: []byte(msg.UUID)})
	for _, name := range names {
		headers = append(headers, kafkago.Header{Key: name, Value: []byte(msg.Metadata[name])})
	}
	var key []byte
	if k, ok := msg.Metadata[PartitionKeyMetadata]; ok {
		key = []byte(k)
	}
	return kafkago.Message{Topic: topic, Key: key, Value: msg.Payload, Headers: headers}, nil
}

// Unmarshal implements Marshaler; it never fails. A non-nil Kafka key comes back as the
// partition_key metadata field. A message without UUIDHeader (written by another producer,
// such as an ERP feeding the ingest topic) gets a UUID made of its topic, partition and
// offset, the same on every redelivery, so deduplication by UUID still works.
func (DefaultMarshaler) Unmarshal(km kafkago.Message) (*message.Message, error) {
	uuid := ""
	metadata := make(message.Metadata, len(km.Headers)+1)
	for _, h := range km.Headers {
		if h.Key == UUIDHeader {
			uuid = string(h.Value)
			continue
		}
		metadata[h.Key] = string(h.Value)
	}
	if km.Key != nil {
		metadata[PartitionKeyMetadata] = string(km.Key)
	}
	if uuid == "" {
		uuid = fmt.Sprintf("kafka:%s/%d/%d", km.Topic, km.Partition, km.Offset)
	}
	msg := message.NewMessage(uuid, km.Value)
	msg.Metadata = metadata
	return msg, nil
}

// Origin says where a delivered message sits in Kafka: projection workers use it to log and
// check their progress per partition.
type Origin struct {
	Topic     string
	Partition int
	Offset    int64
	// Time is the Kafka record's timestamp (set by the producer, or by the broker on append).
	Time time.Time
}

type originKey struct{}

// OriginFromContext returns the Origin of a message delivered by a Subscriber, from the
// message's Context(); ok is false for any other context.
func OriginFromContext(ctx context.Context) (o Origin, ok bool) {
	o, ok = ctx.Value(originKey{}).(Origin)
	return o, ok
}

func withOrigin(ctx context.Context, km kafkago.Message) context.Context {
	return context.WithValue(ctx, originKey{}, Origin{
		Topic:     km.Topic,
		Partition: km.Partition,
		Offset:    km.Offset,
		Time:      km.Time,
	})
}
