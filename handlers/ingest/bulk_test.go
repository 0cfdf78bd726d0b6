package ingest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// TestImportBulkPartitionsAndBatches imports a generated file whose customers' rows are
// scattered, spread over many partitions, with customers of more rows than one batch holds;
// every row's invoice must be in its customer's state, and a second import must append
// nothing.
func TestImportBulkPartitionsAndBatches(t *testing.T) {
	ctx := context.Background()
	var buf bytes.Buffer
	const rows = 3000 // 60 customers of ~50 rows each
	require.NoError(t, writeGenericSample(&buf, rows, 7))
	// Add one customer of 2.5 batches, its rows interleaved with the others'.
	lines := strings.SplitAfter(buf.String(), "\n")
	var body strings.Builder
	body.WriteString(lines[0])
	big := 0
	for i, l := range lines[1:] {
		body.WriteString(l)
		if i%5 == 0 && big < batchRowsMax*5/2 {
			fmt.Fprintf(&body, "BIG,Big SA,FR,large,EUR,30,1000000.00,BIG%05d,BIG-%05d,2023-01-%02d,2023-02-%02d,10.00,no,,\n", big, big, 1+big%28, 1+big%28)
			big++
		}
	}
	require.Equal(t, batchRowsMax*5/2, big)
	svc, st := newLedger(t)
	opts := Options{Actor: "test", SizeHint: 40 * partitionBytes} // 40 partitions
	rep, err := Run(ctx, svc, openString(body.String()), Formats["generic"], opts)
	require.NoError(t, err)
	assert.Equal(t, rows+big, rep.Rows)
	assert.Zero(t, rep.RejectedRows)
	assert.Equal(t, rep.Commands-rep.Skipped, rep.Appended, "every decided command appended one event")
	assert.Equal(t, rows/importRowsPerCustomer+1, rep.Customers)
	c, ok, err := svc.Customer(ctx, "BIG")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Len(t, c.Invoices(), big)
	assert.Equal(t, int64(big*1000), c.Exposure().Minor)
	assert.Equal(t, uint64(1+big), c.Version(), "one registration and one event per row")
	pos := headPosition(t, st)
	assert.Equal(t, uint64(rep.Appended), pos)

	again, err := Run(ctx, svc, openString(body.String()), Formats["generic"], opts)
	require.NoError(t, err)
	assert.Zero(t, again.Appended, "a second import must append nothing")
	assert.Equal(t, rows+big, again.AlreadyPresent)
	assert.Equal(t, pos, headPosition(t, st))

	// The same rows cut into other partitions give the same batches: still nothing appended.
	third, err := Run(ctx, svc, openString(body.String()), Formats["generic"], Options{Actor: "test"})
	require.NoError(t, err)
	assert.Zero(t, third.Appended)
	assert.Equal(t, pos, headPosition(t, st))
}

// TestImportRefusesIDsOfOtherCustomers: an invoice id is unique across customers, in the
// file and against the log; the refusal names the row and the invoice column and appends
// nothing.
func TestImportRefusesIDsOfOtherCustomers(t *testing.T) {
	ctx := context.Background()
	svc, st := newLedger(t)
	_, err := Run(ctx, svc, openString(genericHeader+"ACME,,FR,EUR,F1,F-1,2026-01-05,2026-02-04,10.00,,,\n"), Formats["generic"], Options{})
	require.NoError(t, err)
	pos := headPosition(t, st)

	rep, err := Run(ctx, svc, openString(genericHeader+
		"BETA,,FR,EUR,B1,B-1,2026-01-05,2026-02-04,10.00,,,\n"+
		"BETA,,FR,EUR,F1,F-1,2026-01-06,2026-02-05,10.00,,,\n"), Formats["generic"], Options{})
	require.ErrorIs(t, err, ErrRejected)
	require.NotEmpty(t, rep.Errors)
	assert.Equal(t, RowError{Row: 3, Field: "invoice_id", Code: domain.CodeDuplicateInvoice,
		Reason: "invoice F1 is already recorded for another customer"}, rep.Errors[0])
	assert.Equal(t, pos, headPosition(t, st))

	rep, err = Run(ctx, svc, openString(genericHeader+
		"GAMMA,,FR,EUR,G1,G-1,2026-01-05,2026-02-04,10.00,,,\n"+
		"DELTA,,FR,EUR,G1,G-1,2026-01-06,2026-02-05,10.00,,,\n"), Formats["generic"], Options{Continue: true})
	require.NoError(t, err)
	require.Len(t, rep.Errors, 1)
	assert.Equal(t, 3, rep.Errors[0].Row)
	assert.Equal(t, 1, rep.RejectedCustomers)
	_, ok, err := svc.Customer(ctx, "GAMMA")
	require.NoError(t, err)
	assert.True(t, ok, "the first customer to use the id keeps it")
	_, ok, err = svc.Customer(ctx, "DELTA")
	require.NoError(t, err)
	assert.False(t, ok, "the second is held back whole")
}

