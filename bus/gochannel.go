package bus

import (
	"errors"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"
)

// GoChannelConfig is every option of watermill's in-process pub/sub, named so that the
// embedded daemon sets each one at its call site (style §8).
type GoChannelConfig struct {
	// OutputBufferMax is each subscription's channel buffer. When it is full, Publish blocks
	// until the subscriber takes a message: the bus never drops one.
	OutputBufferMax int64

	// Persistent replays every message published so far to each new subscription. Watermill's
	// gochannel.Config warns: "All messages are persisted to the memory (simple slice), so be
	// aware that with large amount of messages you can go out of the memory." Encours keeps it
	// off in the daemon: the event store is the persistent log, and a projection catches up from
	// its checkpoint through the store's subscription, not through the bus.
	Persistent bool

	// BlockPublishUntilAck makes Publish wait until every subscriber acked the message
	// (it does not block when nobody is subscribed). This is the embedded mode's back-pressure:
	// the store-to-bus relay moves its checkpoint only past events the projections took.
	BlockPublishUntilAck bool

	// PreserveContext hands the publisher's context.Context to the subscriber. Off in Encours,
	// so handlers behave the same over gochannel as over Kafka, where nothing but bytes and
	// headers crosses the wire.
	PreserveContext bool
}

// EmbeddedGoChannelConfig is the configuration of the embedded daemon's in-process bus
// (design §Flow step 4): not persistent, publishing blocks until the projections ack, and no
// context crosses the bus.
func EmbeddedGoChannelConfig() GoChannelConfig {
	return GoChannelConfig{
		// 256 events: one append's worth (appendEventsMax is 500) rarely waits on a slow
		// projection, and memory stays bounded at a few hundred kilobytes per subscription.
		OutputBufferMax:      256,
		Persistent:           false,
		BlockPublishUntilAck: true,
		PreserveContext:      false,
	}
}

// NewGoChannel returns watermill's in-process pub/sub with every option of cfg set
// explicitly. The same value is the Publisher and the Subscriber: it has no state outside
// the process, so both sides must share this instance. A nil logger is refused; pass
// watermill.NopLogger{} to discard logs.
func NewGoChannel(cfg GoChannelConfig, logger watermill.LoggerAdapter) (*gochannel.GoChannel, error) {
	if logger == nil {
		return nil, errors.New("bus: new gochannel: logger is nil (pass watermill.NopLogger{} to discard logs)")
	}
	if cfg.OutputBufferMax < 0 {
		return nil, errors.New("bus: new gochannel: OutputBufferMax is negative")
	}
	return gochannel.NewGoChannel(gochannel.Config{
		OutputChannelBuffer:            cfg.OutputBufferMax,
		Persistent:                     cfg.Persistent,
		BlockPublishUntilSubscriberAck: cfg.BlockPublishUntilAck,
		PreserveContext:                cfg.PreserveContext,
	}, logger), nil
}
