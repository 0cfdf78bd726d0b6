package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/auth"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/handlers/httpapi"
	"github.com/encours/encours/handlers/httpapi/loadgen"
)

// httpToken is the bootstrap admin token of the benchmark's server.
const httpToken = "bench-admin-token-0123456789abcdef-0123456789"

// httpCustomersPerClient: each client posts invoices to its own customers in turn.
const httpCustomersPerClient = 4

type httpResult struct {
	perSec, p50, p99 float64
	requests         int
}

// serveAPI serves the API over store on a loopback port, wired as the daemon wires it
// (metrics around the store, tokens, the command service), with no rate limit.
func serveAPI(ctx context.Context, store eventstore.Store, log io.Writer) (url string, stop func(), err error) {
	clock := command.WallClock{}
	metrics := httpapi.NewMetrics()
	measured := metrics.InstrumentStore(store)
	tokens, err := auth.Open(ctx, measured, auth.Options{Clock: clock, Bootstrap: httpToken})
	if err != nil {
		return "", nil, err
	}
	svc := command.New(measured, clock, command.Options{})
	noLimit := auth.Rate{}
	logger := slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelError})) // internal errors only
	h := httpapi.New(svc, measured, httpapi.Options{Clock: clock, Tokens: tokens, Metrics: metrics, RateLimit: &noLimit, Logger: logger})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }() // ends at Shutdown below
	stop = func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// runHTTP registers clients × httpCustomersPerClient customers, then has clients post
// invoices for d, each with its own Idempotency-Key, one request at a time per client, each
// client on its own keep-alive connection. The clients are loadgen's lean ones: they share
// the cores with the server, and net/http's client would take half of them (see
// handlers/httpapi's BenchmarkPostFloor64).
func runHTTP(ctx context.Context, url string, clients int, d time.Duration) (httpResult, error) {
	conns := make([]*loadgen.Conn, clients)
	for c := range conns {
		conn, err := loadgen.Dial(strings.TrimPrefix(url, "http://"), 30*time.Second, "Authorization", "Bearer "+httpToken)
		if err != nil {
			return httpResult{}, err
		}
		defer conn.Close()
		conns[c] = conn
	}
	post := func(c int, path, key string, body []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		status, got, err := conns[c].Post(path, key, body)
		if err != nil {
			return err
		}
		if status != http.StatusCreated {
			return fmt.Errorf("POST %s: %d %s", path, status, got)
		}
		return nil
	}
	for c := range clients * httpCustomersPerClient {
		id := fmt.Sprintf("HTTP%05d", c)
		body := fmt.Sprintf(`{"id":%q,"name":"%s SAS","country":"FR","sector":"C25","segment":"sme","currency":"EUR","terms_days":30,"credit_limit":900000000000}`, id, id)
		if err := post(0, "/v1/customers", "reg-"+id, []byte(body)); err != nil {
			return httpResult{}, err
		}
	}
	all, elapsed, err := closedLoop(ctx, clients, d, func(c, n int) error {
		cust := fmt.Sprintf("HTTP%05d", c*httpCustomersPerClient+n%httpCustomersPerClient)
		inv := fmt.Sprintf("F-%d-%d", c, n)
		body := fmt.Sprintf(`{"customer_id":%q,"invoice_id":%q,"number":%q,"amount":%d,"currency":"EUR","issue_date":"2026-01-05","due_date":"2026-02-04"}`,
			cust, inv, inv, 10_000+n%5000)
		return post(c, "/v1/invoices", "inv-"+inv, []byte(body))
	})
	if err != nil {
		return httpResult{}, err
	}
	return httpResult{perSec: float64(len(all)) / elapsed.Seconds(), p50: all.ms(0.5), p99: all.ms(0.99), requests: len(all)}, nil
}

// http runs POST /v1/invoices over the embedded store and, with PostgreSQL, the same
// handler and command service over the chained eventstore/postgres, so only the store
// differs.
func (r *runner) http(ctx context.Context) error {
	dir, err := r.tempDir("http")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	es, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		return err
	}
	enc, err := r.httpOn(ctx, es)
	_ = es.Close()
	if err != nil {
		return fmt.Errorf("encours: %w", err)
	}
	var pg, pgc *httpResult
	note := "PostgreSQL not run: set ENCOURS_POSTGRES_URL"
	if r.cfg.PostgresURL != "" {
		ps, drop, err := r.openPostgres(ctx, "http", false)
		if err != nil {
			return err
		}
		res, err := r.httpOn(ctx, ps)
		drop()
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		pgc = &res
		note = "PostgreSQL: the same handler and command service over the chained eventstore/postgres; " +
			"the plain one cannot back the API (the command service needs gap-free positions)"
	}
	get := func(p *httpResult, v func(httpResult) float64) *float64 {
		if p == nil {
			return nil
		}
		return f(v(*p))
	}
	name := fmt.Sprintf("%d clients", r.cfg.HTTPClients)
	perSec := func(h httpResult) float64 { return h.perSec }
	p50 := func(h httpResult) float64 { return h.p50 }
	p99 := func(h httpResult) float64 { return h.p99 }
	tput := r.res.add(Row{Group: "HTTP POST /v1/invoices", Name: name + " throughput", Unit: "requests/s", Better: Higher,
		Encours: f(enc.perSec), Postgres: get(pg, perSec), PostgresChained: get(pgc, perSec), Note: note})
	target(tput, ">= 30k requests/s", enc.perSec >= 30_000, false)
	r.res.add(Row{Group: "HTTP POST /v1/invoices", Name: name + " p50", Unit: "ms", Better: Lower,
		Encours: f(enc.p50), Postgres: get(pg, p50), PostgresChained: get(pgc, p50)})
	row := r.res.add(Row{Group: "HTTP POST /v1/invoices", Name: name + " p99", Unit: "ms", Better: Lower,
		Encours: f(enc.p99), Postgres: get(pg, p99), PostgresChained: get(pgc, p99)})
	target(row, "<= 10 ms", enc.p99 <= 10, false)
	return nil
}

func (r *runner) httpOn(ctx context.Context, s eventstore.Store) (httpResult, error) {
	url, stop, err := serveAPI(ctx, s, r.cfg.Log)
	if err != nil {
		return httpResult{}, err
	}
	defer stop()
	res, err := runHTTP(ctx, url, r.cfg.HTTPClients, r.cfg.HTTPDuration)
	if err == nil {
		fmt.Fprintf(r.cfg.Log, "bench:   %d requests, %.0f/s p50 %.3f ms p99 %.3f ms\n", res.requests, res.perSec, res.p50, res.p99)
	}
	return res, err
}
