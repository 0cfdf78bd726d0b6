// Package deploy holds the deployment files: deploy/prometheus (scrape configuration,
// recording and alerting rules with their promtool unit tests) and deploy/grafana
// (provisioning and dashboards). Its tests check them: promtool's own checks and unit tests,
// and that every metric a rule or a dashboard queries is one the daemon exports or a rule
// records.
package deploy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

const (
	prometheusConfig = "prometheus/prometheus.yml"
	rulesGlob        = "prometheus/rules/*.yml"
	ruleTestsGlob    = "prometheus/tests/*.test.yml"
	datasourcesGlob  = "grafana/provisioning/datasources/*.yml"
	providersGlob    = "grafana/provisioning/dashboards/*.yml"
	dashboardsGlob   = "grafana/dashboards/*.json"
)

// TestPromtool runs promtool's checks of the configuration and the rules, and the rules'
// unit tests. promtool comes with Debian's prometheus package; without it the test skips,
// except under CI=true, where it fails.
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not on PATH and CI=true: .ci/run installs it (apt-get install prometheus)")
		}
		t.Skip("SKIPPED: promtool is not on PATH; apt-get install prometheus to check and unit-test deploy/prometheus")
	}
	rules := glob(t, rulesGlob)
	tests := glob(t, ruleTestsGlob)
	for _, args := range [][]string{
		append([]string{"check", "rules"}, rules...),
		// --syntax-only: the scrape token file exists only where Prometheus runs.
		{"check", "config", "--syntax-only", prometheusConfig},
		append([]string{"test", "rules"}, tests...),
	} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		require.NoError(t, err, "promtool %s:\n%s", strings.Join(args, " "), out)
		t.Logf("promtool %s: ok", strings.Join(args, " "))
	}
}

