package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/eventstore/kurrent/kurrenttest"
)

// The daemon as an operator runs it: the real binary, built here, on a data directory. It
// must print its URL, become ready, refuse a request without a token, take an invoice with
// the ENCOURS_ADMIN_TOKEN, exit 0 on SIGTERM, and find the invoice again after a restart —
// then authenticated by a token it made for --admin-token-file, and the environment's token
// no longer valid. Under --auth off it needs no token.
func TestDaemonServesShutsDownAndRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon binary")
	}
	bin := filepath.Join(t.TempDir(), "encoursd")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run(), "go build")
	data := filepath.Join(t.TempDir(), "data")
	const envToken = "env-admin-token-0123456789abcdef-0123456789"

	d := startDaemon(t, bin, data, []string{adminTokenEnv + "=" + envToken})
	assert.Equal(t, http.StatusUnauthorized, do(t, http.MethodGet, d.url+"/v1/customers/ACME", "", ""), "no token")
	post(t, d.url+"/v1/customers", envToken, `{"id":"ACME","name":"Acme SAS","country":"FR","sector":"C25","segment":"sme","currency":"EUR","terms_days":30,"credit_limit":5000000}`)
	post(t, d.url+"/v1/invoices", envToken, `{"customer_id":"ACME","invoice_id":"F1","number":"F1","amount":125000,"currency":"EUR","issue_date":"2026-11-02","due_date":"2026-12-02"}`)
	metrics := get(t, d.url+"/metrics", envToken)
	assert.Contains(t, metrics, `encours_eventstore_appends_total{outcome="appended"} 2`)
	assert.Regexp(t, `(?m)^encours_eventstore_syncs_total [1-9]`, metrics, "the store's own counters")
	assert.Contains(t, metrics, `encours_http_requests_total{code="401",route="GET /v1/customers/{id}"} 1`)
	d.stop(t)

	tokenFile := filepath.Join(t.TempDir(), "admin-token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("stale\n"), 0o644))
	d = startDaemon(t, bin, data, nil, "--admin-token-file", tokenFile, "--keep-log-cached")
	// The daemon prints the token file's line after its URL line, which startDaemon waits
	// for: read on until it comes.
	assert.Eventually(t, func() bool { return strings.Contains(d.output(), "admin token (new at each start) in "+tokenFile) },
		10*time.Second, 10*time.Millisecond, "stdout: %s", d.output())
	info, err := os.Stat(tokenFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the token file is the owner's only")
	b, err := os.ReadFile(tokenFile)
	require.NoError(t, err)
	fileToken := strings.TrimSpace(string(b))
	assert.Regexp(t, `^enc_[A-Za-z0-9_-]{43}$`, fileToken)
	assert.NotContains(t, d.output(), fileToken, "the token is never printed")
	assert.Equal(t, http.StatusUnauthorized, do(t, http.MethodGet, d.url+"/v1/customers/ACME", envToken, ""), "the environment's token was for that run only")

	req, err := http.NewRequest(http.MethodGet, d.url+"/v1/customers/ACME", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+fileToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var c struct {
		Exposure  int64 `json:"exposure"`
		OpenItems []struct {
			InvoiceID string `json:"invoice_id"`
		} `json:"open_items"`
	}
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&c))
	resp.Body.Close()
	assert.Equal(t, int64(125000), c.Exposure)
	require.Len(t, c.OpenItems, 1)
	assert.Equal(t, "F1", c.OpenItems[0].InvoiceID)
	// The directory was rebuilt from the log: the invoice is found by its id alone.
	post(t, d.url+"/v1/invoices/F1/dispute", fileToken, `{"reason":"wrong quantity","disputed_on":"2026-11-05"}`)
	d.stop(t)
	_, err = os.Stat(filepath.Join(data, "projections", "alerts.snapshot"))
	require.NoError(t, err, "the alert evaluator keeps its folded state at shutdown")

	d = startDaemon(t, bin, data, nil, "--auth", "off")
	assert.Equal(t, http.StatusOK, do(t, http.MethodGet, d.url+"/v1/customers/ACME", "", ""), "--auth off")

	// As of a past date the customer's position is what was true then (effective_on <= D),
	// not today's: F1 is paid on 2026-11-15 and the limit raised today.
	post(t, d.url+"/v1/payments", "", `{"customer_id":"ACME","payment_id":"P1","amount":125000,"currency":"EUR","received_on":"2026-11-15","allocations":[{"invoice_id":"F1","amount":125000}]}`)
	post(t, d.url+"/v1/customers/ACME/credit-limit", "", `{"amount":6000000,"reason":"growth","approved_by":"cfo"}`)
	type position struct {
		AsOf          string `json:"as_of"`
		CreditLimit   int64  `json:"credit_limit"`
		Exposure      int64  `json:"exposure"`
		OverdueTotal  int64  `json:"overdue_total"`
		DisputedTotal int64  `json:"disputed_total"`
		UtilisationBP *int64 `json:"utilisation_bp"`
		OpenItems     []struct {
			InvoiceID   string `json:"invoice_id"`
			OpenAmount  int64  `json:"open_amount"`
			DaysOverdue int    `json:"days_overdue"`
		} `json:"open_items"`
	}
	read := func(query string) position {
		var p position
		require.NoError(t, json.Unmarshal([]byte(get(t, d.url+"/v1/customers/ACME"+query, "")), &p))
		return p
	}
	now := read("")
	assert.Equal(t, int64(6_000_000), now.CreditLimit)
	assert.Zero(t, now.Exposure)
	assert.Empty(t, now.OpenItems)
	var then position
	require.Eventually(t, func() bool { then = read("?as_of=2026-11-10"); return then.Exposure != 0 }, 15*time.Second, 20*time.Millisecond,
		"the projection catches up with the payment and answers as of 2026-11-10")
	assert.Equal(t, "2026-11-10", then.AsOf)
	assert.Equal(t, int64(5_000_000), then.CreditLimit, "the limit in force on 2026-11-10")
	assert.Equal(t, int64(125_000), then.Exposure, "F1 unpaid on 2026-11-10")
	require.NotNil(t, then.UtilisationBP)
	assert.Equal(t, int64(250), *then.UtilisationBP, "1 250.00 / 50 000.00 = 2.50 %")
	require.Len(t, then.OpenItems, 1)
	assert.Equal(t, "F1", then.OpenItems[0].InvoiceID)
	assert.Equal(t, int64(125_000), then.OpenItems[0].OpenAmount)
	assert.Zero(t, then.OpenItems[0].DaysOverdue, "due 2026-12-02")
	assert.Equal(t, int64(125_000), then.DisputedTotal, "disputed on 2026-11-05")
	assert.Empty(t, read("?as_of=2026-11-04").DisputedTotal, "not yet disputed on 2026-11-04")
	d.stop(t)
}

