// Command encoursd is the Encours daemon: it opens the embedded event store in --data, builds
// the command service and the HTTP API over it, and serves until SIGINT or SIGTERM, when it
// stops accepting connections, lets in-flight requests finish, and closes the store (which
// waits for appends in flight) before exiting 0.
//
//	encoursd [--data DIR] [--listen ADDR] [--clock wall|manual] [--auth on|off]
//	         [--admin-token-file PATH] [--rate-limit N] [--rate-burst N]
//
// Authentication is on by default: requests carry "Authorization: Bearer <token>". The
// environment variable ENCOURS_ADMIN_TOKEN sets an admin token held in memory only; without
// it, --admin-token-file PATH makes a fresh one at each start and writes it to PATH (mode
// 0600), for `make run` and local use. Secrets are never logged.
//
// GET /metrics serves Prometheus series: HTTP requests, errors, access refusals, appends
// (measured around the store) and the store's own group commits, syncs and bytes; the
// store's head and size, projection lag, alerts, deliveries and the portfolio by segment
// (metrics.go).
//
// It only wires (style §2): configuration -> event store -> command service -> HTTP.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/eventstore/kurrent"
	"github.com/encours/encours/handlers/alerting"
	"github.com/encours/encours/handlers/auth"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/handlers/dashboard"
	"github.com/encours/encours/handlers/httpapi"
	"github.com/encours/encours/handlers/reports"
	"github.com/encours/encours/projections/engine"
	"github.com/encours/encours/projections/ledger"
	"github.com/encours/encours/projections/signals"
)

