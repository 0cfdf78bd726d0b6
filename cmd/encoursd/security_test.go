package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer safe for the daemon's logger and the test at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// inProcess is the daemon (run) in this process, on a free loopback port: stdout and stderr
// (its logs) are kept for the test to search.
type inProcess struct {
	url    string
	stdout *syncBuffer
	logs   *syncBuffer
	stop   func() int // SIGTERM, in effect: returns the exit code
}

// startInProcess runs the daemon with args after --data DIR --listen 127.0.0.1:0 and env as
// its environment, and waits for its URL.
func startInProcess(t *testing.T, env map[string]string, args ...string) *inProcess {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	d := &inProcess{stdout: &syncBuffer{}, logs: &syncBuffer{}}
	done := make(chan int, 1)
	args = append([]string{"--data", filepath.Join(t.TempDir(), "data"), "--listen", "127.0.0.1:0"}, args...)
	go func() { // ends when ctx is cancelled
		code := run(ctx, args, func(k string) string { return env[k] }, pw, d.logs)
		pw.Close()
		done <- code
	}()
	urls := make(chan string, 1)
	go func() { // ends when the daemon's stdout closes
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			d.stdout.Write([]byte(sc.Text() + "\n"))
			if u, ok := strings.CutPrefix(sc.Text(), "encoursd listening on "); ok {
				urls <- u
			}
		}
	}()
	var once sync.Once
	code := 0
	d.stop = func() int {
		once.Do(func() {
			cancel()
			code = <-done
		})
		return code
	}
	t.Cleanup(func() { d.stop() })
	select {
	case d.url = <-urls:
	case c := <-done:
		t.Fatalf("the daemon exited (%d) before listening: %s", c, d.logs.String())
	case <-time.After(60 * time.Second):
		t.Fatal("the daemon printed no URL within 60s")
	}
	return d
}

