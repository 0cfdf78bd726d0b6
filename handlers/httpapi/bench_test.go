package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/auth"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/handlers/httpapi"
	"github.com/encours/encours/handlers/httpapi/loadgen"
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
	store, svc, h := benchAPI(b, b.TempDir())
	srv := httptest.NewServer(h)
	defer srv.Close()
	load := newPostLoad(srv.URL, clients)
	defer load.close()
	for c := range clients * customersPerClient {
		id := fmt.Sprintf("B%05d", c)
		body := fmt.Sprintf(`{"id":%q,"name":"%s SAS","country":"FR","sector":"C25","segment":"sme","currency":"EUR","terms_days":30,"credit_limit":900000000000}`, id, id)
		if err := load.post(0, "/v1/customers", "reg-"+id, []byte(body)); err != nil {
			b.Fatal(err)
		}
	}
	syncs0, read0 := store.Stats().Syncs, svc.DirectoryStats().EventsRead
	elapsed := load.run(b, func(c, n int) (string, string, []byte) {
		cust := fmt.Sprintf("B%05d", c*customersPerClient+n%customersPerClient)
		inv := fmt.Sprintf("F-%d-%d-%d", b.N, c, n) // b.N: distinct across the runs of one store
		body := fmt.Sprintf(`{"customer_id":%q,"invoice_id":%q,"number":%q,"amount":%d,"currency":"EUR","issue_date":"2026-01-05","due_date":"2026-02-04"}`,
			cust, inv, inv, 10_000+n%5000)
		return "/v1/invoices", "inv-" + inv, []byte(body)
	})
	syncs := store.Stats().Syncs - syncs0
	b.ReportMetric(float64(syncs)/elapsed.Seconds(), "syncs/s")
	b.ReportMetric(float64(b.N)/float64(max(syncs, 1)), "req/sync")
	// Events the command service's id directory read back from the store: the requests'
	// own events it indexes as they are appended, unless they come out of order.
	b.ReportMetric(float64(svc.DirectoryStats().EventsRead-read0)/float64(b.N), "dir_reads/req")
}

