package engine

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// A snapshot file is a fixed header, the projection's name, then its MarshalBinary bytes:
//
//	magic "ENCS" | format u8 | version u32 | position u64 | chain hash [32] |
//	payload length u64 | payload SHA-256 [32] | name length u16 | name | payload
//
// The header says which code (version) built the state and from which event (position and
// that event's chain hash), so a restart can check the snapshot against the store before
// trusting it; the digest catches a damaged payload before it is decoded.
const (
	snapshotMagic      = "ENCS"
	snapshotFormat     = 1
	snapshotHeaderSize = 4 + 1 + 4 + 8 + 32 + 8 + 32 + 2
	// snapshotBytesMax refuses to read a snapshot larger than this (a damaged length must
	// not make the engine allocate without bound): 4 GiB is ~ 20 M open invoices.
	snapshotBytesMax = 4 << 30
)

type snapshotHeader struct {
	version    uint32
	position   uint64
	hash       domain.Hash
	payloadLen uint64
	digest     [32]byte
	name       string
}

func (e *Engine[P]) snapshotPath() string {
	return filepath.Join(e.cfg.Dir, e.cfg.Name+".snapshot")
}

// loadCheckpoint replaces the empty projection by the snapshot's when the snapshot is
// usable: same name and projection version, intact, not beyond the store's head, and built
// from the very event the store has at its position (same chain hash). Anything else is
// discarded with the reason in Stats and the projection rebuilds from position 0. Only an
// error reading the store is returned.
func (e *Engine[P]) loadCheckpoint(ctx context.Context, head eventstore.Head) error {
	if e.cfg.Dir == "" {
		return nil
	}
	start := time.Now()
	b, err := readSnapshotFile(e.snapshotPath())
	if errors.Is(err, fs.ErrNotExist) {
		e.log.Info("no snapshot: building from the log", "path", e.snapshotPath())
		return nil
	}
	discard := func(reason string) error {
		e.log.Warn("snapshot discarded: rebuilding from the log", "path", e.snapshotPath(), "reason", reason)
		e.setStats(func(s *Stats) { s.SnapshotDiscarded = reason })
		return nil
	}
	if err != nil {
		return discard(err.Error())
	}
	h, payload, err := parseSnapshotHeader(b)
	if err != nil {
		return discard(err.Error())
	}
	// The payload's digest is checked on another core while this one decodes it; a payload
	// that does not match is discarded before the decoded state is used. The decoder
	// refuses damaged bytes without panicking (FuzzSnapshot), so decoding before the digest
	// is known risks nothing, and the digest's time is off a restart's critical path.
	digest := make(chan bool, 1)
	go func() { digest <- sha256.Sum256(payload) == h.digest }() // ends after one hash
	digestOK, digestDone := false, false
	digestMatches := func() bool {
		if !digestDone {
			digestOK, digestDone = <-digest, true
		}
		return digestOK
	}
	defer digestMatches() // never returns with the hash still running
	switch {
	case h.name != e.cfg.Name:
		return discard(fmt.Sprintf("snapshot of projection %q", h.name))
	case h.version != e.cfg.Version:
		return discard(fmt.Sprintf("projection version changed from %d to %d", h.version, e.cfg.Version))
	case h.position > head.Position:
		return discard(fmt.Sprintf("snapshot at position %d is beyond the store's head %d", h.position, head.Position))
	}
	if h.position > 0 {
		envs, err := e.src.ReadAll(ctx, h.position, 1)
		if err != nil {
			return fmt.Errorf("engine %s: read position %d to check the snapshot: %w", e.cfg.Name, h.position, err)
		}
		if len(envs) == 0 || envs[0].Position != h.position || envs[0].Hash != h.hash {
			return discard(fmt.Sprintf("the store's event at position %d is not the one the snapshot was built from", h.position))
		}
	}
	p := e.cfg.New()
	decodeErr := p.UnmarshalBinary(payload)
	if !digestMatches() {
		return discard(errSnapshotDigest.Error())
	}
	if decodeErr != nil {
		return discard(fmt.Sprintf("decode: %v", decodeErr))
	}
	if p.Position() != h.position || p.Hash() != h.hash {
		return discard(fmt.Sprintf("decoded state at position %d, header says %d", p.Position(), h.position))
	}
	took := time.Since(start)
	e.mu.Lock()
	e.p = p
	e.mu.Unlock()
	e.position.Store(h.position)
	e.setStats(func(s *Stats) {
		s.SnapshotLoaded, s.SnapshotPosition, s.SnapshotLoadTime = true, h.position, took
	})
	e.log.Info("snapshot loaded", "position", h.position, "bytes", len(b), "took", took)
	return nil
}

func readSnapshotFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > snapshotBytesMax {
		return nil, fmt.Errorf("snapshot of %d bytes, more than %d", st.Size(), int64(snapshotBytesMax))
	}
	b := make([]byte, st.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	return b, nil
}

var errSnapshotDigest = errors.New("snapshot payload does not match its digest")

// parseSnapshot parses a snapshot file's header and checks its payload against the digest.
func parseSnapshot(b []byte) (snapshotHeader, []byte, error) {
	h, payload, err := parseSnapshotHeader(b)
	if err != nil {
		return h, nil, err
	}
	if sha256.Sum256(payload) != h.digest {
		return h, nil, errSnapshotDigest
	}
	return h, payload, nil
}

// parseSnapshotHeader is parseSnapshot without the digest check, which is the caller's.
func parseSnapshotHeader(b []byte) (snapshotHeader, []byte, error) {
	var h snapshotHeader
	if len(b) < snapshotHeaderSize || string(b[:4]) != snapshotMagic {
		return h, nil, errors.New("not a snapshot file")
	}
	if b[4] != snapshotFormat {
		return h, nil, fmt.Errorf("snapshot format %d, want %d", b[4], snapshotFormat)
	}
	o := 5
	h.version = binary.BigEndian.Uint32(b[o:])
	o += 4
	h.position = binary.BigEndian.Uint64(b[o:])
	o += 8
	copy(h.hash[:], b[o:o+32])
	o += 32
	h.payloadLen = binary.BigEndian.Uint64(b[o:])
	o += 8
	copy(h.digest[:], b[o:o+32])
	o += 32
	nameLen := int(binary.BigEndian.Uint16(b[o:]))
	o += 2
	if len(b)-o < nameLen || uint64(len(b)-o-nameLen) != h.payloadLen {
		return h, nil, fmt.Errorf("snapshot of %d bytes does not hold its %d-byte payload", len(b), h.payloadLen)
	}
	h.name = string(b[o : o+nameLen])
	return h, b[o+nameLen:], nil
}

func appendSnapshotHeader(buf []byte, h snapshotHeader) []byte {
	buf = append(buf, snapshotMagic...)
	buf = append(buf, snapshotFormat)
	buf = binary.BigEndian.AppendUint32(buf, h.version)
	buf = binary.BigEndian.AppendUint64(buf, h.position)
	buf = append(buf, h.hash[:]...)
	buf = binary.BigEndian.AppendUint64(buf, h.payloadLen)
	buf = append(buf, h.digest[:]...)
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(h.name)))
	return append(buf, h.name...)
}

// snapshot writes the projection's checkpoint. A failure is logged and counted, not fatal:
// the projection is still correct in memory and the next snapshot tries again.
func (e *Engine[P]) snapshot() {
	if e.cfg.Dir == "" {
		return
	}
	start := time.Now()
	e.mu.RLock()
	payload, err := e.p.MarshalBinary()
	pos, hash := e.p.Position(), e.p.Hash()
	e.mu.RUnlock()
	if err != nil {
		e.log.Error("snapshot: encode", "position", pos, "err", err)
		return
	}
	h := snapshotHeader{version: e.cfg.Version, position: pos, hash: hash, payloadLen: uint64(len(payload)), digest: sha256.Sum256(payload), name: e.cfg.Name}
	if err := writeFileAtomic(e.snapshotPath(), appendSnapshotHeader(make([]byte, 0, snapshotHeaderSize+len(h.name)), h), payload); err != nil {
		e.log.Error("snapshot: write", "position", pos, "err", err)
		return
	}
	took := time.Since(start)
	e.setStats(func(s *Stats) {
		s.SnapshotsWritten++
		s.LastSnapshotBytes = snapshotHeaderSize + len(h.name) + len(payload)
		s.LastSnapshotWrite = took
		s.LastSnapshotAtPos = pos
	})
	e.log.Debug("snapshot written", "position", pos, "bytes", len(payload), "took", took)
}

// writeFileAtomic replaces path with head+body so that a crash leaves either the old file or
// the new one, whole: write a temporary file in the same directory, fsync it, rename it over
// path, and fsync the directory so the rename itself is durable.
func writeFileAtomic(path string, head, body []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(head); err != nil {
		return err
	}
	if _, err = f.Write(body); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
