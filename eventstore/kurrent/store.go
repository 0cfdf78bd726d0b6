package kurrent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/encours/encours/eventstore"
)

// Defaults of Options (style §8: every outbound call has a deadline).
const (
	// CallTimeoutDefault is the client's own default deadline of a unary call (10 s).
	CallTimeoutDefault = 10 * time.Second
	// AppendTimeoutDefault bounds one Append with its round trips and its retries after lost
	// races on the log: three round trips' worth of CallTimeoutDefault.
	AppendTimeoutDefault = 30 * time.Second
	// ConnectTimeoutDefault bounds Open: discovery, the server's features, the log's head.
	ConnectTimeoutDefault = 15 * time.Second
)

// Limits (style §8). Each says what happens when it is reached.
const (
	// appendAttemptsMax bounds the tries of one Append that loses the race for the log to
	// another Store (another API node); then Append fails. Each lost race means another
	// append committed, so the log progresses; 32 tries with jittered backoff (1 ms doubling
	// to 50 ms) is ~1 s of contention before giving up.
	appendAttemptsMax = 32
	backoffMin        = time.Millisecond
	backoffMax        = 50 * time.Millisecond
	// logWriteAttemptsMax bounds the retries of one log write that failed with an unknown
	// outcome (the connection dropped, the node became unavailable). A retry carries the
	// same event IDs at the same expected revision, so if the first try was written,
	// KurrentDB answers the retry as an idempotent write and writes nothing.
	logWriteAttemptsMax = 3
	// streamVersionsMax bounds the cache of stream versions the writer keeps. Full: cleared;
	// versions are read again from the streams' indexes (one round trip each).
	streamVersionsMax = 100_000
	// subscribeBufferMax is the events buffered between a subscription's goroutine and its
	// consumer. Full: the goroutine waits, and gRPC flow control holds the server back.
	subscribeBufferMax = 256
	// subscribeRetriesMax bounds the consecutive failed (re)subscriptions after a dropped
	// subscription; then the subscription ends with the error. An event delivered resets it.
	subscribeRetriesMax = 5
	// discoverAttemptsDefault and discoveryIntervalDefault are the client's discovery
	// settings unless the connection string sets them: few fast tries, because the client
	// does not honour a context while it discovers, and the Store replaces a client that
	// gave up (see renewClient) at the next call.
	discoverAttemptsDefault  = 3
	discoveryIntervalDefault = 100 // milliseconds, the client's unit
	gossipTimeoutDefault     = 5   // seconds, the client's unit (and default)
	keepAliveDefault         = 10 * time.Second
	// closeCallsWaitMax bounds how long Close waits for client calls abandoned by their
	// callers (see do) before it leaves the client open rather than risk closing it under
	// them.
	closeCallsWaitMax = 5 * time.Second
)

