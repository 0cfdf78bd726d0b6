package httpapi

import (
	"log/slog"
	"net/http"
	"strconv"

	"github.com/encours/encours/domain"
)

// Page sizes of the log reads.
const (
	eventsLimitDefault = 100
	eventsLimitMax     = 1000
)

// eventsPage is the answer of the log reads: the envelopes as stored (design §Events,
// envelope) and where to continue. For /v1/events, next is the position to ask for next and
// head the last committed position: the client has caught up when next > head. For
// /v1/customers/{id}/events, next is the stream version to ask for next.
type eventsPage struct {
	Events []domain.Envelope `json:"events"`
	Next   uint64            `json:"next"`
	Head   *uint64           `json:"head,omitempty"`
}

// pageParams reads from (default 1; 0 reads as 1, both logs being 1-based) and limit
// (default 100, 1..1000).
func pageParams(r *http.Request) (from uint64, limit int, err error) {
	q := r.URL.Query()
	from, limit = 1, eventsLimitDefault
	if s := q.Get("from"); s != "" {
		if from, err = strconv.ParseUint(s, 10, 64); err != nil {
			return 0, 0, invalid(codeInvalidQuery, "from", "from %q: want a position, a non-negative integer", clip(s))
		}
		from = max(from, 1)
	}
	if s := q.Get("limit"); s != "" {
		n, perr := strconv.Atoi(s)
		if perr != nil || n < 1 || n > eventsLimitMax {
			return 0, 0, invalid(codeInvalidQuery, "limit", "limit %q: want 1..%d", clip(s), eventsLimitMax)
		}
		limit = n
	}
	return from, limit, nil
}

// handleEvents serves GET /v1/events?from=<position>&limit=.
func (a *api) handleEvents(w http.ResponseWriter, r *http.Request) {
	from, limit, err := pageParams(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	// Head after the read: every event returned is at or before it, so next > head never
	// tells a client it caught up while events it has not seen were committed.
	events, err := a.store.ReadAll(r.Context(), from, limit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	head, err := a.store.Head(r.Context())
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	page := eventsPage{Events: redact(events), Next: from, Head: &head.Position}
	if page.Events == nil {
		page.Events = []domain.Envelope{}
	}
	if n := len(events); n > 0 {
		page.Next = events[n-1].Position + 1
	}
	writeJSON(w, http.StatusOK, page)
}

// redact replaces the secrets in events' data (domain.RedactSecrets): the log holds webhook
// secrets, no read of it shows them.
func redact(events []domain.Envelope) []domain.Envelope {
	for i := range events {
		events[i] = domain.RedactSecrets(events[i])
	}
	return events
}

// handleCustomerEvents serves GET /v1/customers/{id}/events?from=<version>&limit=.
func (a *api) handleCustomerEvents(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	from, limit, err := pageParams(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	stream := domain.CustomerStream(domain.CustomerID(id))
	events, err := a.store.ReadStream(r.Context(), stream, from, limit)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if len(events) == 0 && from == 1 {
		a.writeError(w, r, domain.FieldErrorf(domain.KindNotFound, domain.CodeUnknownCustomer, "id", "customer %s has no events", id))
		return
	}
	page := eventsPage{Events: redact(events), Next: from}
	if page.Events == nil {
		page.Events = []domain.Envelope{}
	}
	if n := len(events); n > 0 {
		page.Next = events[n-1].StreamVersion + 1
	}
	writeJSON(w, http.StatusOK, page)
}

// handleHealthz: the process is alive and serving.
func (a *api) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz: the store is open, readable, and has not failed (fail-stop after a write
// error).
func (a *api) handleReadyz(w http.ResponseWriter, r *http.Request) {
	head, err := a.store.Head(r.Context())
	if err == nil {
		if rd, ok := a.store.(readiness); ok {
			err = rd.Failed()
		}
	}
	if err == nil && head.Position > 0 {
		// Reading the last event proves the files are open (a closed store still knows its
		// head) and costs one record.
		_, err = a.store.ReadAll(r.Context(), head.Position, 1)
	}
	if err != nil {
		a.log.LogAttrs(r.Context(), slog.LevelError, "not ready", slog.String("error", err.Error()))
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: errorDetail{Code: codeNotReady, Message: "event store unavailable"}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "position": head.Position})
}

// clockRequest is the body of POST /v1/clock.
type clockRequest struct {
	Date rawValue `json:"date"`
}

// handleSetClock serves POST /v1/clock {"date": "YYYY-MM-DD"} under a manual clock: the
// clock moves to midnight UTC of that date.
func (a *api) handleSetClock(w http.ResponseWriter, r *http.Request) {
	if a.manual == nil {
		a.writeError(w, r, domain.Errorf(domain.KindNotFound, codeRouteNotFound, "POST /v1/clock is served only under a manual clock (encoursd --clock manual)"))
		return
	}
	body, err := a.readBody(w, r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	var req clockRequest
	if err := decodeStrict(body, &req); err != nil {
		a.writeError(w, r, err)
		return
	}
	var f fields
	if !req.Date.present() {
		f.fail(invalid(domain.CodeMissingField, "date", "date is required"))
	}
	d := f.date("date", req.Date, domain.Date{})
	if f.err != nil {
		a.writeError(w, r, f.err)
		return
	}
	a.manual.SetDate(d)
	writeJSON(w, http.StatusOK, map[string]any{"date": d, "now": a.manual.Now()})
}
