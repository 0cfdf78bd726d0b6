package engine

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"

	"github.com/encours/encours/domain"
)

// SnapshotInfo is what a snapshot file's header says: which state (Name, Version), built
// from which event (Position and that event's chain Hash).
type SnapshotInfo struct {
	Name     string
	Version  uint32
	Position uint64
	Hash     domain.Hash
}

// WriteSnapshot writes payload as a snapshot file at path, in the engine's own format
// (header, digest), atomically: for read models kept beside an engine's, such as the alert
// evaluator's.
func WriteSnapshot(path string, info SnapshotInfo, payload []byte) error {
	h := snapshotHeader{version: info.Version, position: info.Position, hash: info.Hash, payloadLen: uint64(len(payload)),
		digest: sha256.Sum256(payload), name: info.Name}
	return writeFileAtomic(path, appendSnapshotHeader(make([]byte, 0, snapshotHeaderSize+len(h.name)), h), payload)
}

// ReadSnapshot reads a file WriteSnapshot wrote and checks its framing and digest. Checking
// it against the store (position not beyond the head, same chain hash there) and the name
// and version is the caller's.
func ReadSnapshot(path string) (SnapshotInfo, []byte, error) {
	b, err := readSnapshotFile(path)
	if err != nil {
		return SnapshotInfo{}, nil, err
	}
	h, payload, err := parseSnapshot(b)
	if err != nil {
		return SnapshotInfo{}, nil, err
	}
	return SnapshotInfo{Name: h.name, Version: h.version, Position: h.position, Hash: h.hash}, payload, nil
}

// SideCheck is what a check of a snapshot kept beside the engine's (WriteSnapshot: the alert
// evaluator's, the command side's id directory) against the log found.
type SideCheck struct {
	Position uint64 // the position it was built to, as far as its header could be read
	// Problem is empty when the snapshot equals what the log gives up to its position;
	// otherwise what differs (damage, a log that no longer holds its event, a state that
	// differs).
	Problem string
	// Skipped says why it was not compared (another version: the daemon rebuilds it).
	Skipped string
}

// CheckSideSnapshot begins the check of the side snapshot at path, whose header must name
// name (what, in words, for the messages) at version: it feeds apply every envelope of src
// up to the snapshot's position and checks that the log's event there is the one the
// snapshot was built from. When c has a Problem or is Skipped the check ends there; else
// the caller compares payload with what apply built. Only an error reading the log is
// returned.
func CheckSideSnapshot(ctx context.Context, path string, src Reader, name, what string, version uint32, apply func(*domain.Envelope) error) (c SideCheck, payload []byte, err error) {
	info, payload, err := ReadSnapshot(path)
	c.Position = info.Position
	switch {
	case err != nil:
		c.Problem = "damaged: " + err.Error()
		return c, nil, nil
	case info.Name != name:
		c.Problem = fmt.Sprintf("a snapshot of %q, not %s", info.Name, what)
		return c, nil, nil
	case info.Version != version:
		c.Skipped = fmt.Sprintf("built by version %#x, this build's is %#x: the daemon rebuilds it from the log", info.Version, version)
		return c, nil, nil
	}
	var readErr error
	var last uint64
	var lastHash domain.Hash
	for e := range Envelopes(ctx, src, 1, &readErr) {
		if e.Position > info.Position {
			break
		}
		if err := apply(&e); err != nil {
			c.Problem = fmt.Sprintf("the log cannot be applied at position %d: %v", e.Position, err)
			return c, nil, nil
		}
		last, lastHash = e.Position, e.Hash
	}
	if readErr != nil {
		return c, nil, readErr
	}
	switch {
	case last < info.Position:
		c.Problem = fmt.Sprintf("the snapshot was built up to position %d but the log ends at %d", info.Position, last)
	case lastHash != info.Hash:
		c.Problem = fmt.Sprintf("the log's event at position %d is not the one the snapshot was built from", info.Position)
	}
	return c, payload, nil
}

// LoadSideSnapshot reads the side snapshot at path for a start: usable when its header names
// name at version, at a position the store holds, built from the event the store has there.
// Otherwise reason says why it must be discarded. err is one wrapping fs.ErrNotExist when
// there is no snapshot, or an error reading the store.
func LoadSideSnapshot(ctx context.Context, path string, src Reader, name string, version uint32) (info SnapshotInfo, payload []byte, reason string, err error) {
	info, payload, err = ReadSnapshot(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return info, nil, "", err
	case err != nil:
		return info, nil, err.Error(), nil
	case info.Name != name:
		return info, nil, fmt.Sprintf("snapshot of %q", info.Name), nil
	case info.Version != version:
		return info, nil, fmt.Sprintf("version %#x, want %#x", info.Version, version), nil
	case info.Position == 0:
		return info, nil, "snapshot at position 0", nil
	}
	envs, err := src.ReadAll(ctx, info.Position, 1)
	switch {
	case err != nil:
		return info, nil, "", fmt.Errorf("read position %d to check the snapshot %s: %w", info.Position, path, err)
	case len(envs) == 0 || envs[0].Position != info.Position:
		return info, nil, fmt.Sprintf("snapshot at position %d, beyond the store's head", info.Position), nil
	case envs[0].Hash != info.Hash:
		return info, nil, fmt.Sprintf("the store's event at position %d is not the one the snapshot was built from", info.Position), nil
	}
	return info, payload, "", nil
}
