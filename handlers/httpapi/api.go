package httpapi

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/handlers/auth"
	"github.com/encours/encours/handlers/command"
)

// requestBodyBytesMax is the default body limit: one event's data is at most 1 MiB (the
// canonical event limit in domain), so no command needs a larger request.
const requestBodyBytesMax = 1 << 20

// Options configure the handler. The zero value is usable.
type Options struct {
	// Logger receives one line per request and the details of internal errors. Default:
	// discard.
	Logger *slog.Logger
	// MaxBodyBytes bounds a request body (0: 1 MiB); above it the answer is 413.
	MaxBodyBytes int64
	// Clock gives "today" for defaulted business dates and as_of. Default: the service's.
	Clock command.Clock
	// ManualClock, when set, adds POST /v1/clock {"date": "YYYY-MM-DD"}, which sets it (the
	// daemon's --clock manual, for tests and demos). It should be the clock the service and
	// Clock use.
	ManualClock *command.ManualClock
	// Tokens authenticates requests: every route but the public ones (/healthz, /readyz)
	// needs "Authorization: Bearer <token>", the token's role decides what it may do, and its
	// name is the actor of the events it records. Nil turns authentication off: every
	// request acts as Actor with the admin role (encoursd --auth off, local demos only).
	Tokens *auth.Tokens
	// RateLimit is each token's request budget (nil: auth.DefaultRate, 2000/s, burst 4000;
	// a zero Rate: no limit). It applies only with Tokens.
	RateLimit *auth.Rate
	// Metrics receives the API's series and is served at GET /metrics. Nil: a fresh
	// NewMetrics, whose append series stay empty unless its InstrumentStore wraps the store.
	Metrics *Metrics
	// Actor is recorded in the envelopes of events written through the API when
	// authentication is off. Default "api".
	Actor string
	// Extra are routes served by other packages (the ledger's reads in handlers/reports, the
	// alerts in handlers/alerting), mounted behind the same authentication, metrics, error
	// shape and API description as the API's own.
	Extra []Extra
	// CustomerDetails, when set, adds the read models' figures to GET /v1/customers/{id}:
	// it gets the customer, the as-of date and the known-at instant (nil: now). A customer
	// the read models do not hold yet gets nil details, not an error.
	CustomerDetails func(r *http.Request, id domain.CustomerID, asOf domain.Date, knownAt *time.Time) (*CustomerDetails, error)
}

// Extra is a route another package serves. Its fields document it in /openapi.json.
type Extra struct {
	Pattern    string // "METHOD /path/{wildcard}"
	Permission auth.Permission
	Handler    http.Handler
	Summary    string
	Tag        string
	// Query lists the query parameters as "name: description".
	Query []string
	// PathExamples gives an example value for each path wildcard.
	PathExamples map[string]string
	// Body, when set, is the JSON Schema of the request body, with Example a valid one.
	Body    map[string]any
	Example string
	// Success is the success status (default 200).
	Success int
	// Response is the JSON Schema of the success body (nil: an object, undocumented), of
	// media type ResponseType (default application/json).
	Response     map[string]any
	ResponseType string
	// Errors are the error statuses it answers besides 401, 403, 429 and 500 (nil: 400 and
	// 404, and 409, 413, 415 with a body).
	Errors []int
	// Params gives the JSON Schema of query parameters named in Query (default: a string).
	Params map[string]map[string]any
}

// readiness is what /readyz asks of the store beyond Head: the embedded store reports a
// fail-stop failure through Failed.
type readiness interface {
	Failed() error
}

// api holds the handler's dependencies.
type api struct {
	svc             *command.Service
	store           eventstore.Store
	log             *slog.Logger
	clock           command.Clock
	manual          *command.ManualClock
	maxBodyBytes    int64
	actor           string
	tokens          *auth.Tokens
	limiter         *auth.Limiter
	metrics         *Metrics
	metricsHTTP     http.Handler
	openAPI         []byte // GET /openapi.json, built once
	customerDetails func(r *http.Request, id domain.CustomerID, asOf domain.Date, knownAt *time.Time) (*CustomerDetails, error)
	mux             *http.ServeMux
	served          []route // every route registered, Extra included
}

