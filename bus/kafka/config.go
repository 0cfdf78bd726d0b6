package kafka

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// TopicConfig says whether and how the Publisher and Subscriber create a topic they use that
// does not exist yet.
type TopicConfig struct {
	// Create makes Publish, Subscribe and SubscribeInitialize create a missing topic with the
	// settings below (an existing topic is left as it is). When false, a missing topic is an
	// error of Publish and a subscription with no partitions: production topics such as
	// encours.events are created by whoever runs the cluster, with the partition count the
	// workers scale to (design §Scale-out).
	Create bool
	// Partitions is the partition count of a created topic: the most consumers of one group
	// that can work at once.
	Partitions int
	// ReplicationFactor of a created topic: 1 on a single broker, 3 in production.
	ReplicationFactor int
}

// PublisherConfig is every option of a Publisher; each one is set at the call site
// (DefaultPublisherConfig lists Encours's choices), and Validate refuses zero values.
type PublisherConfig struct {
	// Brokers are the bootstrap addresses, host:port.
	Brokers []string
	// ClientID names this process in the brokers' logs and quotas.
	ClientID string
	// Marshaler maps watermill messages to Kafka messages; DefaultMarshaler{} in Encours.
	Marshaler Marshaler
	// Topics says whether Publish creates a missing topic.
	Topics TopicConfig

	// DialTimeout bounds opening one connection to a broker.
	DialTimeout time.Duration
	// AdminTimeout bounds creating a topic and waiting until its partitions have leaders.
	AdminTimeout time.Duration
	// PublishTimeout bounds one Publish call, retries included.
	PublishTimeout time.Duration
	// WriteTimeout bounds writing one produce request (kafka-go Writer.WriteTimeout).
	WriteTimeout time.Duration
	// ReadTimeout bounds waiting for one produce response (kafka-go Writer.ReadTimeout);
	// with RequiredAcks=all it includes replication to the in-sync replicas.
	ReadTimeout time.Duration
	// WriteAttemptsMax is how many times one batch is tried before Publish fails
	// (kafka-go Writer.MaxAttempts), backing off between WriteBackoffMin and WriteBackoffMax.
	WriteAttemptsMax int
	WriteBackoffMin  time.Duration
	WriteBackoffMax  time.Duration
	// BatchMessagesMax and BatchBytesMax cap one produce request per partition
	// (kafka-go Writer.BatchSize and BatchBytes).
	BatchMessagesMax int
	BatchBytesMax    int64
	// BatchTimeout is how long a partly filled batch waits for more messages before it is
	// sent (kafka-go Writer.BatchTimeout). Publish is synchronous, so this is added to the
	// latency of every Publish of fewer than BatchMessagesMax messages.
	BatchTimeout time.Duration
	// MetadataTTL bounds how long cached cluster metadata (partition leaders) is trusted.
	MetadataTTL time.Duration
	// IdleConnTimeout closes connections unused for that long.
	IdleConnTimeout time.Duration
}

// DefaultPublisherConfig is the configuration Encours uses, with every value stated: the
// relay publishes a few events per append and needs each Publish acknowledged quickly.
func DefaultPublisherConfig(brokers []string) PublisherConfig {
	return PublisherConfig{
		Brokers:   brokers,
		ClientID:  "encours",
		Marshaler: DefaultMarshaler{},
		Topics:    TopicConfig{Create: false, Partitions: 12, ReplicationFactor: 3},

		DialTimeout:    5 * time.Second,  // kafka-go's default
		AdminTimeout:   30 * time.Second, // a topic's leaders are elected within seconds
		PublishTimeout: 30 * time.Second, // kafka-go's retries stop at this deadline too
		WriteTimeout:   10 * time.Second, // kafka-go's default
		ReadTimeout:    10 * time.Second, // kafka-go's default
		// kafka-go's defaults: 10 attempts, 100 ms .. 1 s backoff.
		WriteAttemptsMax: 10,
		WriteBackoffMin:  100 * time.Millisecond,
		WriteBackoffMax:  time.Second,
		// kafka-go's default count, and Kafka's default message.max.bytes (1 MiB).
		BatchMessagesMax: 100,
		BatchBytesMax:    1 << 20,
		// kafka-go waits 1 s by default, which a synchronous Publish would pay every time;
		// 5 ms still lets concurrent Publish calls share a request.
		BatchTimeout:    5 * time.Millisecond,
		MetadataTTL:     6 * time.Second,  // kafka-go's default
		IdleConnTimeout: 30 * time.Second, // kafka-go's default
	}
}

