package alerting

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/projections/signals"
)

// SubscriptionsStream holds the alert subscriptions: AlertSubscriptionCreated and
// AlertSubscriptionDeleted. These two types are this package's, outside the domain
// catalogue (the ledger and the other projections skip system streams without decoding
// them); they are stored like any event, hash-chained, so a subscription survives restarts
// and who subscribed what is in the log.
const SubscriptionsStream = "system-alert-subscriptions"

// Event types of SubscriptionsStream. Stored in envelopes: never renamed.
const (
	TypeSubscriptionCreated = "AlertSubscriptionCreated"
	TypeSubscriptionDeleted = "AlertSubscriptionDeleted"
)

// Channels of a subscription.
const (
	ChannelWebhook = "webhook" // POST to URL, signed (package doc)
	ChannelSSE     = "sse"     // a stored filter for GET /v1/alerts/stream?subscription_id=
	ChannelKafka   = "kafka"   // the topic encours.alerts, through DeliveryOptions.Publisher
)

// Limits on a subscription (style §8).
const (
	subscriptionURLBytesMax    = 2048
	subscriptionFilterItemsMax = 100
	subscriptionSecretBytesMin = 16
	subscriptionSecretBytesMax = 256
	subscriptionsMax           = 1000 // active subscriptions; more are refused
)

// SubscriptionFilter selects the alerts a subscription receives; an empty list selects all.
type SubscriptionFilter struct {
	CustomerIDs []domain.CustomerID `json:"customer_ids,omitempty"`
	Segments    []string            `json:"segments,omitempty"`
	Rules       []string            `json:"rules,omitempty"`
	MinSeverity string              `json:"min_severity,omitempty"` // info, warning, critical
}

// SubscriptionCreated is the data of AlertSubscriptionCreated.
type SubscriptionCreated struct {
	SubscriptionID string             `json:"subscription_id"`
	Channel        string             `json:"channel"`
	URL            string             `json:"url,omitempty"`
	Filter         SubscriptionFilter `json:"filter"`
	// Secret is the HMAC-SHA256 key of the webhook signatures. It is in the log because the
	// deliveries after a restart need it: the log is as confidential as the secrets.
	Secret    string      `json:"secret,omitempty"`
	CreatedOn domain.Date `json:"created_on"`
}

// SubscriptionDeleted is the data of AlertSubscriptionDeleted.
type SubscriptionDeleted struct {
	SubscriptionID string      `json:"subscription_id"`
	DeletedOn      domain.Date `json:"deleted_on"`
}

// Subscription is an active subscription as the API shows it (never its secret).
type Subscription struct {
	SubscriptionID string             `json:"subscription_id"`
	Channel        string             `json:"channel"`
	URL            string             `json:"url,omitempty"`
	Filter         SubscriptionFilter `json:"filter"`
	CreatedOn      domain.Date        `json:"created_on"`
	CreatedBy      string             `json:"created_by"`
	Position       uint64             `json:"position"` // of its AlertSubscriptionCreated: alerts after it are delivered
	// Delivery state (webhook and kafka): the last position delivered or passed over, the
	// dead letters waiting, the last failure.
	Checkpoint  uint64 `json:"checkpoint"`
	DeadLetters int    `json:"dead_letters"`
	LastError   string `json:"last_error,omitempty"`

	secret string
	minSev signals.Severity
}

// decodeStrict decodes JSON refusing unknown fields and trailing data.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

// validate checks a subscription's fields; the error names the field.
func (c *SubscriptionCreated) validate(publisher bool) *domain.Error {
	bad := func(field, format string, args ...any) *domain.Error {
		return domain.FieldErrorf(domain.KindInvalid, domain.CodeInvalidField, field, format, args...)
	}
	switch c.Channel {
	case ChannelWebhook:
		u, err := url.Parse(c.URL)
		if c.URL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(c.URL) > subscriptionURLBytesMax {
			return bad("url", "a webhook needs an absolute http(s) URL of at most %d bytes", subscriptionURLBytesMax)
		}
	case ChannelSSE, ChannelKafka:
		if c.URL != "" {
			return bad("url", "channel %s takes no url", c.Channel)
		}
		if c.Channel == ChannelKafka && !publisher {
			return domain.FieldErrorf(domain.KindInvalid, "channel_unavailable", "channel", "the kafka channel needs the daemon's Kafka bus, which is not configured")
		}
	case "":
		return domain.FieldErrorf(domain.KindInvalid, domain.CodeMissingField, "channel", "channel is required: webhook, sse or kafka")
	default:
		return bad("channel", "channel %q: want webhook, sse or kafka", c.Channel)
	}
	f := &c.Filter
	if len(f.CustomerIDs) > subscriptionFilterItemsMax || len(f.Segments) > subscriptionFilterItemsMax || len(f.Rules) > subscriptionFilterItemsMax {
		return bad("filter", "at most %d items in each filter list", subscriptionFilterItemsMax)
	}
	for _, id := range f.CustomerIDs {
		if err := domain.ValidateID(string(id)); err != nil {
			return bad("filter.customer_ids", "customer id %q: %v", id, err)
		}
	}
	for _, s := range f.Segments {
		if s == "" || len(s) > 64 {
			return bad("filter.segments", "segment %q", s)
		}
	}
	for _, r := range f.Rules {
		if !signals.IsRule(r) {
			return bad("filter.rules", "unknown rule %q (rules: %v)", r, signals.Rules())
		}
	}
	if f.MinSeverity != "" {
		if _, err := signals.ParseSeverity(f.MinSeverity); err != nil {
			return bad("filter.min_severity", "%v", err)
		}
	}
	if c.Secret != "" && (len(c.Secret) < subscriptionSecretBytesMin || len(c.Secret) > subscriptionSecretBytesMax) {
		return bad("secret", "a secret of %d to %d bytes", subscriptionSecretBytesMin, subscriptionSecretBytesMax)
	}
	return nil
}

// newSecret returns 32 random bytes in hex.
func newSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// alertMeta is what subscription filters read of an alert event.
type alertMeta struct {
	customer domain.CustomerID
	segment  string
	rule     string
	subject  string
	severity string
}

// matches reports whether an alert event with meta passes s's filter.
func (s *Subscription) matches(m alertMeta) bool {
	f := &s.Filter
	if len(f.CustomerIDs) > 0 && !slices.Contains(f.CustomerIDs, m.customer) {
		return false
	}
	if len(f.Segments) > 0 && !slices.Contains(f.Segments, m.segment) {
		return false
	}
	if len(f.Rules) > 0 && !slices.Contains(f.Rules, m.rule) {
		return false
	}
	if s.minSev != 0 {
		sev, err := signals.ParseSeverity(m.severity)
		if err != nil || sev < s.minSev {
			return false
		}
	}
	return true
}

// subscriptionOf builds the active subscription of a creation event.
func subscriptionOf(c SubscriptionCreated, e domain.Envelope) *Subscription {
	s := &Subscription{SubscriptionID: c.SubscriptionID, Channel: c.Channel, URL: c.URL, Filter: c.Filter,
		CreatedOn: c.CreatedOn, CreatedBy: e.Actor, Position: e.Position, Checkpoint: e.Position, secret: c.Secret}
	s.minSev, _ = signals.ParseSeverity(c.Filter.MinSeverity)
	return s
}
