package alerting

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sseStream reads server-sent events from a response in a goroutine (it ends when the
// response body is closed).
type sseStream struct {
	resp   *http.Response
	events chan sseRead
}

type sseRead struct {
	id   uint64
	typ  string
	note Notification
}

func (r *rig) openSSE(query, lastEventID string) *sseStream {
	r.t.Helper()
	req, err := http.NewRequest("GET", r.srv.URL+"/v1/alerts/stream"+query, nil)
	require.NoError(r.t, err)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(r.t, err)
	require.Equal(r.t, http.StatusOK, resp.StatusCode)
	require.Equal(r.t, "text/event-stream", resp.Header.Get("Content-Type"))
	s := &sseStream{resp: resp, events: make(chan sseRead, 1024)}
	go func() { // ends when the body is closed or the server ends the stream
		defer close(s.events)
		sc := bufio.NewScanner(resp.Body)
		var cur sseRead
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "id: "):
				cur.id, _ = strconv.ParseUint(strings.TrimPrefix(line, "id: "), 10, 64)
			case strings.HasPrefix(line, "event: "):
				cur.typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &cur.note)
			case line == "" && cur.id != 0:
				s.events <- cur
				cur = sseRead{}
			}
		}
	}()
	r.t.Cleanup(func() { _ = resp.Body.Close() })
	return s
}

// next returns the next n events, failing after waitMax.
func (s *sseStream) next(t testing.TB, n int) []sseRead {
	t.Helper()
	var out []sseRead
	deadline := time.After(waitMax)
	for len(out) < n {
		select {
		case e, ok := <-s.events:
			require.True(t, ok, "stream ended after %d of %d events", len(out), n)
			out = append(out, e)
		case <-deadline:
			t.Fatalf("got %d of %d events in %s", len(out), n, waitMax)
		}
	}
	return out
}

// TestSSEResumesWithLastEventID: a client reads alert events live, disconnects, misses some,
// and reconnects with the last id it saw: it gets exactly the events after it, in order,
// the missed ones from the log and then live ones, with no gap and no duplicate.
func TestSSEResumesWithLastEventID(t *testing.T) {
	r := newRig(t, t.TempDir(), rigOptions{today: d("2024-03-01")})
	s := r.openSSE("", "")
	require.Eventually(t, func() bool { return r.dl.Stats().SSEClients == 1 }, waitMax, time.Millisecond)
	raiseLimitAlerts(r, "S", 2) // S00 raised; S01 raised and resolved: 3 events
	first := s.next(t, 3)
	all := r.alertEvents()
	require.Len(t, all, 3)
	for i, e := range first {
		assert.Equal(t, all[i].Position, e.id, "event id is the log position")
		assert.Equal(t, all[i].Type, e.typ)
		assert.Equal(t, all[i].EventID, e.note.EventID)
	}
	assert.Equal(t, "S00:credit_limit:S00:1", first[0].note.AlertID)
	assert.Equal(t, "sme", first[0].note.Segment)
	_ = s.resp.Body.Close()
	require.Eventually(t, func() bool { return r.dl.Stats().SSEClients == 0 }, waitMax, time.Millisecond)

	raiseLimitAlerts(r, "T", 2) // missed while disconnected: 3 more
	resumed := r.openSSE("", strconv.FormatUint(first[1].id, 10))
	raiseLimitAlerts(r, "U", 1) // live after the reconnection: 1 more
	got := resumed.next(t, 5)
	all = r.alertEvents()
	require.Len(t, all, 7)
	for i, e := range got {
		assert.Equal(t, all[2+i].Position, e.id, "event %d after Last-Event-ID %d", i, first[1].id)
	}
	select {
	case e := <-resumed.events:
		t.Fatalf("an extra event %d", e.id)
	default:
	}

	filtered := r.openSSE("?customer_id=V01&min_severity=warning", "0")
	raiseLimitAlerts(r, "V", 2)
	fe := filtered.next(t, 2)
	assert.Equal(t, "V01", string(fe[0].note.CustomerID))
	assert.Equal(t, "AlertRaised", fe[0].typ)
	assert.Equal(t, "AlertResolved", fe[1].typ)
	assert.Equal(t, "warning", fe[1].note.Severity, "a resolution carries its alert's severity")

	resp, err := http.Get(r.srv.URL + "/v1/alerts/stream?min_severity=loud")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
}

// TestSSESlowClientDisconnected: a client whose queue is full is disconnected and counted;
// the others are not affected.
func TestSSESlowClientDisconnected(t *testing.T) {
	d := &Delivery{headAtOpen: 0}
	h := newSSEHub(d)
	all := &Subscription{}
	slow, _, err := h.register(all, 2)
	require.NoError(t, err)
	fast, _, err := h.register(all, 8)
	require.NoError(t, err)
	for p := uint64(1); p <= 3; p++ {
		h.broadcast(p, "AlertRaised", []byte(`{}`), alertMeta{})
	}
	sent, dropped := h.counters()
	assert.Equal(t, uint64(1), dropped, "the slow client, on its third event")
	assert.Equal(t, uint64(5), sent)
	assert.Equal(t, 1, h.clientCount())
	n := 0
	for range slow.ch {
		n++
	}
	assert.Equal(t, 2, n, "its queue is drained, then closed")
	assert.Len(t, fast.ch, 3)
	h.closeAll()
	_, _, err = h.register(all, 1)
	assert.Error(t, err, "closed")
}
