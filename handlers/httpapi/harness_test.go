package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/auth"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/handlers/httpapi"
)

// testToday is the manual clock's date in every HTTP test.
var testToday = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// adminToken is the bootstrap admin token of every harness (ENCOURS_ADMIN_TOKEN).
const adminToken = "test-admin-token-0123456789abcdef-0123456789"

// harness is a real server (httptest) over the real embedded store in a temporary directory,
// with a manual clock and authentication on. Requests carry token (adminToken unless set).
type harness struct {
	t       *testing.T
	srv     *httptest.Server
	store   *embedded.Store
	clock   *command.ManualClock
	tokens  *auth.Tokens
	metrics *httpapi.Metrics
	token   string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, httpapi.Options{})
}

// newHarnessWith starts a harness with opts, its store, clocks, tokens and metrics filled
// in, wired as the daemon wires them: everything appends through the measured store.
func newHarnessWith(t *testing.T, opts httpapi.Options) *harness {
	t.Helper()
	store, err := embedded.Open(t.TempDir(), embedded.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() }) // runs after the server's Close below (LIFO)
	clock := command.NewManualClock(testToday)
	metrics := httpapi.NewMetrics()
	measured := metrics.InstrumentStore(store)
	tokens, err := auth.Open(context.Background(), measured, auth.Options{Clock: clock, Bootstrap: adminToken})
	require.NoError(t, err)
	svc := command.New(measured, clock, command.Options{})
	opts.Clock, opts.ManualClock, opts.Tokens, opts.Metrics = clock, clock, tokens, metrics
	srv := httptest.NewServer(httpapi.New(svc, measured, opts))
	t.Cleanup(srv.Close)
	return &harness{t: t, srv: srv, store: store, clock: clock, tokens: tokens, metrics: metrics, token: adminToken}
}

// as returns a harness sending token instead, on the same server.
func (h *harness) as(token string) *harness {
	c := *h
	c.token = token
	return &c
}

// response is one answer, its body kept as bytes for byte-for-byte comparisons.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorCode returns error.code and error.field of an error body.
func (r response) errorCode(t *testing.T) (code, field string) {
	t.Helper()
	var b struct {
		Error struct {
			Code, Message, Field string
		} `json:"error"`
	}
	require.NoError(t, json.Unmarshal(r.body, &b), "body %s", r.body)
	return b.Error.Code, b.Error.Field
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(r.body, v), "body %s", r.body)
}

// do sends a request; headers are name, value pairs. A JSON Content-Type and the harness's
// bearer token are set unless a header pair names another (or "" to send none).
func (h *harness) do(method, path string, body []byte, headers ...string) response {
	h.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, h.srv.URL+path, bytes.NewReader(body))
	require.NoError(h.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+h.token)
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	require.NoError(h.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func (h *harness) post(path, body string, headers ...string) response {
	h.t.Helper()
	return h.do(http.MethodPost, path, []byte(body), headers...)
}

func (h *harness) get(path string) response {
	h.t.Helper()
	return h.do(http.MethodGet, path, nil)
}

// mustPost posts and requires a 201.
func (h *harness) mustPost(path, body string, headers ...string) appended {
	h.t.Helper()
	r := h.post(path, body, headers...)
	require.Equal(h.t, http.StatusCreated, r.status, "POST %s %s: %s", path, body, r.body)
	var a appended
	r.decode(h.t, &a)
	return a
}

// appended is the 201 body.
type appended struct {
	Stream        string   `json:"stream"`
	StreamVersion uint64   `json:"stream_version"`
	Position      uint64   `json:"position"`
	EventIDs      []string `json:"event_ids"`
	Warnings      []struct {
		Code, Message string
	} `json:"warnings"`
}

func (h *harness) head() uint64 {
	h.t.Helper()
	hd, err := h.store.Head(context.Background())
	require.NoError(h.t, err)
	return hd.Position
}

// obj builds a JSON object body from alternating keys and values, in order.
func obj(kv ...any) string {
	var b strings.Builder
	b.WriteByte('{')
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(kv[i])
		b.Write(k)
		b.WriteByte(':')
		if raw, ok := kv[i+1].(json.RawMessage); ok {
			b.Write(raw)
			continue
		}
		v, _ := json.Marshal(kv[i+1])
		b.Write(v)
	}
	b.WriteByte('}')
	return b.String()
}

func customerBody(id, ccy string, limit int64) string {
	return obj("id", id, "name", id+" SAS", "country", "FR", "sector", "C25", "segment", "sme",
		"currency", ccy, "terms_days", 30, "credit_limit", limit)
}

func invoiceBody(customer, invoice string, amount int64) string {
	return obj("customer_id", customer, "invoice_id", invoice, "number", "N-"+invoice, "amount", amount,
		"currency", "EUR", "issue_date", "2026-01-05", "due_date", "2026-02-04")
}
