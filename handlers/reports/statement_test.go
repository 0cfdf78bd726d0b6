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
)

// statementLog records, through the command service, a customer with two invoices, a
// payment later reversed, a credit note against an invoice and a write-off: every kind of
// statement line, three of them corrections. It returns the store and the event id of each
// command's event by a short name.
func statementLog(t *testing.T) (*embedded.Store, map[string]string) {
	t.Helper()
	clk := &stepClock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	st, err := embedded.Open(t.TempDir(), embedded.Options{Clock: clk.Now})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	svc := command.New(st, clk, command.Options{})
	eur := func(minor int64) domain.Money { return domain.Money{Minor: minor, Ccy: "EUR"} }
	ids := map[string]string{}
	for _, c := range []struct {
		name string
		cmd  domain.Command
	}{
		{"register", domain.RegisterCustomer{CustomerID: "ACME", Name: "Acme SA", Country: "FR", Currency: "EUR", Terms: domain.Net(30),
			CreditLimit: eur(1_000_000), On: domain.MustDate("2026-01-01")}},
		{"F1", domain.IssueInvoice{CustomerID: "ACME", InvoiceID: "F1", Number: "2026-001", Amount: eur(100_000),
			IssueDate: domain.MustDate("2026-01-05"), DueDate: domain.MustDate("2026-02-04")}},
		{"F2", domain.IssueInvoice{CustomerID: "ACME", InvoiceID: "F2", Number: "2026-002", Amount: eur(50_000),
			IssueDate: domain.MustDate("2026-01-20"), DueDate: domain.MustDate("2026-02-19")}},
		{"P1", domain.RecordPayment{CustomerID: "ACME", PaymentID: "P1", Amount: eur(100_000), ReceivedOn: domain.MustDate("2026-02-03"),
			Allocations: []domain.Allocation{{InvoiceID: "F1", Amount: eur(100_000)}}}},
		{"CN1", domain.IssueCreditNote{CustomerID: "ACME", CreditNoteID: "CN1", InvoiceID: "F2", Amount: eur(20_000),
			IssueDate: domain.MustDate("2026-02-10"), Reason: "damaged goods"}},
		{"P1-reversed", domain.ReversePayment{PaymentID: "P1", On: domain.MustDate("2026-02-15"), Reason: "bounced"}},
		{"F2-written-off", domain.WriteOffInvoice{InvoiceID: "F2", On: domain.MustDate("2026-02-20"), Reason: "settled"}},
	} {
		res, err := svc.Execute(context.Background(), c.cmd, command.Meta{Actor: "clerk"})
		require.NoError(t, err, c.name)
		require.Len(t, res.EventIDs, 1, c.name)
		ids[c.name] = res.EventIDs[0]
	}
	return st, ids
}

