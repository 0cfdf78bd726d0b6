package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// import --mapping reads a file with its own column names; a bad row exits 2 naming the
// file, row and column; the same file again appends nothing.
func TestImportMappingAndRefusals(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	mapping := filepath.Join(dir, "mapping.yaml")
	require.NoError(t, os.WriteFile(mapping, []byte("columns:\n  customer_id: Client\n  invoice_id: Facture\n  issue_date: Date\n"+
		"  due_date: Echeance\n  amount: Montant\n  currency: Devise\ndate_format: DD/MM/YYYY\n"), 0o600))
	good := filepath.Join(dir, "good.csv")
	require.NoError(t, os.WriteFile(good, []byte("Client,Facture,Date,Echeance,Montant,Devise\n"+
		"ACME,F1,05/01/2026,04/02/2026,1250.00,EUR\nBETA,B1,06/01/2026,05/02/2026,10.00,EUR\n"), 0o600))
	bad := filepath.Join(dir, "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("Client,Facture,Date,Echeance,Montant,Devise\n"+
		"GAMMA,G1,05/01/2026,04/02/2026,1250.00,EUR\nGAMMA,G2,2026-01-06,05/02/2026,10.00,EUR\n"), 0o600))

	code, out, errOut := runCLI("import", "--data", data, "--file", bad, "--mapping", mapping)
	assert.Equal(t, exitUsage, code, "stdout %s stderr %s", out, errOut)
	assert.Contains(t, errOut, bad+": row 3, field Date: ")

	code, out, errOut = runCLI("import", "--data", data, "--file", good, "--mapping", mapping)
	require.Equal(t, exitOK, code, "stdout %s stderr %s", out, errOut)
	assert.Contains(t, out, "2 rows, 2 customers, 4 commands; 4 events appended")

	code, out, errOut = runCLI("import", "--data", data, "--file", good, "--mapping", mapping)
	require.Equal(t, exitOK, code, "stdout %s stderr %s", out, errOut)
	assert.Contains(t, out, "0 events appended in 0 batches, 2 rows already present")

	code, _, errOut = runCLI("import", "--data", data, "--file", good, "--format", "ibm-ar", "--mapping", mapping)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, errOut, "--mapping applies to --format generic only")
}
