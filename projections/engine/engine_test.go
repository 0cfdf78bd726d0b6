package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/projections/ledger"
)

var (
	farFuture = time.Date(2999, 1, 1, 0, 0, 0, 0, time.UTC)
	asOf      = d("2024-12-31")
)

// running is an engine started in a goroutine; stop cancels it and returns Run's error.
type running struct {
	eng  *Engine[*ledger.Model]
	stop func() error
}

func start(t *testing.T, src Source, dir string, version uint32) running {
	t.Helper()
	eng := NewLedgerEngine(src, dir, Config[*ledger.Model]{SnapshotEvery: 50})
	eng.cfg.Version = version
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }() // ends when ctx is cancelled by stop
	stopped := false
	var err error
	stop := func() error {
		if !stopped {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("engine did not stop within 10 s")
			}
			stopped = true
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return running{eng, stop}
}

// waitPosition waits until the engine has applied up to pos.
func waitPosition(t *testing.T, eng *Engine[*ledger.Model], pos uint64) {
	t.Helper()
	require.Eventually(t, func() bool { return eng.Position() >= pos }, 10*time.Second, 5*time.Millisecond,
		"waiting for position %d, at %d", pos, eng.Position())
}

// figures renders the portfolio and per-customer figures and profiles of a model.
func figures(t *testing.T, m *ledger.Model) string { return figuresAt(t, m, asOf) }

// figuresAt renders the portfolio and per-customer figures of a model as of on, and each
// customer's profile (name, country, sector, segment, terms, limit).
func figuresAt(t *testing.T, m *ledger.Model, on domain.Date) string {
	t.Helper()
	p, err := ledger.ComputeFigures(m, ledger.Portfolio(), on, ledger.Config{})
	require.NoError(t, err)
	c, err := ledger.GroupFigures(m, ledger.ByCustomer, on, ledger.Config{})
	require.NoError(t, err)
	var profiles []ledger.Profile
	for _, id := range ledger.CustomerIDs(m, ledger.Portfolio()) {
		pr, err := ledger.CustomerProfile(m, id)
		require.NoError(t, err)
		profiles = append(profiles, pr)
	}
	b, err := json.Marshal([]any{p, c, profiles})
	require.NoError(t, err)
	return string(b)
}

func viewFigures(t *testing.T, eng *Engine[*ledger.Model]) (s string) {
	eng.View(func(m *ledger.Model) { s = figures(t, m) })
	return s
}

// reference rebuilds the ledger from the whole store, the slow and obvious way.
func reference(t *testing.T, s Reader) string {
	t.Helper()
	m, err := LedgerAsOf(context.Background(), plainReader{s}, asOf, farFuture)
	require.NoError(t, err)
	return figures(t, m)
}

func head(t *testing.T, s Source) uint64 {
	h, err := s.Head(context.Background())
	require.NoError(t, err)
	return h.Position
}

// TestEngineCatchesUpFollowsAndCheckpoints: the engine catches up with the log (Ready only
// then), follows live appends, serves reads concurrently, and leaves a snapshot on a clean
// stop.
func TestEngineCatchesUpFollowsAndCheckpoints(t *testing.T) {
	s := newMemStore()
	defer s.Close()
	fillCustomers(t, s, 0, 40, 5)
	dir := t.TempDir()
	r := start(t, s, dir, LedgerVersion)
	waitPosition(t, r.eng, head(t, s))
	require.Eventually(t, r.eng.Ready, 5*time.Second, 5*time.Millisecond, "waiting for Ready")
	assert.Equal(t, reference(t, s), viewFigures(t, r.eng))

	// Live: append while reading.
	readsDone := make(chan struct{})
	go func() { // ends after 50 reads
		defer close(readsDone)
		for range 50 {
			_ = viewFigures(t, r.eng)
		}
	}()
	fillCustomers(t, s, 40, 20, 3)
	<-readsDone
	waitPosition(t, r.eng, head(t, s))
	assert.Equal(t, reference(t, s), viewFigures(t, r.eng))
	require.NoError(t, r.stop())

	st := r.eng.Stats()
	assert.Equal(t, uint64(40*7), st.HeadAtStart)
	assert.Equal(t, head(t, s), st.EventsApplied)
	assert.Equal(t, head(t, s), st.LastSnapshotAtPos, "a snapshot at the last position on stop")
	assert.GreaterOrEqual(t, st.SnapshotsWritten, 2)
	_, err := os.Stat(filepath.Join(dir, "ledger.snapshot"))
	require.NoError(t, err)
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*.tmp-*"))
	assert.Empty(t, leftovers, "temporary snapshot files left behind")
}

