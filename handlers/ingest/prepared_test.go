package ingest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/handlers/command"
)

// TestPreparedLogSpillsBeyondItsMemory: batches added past the memory bound go to a file and
// come back, in memory or from the file, exactly as they were added and in that order.
func TestPreparedLogSpillsBeyondItsMemory(t *testing.T) {
	for _, tc := range []struct {
		name      string
		memoryMax int
		spills    bool
	}{{"in memory", 1 << 20, false}, {"spilled", 256, true}} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPreparedLog(t.TempDir(), tc.memoryMax)
			defer p.close()
			var want []preparedBatch
			for i := range 40 {
				b := preparedBatch{cust: domain.CustomerID(fmt.Sprintf("C%d", i%7)), version: uint64(i * 3), key: fmt.Sprintf("import:%032d", i),
					row: 2 + i*10, rows: 10}
				for j := range 1 + i%4 {
					e := command.Prepared{Type: domain.TypeInvoiceIssued, EffectiveOn: domain.MustDate("2025-01-01").AddDays(i - j),
						Data: []byte(fmt.Sprintf(`{"invoice_id":"I%d-%d"}`, i, j)), Document: fmt.Sprintf("I%d-%d", i, j)}
					if j == 3 {
						e.Type, e.CorrectsType, e.CorrectsID = domain.TypeDisputeResolved, domain.TypeInvoiceDisputed, "I0"
					}
					b.events = append(b.events, e)
				}
				want = append(want, b)
				require.NoError(t, p.add(&b))
			}
			_, err := os.Stat(p.path)
			assert.Equal(t, tc.spills, err == nil, "batch file exists: %v", err)
			var got []preparedBatch
			require.NoError(t, p.each(func(b *preparedBatch) error { got = append(got, *b); return nil }))
			assert.Equal(t, want, got)
		})
	}
}

// TestImportWithSpilledBatchesMatchesInMemory: an import whose decided batches go through the
// batch file ends in the same ledger as one that keeps them in memory, and re-importing it
// appends nothing.
func TestImportWithSpilledBatchesMatchesInMemory(t *testing.T) {
	ctx := context.Background()
	var buf bytes.Buffer
	require.NoError(t, writeGenericSample(&buf, 2000, 3))
	mem, memSt := newLedger(t)
	repMem, err := Run(ctx, mem, openString(buf.String()), Formats["generic"], Options{Actor: "test"})
	require.NoError(t, err)
	disk, diskSt := newLedger(t)
	opts := Options{Actor: "test", batchMemoryBytes: 4 << 10, TempDir: t.TempDir()}
	repDisk, err := Run(ctx, disk, openString(buf.String()), Formats["generic"], opts)
	require.NoError(t, err)
	assert.Equal(t, repMem, repDisk)
	assert.Equal(t, headPosition(t, memSt), headPosition(t, diskSt))
	for c := range 2000 / importRowsPerCustomer {
		id := domain.CustomerID(fmt.Sprintf("C%07d", c))
		a, _, err := mem.Customer(ctx, id)
		require.NoError(t, err)
		b, _, err := disk.Customer(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, a.Version(), b.Version(), "customer %s", id)
		assert.Equal(t, a.Exposure(), b.Exposure(), "customer %s", id)
		assert.Equal(t, len(a.Invoices()), len(b.Invoices()), "customer %s", id)
	}
	again, err := Run(ctx, disk, openString(buf.String()), Formats["generic"], opts)
	require.NoError(t, err)
	assert.Zero(t, again.Appended)
	assert.Equal(t, 2000, again.AlreadyPresent)
	entries, err := os.ReadDir(opts.TempDir)
	require.NoError(t, err)
	assert.Empty(t, entries, "the partition directory and its batch file are removed")
}

// TestPreparedKeyKeepsNothingOfItsRecord: the store keeps every batch's key for as long as it
// runs (its idempotency index); a key read back must not keep its batch record alive with it.
// Method: read back 200 batches of ~100 KB of event data, keep only their keys and customers,
// and check that the heap kept far less than the records' 20 MB.
func TestPreparedKeyKeepsNothingOfItsRecord(t *testing.T) {
	p := newPreparedLog(t.TempDir(), 1<<20)
	defer p.close()
	data := bytes.Repeat([]byte("x"), 100<<10)
	for i := range 200 {
		b := preparedBatch{cust: domain.CustomerID(fmt.Sprintf("C%d", i)), key: fmt.Sprintf("import:%032d", i), rows: 1,
			events: []command.Prepared{{Type: domain.TypeInvoiceIssued, Data: data}}}
		require.NoError(t, p.add(&b))
	}
	var kept []string
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	require.NoError(t, p.each(func(b *preparedBatch) error {
		kept = append(kept, b.key, string(b.cust))
		return nil
	}))
	runtime.GC()
	runtime.ReadMemStats(&after)
	grown := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	assert.Less(t, grown, int64(2<<20), "heap kept %d bytes for 400 short strings", grown)
	assert.Len(t, kept, 400)
}

// TestImportCancelledWhileReading: a cancellation during the read pass (whose parsing runs on
// a goroutine of its own) ends the import with the context's error, appending nothing.
func TestImportCancelledWhileReading(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, writeGenericSample(&buf, 2*progressEvery, 5))
	svc, st := newLedger(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := Options{Actor: "test", Progress: func(p Progress) {
		if p.Pass == "read" && p.Rows == progressEvery {
			cancel()
		}
	}}
	rep, err := Run(ctx, svc, openString(buf.String()), Formats["generic"], opts)
	require.ErrorIs(t, err, context.Canceled)
	assert.Less(t, rep.Rows, 2*progressEvery, "the read pass stopped early")
	assert.Zero(t, headPosition(t, st))
}
