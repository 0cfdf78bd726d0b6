package dashboard_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/auth"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/handlers/dashboard"
	"github.com/encours/encours/handlers/demo"
	"github.com/encours/encours/handlers/httpapi"
	"github.com/encours/encours/handlers/ingest"
	"github.com/encours/encours/handlers/reports"
	"github.com/encours/encours/projections/engine"
	"github.com/encours/encours/projections/ledger"
)

// The daemon of these tests is built as cmd/encoursd builds it — embedded store, command
// service, ledger projection, the reports routes and the dashboard as httpapi extras, bearer
// tokens with a bootstrap admin token — and loaded as `make run` loads it: a demo portfolio
// and the IBM receivables sample. Its clock is fixed at the demo's last day, so figures and
// screenshots are the same at every run.

// Fixed inputs of the test daemon.
const (
	demoCustomers = 50
	demoYears     = 2
	demoSeed      = 1
	// adminToken is the bootstrap admin token (auth.CheckBootstrap: 32+ visible characters).
	adminToken = "test-admin-token-0123456789abcdefghijklmnop"
	// ibmSample is the IBM receivables sample, from this package's directory.
	ibmSample = "../../scripts/data/ibm_accounts_receivable.csv"
	// waitMax bounds every wait of the harness (style §7).
	waitMax = 30 * time.Second
)

// demoEnd is the demo's last business day and the daemon's today.
var demoEnd = domain.MustDate("2026-03-31")

// daemon is a running test daemon.
type daemon struct {
	URL   string
	Token string
	Today domain.Date
	// Alerts reports whether the alert routes are served (handlers/alerting wired in).
	Alerts bool
	store  *embedded.Store
	svc    *command.Service
	clock  *command.ManualClock
}

// withAlerts and withoutAlerts say whether the daemon serves handlers/alerting: the
// dashboard must work without it (the alert routes answer 404).
const (
	withAlerts    = true
	withoutAlerts = false
)

// startDaemon starts a loaded daemon; everything stops at the test's cleanup.
func startDaemon(t testing.TB, alerts bool) *daemon {
	t.Helper()
	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := embedded.Open(filepath.Join(dir, "store"), embedded.Options{Logger: logger})
	require.NoError(t, err)
	clock := command.NewManualClock(time.Date(2026, 3, 31, 12, 0, 0, 0, time.UTC))
	require.Equal(t, demoEnd, command.Today(clock))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		require.NoError(t, store.Close())
	})

	svc := command.New(store, clock, command.Options{})
	require.NoError(t, svc.Warm(ctx))
	load(ctx, t, svc)

	tokens, err := auth.Open(ctx, store, auth.Options{Clock: clock, Bootstrap: adminToken})
	require.NoError(t, err)
	opts := httpapi.Options{Logger: logger, Clock: clock, Tokens: tokens, RateLimit: &auth.Rate{}}

	eng := engine.NewLedgerEngine(store, filepath.Join(dir, "projections"), engine.Config[*ledger.Model]{Logger: logger})
	wg.Add(1)
	go func() { defer wg.Done(); _ = eng.Run(ctx) }() // ends with ctx
	reads := reports.NewHTTP(reports.NewLedger(eng, store), store, clock, logger)
	for _, r := range reads.Routes() {
		opts.Extra = append(opts.Extra, httpapi.Extra{Pattern: r.Pattern, Permission: r.Permission, Handler: r.Handler,
			Summary: r.Summary, Tag: "reports", Query: r.Query, PathExamples: r.PathExamples})
	}
	d := &daemon{Token: adminToken, Today: demoEnd, store: store, svc: svc, clock: clock}
	settle := func(context.Context) error { return nil }
	if alerts {
		var extra []httpapi.Extra
		extra, settle = wireAlerting(ctx, t, &wg, store, filepath.Join(dir, "alerting"), func() domain.Date { return command.Today(clock) })
		opts.Extra = append(opts.Extra, extra...)
		d.Alerts = true
	}
	for _, r := range dashboard.Routes() {
		opts.Extra = append(opts.Extra, httpapi.Extra{Pattern: r.Pattern, Permission: auth.PermPublic, Handler: r.Handler,
			Summary: "dashboard", Tag: "dashboard"})
	}
	srv := httptest.NewServer(httpapi.New(svc, store, opts))
	t.Cleanup(srv.Close)
	d.URL = srv.URL

	// Wait for the alerts, then the live projection, to have everything loaded.
	waitCtx, stop := context.WithTimeout(ctx, waitMax)
	defer stop()
	require.NoError(t, settle(waitCtx))
	head, err := store.Head(ctx)
	require.NoError(t, err)
	for !eng.Ready() || eng.Position() < head.Position { // bounded by waitCtx
		select {
		case <-waitCtx.Done():
			t.Fatalf("ledger projection at %d, want %d within %s", eng.Position(), head.Position, waitMax)
		case <-time.After(10 * time.Millisecond):
		}
	}
	return d
}

// load appends the demo portfolio and the IBM sample through the command service.
func load(ctx context.Context, t testing.TB, svc *command.Service) {
	t.Helper()
	steps, err := demo.Generate(demo.Config{Customers: demoCustomers, Years: demoYears, Seed: demoSeed, End: demoEnd})
	require.NoError(t, err)
	a := ingest.NewApplier(ctx, svc, "demo")
	n := 0
	for st := range steps {
		n++
		if err := a.Submit(ingest.Record{Row: n, Key: st.Key, Command: st.Command}); err != nil {
			break
		}
	}
	_, err = a.Close()
	require.NoError(t, err)
	open := func() (io.ReadCloser, error) { return os.Open(ibmSample) }
	_, err = ingest.Run(ctx, svc, open, ingest.Formats["ibm-ar"], ingest.Options{Actor: "ibm-sample"})
	require.NoError(t, err)
}

// get reads a JSON route of the daemon with its token into v.
func (d *daemon) get(t testing.TB, path string, q url.Values, v any) {
	t.Helper()
	status, body := d.do(t, http.MethodGet, path, q, nil)
	require.Equalf(t, http.StatusOK, status, "GET %s?%s: %s", path, q.Encode(), body)
	require.NoError(t, json.Unmarshal(body, v), "GET %s", path)
}

// do sends a request with the daemon's token and returns the status and body.
func (d *daemon) do(t testing.TB, method, path string, q url.Values, body io.Reader) (int, []byte) {
	t.Helper()
	u := d.URL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequest(method, u, body)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+d.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: waitMax}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// fmtQ builds a query from pairs.
func fmtQ(kv ...string) url.Values {
	if len(kv)%2 != 0 {
		panic(fmt.Sprintf("fmtQ: odd pairs %q", kv))
	}
	q := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	return q
}
