package alerting

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/encours/encours/domain"
)

// Webhook headers (design §API v1: webhook deliveries).
const (
	HeaderSignature = "X-Encours-Signature" // t=<unix>,v1=<hex HMAC-SHA256 of "<unix>.<body>">
	HeaderAlertID   = "X-Encours-Alert-Id"
	HeaderEventID   = "X-Encours-Event-Id" // the alert event's id: a receiver's dedup key
	HeaderAttempt   = "X-Encours-Delivery-Attempt"
)

// Limits of a webhook delivery (style §8).
const (
	// webhookAttemptsMax tries, then the event is dead-lettered (the issue: "dead letter
	// after N tries"; 8 tries with the default backoff span about two minutes).
	webhookAttemptsMax = 8
	// webhookTimeout bounds one attempt, connection to response headers and body.
	webhookTimeout = 10 * time.Second
	// webhookResponseBytesMax is what is read of a receiver's answer (then discarded), so
	// that the connection can be reused without reading an endless body.
	webhookResponseBytesMax = 64 << 10
	// backoffInitialDefault and backoffMaxDefault: the first retry after about half a
	// second, doubling, never more than five minutes apart.
	backoffInitialDefault = 500 * time.Millisecond
	backoffMaxDefault     = 5 * time.Minute
)

// Notification is the JSON body of a webhook delivery and the data of a server-sent event:
// one alert event with what filters read of its alert. Data is the event's own data
// (AlertRaised, AlertResolved or AlertAcknowledged). A receiver deduplicates on EventID
// (deliveries are at least once); AlertID is stable across an alert's events.
type Notification struct {
	EventID        string            `json:"event_id"`
	Position       uint64            `json:"position"`
	Type           string            `json:"type"`
	AlertID        string            `json:"alert_id"`
	CustomerID     domain.CustomerID `json:"customer_id"`
	Segment        string            `json:"segment,omitempty"`
	Rule           string            `json:"rule"`
	Subject        string            `json:"subject"`
	Severity       string            `json:"severity"`
	RecordedAt     time.Time         `json:"recorded_at"`
	Actor          string            `json:"actor"`
	SubscriptionID string            `json:"subscription_id,omitempty"`
	Data           json.RawMessage   `json:"data"`
}

func notificationOf(e domain.Envelope, alertID string, m alertMeta, subscription string) ([]byte, error) {
	return json.Marshal(Notification{EventID: e.EventID, Position: e.Position, Type: e.Type, AlertID: alertID,
		CustomerID: m.customer, Segment: m.segment, Rule: m.rule, Subject: m.subject, Severity: m.severity,
		RecordedAt: e.RecordedAt, Actor: e.Actor, SubscriptionID: subscription, Data: e.Data})
}

// Sign returns the X-Encours-Signature value of body sent at t with secret:
// t=<unix>,v1=<hex HMAC-SHA256 of "<unix>.<body>">.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// ErrBadSignature: a webhook's signature header is missing, malformed, stale or wrong.
var ErrBadSignature = errors.New("bad webhook signature")

// VerifySignature checks a received X-Encours-Signature header against body and secret, and
// that its timestamp is within tolerance of now (replay protection; 0 skips the check). It
// is what a receiver runs; the tests run it too.
func VerifySignature(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return fmt.Errorf("header %q: %w", header, ErrBadSignature)
	}
	t := time.Unix(unix, 0)
	if tolerance > 0 && (now.Sub(t) > tolerance || t.Sub(now) > tolerance) {
		return fmt.Errorf("timestamp %s, now %s: %w", t.UTC(), now.UTC(), ErrBadSignature)
	}
	want := Sign(secret, t, body)
	if !hmac.Equal([]byte(want), []byte("t="+ts+",v1="+sig)) {
		return fmt.Errorf("signature mismatch: %w", ErrBadSignature)
	}
	return nil
}

// Backoff is the retry schedule of a delivery: attempt n+1 waits about Initial × 2^(n−1),
// at most Max, with jitter (a uniformly random point in the upper half of the delay, so
// that receivers coming back are not hit by every subscription at once).
type Backoff struct {
	Initial time.Duration
	Max     time.Duration
}

// delay returns the wait after failed attempt n (1-based).
func (b Backoff) delay(n int, rnd *rand.Rand) time.Duration {
	d := b.Initial
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + time.Duration(rnd.Int64N(int64(half)+1))
}

// postWebhook makes one delivery attempt: POST body to url with the signature and ids.
func postWebhook(ctx context.Context, client *http.Client, url, secret string, now time.Time, body []byte, alertID, eventID string, attempt int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "encours-alerting/1")
	req.Header.Set(HeaderSignature, Sign(secret, now, body))
	req.Header.Set(HeaderAlertID, alertID)
	req.Header.Set(HeaderEventID, eventID)
	req.Header.Set(HeaderAttempt, strconv.Itoa(attempt))
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("webhook post: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, webhookResponseBytesMax))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook answered %d", resp.StatusCode)
	}
	return nil
}
