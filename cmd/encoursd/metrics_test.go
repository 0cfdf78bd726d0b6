package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// daemonMetricLabels is the allow-list of the families the daemon exports beyond the Go
// runtime's and the process's (go_*, process_*, which carry no labels but go_info's), with
// their label names: a new family or label is a decision about cardinality, made here.
// No label may name a customer, an invoice, an alert or a token.
var daemonMetricLabels = map[string][]string{
	"encours_http_requests_total":                       {"code", "route"},
	"encours_http_request_duration_seconds":             {"route"},
	"encours_http_errors_total":                         {"code"},
	"encours_auth_failures_total":                       {"reason"},
	"encours_eventstore_appends_total":                  {"outcome"},
	"encours_eventstore_append_duration_seconds":        {},
	"encours_eventstore_append_events":                  {},
	"encours_eventstore_group_commits_total":            {},
	"encours_eventstore_syncs_total":                    {},
	"encours_eventstore_written_bytes_total":            {},
	"encours_eventstore_head_position":                  {},
	"encours_eventstore_size_bytes":                     {},
	"encours_projection_position":                       {"projection"},
	"encours_projection_lag_events":                     {"projection"},
	"encours_projection_lag_seconds":                    {"projection"},
	"encours_alerts_raised_total":                       {"rule", "severity"},
	"encours_alerts_open":                               {"rule", "severity"},
	"encours_alert_deliveries_total":                    {"channel"},
	"encours_alert_delivery_failures_total":             {"channel"},
	"encours_alert_dead_lettered_total":                 {"channel"},
	"encours_alert_dead_letters":                        {"channel"},
	"encours_portfolio_customers":                       {"segment"},
	"encours_portfolio_exposure_minor_units":            {"segment"},
	"encours_portfolio_credit_limit_minor_units":        {"segment"},
	"encours_portfolio_exposure_over_limit_minor_units": {"segment"},
	"encours_portfolio_overdue_minor_units":             {"segment"},
	"encours_portfolio_dso_period_seconds":              {"segment"},
	"encours_portfolio_dso_countback_seconds":           {"segment"},
	"encours_portfolio_segments_omitted":                {},
	"go_info":                                           {"version"},
}

