package alerting

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/projections/engine"
	"github.com/encours/encours/projections/ledger"
	"github.com/encours/encours/projections/signals"
)

// The evaluator's snapshot is an engine snapshot file (engine.WriteSnapshot: header with the
// position and chain hash it was folded to, digest) whose payload is the three folded states:
//
//	model length u64 | ledger model (MarshalBinary) | facts length u64 | facts | book
//
// Its version follows the ledger's (engine.LedgerVersion), so that a ledger change discards
// it as it discards the ledger's own snapshot.
const (
	evaluatorSnapshotName   = "alerts"
	evaluatorSnapshotFormat = 1
	evaluatorSnapshotVer    = uint32(engine.LedgerVersion)<<16 | evaluatorSnapshotFormat
)

// loadSnapshot starts the evaluator from its snapshot when it is usable: its own, of this
// version, not beyond the store's head, built from the event the store has at its position,
// and decoding to states at that position. Anything else is discarded (logged, in Stats) and
// the evaluator folds the log from the start. It returns the position to subscribe from; only
// an error reading the store is returned.
func (e *Evaluator) loadSnapshot(ctx context.Context) (uint64, error) {
	if e.snapPath == "" {
		return 1, nil
	}
	start := time.Now()
	info, payload, reason, err := engine.LoadSideSnapshot(ctx, e.snapPath, e.store, evaluatorSnapshotName, evaluatorSnapshotVer)
	if errors.Is(err, fs.ErrNotExist) {
		e.log.Info("alerting: no evaluator snapshot: folding the log from the start", "path", e.snapPath)
		return 1, nil
	}
	if err != nil {
		return 0, fmt.Errorf("alerting: evaluator snapshot: %w", err)
	}
	discard := func(reason string) (uint64, error) {
		e.log.Warn("alerting: evaluator snapshot discarded: folding the log from the start", "path", e.snapPath, "reason", reason)
		e.mu.Lock()
		e.stats.SnapshotDiscarded = reason
		e.mu.Unlock()
		return 1, nil
	}
	if reason != "" {
		return discard(reason)
	}
	m, f, b, err := decodeEvaluatorState(payload)
	if err != nil {
		return discard(err.Error())
	}
	if m.Position() != info.Position || m.Hash() != info.Hash || f.Position() != info.Position || b.Position() != info.Position {
		return discard(fmt.Sprintf("states at positions %d, %d, %d; header says %d", m.Position(), f.Position(), b.Position(), info.Position))
	}
	e.mu.Lock()
	e.model, e.facts, e.book = m, f, b
	e.stats.Position, e.stats.SnapshotLoaded, e.stats.SnapshotPosition = info.Position, true, info.Position
	e.mu.Unlock()
	e.log.Info("alerting: evaluator snapshot loaded", "position", info.Position, "bytes", len(payload), "took", time.Since(start))
	return info.Position + 1, nil
}

// saveSnapshot writes the folded state when Run stops cleanly, unless nothing was folded
// since the snapshot it started from. A failure is logged: the next start folds more.
func (e *Evaluator) saveSnapshot() {
	if e.snapPath == "" {
		return
	}
	start := time.Now()
	e.mu.RLock()
	pos, hash := e.model.Position(), e.model.Hash()
	if pos == 0 || (e.stats.SnapshotLoaded && pos == e.stats.SnapshotPosition) {
		e.mu.RUnlock()
		return
	}
	payload, err := encodeEvaluatorState(e.model, e.facts, e.book)
	e.mu.RUnlock()
	if err == nil {
		err = engine.WriteSnapshot(e.snapPath, engine.SnapshotInfo{Name: evaluatorSnapshotName, Version: evaluatorSnapshotVer, Position: pos, Hash: hash}, payload)
	}
	if err != nil {
		e.log.Error("alerting: evaluator snapshot not written", "position", pos, "err", err)
		return
	}
	e.mu.Lock()
	e.stats.SnapshotWrittenAt = pos
	e.mu.Unlock()
	e.log.Info("alerting: evaluator snapshot written", "position", pos, "bytes", len(payload), "took", time.Since(start))
}

