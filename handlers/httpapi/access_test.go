package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/auth"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/handlers/httpapi"
)

// issue issues a token of role named name, as admin, and returns its secret and id.
func (h *harness) issue(role auth.Role, name string) (secret, id string) {
	h.t.Helper()
	r := h.as(adminToken).post("/v1/tokens", obj("role", role, "name", name))
	require.Equal(h.t, http.StatusCreated, r.status, "%s", r.body)
	var v struct {
		Token   string `json:"token"`
		TokenID string `json:"token_id"`
	}
	r.decode(h.t, &v)
	return v.Token, v.TokenID
}

// call is one request of the role matrix: its path and body, made fresh for attempt n.
type call struct {
	path, body string
}

// TestRoleMatrix sends every route as every role, over a real server on the embedded store,
// and checks the answer against the access policy written out here: allowed is the route's
// success status, anything else is 403 forbidden and appends nothing. Each attempt gets its
// own objects (prepared as admin), so that an allowed attempt succeeds whatever ran before.
// The table must name every registered route, reads included.
func TestRoleMatrix(t *testing.T) {
	h := newHarness(t)
	adm := h.as(adminToken)
	adm.mustPost("/v1/customers", customerBody("ACME", "EUR", 5_000_000))

	n := 0
	next := func() int { n++; return n }
	customer := func() string {
		c := fmt.Sprintf("M%d", next())
		adm.mustPost("/v1/customers", customerBody(c, "EUR", 5_000_000))
		return c
	}
	invoice := func(c string) string {
		inv := fmt.Sprintf("MI%d", next())
		adm.mustPost("/v1/invoices", invoiceBody(c, inv, 1_000))
		return inv
	}
	customerWithInvoice := func() (string, string) {
		c := customer()
		return c, invoice(c)
	}
	// onAccount records a payment of 100 to a customer with nothing open: cash on account.
	onAccount := func(c string) string {
		p := fmt.Sprintf("MP%d", next())
		adm.mustPost("/v1/payments", obj("customer_id", c, "payment_id", p, "amount", 100, "currency", "EUR", "received_on", "2026-02-10"))
		return p
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
	rows := []struct {
		pattern string
		allowed []auth.Role
		status  int
		make    func() call
	}{
		{"POST /v1/customers", []auth.Role{W, C, D}, 201, func() call {
			return call{"/v1/customers", customerBody(fmt.Sprintf("N%d", next()), "EUR", 1_000)}
		}},
		{"POST /v1/customers/{id}/credit-limit", creditors, 201, func() call {
			return call{"/v1/customers/ACME/credit-limit", obj("amount", 6_000_000+next(), "reason", "review")}
		}},
		{"POST /v1/invoices", recorders, 201, func() call {
			return call{"/v1/invoices", invoiceBody("ACME", fmt.Sprintf("I%d", next()), 1_000)}
		}},
		{"POST /v1/payments", recorders, 201, func() call {
			return call{"/v1/payments", obj("customer_id", "ACME", "payment_id", fmt.Sprintf("P%d", next()), "amount", 10,
				"currency", "EUR", "received_on", "2026-02-10", "allocations", json.RawMessage(`[]`))}
		}},
		{"POST /v1/credit-notes", recorders, 201, func() call {
			return call{"/v1/credit-notes", obj("customer_id", "ACME", "credit_note_id", fmt.Sprintf("CN%d", next()), "amount", 10,
				"currency", "EUR", "issue_date", "2026-02-01")}
		}},
		{"POST /v1/payments/{id}/reversal", recorders, 201, func() call {
			return call{"/v1/payments/" + onAccount(customer()) + "/reversal", obj("reason", "bounced")}
		}},
		{"POST /v1/payments/{id}/allocations", recorders, 201, func() call {
			c := customer()
			p := onAccount(c)
			return call{"/v1/payments/" + p + "/allocations", obj("allocations", json.RawMessage(`[{"invoice_id":"`+invoice(c)+`","amount":100}]`))}
		}},
		{"POST /v1/credit-notes/{id}/allocations", recorders, 201, func() call {
			c, inv := customerWithInvoice()
			cn := fmt.Sprintf("MCN%d", next())
			adm.mustPost("/v1/credit-notes", obj("customer_id", c, "credit_note_id", cn, "amount", 100, "currency", "EUR", "issue_date", "2026-02-01"))
			return call{"/v1/credit-notes/" + cn + "/allocations", obj("allocations", json.RawMessage(`[{"invoice_id":"`+inv+`","amount":100}]`))}
		}},
		{"POST /v1/invoices/{id}/dispute", recorders, 201, func() call {
			_, inv := customerWithInvoice()
			return call{"/v1/invoices/" + inv + "/dispute", obj("reason", "short delivery")}
		}},
		{"POST /v1/invoices/{id}/dispute-resolution", recorders, 201, func() call {
			_, inv := customerWithInvoice()
			adm.mustPost("/v1/invoices/"+inv+"/dispute", `{}`)
			return call{"/v1/invoices/" + inv + "/dispute-resolution", obj("outcome", "rejected")}
		}},
		{"POST /v1/invoices/{id}/write-off", recorders, 201, func() call {
			_, inv := customerWithInvoice()
			return call{"/v1/invoices/" + inv + "/write-off", obj("reason", "insolvency")}
		}},
		{"POST /v1/customers/{id}/payment-plans", creditors, 201, func() call {
			c, inv := customerWithInvoice()
			return call{"/v1/customers/" + c + "/payment-plans", obj("plan_id", "PL", "invoice_ids", []string{inv},
				"instalments", json.RawMessage(`[{"due_date":"2026-04-01","amount":1000}]`))}
		}},
		{"POST /v1/customers/{id}/promises", creditors, 201, func() call {
			return call{"/v1/customers/ACME/promises", obj("promise_id", fmt.Sprintf("PR%d", next()), "amount", 10, "promised_for", "2026-03-15")}
		}},
		{"POST /v1/customers/{id}/reminders", recorders, 201, func() call {
			c, inv := customerWithInvoice()
			return call{"/v1/customers/" + c + "/reminders", obj("invoice_id", inv, "level", 1, "channel", "email")}
		}},
		{"POST /v1/customers/{id}/ratings", creditors, 201, func() call {
			return call{"/v1/customers/ACME/ratings", obj("agency", "Banque de France", "score", 70)}
		}},
		{"POST /v1/customers/{id}/insurance", creditors, 201, func() call {
			return call{"/v1/customers/ACME/insurance", obj("insurer", "Allianz Trade", "covered", 1_000, "declaration_days", 60)}
		}},
		{"GET /v1/customers/{id}", readers, 200, func() call { return call{"/v1/customers/ACME", ""} }},
		{"GET /v1/customers/{id}/events", readers, 200, func() call { return call{"/v1/customers/ACME/events", ""} }},
		{"GET /v1/events", []auth.Role{A, D}, 200, func() call { return call{"/v1/events?limit=5", ""} }},
		{"POST /v1/tokens", []auth.Role{D}, 201, func() call {
			return call{"/v1/tokens", obj("role", "reader", "name", fmt.Sprintf("t%d", next()))}
		}},
		{"GET /v1/tokens", []auth.Role{D}, 200, func() call { return call{"/v1/tokens", ""} }},
		{"DELETE /v1/tokens/{id}", []auth.Role{D}, 200, func() call {
			_, id := h.issue(R, fmt.Sprintf("doomed%d", next()))
			return call{"/v1/tokens/" + id, ""}
		}},
		{"GET /metrics", readers, 200, func() call { return call{"/metrics", ""} }},
		{"GET /openapi.json", everyone, 200, func() call { return call{"/openapi.json", ""} }},
		{"GET /healthz", everyone, 200, func() call { return call{"/healthz", ""} }},
		{"GET /readyz", everyone, 200, func() call { return call{"/readyz", ""} }},
		{"POST /v1/clock", []auth.Role{D}, 200, func() call { return call{"/v1/clock", obj("date", "2026-03-02")} }},
	}

	var covered []string
	for _, row := range rows {
		covered = append(covered, row.pattern)
	}
	assert.ElementsMatch(t, httpapi.Patterns(newHandler(t)), covered, "the matrix names every registered route")

	secrets := map[auth.Role]string{D: adminToken}
	for _, role := range []auth.Role{W, C, R, A} {
		secrets[role], _ = h.issue(role, "as-"+string(role))
	}
	for _, row := range rows {
		method, _, _ := strings.Cut(row.pattern, " ")
		for _, role := range everyone {
			t.Run(row.pattern+"/"+string(role), func(t *testing.T) {
				c := row.make()
				before := h.head()
				r := h.as(secrets[role]).do(method, c.path, []byte(c.body))
				if slices.Contains(row.allowed, role) {
					assert.Equal(t, row.status, r.status, "%s %s as %s: %s", method, c.path, role, r.body)
					return
				}
				assert.Equal(t, http.StatusForbidden, r.status, "%s %s as %s: %s", method, c.path, role, r.body)
				code, _ := r.errorCode(t)
				assert.Equal(t, "forbidden", code)
				assert.Equal(t, before, h.head(), "a forbidden request appends nothing")
			})
		}
	}
}

// newHandler builds a handler only to read its route table.
func newHandler(t *testing.T) http.Handler {
	t.Helper()
	store, err := embedded.Open(t.TempDir(), embedded.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	return httpapi.New(command.New(store, command.WallClock{}, command.Options{}), store, httpapi.Options{})
}

// Every way of not being authenticated is 401 unauthenticated with a Bearer challenge, and
// appends nothing; the public routes need no token; an unknown route is 401 too, so that
// probing without a token maps nothing.
func TestUnauthenticated(t *testing.T) {
	h := newHarness(t)
	secret, id := h.issue(auth.RoleWriter, "erp")
	revoked, revokedID := h.issue(auth.RoleWriter, "old-erp")
	r := h.do(http.MethodDelete, "/v1/tokens/"+revokedID, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)

	cases := []struct {
		name    string
		headers []string
		invalid bool // a token was sent: error="invalid_token"
	}{
		{"no header", []string{"Authorization", ""}, false},
		{"basic scheme", []string{"Authorization", "Basic YWRtaW46YWRtaW4="}, true},
		{"scheme only", []string{"Authorization", "Bearer"}, true},
		{"empty token", []string{"Authorization", "Bearer "}, true},
		{"token with a space", []string{"Authorization", "Bearer " + secret + " x"}, true},
		{"token with a byte less", []string{"Authorization", "Bearer " + secret[:len(secret)-1]}, true},
		{"unknown token", []string{"Authorization", "Bearer " + auth.NewSecret()}, true},
		{"revoked token", []string{"Authorization", "Bearer " + revoked}, true},
		{"the token id instead of the token", []string{"Authorization", "Bearer " + id}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.head()
			r := h.post("/v1/invoices", invoiceBody("ACME", "I1", 1), tc.headers...)
			assert.Equal(t, http.StatusUnauthorized, r.status, "%s", r.body)
			code, _ := r.errorCode(t)
			assert.Equal(t, "unauthenticated", code)
			assert.True(t, strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer "), r.header.Get("WWW-Authenticate"))
			assert.Equal(t, tc.invalid, strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`))
			assert.Equal(t, before, h.head())
			assert.NotContains(t, string(r.body), secret)
		})
	}
	t.Run("two Authorization headers", func(t *testing.T) {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, h.srv.URL+"/v1/tokens", nil)
		require.NoError(t, err)
		req.Header.Add("Authorization", "Bearer "+adminToken)
		req.Header.Add("Authorization", "Bearer "+adminToken)
		resp, err := h.srv.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})
	t.Run("lower-case scheme", func(t *testing.T) {
		r := h.get("/v1/tokens")
		require.Equal(t, http.StatusOK, r.status)
		r = h.do(http.MethodGet, "/v1/tokens", nil, "Authorization", "bearer "+adminToken)
		assert.Equal(t, http.StatusOK, r.status, "RFC 7235: the scheme is case-insensitive")
	})
	anon := h.as("")
	for _, path := range []string{"/healthz", "/readyz"} {
		r := anon.do(http.MethodGet, path, nil, "Authorization", "")
		assert.Equal(t, http.StatusOK, r.status, path)
	}
	for _, path := range []string{"/v1/nothing", "/v1/customers/ACME"} {
		r := anon.do(http.MethodGet, path, nil, "Authorization", "")
		assert.Equal(t, http.StatusUnauthorized, r.status, path)
	}
	r = h.get("/v1/nothing")
	assert.Equal(t, http.StatusNotFound, r.status, "authenticated: the route is really missing")
}

// The token that recorded an event is its actor: every envelope says who recorded it, the
// token events included.
func TestActorRecorded(t *testing.T) {
	h := newHarness(t)
	erp, _ := h.issue(auth.RoleWriter, "erp-sap")
	dcf, _ := h.issue(auth.RoleCreditManager, "dcf@example.com")
	h.as(erp).mustPost("/v1/customers", customerBody("ACME", "EUR", 1_000), "X-Correlation-Id", "corr-7")
	h.as(erp).mustPost("/v1/invoices", invoiceBody("ACME", "I1", 1_000))
	h.as(dcf).mustPost("/v1/customers/ACME/credit-limit", obj("amount", 0, "reason", "drift"))

	events, err := h.store.ReadStream(context.Background(), "customer-ACME", 1, 10)
	require.NoError(t, err)
	require.Len(t, events, 3)
	assert.Equal(t, []string{"erp-sap", "erp-sap", "dcf@example.com"}, []string{events[0].Actor, events[1].Actor, events[2].Actor})
	assert.Equal(t, "corr-7", events[0].CorrelationID)

	tokens, err := h.store.ReadStream(context.Background(), domain.TokensStream, 1, 10)
	require.NoError(t, err)
	require.Len(t, tokens, 2)
	for _, e := range tokens {
		assert.Equal(t, auth.BootstrapName, e.Actor, "tokens issued by the bootstrap admin")
	}
}

// Token routes: the token is answered once (no-store), listing shows neither it nor its
// hash, a revoked token stops working at once, and the refusals have their codes.
func TestTokenRoutes(t *testing.T) {
	h := newHarness(t)
	r := h.post("/v1/tokens", obj("role", "admin", "name", "ops"))
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	assert.Equal(t, "no-store", r.header.Get("Cache-Control"))
	var issued struct {
		TokenID  string `json:"token_id"`
		Role     string `json:"role"`
		Name     string `json:"name"`
		IssuedBy string `json:"issued_by"`
		Token    string `json:"token"`
		Revoked  bool   `json:"revoked"`
	}
	r.decode(t, &issued)
	assert.Regexp(t, `^enc_[A-Za-z0-9_-]{43}$`, issued.Token)
	assert.Equal(t, "admin", issued.Role)
	assert.Equal(t, "admin", issued.IssuedBy)
	assert.False(t, issued.Revoked)

	// An issued admin token administers too.
	ops := h.as(issued.Token)
	readerSecret, readerID := ops.issue(auth.RoleReader, "grafana")
	list := ops.get("/v1/tokens")
	require.Equal(t, http.StatusOK, list.status)
	assert.NotContains(t, string(list.body), issued.Token)
	assert.NotContains(t, string(list.body), readerSecret)
	assert.NotContains(t, string(list.body), "hash")
	var l struct {
		Tokens []struct {
			TokenID string `json:"token_id"`
			Name    string `json:"name"`
		} `json:"tokens"`
	}
	list.decode(t, &l)
	require.Len(t, l.Tokens, 2)
	assert.Equal(t, issued.TokenID, l.Tokens[0].TokenID)
	assert.Equal(t, "grafana", l.Tokens[1].Name)

	assert.Equal(t, http.StatusNotFound, h.as(readerSecret).get("/v1/customers/ACME").status, "the reader is authenticated: 404, no such customer")
	r = ops.do(http.MethodDelete, "/v1/tokens/"+readerID, nil)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	assert.Contains(t, string(r.body), `"revoked":true`)
	assert.Contains(t, string(r.body), `"revoked_by":"ops"`)
	assert.Equal(t, http.StatusUnauthorized, h.as(readerSecret).get("/v1/customers/ACME").status)

	cases := []struct {
		name, method, path, body string
		headers                  []string
		status                   int
		code, field              string
	}{
		{"unknown role", "POST", "/v1/tokens", obj("role", "root", "name", "x"), nil, 400, "invalid_field", "role"},
		{"missing role", "POST", "/v1/tokens", obj("name", "x"), nil, 400, "missing_field", "role"},
		{"missing name", "POST", "/v1/tokens", obj("role", "reader"), nil, 400, "missing_field", "name"},
		{"name with a slash", "POST", "/v1/tokens", obj("role", "reader", "name", "a/b"), nil, 400, "invalid_field", "name"},
		{"unknown field", "POST", "/v1/tokens", obj("role", "reader", "name", "x", "scope", "all"), nil, 400, "unknown_field", "scope"},
		{"name taken", "POST", "/v1/tokens", obj("role", "reader", "name", "ops"), nil, 409, "token_name_taken", "name"},
		{"bootstrap name", "POST", "/v1/tokens", obj("role", "reader", "name", "admin"), nil, 409, "token_name_taken", "name"},
		{"idempotency key", "POST", "/v1/tokens", obj("role", "reader", "name", "y"), []string{"Idempotency-Key", "k1"}, 400, "invalid_header", "Idempotency-Key"},
		{"revoke twice", "DELETE", "/v1/tokens/" + readerID, "", nil, 409, "token_already_revoked", "id"},
		{"revoke unknown", "DELETE", "/v1/tokens/tok_nope", "", nil, 404, "unknown_token", "id"},
		{"revoke the bootstrap token", "DELETE", "/v1/tokens/" + auth.BootstrapID, "", nil, 404, "unknown_token", "id"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := h.head()
			r := h.do(tc.method, tc.path, []byte(tc.body), tc.headers...)
			assert.Equal(t, tc.status, r.status, "%s", r.body)
			code, field := r.errorCode(t)
			assert.Equal(t, tc.code, code)
			assert.Equal(t, tc.field, field)
			assert.Equal(t, before, h.head())
		})
	}
}

// A token over its budget gets 429 rate_limited with Retry-After; other tokens keep theirs.
func TestRateLimit(t *testing.T) {
	// A tiny refill rate: nothing refills while the test runs, however slow the machine.
	h := newHarnessWith(t, httpapi.Options{RateLimit: &auth.Rate{PerSecond: 0.001, Burst: 3}})
	secret, _ := h.issue(auth.RoleReader, "busy") // the admin token spends one
	busy := h.as(secret)
	for i := range 3 {
		assert.Equal(t, http.StatusOK, busy.get("/readyz").status, "public routes are not counted")
		assert.Equal(t, http.StatusNotFound, busy.get("/v1/customers/ACME").status, "request %d", i)
	}
	r := busy.get("/v1/customers/ACME")
	assert.Equal(t, http.StatusTooManyRequests, r.status)
	code, _ := r.errorCode(t)
	assert.Equal(t, "rate_limited", code)
	assert.NotEmpty(t, r.header.Get("Retry-After"))
	assert.Equal(t, http.StatusOK, h.get("/v1/tokens").status, "the admin token has its own bucket")
}

// Without a token registry (encoursd --auth off) every request acts as the configured actor,
// and the token routes say why they are missing.
func TestAuthOff(t *testing.T) {
	store, err := embedded.Open(t.TempDir(), embedded.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	clock := command.NewManualClock(testToday)
	srv := httptest.NewServer(httpapi.New(command.New(store, clock, command.Options{}), store, httpapi.Options{Clock: clock, Actor: "demo"}))
	t.Cleanup(srv.Close)
	h := &harness{t: t, srv: srv, store: store, clock: clock}
	h.mustPost("/v1/customers", customerBody("ACME", "EUR", 1), "Authorization", "")
	events, err := store.ReadStream(context.Background(), "customer-ACME", 1, 1)
	require.NoError(t, err)
	assert.Equal(t, "demo", events[0].Actor)
	r := h.get("/v1/tokens")
	assert.Equal(t, http.StatusNotFound, r.status)
	code, _ := r.errorCode(t)
	assert.Equal(t, "route_not_found", code)
}

// GET /v1/tokens answers pages of limit from offset, in issue order, with the total and the
// next page's offset; the pages together list every token once.
func TestTokensPaginate(t *testing.T) {
	h := newHarness(t)
	for i := range 5 {
		h.issue(auth.RoleReader, fmt.Sprintf("page-%d", i))
	}
	type page struct {
		Tokens []struct {
			Name string `json:"name"`
		} `json:"tokens"`
		Total      int  `json:"total"`
		NextOffset *int `json:"next_offset"`
	}
	var names []string
	for offset := 0; ; {
		r := h.as(adminToken).get(fmt.Sprintf("/v1/tokens?limit=2&offset=%d", offset))
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		var p page
		r.decode(t, &p)
		assert.Equal(t, 5, p.Total)
		for _, tk := range p.Tokens {
			names = append(names, tk.Name)
		}
		if p.NextOffset == nil {
			break
		}
		offset = *p.NextOffset
	}
	assert.Equal(t, []string{"page-0", "page-1", "page-2", "page-3", "page-4"}, names)
	for _, bad := range []string{"/v1/tokens?limit=0", "/v1/tokens?limit=1001", "/v1/tokens?offset=-1"} {
		r := h.as(adminToken).get(bad)
		assert.Equal(t, http.StatusBadRequest, r.status, bad)
		assert.Contains(t, string(r.body), `"invalid_query"`, bad)
	}
}
