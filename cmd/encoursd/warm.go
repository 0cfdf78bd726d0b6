package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/handlers/reports"
)

// trendMonthEnds is how many past month ends the dashboard's trends show beside today.
const trendMonthEnds = 11

// warmMonthEnds waits for the ledger projection to be ready, then replays the log once for
// the last month ends (reports.Ledger.Warm), so that the dashboard's first 12-month trend
// is served from kept models instead of eleven replays. It ends with ctx, or once done.
func warmMonthEnds(ctx context.Context, logger *slog.Logger, ready func() bool, reads *reports.Ledger, today func() domain.Date) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for !ready() {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
	start := time.Now()
	kept, err := reads.Warm(ctx, reports.MonthEnds(today(), trendMonthEnds))
	if err != nil {
		if ctx.Err() == nil {
			logger.Warn("month ends not warmed", slog.Any("error", err))
		}
		return
	}
	logger.Info("month ends warmed", slog.Int("dates", len(kept)), slog.Duration("took", time.Since(start).Round(time.Millisecond)))
}

// warmDirectory builds the command side's id directory before the daemon serves: from its
// snapshot and the events after it (command.Options.DirectorySnapshot), or from the whole
// log when there is no usable snapshot.
func warmDirectory(ctx context.Context, logger *slog.Logger, svc *command.Service) error {
	start := time.Now()
	if err := svc.Warm(ctx); err != nil {
		return fmt.Errorf("index the log: %w", err)
	}
	st := svc.DirectoryStats()
	attrs := []any{slog.Bool("snapshot", st.SnapshotLoaded), slog.Uint64("snapshot_position", st.SnapshotPosition),
		slog.Uint64("events_read", st.EventsRead), slog.Uint64("position", st.Position),
		slog.Duration("took", time.Since(start).Round(time.Millisecond))}
	if st.Discarded != "" {
		logger.Warn("id directory: snapshot discarded, indexed the whole log", append(attrs, slog.String("reason", st.Discarded))...)
		return nil
	}
	logger.Info("id directory ready", attrs...)
	return nil
}

// saveDirectory writes the id directory's snapshot at shutdown, so that the next start reads
// only the events appended after it. A failure is logged: the next start reads more.
func saveDirectory(logger *slog.Logger, svc *command.Service) {
	start := time.Now()
	written, err := svc.SaveDirectory(context.Background())
	if err != nil {
		logger.Error("id directory: snapshot not written", slog.String("error", err.Error()))
		return
	}
	if !written {
		return // the snapshot already holds this position
	}
	st := svc.DirectoryStats()
	logger.Info("id directory: snapshot written", slog.Uint64("position", st.Position), slog.Duration("took", time.Since(start).Round(time.Millisecond)))
}

// warmPart is one part the daemon still warms up once it serves: wait returns once it is
// ready (nil wait: the part logs its own end, as warmMonthEnds does).
type warmPart struct {
	name string
	wait func(ctx context.Context) error
}

// warmParts lists what is still warming up when the daemon starts serving, as wired by
// serve: the ledger projection (its snapshot and the events since; reads of today wait for
// it), the alert evaluator (its snapshot and the events up to head), the month ends.
func warmParts(cfg config, ledgerReady func() bool, evaluatorAt func(context.Context, uint64) error, head uint64) []warmPart {
	var parts []warmPart
	if cfg.scale.servesLedger() {
		parts = append(parts, warmPart{name: "ledger projection", wait: func(ctx context.Context) error {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for !ledgerReady() {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-tick.C:
				}
			}
			return nil
		}})
	}
	if cfg.scale.followsLog() {
		parts = append(parts, warmPart{name: "alert evaluator", wait: func(ctx context.Context) error { return evaluatorAt(ctx, head) }})
	}
	if cfg.scale.servesLedger() && cfg.replayCacheMiB > 0 {
		parts = append(parts, warmPart{name: fmt.Sprintf("month ends (%d)", trendMonthEnds)})
	}
	return parts
}

// logWarmUp says in the log what is still warming up in the background once the daemon
// serves, then each part's end, until ctx ends.
func logWarmUp(ctx context.Context, logger *slog.Logger, parts []warmPart) {
	if len(parts) == 0 {
		return
	}
	names := make([]string, len(parts))
	for i, p := range parts {
		names[i] = p.name
	}
	logger.Info("warming up in the background", slog.Any("parts", names))
	start := time.Now()
	for _, p := range parts {
		if p.wait == nil {
			continue
		}
		go func() { // ends with ctx, or once the part is ready
			if err := p.wait(ctx); err != nil {
				return
			}
			logger.Info("warm: "+p.name+" ready", slog.Duration("after_start", time.Since(start).Round(time.Millisecond)))
		}()
	}
}