// Server limits (style §8: pass options explicitly, including those equal to defaults).
const (
	// readHeaderTimeout bounds a slow client's headers (slowloris).
	readHeaderTimeout = 5 * time.Second
	// readTimeout bounds reading a whole request: 1 MiB bodies at a slow 50 KiB/s.
	readTimeout = 30 * time.Second
	// writeTimeout bounds an answer: an append is durable in milliseconds, a page of 1000
	// events is a few hundred KiB. Streaming routes (SSE) will need their own deadline
	// through http.ResponseController.
	writeTimeout = 30 * time.Second
	// idleTimeout closes keep-alive connections nobody uses.
	idleTimeout = 120 * time.Second
	// maxHeaderBytes: API requests carry a handful of short headers.
	maxHeaderBytes = 64 << 10
	// shutdownTimeout is how long in-flight requests get after SIGTERM; Kubernetes' default
	// grace period is 30 s, so this leaves time to close the store.
	shutdownTimeout = 15 * time.Second
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// adminTokenEnv names the environment variable of the bootstrap admin token.
const adminTokenEnv = "ENCOURS_ADMIN_TOKEN"

// config is the daemon's configuration, read once from flags and environment.
type config struct {
	dir, listen string
	clock       command.Clock
	manual      *command.ManualClock
	authOn      bool
	// adminToken is the bootstrap admin token: ENCOURS_ADMIN_TOKEN, or one made for
	// adminTokenFile. Never logged.
	adminToken     string
	adminTokenFile string // where the made token is written; "" when none is made
	rate           auth.Rate
	signals        *signals.Config // thresholds of the early-warning signals
	store          string          // embedded or kurrentdb
	kurrentURL     string          // with store kurrentdb: esdb://host:port?tls=...
	scale          scaleConfig     // --role and Kafka (role.go)
	// replayCacheMiB bounds the past-date models the read side keeps
	// (reports.Ledger.SetReplayCache).
	replayCacheMiB uint64
	// keepLogCached keeps the embedded store's written pages in the page cache
	// (embedded.Options.KeepWrittenInCache).
	keepLogCached bool
}

// run is main with its inputs explicit; it returns the exit code: 0 after a clean shutdown,
// 1 when the daemon could not start or serve, 2 on bad flags or environment.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("encoursd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: encoursd [--data DIR] [--listen ADDR] [--clock wall|manual] [--auth on|off]\n"+
			"                [--store embedded|kurrentdb [--kurrentdb-url URL]] [--signals-config F]\n"+
			"                [--admin-token-file PATH] [--rate-limit N] [--rate-burst N] [--keep-log-cached]\n"+
			"                [--role api|projector|all] [--kafka-brokers H:P,...] [--kafka-group G] [--relay on|off]\n\n"+
			"Serves the Encours HTTP API over an embedded event store.\n"+
			"%s, when set, is an admin token held in memory only.\n\n", adminTokenEnv)
		fs.PrintDefaults()
	}
	data := fs.String("data", "./data", "directory of the embedded event store (created if missing)")
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on (port 0 picks a free one)")
	clockMode := fs.String("clock", "wall", "wall: the system clock; manual: a clock set by POST /v1/clock (tests, demos)")
	authMode := fs.String("auth", "on", "on: requests need a bearer token; off: anyone acts as admin (local demos only)")
	tokenFile := fs.String("admin-token-file", "", "when "+adminTokenEnv+" is unset, write a fresh admin token to this file (mode 0600) at start")
	rateLimit := fs.Float64("rate-limit", auth.DefaultRate.PerSecond, "requests per second per token, sustained (0: no limit)")
	rateBurst := fs.Int("rate-burst", auth.DefaultRate.Burst, "requests per token at once after a quiet spell")
	storeKind := fs.String("store", "embedded", "embedded: the store in --data; kurrentdb: KurrentDB at --kurrentdb-url (--data keeps projection snapshots and delivery state)")
	kurrentURL := fs.String("kurrentdb-url", "", "KurrentDB connection string, e.g. esdb://127.0.0.1:2113?tls=false (default $ENCOURS_KURRENTDB_URL)")
	signalsConfig := fs.String("signals-config", "", "JSON file of the signals' thresholds, per segment (default: the built-in ones)")
	keepLogCached := fs.Bool("keep-log-cached", false, "keep what the embedded store writes in the page cache (default: it frees its durable pages 16 MiB behind the end of the log, so that new writes reuse them; reads of older positions then go to the disk)")
	replayCacheMiB := fs.Uint64("replay-cache-mib", reports.ReplayCacheBytesDefault>>20, "past-date reads keep their replayed models and continue them with new events: the memory they may hold, in MiB (0: keep none)")
	scaleFlags := addScaleFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "encoursd: "+format+"\n", a...)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "encoursd: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	cfg := config{dir: *data, listen: *listen, clock: command.WallClock{}, rate: auth.Rate{PerSecond: *rateLimit, Burst: *rateBurst}, replayCacheMiB: *replayCacheMiB, keepLogCached: *keepLogCached}
	switch *clockMode {
	case "wall":
	case "manual":
		cfg.manual = command.NewManualClock(time.Now().UTC())
		cfg.clock = cfg.manual
	default:
		return usage("--clock %q: want wall or manual", *clockMode)
	}
	switch *authMode {
	case "on":
		cfg.authOn = true
	case "off":
	default:
		return usage("--auth %q: want on or off", *authMode)
	}
	if *rateLimit < 0 || math.IsNaN(*rateLimit) || math.IsInf(*rateLimit, 0) {
		return usage("--rate-limit %v: want a number of requests per second, 0 for no limit", *rateLimit)
	}
	if *rateLimit > 0 && *rateBurst < 1 {
		return usage("--rate-burst %d: want at least 1", *rateBurst)
	}
	switch *storeKind {
	case "embedded":
	case "kurrentdb":
		cfg.kurrentURL = cmp.Or(*kurrentURL, getenv("ENCOURS_KURRENTDB_URL"))
		if cfg.kurrentURL == "" {
			return usage("--store kurrentdb needs --kurrentdb-url or ENCOURS_KURRENTDB_URL")
		}
	default:
		return usage("--store %q: want embedded or kurrentdb", *storeKind)
	}
	cfg.store = *storeKind
	var err error
	if cfg.scale, err = scaleFlags.parse(fs, getenv, cfg.store); err != nil {
		return usage("%v", err)
	}
	if *signalsConfig != "" {
		sc, err := signals.LoadConfig(*signalsConfig)
		if err != nil {
			return usage("--signals-config: %v", err)
		}
		cfg.signals = &sc
	}
	if cfg.authOn {
		if cfg.adminToken = getenv(adminTokenEnv); cfg.adminToken != "" {
			if err := auth.CheckBootstrap(cfg.adminToken); err != nil {
				return usage("%s: %v", adminTokenEnv, err)
			}
		} else if *tokenFile != "" {
			cfg.adminToken, cfg.adminTokenFile = auth.NewSecret(), *tokenFile
		}
	}

	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	switch {
	case !cfg.authOn:
		logger.Warn("AUTHENTICATION IS OFF (--auth off): anyone who reaches the listener acts as admin; for local demos only")
		if *tokenFile != "" || getenv(adminTokenEnv) != "" {
			logger.Warn("--auth off: the admin token (" + adminTokenEnv + ", --admin-token-file) is not used")
		}
	case getenv(adminTokenEnv) != "" && *tokenFile != "":
		logger.Info(adminTokenEnv + " is set: --admin-token-file is not written")
	case cfg.adminToken == "":
		logger.Info("no bootstrap admin token (" + adminTokenEnv + ", --admin-token-file): only tokens issued earlier authenticate")
	}
	if err := serve(ctx, logger, cfg, stdout); err != nil {
		logger.Error("encoursd stopped", slog.String("error", err.Error()))
		return 1
	}
	return 0
}

