package command

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/projections/engine"
)

// countingEmbedded counts the events ReadAll hands out from a real store (chain hashes).
type countingEmbedded struct {
	*embedded.Store
	read int
}

func (s *countingEmbedded) ReadAll(ctx context.Context, from uint64, limit int) ([]domain.Envelope, error) {
	page, err := s.Store.ReadAll(ctx, from, limit)
	s.read += len(page)
	return page, err
}

func openStore(t *testing.T, dir string) *countingEmbedded {
	t.Helper()
	st, err := embedded.Open(dir, embedded.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return &countingEmbedded{Store: st}
}

// fillPortfolio appends customers with invoices, payments and credit notes, the three kinds
// of id the directory holds; prefix keeps two calls' ids apart.
func fillPortfolio(t *testing.T, s *Service, prefix string, customers int) {
	t.Helper()
	for c := range customers {
		cust := fmt.Sprintf("%sC%d", prefix, c)
		mustExecute(t, s, registerCmd(cust, 0), Meta{})
		for i := range 3 {
			inv := fmt.Sprintf("%s-I%d", cust, i)
			mustExecute(t, s, invoiceCmd(cust, inv, 1000), Meta{})
			if i == 1 {
				mustExecute(t, s, domain.IssueCreditNote{CustomerID: domain.CustomerID(cust), CreditNoteID: domain.CreditNoteID(cust + "-CN"),
					InvoiceID: domain.InvoiceID(inv), Amount: eur(100), IssueDate: domain.MustDate("2026-01-10"), Reason: "damaged"}, Meta{})
			}
		}
		mustExecute(t, s, domain.RecordPayment{CustomerID: domain.CustomerID(cust), PaymentID: domain.PaymentID(cust + "-P"),
			Amount: eur(500), ReceivedOn: domain.MustDate("2026-01-20")}, Meta{})
	}
}

// committedIDs is the directory's content, for comparisons.
func committedIDs(s *Service) [idKinds]map[string]domain.CustomerID {
	var out [idKinds]map[string]domain.CustomerID
	s.dir.mu.RLock()
	defer s.dir.mu.RUnlock()
	for k := range s.dir.ids {
		out[k] = make(map[string]domain.CustomerID)
		for id, o := range s.dir.ids[k] {
			if !o.pending {
				out[k][id] = o.customer
			}
		}
	}
	return out
}

// rebuilt is the directory a service without snapshot builds from the whole log.
func rebuilt(t *testing.T, store eventStore) [idKinds]map[string]domain.CustomerID {
	t.Helper()
	s := New(store, NewManualClock(testNow), Options{})
	require.NoError(t, s.Warm(context.Background()))
	return committedIDs(s)
}

// A directory started from its snapshot equals one rebuilt from the whole log, reads no
// event when nothing was appended since, and only the events appended since otherwise.
func TestDirectorySnapshotResumesFromItsPosition(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	snap := filepath.Join(dir, "projections", "directory.snapshot")
	store := openStore(t, filepath.Join(dir, "store"))

	first := New(store, NewManualClock(testNow), Options{DirectorySnapshot: snap})
	require.NoError(t, first.Warm(ctx))
	assert.False(t, first.DirectoryStats().SnapshotLoaded, "no snapshot yet")
	fillPortfolio(t, first, "A", 5)
	written, err := first.SaveDirectory(ctx)
	require.NoError(t, err)
	require.True(t, written)
	written, err = first.SaveDirectory(ctx)
	require.NoError(t, err)
	assert.False(t, written, "nothing new to write")
	head, err := store.Head(ctx)
	require.NoError(t, err)
	want := rebuilt(t, store)
	require.Len(t, want[idInvoice], 15)
	require.Len(t, want[idPayment], 5)
	require.Len(t, want[idCreditNote], 5)

	store.read = 0
	second := New(store, NewManualClock(testNow), Options{DirectorySnapshot: snap})
	require.NoError(t, second.Warm(ctx))
	st := second.DirectoryStats()
	assert.True(t, st.SnapshotLoaded)
	assert.Equal(t, head.Position, st.SnapshotPosition)
	assert.Equal(t, head.Position, st.Position)
	assert.Zero(t, st.EventsRead, "events indexed after the snapshot")
	assert.Equal(t, 1, store.read, "only the snapshot's own position is read, to check its hash")
	assert.Equal(t, want, committedIDs(second))

	// Appended since the snapshot (by another writer): the next start reads just those.
	other := New(store, NewManualClock(testNow), Options{})
	fillPortfolio(t, other, "B", 2)
	head2, err := store.Head(ctx)
	require.NoError(t, err)
	store.read = 0
	third := New(store, NewManualClock(testNow), Options{DirectorySnapshot: snap})
	require.NoError(t, third.Warm(ctx))
	st = third.DirectoryStats()
	assert.True(t, st.SnapshotLoaded)
	assert.Equal(t, head2.Position-head.Position, st.EventsRead)
	assert.Equal(t, head2.Position, st.Position)
	assert.Equal(t, rebuilt(t, store), committedIDs(third))
	c, ok, err := third.InvoiceCustomer(ctx, "BC1-I2")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, domain.CustomerID("BC1"), c)
	_, err = third.Execute(ctx, invoiceCmd("BC0", "AC3-I0", 100), Meta{})
	assert.Equal(t, domain.CodeDuplicateInvoice, codeOf(err), "an id of the snapshot is still refused to another customer")
}