// Options configure Open. The zero value is valid: the defaults above, no namespace, the wall
// clock, no logging.
type Options struct {
	// Namespace prefixes every KurrentDB stream the store reads and writes: its log, its
	// idempotency records and the index of each Encours stream. Empty in production; tests
	// give each store its own, so one server holds many independent logs.
	Namespace string
	// CallTimeout bounds each round trip to KurrentDB: one append, one read, the
	// confirmation of a subscription. Default CallTimeoutDefault.
	CallTimeout time.Duration
	// AppendTimeout bounds a whole Append. Default AppendTimeoutDefault.
	AppendTimeout time.Duration
	// ConnectTimeout bounds Open. Default ConnectTimeoutDefault.
	ConnectTimeout time.Duration
	// Clock gives RecordedAt. Default time.Now. RecordedAt never decreases along the log,
	// whatever the clocks of the API nodes say.
	Clock func() time.Time
	// Logger receives the adapter's warnings and, at debug level, the client's log. Default:
	// discard.
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.CallTimeout <= 0 {
		o.CallTimeout = CallTimeoutDefault
	}
	if o.AppendTimeout <= 0 {
		o.AppendTimeout = AppendTimeoutDefault
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = ConnectTimeoutDefault
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return o
}

// Store is the event store on KurrentDB. It implements eventstore.Store; every method is safe
// for concurrent use, and several Stores (API nodes) may share one KurrentDB log.
type Store struct {
	opts      Options
	log       *slog.Logger
	cfg       esdb.Configuration // to renew the client
	where     string             // the server, for errors (never the credentials)
	ns        string
	logStream string

	client   atomic.Pointer[esdb.Client]
	clientMu sync.Mutex // serializes renewClient

	// writer is the append lock (capacity 1, taken with a context): one Append of this
	// Store at a time talks to the log, so they never race each other on the server.
	writer chan struct{}
	tail   tail // owned by the holder of writer

	cache streamCache // decoded events of the streams read or written

	// Close: closeMu orders ops.Add (under its read lock) against Close (write lock).
	closeMu   sync.RWMutex
	closed    bool
	ops       sync.WaitGroup // calls of the Store's methods in progress
	calls     sync.WaitGroup // goroutines running client calls (see do)
	subs      sync.WaitGroup // subscription goroutines
	stopCtx   context.Context
	stop      context.CancelFunc // ends subscriptions
	closeOnce sync.Once

	// skipIndexes is a test hook: Append commits to the log and returns without writing the
	// indexes, as a writer that dies right after its commit.
	skipIndexes atomic.Bool
}

var _ eventstore.Store = (*Store)(nil)

// Open connects to the KurrentDB that connString names (esdb://host:2113?tls=false, or any
// connection string of the client v4.2.0), reads the head of the log and repairs the indexes
// of its last append if its writer died before writing them.
func Open(ctx context.Context, connString string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	if strings.HasPrefix(opts.Namespace, "$") {
		return nil, fmt.Errorf("open KurrentDB store: namespace %q: a $ prefix names KurrentDB's system streams", opts.Namespace)
	}
	cfg, err := esdb.ParseConnectionString(connString)
	if err != nil {
		return nil, fmt.Errorf("open KurrentDB store: connection string: %w", err)
	}
	applyDefaults(cfg, connString, opts)
	s := &Store{
		opts:      opts,
		log:       opts.Logger,
		cfg:       *cfg,
		where:     describe(cfg),
		ns:        opts.Namespace,
		logStream: opts.Namespace + logStreamName,
		writer:    make(chan struct{}, 1),
	}
	s.stopCtx, s.stop = context.WithCancel(context.Background())
	c, err := esdb.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("open KurrentDB store at %s: %w", s.where, err)
	}
	s.client.Store(c)
	ctx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	defer cancel()
	if err := s.prepareTail(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open KurrentDB store at %s: %w", s.where, err)
	}
	return s, nil
}

// prepareTail reads the log's last append and makes sure it is indexed: the first round
// trips also connect the client, so Open fails now rather than at the first Append.
func (s *Store) prepareTail(ctx context.Context) error {
	s.writer <- struct{}{}
	defer func() { <-s.writer }()
	if err := s.loadTail(ctx); err != nil {
		return err
	}
	return s.indexTail(ctx)
}

// applyDefaults sets the client's settings explicitly (style §8), keeping those the
// connection string sets.
func applyDefaults(cfg *esdb.Configuration, connString string, opts Options) {
	set := map[string]bool{}
	if _, query, ok := strings.Cut(connString, "?"); ok {
		if q, err := url.ParseQuery(query); err == nil {
			for k := range q {
				set[strings.ToLower(k)] = true
			}
		}
	}
	if !set["maxdiscoverattempts"] {
		cfg.MaxDiscoverAttempts = discoverAttemptsDefault
	}
	if !set["discoveryinterval"] {
		cfg.DiscoveryInterval = discoveryIntervalDefault
	}
	if !set["gossiptimeout"] {
		cfg.GossipTimeout = gossipTimeoutDefault
	}
	if !set["keepaliveinterval"] {
		cfg.KeepAliveInterval = keepAliveDefault
	}
	if !set["keepalivetimeout"] {
		cfg.KeepAliveTimeout = keepAliveDefault
	}
	if !set["defaultdeadline"] {
		d := opts.CallTimeout
		cfg.DefaultDeadline = &d
	}
	log := opts.Logger
	cfg.Logger = func(level esdb.LogLevel, format string, args ...interface{}) {
		// The client passes its arguments as one slice in places; either way, format them.
		if len(args) == 1 {
			if inner, ok := args[0].([]interface{}); ok {
				args = inner
			}
		}
		log.Debug("kurrentdb client: "+fmt.Sprintf(format, args...), "level", level)
	}
}

// describe names the server(s) of cfg, without credentials.
func describe(cfg *esdb.Configuration) string {
	if len(cfg.GossipSeeds) == 0 {
		return cfg.Address
	}
	hosts := make([]string, len(cfg.GossipSeeds))
	for i, e := range cfg.GossipSeeds {
		hosts[i] = e.String()
	}
	return strings.Join(hosts, ",")
}

