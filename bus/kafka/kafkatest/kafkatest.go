// Package kafkatest gives tests the two Kafka clusters of design §Scale-out: franz-go's
// in-process kfake, always, and a real Apache Kafka broker (scripts/kafka up), skipped when
// none is reachable — and failed instead when CI=true, since CI starts one. The tests of
// bus/kafka, bus/relay and projections/worker share it.
//
// It imports no Encours package.
package kafkatest

import (
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
)

const (
	// RealBrokerDefault is where scripts/kafka up starts its broker.
	RealBrokerDefault = "127.0.0.1:9092"
	// Partitions is the default partition count of kfake's auto-created topics: more than
	// most tests have subscribers or keys, so a group really splits the work.
	Partitions = 8
	// realBrokerDialTimeout bounds the reachability probe of the real broker.
	realBrokerDialTimeout = 2 * time.Second
)

// Broker is a Kafka cluster a test runs against.
type Broker struct {
	Name    string
	Brokers func(t testing.TB) []string
}

// Brokers returns kfake and the real broker, in that order.
func Brokers() []Broker {
	return []Broker{{Name: "kfake", Brokers: Kfake}, {Name: "kafka", Brokers: Real}}
}

// ForEach runs fn as a subtest on each of Brokers.
func ForEach(t *testing.T, fn func(t *testing.T, brokers []string)) {
	for _, b := range Brokers() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b.Brokers(t)) })
	}
}

// Kfake starts a fresh in-process Kafka-protocol cluster of three brokers, each on
// 127.0.0.1 and a random port, and closes it when the test ends.
func Kfake(t testing.TB) []string {
	t.Helper()
	c, err := kfake.NewCluster(
		kfake.NumBrokers(3),
		kfake.DefaultNumPartitions(Partitions),
		kfake.AllowAutoTopicCreation(),
		// kfake's default group session bounds (6 s .. 5 min), the same as Kafka's, stated.
		kfake.GroupMinSessionTimeout(6*time.Second),
		kfake.GroupMaxSessionTimeout(5*time.Minute),
	)
	require.NoError(t, err, "start kfake cluster")
	t.Cleanup(c.Close)
	addrs := c.ListenAddrs()
	for _, a := range addrs {
		require.True(t, strings.HasPrefix(a, "127.0.0.1:"), "kfake listens on %s, want 127.0.0.1", a)
	}
	return addrs
}

// Real returns the real broker's addresses: ENCOURS_KAFKA_BROKERS (comma separated) when
// set, else RealBrokerDefault when something listens there. With no broker it skips, naming
// scripts/kafka up, unless CI=true, where it fails.
func Real(t testing.TB) []string {
	t.Helper()
	if env := strings.TrimSpace(os.Getenv("ENCOURS_KAFKA_BROKERS")); env != "" {
		brokers := strings.Split(env, ",")
		if err := Probe(brokers[0]); err != nil {
			t.Fatalf("real Kafka broker: ENCOURS_KAFKA_BROKERS=%s is not reachable: %v", env, err)
		}
		return brokers
	}
	if err := Probe(RealBrokerDefault); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("real Kafka broker: none reachable at %s (%v); CI must start one with scripts/kafka up", RealBrokerDefault, err)
		}
		t.Skip("real Kafka broker: none reachable at 127.0.0.1:9092; run scripts/kafka up (CI does)")
	}
	return []string{RealBrokerDefault}
}

// Probe reports whether something accepts TCP connections at addr.
func Probe(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, realBrokerDialTimeout)
	if err != nil {
		return err
	}
	return conn.Close()
}

// Logger discards logs unless ENCOURS_TEST_LOG is set (to "trace" for kafka-go's trace
// lines too): kafka-go reports every rebalance, and the suites make hundreds.
func Logger() watermill.LoggerAdapter {
	if v := os.Getenv("ENCOURS_TEST_LOG"); v != "" {
		return watermill.NewStdLogger(true, v == "trace")
	}
	return watermill.NopLogger{}
}
