package kurrenttest

import (
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	api "github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// Options configure NewServer. The zero value is valid.
type Options struct {
	// Addr is the address to listen on. Default "127.0.0.1:0" (loopback, any free port).
	Addr string
	// MaxAppendBytes refuses larger appends, as KurrentDB's MaxAppendSize. Default
	// MaxAppendBytesDefault (1 MiB, KurrentDB's default).
	MaxAppendBytes int
}

// keepaliveMinTime is the shortest interval between the client's keepalive pings the server
// accepts. The client pings every 10 s even without calls in flight (its default, and what
// Encours sets); grpc-go's default policy (5 min, no pings without calls) would answer with
// GOAWAY, which KurrentDB does not.
const keepaliveMinTime = time.Second

// Server is a running in-process KurrentDB. Its methods are safe for concurrent use.
type Server struct {
	lis   net.Listener
	grpc  *grpc.Server
	calls *callCounts
	drops *dropper
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

// NewServer starts a server; Close stops it.
func NewServer(opts Options) (*Server, error) {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.MaxAppendBytes <= 0 {
		opts.MaxAppendBytes = MaxAppendBytesDefault
	}
	lis, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("kurrenttest: listen on %s: %w", opts.Addr, err)
	}
	s := &Server{
		lis: lis,
		grpc: grpc.NewServer(grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime: keepaliveMinTime, PermitWithoutStream: true})),
		calls: &callCounts{n: make(map[string]uint64)},
		drops: &dropper{c: make(chan struct{})},
		done:  make(chan struct{}),
	}
	api.RegisterStreamsServer(s.grpc, &streams{log: newMemLog(opts.MaxAppendBytes), calls: s.calls, done: s.done, drops: s.drops})
	serverfeatures.RegisterServerFeaturesServer(s.grpc, &serverFeatures{calls: s.calls})
	s.wg.Add(1)
	go func() { // ends when Close stops the gRPC server
		defer s.wg.Done()
		_ = s.grpc.Serve(lis) // returns nil after Stop; a listener error also ends serving
	}()
	return s, nil
}

// Start starts a server on loopback for the test tb and closes it when tb ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := NewServer(Options{})
	if err != nil {
		tb.Fatalf("start in-process KurrentDB: %v", err)
	}
	tb.Cleanup(s.Close)
	return s
}

// Addr is the host:port the server listens on.
func (s *Server) Addr() string { return s.lis.Addr().String() }

// URL is the connection string for the client: a single node, without TLS.
func (s *Server) URL() string { return "esdb://" + s.Addr() + "?tls=false" }

// Calls returns how many calls each method has served ("Append", "Read",
// "GetSupportedMethods").
func (s *Server) Calls() map[string]uint64 { return s.calls.snapshot() }

// DropSubscriptions ends every running subscription with Unavailable, as a KurrentDB node
// does when it loses leadership; the data stays.
func (s *Server) DropSubscriptions() { s.drops.drop() }

// Close ends subscriptions, drops every connection and stops the server. The data is lost.
func (s *Server) Close() {
	s.once.Do(func() {
		close(s.done)
		s.grpc.Stop()
		s.wg.Wait()
	})
}

type callCounts struct {
	mu sync.Mutex
	n  map[string]uint64
}

func (c *callCounts) add(method string) {
	c.mu.Lock()
	c.n[method]++
	c.mu.Unlock()
}

func (c *callCounts) snapshot() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}