// Close stops accepting calls, ends subscriptions, waits for the calls in flight and closes
// the client.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeMu.Lock()
		s.closed = true
		s.closeMu.Unlock()
		s.stop()
		s.ops.Wait()
		s.subs.Wait()
		// Close the client only when no client call is running: the client v4.2.0 panics
		// when a failing call reports to its closed connection loop.
		done := make(chan struct{})
		go func() { s.calls.Wait(); close(done) }() // ends when the last client call returns
		select {
		case <-done:
			s.client.Load().Close()
		case <-time.After(closeCallsWaitMax):
			s.log.Warn("kurrent: client calls still running after close; leaving the client open", "wait", closeCallsWaitMax)
		}
	})
	return nil
}

// enter registers a call of a Store method; the caller defers s.ops.Done().
func (s *Store) enter() error {
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return eventstore.ErrClosed
	}
	s.ops.Add(1)
	return nil
}

// do runs f against the current client in its own goroutine and waits for it or for ctx.
//
// Why a goroutine: the client v4.2.0 ignores ctx while it (re)discovers the node, and a call
// that fails while the discovery fails blocks on the client's internal channel forever. The
// caller gets its deadline regardless; Close waits (boundedly) for such calls.
func do[T any](ctx context.Context, s *Store, f func(ctx context.Context, c *esdb.Client) (T, error)) (T, error) {
	c := s.client.Load()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	s.calls.Add(1)
	go func() { // ends when the client call returns
		defer s.calls.Done()
		v, err := f(ctx, c)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		if code(r.err) == esdb.ErrorCodeConnectionClosed {
			s.renewClient(c)
		}
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// renewClient replaces old, which closed itself after a failed discovery (the client v4.2.0
// never recovers from that), so the next call discovers the node again. old is not closed:
// a call still inside it would panic.
func (s *Store) renewClient(old *esdb.Client) {
	s.clientMu.Lock()
	defer s.clientMu.Unlock()
	s.closeMu.RLock()
	closed := s.closed
	s.closeMu.RUnlock()
	if closed || s.client.Load() != old {
		return
	}
	cfg := s.cfg
	c, err := esdb.NewClient(&cfg)
	if err != nil {
		s.log.Warn("kurrent: renew the client", "err", err)
		return
	}
	s.client.Store(c)
	s.log.Warn("kurrent: the client lost the server and gave up; renewed it", "server", s.where)
}

// code is the client's error code of err, or ErrorCodeUnknown.
func code(err error) esdb.ErrorCode {
	var e *esdb.Error
	if err == nil || !errors.As(err, &e) {
		return esdb.ErrorCodeUnknown
	}
	return e.Code()
}

// transient reports whether err leaves a write's outcome unknown and a retry may succeed.
func transient(err error) bool {
	switch code(err) {
	case esdb.ErrorUnavailable, esdb.ErrorCodeDeadlineExceeded, esdb.ErrorAborted, esdb.ErrorCodeNotLeader:
		return true
	}
	return false
}

// appendTo appends events to the KurrentDB stream at the expected revision want.
func (s *Store) appendTo(ctx context.Context, stream string, want esdb.ExpectedRevision, events []esdb.EventData) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
	defer cancel()
	_, err := do(ctx, s, func(ctx context.Context, c *esdb.Client) (*esdb.WriteResult, error) {
		d := s.opts.CallTimeout
		return c.AppendToStream(ctx, stream, esdb.AppendToStreamOptions{ExpectedRevision: want, Deadline: &d, RequiresLeader: true}, events...)
	})
	return err
}

// read reads up to count events of the KurrentDB stream from `from`; a missing stream reads
// empty.
func (s *Store) read(ctx context.Context, stream string, from esdb.StreamPosition, dir esdb.Direction, count uint64, resolve bool) ([]*esdb.ResolvedEvent, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.CallTimeout)
	defer cancel()
	return do(ctx, s, func(ctx context.Context, c *esdb.Client) ([]*esdb.ResolvedEvent, error) {
		d := s.opts.CallTimeout
		rs, err := c.ReadStream(ctx, stream, esdb.ReadStreamOptions{Direction: dir, From: from, ResolveLinkTos: resolve,
			Deadline: &d, RequiresLeader: true}, count)
		if err != nil {
			return nil, err
		}
		defer rs.Close()
		var out []*esdb.ResolvedEvent
		for uint64(len(out)) < count {
			ev, err := rs.Recv()
			switch {
			case errors.Is(err, io.EOF):
				return out, nil
			case code(err) == esdb.ErrorCodeResourceNotFound:
				return nil, nil
			case err != nil:
				return nil, err
			}
			out = append(out, ev)
		}
		return out, nil
	})
}