// TestRulesAndDashboardsQueryExportedMetrics starts the daemon, feeds it a customer and an
// invoice so that every family has series, and checks that each metric named by a rule's
// expression or a Grafana query is exported by the daemon or recorded by a rule. It also
// checks that the dashboards are valid JSON with unique uids and panel ids, and that they
// use the provisioned datasource.
func TestRulesAndDashboardsQueryExportedMetrics(t *testing.T) {
	recorded := map[string]bool{}
	type ruleQuery struct{ where, expr string }
	var queries []ruleQuery
	for _, path := range glob(t, rulesGlob) {
		var f struct {
			Groups []struct {
				Name  string `yaml:"name"`
				Rules []struct {
					Record string `yaml:"record"`
					Alert  string `yaml:"alert"`
					Expr   string `yaml:"expr"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		decodeYAML(t, path, &f)
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				require.NotEmpty(t, r.Expr, "%s: a rule of group %s has no expr", path, g.Name)
				if r.Record != "" {
					recorded[r.Record] = true
				}
				queries = append(queries, ruleQuery{fmt.Sprintf("%s: %s%s", path, r.Record, r.Alert), r.Expr})
			}
		}
	}
	require.NotEmpty(t, recorded, "recording rules")

	var dsUIDs []string
	for _, path := range glob(t, datasourcesGlob) {
		var f struct {
			Datasources []struct {
				UID  string `yaml:"uid"`
				Type string `yaml:"type"`
			} `yaml:"datasources"`
		}
		decodeYAML(t, path, &f)
		for _, d := range f.Datasources {
			assert.Equal(t, "prometheus", d.Type, "%s", path)
			dsUIDs = append(dsUIDs, d.UID)
		}
	}
	require.NotEmpty(t, dsUIDs, "provisioned datasources")
	for _, path := range glob(t, providersGlob) {
		var f struct {
			Providers []struct {
				Type    string `yaml:"type"`
				Options struct {
					Path string `yaml:"path"`
				} `yaml:"options"`
			} `yaml:"providers"`
		}
		decodeYAML(t, path, &f)
		require.NotEmpty(t, f.Providers, "%s: dashboard providers", path)
		for _, p := range f.Providers {
			assert.Equal(t, "file", p.Type, "%s", path)
			assert.NotEmpty(t, p.Options.Path, "%s: options.path", path)
		}
	}

	dashboards := glob(t, dashboardsGlob)
	require.GreaterOrEqual(t, len(dashboards), 2, "the operations and credit dashboards")
	uids := map[string]string{}
	for _, path := range dashboards {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		var d dashboard
		require.NoError(t, json.Unmarshal(b, &d), "%s is not valid JSON", path)
		require.NotEmpty(t, d.UID, "%s: uid", path)
		require.NotEmpty(t, d.Title, "%s: title", path)
		assert.Empty(t, uids[d.UID], "%s: uid %s also used by %s", path, d.UID, uids[d.UID])
		uids[d.UID] = path
		ids := map[int]bool{}
		for _, p := range d.Panels {
			assert.False(t, ids[p.ID], "%s: panel id %d twice", path, p.ID)
			ids[p.ID] = true
			if p.Type == "row" {
				continue
			}
			require.NotEmpty(t, p.Targets, "%s: panel %q has no query", path, p.Title)
			assert.Contains(t, dsUIDs, p.Datasource.UID, "%s: panel %q: datasource", path, p.Title)
			for _, tg := range p.Targets {
				require.NotEmpty(t, tg.Expr, "%s: panel %q: empty query", path, p.Title)
				queries = append(queries, ruleQuery{fmt.Sprintf("%s: panel %q", path, p.Title), tg.Expr})
			}
		}
		for _, v := range d.Templating.List {
			q := v.Definition
			if q == "" {
				q = v.Query.Query
			}
			m := labelValues.FindStringSubmatch(q)
			require.NotNil(t, m, "%s: variable %s: want label_values(metric, label), got %q", path, v.Name, q)
			queries = append(queries, ruleQuery{fmt.Sprintf("%s: variable %s", path, v.Name), m[1]})
		}
	}

	exported := daemonSeries(t)
	for _, q := range queries {
		names := metricNames(q.expr)
		assert.NotEmpty(t, names, "%s: no metric in %q", q.where, q.expr)
		for _, n := range names {
			assert.True(t, exported[n] || recorded[n], "%s: metric %s is neither exported by the daemon nor recorded by a rule", q.where, n)
		}
	}
}

// TestMetricNames checks the query parser the test above relies on.
func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (job, le) (rate(encours_x_bucket{job=~"$job", route="GET /v1/a {b}"}[$__rate_interval]))`: {"encours_x_bucket"},
		`a:b:rate5m / (max by (segment) (c_total) > 0) * 1e3`:                                             {"a:b:rate5m", "c_total"},
		`up{job=~"encoursd-.*"} == 0 and on (instance) d offset 5m`:                                       {"up", "d"},
		`histogram_quantile(0.99, sum without (instance) (rate(e[5m:1m])))`:                               {"e"},
		`label_values(f, segment)`: {"f"},
	} {
		assert.Equal(t, want, metricNames(expr), expr)
	}
}

type dashboard struct {
	UID    string `json:"uid"`
	Title  string `json:"title"`
	Panels []struct {
		ID         int    `json:"id"`
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Definition string `json:"definition"`
			Query      struct {
				Query string `json:"query"`
			} `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

var (
	labelValues = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)$`)
	quoted      = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	braces      = regexp.MustCompile(`\{[^{}]*\}`)
	brackets    = regexp.MustCompile(`\[[^\[\]]*\]`)
	grouping    = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)`)
	variable    = regexp.MustCompile(`\$\{?\w+\}?`)
	identifier  = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	keywords    = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
		"group_left", "group_right", "inf", "nan", "atan2"}
)

// metricNames returns the metric names a PromQL expression selects, in order: identifiers
// that are neither functions, aggregations, keywords, label names nor template variables.
func metricNames(expr string) []string {
	if m := labelValues.FindStringSubmatch(strings.TrimSpace(expr)); m != nil {
		return []string{m[1]}
	}
	s := quoted.ReplaceAllString(expr, `""`)
	s = braces.ReplaceAllString(s, " ")
	s = brackets.ReplaceAllString(s, " ")
	s = grouping.ReplaceAllString(s, " ")
	s = variable.ReplaceAllString(s, " ")
	var out []string
	for _, loc := range identifier.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if loc[0] > 0 && strings.ContainsAny(s[loc[0]-1:loc[0]], "0123456789.") {
			continue // the exponent of a number (1e3) or a duration's unit (5m)
		}
		call := strings.HasPrefix(strings.TrimLeft(s[loc[1]:], " \t\n"), "(")
		if call || slices.Contains(keywords, strings.ToLower(name)) || slices.Contains(out, name) {
			continue
		}
		out = append(out, name)
	}
	return out
}

// daemonSeries builds and starts the daemon (auth off, an empty data directory), registers
// a customer with an invoice, and returns the series names its /metrics exports once every
// portfolio family has series: family names, with _bucket, _sum and _count for histograms
// and summaries, and Prometheus' own "up".
func daemonSeries(t *testing.T) map[string]bool {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "encoursd")
	build := exec.Command("go", "build", "-o", bin, "../cmd/encoursd")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run(), "go build ../cmd/encoursd")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--data", filepath.Join(t.TempDir(), "data"), "--listen", "127.0.0.1:0", "--auth", "off", "--clock", "manual")
	cmd.Stderr = io.Discard
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	urls := make(chan string, 1)
	go func() { // ends when the daemon's stdout closes
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "encoursd listening on "); ok {
				urls <- u
			}
		}
	}()
	var url string
	select {
	case url = <-urls:
	case <-time.After(60 * time.Second):
		t.Fatal("the daemon printed no URL within 60 s")
	}
	today := time.Now().UTC()
	post(t, url+"/v1/customers", `{"id":"C1","name":"C1 SAS","country":"FR","sector":"C25","segment":"sme","currency":"EUR","terms_days":30,"credit_limit":100000}`)
	post(t, url+"/v1/invoices", fmt.Sprintf(`{"customer_id":"C1","invoice_id":"F1","number":"F1","amount":150000,"currency":"EUR","issue_date":%q,"due_date":%q}`,
		today.AddDate(0, 0, -45).Format(time.DateOnly), today.AddDate(0, 0, -15).Format(time.DateOnly)))

	var families map[string]*dto.MetricFamily
	require.Eventually(t, func() bool {
		resp, err := http.Get(url + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		p := expfmt.NewTextParser(model.LegacyValidation)
		if families, err = p.TextToMetricFamilies(resp.Body); err != nil {
			return false
		}
		f := families["encours_portfolio_dso_countback_seconds"]
		return f != nil && len(f.GetMetric()) > 0 && families["encours_portfolio_exposure_over_limit_minor_units"] != nil
	}, 30*time.Second, 100*time.Millisecond, "the portfolio series appear")
	names := map[string]bool{"up": true}
	for name, f := range families {
		names[name] = true
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			names[name+"_bucket"], names[name+"_sum"], names[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			names[name+"_sum"], names[name+"_count"] = true, true
		}
	}
	return names
}

func post(t *testing.T, url, body string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, "POST %s: %s", url, b)
}

func glob(t *testing.T, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	require.NoError(t, err)
	require.NotEmpty(t, m, "no file matches %s", pattern)
	return m
}

func decodeYAML(t *testing.T, path string, v any) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(false)
	require.NoError(t, dec.Decode(v), "%s", path)
}
