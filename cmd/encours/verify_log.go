package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/alerting"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/handlers/reports"
	"github.com/encours/encours/projections/engine"
)

// manifestList is the repeatable --manifest flag.
type manifestList []string

func (m *manifestList) String() string     { return strings.Join(*m, ",") }
func (m *manifestList) Set(v string) error { *m = append(*m, v); return nil }

// logFindings is what verifyAgainstLog found: one line per check, and the first bad position.
type logFindings struct {
	report   string
	bad      bool
	firstBad uint64
}

func (f *logFindings) fail(pos uint64, format string, args ...any) {
	f.report += fmt.Sprintf(format, args...) + "\n"
	f.bad = true
	if pos != 0 && (f.firstBad == 0 || pos < f.firstBad) {
		f.firstBad = pos
	}
}

// verifyAgainstLog runs the checks that need the log read back, once its records are known
// sound: every persisted projection in DIR/projections equals a full replay up to its
// position (engine.CheckSnapshots), and each export manifest's position still holds the
// chain hash the export was computed from. A manifest is an anchor kept outside the log, so
// it also catches a log cut short after its position was published: a missing last segment
// leaves a shorter log that is sound in itself.
func verifyAgainstLog(ctx context.Context, dir string, manifests []string) (logFindings, error) {
	var f logFindings
	store, err := embedded.Open(dir, embedded.Options{ReadOnly: true})
	if err != nil {
		return f, fmt.Errorf("open %s: %w", dir, err)
	}
	defer store.Close()
	head, err := store.Head(ctx)
	if err != nil {
		return f, err
	}
	checks, err := engine.CheckSnapshots(ctx, filepath.Join(dir, "projections"), store)
	if err != nil {
		return f, err
	}
	if len(checks) == 0 {
		f.report += "projections: no snapshot in " + filepath.Join(dir, "projections") + "\n"
	}
	for _, c := range checks {
		// Snapshots kept beside the engine's have their own checks: the alert evaluator's
		// fold and the command side's id directory.
		if check := sideChecks[c.Projection]; check != nil && c.Problem == "" {
			sc, err := check(ctx, filepath.Join(dir, "projections", c.File), store)
			if err != nil {
				return f, err
			}
			c.Skipped, c.Problem = sc.Skipped, sc.Problem
			if sc.Problem != "" {
				c.BadPosition = sc.Position
			}
		}
		switch {
		case c.Problem != "":
			f.fail(c.BadPosition, "projection %s (%s) at position %d: DIFFERS from a full replay: %s", c.Projection, c.File, c.Position, c.Problem)
		case c.Skipped != "":
			f.report += fmt.Sprintf("projection %s (%s) at position %d: not compared: %s\n", c.Projection, c.File, c.Position, c.Skipped)
		default:
			f.report += fmt.Sprintf("projection %s (%s) at position %d: equal to a full replay\n", c.Projection, c.File, c.Position)
		}
	}
	for _, path := range manifests {
		b, err := os.ReadFile(path)
		if err != nil {
			return f, fmt.Errorf("--manifest: %w", err)
		}
		var man reports.Manifest
		if err := json.Unmarshal(b, &man); err != nil || man.Position == 0 {
			return f, fmt.Errorf("--manifest %s: not an export manifest", path)
		}
		if man.Position > head.Position {
			f.fail(head.Position+1, "manifest %s: position %d, but the log ends at %d: events after %d are missing", path, man.Position, head.Position, head.Position)
			continue
		}
		envs, err := store.ReadAll(ctx, man.Position, 1)
		if err != nil {
			return f, err
		}
		if len(envs) == 0 || envs[0].Hash != man.ChainHash {
			f.fail(man.Position, "manifest %s: the log's chain hash at position %d is not %s: the log changed since the export", path, man.Position, man.ChainHash)
			continue
		}
		f.report += fmt.Sprintf("manifest %s: position %d holds chain hash %s\n", path, man.Position, man.ChainHash)
	}
	return f, nil
}

// sideChecks are the checks of the snapshots kept beside the engine's, by the name in their
// header.
var sideChecks = map[string]func(context.Context, string, engine.Reader) (engine.SideCheck, error){
	alerting.SnapshotName:         alerting.CheckSnapshot,
	command.DirectorySnapshotName: command.CheckDirectorySnapshot,
}
