package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/eventstore/postgres"
	"github.com/encours/encours/eventstore/storetest"
)

// The systems under test.
const (
	sysEncours         = "encours"
	sysPostgres        = "postgres"         // plain: as a user would set it up
	sysPostgresChained = "postgres-chained" // the same promises as Encours
)

// AppendCase is one cell of the append grid.
type AppendCase struct {
	System   string  `json:"system"`
	Batch    int     `json:"batch"`
	Writers  int     `json:"writers"`
	EventsPS float64 `json:"events_per_s"`
	P50ms    float64 `json:"p50_ms"`
	P90ms    float64 `json:"p90_ms"`
	P99ms    float64 `json:"p99_ms"`
	P999ms   float64 `json:"p999_ms"`
	Appends  int     `json:"appends"`
}

// latencies summarises acknowledgement times.
type latencies []time.Duration

func (l latencies) ms(q float64) float64 {
	if len(l) == 0 {
		return 0
	}
	return float64(l[min(len(l)-1, int(q*float64(len(l))))].Nanoseconds()) / 1e6
}

// closedLoop runs op(w, n) for n = 0, 1, ... on each of workers goroutines (w) until d has
// passed or ctx ends, each call waiting for the previous one; it returns every call's
// latency, sorted, and the elapsed time. The first error stops every worker and is returned,
// but a context.Canceled met after the stop is not an error.
func closedLoop(ctx context.Context, workers int, d time.Duration, op func(w, n int) error) (latencies, time.Duration, error) {
	lats := make([]latencies, workers)
	errs := make([]error, workers)
	var stop atomic.Bool
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() { // ends at stop or on the first error
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
				t0 := time.Now()
				err := op(w, n)
				lats[w] = append(lats[w], time.Since(t0))
				if err != nil {
					if !stop.Load() || !errors.Is(err, context.Canceled) {
						errs[w] = err
					}
					stop.Store(true)
					return
				}
			}
		}()
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
	}
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return nil, elapsed, err
	}
	all := latencies(slices.Concat(lats...))
	slices.Sort(all)
	return all, elapsed, nil
}

// runAppends appends batches of batch events from writers goroutines, each to its own
// stream with its expected version, for d; it reports events/s and latency percentiles.
func runAppends(ctx context.Context, s eventstore.Store, batch, writers int, d time.Duration) (AppendCase, error) {
	prefix := fmt.Sprintf("customer-%d-w", time.Now().UnixNano()) // fresh streams on a store used before
	events := make([][]domain.Envelope, writers)
	for w := range events {
		events[w] = storetest.Events(fmt.Sprintf("%s%d", prefix, w), batch)
	}
	all, elapsed, err := closedLoop(ctx, writers, d, func(w, n int) error {
		_, err := s.Append(ctx, eventstore.AppendRequest{Stream: fmt.Sprintf("%s%d", prefix, w),
			ExpectedVersion: int64(n * batch), Events: events[w]})
		return err
	})
	if err != nil {
		return AppendCase{}, err
	}
	return AppendCase{Batch: batch, Writers: writers, EventsPS: float64(len(all)*batch) / elapsed.Seconds(),
		P50ms: all.ms(0.50), P90ms: all.ms(0.90), P99ms: all.ms(0.99), P999ms: all.ms(0.999), Appends: len(all)}, nil
}

// openPostgres opens a store of its own in a fresh schema, dropped when drop is called.
func (r *runner) openPostgres(ctx context.Context, name string, plain bool) (*postgres.Store, func(), error) {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s-%d", name, time.Now().UnixNano()))
	schema := "bench_" + hex.EncodeToString(sum[:6])
	s, err := postgres.Open(ctx, r.cfg.PostgresURL, postgres.Options{Schema: schema, Plain: plain})
	if err != nil {
		return nil, nil, err
	}
	drop := func() {
		_, _ = s.Pool().Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		_ = s.Close()
	}
	return s, drop, nil
}