// TestEngineRestart covers the checkpoint rules: resume from a snapshot; rebuild from zero
// when the projection's version changes, when the snapshot is beyond the store's head, when
// it was built from another log (chain hash differs), and when its bytes are damaged.
func TestEngineRestart(t *testing.T) {
	cases := []struct {
		name        string
		prepare     func(t *testing.T, dir string) Source // after a first run over s (60 customers)
		version     uint32
		wantLoaded  bool
		wantDiscard string
	}{
		{"resumes from its snapshot", nil, LedgerVersion, true, ""},
		{"rebuilds when the projection version changes", nil, LedgerVersion + 1, false, "version changed"},
		{"discards a snapshot beyond the store's head", func(t *testing.T, dir string) Source {
			shorter := newMemStore()
			t.Cleanup(func() { shorter.Close() })
			fillCustomers(t, shorter, 0, 10, 5)
			return shorter
		}, LedgerVersion, false, "beyond the store's head"},
		{"discards a snapshot of another log", func(t *testing.T, dir string) Source {
			other := newMemStore()
			t.Cleanup(func() { other.Close() })
			fillCustomers(t, other, 1000, 60, 5)
			return other
		}, LedgerVersion, false, "not the one the snapshot was built from"},
		{"discards a damaged snapshot", func(t *testing.T, dir string) Source {
			path := filepath.Join(dir, "ledger.snapshot")
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			b[len(b)-3] ^= 0xff
			require.NoError(t, os.WriteFile(path, b, 0o644))
			return nil
		}, LedgerVersion, false, "digest"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newMemStore()
			defer s.Close()
			fillCustomers(t, s, 0, 60, 5)
			dir := t.TempDir()
			first := start(t, s, dir, LedgerVersion)
			waitPosition(t, first.eng, head(t, s))
			require.NoError(t, first.stop())
			firstPos := first.eng.Position()

			var src Source = s
			if tc.prepare != nil {
				if other := tc.prepare(t, dir); other != nil {
					src = other
				}
			}
			if src == Source(s) && tc.wantLoaded {
				fillCustomers(t, s, 60, 5, 2) // appended while the engine was down
			}
			again := start(t, src, dir, tc.version)
			waitPosition(t, again.eng, head(t, src))
			require.Eventually(t, again.eng.Ready, 5*time.Second, 5*time.Millisecond)
			st := again.eng.Stats()
			assert.Equal(t, tc.wantLoaded, st.SnapshotLoaded)
			assert.Contains(t, st.SnapshotDiscarded, tc.wantDiscard)
			if tc.wantLoaded {
				assert.Equal(t, firstPos, st.SnapshotPosition)
				assert.Equal(t, head(t, src)-firstPos, st.EventsApplied, "only the events after the snapshot are applied")
				t.Logf("snapshot of %d events loaded in %v", firstPos, st.SnapshotLoadTime)
			} else {
				assert.Equal(t, head(t, src), st.EventsApplied, "rebuilt from position 0")
			}
			assert.Equal(t, reference(t, src.(Reader)), viewFigures(t, again.eng))
			require.NoError(t, again.stop())
		})
	}
}

// faultySource wraps a store's subscription and reads (the engine's catch-up) to repeat or
// drop envelopes, or break the chain.
type faultySource struct {
	*memStore
	mangle func(e domain.Envelope) []domain.Envelope
}

func (f faultySource) ReadAll(ctx context.Context, from uint64, limit int) ([]domain.Envelope, error) {
	envs, err := f.memStore.ReadAll(ctx, from, limit)
	var out []domain.Envelope
	for _, e := range envs {
		out = append(out, f.mangle(e)...)
	}
	return out, err
}

