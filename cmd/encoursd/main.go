// Command encoursd is the Encours daemon: it opens the embedded event store in --data, builds
// the command service and the HTTP API over it, and serves until SIGINT or SIGTERM, when it
// stops accepting connections, lets in-flight requests finish, and closes the store (which
// waits for appends in flight) before exiting 0.
//
//	encoursd [--data DIR] [--listen ADDR] [--clock wall|manual]
//
// It only wires (style §2): configuration -> event store -> command service -> HTTP.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/handlers/httpapi"
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
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main with its inputs explicit; it returns the exit code: 0 after a clean shutdown,
// 1 when the daemon could not start or serve, 2 on bad flags.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("encoursd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: encoursd [--data DIR] [--listen ADDR] [--clock wall|manual]\n\n"+
			"Serves the Encours HTTP API over an embedded event store.\n\n")
		fs.PrintDefaults()
	}
	data := fs.String("data", "./data", "directory of the embedded event store (created if missing)")
	listen := fs.String("listen", "127.0.0.1:8080", "address to listen on (port 0 picks a free one)")
	clockMode := fs.String("clock", "wall", "wall: the system clock; manual: a clock set by POST /v1/clock (tests, demos)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "encoursd: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	var clock command.Clock = command.WallClock{}
	var manual *command.ManualClock
	switch *clockMode {
	case "wall":
	case "manual":
		manual = command.NewManualClock(time.Now().UTC())
		clock = manual
	default:
		fmt.Fprintf(stderr, "encoursd: --clock %q: want wall or manual\n", *clockMode)
		return 2
	}

	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := serve(ctx, logger, *data, *listen, clock, manual, stdout); err != nil {
		logger.Error("encoursd stopped", slog.String("error", err.Error()))
		return 1
	}
	return 0
}

// serve runs the daemon until ctx ends, then shuts it down in order: HTTP first (no new
// request, in-flight ones finish), then the store.
func serve(ctx context.Context, logger *slog.Logger, dir, listen string, clock command.Clock, manual *command.ManualClock, stdout io.Writer) (err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	store, err := embedded.Open(dir, embedded.Options{Logger: logger})
	if err != nil {
		return fmt.Errorf("open event store %s: %w", dir, err)
	}
	defer func() {
		if cerr := store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close event store: %w", cerr)
		}
	}()
	if rec := store.Recovered(); rec.TornTail {
		logger.Warn("dropped a torn tail left by a crash (never acknowledged)",
			slog.String("segment", rec.Segment), slog.Uint64("position", rec.Position))
	}

	svc := command.New(store, clock, command.Options{})
	if err := svc.Warm(ctx); err != nil {
		return fmt.Errorf("index the log: %w", err)
	}
	handler := httpapi.New(svc, store, httpapi.Options{Logger: logger, Clock: clock, ManualClock: manual})

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", listen, err)
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
		slog.Bool("manual_clock", manual != nil))
	fmt.Fprintf(stdout, "encoursd listening on http://%s\n", ln.Addr())

	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
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
