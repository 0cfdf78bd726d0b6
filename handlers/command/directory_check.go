package command

import (
	"context"
	"fmt"
	"slices"

	"github.com/encours/encours/projections/engine"
)

// DirectorySnapshotName is the name in the directory snapshot's header (engine.SnapshotInfo),
// by which encours verify recognises the file.
const DirectorySnapshotName = directorySnapshotName

// CheckDirectorySnapshot compares the id directory's snapshot at path with the directory
// built from src up to the snapshot's position (encours verify): the same ids of each kind,
// each of the same customer, and the log's event there the one the snapshot was built from.
// Only an error reading the log is returned.
func CheckDirectorySnapshot(ctx context.Context, path string, src engine.Reader) (engine.SideCheck, error) {
	d := newDirectory(nil)
	c, payload, err := engine.CheckSideSnapshot(ctx, path, src, directorySnapshotName, "the id directory's", directorySnapshotVersion,
		d.indexLocked) // d is this function's own
	if err != nil || c.Problem != "" || c.Skipped != "" {
		return c, err
	}
	got, err := decodeDirectory(payload)
	if err != nil {
		c.Problem = "does not decode: " + err.Error()
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
