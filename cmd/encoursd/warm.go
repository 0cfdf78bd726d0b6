package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/encours/encours/domain"
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
