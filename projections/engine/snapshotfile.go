package engine

import (
	"crypto/sha256"

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
