package main

import (
	"bytes"
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
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/handlers/httpapi"
)

// seedStore writes a customer and n invoices through the command service into a new store
// in dir, and returns the store still open.
func seedStore(t *testing.T, dir string, n int) *embedded.Store {
	t.Helper()
	store, err := embedded.Open(dir, embedded.Options{})
	require.NoError(t, err)
	svc := command.New(store, command.NewManualClock(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)), command.Options{})
	ctx := context.Background()
	_, err = svc.Execute(ctx, domain.RegisterCustomer{CustomerID: "ACME", Name: "Acme", Country: "FR", Currency: "EUR",
		Terms: domain.Net(30), CreditLimit: domain.Money{Minor: 1, Ccy: "EUR"}, On: domain.MustDate("2026-01-01")}, command.Meta{Actor: "test"})
	require.NoError(t, err)
	for i := range n {
		_, err = svc.Execute(ctx, domain.IssueInvoice{CustomerID: "ACME", InvoiceID: domain.InvoiceID("I" + string(rune('a'+i))),
			Number: "N" + string(rune('a'+i)), Amount: domain.Money{Minor: 100, Ccy: "EUR"},
			IssueDate: domain.MustDate("2026-01-05"), DueDate: domain.MustDate("2026-02-04")}, command.Meta{Actor: "test"})
		require.NoError(t, err)
	}
	return store
}

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// verify reports a clean log with its head and chain hash, and exits 1 naming the position
// of a damaged record.
func TestVerify(t *testing.T) {
	dir := t.TempDir()
	store := seedStore(t, dir, 3)
	head, err := store.Head(context.Background())
	require.NoError(t, err)
	require.NoError(t, store.Close())

	code, out, errOut := runCLI("verify", "--data", dir)
	require.Equal(t, exitOK, code, "stdout %s stderr %s", out, errOut)
	assert.Contains(t, out, "verify "+dir+": ok")
	assert.Contains(t, out, "events checked: 4")
	assert.Contains(t, out, "streams: 1")
	assert.Contains(t, out, "head position: 4")
	assert.Contains(t, out, "chain hash: "+head.Hash.String())

	// Flip one byte inside the second record's payload: its CRC no longer matches.
	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	require.NotEmpty(t, segs)
	b, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	i := bytes.Index(b, []byte(`"invoice_id":"Ia"`))
	require.Positive(t, i, "the first invoice's data is in the first segment")
	b[i+15] ^= 0x01
	require.NoError(t, os.WriteFile(segs[0], b, 0o644))

	code, out, _ = runCLI("verify", "--data", dir)
	assert.Equal(t, exitFinding, code, "stdout %s", out)
	assert.Contains(t, out, "DAMAGED")
	assert.Contains(t, out, "first bad position: 2")
}

func TestUsageErrors(t *testing.T) {
	cases := [][]string{
		{},
		{"frobnicate"},
		{"verify", "--nope"},
		{"verify", "extra"},
		{"verify", "--data", filepath.Join(t.TempDir(), "missing")},
		{"events"},
		{"events", "tail"},
		{"events", "tail", "--data", "x", "--server", "http://x"},
		{"events", "tail", "--data", t.TempDir(), "--follow"},
		{"events", "tail", "--server", "ftp://x"},
	}
	for _, args := range cases {
		code, _, errOut := runCLI(args...)
		assert.Equal(t, exitUsage, code, "args %v: %s", args, errOut)
	}
	code, out, _ := runCLI("--help")
	assert.Equal(t, exitOK, code)
	assert.Contains(t, out, "verify")
	assert.Contains(t, out, "events")
}

// events tail prints the same JSON lines from a stopped daemon's store and from a running
// daemon's API, from any position.
func TestEventsTail(t *testing.T) {
	dir := t.TempDir()
	store := seedStore(t, dir, 4)
	clock := command.NewManualClock(time.Now())
	srv := httptest.NewServer(httpapi.New(command.New(store, clock, command.Options{}), store, httpapi.Options{}))
	defer srv.Close()

	code, fromServer, errOut := runCLI("events", "tail", "--server", srv.URL, "--from", "2")
	require.Equal(t, exitOK, code, errOut)
	srv.Close()
	require.NoError(t, store.Close())

	code, fromStore, errOut := runCLI("events", "tail", "--data", dir, "--from", "2")
	require.Equal(t, exitOK, code, errOut)
	assert.Equal(t, fromStore, fromServer)

	lines := strings.Split(strings.TrimSuffix(fromStore, "\n"), "\n")
	require.Len(t, lines, 4)
	for i, l := range lines {
		var e domain.Envelope
		require.NoError(t, json.Unmarshal([]byte(l), &e), l)
		assert.Equal(t, uint64(i+2), e.Position)
		assert.Equal(t, domain.TypeInvoiceIssued, e.Type)
	}
}
