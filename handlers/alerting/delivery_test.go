package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// receiver is a webhook endpoint for tests: it fails the first failFirst requests (500),
// every request while failAll is set, holds a request while hold is set (until released or
// the sender gives up), and records what it accepted with whether the signature verified.
type receiver struct {
	t   testing.TB
	srv *httptest.Server

	mu        sync.Mutex
	secret    string
	failFirst int
	failAll   bool
	requests  int
	accepted  []Notification
	badSigs   int
	badHeader int
	holdAt    int           // hold the holdAt-th request (1-based; 0: none)
	held      chan struct{} // closed when the held request arrived
	release   chan struct{}
}

func newReceiver(t testing.TB) *receiver {
	rc := &receiver{t: t, held: make(chan struct{}), release: make(chan struct{})}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.requests++
	n := rc.requests
	fail := rc.failAll || n <= rc.failFirst
	secret := rc.secret
	hold := rc.holdAt != 0 && n == rc.holdAt
	rc.mu.Unlock()
	if hold {
		close(rc.held)
		select { // the sender's kill cancels the request; the test may release it
		case <-rc.release:
		case <-r.Context().Done():
			return
		}
	}
	if fail {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	var note Notification
	if err := json.Unmarshal(body, &note); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if VerifySignature(secret, r.Header.Get(HeaderSignature), body, time.Now(), 5*time.Minute) != nil {
		rc.badSigs++
	}
	if r.Header.Get(HeaderAlertID) != note.AlertID || r.Header.Get(HeaderEventID) != note.EventID {
		rc.badHeader++
	}
	rc.accepted = append(rc.accepted, note)
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) acceptedIDs() map[string]int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	out := map[string]int{}
	for _, n := range rc.accepted {
		out[n.EventID]++
	}
	return out
}

// subscribe creates a webhook subscription to rc through the API and keeps its secret.
func (r *rig) subscribe(rc *receiver, filter SubscriptionFilter) createdSubscription {
	r.t.Helper()
	var got createdSubscription
	status := r.do("POST", "/v1/subscriptions", map[string]any{"url": rc.srv.URL, "channel": "webhook", "filter": filter}, &got)
	require.Equal(r.t, http.StatusCreated, status)
	require.NotEmpty(r.t, got.Secret)
	rc.mu.Lock()
	rc.secret = got.Secret
	rc.mu.Unlock()
	return got
}

// raiseLimitAlerts books n customers whose exposure crosses their limit (a credit_limit
// warning each) and, for every other one, a limit raise that clears it.
func raiseLimitAlerts(r *rig, prefix string, n int) {
	r.t.Helper()
	for i := range n {
		c := domain.CustomerID(fmt.Sprintf("%s%02d", prefix, i))
		r.register(c, "sme", 30, 10_000_00, r.Today())
		r.invoice(c, 8_500_00, r.Today())
		if i%2 == 1 {
			r.setLimit(c, 100_000_00, r.Today())
		}
	}
}

// wantedEvents returns the ids of the alert events after position from.
func (r *rig) wantedEvents(from uint64) map[string]bool {
	out := map[string]bool{}
	for _, e := range r.alertEvents() {
		if e.Position > from {
			out[e.EventID] = true
		}
	}
	return out
}

