package reports

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/handlers/ingest"
)

type stepClock struct{ t time.Time }

func (c *stepClock) Now() time.Time { return c.t }

// ledgerCSV: two customers. ACME's F1 (1 250,00, due 2025-12-01) is paid on 2026-01-05, after
// year end; BETA's B1 (100,00 due 2025-12-20) is unpaid.
const ledgerCSV = "customer_id,currency,invoice_id,issue_date,due_date,amount,paid_date\n" +
	"ACME,EUR,F1,2025-11-01,2025-12-01,1250.00,2026-01-05\n" +
	"BETA,EUR,B1,2025-11-20,2025-12-20,100.00,\n"

// newLog imports ledgerCSV at 2026-01-08 (the first batch) and a late posting recorded on
// 2026-01-12 but effective 2025-12-15 (a second BETA invoice), so that "as known on 10
// January" and "as known now" differ.
func newLog(t *testing.T) (*embedded.Store, time.Time) {
	t.Helper()
	clk := &stepClock{t: time.Date(2026, 1, 8, 9, 0, 0, 0, time.UTC)}
	st, err := embedded.Open(t.TempDir(), embedded.Options{Clock: clk.Now})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	svc := command.New(st, clk, command.Options{})
	_, err = ingest.Run(context.Background(), svc, func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(ledgerCSV)), nil },
		ingest.Formats["generic"], ingest.Options{Actor: "erp"})
	require.NoError(t, err)
	clk.t = time.Date(2026, 1, 12, 9, 0, 0, 0, time.UTC)
	_, err = svc.Execute(context.Background(), domain.IssueInvoice{CustomerID: "BETA", InvoiceID: "B2", Number: "B2",
		Amount: domain.Money{Minor: 5000, Ccy: "EUR"}, IssueDate: domain.MustDate("2025-12-15"), DueDate: domain.MustDate("2025-12-15")}, command.Meta{Actor: "late"})
	require.NoError(t, err)
	return st, time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)
}

// TestExportIsDeterministicAndAsKnownAt is journey 3, steps 1–2: the aged balance as of 31
// December as known on 10 January is the same bytes every time, leaves out the late posting,
// and its manifest names the log position it was computed from.
func TestExportIsDeterministicAndAsKnownAt(t *testing.T) {
	ctx := context.Background()
	st, jan10 := newLog(t)
	asOf := domain.MustDate("2025-12-31")
	a1, m1, err := Export(ctx, st, ReportAging, FormatCSV, asOf, &jan10)
	require.NoError(t, err)
	a2, m2, err := Export(ctx, st, ReportAging, FormatCSV, asOf, &jan10)
	require.NoError(t, err)
	assert.Equal(t, a1, a2, "same log, same parameters: same bytes")
	assert.Equal(t, m1, m2)
	// 31 Dec: ACME's F1 is 30 days past due (1–30); BETA's B1 11 days past due. B2 was not
	// known on 10 January.
	want := "customer_id,name,segment,currency,not_due,1-30,31-60,61-90,91-120,over_120,total,overdue,exposure\n" +
		"ACME,ACME,,EUR,0.00,1250.00,0.00,0.00,0.00,0.00,1250.00,1250.00,1250.00\n" +
		"BETA,BETA,,EUR,0.00,100.00,0.00,0.00,0.00,0.00,100.00,100.00,100.00\n"
	assert.Equal(t, want, string(a1))
	assert.Equal(t, uint64(5), m1.Position, "register×2, invoice×2, payment: the events known on 10 January")

	now, mNow, err := Export(ctx, st, ReportAging, FormatCSV, asOf, nil)
	require.NoError(t, err)
	assert.Contains(t, string(now), "BETA,BETA,,EUR,0.00,150.00,", "as known now, the late posting counts")
	assert.Equal(t, uint64(6), mNow.Position)

	j, _, err := Export(ctx, st, ReportJournal, FormatCSV, asOf, &jan10)
	require.NoError(t, err)
	assert.Equal(t, 1+4, strings.Count(string(j), "\n"), "header + the 4 events effective by 31 Dec and known on 10 Jan:\n%s", j)
}

