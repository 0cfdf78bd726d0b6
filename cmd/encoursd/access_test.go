package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/handlers/auth"
	"github.com/encours/encours/handlers/httpapi"
)

const matrixAdminToken = "matrix-admin-token-0123456789abcdef-0123456789"

// inProcessDaemon runs the daemon's run() in this process on a fresh data directory, with the
// manual clock, and serves the very handler it built (handlerBuilt) on a test server: the
// route table under test is the daemon's own, Extra routes included.
func inProcessDaemon(t *testing.T) (*httptest.Server, http.Handler) {
	t.Helper()
	built := make(chan http.Handler, 1)
	handlerBuilt = func(h http.Handler) { built <- h }
	t.Cleanup(func() { handlerBuilt = func(http.Handler) {} })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	getenv := func(k string) string {
		if k == adminTokenEnv {
			return matrixAdminToken
		}
		return ""
	}
	go func() { // ends when ctx is cancelled at cleanup
		done <- run(ctx, []string{"--data", t.TempDir(), "--listen", "127.0.0.1:0", "--clock", "manual"}, getenv, io.Discard, io.Discard)
	}()
	var h http.Handler
	select {
	case h = <-built:
	case code := <-done:
		t.Fatalf("the daemon exited with %d before serving", code)
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon built no handler within 30 s")
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("the daemon did not stop within 30 s")
		}
	})
	return srv, h
}

type client struct {
	t     *testing.T
	srv   *httptest.Server
	token string
}

// do sends one request and returns its status, body (not read for an event stream) and
// headers.
func (c client) do(method, path, body string) (int, []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.srv.URL+path, strings.NewReader(body))
	require.NoError(c.t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.srv.Client().Do(req)
	require.NoError(c.t, err)
	defer resp.Body.Close()
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp.StatusCode, nil // an endless stream: the status is the answer
	}
	b, err := io.ReadAll(resp.Body)
	require.NoError(c.t, err)
	return resp.StatusCode, b
}

func (c client) must(method, path, body string, want int) []byte {
	c.t.Helper()
	status, b := c.do(method, path, body)
	require.Equal(c.t, want, status, "%s %s: %s", method, path, b)
	return b
}

