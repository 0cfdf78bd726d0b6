package kurrent

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/kurrent/kurrenttest"
	"github.com/encours/encours/eventstore/storetest"
)

func openTest(t *testing.T, srv *kurrenttest.Server, ns string) *Store {
	t.Helper()
	s, err := Open(context.Background(), srv.URL(), Options{Namespace: ns,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err, "open %s", ns)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return s
}

// Goal: an append committed to the log by a writer that died before writing its indexes
// is accounted for at once by the log and the key lookup, and repaired by the next append
// or the next Open, after which every read agrees. Method: the skipIndexes hook makes an
// Append return right after its commit, as if its process had died there.
func TestRepairAfterWriterDied(t *testing.T) {
	srv := kurrenttest.Start(t)
	ctx := context.Background()
	dead := openTest(t, srv, "repair-")
	_, err := dead.Append(ctx, eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: 0, Events: storetest.Events("customer-A", 2)})
	require.NoError(t, err)
	dead.skipIndexes.Store(true)
	keyed := eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: 2, IdempotencyKey: "inv-1",
		RequestHash: storetest.RequestHash("body"), Events: storetest.Events("customer-A", 3)}
	first, err := dead.Append(ctx, keyed)
	require.NoError(t, err)

	other := openTest(t, srv, "repair-") // Open repairs: another node starting up
	got, err := other.ReadStream(ctx, "customer-A", 1, 0)
	require.NoError(t, err)
	assert.Len(t, got, 5, "customer-A after Open repaired it")
	res, hash, found, err := other.LookupIdempotency(ctx, "inv-1")
	require.NoError(t, err)
	require.True(t, found, "key of the repaired append")
	assert.Equal(t, first, res)
	assert.Equal(t, keyed.RequestHash, hash)

	// A second dead append, repaired this time by the next append of a live Store.
	second := keyed
	second.ExpectedVersion, second.IdempotencyKey, second.Events = 5, "inv-2", storetest.Events("customer-A", 1)
	_, err = dead.Append(ctx, second)
	require.NoError(t, err)
	res, _, found, err = other.LookupIdempotency(ctx, "inv-2")
	require.NoError(t, err)
	require.True(t, found, "key of the last append, before its record is written")
	assert.Equal(t, uint64(6), res.StreamVersion)
	retry := second
	retry.Events = storetest.Events("customer-A", 1)
	again, err := other.Append(ctx, retry)
	require.NoError(t, err)
	assert.True(t, again.Replayed, "a retry of the dead append replays it")
	_, err = other.Append(ctx, eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: 5, Events: storetest.Events("customer-A", 1)})
	require.ErrorIs(t, err, eventstore.ErrWrongVersion, "the repaired index counts the dead append")
	_, err = other.Append(ctx, eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: 6, Events: storetest.Events("customer-A", 1)})
	require.NoError(t, err)

	all, err := other.ReadAll(ctx, 1, 0)
	require.NoError(t, err)
	require.Len(t, all, 7)
	stream, err := other.ReadStream(ctx, "customer-A", 1, 0)
	require.NoError(t, err)
	assert.Equal(t, all, stream, "the stream against the log")
}

// Goal: a subscription that KurrentDB drops (a leader change) subscribes again from the next
// position, with no gap and no duplicate.
func TestSubscriptionResumesAfterDrop(t *testing.T) {
	srv := kurrenttest.Start(t)
	s := openTest(t, srv, "drop-")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	appendOne := func() {
		_, err := s.Append(ctx, eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: eventstore.AnyVersion, Events: storetest.Events("customer-A", 1)})
		require.NoError(t, err)
	}
	for range 3 {
		appendOne()
	}
	sub, err := s.Subscribe(ctx, 2)
	require.NoError(t, err)
	var got []domain.Envelope
	take := func(n int) {
		t.Helper()
		for range n {
			select {
			case e, ok := <-sub.C():
				require.True(t, ok, "subscription ended: %v", sub.Err())
				got = append(got, e)
			case <-time.After(10 * time.Second):
				require.FailNow(t, "timeout", "waited for event %d", len(got)+1)
			}
		}
	}
	take(2)
	srv.DropSubscriptions()
	appendOne()
	appendOne()
	take(2)
	for i, e := range got {
		assert.Equal(t, uint64(i+2), e.Position, "event %d", i)
	}
	cancel()
	for range sub.C() { // drains until the subscription ends
	}
	assert.NoError(t, sub.Err())
}
