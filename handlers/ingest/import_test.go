package ingest

import (
	"context"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/command"
)

// ibmSample is the IBM receivables sample, shipped with the daemon for its first start.
const ibmSample = "../../scripts/data/ibm_accounts_receivable.csv"

type fixedClock struct{ t time.Time }

func (c fixedClock) Now() time.Time { return c.t }

// newLedger opens a real embedded store in a temp dir with a command service over it.
func newLedger(t *testing.T) (*command.Service, *embedded.Store) {
	t.Helper()
	st, err := embedded.Open(t.TempDir(), embedded.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	svc := command.New(st, fixedClock{time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)}, command.Options{})
	require.NoError(t, svc.Warm(context.Background()))
	return svc, st
}

func openString(s string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(s)), nil }
}

func openFile(path string) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return os.Open(path) }
}

func headPosition(t *testing.T, st *embedded.Store) uint64 {
	t.Helper()
	h, err := st.Head(context.Background())
	require.NoError(t, err)
	return h.Position
}

// TestImportIBMSample imports the whole IBM sample through the domain's commands and checks,
// row by row, that the ledger reproduces the file's own DaysToSettle and DaysLate, then that
// a second import appends nothing.
func TestImportIBMSample(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 2,466 invoices; skipped under -short")
	}
	ctx := context.Background()
	svc, st := newLedger(t)
	rep, err := Run(ctx, svc, openFile(ibmSample), Formats["ibm-ar"], Options{Actor: "test"})
	require.NoError(t, err)
	// 100 customers, 2,466 invoices and payments, 561 disputes opened and resolved.
	assert.Equal(t, 2466, rep.Rows)
	assert.Equal(t, 100+2466+2466+561+561, rep.Appended)
	assert.Zero(t, rep.RejectedRows)
	pos := headPosition(t, st)

	f, err := os.Open(ibmSample)
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	var totalMinor int64
	for n, row := range rows[1:] {
		c, ok, err := svc.Customer(ctx, domain.CustomerID(row[col["customerID"]]))
		require.NoError(t, err)
		require.True(t, ok, "row %d: customer %s", n+2, row[col["customerID"]])
		inv, ok := c.Invoice(domain.InvoiceID(row[col["invoiceNumber"]]))
		require.True(t, ok, "row %d: invoice %s", n+2, row[col["invoiceNumber"]])
		require.Len(t, inv.Settled, 1, "row %d", n+2)
		assert.Zero(t, inv.Open.Minor, "row %d: open amount", n+2)
		daysToSettle := inv.IssueDate.DaysUntil(inv.Settled[0].On)
		daysLate := max(0, inv.DueDate.DaysUntil(inv.Settled[0].On))
		assert.Equal(t, row[col["DaysToSettle"]], strconv.Itoa(daysToSettle), "row %d DaysToSettle", n+2)
		assert.Equal(t, row[col["DaysLate"]], strconv.Itoa(daysLate), "row %d DaysLate", n+2)
		assert.Equal(t, row[col["Disputed"]] == "Yes", inv.Disputes == 1, "row %d Disputed", n+2)
		totalMinor += inv.Amount.Minor
	}
	// The file's InvoiceAmount column sums to 147,705.56 (computed from the decimal strings).
	var wantMinor int64
	for _, row := range rows[1:] {
		v, err := domain.ParseDecimal(row[col["InvoiceAmount"]], 2)
		require.NoError(t, err)
		wantMinor += v
	}
	assert.Equal(t, wantMinor, totalMinor)

	again, err := Run(ctx, svc, openFile(ibmSample), Formats["ibm-ar"], Options{Actor: "test"})
	require.NoError(t, err)
	assert.Zero(t, again.Appended, "a second import must append nothing")
	assert.Equal(t, pos, headPosition(t, st))
}

const genericHeader = "customer_id,customer_name,country,currency,invoice_id,invoice_number,issue_date,due_date,amount,paid_date,paid_amount,disputed\n"