// BenchmarkPostFloor64 is BenchmarkPostInvoice64's floor on this machine: the same 64
// clients, requests and loopback server, but a handler that only reads the body and answers
// a fixed 201 of the same shape. Its cpu_us/req is what net/http's server, the clients and
// the scheduler cost per request before the API does anything; req/s at two cores is bounded by
// 2e6 / (BenchmarkPostInvoice64's cpu_us/req), and never above 2e6 / this one's.
func BenchmarkPostFloor64(b *testing.B) {
	const clients = 64
	answer := []byte(`{"stream":"customer-B00000","stream_version":2,"position":300,"event_ids":["0190b6a2-7c1e-7e2a-9d7a-3c1f2b4a5d6e"]}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil || r.Header.Get("Authorization") == "" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		w.Write(answer)
	}))
	defer srv.Close()
	load := newPostLoad(srv.URL, clients)
	defer load.close()
	load.run(b, func(c, n int) (string, string, []byte) {
		cust := fmt.Sprintf("B%05d", c*4+n%4)
		inv := fmt.Sprintf("F-%d-%d-%d", b.N, c, n)
		body := fmt.Sprintf(`{"customer_id":%q,"invoice_id":%q,"number":%q,"amount":%d,"currency":"EUR","issue_date":"2026-01-05","due_date":"2026-02-04"}`,
			cust, inv, inv, 10_000+n%5000)
		return "/v1/invoices", "inv-" + inv, []byte(body)
	})
}

// benchAPI is the API over an embedded store in dir, wired as the daemon wires it (tokens,
// metrics around the store, the command service) with no rate limit. The store closes
// with the benchmark.
func benchAPI(b *testing.B, dir string) (*embedded.Store, *command.Service, http.Handler) {
	store, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	clock := command.WallClock{}
	metrics := httpapi.NewMetrics()
	measured := metrics.InstrumentStore(store)
	tokens, err := auth.Open(context.Background(), measured, auth.Options{Clock: clock, Bootstrap: adminToken})
	if err != nil {
		b.Fatal(err)
	}
	svc := command.New(measured, clock, command.Options{})
	noLimit := auth.Rate{}
	return store, svc, httpapi.New(svc, measured, httpapi.Options{Clock: clock, Tokens: tokens, Metrics: metrics, RateLimit: &noLimit})
}

// postLoad is the clients of the POST benchmarks: one keep-alive connection each
// (loadgen: a lean client, so that the CPU the benchmark measures is the server's), the
// admin token, a JSON body and an Idempotency-Key on every request.
type postLoad struct {
	conns []*loadgen.Conn
}

func newPostLoad(url string, clients int) *postLoad {
	l := &postLoad{}
	for range clients {
		c, err := loadgen.Dial(strings.TrimPrefix(url, "http://"), 30*time.Second, "Authorization", "Bearer "+adminToken)
		if err != nil {
			panic(err) // only odd header pairs fail
		}
		l.conns = append(l.conns, c)
	}
	return l
}

func (l *postLoad) close() {
	for _, c := range l.conns {
		c.Close()
	}
}

// post sends one request on client c's connection and wants a 201.
func (l *postLoad) post(c int, path, key string, body []byte) error {
	status, got, err := l.conns[c].Post(path, key, body)
	if err != nil {
		return err
	}
	if status != http.StatusCreated {
		return fmt.Errorf("POST %s: %d %s", path, status, got)
	}
	return nil
}

// run has the clients send b.N requests in all, request n of client c being next(c, n), one
// at a time per client, and reports req/s, p50 and p99 latency and CPU per request (user+sys
// of the whole process, server and clients both, from getrusage). It returns the time the
// b.N requests took.
func (l *postLoad) run(b *testing.B, next func(c, n int) (path, key string, body []byte)) time.Duration {
	latencies := make([][]time.Duration, len(l.conns))
	errs := make([]error, len(l.conns))
	var handed atomic.Int64
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	for c := range l.conns {
		wg.Add(1)
		go func() { // ends once b.N requests are handed out, or on the first error
			defer wg.Done()
			for n := 0; handed.Add(1) <= int64(b.N); n++ {
				path, key, body := next(c, n)
				t0 := time.Now()
				err := l.post(c, path, key, body)
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
	return elapsed
}

// cpuTime is the process's user+sys CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPostInvoiceHandler measures the server's own work for one POST /v1/invoices,
// without the network and the clients of BenchmarkPostInvoice64: the handler called
// directly, one request at a time, on the embedded store in a directory on tmpfs when
// /dev/shm exists (fdatasync there costs next to nothing, so ns/op is the API's, the
// command service's and the store's CPU rather than the disk's wait). One op is one request
// answered 201.
func BenchmarkPostInvoiceHandler(b *testing.B) {
	dir := b.TempDir()
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if dir, err = os.MkdirTemp("/dev/shm", "encours-bench-"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) }) // after the store closes (cleanups run last first)
	}
	_, _, h := benchAPI(b, dir)
	serve := func(path, key string, body []byte) {
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adminToken)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusCreated {
			b.Fatalf("POST %s: %d %s", path, rec.Code, rec.Body)
		}
	}
	const customers = 256
	for c := range customers {
		id := fmt.Sprintf("H%05d", c)
		serve("/v1/customers", "reg-"+id, fmt.Appendf(nil, `{"id":%q,"name":"%s SAS","country":"FR","sector":"C25","segment":"sme","currency":"EUR","terms_days":30,"credit_limit":900000000000}`, id, id))
	}
	// Requests are made ahead, a chunk at a time with the timer stopped (stopping it reads
	// the memory statistics, which stops the world: not once per request).
	const chunk = 1024
	reqs := make([]*http.Request, 0, chunk)
	recs := make([]*httptest.ResponseRecorder, 0, chunk)
	var cpu time.Duration // of the process while requests are served: the handler and the store
	b.ReportAllocs()
	b.ResetTimer()
	for n := 0; n < b.N; {
		b.StopTimer()
		reqs, recs = reqs[:0], recs[:0]
		for i := n; i < min(n+chunk, b.N); i++ {
			cust := fmt.Sprintf("H%05d", i%customers)
			inv := fmt.Sprintf("F-%d-%d", b.N, i)
			body := fmt.Appendf(nil, `{"customer_id":%q,"invoice_id":%q,"number":%q,"amount":%d,"currency":"EUR","issue_date":"2026-01-05","due_date":"2026-02-04"}`,
				cust, inv, inv, 10_000+i%5000)
			req := httptest.NewRequest(http.MethodPost, "/v1/invoices", bytes.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+adminToken)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", "inv-"+inv)
			reqs, recs = append(reqs, req), append(recs, httptest.NewRecorder())
		}
		b.StartTimer()
		cpu0 := cpuTime()
		for i, req := range reqs {
			h.ServeHTTP(recs[i], req)
			if recs[i].Code != http.StatusCreated {
				b.Fatalf("POST /v1/invoices: %d %s", recs[i].Code, recs[i].Body)
			}
		}
		cpu += cpuTime() - cpu0
		n += len(reqs)
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu_ns/op")
}
