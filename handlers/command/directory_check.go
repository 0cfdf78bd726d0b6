package command

import (
	"context"
	"fmt"
	"slices"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/projections/engine"
)

// DirectorySnapshotName is the name in the directory snapshot's header (engine.SnapshotInfo),
// by which encours verify recognises the file.
const DirectorySnapshotName = directorySnapshotName

// DirectoryCheck is what CheckDirectorySnapshot found.
type DirectoryCheck struct {
	Position uint64 // the position it was built to, as far as its header could be read
	// Problem is empty when the snapshot equals the directory built from the log up to its
	// position; otherwise what differs (damage, a log that no longer holds its event, an id).
	Problem string
	// Skipped says why it was not compared (another version: the daemon rebuilds it).
	Skipped string
}

// CheckDirectorySnapshot compares the id directory's snapshot at path with the directory
// built from src up to the snapshot's position (encours verify): the same ids of each kind,
// each of the same customer, and the log's event there the one the snapshot was built from.
// Only an error reading the log is returned.
func CheckDirectorySnapshot(ctx context.Context, path string, src engine.Reader) (DirectoryCheck, error) {
	var c DirectoryCheck
	info, payload, err := engine.ReadSnapshot(path)
	c.Position = info.Position
	switch {
	case err != nil:
		c.Problem = "damaged: " + err.Error()
		return c, nil
	case info.Name != directorySnapshotName:
		c.Problem = fmt.Sprintf("a snapshot of %q, not the id directory's", info.Name)
		return c, nil
	case info.Version != directorySnapshotVersion:
		c.Skipped = fmt.Sprintf("built by version %d, this build's is %d: the daemon rebuilds it from the log", info.Version, directorySnapshotVersion)
		return c, nil
	}
	got, err := decodeDirectory(payload)
	if err != nil {
		c.Problem = "does not decode: " + err.Error()
		return c, nil
	}
	d := newDirectory(nil)
	var readErr error
	var last uint64
	var lastHash domain.Hash
	for e := range engine.Envelopes(ctx, src, 1, &readErr) {
		if e.Position > info.Position {
			break
		}
		if err := d.indexLocked(&e); err != nil { // d is this function's own
			c.Problem = err.Error()
			return c, nil
		}
		last, lastHash = e.Position, e.Hash
	}
	if readErr != nil {
		return c, readErr
	}
	switch {
	case last < info.Position:
		c.Problem = fmt.Sprintf("the snapshot was built up to position %d but the log ends at %d", info.Position, last)
		return c, nil
	case lastHash != info.Hash:
		c.Problem = fmt.Sprintf("the log's event at position %d is not the one the snapshot was built from", info.Position)
		return c, nil
	}
	kinds := [idKinds]string{"invoice", "payment", "credit note"}
	for k := range got {
		ids := make([]string, 0, len(got[k])+len(d.ids[k]))
		for id := range got[k] {
			ids = append(ids, id)
		}
		for id := range d.ids[k] {
			if _, ok := got[k][id]; !ok {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		for _, id := range ids {
			s, inSnap := got[k][id]
			r, inLog := d.ids[k][id]
			switch {
			case !inSnap:
				c.Problem = fmt.Sprintf("%s %s of customer %s is in the log, not in the snapshot", kinds[k], id, r.customer)
			case !inLog:
				c.Problem = fmt.Sprintf("%s %s of customer %s is in the snapshot, not in the log", kinds[k], id, s.customer)
			case s.customer != r.customer:
				c.Problem = fmt.Sprintf("%s %s: customer %s in the snapshot, %s by replay", kinds[k], id, s.customer, r.customer)
			default:
				continue
			}
			return c, nil
		}
	}
	return c, nil
}
