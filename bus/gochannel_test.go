package bus_test

import (
	"testing"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/bus"
)

// TestGoChannelPubSub runs watermill's acceptance suite on the in-process bus. The suite
// publishes before it subscribes, so this run keeps messages (Persistent), as watermill's own
// gochannel test does; the daemon's configuration differs only there and in blocking.
func TestGoChannelPubSub(t *testing.T) {
	newPubSub := func(t *testing.T) (message.Publisher, message.Subscriber) {
		t.Helper()
		cfg := bus.EmbeddedGoChannelConfig()
		cfg.Persistent = true
		cfg.BlockPublishUntilAck = false
		cfg.OutputBufferMax = 10_000 // the suite's largest burst, so publishers never wait on it
		ps, err := bus.NewGoChannel(cfg, watermill.NopLogger{})
		require.NoError(t, err)
		return ps, ps
	}
	tests.TestPubSub(t, tests.Features{
		// One instance only: there is no broker, each GoChannel is its own world.
		ConsumerGroups:        false,
		RequireSingleInstance: true,
		// Each message goes once to each subscription, and Nack resends it to that one.
		ExactlyOnceDelivery: true,
		// With Persistent set, watermill documents that order is not guaranteed.
		GuaranteedOrder: false,
		// "Persistent between multiple instances": nothing outlives a GoChannel.
		Persistent:       false,
		ContextPreserved: false,
	}, newPubSub, nil)
}

func TestNewGoChannelRefusesNilLogger(t *testing.T) {
	_, err := bus.NewGoChannel(bus.EmbeddedGoChannelConfig(), nil)
	require.Error(t, err)
}
