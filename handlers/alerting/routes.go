package alerting

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/projections/ledger"
	"github.com/encours/encours/projections/signals"
)

// Roles a route requires (handlers/auth's role names; the API wiring maps them).
const (
	RoleReader        = "reader"
	RoleCreditManager = "credit_manager"
)

// requestBodyBytesMax bounds a request body here: a subscription with full filters is a
// few KiB.
const requestBodyBytesMax = 64 << 10

// Route is one route the API wiring mounts behind its authentication: Method and Pattern
// (http.ServeMux syntax, "{id}" wildcards read with PathValue), the Role it requires and
// the handler.
type Route struct {
	Method  string
	Pattern string
	Role    string
	Handler http.HandlerFunc
}

// RoutesOptions configure Routes.
type RoutesOptions struct {
	// Actor returns who makes a request (acknowledgements, subscriptions record it). Default:
	// "api". The API wiring passes its authenticated principal's name.
	Actor func(*http.Request) string
}

// Routes returns the alert, subscription, dead-letter and dunning routes (design §API v1):
//
//	GET    /v1/alerts?status=open|acknowledged|resolved&customer_id=&rule=&min_severity=&limit=&offset=
//	GET    /v1/alerts/{id}
//	POST   /v1/alerts/{id}/ack                  {comment}
//	POST   /v1/alerts/{id}/resolve              {comment}: resolved by hand
//	GET    /v1/alerts/stream                    server-sent events, Last-Event-ID to resume
//	GET    /v1/customers/{id}/signals?as_of=    drift charts, risk score and factors, signals
//	GET    /v1/dunning?as_of=                   the dunning worklist
//	POST   /v1/subscriptions                    {url?, channel, filter?, secret?}
//	GET    /v1/subscriptions
//	DELETE /v1/subscriptions/{id}
//	GET    /v1/dead-letters
//	POST   /v1/dead-letters/{id}/redeliver
//
// Reads need the reader role; acknowledging, subscriptions and dead letters need
// credit_manager (subscriptions show where alerts go).
func Routes(ev *Evaluator, dl *Delivery, opts RoutesOptions) []Route {
	if ev == nil || dl == nil {
		panic("alerting.Routes: nil evaluator or delivery")
	}
	h := &handlers{ev: ev, dl: dl, actor: opts.Actor}
	if h.actor == nil {
		h.actor = func(*http.Request) string { return "api" }
	}
	return []Route{
		{http.MethodGet, "/v1/alerts", RoleReader, h.listAlerts},
		{http.MethodGet, "/v1/alerts/stream", RoleReader, dl.ServeSSE},
		{http.MethodGet, "/v1/alerts/{id}", RoleReader, h.getAlert},
		{http.MethodPost, "/v1/alerts/{id}/ack", RoleCreditManager, h.ackAlert},
		{http.MethodPost, "/v1/alerts/{id}/resolve", RoleCreditManager, h.resolveAlert},
		{http.MethodGet, "/v1/customers/{id}/signals", RoleReader, h.customerSignals},
		{http.MethodGet, "/v1/dunning", RoleReader, h.dunning},
		{http.MethodPost, "/v1/subscriptions", RoleCreditManager, h.createSubscription},
		{http.MethodGet, "/v1/subscriptions", RoleCreditManager, h.listSubscriptions},
		{http.MethodDelete, "/v1/subscriptions/{id}", RoleCreditManager, h.deleteSubscription},
		{http.MethodGet, "/v1/dead-letters", RoleCreditManager, h.listDeadLetters},
		{http.MethodPost, "/v1/dead-letters/{id}/redeliver", RoleCreditManager, h.redeliver},
	}
}

type handlers struct {
	ev    *Evaluator
	dl    *Delivery
	actor func(*http.Request) string
}

func invalidQuery(field, format string, args ...any) error {
	return domain.FieldErrorf(domain.KindInvalid, "invalid_query", field, format, args...)
}

