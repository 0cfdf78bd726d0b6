package ingest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A row written with its parsed form reads back with the same raw bytes as written without
// it: a batch's idempotency key hashes them, so it does not change with the record's kind.
func TestSpillParsedKeepsRawBytes(t *testing.T) {
	sp, err := newSpill(t.TempDir(), 1)
	require.NoError(t, err)
	defer sp.remove()
	part := sp.customers[0]
	fields := []string{"C1", "Acme", "", "F1", "2026-01-05", "10.00", string(make([]byte, 200))}
	require.NoError(t, part.write(spillRow, 7, fields...))
	require.NoError(t, part.writeParsed(300, []byte("parsed form"), fields...))
	require.NoError(t, part.writeParsed(301, nil, "C2"))
	require.NoError(t, sp.finish())
	recs, err := part.readAll()
	require.NoError(t, err)
	require.Len(t, recs, 3)
	assert.Equal(t, spilled{kind: spillRow, row: 7, raw: recs[0].raw, cust: "C1", fields: fields}, recs[0])
	assert.Equal(t, spilled{kind: spillParsed, row: 300, raw: recs[0].raw, cust: "C1", parsed: "parsed form"}, recs[1])
	assert.Equal(t, spilled{kind: spillParsed, row: 301, raw: "\x01\x02C2", cust: "C2"}, recs[2])
}