// TestDaemonRoleMatrix sends every route the daemon serves — the API's own and those other
// packages register through Options.Extra (reports, alerting, dashboard) — as every role and
// without a token, and checks the answer against the access policy written out here. The
// route list comes from the daemon's handler itself; a route without a row fails the test.
// Allowed: the row's status (a success, or 404 where the subject is made up: the request
// passed the access check and reached the handler). Refused: 403 forbidden, and nothing
// appended. No token: 401 unauthenticated, except on the public routes.
func TestDaemonRoleMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole daemon")
	}
	srv, h := inProcessDaemon(t)
	admin := client{t, srv, matrixAdminToken}
	admin.must("POST", "/v1/clock", `{"date":"2026-03-02"}`, 200)
	customerBody := func(id string) string {
		return `{"id":"` + id + `","name":"Customer ` + id + `","country":"FR","sector":"C25","segment":"sme","currency":"EUR","terms_days":30,"credit_limit":5000000,"registered_on":"2026-01-02"}`
	}
	admin.must("POST", "/v1/customers", customerBody("ACME"), 201)
	n := 0
	next := func() string { n++; return strconv.Itoa(n) }
	invoice := func(c string) string {
		inv := "MI" + next()
		admin.must("POST", "/v1/invoices", `{"customer_id":"`+c+`","invoice_id":"`+inv+`","number":"`+inv+`","amount":1000,"currency":"EUR","issue_date":"2026-01-05","due_date":"2026-02-04"}`, 201)
		return inv
	}
	customer := func() string {
		c := "M" + next()
		admin.must("POST", "/v1/customers", customerBody(c), 201)
		return c
	}
	onAccount := func(c string) string {
		p := "MP" + next()
		admin.must("POST", "/v1/payments", `{"customer_id":"`+c+`","payment_id":"`+p+`","amount":100,"currency":"EUR","received_on":"2026-02-10"}`, 201)
		return p
	}
	subscription := func() string {
		var s struct {
			ID string `json:"subscription_id"`
		}
		b := admin.must("POST", "/v1/subscriptions", `{"channel":"sse","filter":{"min_severity":"critical"}}`, 201)
		require.NoError(t, json.Unmarshal(b, &s))
		return s.ID
	}
	token := func(role auth.Role) (secret, id string) {
		var v struct {
			Token   string `json:"token"`
			TokenID string `json:"token_id"`
		}
		b := admin.must("POST", "/v1/tokens", `{"role":"`+string(role)+`","name":"`+string(role)+next()+`"}`, 201)
		require.NoError(t, json.Unmarshal(b, &v))
		return v.Token, v.TokenID
	}

	const (
		W = auth.RoleWriter
		C = auth.RoleCreditManager
		R = auth.RoleReader
		A = auth.RoleAuditor
		D = auth.RoleAdmin
	)
	everyone := []auth.Role{W, C, R, A, D}
	readers := []auth.Role{C, R, A, D}
	recorders := []auth.Role{W, D}
	creditors := []auth.Role{C, D}
	auditors := []auth.Role{A, D}
	type call struct{ path, body string }
	rows := []struct {
		pattern string
		allowed []auth.Role // nil: public, no token needed
		status  int
		make    func() call
	}{
		{"POST /v1/customers", []auth.Role{W, C, D}, 201, func() call { return call{"/v1/customers", customerBody("N" + next())} }},
		// The matrix sends JSON: an allowed role passes authentication and meets the import's
		// 415 (it takes text/csv); the import itself is cmd/encoursd's TestDaemonImportsCSV.
		{"POST /v1/import", recorders, 415, func() call { return call{"/v1/import", `{"rows":[]}`} }},
		{"POST /v1/customers/{id}/credit-limit", creditors, 201, func() call {
			return call{"/v1/customers/ACME/credit-limit", `{"amount":` + next() + `,"reason":"review"}`}
		}},
		{"POST /v1/invoices", recorders, 201, func() call {
			i := "I" + next()
			return call{"/v1/invoices", `{"customer_id":"ACME","invoice_id":"` + i + `","number":"` + i + `","amount":1000,"currency":"EUR","issue_date":"2026-01-05"}`}
		}},
		{"POST /v1/payments", recorders, 201, func() call {
			return call{"/v1/payments", `{"customer_id":"ACME","payment_id":"P` + next() + `","amount":10,"currency":"EUR","received_on":"2026-02-10","allocations":[]}`}
		}},
		{"POST /v1/credit-notes", recorders, 201, func() call {
			return call{"/v1/credit-notes", `{"customer_id":"ACME","credit_note_id":"CN` + next() + `","amount":10,"currency":"EUR","issue_date":"2026-02-01"}`}
		}},
		{"POST /v1/payments/{id}/reversal", recorders, 201, func() call {
			return call{"/v1/payments/" + onAccount(customer()) + "/reversal", `{"reason":"bounced"}`}
		}},
		{"POST /v1/payments/{id}/allocations", recorders, 201, func() call {
			c := customer()
			p := onAccount(c)
			return call{"/v1/payments/" + p + "/allocations", `{"allocations":[{"invoice_id":"` + invoice(c) + `","amount":100}]}`}
		}},
		{"POST /v1/credit-notes/{id}/allocations", recorders, 201, func() call {
			c := customer()
			inv := invoice(c)
			cn := "MCN" + next()
			admin.must("POST", "/v1/credit-notes", `{"customer_id":"`+c+`","credit_note_id":"`+cn+`","amount":100,"currency":"EUR","issue_date":"2026-02-01"}`, 201)
			return call{"/v1/credit-notes/" + cn + "/allocations", `{"allocations":[{"invoice_id":"` + inv + `","amount":100}]}`}
		}},
		{"POST /v1/invoices/{id}/dispute", recorders, 201, func() call { return call{"/v1/invoices/" + invoice(customer()) + "/dispute", `{"reason":"short"}`} }},
		{"POST /v1/invoices/{id}/dispute-resolution", recorders, 201, func() call {
			inv := invoice(customer())
			admin.must("POST", "/v1/invoices/"+inv+"/dispute", `{}`, 201)
			return call{"/v1/invoices/" + inv + "/dispute-resolution", `{"outcome":"rejected"}`}
		}},
		{"POST /v1/invoices/{id}/write-off", recorders, 201, func() call {
			return call{"/v1/invoices/" + invoice(customer()) + "/write-off", `{"reason":"insolvency"}`}
		}},
		{"POST /v1/customers/{id}/payment-plans", creditors, 201, func() call {
			c := customer()
			return call{"/v1/customers/" + c + "/payment-plans", `{"plan_id":"PL","invoice_ids":["` + invoice(c) + `"],"instalments":[{"due_date":"2026-04-01","amount":1000}]}`}
		}},
		{"POST /v1/customers/{id}/promises", creditors, 201, func() call {
			return call{"/v1/customers/ACME/promises", `{"promise_id":"PR` + next() + `","amount":10,"promised_for":"2026-03-15"}`}
		}},
		{"POST /v1/customers/{id}/reminders", recorders, 201, func() call {
			c := customer()
			return call{"/v1/customers/" + c + "/reminders", `{"invoice_id":"` + invoice(c) + `","level":1,"channel":"email"}`}
		}},
		{"POST /v1/customers/{id}/ratings", creditors, 201, func() call { return call{"/v1/customers/ACME/ratings", `{"agency":"Banque de France","score":70}`} }},
		{"POST /v1/customers/{id}/insurance", creditors, 201, func() call {
			return call{"/v1/customers/ACME/insurance", `{"insurer":"Allianz Trade","covered":1000,"declaration_days":60}`}
		}},
		{"GET /v1/customers/{id}", readers, 200, func() call { return call{"/v1/customers/ACME", ""} }},
		{"GET /v1/customers/{id}/events", readers, 200, func() call { return call{"/v1/customers/ACME/events", ""} }},
		{"GET /v1/events", auditors, 200, func() call { return call{"/v1/events?limit=5", ""} }},
		{"POST /v1/tokens", []auth.Role{D}, 201, func() call { return call{"/v1/tokens", `{"role":"reader","name":"t` + next() + `"}`} }},
		{"GET /v1/tokens", []auth.Role{D}, 200, func() call { return call{"/v1/tokens", ""} }},
		{"DELETE /v1/tokens/{id}", []auth.Role{D}, 200, func() call {
			_, id := token(R)
			return call{"/v1/tokens/" + id, ""}
		}},
		{"GET /metrics", readers, 200, func() call { return call{"/metrics", ""} }},
		{"GET /openapi.json", everyone, 200, func() call { return call{"/openapi.json", ""} }},
		{"GET /healthz", nil, 200, func() call { return call{"/healthz", ""} }},
		{"GET /readyz", nil, 200, func() call { return call{"/readyz", ""} }},
		{"POST /v1/clock", []auth.Role{D}, 200, func() call { return call{"/v1/clock", `{"date":"2026-03-02"}`} }},
		// handlers/reports
		{"GET /v1/customers", readers, 200, func() call { return call{"/v1/customers?limit=2", ""} }},
		{"GET /v1/portfolio", readers, 200, func() call { return call{"/v1/portfolio?as_of=2026-03-01", ""} }},
		{"GET /v1/aging", readers, 200, func() call { return call{"/v1/aging?as_of=2026-03-01", ""} }},
		{"GET /v1/forecast", readers, 200, func() call { return call{"/v1/forecast?as_of=2026-03-01&weeks=4", ""} }},
		{"GET /v1/simulations/default", readers, 200, func() call { return call{"/v1/simulations/default?customer_id=ACME&as_of=2026-03-01", ""} }},
		{"GET /v1/penalties", readers, 200, func() call { return call{"/v1/penalties?as_of=2026-03-01", ""} }},
		{"GET /v1/exports/{report}", auditors, 200, func() call { return call{"/v1/exports/statement?customer_id=ACME&as_of=2026-03-01", ""} }},
		// handlers/alerting
		{"GET /v1/alerts", readers, 200, func() call { return call{"/v1/alerts?status=open", ""} }},
		{"GET /v1/alerts/stream", readers, 200, func() call { return call{"/v1/alerts/stream", ""} }},
		{"GET /v1/alerts/{id}", readers, 404, func() call { return call{"/v1/alerts/no-such-alert", ""} }},
		{"POST /v1/alerts/{id}/ack", creditors, 404, func() call { return call{"/v1/alerts/no-such-alert/ack", `{"comment":"seen"}`} }},
		{"POST /v1/alerts/{id}/resolve", creditors, 404, func() call { return call{"/v1/alerts/no-such-alert/resolve", `{"comment":"paid"}`} }},
		{"GET /v1/customers/{id}/signals", readers, 200, func() call { return call{"/v1/customers/ACME/signals", ""} }},
		{"GET /v1/dunning", readers, 200, func() call { return call{"/v1/dunning", ""} }},
		{"POST /v1/subscriptions", creditors, 201, func() call { return call{"/v1/subscriptions", `{"channel":"sse"}`} }},
		{"GET /v1/subscriptions", creditors, 200, func() call { return call{"/v1/subscriptions", ""} }},
		{"DELETE /v1/subscriptions/{id}", creditors, 204, func() call { return call{"/v1/subscriptions/" + subscription(), ""} }},
		{"GET /v1/dead-letters", creditors, 200, func() call { return call{"/v1/dead-letters", ""} }},
		{"POST /v1/dead-letters/{id}/redeliver", creditors, 404, func() call { return call{"/v1/dead-letters/no-such-letter/redeliver", ""} }},
		// handlers/dashboard: the page and assets are public, the data they read is not
		{"GET /{$}", nil, 200, func() call { return call{"/", ""} }},
		{"GET /assets/{path...}", nil, 200, func() call { return call{"/assets/js/app.js", ""} }},
	}

	served := httpapi.Served(h)
	var patterns, covered []string
	for p := range served {
		patterns = append(patterns, p)
	}
	for _, row := range rows {
		covered = append(covered, row.pattern)
		if perm, ok := served[row.pattern]; ok {
			assert.Equal(t, row.allowed == nil, perm == auth.PermPublic, "%s: public in the table and in the daemon", row.pattern)
		}
	}
	require.ElementsMatch(t, patterns, covered, "the matrix has one row per route the daemon serves")

	secrets := map[auth.Role]string{D: matrixAdminToken}
	for _, role := range []auth.Role{W, C, R, A} {
		secrets[role], _ = token(role)
	}
	head := func() uint64 {
		b := admin.must("GET", "/readyz", "", 200)
		var v struct {
			Position uint64 `json:"position"`
		}
		require.NoError(t, json.Unmarshal(b, &v))
		return v.Position
	}
	// recordedSince lists the customer and token events appended after position from; the
	// alert evaluator appends to alerts-* streams on its own and is left out.
	recordedSince := func(from uint64) []string {
		b := admin.must("GET", "/v1/events?limit=1000&from="+strconv.FormatUint(from+1, 10), "", 200)
		var page struct {
			Events []struct {
				Stream string `json:"stream"`
				Type   string `json:"type"`
			} `json:"events"`
		}
		require.NoError(t, json.Unmarshal(b, &page))
		var out []string
		for _, e := range page.Events {
			if !strings.HasPrefix(e.Stream, "alerts-") {
				out = append(out, e.Stream+" "+e.Type)
			}
		}
		return out
	}
	for _, row := range rows {
		method, _, _ := strings.Cut(row.pattern, " ")
		for _, role := range append(slices.Clone(everyone), "") {
			name := string(role)
			if role == "" {
				name = "no token"
			}
			t.Run(row.pattern+"/"+name, func(t *testing.T) {
				c := row.make()
				before := head()
				status, body := client{t, srv, secrets[role]}.do(method, c.path, c.body)
				switch {
				case row.allowed == nil || slices.Contains(row.allowed, role):
					assert.Equal(t, row.status, status, "%s %s as %s: %s", method, c.path, name, body)
					return
				case role == "":
					assert.Equal(t, http.StatusUnauthorized, status, "%s %s without a token: %s", method, c.path, body)
					assert.Contains(t, string(body), `"code":"unauthenticated"`)
				default:
					assert.Equal(t, http.StatusForbidden, status, "%s %s as %s: %s", method, c.path, name, body)
					assert.Contains(t, string(body), `"code":"forbidden"`)
				}
				assert.Empty(t, recordedSince(before), "a refused request appends nothing")
			})
		}
	}
}

