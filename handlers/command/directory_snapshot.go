package command

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/projections/engine"
)

// The directory's snapshot is an engine snapshot file (engine.WriteSnapshot: a header with
// the position and the chain hash of the event it was built up to, a digest of the payload):
//
//	customers uvarint | each: length uvarint, bytes
//	for each kind (invoice, payment, credit note): ids uvarint | each: length uvarint, bytes,
//	customer index uvarint
//
// Ids are sorted, so one directory always writes the same bytes. Only ids the log holds are
// written, never a pending claim.
const (
	directorySnapshotName    = "directory"
	directorySnapshotVersion = 1
)

// directorySnapshotEvery is how many events a catch-up at start must have indexed for Warm
// to write the snapshot at once, not only when the service is closed: after the first start
// on a long log, or a crash far from the last snapshot, the next start then reads only the
// events since.
const directorySnapshotEvery = 100_000

// DirectoryStats says how the directory started: from its snapshot (at which position), or
// from the start of the log, and how many events the catch-ups read from the store.
type DirectoryStats struct {
	SnapshotLoaded   bool
	SnapshotPosition uint64
	Discarded        string // why a snapshot was not used; "" when none was found or it was used
	EventsRead       uint64 // events read from the store by catch-ups since New
	Position         uint64 // last log position indexed
}

// DirectoryStats returns the directory's start figures.
func (s *Service) DirectoryStats() DirectoryStats {
	d := s.dir
	d.mu.RLock()
	defer d.mu.RUnlock()
	st := d.stats
	st.Position = d.position
	return st
}

// SaveDirectory catches the directory up with the log, then writes its snapshot to
// Options.DirectorySnapshot (nothing when unset, or when the snapshot already holds this
// position); written says whether it wrote. Call it when no command is under way (at shutdown, after the HTTP server
// stopped): an id claimed meanwhile could be in the file ahead of its event.
func (s *Service) SaveDirectory(ctx context.Context) (written bool, err error) {
	d := s.dir
	if s.dirSnapshot == "" {
		return false, nil
	}
	if err := d.catchUp(ctx); err != nil {
		return false, err
	}
	d.mu.RLock()
	pos := d.position
	saved := d.savedAt
	d.mu.RUnlock()
	if pos == 0 || pos == saved {
		return false, nil
	}
	envs, err := d.store.ReadAll(ctx, pos, 1)
	if err != nil {
		return false, fmt.Errorf("directory: read position %d for the snapshot: %w", pos, err)
	}
	if len(envs) == 0 || envs[0].Position != pos {
		return false, fmt.Errorf("directory: the store has no event at position %d", pos)
	}
	d.mu.RLock()
	payload, at := d.encodeLocked(), d.position
	d.mu.RUnlock()
	if at != pos { // a catch-up ran meanwhile: the next save writes it
		return false, nil
	}
	if err := engine.WriteSnapshot(s.dirSnapshot, engine.SnapshotInfo{Name: directorySnapshotName, Version: directorySnapshotVersion,
		Position: pos, Hash: envs[0].Hash}, payload); err != nil {
		return false, fmt.Errorf("directory: write snapshot: %w", err)
	}
	d.mu.Lock()
	d.savedAt = pos
	d.mu.Unlock()
	return true, nil
}

// loadSnapshot starts the directory from the snapshot at path when it is usable: its own, of
// this version, at a position the store holds, built from the event the store has there,
// and decoding whole. Anything else is discarded (the reason is in DirectoryStats) and the
// directory reads the log from the start. Only an error reading the store is returned.
func (d *directory) loadSnapshot(ctx context.Context, path string) error {
	info, payload, reason, err := engine.LoadSideSnapshot(ctx, path, d.store, directorySnapshotName, directorySnapshotVersion)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("directory: %w", err)
	}
	discard := func(reason string) error {
		d.mu.Lock()
		d.stats.Discarded = reason
		d.mu.Unlock()
		return nil
	}
	if reason != "" {
		return discard(reason)
	}
	ids, err := decodeDirectory(payload)
	if err != nil {
		return discard(err.Error())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.position != 0 {
		return nil // something was indexed already: keep it, the catch-up continues it
	}
	d.ids, d.position, d.savedAt = ids, info.Position, info.Position
	d.stats.SnapshotLoaded, d.stats.SnapshotPosition = true, info.Position
	return nil
}

