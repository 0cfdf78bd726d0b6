package kurrent_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/kurrent"
	"github.com/encours/encours/eventstore/kurrent/kurrenttest"
	"github.com/encours/encours/eventstore/storetest"
)

// openOn opens a Store on srv in namespace ns, closed when t ends.
func openOn(t *testing.T, srv *kurrenttest.Server, ns string) *kurrent.Store {
	t.Helper()
	s, err := kurrent.Open(context.Background(), srv.URL(), kurrent.Options{Namespace: ns, Logger: testLogger(t)})
	require.NoError(t, err, "open namespace %s", ns)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

// Goal: several Stores (API nodes) appending to one log at once keep every promise the suite
// checks for one: gap-free positions, one hash chain, contiguous versions, each idempotency
// key used once. Method: three Stores, each with writers on their own streams, on two shared
// streams (retrying lost version races), and on one idempotency key per round that every
// Store tries at once; then each Store reads the result back.
func TestStoresShareOneLog(t *testing.T) {
	srv := kurrenttest.Start(t)
	const stores, writersPerStore = 3, 3
	rounds := 12
	if testing.Short() {
		rounds = 4
	}
	ss := make([]*kurrent.Store, stores)
	for i := range ss {
		ss[i] = openOn(t, srv, "shared-")
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, stores*writersPerStore)
	replays := make([][]eventstore.AppendResult, rounds) // per round, every keyed result
	var mu sync.Mutex
	for si, s := range ss {
		for w := range writersPerStore {
			wg.Add(1)
			go func() { // ends after rounds appends or the first error
				defer wg.Done()
				errs <- func() error {
					own := fmt.Sprintf("customer-s%d-w%d", si, w)
					for r := range rounds {
						if _, err := s.Append(ctx, eventstore.AppendRequest{Stream: own, ExpectedVersion: int64(r), Events: storetest.Events(own, 1)}); err != nil {
							return fmt.Errorf("own stream %s: %w", own, err)
						}
						shared := fmt.Sprintf("customer-shared-%d", r%2)
						if err := appendRetrying(ctx, s, shared, 1+r%3); err != nil {
							return err
						}
						res, err := s.Append(ctx, eventstore.AppendRequest{Stream: "customer-keyed", ExpectedVersion: eventstore.AnyVersion,
							IdempotencyKey: fmt.Sprintf("round-%d", r), RequestHash: storetest.RequestHash(fmt.Sprint(r)), Events: storetest.Events("customer-keyed", 2)})
						if err != nil {
							return fmt.Errorf("keyed append, round %d: %w", r, err)
						}
						mu.Lock()
						replays[r] = append(replays[r], res)
						mu.Unlock()
					}
					return nil
				}()
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	all := readAllOf(t, ss[0])
	var prev domain.Hash
	versions := map[string]uint64{}
	for i, e := range all {
		require.Equal(t, uint64(i+1), e.Position, "event %d", i)
		require.Equal(t, prev, e.PrevHash, "position %d: prev_hash", e.Position)
		require.NoError(t, domain.VerifyHash(&e, nil))
		versions[e.Stream]++
		require.Equal(t, versions[e.Stream], e.StreamVersion, "position %d of %s", e.Position, e.Stream)
		prev = e.Hash
	}
	for r, results := range replays {
		appended := 0
		for _, res := range results {
			if !res.Replayed {
				appended++
			}
			res.Replayed = false
			assert.Equal(t, results[0].EventIDs, res.EventIDs, "round %d: every store answers the first result", r)
		}
		assert.Equal(t, 1, appended, "round %d: appends with one key", r)
	}
	assert.Equal(t, uint64(2*rounds), versions["customer-keyed"], "keyed events")
	for i, s := range ss {
		h, err := s.Head(ctx)
		require.NoError(t, err)
		assert.Equal(t, eventstore.Head{Position: uint64(len(all)), Hash: prev}, h, "head seen by store %d", i)
		for _, stream := range []string{"customer-shared-0", "customer-shared-1", "customer-keyed"} {
			got, err := s.ReadStream(ctx, stream, 1, 0)
			require.NoError(t, err)
			assert.Len(t, got, int(versions[stream]), "store %d reads %s", i, stream)
		}
	}
}

// appendRetrying appends n events to stream at its current version, retrying lost races.
func appendRetrying(ctx context.Context, s eventstore.Store, stream string, n int) error {
	const attemptsMax = 1000
	for range attemptsMax {
		es, err := s.ReadStream(ctx, stream, 1, 0)
		if err != nil {
			return err
		}
		_, err = s.Append(ctx, eventstore.AppendRequest{Stream: stream, ExpectedVersion: int64(len(es)), Events: storetest.Events(stream, n)})
		if !errors.Is(err, eventstore.ErrWrongVersion) {
			return err
		}
	}
	return fmt.Errorf("append to %s: %d lost races", stream, attemptsMax)
}

func readAllOf(t *testing.T, s eventstore.Store) []domain.Envelope {
	t.Helper()
	var all []domain.Envelope
	for {
		batch, err := s.ReadAll(context.Background(), uint64(len(all))+1, 0)
		require.NoError(t, err)
		if len(batch) == 0 {
			return all
		}
		all = append(all, batch...)
	}
}

// Goal: document and pin the round trips each call costs (doc.go, Cost), counted by the
// server: a regression here is a latency regression on a real KurrentDB.
func TestRoundTrips(t *testing.T) {
	srv := kurrenttest.Start(t)
	s := openOn(t, srv, "rt-")
	ctx := context.Background()
	key := 0
	appendN := func(stream string, expected int64, keyed bool) func() error {
		return func() error {
			req := eventstore.AppendRequest{Stream: stream, ExpectedVersion: expected, Events: storetest.Events(stream, 2)}
			if keyed {
				key++
				req.IdempotencyKey, req.RequestHash = fmt.Sprint("k", key), storetest.RequestHash("body")
			}
			_, err := s.Append(ctx, req)
			return err
		}
	}
	for _, tc := range []struct {
		name          string
		call          func() error
		appends, read uint64
	}{
		{"append to a new stream: its version, the log, its index", appendN("customer-A", 0, false), 2, 1},
		{"append to a known stream: the log, its index", appendN("customer-A", 2, false), 2, 0},
		{"append with a key: its record, the log, the index, the record", appendN("customer-A", 4, true), 3, 1},
		{"wrong version, known stream: the log's head", appendN("customer-A", 1, false), 0, 1},
		{"read a stream read before: its version", func() error { _, err := s.ReadStream(ctx, "customer-A", 1, 0); return err }, 0, 1},
		{"read all: the log", func() error { _, err := s.ReadAll(ctx, 1, 0); return err }, 0, 1},
		{"head: the log's last event", func() error { _, err := s.Head(ctx); return err }, 0, 1},
		{"look up a key: the log's last event, the key's record", func() error {
			_, _, _, err := s.LookupIdempotency(ctx, "k0")
			return err
		}, 0, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := srv.Calls()
			err := tc.call()
			if !errors.Is(err, eventstore.ErrWrongVersion) {
				require.NoError(t, err)
			}
			after := srv.Calls()
			assert.Equal(t, tc.appends, after["Append"]-before["Append"], "appends")
			assert.Equal(t, tc.read, after["Read"]-before["Read"], "reads")
		})
	}
}

// Goal: Open against no server fails within its ConnectTimeout, and a Store whose server
// went away answers within its deadlines, then works again once a server is back at the
// same address (the client, which gives up after its discovery attempts, is renewed).
func TestServerGoneAndBack(t *testing.T) {
	srv, err := kurrenttest.NewServer(kurrenttest.Options{})
	require.NoError(t, err)
	addr, url := srv.Addr(), srv.URL()
	s, err := kurrent.Open(context.Background(), url, kurrent.Options{CallTimeout: 2 * time.Second, Logger: testLogger(t)})
	require.NoError(t, err)
	defer s.Close()
	_, err = s.Append(context.Background(), eventstore.AppendRequest{Stream: "customer-A", Events: storetest.Events("customer-A", 1)})
	require.NoError(t, err)
	srv.Close()

	start := time.Now()
	_, err = s.Head(context.Background())
	assert.Error(t, err, "head with the server gone")
	assert.Less(t, time.Since(start), 5*time.Second, "head with the server gone: got an answer after %s", time.Since(start))

	start = time.Now()
	_, err = kurrent.Open(context.Background(), url, kurrent.Options{ConnectTimeout: 3 * time.Second, Logger: testLogger(t)})
	assert.Error(t, err, "open with no server")
	assert.Less(t, time.Since(start), 5*time.Second, "open with no server: got an answer after %s", time.Since(start))

	back, err := kurrenttest.NewServer(kurrenttest.Options{Addr: addr})
	require.NoError(t, err, "restart on %s", addr)
	defer back.Close()
	require.Eventually(t, func() bool {
		h, err := s.Head(context.Background())
		return err == nil && h == eventstore.Head{} // the new server is empty
	}, 10*time.Second, 50*time.Millisecond, "head once a server is back")
}