// Validate reports the first option that is missing or out of range.
func (c PublisherConfig) Validate() error {
	var errs []string
	if err := validateBrokers(c.Brokers); err != nil {
		errs = append(errs, err.Error())
	}
	if c.Marshaler == nil {
		errs = append(errs, "Marshaler is nil")
	}
	errs = append(errs, c.Topics.validate()...)
	errs = append(errs, positive(map[string]time.Duration{
		"DialTimeout": c.DialTimeout, "AdminTimeout": c.AdminTimeout,
		"PublishTimeout": c.PublishTimeout, "WriteTimeout": c.WriteTimeout,
		"ReadTimeout": c.ReadTimeout, "WriteBackoffMin": c.WriteBackoffMin,
		"WriteBackoffMax": c.WriteBackoffMax, "BatchTimeout": c.BatchTimeout,
		"MetadataTTL": c.MetadataTTL, "IdleConnTimeout": c.IdleConnTimeout,
	})...)
	if c.WriteBackoffMax < c.WriteBackoffMin {
		errs = append(errs, "WriteBackoffMax is below WriteBackoffMin")
	}
	if c.WriteAttemptsMax < 1 {
		errs = append(errs, "WriteAttemptsMax is below 1")
	}
	if c.BatchMessagesMax < 1 {
		errs = append(errs, "BatchMessagesMax is below 1")
	}
	if c.BatchBytesMax < 1 {
		errs = append(errs, "BatchBytesMax is below 1")
	}
	return joinConfigErrors("publisher", errs)
}

// SubscriberConfig is every option of a Subscriber; each one is set at the call site
// (DefaultSubscriberConfig lists Encours's choices), and Validate refuses zero values.
type SubscriberConfig struct {
	// Brokers are the bootstrap addresses, host:port.
	Brokers []string
	// ClientID names this process in the brokers' logs and quotas.
	ClientID string
	// ConsumerGroup is the Kafka consumer group every subscription of this Subscriber joins:
	// subscriptions (in this process or others) with the same group share the partitions of
	// a topic, and each group gets every message. A group with no committed offset for a
	// partition starts at the partition's first message.
	ConsumerGroup string
	// Marshaler maps fetched Kafka messages to watermill messages; DefaultMarshaler{}.
	Marshaler Marshaler
	// Topics says whether Subscribe creates a missing topic.
	Topics TopicConfig

	// DialTimeout bounds opening one connection to a broker.
	DialTimeout time.Duration
	// AdminTimeout bounds creating a topic and waiting until its partitions have leaders.
	AdminTimeout time.Duration

	// SessionTimeout: a member silent for that long is dropped from the group and its
	// partitions go to the others. The broker refuses values outside
	// [group.min.session.timeout.ms, group.max.session.timeout.ms] (6 s .. 30 min by default).
	SessionTimeout time.Duration
	// HeartbeatInterval is how often a member tells the coordinator it is alive, and so how
	// soon it notices a rebalance; at most a third of SessionTimeout.
	HeartbeatInterval time.Duration
	// RebalanceTimeout is how long the coordinator waits for members to rejoin during a
	// rebalance. Close may take up to this long when it interrupts a join.
	RebalanceTimeout time.Duration
	// JoinGroupBackoff is the pause before rejoining after a failed join.
	JoinGroupBackoff time.Duration
	// PartitionWatchInterval is how often the subscription looks for partitions added to its
	// topic, then rebalances to pick them up.
	PartitionWatchInterval time.Duration

	// FetchWaitMax is how long the broker may hold a fetch open waiting for FetchBytesMin
	// bytes (kafka-go ReaderConfig.MaxWait).
	FetchWaitMax time.Duration
	// ReadBatchTimeout bounds reading one fetched batch from the connection.
	ReadBatchTimeout time.Duration
	// FetchBytesMin and FetchBytesMax bound one fetch response; FetchBytesMax must exceed
	// the largest message.
	FetchBytesMin int
	FetchBytesMax int
	// FetchQueueMax is how many fetched messages kafka-go buffers ahead of the one being
	// handled (kafka-go ReaderConfig.QueueCapacity); when full, fetching pauses.
	FetchQueueMax int
	// FetchErrorBackoff is the pause after a failed fetch (the group could not be joined,
	// say) before the subscription tries again.
	FetchErrorBackoff time.Duration

	// CommitInterval zero commits each acked message's offset before the next message is
	// handed over (synchronous). A positive value lets kafka-go send the acked offsets in the
	// background at that interval, and once more on close: faster, but a crash loses up to an
	// interval of commits, which are then delivered again.
	CommitInterval time.Duration
	// CommitTimeout bounds one synchronous commit. A commit that fails is logged and not
	// retried here: the next acked message of the partition commits past it, and if none
	// comes, the message is delivered again after a restart (at-least-once).
	CommitTimeout time.Duration
	// NackResendDelay is the pause before a nacked message is handed over again.
	NackResendDelay time.Duration
	// CloseTimeout bounds Close: stopping every subscription, leaving the group and closing
	// connections.
	CloseTimeout time.Duration
}