// encodeLocked writes the committed ids in the snapshot's payload format. The caller holds mu.
func (d *directory) encodeLocked() []byte {
	custIdx := make(map[domain.CustomerID]uint64)
	var custs []domain.CustomerID
	var sorted [idKinds][]string
	size := 16
	for k := range d.ids {
		keys := make([]string, 0, len(d.ids[k]))
		for id, o := range d.ids[k] {
			if o.pending {
				continue
			}
			keys = append(keys, id)
			size += len(id) + 6
			if _, ok := custIdx[o.customer]; !ok {
				custIdx[o.customer] = uint64(len(custs))
				custs = append(custs, o.customer)
				size += len(o.customer) + 2
			}
		}
		slices.Sort(keys)
		sorted[k] = keys
	}
	// Customers in sorted order too, so the bytes depend on the ids only.
	slices.Sort(custs)
	for i, c := range custs {
		custIdx[c] = uint64(i)
	}
	b := make([]byte, 0, size)
	b = binary.AppendUvarint(b, uint64(len(custs)))
	for _, c := range custs {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	for k := range sorted {
		b = binary.AppendUvarint(b, uint64(len(sorted[k])))
		for _, id := range sorted[k] {
			b = binary.AppendUvarint(b, uint64(len(id)))
			b = append(b, id...)
			b = binary.AppendUvarint(b, custIdx[d.ids[k][id].customer])
		}
	}
	return b
}

// errDirectoryPayload is a payload that does not decode (its digest matched: a format bug).
var errDirectoryPayload = errors.New("directory snapshot: payload does not decode")

// decodeDirectory reads what encodeLocked wrote. The ids share one string (one allocation)
// and the owners one slice.
func decodeDirectory(b []byte) ([idKinds]map[string]*owner, error) {
	var ids [idKinds]map[string]*owner
	all := string(b) // the ids and customers are substrings of this copy
	off := 0
	uvarint := func() (uint64, bool) {
		v, n := binary.Uvarint(b[off:])
		if n <= 0 {
			return 0, false
		}
		off += n
		return v, true
	}
	str := func() (string, bool) {
		n, ok := uvarint()
		if !ok || n > uint64(len(b)-off) {
			return "", false
		}
		s := all[off : off+int(n)]
		off += int(n)
		return s, true
	}
	nc, ok := uvarint()
	if !ok || nc > uint64(len(b)) {
		return ids, errDirectoryPayload
	}
	custs := make([]domain.CustomerID, nc)
	for i := range custs {
		c, ok := str()
		if !ok || c == "" {
			return ids, errDirectoryPayload
		}
		custs[i] = domain.CustomerID(c)
	}
	for k := range ids {
		n, ok := uvarint()
		if !ok || n > uint64(len(b)) {
			return ids, errDirectoryPayload
		}
		owners := make([]owner, n)
		ids[k] = make(map[string]*owner, n)
		for i := range owners {
			id, ok := str()
			if !ok || id == "" {
				return ids, errDirectoryPayload
			}
			ci, ok := uvarint()
			if !ok || ci >= nc {
				return ids, errDirectoryPayload
			}
			if _, dup := ids[k][id]; dup {
				return ids, fmt.Errorf("directory snapshot: id %q twice", id)
			}
			owners[i] = owner{customer: custs[ci]}
			ids[k][id] = &owners[i]
		}
	}
	if off != len(b) {
		return ids, errDirectoryPayload
	}
	return ids, nil
}

// warmFromSnapshot is Warm with a snapshot path: load it, catch up the tail, and write the
// snapshot again when the catch-up read a long stretch of the log.
func (s *Service) warmFromSnapshot(ctx context.Context) error {
	if err := s.dir.loadSnapshot(ctx, s.dirSnapshot); err != nil {
		return err
	}
	before := s.DirectoryStats().EventsRead
	if err := s.dir.catchUp(ctx); err != nil {
		return err
	}
	if s.DirectoryStats().EventsRead-before >= s.dirSnapshotEvery {
		_, err := s.SaveDirectory(ctx)
		return err
	}
	return nil
}

// String is a one-line account of how the directory started, for the log.
func (st DirectoryStats) String() string {
	var b strings.Builder
	switch {
	case st.SnapshotLoaded:
		fmt.Fprintf(&b, "from its snapshot at position %d", st.SnapshotPosition)
	case st.Discarded != "":
		fmt.Fprintf(&b, "from the start of the log (snapshot discarded: %s)", st.Discarded)
	default:
		b.WriteString("from the start of the log")
	}
	fmt.Fprintf(&b, ", %d events read, at position %d", st.EventsRead, st.Position)
	return b.String()
}
