package main

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The log says what is still warming up once the daemon serves, and then when each part is
// ready: the ledger once it reports ready, the evaluator once it reached the head.
func TestWarmUpIsLogged(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	logger := slog.New(slog.NewTextHandler(&out, nil))
	var ledgerReady atomic.Bool
	evaluatorAt := make(chan uint64, 1)
	cfg := config{scale: scaleConfig{role: roleAll}, replayCacheMiB: 1}
	parts := warmParts(cfg, ledgerReady.Load, func(ctx context.Context, pos uint64) error {
		evaluatorAt <- pos
		<-ctx.Done()
		return ctx.Err()
	}, 42)
	logWarmUp(ctx, logger, parts)
	assert.Contains(t, out.String(), `msg="warming up in the background" parts="[ledger projection alert evaluator month ends (11)]"`)
	assert.Equal(t, uint64(42), <-evaluatorAt, "the evaluator is awaited up to the head at start")
	time.Sleep(50 * time.Millisecond) // a few polls of a projection not ready yet
	assert.NotContains(t, out.String(), "warm: ledger projection ready")
	ledgerReady.Store(true)
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "warm: ledger projection ready") }, 5*time.Second, 10*time.Millisecond)
	assert.NotContains(t, out.String(), "warm: alert evaluator ready", "the evaluator has not reached the head")

	// A projector keeps neither the ledger nor the followers: nothing to warm, nothing logged.
	assert.Empty(t, warmParts(config{scale: scaleConfig{role: roleProjector}}, ledgerReady.Load, nil, 1))
}
