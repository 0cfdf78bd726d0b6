package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Goal: the harness runs end to end at the quick setting and writes what it promises: every
// workload's rows with Encours's figures, PostgreSQL's when ENCOURS_POSTGRES_URL is set
// ("not run" otherwise), results.json and the two PNGs. It asserts no timing: the figures
// are the benchmark's, not the test's.
func TestQuickEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole harness, about a minute: not in -short")
	}
	pg := os.Getenv("ENCOURS_POSTGRES_URL")
	if pg == "" {
		t.Log("ENCOURS_POSTGRES_URL not set: Encours only (scripts/postgres up prints it)")
	}
	out := t.TempDir()
	res, err := Run(context.Background(), Config{Quick: true, PostgresURL: pg, Out: out, Dir: t.TempDir()})
	require.NoError(t, err)

	groups := map[string]int{}
	targets := 0
	for _, row := range res.Rows {
		groups[row.Group]++
		if row.Target != "" {
			targets++
			assert.True(t, row.Met != nil || row.Note != "", "%s %s: a target neither met, missed nor explained", row.Group, row.Name)
		}
		if row.Group == "append → alert delivered" && row.Encours == nil {
			continue // not run without the Go toolchain; its note says so
		}
		require.NotNil(t, row.Encours, "%s %s: no Encours figure", row.Group, row.Name)
		if row.Unit == "events/s" || row.Unit == "requests/s" || row.Unit == "syncs/s" || row.Unit == "hashes/s" {
			assert.Greater(t, *row.Encours, 0.0, "%s %s", row.Group, row.Name)
		}
		if row.Group == "durable appends" {
			if pg != "" {
				require.NotNil(t, row.Postgres, "%s %s: no PostgreSQL figure", row.Group, row.Name)
				require.NotNil(t, row.PostgresChained, "%s %s: no chained PostgreSQL figure", row.Group, row.Name)
			} else {
				assert.Nil(t, row.Postgres, "%s %s: a PostgreSQL figure without PostgreSQL", row.Group, row.Name)
			}
		}
	}
	for _, g := range []string{"machine", "durable appends", "HTTP POST /v1/invoices", "replay, 20k events",
		"append → alert delivered", "memory", "cost per event as the log grows"} {
		assert.NotZero(t, groups[g], "no rows for %q", g)
	}
	assert.Equal(t, 15, targets, "every target of the issue beside its figure")
	assert.Equal(t, 18, groups["durable appends"], "3 batch sizes × 2 writer counts × (events/s, p50, p99)")
	wantCases := 6
	if pg != "" {
		wantCases = 18
	}
	assert.Len(t, res.Appends, wantCases)

	b, err := os.ReadFile(filepath.Join(out, ResultsFile))
	require.NoError(t, err)
	var back Results
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, len(res.Rows), len(back.Rows))
	for _, name := range []string{ThroughputPlot, LatencyPlot} {
		png, err := os.ReadFile(filepath.Join(out, name))
		require.NoError(t, err)
		assert.True(t, bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")), "%s is not a PNG", name)
	}
	var md bytes.Buffer
	res.Markdown(&md)
	if pg == "" {
		assert.Contains(t, md.String(), "not run")
	} else {
		assert.True(t, strings.Contains(md.String(), "×"), "a ratio column")
	}
}
