package httpapi_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/handlers/auth"
	"github.com/encours/encours/handlers/httpapi"
)

// metricLabels is the allow-list of every family /metrics may export and its label names:
// a new family or label is a decision about cardinality, made here. Label values must come
// from closed sets (route patterns, statuses, codes, reasons, outcomes).
var metricLabels = map[string][]string{
	"encours_http_requests_total":                {"code", "route"},
	"encours_http_request_duration_seconds":      {"route"},
	"encours_http_errors_total":                  {"code"},
	"encours_auth_failures_total":                {"reason"},
	"encours_eventstore_appends_total":           {"outcome"},
	"encours_eventstore_append_duration_seconds": {},
	"encours_eventstore_append_events":           {},
	"encours_eventstore_group_commits_total":     {},
	"encours_eventstore_syncs_total":             {},
	"encours_eventstore_written_bytes_total":     {},
	"go_info":                                    {"version"},
}

// TestMetrics drives a varied workload through a real server (writes, an idempotent retry,
// refusals of every access kind, an unknown path holding a customer id), then checks the
// exported families: each one is on the allow-list with exactly its labels, no label value
// carries a customer, invoice or token id or a raw path, route values are registered
// patterns, promlint finds nothing, and the append and request counts match what was done.
func TestMetrics(t *testing.T) {
	h := newHarness(t)
	h.metrics.WatchStore(func() httpapi.StoreStats { return httpapi.StoreStats{GroupCommits: 3, Syncs: 4, WrittenBytes: 5} })
	assert.Panics(t, func() { h.metrics.WatchStore(func() httpapi.StoreStats { return httpapi.StoreStats{} }) }, "registered once")
	reader, readerID := h.issue(auth.RoleReader, "grafana")
	h.mustPost("/v1/customers", customerBody("ACME-7731", "EUR", 5_000_000))
	h.mustPost("/v1/invoices", invoiceBody("ACME-7731", "INV-99812", 100_000), "Idempotency-Key", "k-1")
	h.mustPost("/v1/invoices", invoiceBody("ACME-7731", "INV-99812", 100_000), "Idempotency-Key", "k-1") // replayed
	assert.Equal(t, http.StatusConflict, h.post("/v1/invoices", invoiceBody("ACME-7731", "INV-99812", 1)).status)
	assert.Equal(t, http.StatusNotFound, h.get("/v1/customers/NOPE-4411").status)
	assert.Equal(t, http.StatusNotFound, h.get("/v1/no/such/ACME-7731/path").status)
	assert.Equal(t, http.StatusForbidden, h.as(reader).post("/v1/invoices", invoiceBody("ACME-7731", "X", 1)).status)
	assert.Equal(t, http.StatusUnauthorized, h.as("enc_nope").get("/v1/customers/ACME-7731").status)
	assert.Equal(t, http.StatusUnauthorized, h.do(http.MethodGet, "/v1/customers/ACME-7731", nil, "Authorization", "").status)

	r := h.as(reader).get("/metrics")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Contains(t, string(r.body), `encours_http_requests_total{code="201",route="POST /v1/invoices"} 2`)
	assert.Contains(t, string(r.body), `encours_auth_failures_total{reason="forbidden"} 1`)
	assert.Contains(t, string(r.body), "encours_eventstore_syncs_total 4")

	families, err := h.metrics.Registry().Gather()
	require.NoError(t, err)
	patterns := append(httpapi.Patterns(newHandler(t)), "unmatched")
	secrets := []string{"ACME", "INV-", "NOPE", readerID, reader, "/v1/no/"}
	seen := map[string]bool{}
	for _, f := range families {
		name := f.GetName()
		seen[name] = true
		want, listed := metricLabels[name]
		if !listed {
			// The runtime's and the process's own families carry no labels.
			assert.True(t, strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_"), "family %s is not on the allow-list", name)
			want = []string{}
		}
		for _, m := range f.GetMetric() {
			got := []string{}
			for _, lp := range m.GetLabel() {
				got = append(got, lp.GetName())
				for _, s := range secrets {
					assert.NotContains(t, lp.GetValue(), s, "%s{%s}", name, lp.GetName())
				}
				if lp.GetName() == "route" {
					assert.Contains(t, patterns, lp.GetValue(), "%s: route label of a registered pattern", name)
				}
			}
			slices.Sort(got)
			assert.Equal(t, want, got, "labels of %s", name)
		}
	}
	for name := range metricLabels {
		assert.True(t, seen[name], "family %s is exported", name)
	}

	problems, err := promlint.NewWithMetricFamilies(families).Lint()
	require.NoError(t, err)
	assert.Empty(t, problems, "promlint")

	// Appends: the token, the customer, the invoice (the retry is replayed by the command
	// service before reaching the store, the duplicate refused by the domain).
	assert.Equal(t, float64(3), counter(t, families, "encours_eventstore_appends_total", "outcome", "appended"))
	assert.Equal(t, float64(3), histogramCount(t, families, "encours_eventstore_append_events"))
	assert.Equal(t, float64(3), histogramCount(t, families, "encours_eventstore_append_duration_seconds"))
	assert.Equal(t, float64(h.head()), counter(t, families, "encours_eventstore_appends_total", "outcome", "appended"))
	assert.Equal(t, float64(1), counter(t, families, "encours_http_errors_total", "code", "duplicate_invoice"))
	assert.Equal(t, float64(2), counter(t, families, "encours_http_errors_total", "code", "unauthenticated"))
	assert.Equal(t, float64(1), counter(t, families, "encours_auth_failures_total", "reason", "missing"))
	assert.Equal(t, float64(1), counter(t, families, "encours_auth_failures_total", "reason", "malformed"))
	assert.Equal(t, float64(0), counter(t, families, "encours_auth_failures_total", "reason", "revoked"), "exported at zero")
	assert.Equal(t, float64(1), counter(t, families, "encours_http_requests_total", "route", "unmatched"))
}

// counter returns the value of the series of family with label = value (0 when absent).
func counter(t *testing.T, families []*dto.MetricFamily, family, label, value string) float64 {
	t.Helper()
	var sum float64
	for _, m := range metricsOf(t, families, family) {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label && lp.GetValue() == value {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func histogramCount(t *testing.T, families []*dto.MetricFamily, family string) float64 {
	t.Helper()
	var n uint64
	for _, m := range metricsOf(t, families, family) {
		n += m.GetHistogram().GetSampleCount()
	}
	return float64(n)
}

func metricsOf(t *testing.T, families []*dto.MetricFamily, family string) []*dto.Metric {
	t.Helper()
	for _, f := range families {
		if f.GetName() == family {
			return f.GetMetric()
		}
	}
	b, _ := json.Marshal(family)
	t.Fatalf("no family %s", b)
	return nil
}
