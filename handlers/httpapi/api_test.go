package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/handlers/auth"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/handlers/httpapi"
)

// Every write route, in an order a customer's life could take, answers 201 with the
// stream, its new version, the log position and one event id, and the log grows by exactly
// the events reported. The customer read then shows the outcome.
func TestWriteRoutesHappyPath(t *testing.T) {
	h := newHarness(t)
	steps := []struct {
		path, body string
	}{
		{"/v1/customers", customerBody("ACME", "EUR", 5_000_000)},
		{"/v1/customers/ACME/credit-limit", obj("amount", 6_000_000, "reason", "growth", "approved_by", "cfo")},
		{"/v1/invoices", invoiceBody("ACME", "I1", 100_000)},
		{"/v1/invoices", invoiceBody("ACME", "I2", 200_000)},
		{"/v1/invoices", invoiceBody("ACME", "I3", 300_000)},
		{"/v1/invoices", invoiceBody("ACME", "I4", 50_000)},
		{"/v1/payments", obj("customer_id", "ACME", "payment_id", "P1", "amount", 150_000, "currency", "EUR",
			"received_on", "2026-02-10", "allocations", json.RawMessage(`[{"invoice_id":"I1","amount":100000}]`))},
		{"/v1/payments/P1/allocations", obj("allocations", json.RawMessage(`[{"invoice_id":"I2","amount":50000}]`))},
		{"/v1/credit-notes", obj("customer_id", "ACME", "credit_note_id", "CN1", "invoice_id", "I4", "amount", 10_000,
			"currency", "EUR", "issue_date", "2026-02-01", "reason", "discount")},
		{"/v1/credit-notes", obj("customer_id", "ACME", "credit_note_id", "CN2", "amount", 5_000,
			"currency", "EUR", "issue_date", "2026-02-01")},
		{"/v1/credit-notes/CN2/allocations", obj("allocations", json.RawMessage(`[{"invoice_id":"I4","amount":5000}]`))},
		{"/v1/invoices/I2/dispute", obj("reason", "damaged goods")},
		{"/v1/invoices/I2/dispute-resolution", obj("outcome", "rejected", "note", "photos show no damage")},
		{"/v1/customers/ACME/payment-plans", obj("plan_id", "PL1", "invoice_ids", []string{"I2"},
			"instalments", json.RawMessage(`[{"due_date":"2026-04-01","amount":75000},{"due_date":"2026-05-01","amount":75000}]`))},
		{"/v1/customers/ACME/promises", obj("promise_id", "PR1", "amount", 35_000, "promised_for", "2026-03-15", "invoice_ids", []string{"I4"})},
		{"/v1/customers/ACME/reminders", obj("invoice_id", "I3", "level", 1, "channel", "email")},
		{"/v1/customers/ACME/ratings", obj("agency", "Banque de France", "score", 72, "grade", "4+")},
		{"/v1/customers/ACME/insurance", obj("insurer", "Allianz Trade", "covered", 3_000_000, "declaration_days", 60)},
		{"/v1/invoices/I3/write-off", obj("reason", "insolvency")},
		{"/v1/payments", obj("customer_id", "ACME", "payment_id", "P2", "amount", 20_000, "currency", "EUR", "received_on", "2026-02-20")},
		{"/v1/payments/P2/reversal", obj("reason", "bounced")},
		{"/v1/payments/P1/reversal", ""}, // every field optional: an empty body is {}
	}
	for i, s := range steps {
		before := h.head()
		a := h.mustPost(s.path, s.body)
		assert.Equal(t, "customer-ACME", a.Stream, s.path)
		assert.Equal(t, uint64(i+1), a.StreamVersion, s.path)
		assert.Equal(t, before+1, a.Position, s.path)
		assert.Len(t, a.EventIDs, 1, s.path)
		assert.Equal(t, a.Position, h.head(), s.path)
	}

	var c struct {
		ID            string `json:"id"`
		Currency      string `json:"currency"`
		CreditLimit   int64  `json:"credit_limit"`
		Exposure      int64  `json:"exposure"`
		UtilisationBP *int64 `json:"utilisation_bp"`
		OpenItems     []struct {
			InvoiceID   string `json:"invoice_id"`
			OpenAmount  int64  `json:"open_amount"`
			DaysOverdue int    `json:"days_overdue"`
		} `json:"open_items"`
		UnallocatedCash int64  `json:"unallocated_cash"`
		OpenCredit      int64  `json:"open_credit"`
		StreamVersion   uint64 `json:"stream_version"`
		InsuredCover    int64  `json:"insured_cover"`
		AsOf            string `json:"as_of"`
	}
	r := h.get("/v1/customers/ACME")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r.decode(t, &c)
	assert.Equal(t, "ACME", c.ID)
	assert.Equal(t, int64(6_000_000), c.CreditLimit)
	assert.Equal(t, uint64(len(steps)), c.StreamVersion)
	assert.Equal(t, "2026-03-02", c.AsOf)
	assert.Equal(t, int64(3_000_000), c.InsuredCover)
	// After both reversals: I1 100 000 and I2 200 000 open again, I4 50 000 − 10 000 − 5 000;
	// I3 written off; no cash on account; no credit standing.
	assert.Equal(t, int64(335_000), c.Exposure)
	require.NotNil(t, c.UtilisationBP)
	assert.Equal(t, int64(558), *c.UtilisationBP) // 335 000 / 6 000 000 = 5.583 %
	assert.Equal(t, int64(0), c.UnallocatedCash)
	assert.Equal(t, int64(0), c.OpenCredit)
	require.Len(t, c.OpenItems, 3)
	for _, it := range c.OpenItems {
		assert.Equal(t, 26, it.DaysOverdue, it.InvoiceID) // due 2026-02-04, as of 2026-03-02
	}

	r = h.get("/v1/customers/ACME?as_of=2026-02-05")
	require.Equal(t, http.StatusOK, r.status)
	r.decode(t, &c)
	assert.Equal(t, 1, c.OpenItems[0].DaysOverdue)

	r = h.get("/v1/customers/NOPE")
	assert.Equal(t, http.StatusNotFound, r.status)
	code, _ := r.errorCode(t)
	assert.Equal(t, "unknown_customer", code)
}