// TestHTTPReads serves the read routes over a live-less ledger (every read replays) and checks
// the portfolio's exposure and the aging CSV against the same figures.
func TestHTTPReads(t *testing.T) {
	st, _ := newLog(t)
	h := NewHTTP(NewLedger(nil, st), st, &stepClock{t: time.Date(2026, 1, 12, 12, 0, 0, 0, time.UTC)}, nil)
	mux := http.NewServeMux()
	for _, r := range h.Routes() {
		mux.HandleFunc(r.Pattern, r.Handler)
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()

	get := func(path string) (*http.Response, []byte) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, b
	}
	resp, body := get("/v1/portfolio?as_of=2025-12-31")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var p struct {
		Basis Basis `json:"basis"`
		Data  struct {
			Figures struct {
				Exposure domain.Money `json:"exposure"`
			} `json:"figures"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &p))
	assert.Equal(t, int64(125000+10000+5000), p.Data.Figures.Exposure.Minor)
	assert.Equal(t, "6", resp.Header.Get("X-Encours-Position"))

	resp, body = get("/v1/aging?as_of=2025-12-31&known_at=2026-01-10T00:00:00Z&format=csv")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Contains(t, string(body), "BETA,BETA,,EUR,0.00,100.00,")

	resp, body = get("/v1/customers?as_of=2025-12-31&sort=exposure&limit=1")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var list struct {
		Data struct {
			Customers  []CustomerRow `json:"customers"`
			Total      int           `json:"total"`
			NextOffset *int          `json:"next_offset"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &list))
	require.Len(t, list.Data.Customers, 1)
	assert.Equal(t, domain.CustomerID("ACME"), list.Data.Customers[0].CustomerID, "largest exposure first")
	assert.Equal(t, 2, list.Data.Total)
	require.NotNil(t, list.Data.NextOffset)
	assert.Equal(t, 1, *list.Data.NextOffset)

	// A segment filter keeps only that segment's customers (these two have none).
	resp, body = get("/v1/customers?as_of=2025-12-31&segment=sme")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	list.Data.Customers = nil
	require.NoError(t, json.Unmarshal(body, &list))
	assert.Empty(t, list.Data.Customers)
	assert.Equal(t, 0, list.Data.Total)

	// One customer, at two dates: its own figures, and nothing before it was registered.
	resp, body = get("/v1/customers?as_of=2025-12-31&customer_id=BETA")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.NoError(t, json.Unmarshal(body, &list))
	require.Len(t, list.Data.Customers, 1)
	assert.Equal(t, domain.CustomerID("BETA"), list.Data.Customers[0].CustomerID)
	assert.Equal(t, int64(10000+5000), list.Data.Customers[0].Exposure.Minor, "B1 and the late B2")
	assert.Equal(t, 1, list.Data.Total)
	assert.Nil(t, list.Data.NextOffset)
	resp, body = get("/v1/customers?as_of=2000-01-31&customer_id=BETA")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	list.Data.Customers = nil
	require.NoError(t, json.Unmarshal(body, &list))
	assert.Empty(t, list.Data.Customers, "not yet registered")
	assert.Equal(t, 0, list.Data.Total)

	// The one-customer list replays only that customer's stream (and the rates): its row is
	// the one the whole log's replay gives, at every date and knowledge time.
	for _, q := range []string{"as_of=2025-11-25", "as_of=2025-12-20", "as_of=2025-12-31", "as_of=2026-01-31",
		"as_of=2025-12-31&known_at=2026-01-10T00:00:00Z"} {
		for _, id := range []string{"ACME", "BETA"} {
			var all, one struct {
				Basis Basis `json:"basis"`
				Data  struct {
					Customers []CustomerRow `json:"customers"`
				} `json:"data"`
			}
			resp, body = get("/v1/customers?" + q)
			require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
			require.NoError(t, json.Unmarshal(body, &all))
			resp, body = get("/v1/customers?customer_id=" + id + "&" + q)
			require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
			require.NoError(t, json.Unmarshal(body, &one))
			var want []CustomerRow
			for _, c := range all.Data.Customers {
				if c.CustomerID == domain.CustomerID(id) {
					want = append(want, c)
				}
			}
			assert.Equal(t, want, one.Data.Customers, "%s at %s", id, q)
			assert.False(t, one.Basis.Live, "a replay")
		}
	}

	resp, body = get("/v1/aging?as_of=31/12/2025")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(body), `"field":"as_of"`)

	resp, _ = get("/v1/simulations/default?customer_id=NOPE")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)

	resp, body = get("/v1/exports/aging?as_of=2025-12-31&known_at=2026-01-10T00:00:00Z")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	var man Manifest
	require.NoError(t, json.Unmarshal([]byte(resp.Header.Get("X-Encours-Manifest")), &man))
	assert.Equal(t, uint64(5), man.Position)
	direct, _, err := Export(context.Background(), st, ReportAging, FormatCSV, domain.MustDate("2025-12-31"), ptr(time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC)))
	require.NoError(t, err)
	assert.Equal(t, string(direct), string(body), "the API's export and the CLI's are the same bytes")
}

func ptr[T any](v T) *T { return &v }