// TestImportMapping imports a French ERP's export through a mapping that renames every
// column, reads DD/MM/YYYY dates and amounts in cents.
func TestImportMapping(t *testing.T) {
	ctx := context.Background()
	f, err := ParseMapping(strings.NewReader(`
columns:
  customer_id: Client
  customer_name: Raison sociale
  invoice_id: Facture
  issue_date: Date
  due_date: Echeance
  amount: Montant
  currency: Devise
  paid_date: Reglement
date_format: DD/MM/YYYY
amount_scale: 2
`))
	require.NoError(t, err)
	body := "Client;Raison sociale;Facture;Date;Echeance;Montant;Devise;Reglement\n"
	body = strings.ReplaceAll(body, ";", ",") +
		"ACME,Acme SAS,F1,05/01/2026,04/02/2026,125000,EUR,\n" +
		"ACME,Acme SAS,F2,06/01/2026,05/02/2026,1050,EUR,10/02/2026\n"
	svc, _ := newLedger(t)
	rep, err := Run(ctx, svc, openString(body), f, Options{})
	require.NoError(t, err)
	assert.Equal(t, 2, rep.Rows)
	c, ok, err := svc.Customer(ctx, "ACME")
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "Acme SAS", c.Profile().Name)
	inv, ok := c.Invoice("F1")
	require.True(t, ok)
	assert.Equal(t, int64(125000), inv.Amount.Minor, "125000 cents is 1 250,00 EUR")
	assert.Equal(t, domain.MustDate("2026-01-05"), inv.IssueDate)
	assert.Equal(t, domain.MustDate("2026-02-04"), inv.DueDate)
	assert.Equal(t, int64(125000), c.Exposure().Minor, "F2 is paid")

	// Refusals name the file's own column.
	rep, err = Run(ctx, svc, openString(strings.Split(body, "\n")[0]+"\nBETA,Beta,B1,31/02/2026,01/03/2026,100,EUR,\n"), f, Options{})
	require.ErrorIs(t, err, ErrRejected)
	require.NotEmpty(t, rep.Errors)
	assert.Equal(t, "row 2, field Date: "+rep.Errors[0].Reason, rep.Errors[0].Error())
	rep, err = Run(ctx, svc, openString(strings.Split(body, "\n")[0]+"\nBETA,Beta,B1,01/02/2026,01/03/2026,100.5,EUR,\n"), f, Options{})
	require.ErrorIs(t, err, ErrRejected)
	assert.Equal(t, "Montant", rep.Errors[0].Field)
	// A file with the generic names misses the mapped columns.
	_, err = Run(ctx, svc, openString(genericHeader), f, Options{})
	require.ErrorIs(t, err, ErrRejected)
}

// TestParseMappingRefuses: a mapping's mistakes are named.
func TestParseMappingRefuses(t *testing.T) {
	for name, tc := range map[string]struct{ yaml, want string }{
		"unknown field":       {"columns:\n  client: Client\n", `unknown field "client"`},
		"unknown key":         {"colums:\n  customer_id: Client\n", "field colums not found"},
		"two fields, one col": {"columns:\n  customer_id: X\n  invoice_id: X\n", `both read column "X"`},
		"date without a year": {"date_format: DD/MM\n", "want a year"},
		"odd date token":      {"date_format: DD_MM_YYYY\n", `unexpected "_"`},
		"negative scale":      {"amount_scale: -1\n", "want 0 to 9"},
		"not yaml":            {"columns: [\n", "mapping:"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseMapping(strings.NewReader(tc.yaml))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := ParseMapping(io.LimitReader(strings.NewReader(strings.Repeat("#", mappingBytesMax+10)), mappingBytesMax+10))
	require.Error(t, err)
}

// TestReaderRowsMax: the limit counts data rows, the header excluded: a file of exactly the
// limit is read whole, one more row is refused.
func TestReaderRowsMax(t *testing.T) {
	row := "ACME,,FR,EUR,F%d,F-%d,2026-01-05,2026-02-04,1.00,,,\n"
	body := genericHeader + fmt.Sprintf(row, 1, 1) + fmt.Sprintf(row, 2, 2) + fmt.Sprintf(row, 3, 3)
	r, err := NewReader(strings.NewReader(body), Formats["generic"])
	require.NoError(t, err)
	r.rowsMax = 2
	for range 2 {
		_, err := r.Next()
		require.NoError(t, err)
	}
	_, err = r.Next()
	var re *RowError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, RowError{Row: 4, Code: "too_many_rows", Reason: "more than 2 rows; split the file"}, *re)
}