// TestImportRefusesBadRows is the catalogue of malformed input: each file has one bad row
// (or a bad header) among good ones; the import names the row and the field and appends
// nothing at all. BOM, CRLF and quoted newlines are accepted (TestImportAcceptsBOMCRLFAndQuotes)
// and must not shift the row a refusal names.
func TestImportRefusesBadRows(t *testing.T) {
	good := "ACME,Acme SAS,FR,EUR,F1,F-1,2026-01-05,2026-02-04,1250.00,,,no\n"
	cases := []struct {
		name      string
		format    string
		body      string
		wantRow   int
		wantField string
		wantCode  string
	}{
		{"empty file", "generic", "", 1, "", "empty_file"},
		{"header only is fine but missing column", "generic", "customer_id,invoice_id\n", 1, "issue_date", "missing_column"},
		{"duplicate column", "generic", "customer_id,customer_id,invoice_id,issue_date,due_date,amount,currency\n", 1, "customer_id", "duplicate_column"},
		{"bad ISO date", "generic", genericHeader + good + "ACME,,FR,EUR,F2,F-2,2026-13-01,2026-02-04,10.00,,,\n", 3, "issue_date", domain.CodeInvalidDate},
		{"impossible date", "generic", genericHeader + good + "ACME,,FR,EUR,F2,F-2,2026-02-30,2026-03-04,10.00,,,\n", 3, "issue_date", domain.CodeInvalidDate},
		{"missing due date", "generic", genericHeader + good + "ACME,,FR,EUR,F2,F-2,2026-02-01,,10.00,,,\n", 3, "due_date", domain.CodeMissingField},
		{"zero amount", "generic", genericHeader + good + "ACME,,FR,EUR,F2,F-2,2026-02-01,2026-03-03,0.00,,,\n", 3, "amount", domain.CodeAmountNotPositive},
		{"negative amount", "generic", genericHeader + good + "ACME,,FR,EUR,F2,F-2,2026-02-01,2026-03-03,-5.00,,,\n", 3, "amount", domain.CodeAmountNotPositive},
		{"overflowing amount", "generic", genericHeader + good + "ACME,,FR,EUR,F2,F-2,2026-02-01,2026-03-03,99999999999999999999.00,,,\n", 3, "amount", domain.CodeAmountOverflow},
		{"too many decimals", "generic", genericHeader + good + "ACME,,FR,EUR,F2,F-2,2026-02-01,2026-03-03,1.005,,,\n", 3, "amount", domain.CodeInvalidField},
		{"float exponent", "generic", genericHeader + good + "ACME,,FR,EUR,F2,F-2,2026-02-01,2026-03-03,1e3,,,\n", 3, "amount", domain.CodeInvalidField},
		{"missing amount", "generic", genericHeader + good + "ACME,,FR,EUR,F2,F-2,2026-02-01,2026-03-03,,,,\n", 3, "amount", domain.CodeMissingField},
		{"unknown currency", "generic", genericHeader + good + "ACME,,FR,XXX,F2,F-2,2026-02-01,2026-03-03,1.00,,,\n", 3, "currency", domain.CodeUnknownCurrency},
		{"currency mismatch", "generic", genericHeader + good + "ACME,,FR,USD,F2,F-2,2026-02-01,2026-03-03,1.00,,,\n", 3, "currency", domain.CodeCurrencyMismatch},
		{"due before issue", "generic", genericHeader + good + "ACME,,FR,EUR,F2,F-2,2026-02-01,2026-01-03,1.00,,,\n", 3, "due_date", domain.CodeDueBeforeIssue},
		{"duplicate invoice id", "generic", genericHeader + good + good, 3, "invoice_id", domain.CodeDuplicateInvoice},
		{"duplicate invoice number", "generic", genericHeader + good + "ACME,,FR,EUR,F2,F-1,2026-02-01,2026-03-03,1.00,,,\n", 3, "invoice_number", domain.CodeDuplicateInvoiceNumber},
		{"settlement before invoice", "generic", genericHeader + good + "ACME,,FR,EUR,F2,F-2,2026-02-01,2026-03-03,1.00,2026-01-15,,\n", 3, "paid_date", domain.CodeDateBeforeIssue},
		{"paid more than invoiced", "generic", genericHeader + good + "ACME,,FR,EUR,F2,F-2,2026-02-01,2026-03-03,1.00,2026-02-15,2.00,\n", 3, "paid_amount", domain.CodeAllocationExceedsOpen},
		{"bad disputed flag", "generic", genericHeader + good + "ACME,,FR,EUR,F2,F-2,2026-02-01,2026-03-03,1.00,,,maybe\n", 3, "disputed", domain.CodeInvalidField},
		{"invalid UTF-8", "generic", genericHeader + good + "ACME,Acme \xff,FR,EUR,F2,F-2,2026-02-01,2026-03-03,1.00,,,\n", 3, "customer_name", "invalid_utf8"},
		{"wrong column count", "generic", genericHeader + good + "ACME,,FR,EUR,F2\n", 3, "", "wrong_column_count"},
		{"bare quote", "generic", genericHeader + good + "ACME,Ac\"me,FR,EUR,F2,F-2,2026-02-01,2026-03-03,1.00,,,\n", 3, "", "malformed_csv"},
		{"path-like id", "generic", genericHeader + good + "../etc,,FR,EUR,F2,F-2,2026-02-01,2026-03-03,1.00,,,\n", 3, "customer_id", domain.CodeInvalidID},
		{"oversized field", "generic", genericHeader + good + "ACME," + strings.Repeat("x", 2000) + ",FR,EUR,F2,F-2,2026-02-01,2026-03-03,1.00,,,\n", 3, "customer_name", "field_too_long"},
		{"bad country", "generic", genericHeader + "BETA,,France,EUR,F9,F-9,2026-02-01,2026-03-03,1.00,,,\n", 2, "country", ""},
		{"quoted newline in a name", "generic", genericHeader + good + "BETA,\"Acme\nSAS\",FR,EUR,F2,F-2,2026-02-01,2026-03-03,1.00,,,\n", 3, "customer_name", domain.CodeInvalidField},
		{"row after a quoted newline keeps its physical line", "generic", genericHeader + "ACME,\"Acme\nSAS\",FR,EUR,F2,F-2,2026-02-01,2026-03-03,1.00,,,\n", 2, "customer_name", domain.CodeInvalidField},
		{"ibm: US date expected", "ibm-ar", "countryCode,customerID,invoiceNumber,InvoiceDate,DueDate,InvoiceAmount,Disputed,SettledDate\n391,0379-NEVHP,0000611365,2013-01-02,2/1/2013,55.94,No,1/15/2013\n", 2, "InvoiceDate", domain.CodeInvalidDate},
		{"ibm: unknown country code", "ibm-ar", "countryCode,customerID,invoiceNumber,InvoiceDate,DueDate,InvoiceAmount,Disputed,SettledDate\n999,0379-NEVHP,0000611365,1/2/2013,2/1/2013,55.94,No,1/15/2013\n", 2, "countryCode", domain.CodeInvalidField},
		{"BOM only", "generic", "\xEF\xBB\xBF", 1, "", "empty_file"},
		{"BOM then a bad row", "generic", "\xEF\xBB\xBF" + genericHeader + good + "ACME,,FR,EUR,F2,F-2,2026-02-01,2026-03-03,-1.00,,,\n", 3, "amount", domain.CodeAmountNotPositive},
		{"CRLF then a bad row", "generic", strings.ReplaceAll(genericHeader+good+good+"ACME,,FR,EUR,F3,F-3,2026-02-01,2026-03-03,1.00,2026-01-01,,\n", "\n", "\r\n"), 3, "invoice_id", domain.CodeDuplicateInvoice},
		{"bad row after a quoted newline", "generic", "customer_id,invoice_id,issue_date,due_date,amount,currency,paid_date,note\n" + "ACME,F1,2026-01-05,2026-02-04,1.00,EUR,,\"two\nlines\"\n" + "ACME,F2,2026-02-01,2026-03-03,1.00,EUR,2026-01-15,x\n", 4, "paid_date", domain.CodeDateBeforeIssue},
		{"invalid UTF-8 in the header", "generic", "customer_id,invoice_id,issue_date,due_date,amount,currency,n\xff\n", 1, "", "invalid_utf8"},
		{"duplicate invoice id across customers", "generic", genericHeader + good + "BETA,,FR,EUR,F1,F-9,2026-02-01,2026-03-03,1.00,,,\n", 3, "invoice_id", domain.CodeDuplicateInvoice},
		{"zero paid amount", "generic", genericHeader + good + "ACME,,FR,EUR,F2,F-2,2026-02-01,2026-03-03,1.00,2026-02-15,0,\n", 3, "paid_amount", domain.CodeAmountNotPositive},
		{"overflowing credit limit", "generic", "customer_id,invoice_id,issue_date,due_date,amount,currency,credit_limit\nACME,F1,2026-02-01,2026-03-03,1.00,EUR,92233720368547758.08\n", 2, "credit_limit", domain.CodeAmountOverflow},
		{"bad terms", "generic", "customer_id,invoice_id,issue_date,due_date,amount,currency,terms_days\nACME,F1,2026-02-01,2026-03-03,1.00,EUR,thirty\n", 2, "terms_days", domain.CodeInvalidTerms},
		{"bad paid date", "generic", genericHeader + good + "ACME,,FR,EUR,F2,F-2,2026-02-01,2026-03-03,1.00,15/02/2026,,\n", 3, "paid_date", domain.CodeInvalidDate},
		{"ibm: negative amount", "ibm-ar", "countryCode,customerID,invoiceNumber,InvoiceDate,DueDate,InvoiceAmount,Disputed,SettledDate\n391,0379-NEVHP,0000611365,1/2/2013,2/1/2013,-55.94,No,1/15/2013\n", 2, "InvoiceAmount", domain.CodeAmountNotPositive},
		{"ibm: due before issue", "ibm-ar", "countryCode,customerID,invoiceNumber,InvoiceDate,DueDate,InvoiceAmount,Disputed,SettledDate\n391,0379-NEVHP,0000611365,1/2/2013,1/1/2013,55.94,No,1/15/2013\n", 2, "DueDate", domain.CodeDueBeforeIssue},
		{"ibm: duplicate invoice number", "ibm-ar", "countryCode,customerID,invoiceNumber,InvoiceDate,DueDate,InvoiceAmount,Disputed,SettledDate\n391,0379-NEVHP,0000611365,1/2/2013,2/1/2013,55.94,No,1/15/2013\n391,0379-NEVHP,0000611365,1/3/2013,2/2/2013,5.94,No,1/15/2013\n", 3, "invoiceNumber", domain.CodeDuplicateInvoice},
		{"ibm: settled before issued", "ibm-ar", "countryCode,customerID,invoiceNumber,InvoiceDate,DueDate,InvoiceAmount,Disputed,SettledDate\n391,0379-NEVHP,0000611365,1/2/2013,2/1/2013,55.94,No,1/1/2013\n", 2, "SettledDate", domain.CodeDateBeforeIssue},
	}
	require.GreaterOrEqual(t, len(cases), 25, "the issue asks for at least 25 malformed inputs")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			svc, st := newLedger(t)
			rep, err := Run(ctx, svc, openString(tc.body), Formats[tc.format], Options{})
			require.Error(t, err)
			require.True(t, errors.Is(err, ErrRejected), "got %v, want ErrRejected", err)
			require.NotEmpty(t, rep.Errors)
			got := rep.Errors[0]
			assert.Equal(t, tc.wantRow, got.Row, "row (%s)", got.Error())
			assert.Equal(t, tc.wantField, got.Field, "field (%s)", got.Error())
			if tc.wantCode != "" {
				assert.Equal(t, tc.wantCode, got.Code, "code (%s)", got.Error())
			}
			assert.Zero(t, headPosition(t, st), "a refused file appends nothing")
		})
	}
}