// TestDaemonMetrics runs the daemon as main wires it (in-process, embedded store, auth on),
// feeds it three customers in two segments and one without, one over its limit and with an
// overdue invoice, and a webhook subscription whose receiver fails; then it scrapes /metrics
// as Prometheus would and checks every family against the allow-list (label names, and no
// label value carrying an id), promlint, and the values against what was written.
func TestDaemonMetrics(t *testing.T) {
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "receiver down", http.StatusServiceUnavailable)
	}))
	defer hook.Close()
	const token = "env-admin-token-0123456789abcdef-0123456789"
	url, stop := runDaemon(t, map[string]string{adminTokenEnv: token})
	defer stop()

	today := time.Now().UTC()
	day := func(offset int) string { return today.AddDate(0, 0, offset).Format(time.DateOnly) }
	post(t, url+"/v1/subscriptions", token, `{"channel":"webhook","url":"`+hook.URL+`/encours","filter":{}}`)
	post(t, url+"/v1/customers", token, `{"id":"ACME-7731","name":"Acme SAS","country":"FR","sector":"C25","segment":"sme","currency":"EUR","terms_days":30,"credit_limit":100000}`)
	post(t, url+"/v1/customers", token, `{"id":"BIGCO-5512","name":"Bigco SA","country":"FR","sector":"C25","segment":"corporate","currency":"EUR","terms_days":30,"credit_limit":10000000}`)
	post(t, url+"/v1/customers", token, `{"id":"LONE-0042","name":"Lone SARL","country":"FR","sector":"C25","currency":"EUR","terms_days":30,"credit_limit":500000}`)
	invoice := func(customer, id string, amount int64, issued int) {
		post(t, url+"/v1/invoices", token, fmt.Sprintf(`{"customer_id":%q,"invoice_id":%q,"number":%q,"amount":%d,"currency":"EUR","issue_date":%q,"due_date":%q}`,
			customer, id, id, amount, day(issued), day(issued+30)))
	}
	invoice("ACME-7731", "INV-99812", 150_000, -60) // over its limit of 100 000, 30 days overdue
	invoice("BIGCO-5512", "INV-99813", 2_000_000, -10)
	invoice("LONE-0042", "INV-99814", 40_000, -5)
	assert.Equal(t, http.StatusNotFound, do(t, http.MethodGet, url+"/v1/customers/NOPE-4411", token, ""))

	var families map[string]*dto.MetricFamily
	var text []byte
	require.Eventually(t, func() bool {
		text = []byte(get(t, url+"/metrics", token))
		families = parseMetrics(t, text)
		return value(families, "encours_projection_lag_events", "projection", "ledger") == 0 &&
			value(families, "encours_projection_lag_events", "projection", "alerts") == 0 &&
			value(families, "encours_portfolio_customers", "segment", "sme") == 1 &&
			value(families, "encours_alert_delivery_failures_total", "channel", "webhook") >= 1
	}, 30*time.Second, 100*time.Millisecond, "the projections catch up, an alert is raised and its delivery fails")

	secrets := []string{"ACME", "BIGCO", "LONE", "INV-", token, hook.URL}
	for name, f := range families {
		want, listed := daemonMetricLabels[name]
		if !listed {
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
			}
			slices.Sort(got)
			assert.Equal(t, want, got, "labels of %s", name)
		}
	}
	for name := range daemonMetricLabels {
		assert.Contains(t, families, name, "family %s is exported", name)
	}
	problems, err := promlint.New(bytes.NewReader(text)).Lint()
	require.NoError(t, err)
	assert.Empty(t, problems, "promlint")

	// The figures are the ledger's: exposure, limits and overdue by segment.
	assert.Equal(t, 150_000.0, value(families, "encours_portfolio_exposure_minor_units", "segment", "sme"))
	assert.Equal(t, 2_000_000.0, value(families, "encours_portfolio_exposure_minor_units", "segment", "corporate"))
	assert.Equal(t, 40_000.0, value(families, "encours_portfolio_exposure_minor_units", "segment", "none"))
	assert.Equal(t, 100_000.0, value(families, "encours_portfolio_credit_limit_minor_units", "segment", "sme"))
	assert.Equal(t, 150_000.0, value(families, "encours_portfolio_exposure_over_limit_minor_units", "segment", "sme"))
	assert.Equal(t, 0.0, value(families, "encours_portfolio_exposure_over_limit_minor_units", "segment", "corporate"))
	assert.Equal(t, 150_000.0, value(families, "encours_portfolio_overdue_minor_units", "segment", "sme"))
	assert.Equal(t, 0.0, value(families, "encours_portfolio_overdue_minor_units", "segment", "corporate"))
	assert.Contains(t, families, "encours_portfolio_dso_countback_seconds")
	// The store: 1 subscription, 3 customers, 3 invoices and the alerts raised since.
	head := value(families, "encours_eventstore_head_position")
	assert.GreaterOrEqual(t, head, 7.0)
	assert.Equal(t, head, value(families, "encours_projection_position", "projection", "ledger"))
	assert.Equal(t, 0.0, value(families, "encours_projection_lag_seconds", "projection", "ledger"))
	assert.Greater(t, value(families, "encours_eventstore_size_bytes"), 0.0)
	// Alerts: the credit limit rule fired on ACME-7731; every rule × severity is exported.
	var raised float64
	for _, sev := range []string{"info", "warning", "critical"} {
		raised += value(families, "encours_alerts_raised_total", "rule", "credit_limit", "severity", sev)
	}
	assert.GreaterOrEqual(t, raised, 1.0, "credit_limit raised")
	assert.Len(t, families["encours_alerts_raised_total"].GetMetric(), 15*3, "15 rules × 3 severities")
	assert.Len(t, families["encours_alert_deliveries_total"].GetMetric(), 3, "webhook, sse, kafka")
}

// runDaemon runs the daemon in this process on a free port with auth on, and returns its URL
// and a stop function that requires a clean exit.
func runDaemon(t *testing.T, env map[string]string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lineWriter{urls: make(chan string, 1)}
	done := make(chan int, 1)
	args := []string{"--data", filepath.Join(t.TempDir(), "data"), "--listen", "127.0.0.1:0", "--clock", "manual"}
	go func() { done <- run(ctx, args, func(k string) string { return env[k] }, out, io.Discard) }() // ends when ctx is cancelled
	var url string
	select {
	case url = <-out.urls:
	case code := <-done:
		cancel()
		t.Fatalf("daemon exited %d before listening", code)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("daemon printed no URL within 30s")
	}
	return url, func() {
		cancel()
		select {
		case code := <-done:
			assert.Equal(t, 0, code, "exit code")
		case <-time.After(20 * time.Second):
			t.Error("daemon did not stop within 20s")
		}
	}
}

// lineWriter passes on the URL the daemon prints.
type lineWriter struct {
	mu   sync.Mutex
	buf  strings.Builder
	urls chan string
	sent bool
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.sent {
		for line := range strings.Lines(w.buf.String()) {
			if u, ok := strings.CutPrefix(strings.TrimSpace(line), "encoursd listening on "); ok {
				w.urls <- u
				w.sent = true
				break
			}
		}
	}
	return len(p), nil
}

func parseMetrics(t *testing.T, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(text))
	require.NoError(t, err)
	return families
}

// value returns the value of the series of family with the given label pairs (all of its
// labels), or -1 when there is none.
func value(families map[string]*dto.MetricFamily, family string, labels ...string) float64 {
	f := families[family]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		for _, lp := range m.GetLabel() {
			i := slices.Index(labels, lp.GetName())
			if i < 0 || i%2 != 0 || labels[i+1] != lp.GetValue() {
				continue next
			}
		}
		switch {
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue()
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue()
		case m.GetUntyped() != nil:
			return m.GetUntyped().GetValue()
		}
	}
	return -1
}