// customerAsOf is a customer's position at a past business date from the ledger model at
// that date, for GET /v1/customers/{id}?as_of=: the figures f computed on the model, and the
// invoices open at asOf.
func customerAsOf(m *ledger.Model, id domain.CustomerID, asOf domain.Date, f ledger.Figures) (httpapi.CustomerAsOf, error) {
	prof, err := ledger.CustomerProfile(m, id)
	if err != nil {
		return httpapi.CustomerAsOf{}, err
	}
	invs, err := ledger.CustomerInvoices(m, id, asOf, true)
	if err != nil {
		return httpapi.CustomerAsOf{}, err
	}
	p := httpapi.CustomerAsOf{CreditLimit: f.CreditLimit.Minor, Exposure: f.Exposure.Minor, OpenInvoiceTotal: f.OpenInvoices.Minor,
		UnallocatedCash: f.UnallocatedCash.Minor, OpenCredit: f.OpenCreditNotes.Minor, InsuredCover: prof.InsuranceCover.Minor,
		OpenItems: make([]httpapi.OpenItemAsOf, 0, len(invs))}
	for _, v := range invs {
		p.OpenItems = append(p.OpenItems, httpapi.OpenItemAsOf{InvoiceID: v.InvoiceID, Number: v.Number, Amount: v.Amount.Minor,
			OpenAmount: v.Open.Minor, IssueDate: v.IssueDate, DueDate: v.DueDate, Disputed: v.Disputed, PlanID: v.PlanID})
	}
	return p, nil
}

// alertSummaries document the alerting routes in /openapi.json.
var alertSummaries = map[string]string{
	"GET /v1/alerts":                       "Alerts, filtered by status, customer, rule and minimum severity",
	"GET /v1/alerts/stream":                "Alerts as server-sent events; resume with Last-Event-ID",
	"GET /v1/alerts/{id}":                  "One alert with its explanation",
	"POST /v1/alerts/{id}/ack":             "Acknowledge an alert with a comment",
	"POST /v1/alerts/{id}/resolve":         "Resolve an alert by hand, with a comment",
	"GET /v1/customers/{id}/signals":       "A customer's signals, drift charts, risk score and its factors",
	"GET /v1/dunning":                      "The dunning worklist: next reminder per overdue invoice",
	"POST /v1/subscriptions":               "Subscribe to alerts (webhook, SSE, Kafka) with a filter",
	"GET /v1/subscriptions":                "List the alert subscriptions",
	"DELETE /v1/subscriptions/{id}":        "Delete an alert subscription",
	"GET /v1/dead-letters":                 "Alert deliveries that failed every attempt",
	"POST /v1/dead-letters/{id}/redeliver": "Deliver a dead letter again",
}