// An invoice above the credit limit is recorded — it is a fact — and the answer warns.
func TestInvoiceAboveLimitWarns(t *testing.T) {
	h := newHarness(t)
	h.mustPost("/v1/customers", customerBody("ACME", "EUR", 100_000))
	a := h.mustPost("/v1/invoices", invoiceBody("ACME", "I1", 150_000))
	require.Len(t, a.Warnings, 1)
	assert.Equal(t, "credit_limit_exceeded", a.Warnings[0].Code)
	a = h.mustPost("/v1/invoices", obj("customer_id", "ACME", "invoice_id", "I2", "number", "N2", "amount", 1,
		"currency", "EUR", "issue_date", "2026-01-05", "due_date", "2026-06-30"))
	codes := []string{}
	for _, w := range a.Warnings {
		codes = append(codes, w.Code)
	}
	assert.ElementsMatch(t, []string{"payment_terms_beyond_legal_cap", "credit_limit_exceeded"}, codes)
	// A due date from the customer's terms when the request gives none.
	a = h.mustPost("/v1/invoices", obj("customer_id", "ACME", "invoice_id", "I3", "number", "N3", "amount", 1,
		"currency", "EUR", "issue_date", "2026-01-05"))
	r := h.get("/v1/customers/ACME/events?from=" + fmt.Sprint(a.StreamVersion))
	require.Equal(t, http.StatusOK, r.status)
	assert.Contains(t, string(r.body), `"due_date":"2026-02-04"`, "net 30 from 2026-01-05")
}

// A retry with the same Idempotency-Key and body gets the first answer byte for byte and
// appends nothing; the same key with another body is 409 idempotency_key_reused.
func TestIdempotentRetry(t *testing.T) {
	h := newHarness(t)
	h.mustPost("/v1/customers", customerBody("ACME", "EUR", 100_000))
	body := invoiceBody("ACME", "I1", 150_000) // above the limit: the answer carries a warning
	first := h.post("/v1/invoices", body, "Idempotency-Key", "erp-I1")
	require.Equal(t, http.StatusCreated, first.status, "%s", first.body)
	require.Contains(t, string(first.body), "credit_limit_exceeded")
	head := h.head()

	again := h.post("/v1/invoices", body, "Idempotency-Key", "erp-I1")
	assert.Equal(t, http.StatusCreated, again.status)
	assert.Equal(t, string(first.body), string(again.body))
	assert.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	assert.Equal(t, head, h.head())

	other := h.post("/v1/invoices", invoiceBody("ACME", "I2", 1), "Idempotency-Key", "erp-I1")
	assert.Equal(t, http.StatusConflict, other.status)
	code, _ := other.errorCode(t)
	assert.Equal(t, "idempotency_key_reused", code)

	// The same body on another route is another request.
	other = h.post("/v1/customers/ACME/ratings", obj("agency", "x", "score", 1), "Idempotency-Key", "erp-I1")
	assert.Equal(t, http.StatusConflict, other.status)
	assert.Equal(t, head, h.head())

	// Without a key, the same body is decided again, and refused as a duplicate.
	dup := h.post("/v1/invoices", body)
	assert.Equal(t, http.StatusConflict, dup.status)
	code, _ = dup.errorCode(t)
	assert.Equal(t, "duplicate_invoice", code)
}