// DefaultSubscriberConfig is the configuration Encours's projection workers use, with every
// value stated.
func DefaultSubscriberConfig(brokers []string, consumerGroup string) SubscriberConfig {
	return SubscriberConfig{
		Brokers:       brokers,
		ClientID:      "encours",
		ConsumerGroup: consumerGroup,
		Marshaler:     DefaultMarshaler{},
		Topics:        TopicConfig{Create: false, Partitions: 12, ReplicationFactor: 3},

		DialTimeout:  5 * time.Second,
		AdminTimeout: 30 * time.Second,

		// 10 s: a crashed worker's partitions move within 10 s; kafka-go's default is 30 s.
		SessionTimeout:         10 * time.Second,
		HeartbeatInterval:      time.Second, // < SessionTimeout/3, and a rebalance is noticed within 1 s
		RebalanceTimeout:       10 * time.Second,
		JoinGroupBackoff:       time.Second,     // kafka-go waits 5 s; a worker should rejoin sooner
		PartitionWatchInterval: 5 * time.Second, // kafka-go's default

		// Kafka's fetch.max.wait.ms default. kafka-go asks the broker to hold an empty fetch
		// for 3/4 of it and drops the connection at the full wait (an "i/o timeout" logged
		// when the broker answers late, then a re-dial). 5 s was measured against it on the
		// real broker (bus/relay/relaybench, append -> applied, 6 runs each, a loaded
		// machine): p99 602 ms ± 13% against 393 ms ± 177% (no significant difference), and
		// every Close and rebalance 3.5 s slower, since a reader leaves only after its fetch.
		FetchWaitMax:      500 * time.Millisecond,
		ReadBatchTimeout:  10 * time.Second, // kafka-go's default
		FetchBytesMin:     1,                // answer as soon as one message is there
		FetchBytesMax:     1 << 20,          // 1 MiB, Kafka's default message.max.bytes
		FetchQueueMax:     100,              // kafka-go's default
		FetchErrorBackoff: time.Second,

		CommitInterval:  0, // synchronous: commit after each Ack, before the next message
		CommitTimeout:   10 * time.Second,
		NackResendDelay: 100 * time.Millisecond, // watermill-kafka's default
		CloseTimeout:    30 * time.Second,       // > RebalanceTimeout + DialTimeout
	}
}

// Validate reports every option that is missing or out of range.
func (c SubscriberConfig) Validate() error {
	var errs []string
	if err := validateBrokers(c.Brokers); err != nil {
		errs = append(errs, err.Error())
	}
	if strings.TrimSpace(c.ConsumerGroup) == "" {
		errs = append(errs, "ConsumerGroup is empty")
	}
	if c.Marshaler == nil {
		errs = append(errs, "Marshaler is nil")
	}
	errs = append(errs, c.Topics.validate()...)
	errs = append(errs, positive(map[string]time.Duration{
		"DialTimeout": c.DialTimeout, "AdminTimeout": c.AdminTimeout,
		"SessionTimeout": c.SessionTimeout, "HeartbeatInterval": c.HeartbeatInterval,
		"RebalanceTimeout": c.RebalanceTimeout, "JoinGroupBackoff": c.JoinGroupBackoff,
		"PartitionWatchInterval": c.PartitionWatchInterval, "FetchWaitMax": c.FetchWaitMax,
		"ReadBatchTimeout": c.ReadBatchTimeout, "FetchErrorBackoff": c.FetchErrorBackoff,
		"CommitTimeout": c.CommitTimeout, "NackResendDelay": c.NackResendDelay,
		"CloseTimeout": c.CloseTimeout,
	})...)
	if c.CommitInterval < 0 {
		errs = append(errs, "CommitInterval is negative")
	}
	if c.HeartbeatInterval*3 > c.SessionTimeout {
		errs = append(errs, "HeartbeatInterval is above a third of SessionTimeout")
	}
	if c.FetchBytesMin < 1 || c.FetchBytesMax < c.FetchBytesMin {
		errs = append(errs, "FetchBytesMin must be at least 1 and FetchBytesMax at least FetchBytesMin")
	}
	if c.FetchQueueMax < 1 {
		errs = append(errs, "FetchQueueMax is below 1")
	}
	return joinConfigErrors("subscriber", errs)
}

func (t TopicConfig) validate() []string {
	if !t.Create {
		return nil
	}
	var errs []string
	if t.Partitions < 1 {
		errs = append(errs, "Topics.Partitions is below 1")
	}
	if t.ReplicationFactor < 1 {
		errs = append(errs, "Topics.ReplicationFactor is below 1")
	}
	return errs
}

func validateBrokers(brokers []string) error {
	if len(brokers) == 0 {
		return errors.New("brokers is empty: want at least one host:port")
	}
	for _, b := range brokers {
		if strings.TrimSpace(b) == "" || !strings.Contains(b, ":") {
			return fmt.Errorf("broker %q is not host:port", b)
		}
	}
	return nil
}

func positive(durations map[string]time.Duration) []string {
	var errs []string
	for name, d := range durations {
		if d <= 0 {
			errs = append(errs, name+" is not positive")
		}
	}
	sort.Strings(errs)
	return errs
}

func joinConfigErrors(side string, errs []string) error {
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("kafka %s config: %s", side, strings.Join(errs, "; "))
}
