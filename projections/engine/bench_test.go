package engine

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/encours/encours/projections/ledger"
)

// BenchmarkSnapshotLoad measures a restart's checkpoint load (read the file, check its
// digest, check its chain hash against the store, decode the ledger) against a replay of the
// same log from position 0, for 5 000 customers and 60 000 invoices (70 000 events).
func BenchmarkSnapshotLoad(b *testing.B) {
	s := newMemStore()
	defer s.Close()
	fillCustomers(b, s, 0, 5000, 12)
	dir := b.TempDir()
	eng := NewLedgerEngine(s, dir, Config[*ledger.Model]{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }() // ends at cancel below
	h, _ := s.Head(context.Background())
	require.Eventually(b, func() bool { return eng.Position() >= h.Position }, time.Minute, 10*time.Millisecond, "waiting for the engine to catch up")
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.Run("snapshot", func(b *testing.B) {
		for b.Loop() {
			e := NewLedgerEngine(s, dir, Config[*ledger.Model]{})
			if err := e.loadCheckpoint(context.Background(), h); err != nil {
				b.Fatal(err)
			}
			if !e.Stats().SnapshotLoaded {
				b.Fatal(e.Stats().SnapshotDiscarded)
			}
		}
		b.ReportMetric(float64(eng.Stats().LastSnapshotBytes)/(1<<20), "MiB")
		b.ReportMetric(float64(h.Position), "events")
	})
	b.Run("replay", func(b *testing.B) {
		for b.Loop() {
			if _, err := LedgerAsOf(context.Background(), s, asOf, farFuture); err != nil {
				b.Fatal(err)
			}
		}
	})
}