func TestBadFlagsExit2(t *testing.T) {
	noEnv := func(string) string { return "" }
	for _, args := range [][]string{{"--clock", "sundial"}, {"--nope"}, {"extra"}, {"--auth", "maybe"},
		{"--rate-limit", "-1"}, {"--rate-limit", "NaN"}, {"--rate-limit", "5", "--rate-burst", "0"}} {
		code := run(context.Background(), args, noEnv, io.Discard, io.Discard)
		assert.Equal(t, 2, code, "args %v", args)
	}
	shortToken := func(k string) string {
		if k == adminTokenEnv {
			return "short"
		}
		return ""
	}
	assert.Equal(t, 2, run(context.Background(), nil, shortToken, io.Discard, io.Discard), "a short "+adminTokenEnv)
}

type daemon struct {
	cmd  *exec.Cmd
	url  string
	done chan error

	mu     sync.Mutex
	stdout strings.Builder
}

// output returns what the daemon printed on stdout so far.
func (d *daemon) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stdout.String()
}

// startDaemon runs the binary on a free port, with env added to an environment without
// ENCOURS_ADMIN_TOKEN, and waits, with a deadline, for its URL line and for /readyz.
func startDaemon(t *testing.T, bin, data string, env []string, args ...string) *daemon {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--data", data, "--listen", "127.0.0.1:0", "--clock", "manual"}, args...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, adminTokenEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	d := &daemon{cmd: cmd, done: make(chan error, 1)}
	t.Cleanup(func() { _ = cmd.Process.Kill() }) // a no-op once it exited

	urls := make(chan string, 1)
	go func() { // ends at the daemon's exit (stdout closes)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			d.mu.Lock()
			d.stdout.WriteString(sc.Text() + "\n")
			d.mu.Unlock()
			if u, ok := strings.CutPrefix(sc.Text(), "encoursd listening on "); ok {
				urls <- u
			}
		}
		d.done <- cmd.Wait()
	}()
	select {
	case d.url = <-urls:
	case err := <-d.done:
		t.Fatalf("daemon exited before listening: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon printed no URL within 30s")
	}
	require.Eventually(t, func() bool {
		resp, err := http.Get(d.url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond, "waiting for /readyz")
	return d
}

// stop sends SIGTERM and requires exit status 0 within a deadline.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-d.done:
		require.NoError(t, err, "exit status after SIGTERM")
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not exit within 20s of SIGTERM")
	}
}