// Concurrent payments on one customer, each allocating to the same invoice: every answer is
// 201 or 409 (the invoice was already settled, or the stream moved), nothing else, and the
// stream's versions and the log's positions stay contiguous.
func TestConcurrentPaymentsOneCustomer(t *testing.T) {
	h := newHarness(t)
	h.mustPost("/v1/customers", customerBody("ACME", "EUR", 5_000_000))
	h.mustPost("/v1/invoices", invoiceBody("ACME", "I1", 100_000))
	const clients = 12
	statuses := make([]int, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			allocs := `[{"invoice_id":"I1","amount":40000}]`
			if i%3 == 0 {
				allocs = `[]`
			}
			r := h.post("/v1/payments", obj("customer_id", "ACME", "payment_id", fmt.Sprintf("P%d", i), "amount", 40_000,
				"currency", "EUR", "received_on", "2026-02-10", "allocations", json.RawMessage(allocs)))
			statuses[i] = r.status
		})
	}
	wg.Wait()
	created := 0
	for i, s := range statuses {
		assert.Contains(t, []int{http.StatusCreated, http.StatusConflict}, s, "client %d", i)
		if s == http.StatusCreated {
			created++
		}
	}
	assert.GreaterOrEqual(t, created, 3, "at least the two explicit allocations that fit and the payments on account")

	events, err := h.store.ReadStream(context.Background(), "customer-ACME", 1, 1000)
	require.NoError(t, err)
	require.Len(t, events, 2+created)
	for i, e := range events {
		assert.Equal(t, uint64(i+1), e.StreamVersion)
	}
	all, err := h.store.ReadAll(context.Background(), 1, 1000)
	require.NoError(t, err)
	for i, e := range all {
		assert.Equal(t, uint64(i+1), e.Position)
	}
}

// /v1/events pages through the whole log with next, without gaps or repeats; the stream
// read does the same by version; bad parameters are 400.
func TestEventsPagination(t *testing.T) {
	h := newHarness(t)
	h.mustPost("/v1/customers", customerBody("ACME", "EUR", 5_000_000))
	h.mustPost("/v1/customers", customerBody("BETA", "EUR", 5_000_000))
	for i := range 5 {
		h.mustPost("/v1/invoices", invoiceBody("ACME", fmt.Sprintf("A%d", i), 100))
		h.mustPost("/v1/invoices", invoiceBody("BETA", fmt.Sprintf("B%d", i), 100))
	}
	head := h.head()
	require.Equal(t, uint64(12), head)

	type page struct {
		Events []struct {
			EventID       string          `json:"event_id"`
			Stream        string          `json:"stream"`
			StreamVersion uint64          `json:"stream_version"`
			Position      uint64          `json:"position"`
			Type          string          `json:"type"`
			Data          json.RawMessage `json:"data"`
			Hash          string          `json:"hash"`
			PrevHash      string          `json:"prev_hash"`
		} `json:"events"`
		Next uint64  `json:"next"`
		Head *uint64 `json:"head"`
	}
	var seen []uint64
	next := uint64(1)
	prevHash := strings.Repeat("0", 64)
	for range 20 { // bounded: 12 events at 5 a page
		r := h.get(fmt.Sprintf("/v1/events?from=%d&limit=5", next))
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		var p page
		r.decode(t, &p)
		require.NotNil(t, p.Head)
		assert.Equal(t, head, *p.Head)
		for _, e := range p.Events {
			seen = append(seen, e.Position)
			assert.Equal(t, prevHash, e.PrevHash, "the chain links position %d", e.Position)
			prevHash = e.Hash
		}
		if len(p.Events) == 0 {
			assert.Equal(t, next, p.Next)
			break
		}
		next = p.Next
	}
	want := make([]uint64, head)
	for i := range want {
		want[i] = uint64(i + 1)
	}
	assert.Equal(t, want, seen)

	var p page
	r := h.get("/v1/customers/BETA/events?from=2&limit=2")
	require.Equal(t, http.StatusOK, r.status)
	r.decode(t, &p)
	require.Len(t, p.Events, 2)
	assert.Equal(t, uint64(2), p.Events[0].StreamVersion)
	assert.Equal(t, "InvoiceIssued", p.Events[0].Type)
	assert.Equal(t, uint64(4), p.Next)
	assert.Nil(t, p.Head)

	for _, q := range []string{"/v1/events?limit=0", "/v1/events?limit=1001", "/v1/events?from=x", "/v1/events?from=-1"} {
		r := h.get(q)
		assert.Equal(t, http.StatusBadRequest, r.status, q)
		code, _ := r.errorCode(t)
		assert.Equal(t, "invalid_query", code, q)
	}
	r = h.get("/v1/events?from=1")
	r.decode(t, &p)
	assert.Len(t, p.Events, 12, "default limit 100")
	r = h.get("/v1/customers/NOPE/events")
	assert.Equal(t, http.StatusNotFound, r.status)
}

