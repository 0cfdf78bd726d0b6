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
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The daemon as an operator runs it: the real binary, built here, on a data directory. It
// must print its URL, become ready, take an invoice, exit 0 on SIGTERM, and find the
// invoice again after a restart.
func TestDaemonServesShutsDownAndRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon binary")
	}
	bin := filepath.Join(t.TempDir(), "encoursd")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run(), "go build")
	data := filepath.Join(t.TempDir(), "data")

	d := startDaemon(t, bin, data)
	post(t, d.url+"/v1/customers", `{"id":"ACME","name":"Acme SAS","country":"FR","sector":"C25","segment":"sme","currency":"EUR","terms_days":30,"credit_limit":5000000}`)
	post(t, d.url+"/v1/invoices", `{"customer_id":"ACME","invoice_id":"F1","number":"F1","amount":125000,"currency":"EUR","issue_date":"2026-11-02","due_date":"2026-12-02"}`)
	d.stop(t)

	d = startDaemon(t, bin, data)
	resp, err := http.Get(d.url + "/v1/customers/ACME")
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
	post(t, d.url+"/v1/invoices/F1/dispute", `{"reason":"wrong quantity","disputed_on":"2026-11-05"}`)
	d.stop(t)
}

func TestBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{{"--clock", "sundial"}, {"--nope"}, {"extra"}} {
		code := run(context.Background(), args, io.Discard, io.Discard)
		assert.Equal(t, 2, code, "args %v", args)
	}
}

type daemon struct {
	cmd  *exec.Cmd
	url  string
	done chan error
}

// startDaemon runs the binary on a free port and waits, with a deadline, for its URL line
// and for /readyz.
func startDaemon(t *testing.T, bin, data string) *daemon {
	t.Helper()
	cmd := exec.Command(bin, "--data", data, "--listen", "127.0.0.1:0", "--clock", "manual")
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

func post(t *testing.T, url, body string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode, "POST %s: %s", url, b)
}