func encodeEvaluatorState(m *ledger.Model, f *signals.Facts, b *Book) ([]byte, error) {
	mb, err := m.MarshalBinary()
	if err != nil {
		return nil, err
	}
	fb, err := f.MarshalBinary()
	if err != nil {
		return nil, err
	}
	bb, err := b.MarshalBinary()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 16+len(mb)+len(fb)+len(bb))
	out = binary.BigEndian.AppendUint64(out, uint64(len(mb)))
	out = append(out, mb...)
	out = binary.BigEndian.AppendUint64(out, uint64(len(fb)))
	out = append(out, fb...)
	return append(out, bb...), nil
}

func decodeEvaluatorState(p []byte) (*ledger.Model, *signals.Facts, *Book, error) {
	part := func() ([]byte, error) {
		if len(p) < 8 || binary.BigEndian.Uint64(p) > uint64(len(p)-8) {
			return nil, errors.New("evaluator snapshot cut short")
		}
		n := binary.BigEndian.Uint64(p)
		b := p[8 : 8+n]
		p = p[8+n:]
		return b, nil
	}
	mb, err := part()
	if err != nil {
		return nil, nil, nil, err
	}
	fb, err := part()
	if err != nil {
		return nil, nil, nil, err
	}
	m, f, b := ledger.New(), signals.NewFacts(), NewBook()
	if err := m.UnmarshalBinary(mb); err != nil {
		return nil, nil, nil, fmt.Errorf("ledger model: %w", err)
	}
	if err := f.UnmarshalBinary(fb); err != nil {
		return nil, nil, nil, err
	}
	if err := b.UnmarshalBinary(p); err != nil {
		return nil, nil, nil, err
	}
	return m, f, b, nil
}

// SnapshotName is the name in the evaluator snapshot's header (engine.SnapshotInfo), by
// which encours verify recognises the file.
const SnapshotName = evaluatorSnapshotName

// CheckSnapshot compares the evaluator snapshot at path with a fresh fold of src up to the
// snapshot's position (encours verify): the ledger model, the facts and the book must have
// the bytes a fold from the start gives, and the log's event there must be the one the
// snapshot was built from. Only an error reading the log is returned.
func CheckSnapshot(ctx context.Context, path string, src engine.Reader) (engine.SideCheck, error) {
	m, f, b := ledger.New(), signals.NewFacts(), NewBook()
	c, payload, err := engine.CheckSideSnapshot(ctx, path, src, evaluatorSnapshotName, "the evaluator's", evaluatorSnapshotVer,
		func(e *domain.Envelope) error {
			for _, apply := range []func(domain.Envelope) error{m.Apply, f.Apply, b.Apply} {
				if err := apply(*e); err != nil {
					return err
				}
			}
			return nil
		})
	if err != nil || c.Problem != "" || c.Skipped != "" {
		return c, err
	}
	want, err := encodeEvaluatorState(m, f, b)
	if err != nil {
		return c, fmt.Errorf("encode the fold: %w", err)
	}
	if string(want) == string(payload) {
		return c, nil
	}
	c.Problem = "differs from a fold of the log"
	if sm, sf, sb, err := decodeEvaluatorState(payload); err != nil {
		c.Problem = "does not decode: " + err.Error()
	} else {
		for _, part := range []struct {
			name string
			a, b func() ([]byte, error)
		}{
			{"ledger model", sm.MarshalBinary, m.MarshalBinary},
			{"signals' facts", sf.MarshalBinary, f.MarshalBinary},
			{"alert book", sb.MarshalBinary, b.MarshalBinary},
		} {
			x, _ := part.a()
			y, _ := part.b()
			if string(x) != string(y) {
				c.Problem += ": its " + part.name + " differs"
				break
			}
		}
	}
	return c, nil
}