// Health, readiness, the correlation id, the manual clock, and what a failed store looks
// like from outside.
func TestOperations(t *testing.T) {
	h := newHarness(t)
	assert.Equal(t, http.StatusOK, h.get("/healthz").status)
	assert.Equal(t, http.StatusOK, h.get("/readyz").status)

	r := h.do(http.MethodGet, "/healthz", nil, "X-Correlation-Id", "trace-42")
	assert.Equal(t, "trace-42", r.header.Get("X-Correlation-Id"))
	r = h.get("/healthz")
	assert.Regexp(t, `^[0-9a-f]{32}$`, r.header.Get("X-Correlation-Id"))

	// The manual clock sets the default business date.
	r = h.post("/v1/clock", obj("date", "2026-04-01"))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	h.mustPost("/v1/customers", customerBody("ACME", "EUR", 1))
	events, err := h.store.ReadStream(context.Background(), "customer-ACME", 1, 1)
	require.NoError(t, err)
	assert.Equal(t, "2026-04-01", events[0].EffectiveOn.String())
	r = h.post("/v1/clock", obj("date", "2026-13-01"))
	assert.Equal(t, http.StatusBadRequest, r.status)

	// A closed store: writes are 500 "internal error" with no detail, readiness is 503.
	require.NoError(t, h.store.Close())
	r = h.post("/v1/customers", customerBody("BETA", "EUR", 1), "X-Correlation-Id", "corr-closed")
	assert.Equal(t, http.StatusInternalServerError, r.status)
	assert.JSONEq(t, `{"error":{"code":"internal","message":"internal error"}}`, string(r.body))
	assert.Equal(t, http.StatusServiceUnavailable, h.get("/readyz").status)
}

