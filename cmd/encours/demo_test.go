package main

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/embedded"
)

// streamsOf reads a stopped store's whole log as each stream's events (type, effective
// date, data), which is what the same seed must reproduce: event ids, recording instants and
// the interleaving of streams in the global log depend on the run.
func streamsOf(t *testing.T, dir string) (map[string][]string, uint64) {
	t.Helper()
	st, err := embedded.Open(dir, embedded.Options{})
	require.NoError(t, err)
	defer st.Close()
	out := map[string][]string{}
	var last uint64
	for from := uint64(1); ; {
		page, err := st.ReadAll(context.Background(), from, eventstore.ReadLimitMax)
		require.NoError(t, err)
		for _, e := range page {
			out[e.Stream] = append(out[e.Stream], e.Type+"|"+e.EffectiveOn.String()+"|"+string(e.Data))
			last = e.Position
		}
		if len(page) < eventstore.ReadLimitMax {
			return out, last
		}
		from = page[len(page)-1].Position + 1
	}
}

// encours demo: the same seed gives the same log, stream by stream; a second run on the same
// store appends nothing; another seed gives another portfolio.
func TestDemoSameSeedSameLog(t *testing.T) {
	if testing.Short() {
		t.Skip("generates three demo portfolios")
	}
	demoRun := func(dir, seed string) {
		code, out, errOut := runCLI("demo", "--data", dir, "--customers", "12", "--years", "1", "--seed", seed, "--end", "2026-06-30")
		require.Equal(t, exitOK, code, "stdout %s stderr %s", out, errOut)
	}
	a, b, c := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b"), filepath.Join(t.TempDir(), "c")
	demoRun(a, "3")
	demoRun(b, "3")
	demoRun(c, "4")
	sa, headA := streamsOf(t, a)
	sb, _ := streamsOf(t, b)
	sc, _ := streamsOf(t, c)
	require.Greater(t, len(sa), 12, "the generated and the named customers")
	assert.Equal(t, sa, sb, "same seed, same log")
	assert.NotEqual(t, sa, sc, "another seed, another log")

	demoRun(a, "3")
	_, again := streamsOf(t, a)
	assert.Equal(t, headA, again, "a second run appends nothing")
}