// A snapshot that does not belong to the log (another log at the same position, a position
// beyond the head, a damaged or foreign file) is discarded: the directory reads the whole
// log, and says why.
func TestDirectorySnapshotDiscarded(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	snap := filepath.Join(dir, "directory.snapshot")
	a := openStore(t, filepath.Join(dir, "a"))
	sa := New(a, NewManualClock(testNow), Options{DirectorySnapshot: snap})
	fillPortfolio(t, sa, "A", 2)
	_, err := sa.SaveDirectory(ctx)
	require.NoError(t, err)
	good, err := os.ReadFile(snap)
	require.NoError(t, err)

	// Store b: the same number of events, other ids (other hashes).
	b := openStore(t, filepath.Join(dir, "b"))
	fillPortfolio(t, New(b, NewManualClock(testNow), Options{}), "X", 2)
	// Store c: shorter than the snapshot's position.
	c := openStore(t, filepath.Join(dir, "c"))
	fillPortfolio(t, New(c, NewManualClock(testNow), Options{}), "A", 1)

	damaged := append([]byte(nil), good...)
	damaged[len(damaged)-3] ^= 0xff
	info, payload, err := engine.ReadSnapshot(snap)
	require.NoError(t, err)
	foreign := filepath.Join(dir, "foreign")
	require.NoError(t, engine.WriteSnapshot(foreign, engine.SnapshotInfo{Name: "ledger", Version: info.Version, Position: info.Position, Hash: info.Hash}, payload))
	foreignBytes, err := os.ReadFile(foreign)
	require.NoError(t, err)
	badPayload := filepath.Join(dir, "badpayload")
	require.NoError(t, engine.WriteSnapshot(badPayload, info, payload[:len(payload)-1]))
	badPayloadBytes, err := os.ReadFile(badPayload)
	require.NoError(t, err)

	for _, tc := range []struct {
		name   string
		store  *countingEmbedded
		file   []byte
		reason string
	}{
		{"another log", b, good, "is not the one the snapshot was built from"},
		{"shorter log", c, good, "beyond the store's head"},
		{"damaged file", a, damaged, "digest"},
		{"foreign snapshot", a, foreignBytes, `snapshot of "ledger"`},
		{"payload that does not decode", a, badPayloadBytes, "does not decode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "directory.snapshot")
			require.NoError(t, os.WriteFile(p, tc.file, 0o600))
			head, err := tc.store.Head(ctx)
			require.NoError(t, err)
			s := New(tc.store, NewManualClock(testNow), Options{DirectorySnapshot: p})
			require.NoError(t, s.Warm(ctx))
			st := s.DirectoryStats()
			assert.False(t, st.SnapshotLoaded)
			assert.Contains(t, st.Discarded, tc.reason)
			assert.Equal(t, head.Position, st.EventsRead, "the whole log is read")
			assert.Equal(t, rebuilt(t, tc.store), committedIDs(s))
		})
	}
}

// The snapshot holds what the log holds, never a pending claim, and one directory always
// writes the same bytes.
func TestDirectorySnapshotEncoding(t *testing.T) {
	d := newDirectory(newMemStore())
	d.recordLocked(idInvoice, "I2", "C1")
	d.recordLocked(idInvoice, "I1", "C2")
	d.recordLocked(idPayment, "P1", "C1")
	d.recordLocked(idCreditNote, "N1", "C2")
	d.ids[idInvoice]["I9"] = &owner{customer: "C3", pending: true}
	b := d.encodeLocked()
	assert.Equal(t, b, d.encodeLocked())
	ids, err := decodeDirectory(b)
	require.NoError(t, err)
	assert.Len(t, ids[idInvoice], 2)
	assert.NotContains(t, ids[idInvoice], "I9")
	assert.Equal(t, domain.CustomerID("C2"), ids[idInvoice]["I1"].customer)
	assert.Equal(t, domain.CustomerID("C1"), ids[idPayment]["P1"].customer)
	assert.Equal(t, domain.CustomerID("C2"), ids[idCreditNote]["N1"].customer)
	for i := range b {
		if _, err := decodeDirectory(b[:i]); err == nil {
			t.Fatalf("a payload cut at %d of %d bytes decodes", i, len(b))
		}
	}
}