func (f faultySource) Subscribe(ctx context.Context, from uint64) (eventstore.Subscription, error) {
	inner, err := f.memStore.Subscribe(ctx, from)
	if err != nil {
		return nil, err
	}
	out := &memSub{c: make(chan domain.Envelope)}
	go func() { // ends when the inner subscription ends or ctx is done
		defer close(out.c)
		for e := range inner.C() {
			for _, m := range f.mangle(e) {
				select {
				case out.c <- m:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

func TestEngineSubscriptionFaults(t *testing.T) {
	cases := []struct {
		name    string
		mangle  func(e domain.Envelope) []domain.Envelope
		wantErr error
	}{
		{"repeats are ignored", func(e domain.Envelope) []domain.Envelope { return []domain.Envelope{e, e} }, nil},
		{"a gap stops the engine", func(e domain.Envelope) []domain.Envelope {
			if e.Position == 10 {
				return nil
			}
			return []domain.Envelope{e}
		}, ErrGap},
		{"a broken chain stops the engine", func(e domain.Envelope) []domain.Envelope {
			if e.Position == 10 {
				e.PrevHash[0] ^= 1
			}
			return []domain.Envelope{e}
		}, ErrChain},
	}
	for _, tc := range cases {
		// caught up: the events are in the store before Run (read by the catch-up);
		// live: they arrive after Ready (through the subscription).
		for _, live := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/live=%t", tc.name, live), func(t *testing.T) {
				testSubscriptionFault(t, tc.mangle, tc.wantErr, live)
			})
		}
	}
}

func testSubscriptionFault(t *testing.T, mangle func(e domain.Envelope) []domain.Envelope, wantErr error, live bool) {
	s := newMemStore()
	defer s.Close()
	if !live {
		fillCustomers(t, s, 0, 5, 3)
	}
	eng := NewLedgerEngine(faultySource{s, mangle}, t.TempDir(), Config[*ledger.Model]{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }() // ends on error or cancel
	if live {
		require.Eventually(t, eng.Ready, 5*time.Second, time.Millisecond, "waiting for Ready")
		fillCustomers(t, s, 0, 5, 3)
	}
	if wantErr == nil {
		waitPosition(t, eng, head(t, s))
		cancel()
		require.NoError(t, <-done)
		assert.Equal(t, head(t, s), eng.Stats().EventsApplied)
		return
	}
	select {
	case err := <-done:
		require.ErrorIs(t, err, wantErr)
	case <-time.After(10 * time.Second):
		t.Fatal("engine did not stop on the fault")
	}
	assert.Equal(t, uint64(9), eng.Position(), "stops after the last good envelope")
	assert.Equal(t, uint64(9), eng.Stats().LastSnapshotAtPos, "and checkpoints it")
}

// TestEngineStopsOnAnInconsistentEvent: an event the ledger cannot apply stops the engine
// (fail-stop) with the ledger's error; the model keeps its last good state.
func TestEngineStopsOnAnInconsistentEvent(t *testing.T) {
	s := newMemStore()
	defer s.Close()
	fillCustomers(t, s, 0, 3, 2)
	good := head(t, s)
	appendEvents(t, s, "C00000", domain.PaymentReceived{PaymentID: "BAD", Amount: eur(10), ReceivedOn: d("2024-06-01"),
		Allocations: []domain.Allocation{{InvoiceID: "NO-SUCH-INVOICE", Amount: eur(10)}}, Unallocated: eur(0)})
	eng := NewLedgerEngine(s, "", Config[*ledger.Model]{})
	err := eng.Run(context.Background())
	require.ErrorIs(t, err, ledger.ErrInconsistent)
	assert.Equal(t, good, eng.Position())
	assert.False(t, eng.Ready())
}

func TestLedgerAsOfPagesThroughTheLog(t *testing.T) {
	s := newMemStore()
	defer s.Close()
	fillCustomers(t, s, 0, 1500, 5) // 10 500 events: two pages of eventstore.ReadLimitMax and a bit
	m, err := LedgerAsOf(context.Background(), s, asOf, farFuture)
	require.NoError(t, err)
	assert.Equal(t, head(t, s), m.Position())
	customers, invoices, _, _ := m.Counts()
	assert.Equal(t, 1500, customers)
	assert.Equal(t, 7500, invoices)
	early, err := LedgerAsOf(context.Background(), s, d("2024-01-10"), farFuture)
	require.NoError(t, err)
	_, invoices, _, _ = early.Counts()
	assert.Less(t, invoices, 7500, "invoices dated after the as-of date are left out")
}

// Goal: a batch the reader found linked is still checked against the projection at its
// first applied envelope, after any it skips as already applied; an unlinked one at each.
func TestApplyBatchChecksTheChainAtItsStart(t *testing.T) {
	s := newMemStore()
	defer s.Close()
	fillCustomers(t, s, 0, 2, 3)
	envs, err := s.ReadAll(context.Background(), 1, 100)
	require.NoError(t, err)
	require.Greater(t, len(envs), 6)
	require.True(t, linkedPage(envs))
	newEngine := func() *Engine[*ledger.Model] {
		eng := NewLedgerEngine(s, t.TempDir(), Config[*ledger.Model]{})
		n, err := eng.applyBatch(envs[:3], nil, true)
		require.NoError(t, err)
		require.Equal(t, 3, n)
		return eng
	}
	broken := slices.Clone(envs)
	broken[3].PrevHash[0] ^= 1
	eng := newEngine()
	_, err = eng.applyBatch(broken[3:], nil, true)
	require.ErrorIs(t, err, ErrChain, "first envelope of a linked batch")
	eng = newEngine()
	_, err = eng.applyBatch(broken[1:], nil, true) // 1 and 2 are skipped: 3 is the first applied
	require.ErrorIs(t, err, ErrChain, "first envelope applied after skipped ones")
	broken = slices.Clone(envs)
	broken[5].PrevHash[0] ^= 1
	require.False(t, linkedPage(broken))
	eng = newEngine()
	n, err := eng.applyBatch(broken[3:], nil, false)
	require.ErrorIs(t, err, ErrChain, "inside an unlinked batch")
	assert.Equal(t, 2, n, "the envelopes before the break are applied")
	eng = newEngine()
	n, err = eng.applyBatch(envs[3:], nil, true)
	require.NoError(t, err)
	assert.Equal(t, len(envs)-3, n)
}