// alertQueries document the alerting routes' query parameters in /openapi.json.
var alertQueries = map[string][]string{
	"GET /v1/alerts": {"status: open (open or acknowledged), acknowledged or resolved", "customer_id: one customer's",
		"rule: one rule's", "min_severity: info, warning or critical", "limit: page size, 1 to 1000 (default 1000)", "offset: alerts to skip, newest first"},
	"GET /v1/subscriptions": {"limit: page size, 1 to 1000 (default 100)", "offset: subscriptions to skip"},
	"GET /v1/dead-letters":  {"limit: page size, 1 to 1000 (default 100)", "offset: dead letters to skip, oldest first"},
}

// alertSuccess is the success status of an alerting route, as its handler writes it.
func alertSuccess(method, path string) int {
	switch method + " " + path {
	case "POST /v1/subscriptions":
		return http.StatusCreated
	case "POST /v1/dead-letters/{id}/redeliver":
		return http.StatusAccepted
	case "DELETE /v1/subscriptions/{id}":
		return http.StatusNoContent
	}
	return http.StatusOK
}

// endlessWrites lifts the server's write timeout for a streaming route (SSE): the stream ends
// when the client goes or the daemon shuts down, not after writeTimeout.
func endlessWrites(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
		h.ServeHTTP(w, r)
	})
}

// writeTokenFile writes token to path, readable by its owner only (0600, also when the file
// existed with a wider mode).
func writeTokenFile(path, token string) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write admin token: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("write admin token %s: %w", path, cerr)
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("write admin token %s: %w", path, err)
	}
	if _, err := f.WriteString(token + "\n"); err != nil {
		return fmt.Errorf("write admin token %s: %w", path, err)
	}
	return nil
}