func (h *handlers) listAlerts(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := Filter{Status: q.Get("status"), CustomerID: domain.CustomerID(q.Get("customer_id")), Rule: q.Get("rule")}
	switch f.Status {
	case "", StatusOpen, StatusAcknowledged, StatusResolved:
	default:
		writeError(w, invalidQuery("status", "status %q: want open, acknowledged or resolved", f.Status))
		return
	}
	if f.Rule != "" && !signals.IsRule(f.Rule) {
		writeError(w, invalidQuery("rule", "unknown rule %q", f.Rule))
		return
	}
	if v := q.Get("min_severity"); v != "" {
		s, err := signals.ParseSeverity(v)
		if err != nil {
			writeError(w, invalidQuery("min_severity", "%v", err))
			return
		}
		f.MinSeverity = s
	}
	var ok bool
	if f.Limit, f.Offset, ok = pageParams(w, r, alertsListMax, alertsListMax); !ok {
		return
	}
	rows, total := h.ev.AlertsPage(f)
	writeJSON(w, http.StatusOK, map[string]any{"alerts": rows, "total": total, "next_offset": nextOffset(f.Offset, len(rows), total)})
}

// pageParams reads limit (1..max, default def) and offset (>= 0, default 0) of a list.
func pageParams(w http.ResponseWriter, r *http.Request, def, maxLimit int) (limit, offset int, ok bool) {
	q := r.URL.Query()
	limit = def
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			writeError(w, invalidQuery("limit", "limit %q: want 1..%d", v, maxLimit))
			return 0, 0, false
		}
		limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, invalidQuery("offset", "offset %q: want a whole number, 0 or more", v))
			return 0, 0, false
		}
		offset = n
	}
	return limit, offset, true
}

// nextOffset is the offset of the next page, nil on the last one.
func nextOffset(offset, rows, total int) *int {
	if offset+rows >= total || rows == 0 {
		return nil
	}
	n := offset + rows
	return &n
}

// paginate answers one page of a list as {name: rows, total, next_offset}.
func paginate[T any](w http.ResponseWriter, r *http.Request, name string, all []T, def, maxLimit int) {
	limit, offset, ok := pageParams(w, r, def, maxLimit)
	if !ok {
		return
	}
	rows := all[min(offset, len(all)):min(offset+limit, len(all))]
	writeJSON(w, http.StatusOK, map[string]any{name: rows, "total": len(all), "next_offset": nextOffset(offset, len(rows), len(all))})
}

func (h *handlers) getAlert(w http.ResponseWriter, r *http.Request) {
	a, ok := h.ev.Alert(r.PathValue("id"))
	if !ok {
		writeError(w, ErrUnknownAlert)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

type ackRequest struct {
	Comment string `json:"comment"`
}

func (h *handlers) ackAlert(w http.ResponseWriter, r *http.Request) {
	h.onAlert(w, r, h.ev.Acknowledge)
}

func (h *handlers) resolveAlert(w http.ResponseWriter, r *http.Request) {
	h.onAlert(w, r, h.ev.Resolve)
}

// onAlert serves a POST on an alert with an optional {comment}: acknowledge, resolve.
func (h *handlers) onAlert(w http.ResponseWriter, r *http.Request, do func(ctx context.Context, id, actor, comment string) (Alert, error)) {
	var req ackRequest
	if !readJSON(w, r, &req, true) {
		return
	}
	if len(req.Comment) > ackCommentBytesMax {
		writeError(w, domain.FieldErrorf(domain.KindInvalid, domain.CodeInvalidField, "comment", "comment of %d bytes, at most %d", len(req.Comment), ackCommentBytesMax))
		return
	}
	a, err := do(r.Context(), r.PathValue("id"), h.actor(r), req.Comment)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, a)
}

// asOfParam reads as_of (default: the evaluator's business date).
func (h *handlers) asOfParam(r *http.Request) (domain.Date, error) {
	v := r.URL.Query().Get("as_of")
	if v == "" {
		return h.ev.Today(), nil
	}
	d, err := domain.ParseDate(v)
	if err != nil {
		return domain.Date{}, invalidQuery("as_of", "as_of %q: want YYYY-MM-DD", v)
	}
	return d, nil
}

func (h *handlers) customerSignals(w http.ResponseWriter, r *http.Request) {
	asOf, err := h.asOfParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	rep, err := h.ev.Report(domain.CustomerID(r.PathValue("id")), asOf)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (h *handlers) dunning(w http.ResponseWriter, r *http.Request) {
	asOf, err := h.asOfParam(r)
	if err != nil {
		writeError(w, err)
		return
	}
	props, err := h.ev.Worklist(asOf)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"as_of": asOf, "proposals": props})
}

type subscriptionRequest struct {
	URL     string             `json:"url"`
	Channel string             `json:"channel"`
	Filter  SubscriptionFilter `json:"filter"`
	Secret  string             `json:"secret"`
}

type createdSubscription struct {
	Subscription
	Secret string `json:"secret,omitempty"` // shown once, here
}