// Warm writes the snapshot itself after reading a long stretch of the log, so that a crash
// (no SaveDirectory at shutdown) does not make the next start read it all again.
func TestDirectoryWarmWritesSnapshotAfterALongCatchUp(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	snap := filepath.Join(dir, "directory.snapshot")
	store := openStore(t, filepath.Join(dir, "store"))
	fillPortfolio(t, New(store, NewManualClock(testNow), Options{}), "A", 3)
	head, err := store.Head(ctx)
	require.NoError(t, err)

	s := New(store, NewManualClock(testNow), Options{DirectorySnapshot: snap})
	s.dirSnapshotEvery = head.Position // the catch-up reads exactly this many
	require.NoError(t, s.Warm(ctx))
	info, _, err := engine.ReadSnapshot(snap)
	require.NoError(t, err, "Warm wrote the snapshot")
	assert.Equal(t, head.Position, info.Position)

	require.NoError(t, os.Remove(snap))
	s = New(store, NewManualClock(testNow), Options{DirectorySnapshot: snap})
	s.dirSnapshotEvery = head.Position + 1
	require.NoError(t, s.Warm(ctx))
	_, err = os.Stat(snap)
	assert.ErrorIs(t, err, os.ErrNotExist, "a short catch-up leaves the snapshot to SaveDirectory")
}

// encours verify's check: a snapshot written by the service equals the directory built from
// the log; one with an id moved to another customer, an id missing or added, or built from
// another log is reported, naming what differs.
func TestCheckDirectorySnapshot(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	snap := filepath.Join(dir, "directory.snapshot")
	store := openStore(t, filepath.Join(dir, "store"))
	s := New(store, NewManualClock(testNow), Options{DirectorySnapshot: snap})
	fillPortfolio(t, s, "A", 3)
	_, err := s.SaveDirectory(ctx)
	require.NoError(t, err)
	c, err := CheckDirectorySnapshot(ctx, snap, store)
	require.NoError(t, err)
	assert.Empty(t, c.Problem)
	assert.Empty(t, c.Skipped)
	head, err := store.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, head.Position, c.Position)
	// Events appended after the snapshot are not its business.
	fillPortfolio(t, s, "B", 1)
	c, err = CheckDirectorySnapshot(ctx, snap, store)
	require.NoError(t, err)
	assert.Empty(t, c.Problem)

	info, payload, err := engine.ReadSnapshot(snap)
	require.NoError(t, err)
	ids, err := decodeDirectory(payload)
	require.NoError(t, err)
	rewrite := func(edit func(d *directory)) string {
		d := newDirectory(nil)
		for k := range ids {
			for id, o := range ids[k] {
				d.ids[k][id] = &owner{customer: o.customer}
			}
		}
		edit(d)
		p := filepath.Join(t.TempDir(), "directory.snapshot")
		require.NoError(t, engine.WriteSnapshot(p, info, d.encodeLocked()))
		return p
	}
	for _, tc := range []struct {
		name string
		edit func(d *directory)
		want string
	}{
		{"moved", func(d *directory) { d.ids[idPayment]["AC1-P"].customer = "AC2" }, "payment AC1-P: customer AC2 in the snapshot, AC1 by replay"},
		{"missing", func(d *directory) { delete(d.ids[idCreditNote], "AC0-CN") }, "credit note AC0-CN of customer AC0 is in the log, not in the snapshot"},
		{"added", func(d *directory) { d.recordLocked(idInvoice, "GHOST", "AC0") }, "invoice GHOST of customer AC0 is in the snapshot, not in the log"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := CheckDirectorySnapshot(ctx, rewrite(tc.edit), store)
			require.NoError(t, err)
			assert.Equal(t, tc.want, c.Problem)
		})
	}

	other := openStore(t, filepath.Join(dir, "other"))
	fillPortfolio(t, New(other, NewManualClock(testNow), Options{}), "X", 4)
	c, err = CheckDirectorySnapshot(ctx, snap, other)
	require.NoError(t, err)
	assert.Contains(t, c.Problem, "is not the one the snapshot was built from")
	short := openStore(t, filepath.Join(dir, "short"))
	fillPortfolio(t, New(short, NewManualClock(testNow), Options{}), "A", 1)
	c, err = CheckDirectorySnapshot(ctx, snap, short)
	require.NoError(t, err)
	assert.Contains(t, c.Problem, "but the log ends at")
}