// serve runs the daemon until ctx ends, then shuts it down in order: HTTP first (no new
// request, in-flight ones finish), then the store.
func serve(ctx context.Context, logger *slog.Logger, cfg config, stdout io.Writer) (err error) {
	if cfg.scale.role == roleProjector {
		return serveProjector(ctx, logger, cfg, stdout)
	}
	dir := cfg.dir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	// Everything appends through the measured store, so /metrics counts every append.
	metrics := httpapi.NewMetrics()
	var store eventstore.Store
	switch cfg.store {
	case "kurrentdb":
		ks, err := kurrent.Open(ctx, cfg.kurrentURL, kurrent.Options{Logger: logger})
		if err != nil {
			return fmt.Errorf("open KurrentDB event store: %w", err)
		}
		store = ks
	default:
		es, err := embedded.Open(dir, embedded.Options{Logger: logger, KeepWrittenInCache: cfg.keepLogCached})
		if err != nil {
			return fmt.Errorf("open event store %s: %w", dir, err)
		}
		if rec := es.Recovered(); rec.TornTail {
			logger.Warn("dropped a torn tail left by a crash (never acknowledged)",
				slog.String("segment", rec.Segment), slog.Uint64("position", rec.Position))
		}
		metrics.WatchStore(func() httpapi.StoreStats {
			s := es.Stats()
			return httpapi.StoreStats{GroupCommits: s.Groups, Syncs: s.Syncs, WrittenBytes: s.Bytes}
		})
		store = es
	}
	defer func() {
		if cerr := store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close event store: %w", cerr)
		}
	}()
	measured := metrics.InstrumentStore(store)

	svc := command.New(measured, cfg.clock, command.Options{DirectorySnapshot: filepath.Join(dir, "projections", "directory.snapshot")})
	if err := warmDirectory(ctx, logger, svc); err != nil { // warm.go
		return err
	}
	defer saveDirectory(logger, svc) // after the HTTP server and Kafka stopped, before the store closes
	opts := httpapi.Options{Logger: logger, Clock: cfg.clock, ManualClock: cfg.manual, RateLimit: &cfg.rate, Metrics: metrics}
	if cfg.authOn {
		if opts.Tokens, err = auth.Open(ctx, measured, auth.Options{Clock: cfg.clock, Bootstrap: cfg.adminToken}); err != nil {
			return fmt.Errorf("read the tokens: %w", err)
		}
		if cfg.adminTokenFile != "" {
			if err := writeTokenFile(cfg.adminTokenFile, cfg.adminToken); err != nil {
				return err
			}
		}
	}
	side, err := startKafkaSide(ctx, logger, cfg, measured, svc, opts)
	if err != nil {
		return fmt.Errorf("kafka: %w", err)
	}
	defer func() {
		if serr := side.stop(); serr != nil && err == nil {
			err = fmt.Errorf("kafka: %w", serr)
		}
	}()
	// The ledger projection follows the log from its snapshot (design §Flow, step 5). Embedded
	// mode subscribes to the store directly rather than through an in-process bus: the store's
	// subscription is already ordered, gap-free and resumable from a checkpoint, which a
	// memory-only gochannel hop would not add to.
	projCtx, stopProj := context.WithCancel(ctx)
	eng := engine.NewLedgerEngine(store, filepath.Join(dir, "projections"), engine.Config[*ledger.Model]{Logger: logger})
	projDone := make(chan error, 1)
	go func() { projDone <- runIf(cfg.scale.servesLedger(), eng.Run)(projCtx) }() // ends when projCtx is cancelled below
	defer func() {
		stopProj()
		if perr := <-projDone; perr != nil && !errors.Is(perr, context.Canceled) && err == nil {
			err = fmt.Errorf("ledger projection: %w", perr)
		}
	}()
	// One read side for the report routes and the customer details: they share the kept
	// past-date models.
	ledgerReads := reports.NewLedger(eng, store)
	ledgerReads.SetReplayCache(cfg.replayCacheMiB << 20)
	reads := reports.NewHTTP(ledgerReads, store, cfg.clock, logger)
	for _, r := range onlyIf(cfg.scale.servesLedger(), reads.Routes()) {
		opts.Extra = append(opts.Extra, httpapi.Extra{Pattern: r.Pattern, Permission: r.Permission, Handler: r.Handler,
			Summary: r.Summary, Tag: "reports", Query: r.Query, PathExamples: r.PathExamples})
	}
	opts.Extra = append(opts.Extra, importRoutes(svc, logger)...)
	// Alerts (design §Flow, steps 5–6): the evaluator follows the log and appends AlertRaised
	// and AlertResolved; the delivery follows the alert events to webhooks and SSE clients.
	today := func() domain.Date { return command.Today(cfg.clock) }
	if cfg.scale.servesLedger() && cfg.replayCacheMiB > 0 {
		go warmMonthEnds(projCtx, logger, eng.Ready, ledgerReads, today) // ends with projCtx, or once warm
	}
	evaluator := alerting.NewEvaluator(measured, alerting.EvaluatorOptions{Config: cfg.signals, Today: today,
		Clock: cfg.clock.Now, Logger: logger, SnapshotPath: filepath.Join(dir, "projections", "alerts.snapshot")})
	delivery, err := alerting.OpenDelivery(ctx, measured, alerting.DeliveryOptions{Dir: filepath.Join(dir, "delivery"),
		Clock: cfg.clock.Now, Today: today, Logger: logger, Publisher: side.alertChannel()})
	if err != nil {
		return fmt.Errorf("open alert delivery: %w", err)
	}
	storeDir := ""
	if cfg.store != "kurrentdb" {
		storeDir = dir
	}
	if err := wireMetrics(metrics, logger, store, storeDir, eng, evaluator, delivery, today); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	alertCtx, stopAlerts := context.WithCancel(ctx)
	alertsDone := make(chan error, 2)
	go func() { alertsDone <- runIf(cfg.scale.followsLog(), evaluator.Run)(alertCtx) }() // both end when alertCtx is cancelled below
	go func() { alertsDone <- runIf(cfg.scale.followsLog(), delivery.Run)(alertCtx) }()
	defer func() {
		stopAlerts()
		for range 2 {
			if aerr := <-alertsDone; aerr != nil && !errors.Is(aerr, context.Canceled) && err == nil {
				err = fmt.Errorf("alerting: %w", aerr)
			}
		}
	}()
	for _, r := range onlyIf(cfg.scale.followsLog(), alerting.Routes(evaluator, delivery, alerting.RoutesOptions{Actor: httpapi.ActorOf})) {
		perm := auth.PermRead
		if r.Role == alerting.RoleCreditManager {
			perm = auth.PermCredit
		}
		h := http.Handler(r.Handler)
		if r.Pattern == "/v1/alerts/stream" {
			h = endlessWrites(h)
		}
		opts.Extra = append(opts.Extra, httpapi.Extra{Pattern: r.Method + " " + r.Pattern, Permission: perm, Handler: h,
			Summary: alertSummaries[r.Method+" "+r.Pattern], Tag: "alerts", PathExamples: map[string]string{"id": "ACME"},
			Query:   alertQueries[r.Method+" "+r.Pattern],
			Success: alertSuccess(r.Method, r.Pattern)})
	}
	// GET /v1/customers/{id} shows the read models' figures beside the command side's
	// position: aging, DSO and DBT from the ledger projection (as of, as known at), the risk
	// score, signals and open alerts from the alert evaluator (as known now).
	opts.CustomerDetails = func(r *http.Request, id domain.CustomerID, asOf domain.Date, knownAt *time.Time) (*httpapi.CustomerDetails, error) {
		var d httpapi.CustomerDetails
		// A past date or a knowledge time replays this customer's stream and the rates only.
		err := ledgerReads.WithCustomer(r.Context(), id, asOf, today(), knownAt, func(m *ledger.Model, b reports.Basis) error {
			f, err := ledger.ComputeFigures(m, ledger.CustomerScope(id), asOf, ledger.Config{})
			if errors.Is(err, ledger.ErrUnknownCustomer) {
				return nil // registered after the projection's position: no figures yet
			}
			if err != nil {
				return err
			}
			d.Aging, d.DSO, d.Payments, d.Basis = f.Aging, f.DSO, f.Payments, b
			if asOf.Before(today()) {
				pos, err := customerAsOf(m, id, asOf, f)
				if err != nil {
					return err
				}
				d.AsOf = &pos
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if rep, err := evaluator.Report(id, asOf); err == nil {
			d.RiskScore, d.Signals = rep.Score, rep.Signals
		}
		d.OpenAlerts = evaluator.Alerts(alerting.Filter{Status: alerting.StatusOpen, CustomerID: id})
		return &d, nil
	}
	if !cfg.scale.servesLedger() {
		opts.CustomerDetails = nil // the projectors hold the read models
	}
	// The dashboard's page and assets are public; the data it reads needs a token.
	for _, r := range dashboard.Routes() {
		opts.Extra = append(opts.Extra, httpapi.Extra{Pattern: r.Pattern, Permission: auth.PermPublic, Handler: r.Handler,
			Summary: "the dashboard (HTML, CSS, JavaScript)", Tag: "dashboard", PathExamples: map[string]string{"path": "js/app.js"}})
	}
	documentExtras(opts.Extra) // apidoc.go
	handler := httpapi.New(svc, measured, opts)
	handlerBuilt(handler)

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.listen, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }() // ends when Shutdown is called below

	head, _ := store.Head(ctx)
	logger.Info("encoursd started", slog.String("data", dir), slog.Uint64("position", head.Position),
		slog.Bool("manual_clock", cfg.manual != nil), slog.Bool("auth", cfg.authOn))
	logWarmUp(alertCtx, logger, warmParts(cfg, eng.Ready, evaluator.WaitFor, head.Position)) // warm.go
	fmt.Fprintf(stdout, "encoursd listening on http://%s\n", ln.Addr())
	fmt.Fprintf(stdout, "dashboard: http://%s/ (paste the admin token when asked)\n", ln.Addr())
	if cfg.adminTokenFile != "" {
		fmt.Fprintf(stdout, "admin token (new at each start) in %s; try: curl -H \"Authorization: Bearer $(cat %s)\" http://%s/v1/tokens\n",
			cfg.adminTokenFile, cfg.adminTokenFile, ln.Addr())
	}

	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case err := <-side.failed:
		return err
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("finish in-flight requests within %s: %w", shutdownTimeout, err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