// TestWebhookRetriesUntilAccepted: a receiver that answers 500 to its first requests, then
// 200, gets every alert event, each accepted once (ids unique), every signature valid.
func TestWebhookRetriesUntilAccepted(t *testing.T) {
	r := newRig(t, t.TempDir(), rigOptions{today: d("2024-03-01")})
	rc := newReceiver(t)
	rc.failFirst = 5
	sub := r.subscribe(rc, SubscriptionFilter{MinSeverity: "warning", Segments: []string{"sme"}})
	raiseLimitAlerts(r, "W", 6)
	want := r.wantedEvents(sub.Position)
	require.Len(t, want, 9, "6 raised, 3 resolved")
	require.Eventually(t, func() bool { return len(rc.acceptedIDs()) == len(want) }, waitMax, 5*time.Millisecond,
		"every alert event accepted")
	got := rc.acceptedIDs()
	for id, n := range got {
		assert.True(t, want[id], "accepted %s is an alert event after the subscription", id)
		assert.Equal(t, 1, n, "accepted once: %s", id)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	assert.Zero(t, rc.badSigs, "every signature verifies")
	assert.Zero(t, rc.badHeader, "X-Encours-Alert-Id and X-Encours-Event-Id match the body")
	assert.GreaterOrEqual(t, rc.requests, len(want)+5)
	for i := 1; i < len(rc.accepted); i++ {
		assert.Less(t, rc.accepted[i-1].Position, rc.accepted[i].Position, "in position order")
	}
	st := r.dl.Stats()
	assert.Equal(t, uint64(5), st.FailedAttempts)
	assert.Zero(t, st.DeadLetters)
}

// TestWebhookDeadLetterAndRedelivery: after webhookAttemptsMax failures the event is
// dead-lettered, the subscription goes on with the next events, and a redelivery through
// the API delivers it once the receiver is back.
func TestWebhookDeadLetterAndRedelivery(t *testing.T) {
	r := newRig(t, t.TempDir(), rigOptions{today: d("2024-03-01")})
	rc := newReceiver(t)
	rc.failAll = true
	r.subscribe(rc, SubscriptionFilter{})
	r.register("DL", "sme", 30, 10_000_00, r.Today())
	r.invoice("DL", 8_500_00, r.Today())
	var dls struct {
		DeadLetters []DeadLetter `json:"dead_letters"`
	}
	require.Eventually(t, func() bool {
		return r.do("GET", "/v1/dead-letters", nil, &dls) == http.StatusOK && len(dls.DeadLetters) == 1
	}, waitMax, 5*time.Millisecond)
	dl := dls.DeadLetters[0]
	assert.Equal(t, webhookAttemptsMax, dl.Attempts)
	assert.Equal(t, "DL:credit_limit:DL:1", dl.AlertID)
	assert.Contains(t, dl.LastError, "500")
	rc.mu.Lock()
	assert.Equal(t, webhookAttemptsMax, rc.requests)
	rc.failAll = false
	rc.mu.Unlock()

	r.setLimit("DL", 100_000_00, r.Today()) // resolves: the next event is delivered
	require.Eventually(t, func() bool { return len(rc.acceptedIDs()) == 1 }, waitMax, 5*time.Millisecond, "the worker went on")

	var body map[string]string
	assert.Equal(t, http.StatusAccepted, r.do("POST", "/v1/dead-letters/"+dl.ID+"/redeliver", nil, &body))
	require.Eventually(t, func() bool { return len(rc.acceptedIDs()) == 2 && len(r.dl.DeadLetters()) == 0 }, waitMax, 5*time.Millisecond)
	assert.Equal(t, 1, rc.acceptedIDs()[dl.EventID], "the dead letter delivered")
	assert.Equal(t, uint64(1), r.dl.Stats().Redelivered)
	var nf errorBody
	assert.Equal(t, http.StatusNotFound, r.do("POST", "/v1/dead-letters/"+dl.ID+"/redeliver", nil, &nf))
	assert.Equal(t, "dead_letter_not_found", nf.Error.Code)
}

// TestDeliverySurvivesKill: the process is killed in the middle of a delivery (the store
// and the delivery stop without writing their state a last time) and reopened from the same
// directory: every alert event is delivered at least once, none is lost, and the
// subscription is still there (it is in the log). Twice: with checkpoints written every
// 10 ms (the events accepted before the kill are not sent again), and never written before
// the kill (all of them are: at least once, not exactly once).
func TestDeliverySurvivesKill(t *testing.T) {
	for _, tc := range []struct {
		name       string
		checkpoint time.Duration
		dupsWanted func(acceptedBeforeKill int) int
	}{
		{"checkpoints written", 10 * time.Millisecond, func(int) int { return 0 }},
		{"checkpoints never written", time.Hour, func(n int) int { return n }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			r := newRig(t, dir, rigOptions{today: d("2024-03-01"), delivery: DeliveryOptions{CheckpointInterval: tc.checkpoint}})
			rc := newReceiver(t)
			rc.holdAt = 4
			sub := r.subscribe(rc, SubscriptionFilter{})
			raiseLimitAlerts(r, "K", 8)
			select {
			case <-rc.held:
			case <-time.After(waitMax):
				t.Fatal("the fourth delivery never arrived")
			}
			if tc.checkpoint < time.Second {
				// Wait until the persister has written the checkpoint of the third accepted
				// delivery: the state the kill leaves behind.
				rc.mu.Lock()
				third := rc.accepted[2].Position
				rc.mu.Unlock()
				require.Eventually(t, func() bool {
					b, err := os.ReadFile(filepath.Join(dir, "delivery", stateFile))
					var st deliveryState
					return err == nil && json.Unmarshal(b, &st) == nil && st.Checkpoints[sub.SubscriptionID] >= third
				}, waitMax, 5*time.Millisecond)
			}
			before := len(rc.acceptedIDs())
			r.kill() // mid-delivery: the fourth request is in flight
			t.Logf("killed with %d events accepted, the 4th in flight", before)

			r2 := newRig(t, dir, rigOptions{today: d("2024-03-01")})
			subs := r2.dl.Subscriptions()
			require.Len(t, subs, 1, "the subscription survived")
			assert.Equal(t, sub.SubscriptionID, subs[0].SubscriptionID)
			raiseLimitAlerts(r2, "L", 2) // and the delivery goes on with new alerts
			want := r2.wantedEvents(sub.Position)
			require.Eventually(t, func() bool {
				got := rc.acceptedIDs()
				for id := range want {
					if got[id] == 0 {
						return false
					}
				}
				return true
			}, waitMax, 5*time.Millisecond, "every alert event delivered after the restart")
			dups := 0
			for id, n := range rc.acceptedIDs() {
				assert.True(t, want[id], "only alert events: %s", id)
				dups += n - 1
			}
			t.Logf("%d alert events, %d delivered twice (at least once across the kill)", len(want), dups)
			assert.Equal(t, tc.dupsWanted(before), dups)
			rc.mu.Lock()
			assert.Zero(t, rc.badSigs)
			rc.mu.Unlock()
		})
	}
}

