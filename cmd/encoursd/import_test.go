package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDaemonImportsCSV: POST /v1/import is mounted behind the API's authentication (writer
// yes, reader no), described in /openapi.json, and imports a CSV streamed in the body.
func TestDaemonImportsCSV(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon binary")
	}
	bin := filepath.Join(t.TempDir(), "encoursd")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run(), "go build")
	const admin = "env-admin-token-0123456789abcdef-0123456789"
	d := startDaemon(t, bin, filepath.Join(t.TempDir(), "data"), []string{adminTokenEnv + "=" + admin})
	defer d.stop(t)

	token := func(role string) string {
		req, err := http.NewRequest(http.MethodPost, d.url+"/v1/tokens", strings.NewReader(`{"role":"`+role+`","name":"erp-`+role+`"}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+admin)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out struct {
			Token string `json:"token"`
		}
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		require.NotEmpty(t, out.Token)
		return out.Token
	}
	postCSV := func(tok, body string) (int, string) {
		req, err := http.NewRequest(http.MethodPost, d.url+"/v1/import?format=generic", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "text/csv")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	csv := "customer_id,invoice_id,issue_date,due_date,amount,currency\nACME,F1,2026-11-02,2026-12-02,1250.00,EUR\n"
	code, _ := postCSV(token("reader"), csv)
	assert.Equal(t, http.StatusForbidden, code)
	code, body := postCSV(token("writer"), csv)
	require.Equal(t, http.StatusOK, code, body)
	assert.Contains(t, body, `"events_appended":2`)
	assert.Contains(t, get(t, d.url+"/v1/customers/ACME", admin), `"exposure":125000`)
	assert.Contains(t, get(t, d.url+"/openapi.json", admin), `"/v1/import"`)
}
