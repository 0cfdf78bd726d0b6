package alerting

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/projections/signals"
)

// Limits of the server-sent events (style §8).
const (
	// sseClientQueueMax is the alert events queued for one client. Full: the client is
	// disconnected and counted (SSEDropped); it reconnects with Last-Event-ID and loses
	// nothing.
	sseClientQueueMax = 256
	// sseClientsMax bounds the connected clients; more are refused with 503.
	sseClientsMax = 1000
	// sseKeepAlive is how often an idle stream gets a comment line, so that proxies keep it.
	sseKeepAlive = 15 * time.Second
	// sseRetry is the reconnection delay advised to clients.
	sseRetry = 2 * time.Second
)

type sseEvent struct {
	position uint64
	typ      string
	body     []byte
}

type sseClient struct {
	ch     chan sseEvent
	filter *Subscription
}

// sseHub fans the alert events the delivery's hub reads out to the connected clients.
type sseHub struct {
	d       *Delivery
	mu      sync.Mutex // never held with d.mu
	clients map[*sseClient]struct{}
	pos     uint64 // last position broadcast; live events come after it
	closed  bool
	sent    uint64
	dropped uint64
}

func newSSEHub(d *Delivery) *sseHub { return &sseHub{d: d, clients: map[*sseClient]struct{}{}} }

// register adds a client and returns the position after which its live events start.
func (h *sseHub) register(f *Subscription, queue int) (*sseClient, uint64, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, 0, eventstore.ErrClosed
	}
	if len(h.clients) >= sseClientsMax {
		return nil, 0, fmt.Errorf("%d clients connected, at most %d", len(h.clients), sseClientsMax)
	}
	c := &sseClient{ch: make(chan sseEvent, queue), filter: f}
	h.clients[c] = struct{}{}
	return c, max(h.pos, h.d.headAtOpen), nil
}

func (h *sseHub) unregister(c *sseClient) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.clients[c]; ok {
		delete(h.clients, c)
		close(c.ch)
	}
}

// broadcast queues an event for every client whose filter matches it; a client whose queue
// is full is disconnected (its channel closed) and counted.
func (h *sseHub) broadcast(pos uint64, typ string, body []byte, m alertMeta) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pos = pos
	for c := range h.clients {
		if !c.filter.matches(m) {
			continue
		}
		select {
		case c.ch <- sseEvent{position: pos, typ: typ, body: body}:
			h.sent++
		default:
			h.dropped++
			delete(h.clients, c)
			close(c.ch)
		}
	}
}

func (h *sseHub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for c := range h.clients {
		delete(h.clients, c)
		close(c.ch)
	}
}

func (h *sseHub) clientCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

func (h *sseHub) counters() (sent, dropped uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sent, h.dropped
}

// sseFilter reads the stream's filter from the query: subscription_id (an sse subscription's
// stored filter), or customer_id, segment, rule and min_severity.
func (d *Delivery) sseFilter(r *http.Request) (*Subscription, error) {
	q := r.URL.Query()
	if id := q.Get("subscription_id"); id != "" {
		s, err := d.Subscription(id)
		if err != nil {
			return nil, err
		}
		s.minSev, _ = signals.ParseSeverity(s.Filter.MinSeverity)
		return &s, nil
	}
	c := SubscriptionCreated{Channel: ChannelSSE}
	if v := q.Get("customer_id"); v != "" {
		c.Filter.CustomerIDs = []domain.CustomerID{domain.CustomerID(v)}
	}
	if v := q.Get("segment"); v != "" {
		c.Filter.Segments = []string{v}
	}
	if v := q.Get("rule"); v != "" {
		c.Filter.Rules = []string{v}
	}
	c.Filter.MinSeverity = q.Get("min_severity")
	if err := c.validate(true); err != nil {
		return nil, err
	}
	s := subscriptionOf(c, domain.Envelope{})
	return s, nil
}

// ServeSSE streams alert events as server-sent events: "id: <position>", "event: <type>",
// "data: <Notification JSON>". With Last-Event-ID (header, or the last_event_id query
// parameter) it first replays the alert events after that position from the log, then goes
// live without a gap or a duplicate; without it, it starts live.
func (d *Delivery) ServeSSE(w http.ResponseWriter, r *http.Request) {
	f, err := d.sseFilter(r)
	if err != nil {
		writeError(w, err)
		return
	}
	var last uint64
	resume := false
	for _, v := range []string{r.Header.Get("Last-Event-ID"), r.URL.Query().Get("last_event_id")} {
		if v == "" {
			continue
		}
		last, err = strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, domain.FieldErrorf(domain.KindInvalid, domain.CodeInvalidField, "Last-Event-ID", "Last-Event-ID %q: want a log position", v))
			return
		}
		resume = true
		break
	}
	c, livePos, err := d.hub.register(f, d.opts.SSEQueueMax)
	if err != nil {
		writeErrorStatus(w, http.StatusServiceUnavailable, "sse_unavailable", err.Error())
		return
	}
	defer d.hub.unregister(c)
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if _, err := fmt.Fprintf(w, "retry: %d\n\n", sseRetry.Milliseconds()); err != nil {
		return
	}
	if err := rc.Flush(); err != nil {
		return
	}
	ctx := r.Context()
	sent := last
	if resume && last < livePos {
		for from := last + 1; from <= livePos; { // bounded: livePos is fixed
			page, err := d.store.ReadAll(ctx, from, eventstore.ReadLimitMax)
			if err != nil || len(page) == 0 {
				return
			}
			for _, e := range page {
				if e.Position > livePos {
					break
				}
				if !isAlertEvent(e) {
					continue
				}
				id, m, err := d.metaOf(ctx, e)
				if err != nil {
					return
				}
				if !f.matches(m) {
					continue
				}
				body, err := notificationOf(e, id, m, "")
				if err != nil || writeSSE(w, e.Position, e.Type, body) != nil {
					return
				}
				sent = e.Position
			}
			if err := rc.Flush(); err != nil {
				return
			}
			from = page[len(page)-1].Position + 1
		}
	}
	sent = max(sent, livePos)
	keep := time.NewTicker(sseKeepAlive)
	defer keep.Stop()
	for { // until the client leaves, is dropped as slow, or the delivery stops
		select {
		case ev, ok := <-c.ch:
			if !ok {
				return
			}
			if ev.position <= sent {
				continue
			}
			if writeSSE(w, ev.position, ev.typ, ev.body) != nil || rc.Flush() != nil {
				return
			}
			sent = ev.position
		case <-keep.C:
			if _, err := fmt.Fprint(w, ": keepalive\n\n"); err != nil || rc.Flush() != nil {
				return
			}
		case <-ctx.Done():
			return
		}
	}
}

func writeSSE(w http.ResponseWriter, pos uint64, typ string, body []byte) error {
	_, err := fmt.Fprintf(w, "id: %d\nevent: %s\ndata: %s\n\n", pos, typ, body)
	return err
}