// Goal: the statement export is the ledger's figures with the events behind them, the same
// bytes every time, and each correction names what it corrects (document and event).
// Method: a worked example, with the arithmetic beside each row, exported twice as CSV and
// once as JSON, and once through the API.
func TestStatementExport(t *testing.T) {
	ctx := context.Background()
	st, ids := statementLog(t)
	req := Request{Report: ReportStatement, Format: FormatCSV, AsOf: domain.MustDate("2026-02-28"), CustomerID: "ACME", From: domain.MustDate("2026-02-01")}
	out, man, err := ExportRequest(ctx, st, req)
	require.NoError(t, err)
	again, man2, err := ExportRequest(ctx, st, req)
	require.NoError(t, err)
	assert.Equal(t, out, again, "same log, same parameters: same bytes")
	assert.Equal(t, man, man2)

	// Positions: register 1, F1 2, F2 3, P1 4, CN1 5, reversal 6, write-off 7.
	want := "date,kind,document,number,due_date,corrects,debit,credit,balance,position,event_id,actor,causation_id,corrects_event_id,not_due,1-30,31-60,61-90,91-120,over_120,overdue\n" +
		// opening at 31 January: F1 1000.00 + F2 500.00 = 1500.00
		"2026-01-31,opening_balance,ACME,Acme SA,,,,,1500.00,,,,,,,,,,,,\n" +
		// P1 received 3 February: 1500.00 − 1000.00 = 500.00
		"2026-02-03,payment,P1,,,,0.00,1000.00,500.00,4," + ids["P1"] + ",clerk,,,,,,,,,\n" +
		// CN1 against F2, 10 February: 500.00 − 200.00 = 300.00; it corrects F2's invoice event
		"2026-02-10,credit_note,CN1,,,F2,0.00,200.00,300.00,5," + ids["CN1"] + ",clerk," + ids["F2"] + "," + ids["F2"] + ",,,,,,,\n" +
		// P1 reversed 15 February, the 1000.00 owed again: 300.00 + 1000.00 = 1300.00
		"2026-02-15,payment_reversal,P1,,,P1,1000.00,0.00,1300.00,6," + ids["P1-reversed"] + ",clerk," + ids["P1"] + "," + ids["P1"] + ",,,,,,,\n" +
		// F2 written off 20 February, its open 500.00 − 200.00 = 300.00: 1300.00 − 300.00 = 1000.00
		"2026-02-20,write_off,F2,,,F2,0.00,300.00,1000.00,7," + ids["F2-written-off"] + ",clerk," + ids["F2"] + "," + ids["F2"] + ",,,,,,,\n" +
		// closing 1000.00 = exposure: F1 re-opened 1000.00, F2 0. F1 due 4 February is 24 days
		// past due on the 28th: 1-30 1000.00, overdue 1000.00
		"2026-02-28,closing_balance,ACME,EUR,,,,,1000.00,,,,,,0.00,1000.00,0.00,0.00,0.00,0.00,1000.00\n"
	assert.Equal(t, want, string(out))
	assert.Equal(t, ReportStatement, man.Report)
	assert.Equal(t, domain.CustomerID("ACME"), man.CustomerID)
	require.NotNil(t, man.From)
	assert.Equal(t, "2026-02-01", man.From.String())
	assert.Equal(t, uint64(7), man.Position)
	assert.Equal(t, len(out), man.Bytes)

	// JSON: the same figures, in minor units.
	js, _, err := ExportRequest(ctx, st, Request{Report: ReportStatement, Format: FormatJSON, AsOf: req.AsOf, CustomerID: "ACME"})
	require.NoError(t, err)
	var doc StatementDoc
	require.NoError(t, json.Unmarshal(js, &doc))
	assert.Nil(t, doc.From)
	assert.Equal(t, int64(0), doc.OpeningBalance, "no period start: from zero")
	require.Len(t, doc.Lines, 6, "F1, F2, P1, CN1, reversal, write-off")
	assert.Equal(t, int64(100_000), doc.ClosingBalance)
	assert.Equal(t, doc.ClosingBalance, doc.Lines[5].Balance)
	assert.Equal(t, ids["F1"], doc.Lines[0].EventID)

	// As of 12 February the reversal and write-off had not happened yet.
	early, _, err := ExportRequest(ctx, st, Request{Report: ReportStatement, Format: FormatJSON, AsOf: domain.MustDate("2026-02-12"), CustomerID: "ACME"})
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(early, &doc))
	assert.Len(t, doc.Lines, 4)
	assert.Equal(t, int64(150_000-100_000-20_000), doc.ClosingBalance)

	// The journal shows the correction and the event it corrects.
	j, _, err := Export(ctx, st, ReportJournal, FormatCSV, req.AsOf, nil)
	require.NoError(t, err)
	for _, l := range strings.Split(string(j), "\n") {
		if strings.Contains(l, ",PaymentReversed,") {
			assert.Contains(t, l, ","+ids["P1-reversed"]+","+ids["P1"]+",", "the reversal's causation_id is the payment's event id")
		}
	}
	assert.Contains(t, string(j), ","+ids["P1"]+",,", "the corrected payment is in the journal too")

	_, _, err = ExportRequest(ctx, st, Request{Report: ReportStatement, Format: FormatCSV, AsOf: req.AsOf})
	assert.Equal(t, "missing_field", domain.ErrorCode(err))
	_, _, err = ExportRequest(ctx, st, Request{Report: ReportStatement, Format: FormatCSV, AsOf: req.AsOf, CustomerID: "NOPE"})
	assert.Error(t, err)

	// The API serves the same bytes with the manifest.
	h := NewHTTP(NewLedger(nil, st), st, &stepClock{t: time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)}, nil)
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
	resp, body := get("/v1/exports/statement?customer_id=ACME&as_of=2026-02-28&from=2026-02-01")
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	assert.Equal(t, string(out), string(body))
	var hm Manifest
	require.NoError(t, json.Unmarshal([]byte(resp.Header.Get("X-Encours-Manifest")), &hm))
	assert.Equal(t, man, hm)
	for path, code := range map[string]int{
		"/v1/exports/statement?as_of=2026-02-28":                                  http.StatusBadRequest,
		"/v1/exports/statement?customer_id=ACME&from=1/2/2026":                    http.StatusBadRequest,
		"/v1/exports/statement?customer_id=ACME&as_of=2026-02-28&from=2026-03-01": http.StatusBadRequest,
		"/v1/exports/statement?customer_id=NOPE&as_of=2026-02-28":                 http.StatusNotFound,
	} {
		resp, body := get(path)
		assert.Equal(t, code, resp.StatusCode, "%s: %s", path, body)
	}
}