func (h *handlers) createSubscription(w http.ResponseWriter, r *http.Request) {
	var req subscriptionRequest
	if !readJSON(w, r, &req, false) {
		return
	}
	s, secret, err := h.dl.CreateSubscription(r.Context(), h.actor(r),
		SubscriptionCreated{Channel: req.Channel, URL: req.URL, Filter: req.Filter, Secret: req.Secret})
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Location", "/v1/subscriptions/"+s.SubscriptionID)
	writeJSON(w, http.StatusCreated, createdSubscription{Subscription: s, Secret: secret})
}

func (h *handlers) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	paginate(w, r, "subscriptions", h.dl.Subscriptions(), listPageDefault, listPageMax)
}

func (h *handlers) deleteSubscription(w http.ResponseWriter, r *http.Request) {
	if err := h.dl.DeleteSubscription(r.Context(), h.actor(r), r.PathValue("id")); err != nil {
		writeError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *handlers) listDeadLetters(w http.ResponseWriter, r *http.Request) {
	paginate(w, r, "dead_letters", h.dl.DeadLetters(), listPageDefault, listPageMax)
}

// Pages of the subscriptions and dead letters: limit 1..listPageMax, default listPageDefault.
const (
	listPageDefault = 100
	listPageMax     = 1000
)

func (h *handlers) redeliver(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := h.dl.Redeliver(id); err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id, "status": "redelivery requested"})
}

// readJSON decodes a JSON body strictly into v (an empty body is {} when optional).
func readJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) bool {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, requestBodyBytesMax))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			writeErrorStatus(w, http.StatusRequestEntityTooLarge, "body_too_large", "request body above "+strconv.Itoa(requestBodyBytesMax)+" bytes")
			return false
		}
		writeErrorStatus(w, http.StatusBadRequest, "invalid_json", "request body not read")
		return false
	}
	if len(b) == 0 && optional {
		return true
	}
	if err := decodeStrict(b, v); err != nil {
		writeErrorStatus(w, http.StatusBadRequest, "invalid_json", err.Error())
		return false
	}
	return true
}

// errorBody is the API's error shape (design §API v1).
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeErrorStatus(w, http.StatusInternalServerError, "internal", "internal error")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeErrorStatus(w http.ResponseWriter, status int, code, message string) {
	b, _ := json.Marshal(errorBody{Error: errorDetail{Code: code, Message: message}})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// writeError maps an error to its status and code: the domain's kinds, this package's
// sentinels; anything else is a 500 "internal error" (details are not shown).
func writeError(w http.ResponseWriter, err error) {
	var de *domain.Error
	switch {
	case errors.As(err, &de):
		status := map[domain.Kind]int{domain.KindInvalid: http.StatusBadRequest, domain.KindConflict: http.StatusConflict,
			domain.KindNotFound: http.StatusNotFound}[de.Kind]
		if status == 0 {
			writeErrorStatus(w, http.StatusInternalServerError, "internal", "internal error")
			return
		}
		if de.Kind == domain.KindInvalid && de.Code == "channel_unavailable" {
			status = http.StatusUnprocessableEntity
		}
		b, _ := json.Marshal(errorBody{Error: errorDetail{Code: de.Code, Message: de.Message, Field: de.Field}})
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write(append(b, '\n'))
	case errors.Is(err, ErrUnknownAlert):
		writeErrorStatus(w, http.StatusNotFound, "alert_not_found", "no alert has this id")
	case errors.Is(err, ErrAlertResolved):
		writeErrorStatus(w, http.StatusConflict, "alert_resolved", "the alert is resolved")
	case errors.Is(err, ErrUnknownSubscription):
		writeErrorStatus(w, http.StatusNotFound, "subscription_not_found", "no subscription has this id")
	case errors.Is(err, ErrUnknownDeadLetter):
		writeErrorStatus(w, http.StatusNotFound, "dead_letter_not_found", "no dead letter has this id")
	case errors.Is(err, ErrTooManySubscriptions):
		writeErrorStatus(w, http.StatusConflict, "too_many_subscriptions", "the subscription limit is reached")
	case errors.Is(err, ledger.ErrUnknownCustomer):
		writeErrorStatus(w, http.StatusNotFound, domain.CodeUnknownCustomer, "no customer has this id")
	case errors.Is(err, eventstore.ErrInvalidAppend):
		writeErrorStatus(w, http.StatusBadRequest, "invalid_request", err.Error())
	default:
		writeErrorStatus(w, http.StatusInternalServerError, "internal", "internal error")
	}
}
