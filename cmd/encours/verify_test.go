package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/projections/engine"
	"github.com/encours/encours/projections/ledger"
)

// recordStarts returns the offsets of the records in a segment file: each starts with the
// commit magic of the embedded store's framing (one event per append here).
func recordStarts(b []byte) []int {
	var magic [4]byte
	binary.BigEndian.PutUint32(magic[:], 0xE1C05EA1)
	var out []int
	for i := 0; ; {
		j := bytes.Index(b[i:], magic[:])
		if j < 0 {
			return out
		}
		out = append(out, i+j)
		i += j + 4
	}
}

// Goal: a byte flipped anywhere in a record that is not the log's last append is found and
// its position named: in the record's header (magic, length, checksum), in the middle of its
// payload, in its hash. Method: a log of 6 events in one segment; the 4th record's bytes are
// flipped one at a time, on a fresh copy each time.
func TestVerifyNamesTheFlippedRecord(t *testing.T) {
	dir := t.TempDir()
	store := seedStore(t, dir, 5)
	require.NoError(t, store.Close())
	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	require.Len(t, segs, 1)
	good, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	starts := recordStarts(good)
	require.Len(t, starts, 6, "one record per event")
	start, end := starts[3], starts[4] // position 4
	for _, tc := range []struct {
		name string
		off  int
	}{
		{"magic", start}, {"length", start + 5}, {"checksum", start + 10},
		{"payload start", start + 12}, {"middle of the payload", (start + end) / 2}, {"hash", end - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := append([]byte(nil), good...)
			b[tc.off] ^= 0x10
			require.NoError(t, os.WriteFile(segs[0], b, 0o644))
			code, out, _ := runCLI("verify", "--data", dir)
			assert.Equal(t, exitFinding, code, "byte %d: %s", tc.off, out)
			assert.Contains(t, out, "DAMAGED")
			assert.Contains(t, out, "first bad position: 4", "byte %d: %s", tc.off, out)
		})
	}
	require.NoError(t, os.WriteFile(segs[0], good, 0o644))
	code, out, _ := runCLI("verify", "--data", dir)
	assert.Equal(t, exitOK, code, out)
}

// projectedStore seeds a store in small segments and runs the ledger projection over it as
// the daemon does, leaving its snapshot in DIR/projections; it returns the head position.
func projectedStore(t *testing.T, dir string) uint64 {
	t.Helper()
	store, err := embedded.Open(dir, embedded.Options{SegmentBytes: 4 << 10})
	require.NoError(t, err)
	svc := command.New(store, command.NewManualClock(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)), command.Options{})
	ctx := context.Background()
	for i := range 6 {
		id := domain.CustomerID(fmt.Sprintf("C%d", i))
		_, err = svc.Execute(ctx, domain.RegisterCustomer{CustomerID: id, Name: "Customer " + string(id), Country: "FR", Currency: "EUR",
			Terms: domain.Net(30), CreditLimit: domain.Money{Minor: 100_000, Ccy: "EUR"}, On: domain.MustDate("2026-01-01")}, command.Meta{Actor: "test"})
		require.NoError(t, err)
		for j := range 4 {
			_, err = svc.Execute(ctx, domain.IssueInvoice{CustomerID: id, InvoiceID: domain.InvoiceID(fmt.Sprintf("%s-F%d", id, j)),
				Number: fmt.Sprintf("F%d", j), Amount: domain.Money{Minor: int64(1000 * (j + 1)), Ccy: "EUR"},
				IssueDate: domain.MustDate("2026-01-05"), DueDate: domain.MustDate("2026-02-04")}, command.Meta{Actor: "test"})
			require.NoError(t, err)
		}
	}
	head, err := store.Head(ctx)
	require.NoError(t, err)
	eng := engine.NewLedgerEngine(store, filepath.Join(dir, "projections"), engine.Config[*ledger.Model]{})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- eng.Run(runCtx) }() // ends when cancel is called below
	require.Eventually(t, func() bool { return eng.Position() == head.Position }, 10*time.Second, 5*time.Millisecond, "waiting for the projection")
	cancel()
	<-done // a clean stop writes the snapshot
	require.NoError(t, store.Close())
	return head.Position
}