// call sends a request with token ("" for none) and returns the status and body.
func call(t *testing.T, method, url, token, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// publicRoutes are the routes answered without a token, each with why it carries no data:
// the probes, and the dashboard's static shell and assets (HTML, CSS, JavaScript embedded in
// the binary; the data the dashboard shows comes from the API routes, with the token the
// user pastes).
var publicRoutes = map[string]string{
	"GET /healthz":          "liveness probe: {\"status\":\"ok\"}",
	"GET /readyz":           "readiness probe: the store answers",
	"GET /{$}":              "the dashboard's HTML shell, the same bytes for everyone",
	"GET /assets/{path...}": "the dashboard's CSS and JavaScript, embedded in the binary",
}

// daemonRoute is one operation of the running daemon's /openapi.json.
type daemonRoute struct {
	method, pattern, path string
	public                bool
}

// daemonRoutes reads the running daemon's /openapi.json, which httpapi.New builds from the
// routes it registers (its own and every Options.Extra route of reports, alerting and the
// dashboard; TestOpenAPI pins documented = registered), and returns each operation with a
// concrete path (wildcards replaced by their documented examples).
func daemonRoutes(t *testing.T, url, token string) []daemonRoute {
	t.Helper()
	status, body := call(t, http.MethodGet, url+"/openapi.json", token, "")
	require.Equal(t, http.StatusOK, status, "%s", body)
	var doc struct {
		Paths map[string]map[string]struct {
			Security   *[]any `json:"security"`
			Parameters []struct {
				Name    string `json:"name"`
				In      string `json:"in"`
				Example string `json:"example"`
			} `json:"parameters"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(body, &doc))
	wildcard := regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)(\.\.\.)?\}`)
	var out []daemonRoute
	for path, item := range doc.Paths {
		for method, op := range item {
			concrete := strings.ReplaceAll(path, "{$}", "")
			concrete = wildcard.ReplaceAllStringFunc(concrete, func(w string) string {
				name := wildcard.FindStringSubmatch(w)[1]
				for _, p := range op.Parameters {
					if p.In == "path" && p.Name == name && p.Example != "" {
						return p.Example
					}
				}
				if name == "path" {
					return "js/app.js"
				}
				return "ACME"
			})
			out = append(out, daemonRoute{method: strings.ToUpper(method), pattern: strings.ToUpper(method) + " " + path,
				path: concrete, public: op.Security != nil && len(*op.Security) == 0})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pattern < out[j].pattern })
	return out
}

// Every route of the daemon, read from its own registrations, answers 401 without a token
// and with a wrong one, except the public routes listed (and explained) in publicRoutes,
// which must be exactly the routes documented as public, and which show no data.
func TestEveryRouteNeedsAToken(t *testing.T) {
	const admin = "security-admin-token-0123456789abcdef-01234"
	d := startInProcess(t, map[string]string{adminTokenEnv: admin}, "--clock", "manual")
	status, body := call(t, http.MethodPost, d.url+"/v1/customers", admin,
		`{"id":"ACME","name":"Confidential Customer SAS","country":"FR","sector":"C25","segment":"sme","currency":"EUR","terms_days":30,"credit_limit":5000000}`)
	require.Equal(t, http.StatusCreated, status, "%s", body)

	routes := daemonRoutes(t, d.url, admin)
	require.Greater(t, len(routes), 40, "the daemon's routes: API, reports, alerts, dashboard")
	var public []string
	tags := map[string]bool{}
	for _, r := range routes {
		tags[strings.SplitN(strings.TrimPrefix(strings.TrimPrefix(r.path, "/"), "v1/"), "/", 2)[0]] = true
		if r.public {
			public = append(public, r.pattern)
			status, body := call(t, r.method, d.url+r.path, "", "")
			assert.Equal(t, http.StatusOK, status, "%s: public", r.pattern)
			assert.NotContains(t, string(body), "Confidential Customer", "%s: no data", r.pattern)
			assert.NotContains(t, string(body), "ACME", "%s: no data", r.pattern)
			continue
		}
		for _, token := range []string{"", "enc_not-a-token-at-all", admin + "x"} {
			status, body := call(t, r.method, d.url+r.path, token, "{}")
			assert.Equal(t, http.StatusUnauthorized, status, "%s with token %q: %s", r.pattern, token, body)
			assert.Contains(t, string(body), `"code":"unauthenticated"`, r.pattern)
			assert.NotContains(t, string(body), "Confidential", r.pattern)
		}
	}
	want := slices.Sorted(func(yield func(string) bool) {
		for p := range publicRoutes {
			if !yield(p) {
				return
			}
		}
	})
	assert.Equal(t, want, public, "the public routes are exactly the probes and the dashboard's static files")
	for _, area := range []string{"customers", "invoices", "payments", "events", "tokens", "alerts", "subscriptions", "portfolio", "exports", "metrics", "openapi.json"} {
		assert.True(t, tags[area], "routes of %s are in the list", area)
	}
	t.Logf("%d routes: %d answer 401 without a valid token, %d public (%s)", len(routes), len(routes)-len(public), len(public), strings.Join(public, ", "))
}

// Secrets — the admin token, issued tokens, webhook secrets (given or made) — are answered
// once, when created, and never again: not in the token or subscription lists, not in the
// log read through /v1/events, the customer's events or the journal export, and never in the
// daemon's logs.
func TestSecretsNeverShown(t *testing.T) {
	const admin = "secrets-admin-token-0123456789abcdef-012345"
	d := startInProcess(t, map[string]string{adminTokenEnv: admin}, "--clock", "manual")
	post := func(path, token, body string) []byte {
		t.Helper()
		status, b := call(t, http.MethodPost, d.url+path, token, body)
		require.Equal(t, http.StatusCreated, status, "POST %s: %s", path, b)
		return b
	}
	var secrets []string
	for _, role := range []string{"writer", "credit_manager", "reader", "auditor", "admin"} {
		var tok struct{ Token string }
		require.NoError(t, json.Unmarshal(post("/v1/tokens", admin, fmt.Sprintf(`{"role":%q,"name":"sec-%s"}`, role, role)), &tok))
		require.NotEmpty(t, tok.Token)
		secrets = append(secrets, tok.Token)
	}
	writer, auditor := secrets[0], secrets[3]
	post("/v1/customers", writer, `{"id":"ACME","name":"Acme SAS","country":"FR","sector":"C25","segment":"sme","currency":"EUR","terms_days":30,"credit_limit":5000000}`)
	post("/v1/invoices", writer, `{"customer_id":"ACME","invoice_id":"F1","number":"F1","amount":125000,"currency":"EUR","issue_date":"2026-01-02","due_date":"2026-02-01"}`)
	const given = "webhook-secret-given-by-the-subscriber-0123456789"
	post("/v1/subscriptions", admin, fmt.Sprintf(`{"channel":"webhook","url":"https://hooks.example.com/a","secret":%q}`, given))
	var made struct{ Secret string }
	require.NoError(t, json.Unmarshal(post("/v1/subscriptions", admin, `{"channel":"webhook","url":"https://hooks.example.com/b"}`), &made))
	require.NotEmpty(t, made.Secret, "a secret made for the subscriber is answered once")
	secrets = append(secrets, admin, given, made.Secret)
	// A revoked token is a secret too.
	b := post("/v1/tokens", admin, `{"role":"reader","name":"sec-revoked"}`)
	var issued struct {
		Token   string `json:"token"`
		TokenID string `json:"token_id"`
	}
	require.NoError(t, json.Unmarshal(b, &issued))
	secrets = append(secrets, issued.Token)
	status, b := call(t, http.MethodDelete, d.url+"/v1/tokens/"+issued.TokenID, admin, "")
	require.Equal(t, http.StatusOK, status, "%s", b)

	reads := []string{"/v1/tokens", "/v1/subscriptions", "/v1/events?limit=1000", "/v1/customers/ACME/events",
		"/v1/customers/ACME", "/v1/exports/journal", "/v1/exports/journal?format=json", "/metrics", "/openapi.json"}
	for _, path := range reads {
		status, body := call(t, http.MethodGet, d.url+path, admin, "")
		require.Equal(t, http.StatusOK, status, "GET %s: %s", path, body)
		for i, s := range secrets {
			assert.False(t, strings.Contains(string(body), s), "GET %s shows secret %d", path, i)
		}
	}
	status, b = call(t, http.MethodGet, d.url+"/v1/events?limit=1000", auditor, "")
	require.Equal(t, http.StatusOK, status, "%s", b)
	assert.Contains(t, string(b), "AlertSubscriptionCreated", "the subscriptions are in the log read")
	assert.Contains(t, string(b), `"secret":"[redacted]"`)
	for i, s := range secrets {
		assert.False(t, strings.Contains(string(b), s), "the auditor's log read shows secret %d", i)
	}

	// Every request logged, with the tokens in their headers: none in the logs.
	require.Equal(t, 0, d.stop())
	logs := d.logs.String() + d.stdout.String()
	require.Contains(t, logs, "request", "the daemon logged its requests")
	for i, s := range secrets {
		assert.False(t, strings.Contains(logs, s), "the logs show secret %d", i)
	}
}
