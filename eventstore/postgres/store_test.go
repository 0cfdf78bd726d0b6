package postgres_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/postgres"
	"github.com/encours/encours/eventstore/storetest"
)

// url returns ENCOURS_POSTGRES_URL or skips the test, naming it.
func url(t *testing.T) string {
	t.Helper()
	u := os.Getenv("ENCOURS_POSTGRES_URL")
	if u == "" {
		t.Skip("real PostgreSQL: set ENCOURS_POSTGRES_URL (scripts/postgres up prints it)")
	}
	return u
}

// opener opens a store in a schema of its own per directory: a fresh store per case, the
// same one again when the suite reopens a directory. run keeps runs apart on one server.
func opener(url, run string, plain bool) storetest.OpenFunc {
	return func(t *testing.T, dir string) eventstore.Store {
		sum := sha256.Sum256([]byte(run + dir))
		s, err := postgres.Open(context.Background(), url, postgres.Options{Schema: "t_" + hex.EncodeToString(sum[:8]), Conns: 8, Plain: plain})
		require.NoError(t, err)
		return s
	}
}

func runID() string {
	var b [4]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Goal: the chained store keeps every promise of the port, against a real server.
func TestConformance(t *testing.T) {
	storetest.Run(t, opener(url(t), runID(), false), storetest.Features{Reopen: true})
}

// Goal: the plain store (the benchmark's baseline) appends atomically, checks expected
// versions with its unique constraint and keeps idempotency keys; gaps and the chain aside.
func TestPlain(t *testing.T) {
	open := opener(url(t), runID(), true)
	s := open(t, t.TempDir())
	defer s.Close()
	ctx := context.Background()
	res, err := s.Append(ctx, eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: 0, Events: storetest.Events("customer-A", 3)})
	require.NoError(t, err)
	require.Equal(t, uint64(3), res.StreamVersion)
	_, err = s.Append(ctx, eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: 1, Events: storetest.Events("customer-A", 1)})
	require.True(t, errors.Is(err, eventstore.ErrWrongVersion), "got %v", err)
	_, err = s.Append(ctx, eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: 7, Events: storetest.Events("customer-A", 1)})
	require.True(t, errors.Is(err, eventstore.ErrWrongVersion), "expected version beyond the stream: got %v", err)
	req := eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: eventstore.AnyVersion, IdempotencyKey: "k1",
		RequestHash: storetest.RequestHash("b"), Events: storetest.Events("customer-A", 2)}
	first, err := s.Append(ctx, req)
	require.NoError(t, err)
	require.Equal(t, uint64(5), first.StreamVersion)
	again, err := s.Append(ctx, req)
	require.NoError(t, err)
	require.True(t, again.Replayed)
	req.RequestHash = storetest.RequestHash("c")
	_, err = s.Append(ctx, req)
	require.ErrorIs(t, err, eventstore.ErrIdempotencyKeyReused)
	es, err := s.ReadStream(ctx, "customer-A", 1, 100)
	require.NoError(t, err)
	require.Len(t, es, 5)
	for i, e := range es {
		require.Equal(t, uint64(i+1), e.StreamVersion)
	}
}