// New returns the HTTP handler of API v1 over the command service and the store (read side
// of the log). It panics when svc or store is nil: a wiring error (style §4).
func New(svc *command.Service, store eventstore.Store, opts Options) http.Handler {
	if svc == nil {
		panic("httpapi.New: nil command service")
	}
	if store == nil {
		panic("httpapi.New: nil event store")
	}
	if opts.MaxBodyBytes < 0 {
		panic("httpapi.New: negative MaxBodyBytes")
	}
	a := &api{
		svc: svc, store: store, log: opts.Logger, clock: opts.Clock, manual: opts.ManualClock,
		maxBodyBytes: opts.MaxBodyBytes, actor: opts.Actor, tokens: opts.Tokens, metrics: opts.Metrics,
		customerDetails: opts.CustomerDetails,
		mux:             http.NewServeMux(),
	}
	if a.metrics == nil {
		a.metrics = NewMetrics()
	}
	a.metricsHTTP = a.metrics.handler()
	rate := auth.DefaultRate
	if opts.RateLimit != nil {
		rate = *opts.RateLimit
	}
	a.limiter = auth.NewLimiter(rate)
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler) // disabled at every level: nothing is formatted
	}
	if a.clock == nil {
		a.clock = svc.Clock()
	}
	if a.maxBodyBytes == 0 {
		a.maxBodyBytes = requestBodyBytesMax
	}
	if a.actor == "" {
		a.actor = "api"
	}
	routes := a.routes()
	ops := make(map[string]operation, len(operations)+len(opts.Extra))
	for p, op := range operations {
		ops[p] = op
	}
	for _, x := range opts.Extra {
		if x.Handler == nil || x.Permission == 0 {
			panic("httpapi.New: extra route " + x.Pattern + " without a handler or a permission")
		}
		if _, dup := ops[x.Pattern]; dup {
			panic("httpapi.New: extra route " + x.Pattern + " is served twice")
		}
		routes = append(routes, route{x.Pattern, x.Permission, x.Handler})
		ops[x.Pattern] = x.operation()
	}
	for _, rt := range routes {
		a.mux.Handle(rt.pattern, a.guard(rt))
	}
	a.served = routes
	a.openAPI = openAPI(routes, ops)
	return a
}

// ServeHTTP gives every request a correlation id, answers unknown routes in the API's error
// shape, recovers from panics and logs one line per request.
func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	corr := r.Header.Get("X-Correlation-Id")
	if !validCorrelationID(corr) {
		corr = newCorrelationID()
	}
	w.Header()["X-Correlation-Id"] = []string{corr} // canonical key: what Set stores
	r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, &requestInfo{corr: corr}))
	sw := &statusWriter{ResponseWriter: w}
	h, pattern := a.mux.Handler(r)

	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			a.log.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
				slog.String("correlation_id", corr), slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.String("panic", fmt.Sprint(p)))
			if sw.status == 0 {
				a.metrics.httpError(codeInternal)
				writeJSON(sw, http.StatusInternalServerError, errorBody{Error: errorDetail{Code: codeInternal, Message: "internal error"}})
			}
		}
		route := pattern
		if route == "" {
			route = routeUnmatched
		}
		a.metrics.observeRequest(route, cmp.Or(sw.status, http.StatusOK), time.Since(start))
		a.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method), slog.String("route", r.Pattern),
			slog.String("path", r.URL.Path), slog.Int("status", sw.status),
			slog.Duration("duration", time.Since(start)), slog.String("correlation_id", corr))
	}()

	if pattern == "" {
		a.notRouted(sw, r, h)
		return
	}
	a.mux.ServeHTTP(sw, r)
}

// notRouted answers a request no route matches: 404, or 405 with Allow when the path exists
// under other methods (as the mux found), in the API's error shape. Only to an authenticated
// caller: to anyone else the answer is 401, so that probing tells nothing about the routes.
func (a *api) notRouted(w http.ResponseWriter, r *http.Request, h http.Handler) {
	if _, ok := a.authenticate(w, r); !ok {
		return
	}
	probe := &probeWriter{header: http.Header{}}
	h.ServeHTTP(probe, r)
	if probe.status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", probe.header.Get("Allow"))
		a.writeError(w, r, domain.Errorf(domain.KindInvalid, codeMethodNotAllowed, "%s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, probe.header.Get("Allow")))
		return
	}
	a.writeError(w, r, domain.Errorf(domain.KindNotFound, codeRouteNotFound, "no route for %s %s", r.Method, r.URL.Path))
}

// probeWriter records what the mux's own not-found or not-allowed handler would answer.
type probeWriter struct {
	header http.Header
	status int
}

func (p *probeWriter) Header() http.Header         { return p.header }
func (p *probeWriter) Write(b []byte) (int, error) { return len(b), nil }
func (p *probeWriter) WriteHeader(status int)      { p.status = status }

// statusWriter remembers the status for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(status int) {
	if s.status == 0 {
		s.status = status
	}
	s.ResponseWriter.WriteHeader(status)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection (flush, deadlines).
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// requestInfo is what the API adds to a request: its correlation id (set by ServeHTTP) and
// who it acts as (set by guard before the route's handler runs, in the request's goroutine).
// One context value holds both, so a request is copied once for them, not twice.
type requestInfo struct {
	corr      string
	principal auth.Principal
}

type requestInfoKey struct{}

func infoOf(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return info
}

// correlationID returns the request's correlation id (set by ServeHTTP).
func correlationID(ctx context.Context) string {
	if info := infoOf(ctx); info != nil {
		return info.corr
	}
	return ""
}

// correlationIDBytesMax bounds an accepted X-Correlation-Id; a longer or odd one is replaced
// by a fresh id rather than refused, so that tracing never costs a request.
const correlationIDBytesMax = 128

func validCorrelationID(s string) bool {
	return s != "" && len(s) <= correlationIDBytesMax && visibleASCII(s)
}

func newCorrelationID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// invariant panics when a programmer's invariant is broken (style §8); it never checks input.
func invariant(ok bool, format string, args ...any) {
	if !ok {
		panic("httpapi: invariant broken: " + fmt.Sprintf(format, args...))
	}
}

// today is the clock's current UTC date.
func (a *api) today() domain.Date { return command.Today(a.clock) }
