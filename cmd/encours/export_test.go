package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/handlers/httpapi"
	"github.com/encours/encours/handlers/reports"
)

// export writes the same statement bytes and manifest from a stopped daemon's store and
// from a running daemon's API, twice the same; bad parameters exit 2 naming the flag.
func TestExportStatement(t *testing.T) {
	dir := t.TempDir()
	store := seedStore(t, dir, 2) // ACME: Ia and Ib, 1.00 EUR each, issued 2026-01-05
	svc := command.New(store, command.NewManualClock(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)), command.Options{})
	_, err := svc.Execute(context.Background(), domain.RecordPayment{CustomerID: "ACME", PaymentID: "P1", Amount: domain.Money{Minor: 150, Ccy: "EUR"},
		ReceivedOn: domain.MustDate("2026-02-10")}, command.Meta{Actor: "bank"})
	require.NoError(t, err)
	reads := reports.NewHTTP(reports.NewLedger(nil, store), store, command.NewManualClock(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)), nil)
	var extra []httpapi.Extra
	for _, r := range reads.Routes() {
		extra = append(extra, httpapi.Extra{Pattern: r.Pattern, Permission: r.Permission, Handler: r.Handler, Summary: r.Summary, PathExamples: r.PathExamples})
	}
	srv := httptest.NewServer(httpapi.New(svc, store, httpapi.Options{Extra: extra}))
	args := []string{"export", "--report", "statement", "--customer", "ACME", "--as-of", "2026-02-28", "--from", "2026-02-01"}
	manServer := filepath.Join(t.TempDir(), "server.json")
	code, fromServer, errOut := runCLI(append(args, "--server", srv.URL, "--manifest", manServer)...)
	require.Equal(t, exitOK, code, errOut)
	srv.Close()
	require.NoError(t, store.Close())

	manData := filepath.Join(t.TempDir(), "data.json")
	code, fromData, errOut := runCLI(append(args, "--data", dir, "--manifest", manData)...)
	require.Equal(t, exitOK, code, errOut)
	code, again, _ := runCLI(append(args, "--data", dir)...)
	require.Equal(t, exitOK, code)
	assert.Equal(t, fromData, again, "same log, same parameters: same bytes")
	assert.Equal(t, fromData, fromServer, "the CLI and the API give the same bytes")
	// Opening at 31 January: Ia 1.00 + Ib 1.00 = 2.00; P1 on 10 February: 2.00 − 1.50 = 0.50.
	assert.Contains(t, fromData, "2026-01-31,opening_balance,ACME,Acme,,,,,2.00,")
	assert.Contains(t, fromData, "2026-02-10,payment,P1,,,,0.00,1.50,0.50,")
	assert.Contains(t, fromData, "2026-02-28,closing_balance,ACME,EUR,,,,,0.50,")

	a, err := os.ReadFile(manData)
	require.NoError(t, err)
	b, err := os.ReadFile(manServer)
	require.NoError(t, err)
	assert.JSONEq(t, string(a), string(b))
	var man reports.Manifest
	require.NoError(t, json.Unmarshal(a, &man))
	assert.Equal(t, domain.CustomerID("ACME"), man.CustomerID)
	assert.Equal(t, len(fromData), man.Bytes)

	code, aging, errOut := runCLI("export", "--report", "aging", "--as-of", "2026-02-28", "--data", dir)
	require.Equal(t, exitOK, code, errOut)
	code, replayed, _ := runCLI("replay", "--report", "aging", "--as-of", "2026-02-28", "--data", dir)
	require.Equal(t, exitOK, code)
	assert.Equal(t, replayed, aging, "encours replay keeps giving the same export")

	for _, tc := range []struct {
		args []string
		says string
	}{
		{[]string{"export", "--report", "statement", "--as-of", "2026-02-28", "--data", dir}, "--customer"},
		{[]string{"export", "--report", "aging", "--customer", "ACME", "--as-of", "2026-02-28", "--data", dir}, "--customer"},
		{[]string{"export", "--report", "balance", "--as-of", "2026-02-28", "--data", dir}, "--report"},
		{[]string{"export", "--report", "aging", "--as-of", "28/02/2026", "--data", dir}, "--as-of"},
		{[]string{"export", "--report", "statement", "--customer", "ACME", "--from", "Feb", "--as-of", "2026-02-28", "--data", dir}, "--from"},
		{[]string{"export", "--report", "aging", "--as-of", "2026-02-28", "--format", "xlsx", "--data", dir}, "--format"},
		{[]string{"export", "--report", "statement", "--customer", "ACME", "--from", "2026-03-01", "--as-of", "2026-02-28", "--data", dir}, "from"},
	} {
		code, _, errOut := runCLI(tc.args...)
		assert.Equal(t, exitUsage, code, "%v: %s", tc.args, errOut)
		assert.True(t, strings.Contains(errOut, tc.says), "%v: %q names %s", tc.args, errOut, tc.says)
	}
	code, _, errOut = runCLI("export", "--report", "statement", "--customer", "NOPE", "--as-of", "2026-02-28", "--data", dir)
	assert.Equal(t, exitFinding, code, errOut)
	assert.Contains(t, errOut, "NOPE")
}