// TestDaemonOpenAPI reads /openapi.json from the daemon and checks that it documents exactly
// the routes the daemon serves, Extra ones included, each with a success body schema (or
// none for 204), its path parameters, its error statuses; and that every example request
// body, and every documented query parameter of the reads with its example value, is valid
// against its schema. The example bodies are then sent, and must be accepted.
func TestDaemonOpenAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole daemon")
	}
	srv, h := inProcessDaemon(t)
	admin := client{t, srv, matrixAdminToken}
	var doc struct {
		Paths      map[string]map[string]json.RawMessage `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(admin.must("GET", "/openapi.json", "", 200), &doc))
	type operation struct {
		Parameters []struct {
			Name    string         `json:"name"`
			In      string         `json:"in"`
			Schema  map[string]any `json:"schema"`
			Example any            `json:"example"`
		} `json:"parameters"`
		RequestBody *struct {
			Content map[string]struct {
				Schema  map[string]any  `json:"schema"`
				Example json.RawMessage `json:"example"`
			} `json:"content"`
		} `json:"requestBody"`
		Responses map[string]struct {
			Content map[string]struct {
				Schema map[string]any `json:"schema"`
			} `json:"content"`
		} `json:"responses"`
	}
	ops := map[string]operation{}
	for path, item := range doc.Paths {
		for method, raw := range item {
			var op operation
			require.NoError(t, json.Unmarshal(raw, &op))
			ops[strings.ToUpper(method)+" "+path] = op
		}
	}
	var served []string
	for p := range httpapi.Served(h) {
		served = append(served, p)
	}
	var documented []string
	for p := range ops {
		documented = append(documented, p)
	}
	require.ElementsMatch(t, served, documented, "documented routes = the daemon's routes")

	v := &validator{defs: doc.Components.Schemas}
	wildcard := regexp.MustCompile(`\{([a-z_]+)\}`)
	for pattern, op := range ops {
		t.Run(pattern, func(t *testing.T) {
			var success string
			for code := range op.Responses {
				if c, _ := strconv.Atoi(code); c >= 200 && c < 300 {
					success = code
				}
			}
			require.NotEmpty(t, success, "a success status")
			if success != "204" && pattern != "GET /openapi.json" {
				var schema map[string]any
				for _, c := range op.Responses[success].Content {
					schema = c.Schema
				}
				require.NotNil(t, schema, "a success body schema")
				assert.False(t, len(schema) == 1 && schema["type"] == "object", "the success body is described, not a bare object: %v", schema)
			}
			assert.Contains(t, op.Responses, "500")
			for _, m := range wildcard.FindAllStringSubmatch(pattern, -1) {
				assert.True(t, slices.ContainsFunc(op.Parameters, func(p struct {
					Name    string         `json:"name"`
					In      string         `json:"in"`
					Schema  map[string]any `json:"schema"`
					Example any            `json:"example"`
				}) bool {
					return p.Name == m[1] && p.In == "path" && p.Example != nil
				}), "{%s} documented with an example", m[1])
			}
			if op.RequestBody != nil {
				c := op.RequestBody.Content["application/json"]
				var example any
				require.NoError(t, json.Unmarshal(c.Example, &example))
				assert.NoError(t, v.validate(c.Schema, example, "body"), "example %s", c.Example)
				for _, bad := range []string{`[]`, `{"no_such_field":1}`} {
					var x any
					require.NoError(t, json.Unmarshal([]byte(bad), &x))
					if _, closed := c.Schema["additionalProperties"]; closed || bad == `[]` {
						assert.Error(t, v.validate(c.Schema, x, "body"), "%s must not validate", bad)
					}
				}
			}
		})
	}

	// The readers' query values used across the tests validate against their schemas.
	queryExamples := map[string]any{"as_of": "2026-03-01", "known_at": "2026-03-02T00:00:00Z", "from": "2026-02-01", "format": "csv", "limit": 50.0, "weeks": 13.0}
	for pattern, op := range ops {
		for _, p := range op.Parameters {
			if ex, ok := queryExamples[p.Name]; ok && p.In == "query" && !strings.HasSuffix(pattern, "/events") {
				assert.NoError(t, v.validate(p.Schema, ex, p.Name), "%s ?%s=%v", pattern, p.Name, ex)
			}
		}
	}

	// The Extra routes' example bodies are accepted by the daemon.
	sub := ops["POST /v1/subscriptions"].RequestBody.Content["application/json"].Example
	admin.must("POST", "/v1/subscriptions", string(sub), 201)
	status, body := admin.do("POST", "/v1/alerts/none/ack", string(ops["POST /v1/alerts/{id}/ack"].RequestBody.Content["application/json"].Example))
	assert.Equal(t, http.StatusNotFound, status, "a valid ack of an unknown alert: %s", body)
}

// validator checks a JSON value against the subset of JSON Schema 2020-12 the API
// description uses: $ref, type, properties, required, additionalProperties, enum, pattern,
// minimum, maximum, items, oneOf, and the date and date-time formats.
type validator struct{ defs map[string]any }

func (v *validator) validate(s map[string]any, x any, at string) error {
	if ref, ok := s["$ref"].(string); ok {
		def, ok := v.defs[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any)
		if !ok {
			return fmt.Errorf("%s: unresolved %s", at, ref)
		}
		return v.validate(def, x, at)
	}
	if alts, ok := s["oneOf"].([]any); ok {
		n := 0
		for _, a := range alts {
			if v.validate(a.(map[string]any), x, at) == nil {
				n++
			}
		}
		if n != 1 {
			return fmt.Errorf("%s: %d alternatives of oneOf match", at, n)
		}
		return nil
	}
	if e, ok := s["enum"].([]any); ok && !slices.Contains(e, x) {
		return fmt.Errorf("%s: %v not in %v", at, x, e)
	}
	switch s["type"] {
	case "object":
		o, ok := x.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %T", at, x)
		}
		props, _ := s["properties"].(map[string]any)
		for _, r := range asStrings(s["required"]) {
			if _, ok := o[r]; !ok {
				return fmt.Errorf("%s: missing %s", at, r)
			}
		}
		for k, val := range o {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if s["additionalProperties"] == false {
					return fmt.Errorf("%s: unknown property %s", at, k)
				}
				continue
			}
			if err := v.validate(ps, val, at+"."+k); err != nil {
				return err
			}
		}
	case "array":
		a, ok := x.([]any)
		if !ok {
			return fmt.Errorf("%s: want an array, got %T", at, x)
		}
		if items, ok := s["items"].(map[string]any); ok {
			for i, e := range a {
				if err := v.validate(items, e, fmt.Sprintf("%s[%d]", at, i)); err != nil {
					return err
				}
			}
		}
	case "string":
		str, ok := x.(string)
		if !ok {
			return fmt.Errorf("%s: want a string, got %T", at, x)
		}
		if p, ok := s["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			return fmt.Errorf("%s: %q does not match %s", at, str, p)
		}
		switch s["format"] {
		case "date":
			if _, err := time.Parse(time.DateOnly, str); err != nil {
				return fmt.Errorf("%s: %q is not a date", at, str)
			}
		case "date-time":
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				return fmt.Errorf("%s: %q is not an instant", at, str)
			}
		}
	case "integer", "number":
		f, ok := x.(float64)
		if !ok || (s["type"] == "integer" && f != float64(int64(f))) {
			return fmt.Errorf("%s: want an %v, got %v", at, s["type"], x)
		}
		if lo, ok := s["minimum"].(float64); ok && f < lo {
			return fmt.Errorf("%s: %v below %v", at, f, lo)
		}
		if hi, ok := s["maximum"].(float64); ok && f > hi {
			return fmt.Errorf("%s: %v above %v", at, f, hi)
		}
	case "boolean":
		if _, ok := x.(bool); !ok {
			return fmt.Errorf("%s: want a boolean, got %T", at, x)
		}
	case "null":
		if x != nil {
			return fmt.Errorf("%s: want null", at)
		}
	}
	return nil
}

func asStrings(v any) []string {
	var out []string
	if a, ok := v.([]any); ok {
		for _, s := range a {
			out = append(out, s.(string))
		}
	}
	return out
}