// Two command services on one store stand for two API nodes: each one's cached state goes
// stale when the other appends, so concurrent payments on one hot customer really race in the
// store. The service retries a lost race internally (reload, decide, append: up to 5 rounds,
// command.appendRetriesMax), so most races end in a 201; a client gets 409 version_conflict
// only when all its rounds lost. Every answer is one of the two, the stream stays contiguous
// with exactly one event per 201, and the customer's balances equal those of a serial run of
// the winners' commands, in the order the log holds them, on a fresh store.
func TestConcurrentPaymentsTwoNodes(t *testing.T) {
	h := newHarness(t)
	otherTokens, err := auth.Open(context.Background(), h.store, auth.Options{Clock: h.clock, Bootstrap: adminToken})
	require.NoError(t, err)
	other := httptest.NewServer(httpapi.New(command.New(h.store, h.clock, command.Options{}), h.store, httpapi.Options{Clock: h.clock, Tokens: otherTokens}))
	t.Cleanup(other.Close)
	post := func(url, body string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, url, strings.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+adminToken)
		return http.DefaultClient.Do(req)
	}
	setup := func(h *harness) {
		h.mustPost("/v1/customers", customerBody("ACME", "EUR", 5_000_000))
		for i, amount := range []int64{30_000, 50_000, 70_000} {
			h.mustPost("/v1/invoices", obj("customer_id", "ACME", "invoice_id", fmt.Sprintf("I%d", i+1), "number", fmt.Sprintf("N%d", i+1),
				"amount", amount, "currency", "EUR", "issue_date", fmt.Sprintf("2026-01-0%d", i+1), "due_date", fmt.Sprintf("2026-02-0%d", i+1)))
		}
	}
	setup(h)

	// Payments settle the oldest invoices first, so the order they land in decides which
	// invoice each one settles; some name their invoice, and lose with a 409 once it is paid.
	const perNode = 16
	body := func(i int) string {
		if i%4 == 3 {
			return obj("customer_id", "ACME", "payment_id", fmt.Sprintf("P%d", i), "amount", 20_000, "currency", "EUR",
				"received_on", "2026-02-10", "allocations", json.RawMessage(`[{"invoice_id":"I3","amount":20000}]`))
		}
		return obj("customer_id", "ACME", "payment_id", fmt.Sprintf("P%d", i), "amount", 7_000+1_000*(i%5),
			"currency", "EUR", "received_on", "2026-02-10")
	}
	type answer struct {
		status   int
		code     string
		position uint64
	}
	answers := make([]answer, 2*perNode)
	var wg sync.WaitGroup
	for i := range answers {
		wg.Go(func() {
			base := h.srv.URL
			if i%2 == 1 {
				base = other.URL
			}
			resp, err := post(base+"/v1/payments", body(i))
			if !assert.NoError(t, err) {
				return
			}
			defer resp.Body.Close()
			var e struct {
				Position uint64
				Error    struct{ Code string } `json:"error"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&e)
			answers[i] = answer{resp.StatusCode, e.Error.Code, e.Position}
		})
	}
	wg.Wait()
	created, conflicts, refused := 0, 0, 0
	var winners []int
	for i, a := range answers {
		switch {
		case a.status == http.StatusCreated:
			created++
			winners = append(winners, i)
		case a.status == http.StatusConflict && a.code == "version_conflict":
			conflicts++
		case a.status == http.StatusConflict && (a.code == "allocation_exceeds_open_amount" || a.code == "invoice_closed") && i%4 == 3:
			refused++ // I3 was (partly or wholly) settled by earlier payments: decided on the current state, refused
		default:
			t.Errorf("client %d: status %d (%s), want 201 or 409 version_conflict", i, a.status, a.code)
		}
	}
	assert.Positive(t, created)
	resp, err := post(other.URL+"/v1/clock", `{"date":"2026-01-01"}`)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "no clock route without a manual clock")
	t.Logf("%d of %d payments appended, %d answered version_conflict (retries exhausted), %d refused (I3 settled)",
		created, len(answers), conflicts, refused)
	events, err := h.store.ReadStream(context.Background(), "customer-ACME", 1, 1000)
	require.NoError(t, err)
	require.Len(t, events, 4+created)
	for i, e := range events {
		assert.Equal(t, uint64(i+1), e.StreamVersion)
	}

	// The winners again, one at a time in log order, on a fresh store: the same balances.
	sort.Slice(winners, func(a, b int) bool { return answers[winners[a]].position < answers[winners[b]].position })
	serial := newHarness(t)
	setup(serial)
	for _, i := range winners {
		serial.mustPost("/v1/payments", body(i))
	}
	type balances struct {
		Exposure        int64 `json:"exposure"`
		UnallocatedCash int64 `json:"unallocated_cash"`
		OpenItems       []struct {
			InvoiceID  string `json:"invoice_id"`
			OpenAmount int64  `json:"open_amount"`
		} `json:"open_items"`
		StreamVersion uint64 `json:"stream_version"`
	}
	// A third node, started now, reads the store as it is (the two racing nodes' caches each
	// lag behind the other's appends).
	third := &harness{t: t, store: h.store, token: adminToken,
		srv: httptest.NewServer(httpapi.New(command.New(h.store, h.clock, command.Options{}), h.store, httpapi.Options{Clock: h.clock, Tokens: otherTokens}))}
	t.Cleanup(third.srv.Close)
	var raced, serialRun balances
	r := third.get("/v1/customers/ACME")
	require.Equal(t, http.StatusOK, r.status)
	r.decode(t, &raced)
	r = serial.get("/v1/customers/ACME")
	require.Equal(t, http.StatusOK, r.status)
	r.decode(t, &serialRun)
	assert.Equal(t, serialRun, raced, "the race's balances are a serial run's")
}
