package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/encours/encours/eventstore"
)

// routeUnmatched is the route label of a request no route matched: never the raw path,
// which would let any client create series.
const routeUnmatched = "unmatched"

// Outcomes of an append, the values of encours_eventstore_appends_total's outcome label.
const (
	outcomeAppended  = "appended"
	outcomeReplayed  = "replayed"      // an idempotent retry: nothing appended
	outcomeConflict  = "wrong_version" // a lost optimistic-concurrency race
	outcomeKeyReused = "idempotency_key_reused"
	outcomeInvalid   = "invalid"
	outcomeError     = "error" // failed, closed, or anything else
)

// Buckets. HTTP answers range from a cached read (sub-millisecond) to a page of 1000 events
// or an append waiting for its fsync (milliseconds) and a slow client (seconds); an append
// is one group commit, from a hundred microseconds on tmpfs to a second on a sick disk.
var (
	httpDurationBuckets   = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	appendDurationBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
	// appendEventsBuckets reach eventstore.AppendEventsMax (1000).
	appendEventsBuckets = []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000}
)

// Metrics are the API's Prometheus series (design §The flow of one event, step 7: bounded
// cardinality). They live in their own registry, never the global one, so that two
// handlers in one process (tests, two nodes) never collide. Every label comes from a closed
// set: route patterns, HTTP statuses, error codes, reasons and outcomes named in this
// package — never a customer, invoice or token id, nor a raw path.
type Metrics struct {
	reg *prometheus.Registry

	requests     *prometheus.CounterVec   // route, code
	duration     *prometheus.HistogramVec // route
	errors       *prometheus.CounterVec   // code
	authFailures *prometheus.CounterVec   // reason

	appends        *prometheus.CounterVec // outcome
	appendDuration prometheus.Histogram
	appendEvents   prometheus.Histogram

	// The children of requests and duration by route and status, and of appends by
	// outcome, looked up once: WithLabelValues hashes its labels on every call.
	requestSeries  sync.Map // requestLabels → requestSeries
	appendOutcomes map[string]prometheus.Counter
}

type requestLabels struct {
	route  string
	status int
}

type requestSeries struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// NewMetrics returns the API's series in a fresh registry that also holds the Go runtime's
// and the process's.
func NewMetrics() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "encours_http_requests_total",
			Help: "HTTP requests answered, by route pattern (\"unmatched\" when none) and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "encours_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern.",
			Buckets: httpDurationBuckets,
		}, []string{"route"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "encours_http_errors_total",
			Help: "Error answers, by error code (the error body's code).",
		}, []string{"code"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "encours_auth_failures_total",
			Help: "Requests refused by access control: missing, malformed, unknown or revoked token (401), forbidden role (403).",
		}, []string{"reason"}),
		appends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "encours_eventstore_appends_total",
			Help: "Appends to the event store, by outcome.",
		}, []string{"outcome"}),
		appendDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "encours_eventstore_append_duration_seconds",
			Help:    "Time of one append to the event store, durable (fsync) when it succeeds.",
			Buckets: appendDurationBuckets,
		}),
		appendEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "encours_eventstore_append_events",
			Help:    "Events in one successful append.",
			Buckets: appendEventsBuckets,
		}),
	}
	m.reg.MustRegister(m.requests, m.duration, m.errors, m.authFailures, m.appends, m.appendDuration, m.appendEvents,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Series that alerting rules take rates of exist from the start, at zero.
	for _, r := range authReasons {
		m.authFailures.WithLabelValues(r)
	}
	m.appendOutcomes = map[string]prometheus.Counter{}
	for _, o := range []string{outcomeAppended, outcomeReplayed, outcomeConflict, outcomeKeyReused, outcomeInvalid, outcomeError} {
		m.appendOutcomes[o] = m.appends.WithLabelValues(o)
	}
	return m
}

// Registry returns the registry the metrics are in, for the daemon to add its own
// collectors (the store's, projections'); /metrics serves all of it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// StoreStats are an event store's own cumulative counters (the embedded store's Stats): what
// InstrumentStore cannot see from outside.
type StoreStats struct {
	GroupCommits uint64 // group commits that wrote something (one write and one fdatasync each)
	Syncs        uint64 // fdatasync calls
	WrittenBytes uint64 // record bytes written
}