// do sends a request with token (none when "") and returns the status.
func do(t *testing.T, method, url, token, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		t.Errorf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return resp.StatusCode
}

// get returns the body of a GET that must answer 200.
func get(t *testing.T, url, token string) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", url, b)
	return string(b)
}

func post(t *testing.T, url, token, body string) {
	t.Helper()
	require.Equal(t, http.StatusCreated, do(t, http.MethodPost, url, token, body), "POST %s", url)
}

// TestDaemonOnKurrentDB runs the daemon with --store kurrentdb against the in-process KurrentDB
// server (the client's own gRPC stubs): it serves writes, the ledger projection's reads and
// survives a restart with the log held by KurrentDB, not --data.
func TestDaemonOnKurrentDB(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon binary")
	}
	srv := kurrenttest.Start(t)
	bin := filepath.Join(t.TempDir(), "encoursd")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run(), "go build")
	const token = "env-admin-token-0123456789abcdef-0123456789"
	env := []string{adminTokenEnv + "=" + token}

	d := startDaemon(t, bin, filepath.Join(t.TempDir(), "data"), env, "--store", "kurrentdb", "--kurrentdb-url", srv.URL())
	post(t, d.url+"/v1/customers", token, `{"id":"ACME","name":"Acme SAS","country":"FR","segment":"sme","currency":"EUR","terms_days":30,"credit_limit":5000000}`)
	post(t, d.url+"/v1/invoices", token, `{"customer_id":"ACME","invoice_id":"F1","number":"F1","amount":125000,"currency":"EUR","issue_date":"2026-11-02","due_date":"2026-12-02"}`)
	d.stop(t)

	// A fresh data directory: the log comes back from KurrentDB, the projection rebuilds.
	d = startDaemon(t, bin, filepath.Join(t.TempDir(), "data"), env, "--store", "kurrentdb", "--kurrentdb-url", srv.URL())
	defer d.stop(t)
	require.Eventually(t, func() bool {
		return strings.Contains(get(t, d.url+"/v1/portfolio?as_of=2026-11-10", token), `"exposure":{"amount":125000,"currency":"EUR"}`)
	}, 15*time.Second, 50*time.Millisecond, "the portfolio's exposure is rebuilt from KurrentDB")
	// The customer's read shows the projection's figures beside the command side's.
	c := get(t, d.url+"/v1/customers/ACME?as_of=2026-12-10", token)
	assert.Contains(t, c, `"aging":[`)
	assert.Contains(t, c, `"label":"1-30","min_days_past_due":1,"max_days_past_due":30,"amount":{"amount":125000,"currency":"EUR"}`,
		"F1, due 2026-12-02, is 8 days past due on 2026-12-10")
	assert.Contains(t, c, `"dso":{`)
}
