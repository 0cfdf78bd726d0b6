package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/projections/engine"
)

// Goal: verify compares the daemon's id directory snapshot with the directory built from
// the log, and names an id whose customer differs. Method: the snapshot encoursd writes at
// shutdown (command.Service.SaveDirectory), then the same file with customer C1's ids given
// to C2, its digest recomputed so that only the comparison can catch it.
func TestVerifyDirectorySnapshot(t *testing.T) {
	dir := t.TempDir()
	head := projectedStore(t, dir)
	snap := filepath.Join(dir, "projections", "directory.snapshot")
	store, err := embedded.Open(dir, embedded.Options{})
	require.NoError(t, err)
	svc := command.New(store, command.NewManualClock(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)), command.Options{DirectorySnapshot: snap})
	written, err := svc.SaveDirectory(context.Background())
	require.NoError(t, err)
	require.True(t, written)
	require.NoError(t, store.Close())

	code, out, _ := runCLI("verify", "--data", dir)
	require.Equal(t, exitOK, code, out)
	assert.Contains(t, out, fmt.Sprintf("projection directory (directory.snapshot) at position %d: equal to a full replay", head))

	info, payload, err := engine.ReadSnapshot(snap)
	require.NoError(t, err)
	moved := bytes.Replace(payload, []byte("\x02C1"), []byte("\x02C2"), 1) // the customer table: C1 is now C2
	require.NotEqual(t, payload, moved)
	require.NoError(t, engine.WriteSnapshot(snap, info, moved))
	code, out, _ = runCLI("verify", "--data", dir)
	assert.Equal(t, exitFinding, code, out)
	assert.Contains(t, out, "DAMAGED")
	assert.Contains(t, out, "projection directory (directory.snapshot) at position")
	assert.Contains(t, out, "DIFFERS from a full replay: invoice C1-F0: customer C2 in the snapshot, C1 by replay")
}
