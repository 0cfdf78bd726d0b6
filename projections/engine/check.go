package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/projections/ledger"
)

// SnapshotCheck is what CheckSnapshots found about one persisted projection.
type SnapshotCheck struct {
	File       string // the snapshot file's name in the directory
	Projection string // the name in its header ("" when the header is unreadable)
	Position   uint64 // the position it was built up to
	// Skipped says why the file was not compared with a replay (a projection this build
	// has no replay for, or one built by another projection version, which the daemon
	// rebuilds rather than trusts); "" when it was compared.
	Skipped string
	// Problem says what is wrong: damage, a log that no longer holds the event the snapshot
	// was built from, or the first figure that differs from a full replay. "" when the
	// snapshot equals the replay.
	Problem string
	// Position of the problem in the log, when it has one (0 otherwise).
	BadPosition uint64
}

// OK reports whether the snapshot was compared and equals the replay.
func (c SnapshotCheck) OK() bool { return c.Skipped == "" && c.Problem == "" }

// CheckSnapshots compares every projection snapshot in dir (DATA/projections) with a full
// replay of src up to the snapshot's position: the ledger's bytes must equal those of a
// fresh model fed every envelope up to that position, and the event there must be the one
// the snapshot names. The snapshots are never trusted or changed; a missing dir has none.
// Only an error reading the log or the directory is returned; what is wrong with a
// snapshot is in its SnapshotCheck.
func CheckSnapshots(ctx context.Context, dir string, src Reader) ([]SnapshotCheck, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var out []SnapshotCheck
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".snapshot") {
			continue // temporary files of an interrupted write are not snapshots
		}
		c, err := checkSnapshot(ctx, filepath.Join(dir, e.Name()), src)
		if err != nil {
			return out, err
		}
		c.File = e.Name()
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b SnapshotCheck) int { return strings.Compare(a.File, b.File) })
	return out, nil
}

func checkSnapshot(ctx context.Context, path string, src Reader) (SnapshotCheck, error) {
	var c SnapshotCheck
	b, err := readSnapshotFile(path)
	if err != nil {
		c.Problem = err.Error()
		return c, nil
	}
	h, payload, err := parseSnapshot(b)
	c.Projection, c.Position = h.name, h.position // as far as the header could be read
	if err != nil {
		c.Problem = "damaged: " + err.Error()
		return c, nil
	}
	switch {
	case h.name != "ledger":
		c.Skipped = fmt.Sprintf("this build has no replay of projection %q", h.name)
		return c, nil
	case h.version != LedgerVersion:
		c.Skipped = fmt.Sprintf("built by projection version %d, this build's is %d: the daemon rebuilds it from the log", h.version, LedgerVersion)
		return c, nil
	}
	replay := ledger.New()
	var readErr error
	var last domain.Envelope
	var latest domain.Date
	for e := range Envelopes(ctx, src, 1, &readErr) {
		if e.Position > h.position {
			break
		}
		if err := replay.Apply(e); err != nil {
			c.Problem, c.BadPosition = fmt.Sprintf("the replay cannot apply position %d: %v", e.Position, err), e.Position
			return c, nil
		}
		if e.EffectiveOn.After(latest) {
			latest = e.EffectiveOn
		}
		last = e
	}
	if readErr != nil {
		return c, readErr
	}
	switch {
	case last.Position < h.position:
		c.Problem = fmt.Sprintf("the snapshot was built up to position %d but the log ends at %d: events after %d are missing",
			h.position, last.Position, last.Position)
		c.BadPosition = last.Position + 1
		return c, nil
	case h.position > 0 && last.Hash != h.hash:
		c.Problem = fmt.Sprintf("the log's event at position %d has hash %s, the snapshot was built from %s", h.position, last.Hash, h.hash)
		c.BadPosition = h.position
		return c, nil
	}
	want, err := replay.MarshalBinary()
	if err != nil {
		return c, fmt.Errorf("encode the replay: %w", err)
	}
	if string(want) == string(payload) {
		return c, nil
	}
	snap := ledger.New()
	if err := snap.UnmarshalBinary(payload); err != nil {
		c.Problem = "the snapshot does not decode: " + err.Error()
		return c, nil
	}
	c.Problem = "differs from the replay: " + ledgerDifference(snap, replay, latest)
	return c, nil
}

// ledgerDifference names the first figure that differs between a snapshot's model and the
// replay's: a customer present in one only, a customer's exposure or its parts, an invoice's
// amount or open amount; or, when every one of those agrees, the first differing byte.
func ledgerDifference(snap, replay *ledger.Model, asOf domain.Date) string {
	ids := func(m *ledger.Model) []domain.CustomerID { return ledger.CustomerIDs(m, ledger.Portfolio()) }
	si, ri := ids(snap), ids(replay)
	for _, id := range ri {
		if !slices.Contains(si, id) {
			return fmt.Sprintf("customer %s is missing from the snapshot", id)
		}
	}
	for _, id := range si {
		if !slices.Contains(ri, id) {
			return fmt.Sprintf("customer %s is in the snapshot but not in the log", id)
		}
	}
	for _, id := range ri {
		sf, serr := ledger.ComputeFigures(snap, ledger.CustomerScope(id), asOf, ledger.Config{})
		rf, rerr := ledger.ComputeFigures(replay, ledger.CustomerScope(id), asOf, ledger.Config{})
		if serr != nil || rerr != nil {
			return fmt.Sprintf("customer %s: figures: snapshot %v, replay %v", id, serr, rerr)
		}
		for _, f := range []struct {
			name string
			s, r domain.Money
		}{
			{"exposure", sf.Exposure, rf.Exposure}, {"open invoices", sf.OpenInvoices, rf.OpenInvoices},
			{"unallocated cash", sf.UnallocatedCash, rf.UnallocatedCash}, {"open credit notes", sf.OpenCreditNotes, rf.OpenCreditNotes},
			{"credit limit", sf.CreditLimit, rf.CreditLimit}, {"overdue", sf.Overdue, rf.Overdue},
		} {
			if f.s != f.r {
				return fmt.Sprintf("customer %s: %s %s in the snapshot, %s by replay", id, f.name, f.s, f.r)
			}
		}
		sv, _ := ledger.CustomerInvoices(snap, id, asOf, false)
		rv, _ := ledger.CustomerInvoices(replay, id, asOf, false)
		for i := range min(len(sv), len(rv)) {
			if sv[i].InvoiceID != rv[i].InvoiceID || sv[i].Amount != rv[i].Amount || sv[i].Open != rv[i].Open {
				return fmt.Sprintf("customer %s: invoice %s amount %s open %s in the snapshot, invoice %s amount %s open %s by replay",
					id, sv[i].InvoiceID, sv[i].Amount, sv[i].Open, rv[i].InvoiceID, rv[i].Amount, rv[i].Open)
			}
		}
		if len(sv) != len(rv) {
			return fmt.Sprintf("customer %s: %d invoices in the snapshot, %d by replay", id, len(sv), len(rv))
		}
	}
	a, _ := snap.MarshalBinary()
	b, _ := replay.MarshalBinary()
	i := 0
	for i < min(len(a), len(b)) && a[i] == b[i] {
		i++
	}
	return fmt.Sprintf("the figures agree but the state differs from byte %d of the payload (a date, count or name)", i)
}
