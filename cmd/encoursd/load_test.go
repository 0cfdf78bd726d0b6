package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The load test's settings: short in CI; the long run is
//
//	go test ./cmd/encoursd -run TestLoad -v -load.duration 2m -load.rate 100
var (
	loadDuration = flag.Duration("load.duration", 10*time.Second, "how long TestLoad sends requests")
	loadRate     = flag.Int("load.rate", 50, "requests per second TestLoad sends, at fixed intervals")
	loadHeapMax  = flag.Int("load.heap-mib", 64, "ceiling of the daemon's heap (MiB) during TestLoad")
)

const (
	loadCustomers = 100
	// loadTimeout fails a request that has no answer by then.
	loadTimeout = 10 * time.Second
	// loadHeapEvery is how often the heap is measured.
	loadHeapEvery = 250 * time.Millisecond
)

// TestLoad runs the daemon on a loopback port and sends it requests at a fixed rate for a
// fixed time — writes (invoices, payments) and reads (a customer, the portfolio, the customer
// list) to 100 customers — each sent at its scheduled instant, whatever the answers before
// it (open loop), its latency measured from that instant to the end of the answer, every
// sample kept. No request may fail, the daemon's heap, measured every 250 ms, must stay under
// the ceiling, and the exact p50, p99, p99.9 and maximum are logged.
func TestLoad(t *testing.T) {
	const admin = "load-admin-token-0123456789abcdef-0123456789"
	d := startInProcess(t, map[string]string{adminTokenEnv: admin}, "--rate-limit", "0")
	client := &http.Client{Timeout: loadTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}
	send := func(method, path, body string) (int, error) {
		req, err := http.NewRequest(method, d.url+path, strings.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+admin)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, err = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, err
	}
	for c := range loadCustomers {
		status, err := send(http.MethodPost, "/v1/customers", fmt.Sprintf(
			`{"id":"L%d","name":"L%d SA","country":"FR","sector":"C25","segment":"sme","currency":"EUR","terms_days":30,"credit_limit":1000000000,"registered_on":"2020-01-02"}`, c, c))
		require.NoError(t, err)
		require.Equal(t, http.StatusCreated, status)
	}

	// request returns the i-th request of the run and the status it must get.
	request := func(i int) (method, path, body string, want int) {
		c := i % loadCustomers
		switch i % 10 {
		case 0, 1, 2, 3, 4:
			return http.MethodPost, "/v1/invoices", fmt.Sprintf(
				`{"customer_id":"L%d","invoice_id":"LI%d","number":"LN%d","amount":%d,"currency":"EUR","issue_date":"2025-0%d-10","due_date":"2025-0%d-10"}`,
				c, i, i, 10_000+i%7_000, 1+i%5, 2+i%5), http.StatusCreated
		case 5, 6:
			return http.MethodPost, "/v1/payments", fmt.Sprintf(
				`{"customer_id":"L%d","payment_id":"LP%d","amount":%d,"currency":"EUR","received_on":"2025-07-01"}`, c, i, 5_000+i%3_000), http.StatusCreated
		case 7:
			return http.MethodGet, fmt.Sprintf("/v1/customers/L%d", c), "", http.StatusOK
		case 8:
			return http.MethodGet, "/v1/portfolio", "", http.StatusOK
		default:
			return http.MethodGet, "/v1/customers?sort=exposure&limit=20", "", http.StatusOK
		}
	}

	var heapMax atomic.Uint64
	var heapSamples []uint64
	stopHeap := make(chan struct{})
	heapDone := make(chan struct{})
	go func() { // ends when stopHeap closes
		defer close(heapDone)
		tick := time.NewTicker(loadHeapEvery)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			heapSamples = append(heapSamples, m.HeapAlloc)
			if m.HeapAlloc > heapMax.Load() {
				heapMax.Store(m.HeapAlloc)
			}
			select {
			case <-stopHeap:
				return
			case <-tick.C:
			}
		}
	}()

	rate, duration := *loadRate, *loadDuration
	n := int(duration.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	latencies := make([]time.Duration, n)
	var failures atomic.Int64
	var failMu sync.Mutex
	var firstFailures []string
	fail := func(format string, args ...any) {
		failures.Add(1)
		failMu.Lock()
		defer failMu.Unlock()
		if len(firstFailures) < 10 {
			firstFailures = append(firstFailures, fmt.Sprintf(format, args...))
		}
	}
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(at))
		wg.Go(func() {
			method, path, body, want := request(i)
			status, err := send(method, path, body)
			latencies[i] = time.Since(at)
			switch {
			case err != nil:
				fail("%s %s: %v", method, path, err)
			case status != want:
				fail("%s %s: %d, want %d", method, path, status, want)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopHeap)
	<-heapDone

	// Per route first (the request order decides each one's route), then all together.
	byRoute := map[string][]time.Duration{}
	var routes []string
	for i, l := range latencies {
		method, path, _, _ := request(i)
		route := method + " " + strings.SplitN(strings.Replace(path, fmt.Sprintf("/L%d", i%loadCustomers), "/{id}", 1), "?", 2)[0]
		if byRoute[route] == nil {
			routes = append(routes, route)
		}
		byRoute[route] = append(byRoute[route], l)
	}
	for _, r := range routes {
		ls := byRoute[r]
		slices.Sort(ls)
		t.Logf("%-26s %6d requests: p50 %s, p99 %s, max %s", r, len(ls), percentile(ls, 0.50), percentile(ls, 0.99), ls[len(ls)-1])
	}
	slices.Sort(latencies)
	pct := func(q float64) time.Duration { return percentile(latencies, q) }
	t.Logf("%d requests at %d/s over %s (50%% writes of invoices, 20%% payments, 30%% reads): p50 %s, p99 %s, p99.9 %s, max %s; %d failed",
		n, rate, elapsed.Round(time.Millisecond), pct(0.50), pct(0.99), pct(0.999), latencies[n-1], failures.Load())
	t.Logf("heap of the process, daemon and clients (HeapAlloc, %d samples every %s): first %.1f MiB, last %.1f MiB, max %.1f MiB, ceiling %d MiB",
		len(heapSamples), loadHeapEvery, mib(heapSamples[0]), mib(heapSamples[len(heapSamples)-1]), mib(heapMax.Load()), *loadHeapMax)
	assert.Zero(t, failures.Load(), "failed requests, the first: %v", firstFailures)
	assert.Less(t, heapMax.Load(), uint64(*loadHeapMax)<<20, "the daemon's heap stays under the ceiling")
}

// percentile is the nearest-rank percentile of sorted samples: the smallest sample with a
// share q of all samples at or below it.
func percentile(sorted []time.Duration, q float64) time.Duration {
	return sorted[max(int(math.Ceil(q*float64(len(sorted))))-1, 0)]
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
