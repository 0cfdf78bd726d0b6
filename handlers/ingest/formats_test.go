package ingest

import (
	"bytes"
	"strings"
	"testing"

	"github.com/encours/encours/domain"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestGenericBindMapsAsMap: the mapper bound to a header (what the bulk path uses) gives
// the same commands and the same refusals as Map through a Reader's getter, for the generic
// layout and for a mapping that renames columns, with optional columns missing, spaces
// around values, short rows and bad values; its check (the read pass) refuses the same rows
// and names the customer and the invoice and payment ids of Map's commands.
func TestGenericBindMapsAsMap(t *testing.T) {
	mapped, err := ParseMapping(strings.NewReader(`
columns: {customer_id: Client, invoice_id: Facture, issue_date: Date, due_date: Echeance, amount: Montant, currency: Devise, paid_date: Reglement}
date_format: DD/MM/YYYY
amount_scale: 2
`))
	require.NoError(t, err)
	var sample bytes.Buffer
	require.NoError(t, writeGenericSample(&sample, 200, 9))
	generic := strings.Split(strings.TrimSpace(sample.String()), "\n")
	generic = append(generic,
		"C1, Acme ,FR,sme,EUR,30, 1000.00 ,F1,F-1, 2026-01-05 ,2026-02-04,10.00,yes,2026-02-10,",
		"C1,,,,EUR,,,F2,,2026-01-05,2026-02-04,10.00,,,",
		"C1,Acme,FR,sme,EUR,30,1000.00,F3,F-3,2026-01-05,2026-13-04,10.00,no,,",
		"C1,Acme,FR,sme,EUR,x,1000.00,F4,F-4,2026-01-05,2026-02-04,10.00,no,,",
		"C1,Acme,FR,sme,EUR,30,1000.00,F5,F-5,2026-01-05,2026-02-04,-3,maybe,,",
		"C1,Acme,FR,sme,EUR,30,1000.00,F6")
	for _, tc := range []struct {
		name  string
		f     Format
		lines []string
	}{
		{"generic", Formats["generic"], generic},
		{"generic without optional columns", Formats["generic"], []string{
			"invoice_id,customer_id,currency,amount,due_date,issue_date",
			"F1,C1,EUR,10.00,2026-02-04,2026-01-05", "F2,C1,EUR,0,2026-02-04,2026-01-05", "F3,C1"}},
		{"mapping", mapped, []string{
			"Client,Facture,Date,Echeance,Montant,Devise,Reglement,amount",
			"ACME,F1,05/01/2026,04/02/2026,125000,EUR,,99", "ACME,F2,06/01/2026,05/02/2026,1050,EUR,10/02/2026,",
			"ACME,F3,2026-01-06,05/02/2026,1050,EUR,,", "ACME,F4,06/01/2026,05/02/2026,1051,EUR,,"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewReader(strings.NewReader(tc.lines[0]+"\n"), tc.f)
			require.NoError(t, err)
			bound := tc.f.(genericFormat).bind(r.cols)
			refused := 0
			for i, line := range tc.lines[1:] {
				fields := strings.Split(line, ",")
				want, wantErr := tc.f.Map(i+2, r.getter(fields))
				got, omitted, gotErr := bound.appendCommands([]domain.Command{domain.RegisterCustomer{}}, i+2, "", fields, "", true, nil)
				assert.Equal(t, wantErr, gotErr, "row %d: %s", i+2, line)
				assert.Zero(t, omitted, "row %d: %s", i+2, line)
				var ids rowIDs
				parsed, checkErr := bound.check(i+2, fields, &ids, []byte("x"))
				assert.Equal(t, wantErr, checkErr, "row %d: %s", i+2, line)
				if wantErr != nil {
					refused++
					continue
				}
				assert.Equal(t, append([]domain.Command{domain.RegisterCustomer{}}, want...), got, "row %d: %s", i+2, line)
				// The parsed form check appends (after what parsed held) gives the same commands.
				require.Equal(t, "x", string(parsed[:1]))
				got, omitted, gotErr = bound.appendCommands(nil, i+2, string(ids.cust), nil, string(parsed[1:]), true, make([]domain.Allocation, 1))
				require.NoError(t, gotErr)
				assert.Zero(t, omitted)
				assert.Equal(t, want, got, "row %d from its parsed form: %s", i+2, line)
				_, _, gotErr = bound.appendCommands(nil, i+2, string(ids.cust), nil, string(parsed[1:len(parsed)-1]), true, nil)
				assert.Error(t, gotErr, "row %d: a truncated parsed form is refused", i+2)
				// For a customer registered before, the registration (Map's first command) is
				// left out and counted.
				got, omitted, gotErr = bound.appendCommands(nil, i+2, "", fields, "", false, nil)
				require.NoError(t, gotErr)
				if assert.Equal(t, 1, omitted) && assert.IsType(t, domain.RegisterCustomer{}, want[0]) {
					assert.Equal(t, want[1:], got, "row %d: %s", i+2, line)
				}
				var wantIDs, gotIDs []string
				for _, c := range want {
					assert.Equal(t, c.Customer(), ids.cust, "row %d: %s", i+2, line)
					switch c := c.(type) {
					case domain.IssueInvoice:
						wantIDs = append(wantIDs, "i"+string(c.InvoiceID))
					case domain.RecordPayment:
						wantIDs = append(wantIDs, "p"+string(c.PaymentID))
					}
				}
				for _, id := range ids.ids[:ids.n] {
					gotIDs = append(gotIDs, string(id.kind)+id.prefix+id.id)
				}
				assert.Equal(t, wantIDs, gotIDs, "row %d: %s", i+2, line)
			}
			assert.Positive(t, refused, "some rows are refused")
		})
	}
}
