package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/auth"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/handlers/httpapi"
)

// BenchmarkPostInvoice64 measures the write path as a user meets it: 64 clients, each posting
// distinct invoices (with their own Idempotency-Key) to its own customers, one request at a
// time, over a real loopback server on the embedded store in a temporary directory, wired as
// the daemon wires it (tokens, metrics around the store, the command service) with no rate
// limit. One op is one POST /v1/invoices answered 201.
//
// It reports requests/s, p50 and p99 latency, CPU per request (user+sys of the whole
// process: server and clients both, from getrusage) and the store's fdatasync calls per
// second and requests per fdatasync, so a disk-bound figure shows as such beside
// embedded.BenchmarkFdatasync.
func BenchmarkPostInvoice64(b *testing.B) {
	const clients, customersPerClient = 64, 4
	store, err := embedded.Open(b.TempDir(), embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	clock := command.WallClock{}
	metrics := httpapi.NewMetrics()
	measured := metrics.InstrumentStore(store)
	tokens, err := auth.Open(context.Background(), measured, auth.Options{Clock: clock, Bootstrap: adminToken})
	if err != nil {
		b.Fatal(err)
	}
	svc := command.New(measured, clock, command.Options{})
	noLimit := auth.Rate{}
	srv := httptest.NewServer(httpapi.New(svc, measured, httpapi.Options{Clock: clock, Tokens: tokens, Metrics: metrics, RateLimit: &noLimit}))
	defer srv.Close()
	tr := &http.Transport{MaxIdleConns: clients * 2, MaxIdleConnsPerHost: clients * 2, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	post := func(path, key string, body []byte) error {
		req, err := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, got)
		}
		return nil
	}
	for c := range clients * customersPerClient {
		id := fmt.Sprintf("B%05d", c)
		body := fmt.Sprintf(`{"id":%q,"name":"%s SAS","country":"FR","sector":"C25","segment":"sme","currency":"EUR","terms_days":30,"credit_limit":900000000000}`, id, id)
		if err := post("/v1/customers", "reg-"+id, []byte(body)); err != nil {
			b.Fatal(err)
		}
	}
	latencies := make([][]time.Duration, clients)
	errs := make([]error, clients)
	var handed atomic.Int64
	var wg sync.WaitGroup
	syncs0 := store.Stats().Syncs
	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() { // ends once b.N requests are handed out, or on the first error
			defer wg.Done()
			for n := 0; handed.Add(1) <= int64(b.N); n++ {
				cust := fmt.Sprintf("B%05d", c*customersPerClient+n%customersPerClient)
				inv := fmt.Sprintf("F-%d-%d-%d", b.N, c, n) // b.N: distinct across the runs of one store
				body := fmt.Sprintf(`{"customer_id":%q,"invoice_id":%q,"number":%q,"amount":%d,"currency":"EUR","issue_date":"2026-01-05","due_date":"2026-02-04"}`,
					cust, inv, inv, 10_000+n%5000)
				t0 := time.Now()
				err := post("/v1/invoices", "inv-"+inv, []byte(body))
				latencies[c] = append(latencies[c], time.Since(t0))
				if err != nil {
					errs[c] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := cpuTime() - cpu0
	syncs := store.Stats().Syncs - syncs0
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	all := slices.Concat(latencies...)
	slices.Sort(all)
	at := func(q float64) float64 {
		return float64(all[min(len(all)-1, int(q*float64(len(all))))].Nanoseconds()) / 1e6
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(at(0.50), "p50_ms")
	b.ReportMetric(at(0.99), "p99_ms")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu_us/req")
	b.ReportMetric(float64(syncs)/elapsed.Seconds(), "syncs/s")
	b.ReportMetric(float64(b.N)/float64(max(syncs, 1)), "req/sync")
}

// cpuTime is the process's user+sys CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