// TestSubscriptionRoutes: create (validated, the secret shown once), list (no secret),
// delete, and the error shape.
func TestSubscriptionRoutes(t *testing.T) {
	r := newRig(t, t.TempDir(), rigOptions{})
	cases := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"no channel", map[string]any{"url": "https://example.com/hook"}, "channel"},
		{"unknown channel", map[string]any{"channel": "pigeon"}, "channel"},
		{"webhook without url", map[string]any{"channel": "webhook"}, "url"},
		{"relative url", map[string]any{"channel": "webhook", "url": "/hook"}, "url"},
		{"sse with url", map[string]any{"channel": "sse", "url": "https://example.com"}, "url"},
		{"unknown rule", map[string]any{"channel": "sse", "filter": map[string]any{"rules": []string{"vibes"}}}, "filter.rules"},
		{"bad severity", map[string]any{"channel": "sse", "filter": map[string]any{"min_severity": "fatal"}}, "filter.min_severity"},
		{"short secret", map[string]any{"channel": "webhook", "url": "https://example.com", "secret": "x"}, "secret"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var e errorBody
			assert.Equal(t, http.StatusBadRequest, r.do("POST", "/v1/subscriptions", tc.body, &e))
			assert.Equal(t, tc.field, e.Error.Field)
		})
	}
	var e errorBody
	assert.Equal(t, http.StatusUnprocessableEntity, r.do("POST", "/v1/subscriptions", map[string]any{"channel": "kafka"}, &e),
		"no Kafka publisher wired")
	assert.Equal(t, "channel_unavailable", e.Error.Code)
	assert.Equal(t, http.StatusBadRequest, r.do("POST", "/v1/subscriptions", map[string]any{"channel": "sse", "extra": 1}, &e))

	var created createdSubscription
	require.Equal(t, http.StatusCreated, r.do("POST", "/v1/subscriptions", map[string]any{"channel": "webhook", "url": "https://chat.example.com/hook",
		"filter": map[string]any{"segments": []string{"sme"}, "min_severity": "warning"}}, &created))
	assert.Len(t, created.Secret, 64, "a generated secret, shown once")
	assert.Equal(t, "manager@test", created.CreatedBy)
	var list struct {
		Subscriptions []map[string]any `json:"subscriptions"`
	}
	require.Equal(t, http.StatusOK, r.do("GET", "/v1/subscriptions", nil, &list))
	require.Len(t, list.Subscriptions, 1)
	assert.NotContains(t, list.Subscriptions[0], "secret")
	assert.Equal(t, "https://chat.example.com/hook", list.Subscriptions[0]["url"])
	assert.Equal(t, http.StatusNoContent, r.do("DELETE", "/v1/subscriptions/"+created.SubscriptionID, nil, nil))
	assert.Equal(t, http.StatusNotFound, r.do("DELETE", "/v1/subscriptions/"+created.SubscriptionID, nil, &e))
	assert.Equal(t, "subscription_not_found", e.Error.Code)
	require.Equal(t, http.StatusOK, r.do("GET", "/v1/subscriptions", nil, &list))
	assert.Empty(t, list.Subscriptions)
}