// Goal: verify compares the persisted projection with a full replay, and catches a log cut
// short and a tampered snapshot. Method: a store in several segments with the daemon's
// ledger snapshot; then the last segment is removed (the log is sound in itself, but the
// snapshot and an export's manifest saw events it no longer has), and the snapshot is
// altered on a good copy.
func TestVerifyProjectionsAndManifests(t *testing.T) {
	dir := t.TempDir()
	head := projectedStore(t, dir)
	manifest := filepath.Join(t.TempDir(), "aging.manifest.json")
	code, _, errOut := runCLI("export", "--report", "aging", "--as-of", "2026-03-01", "--data", dir, "--manifest", manifest, "--out", filepath.Join(t.TempDir(), "aging.csv"))
	require.Equal(t, exitOK, code, errOut)

	code, out, _ := runCLI("verify", "--data", dir, "--manifest", manifest)
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, fmt.Sprintf("projection ledger (ledger.snapshot) at position %d: equal to a full replay", head))
	assert.Contains(t, out, fmt.Sprintf("manifest %s: position %d holds chain hash", manifest, head))

	t.Run("tampered snapshot", func(t *testing.T) {
		snap := filepath.Join(dir, "projections", "ledger.snapshot")
		good, err := os.ReadFile(snap)
		require.NoError(t, err)
		defer func() { require.NoError(t, os.WriteFile(snap, good, 0o644)) }()
		b := append([]byte(nil), good...)
		b[len(b)-3] ^= 0x01
		require.NoError(t, os.WriteFile(snap, b, 0o644))
		code, out, _ := runCLI("verify", "--data", dir)
		assert.Equal(t, exitFinding, code, out)
		assert.Contains(t, out, "verify "+dir+": DAMAGED")
		assert.Contains(t, out, "projection ledger (ledger.snapshot) at position")
		assert.Contains(t, out, "DIFFERS from a full replay")
	})

	t.Run("last segment removed", func(t *testing.T) {
		segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
		require.NoError(t, err)
		require.Greater(t, len(segs), 2, "several segments")
		sort.Strings(segs)
		lastSeg := segs[len(segs)-1]
		b, err := os.ReadFile(lastSeg)
		require.NoError(t, err)
		defer func() { require.NoError(t, os.WriteFile(lastSeg, b, 0o644)) }()
		require.NoError(t, os.Remove(lastSeg))
		var first uint64
		_, err = fmt.Sscanf(filepath.Base(lastSeg), "%020d.seg", &first)
		require.NoError(t, err)

		code, out, _ := runCLI("verify", "--data", dir, "--manifest", manifest)
		assert.Equal(t, exitFinding, code, out)
		assert.Contains(t, out, "DAMAGED")
		assert.Contains(t, out, fmt.Sprintf("events after %d are missing", first-1))
		assert.Contains(t, out, fmt.Sprintf("first bad position: %d", first), out)
	})
	code, out, _ = runCLI("verify", "--data", dir, "--manifest", manifest)
	assert.Equal(t, exitOK, code, "restored: %s", out)
}

// A torn tail (the last append never acknowledged, cut short by a crash) is not damage:
// verify still reads the log back for the projection checks and exits 0, saying so.
func TestVerifyTornTail(t *testing.T) {
	dir := t.TempDir()
	store := seedStore(t, dir, 3)
	require.NoError(t, store.Close())
	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	require.NoError(t, err)
	b, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	starts := recordStarts(b)
	require.Len(t, starts, 4)
	last := starts[3]
	for i := last + 20; i < last+40; i++ {
		b[i] = 0 // the last record half written
	}
	require.NoError(t, os.WriteFile(segs[0], b, 0o644))
	code, out, errOut := runCLI("verify", "--data", dir)
	assert.Equal(t, exitOK, code, "%s %s", out, errOut)
	assert.Contains(t, out, "torn tail: from position 4")
	assert.Contains(t, out, "head position: 3")
}