// TestImportAcceptsBOMCRLFAndQuotes: what spreadsheets produce is not an error.
func TestImportAcceptsBOMCRLFAndQuotes(t *testing.T) {
	body := "\xEF\xBB\xBF" + strings.ReplaceAll(genericHeader, "\n", "\r\n") +
		"ACME,\"Acme, \"\"SAS\"\"\",FR,EUR,F1,F-1,2026-01-05,2026-02-04,1250.00,2026-02-10,,no\r\n" +
		"ACME,\"Acme, \"\"SAS\"\"\",FR,EUR,F2,F-2,2026-01-06,2026-02-05,10.00,,,yes\r\n"
	svc, st := newLedger(t)
	rep, err := Run(context.Background(), svc, openString(body), Formats["generic"], Options{})
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Rows)
	assert.Equal(t, 1+2+1+1, rep.Appended) // register, two invoices, one payment, one dispute
	c, ok, err := svc.Customer(context.Background(), "ACME")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, `Acme, "SAS"`, c.Profile().Name)
	assert.Equal(t, int64(1000), c.Exposure().Minor)
	assert.Equal(t, uint64(5), headPosition(t, st))
}

// TestImportContinueAppendsValidCustomers: with Continue, a customer with a bad row is held
// back whole and reported; the others are appended.
func TestImportContinueAppendsValidCustomers(t *testing.T) {
	body := genericHeader +
		"ACME,,FR,EUR,F1,F-1,2026-01-05,2026-02-04,1250.00,,,\n" +
		"BETA,,FR,EUR,B1,B-1,2026-01-05,2026-02-04,10.00,,,\n" +
		"BETA,,FR,EUR,B2,B-2,2026-01-05,2026-01-04,10.00,,,\n"
	svc, _ := newLedger(t)
	var rejects []RowError
	rep, err := Run(context.Background(), svc, openString(body), Formats["generic"], Options{Continue: true, Rejects: func(e RowError) { rejects = append(rejects, e) }})
	require.NoError(t, err)
	assert.Equal(t, 1, rep.RejectedRows)
	assert.Equal(t, 1, rep.RejectedCustomers)
	require.Len(t, rejects, 1)
	assert.Equal(t, "row 4, field due_date: "+rejects[0].Reason, rejects[0].Error())
	_, ok, err := svc.Customer(context.Background(), "ACME")
	require.NoError(t, err)
	assert.True(t, ok, "ACME is valid and appended")
	_, ok, err = svc.Customer(context.Background(), "BETA")
	require.NoError(t, err)
	assert.False(t, ok, "BETA has a bad row and is held back whole")
}

// TestImportDryRunAppendsNothing.
func TestImportDryRunAppendsNothing(t *testing.T) {
	svc, st := newLedger(t)
	rep, err := Run(context.Background(), svc, openString(genericHeader+"ACME,,FR,EUR,F1,F-1,2026-01-05,2026-02-04,1250.00,,,\n"), Formats["generic"], Options{DryRun: true})
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Commands)
	assert.Zero(t, headPosition(t, st))
}