// TestSignatureRoundTrip: Sign and VerifySignature agree; a changed body, a wrong secret or
// a stale timestamp is refused.
func TestSignatureRoundTrip(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"alert_id":"A:credit_limit:A:1"}`)
	h := Sign("s3cret-s3cret-s3cret", now, body)
	assert.Regexp(t, `^t=1700000000,v1=[0-9a-f]{64}$`, h)
	assert.NoError(t, VerifySignature("s3cret-s3cret-s3cret", h, body, now, time.Minute))
	assert.ErrorIs(t, VerifySignature("s3cret-s3cret-s3cret", h, append(body, ' '), now, time.Minute), ErrBadSignature)
	assert.ErrorIs(t, VerifySignature("another-secret-here", h, body, now, time.Minute), ErrBadSignature)
	assert.ErrorIs(t, VerifySignature("s3cret-s3cret-s3cret", h, body, now.Add(time.Hour), time.Minute), ErrBadSignature)
	assert.ErrorIs(t, VerifySignature("s3cret-s3cret-s3cret", "v1=00", body, now, 0), ErrBadSignature)
}

// TestBackoffGrowsToItsCap: the delays double from Initial, stay under Max, and are jittered
// within the upper half.
func TestBackoffGrowsToItsCap(t *testing.T) {
	b := Backoff{Initial: 100 * time.Millisecond, Max: time.Second}
	rnd := newTestRand()
	for n, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		for range 20 {
			got := b.delay(n+1, rnd)
			assert.GreaterOrEqual(t, got, want/2, "attempt %d", n+1)
			assert.LessOrEqual(t, got, want, "attempt %d", n+1)
		}
	}
}

// fakePublisher records what the kafka channel publishes; it fails its first call.
type fakePublisher struct {
	mu    sync.Mutex
	calls int
	keys  []string
	notes []Notification
}

func (p *fakePublisher) PublishAlert(_ context.Context, key string, body []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.calls == 1 {
		return errors.New("broker unavailable")
	}
	var n Notification
	if err := json.Unmarshal(body, &n); err != nil {
		return err
	}
	p.keys, p.notes = append(p.keys, key), append(p.notes, n)
	return nil
}

// TestKafkaChannel: a kafka subscription publishes each alert event through the Publisher,
// keyed by customer, retried like a webhook.
func TestKafkaChannel(t *testing.T) {
	pub := &fakePublisher{}
	r := newRig(t, t.TempDir(), rigOptions{today: d("2024-03-01"), delivery: DeliveryOptions{Publisher: pub}})
	var created createdSubscription
	require.Equal(t, http.StatusCreated, r.do("POST", "/v1/subscriptions", map[string]any{"channel": "kafka"}, &created))
	raiseLimitAlerts(r, "KF", 2)
	require.Eventually(t, func() bool { pub.mu.Lock(); defer pub.mu.Unlock(); return len(pub.notes) == 3 }, waitMax, 5*time.Millisecond)
	pub.mu.Lock()
	defer pub.mu.Unlock()
	assert.Equal(t, []string{"KF00", "KF01", "KF01"}, pub.keys)
	assert.Equal(t, "AlertResolved", pub.notes[2].Type)
	assert.Equal(t, created.SubscriptionID, pub.notes[0].SubscriptionID)
}