// WatchStore exports the counters stats returns, read at each scrape, as
// encours_eventstore_group_commits_total, _syncs_total and _written_bytes_total. Call it once
// per Metrics (a second call panics: the families would be registered twice).
func (m *Metrics) WatchStore(stats func() StoreStats) {
	if stats == nil {
		panic("httpapi.WatchStore: nil stats")
	}
	m.reg.MustRegister(storeStatsCollector{stats})
}

var (
	groupCommitsDesc = prometheus.NewDesc("encours_eventstore_group_commits_total",
		"Group commits of the event store that wrote something: one write and one fdatasync each.", nil, nil)
	syncsDesc = prometheus.NewDesc("encours_eventstore_syncs_total",
		"fdatasync calls of the event store.", nil, nil)
	writtenBytesDesc = prometheus.NewDesc("encours_eventstore_written_bytes_total",
		"Record bytes the event store wrote.", nil, nil)
)

// storeStatsCollector reads the store's counters once per scrape.
type storeStatsCollector struct {
	stats func() StoreStats
}

func (c storeStatsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- groupCommitsDesc
	ch <- syncsDesc
	ch <- writtenBytesDesc
}

func (c storeStatsCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	ch <- prometheus.MustNewConstMetric(groupCommitsDesc, prometheus.CounterValue, float64(s.GroupCommits))
	ch <- prometheus.MustNewConstMetric(syncsDesc, prometheus.CounterValue, float64(s.Syncs))
	ch <- prometheus.MustNewConstMetric(writtenBytesDesc, prometheus.CounterValue, float64(s.WrittenBytes))
}

func (m *Metrics) observeRequest(route string, status int, d time.Duration) {
	key := requestLabels{route, status}
	v, ok := m.requestSeries.Load(key)
	if !ok {
		// Routes and statuses are closed sets: the map stays small.
		v, _ = m.requestSeries.LoadOrStore(key, requestSeries{
			count:    m.requests.WithLabelValues(route, strconv.Itoa(status)),
			duration: m.duration.WithLabelValues(route),
		})
	}
	series := v.(requestSeries)
	series.count.Inc()
	series.duration.Observe(d.Seconds())
}

func (m *Metrics) httpError(code string) { m.errors.WithLabelValues(code).Inc() }

func (m *Metrics) authFailure(reason string) { m.authFailures.WithLabelValues(reason).Inc() }

// handler serves the registry in the Prometheus text format (or OpenMetrics when asked).
func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorHandling:     promhttp.ContinueOnError, // a failing collector must not hide the others
		EnableOpenMetrics: true,
		Timeout:           10 * time.Second, // a scrape interval's worth; Prometheus times out too
	})
}

// InstrumentStore returns store measured: every Append counted by outcome, timed, and its
// events counted. Wire the command service, the token registry and the HTTP API to the
// result, so that every append the daemon makes is measured.
func (m *Metrics) InstrumentStore(store eventstore.Store) eventstore.Store {
	if store == nil {
		panic("httpapi.InstrumentStore: nil store")
	}
	return &measuredStore{Store: store, m: m}
}

// measuredStore is an event store that measures its appends.
type measuredStore struct {
	eventstore.Store
	m *Metrics
}

// Append appends through the wrapped store and measures it.
func (s *measuredStore) Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error) {
	start := time.Now()
	res, err := s.Store.Append(ctx, req)
	s.m.appendDuration.Observe(time.Since(start).Seconds())
	outcome := outcomeAppended
	switch {
	case err == nil && res.Replayed:
		outcome = outcomeReplayed
	case err == nil:
		s.m.appendEvents.Observe(float64(len(req.Events)))
	case errors.Is(err, eventstore.ErrWrongVersion):
		outcome = outcomeConflict
	case errors.Is(err, eventstore.ErrIdempotencyKeyReused):
		outcome = outcomeKeyReused
	case errors.Is(err, eventstore.ErrInvalidAppend):
		outcome = outcomeInvalid
	default:
		outcome = outcomeError
	}
	s.m.appendOutcomes[outcome].Inc()
	return res, err
}

// Failed passes the wrapped store's fail-stop state on to /readyz.
func (s *measuredStore) Failed() error {
	if r, ok := s.Store.(readiness); ok {
		return r.Failed()
	}
	return nil
}

// handleMetrics serves GET /metrics.
func (a *api) handleMetrics(w http.ResponseWriter, r *http.Request) {
	a.metricsHTTP.ServeHTTP(w, r)
}