func (r *runner) appends(ctx context.Context) error {
	type cell struct{ batch, writers int }
	var cells []cell
	for _, b := range []int{1, 100, eventstore.AppendEventsMax} {
		for _, w := range []int{1, 32} {
			cells = append(cells, cell{b, w})
		}
	}
	results := map[string]map[cell]AppendCase{}
	systems := []string{sysEncours}
	if r.cfg.PostgresURL != "" {
		systems = append(systems, sysPostgres, sysPostgresChained)
	}
	for _, sys := range systems {
		results[sys] = map[cell]AppendCase{}
		for _, c := range cells {
			var s eventstore.Store
			var done func()
			switch sys {
			case sysEncours:
				dir, err := r.tempDir("append")
				if err != nil {
					return err
				}
				es, err := embedded.Open(dir, embedded.Options{})
				if err != nil {
					return err
				}
				s, done = es, func() { _ = es.Close(); _ = os.RemoveAll(dir) }
			default:
				ps, drop, err := r.openPostgres(ctx, "append", sys == sysPostgres)
				if err != nil {
					return err
				}
				s, done = ps, drop
			}
			syscall.Sync() // start with no other dirty data being written back
			ac, err := runAppends(ctx, s, c.batch, c.writers, r.cfg.AppendDuration)
			done()
			if err != nil {
				return fmt.Errorf("%s batch %d × %d writers: %w", sys, c.batch, c.writers, err)
			}
			ac.System = sys
			results[sys][c] = ac
			r.res.Appends = append(r.res.Appends, ac)
			fmt.Fprintf(r.cfg.Log, "bench:   %-16s %4d × %2d: %10.0f events/s p50 %.3f ms p99 %.3f ms\n",
				sys, c.batch, c.writers, ac.EventsPS, ac.P50ms, ac.P99ms)
		}
	}
	pg := func(sys string, c cell, v func(AppendCase) float64) *float64 {
		ac, ok := results[sys][c]
		if !ok {
			return nil
		}
		return f(v(ac))
	}
	note := ""
	if r.cfg.PostgresURL == "" {
		note = "PostgreSQL not run: set ENCOURS_POSTGRES_URL (scripts/postgres up)"
	}
	for _, c := range cells {
		e := results[sysEncours][c]
		name := fmt.Sprintf("%d × %d writers", c.batch, c.writers)
		tput := r.res.add(Row{Group: "durable appends", Name: name + " throughput", Unit: "events/s", Better: Higher,
			Encours: f(e.EventsPS), Postgres: pg(sysPostgres, c, func(a AppendCase) float64 { return a.EventsPS }),
			PostgresChained: pg(sysPostgresChained, c, func(a AppendCase) float64 { return a.EventsPS }), Note: note})
		r.res.add(Row{Group: "durable appends", Name: name + " p50", Unit: "ms", Better: Lower,
			Encours: f(e.P50ms), Postgres: pg(sysPostgres, c, func(a AppendCase) float64 { return a.P50ms }),
			PostgresChained: pg(sysPostgresChained, c, func(a AppendCase) float64 { return a.P50ms })})
		p99 := r.res.add(Row{Group: "durable appends", Name: name + " p99", Unit: "ms", Better: Lower,
			Encours: f(e.P99ms), Postgres: pg(sysPostgres, c, func(a AppendCase) float64 { return a.P99ms }),
			PostgresChained: pg(sysPostgresChained, c, func(a AppendCase) float64 { return a.P99ms })})
		switch {
		case c.batch == 1 && c.writers == 32:
			target(tput, ">= 150k events/s and >= 10x PostgreSQL", e.EventsPS >= 150_000 && tput.Ratio != nil && *tput.Ratio >= 10,
				e.EventsPS >= 150_000 && tput.Ratio == nil)
			target(p99, "<= 2 ms", e.P99ms <= 2, false)
		case c.batch == 1 && c.writers == 1:
			target(tput, ">= 9k events/s", e.EventsPS >= 9_000, false)
		case c.batch == 1000:
			target(tput, ">= 1M events/s", e.EventsPS >= 1_000_000, false)
		}
	}
	return nil
}

// target sets a row's target and whether it was met; unknown marks a target that depends
// on a figure not measured (PostgreSQL not run): met stays unset.
func target(row *Row, t string, met, unknown bool) {
	row.Target = t
	if unknown {
		row.Note = "ratio needs PostgreSQL"
		return
	}
	row.Met = &met
}

// freshProbeBytes sizes the page-cache and memory probes.
const freshProbeBytes = 256 << 20

// machine measures the disk's fdatasync rate and sequential write bandwidth where the
// stores live, the cost of new page-cache pages and of new memory, and SHA-256 over
// event-sized inputs, on one core and on all.
func (r *runner) machine(ctx context.Context) error {
	dir, err := r.tempDir("probe")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// fdatasync: write 4 KiB at the next offset of a preallocated file, fdatasync, repeat.
	fsyncs, fsyncP99, err := probeFdatasync(filepath.Join(dir, "fdatasync"), r.cfg.ProbeDuration)
	if err != nil {
		return err
	}
	r.res.add(Row{Group: "machine", Name: "write 4 KiB + fdatasync", Unit: "syncs/s", Better: Higher, NoPostgres: true, Encours: f(fsyncs),
		Note: fmt.Sprintf("p99 %.3f ms; one writer of single events cannot beat it", fsyncP99)})
	bw, err := probeSeqWrite(filepath.Join(dir, "seq"), r.cfg.ProbeDuration)
	if err != nil {
		return err
	}
	r.res.add(Row{Group: "machine", Name: "sequential write + fdatasync", Unit: "MB/s", Better: Higher, NoPostgres: true, Encours: f(bw),
		Note: "1 MiB writes, one fdatasync at the end"})
	first, rewrite, err := probeFreshPages(filepath.Join(dir, "pages"), freshProbeBytes)
	if err != nil {
		return err
	}
	r.res.add(Row{Group: "machine", Name: "write into new page-cache pages", Unit: "MB/s", Better: Higher, NoPostgres: true, Encours: f(first),
		Note: fmt.Sprintf("%d MiB in 1 MiB writes, no sync; the same writes again, into the pages now cached: %.0f MB/s. "+
			"The first pass is as fast as the second when the kernel finds pages it freed a moment ago, up to ~25 times slower "+
			"when it must take pages the host took back: what any write of new data may pay", freshProbeBytes>>20, rewrite)})
	touch, err := probeAnonTouch(freshProbeBytes)
	if err != nil {
		return err
	}
	r.res.add(Row{Group: "machine", Name: "first touch of new memory", Unit: "MB/s", Better: Higher, NoPostgres: true, Encours: f(touch),
		Note: fmt.Sprintf("%d MiB of anonymous memory, one write per 4 KiB page: what a growing heap (a replay's read model) pays for its pages", freshProbeBytes>>20)})
	one, all := probeSHA256(r.cfg.ProbeDuration)
	r.res.add(Row{Group: "machine", Name: "SHA-256 of 256 B, one core", Unit: "hashes/s", Better: Higher, NoPostgres: true, Encours: f(one)})
	r.res.add(Row{Group: "machine", Name: fmt.Sprintf("SHA-256 of 256 B, %d cores", runtimeCPUs()), Unit: "hashes/s", Better: Higher, NoPostgres: true, Encours: f(all)})
	return ctx.Err()
}
