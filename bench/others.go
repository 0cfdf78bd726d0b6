package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/eventstore/storetest"
	"github.com/encours/encours/projections/ledger"
)

// alert runs handlers/alerting's own BenchmarkAlertLatency (append → alert delivered to a
// webhook and an SSE client, under 10k background events/s) with `go test`, and reads its
// figures: the benchmark's code is the one the alerting package keeps up to date.
func (r *runner) alert(ctx context.Context) error {
	row := func(name string, v *float64, note string) *Row {
		return r.res.add(Row{Group: "append → alert delivered", Name: name, Unit: "ms", Better: Lower, NoPostgres: true, Encours: v, Note: note})
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		row("webhook p99", nil, "not run: needs the source tree and the Go toolchain ("+err.Error()+")")
		return nil
	}
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "^BenchmarkAlertLatency$",
		"-benchtime", fmt.Sprintf("%dx", r.cfg.AlertIters), "-count", "1", "./handlers/alerting")
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go test -bench BenchmarkAlertLatency: %v\n%s", err, out.String())
	}
	m := benchMetrics(out.String(), "BenchmarkAlertLatency")
	if len(m) == 0 {
		return fmt.Errorf("no BenchmarkAlertLatency line in:\n%s", out.String())
	}
	note := fmt.Sprintf("handlers/alerting BenchmarkAlertLatency, %d iterations, background %.0f events/s", r.cfg.AlertIters, m["background-events/s"])
	p99 := row("webhook p99", f(m["webhook-p99-ms"]), note)
	target(p99, "<= 5 ms", m["webhook-p99-ms"] <= 5, false)
	row("webhook p50", f(m["webhook-p50-ms"]), "")
	sse := row("SSE p99", f(m["sse-p99-ms"]), "")
	target(sse, "<= 5 ms", m["sse-p99-ms"] <= 5, false)
	return nil
}

// moduleRoot is the directory of the go.mod of github.com/encours/encours, from the working
// directory.
func moduleRoot(ctx context.Context) (string, error) {
	if _, err := exec.LookPath("go"); err != nil {
		return "", err
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside a Go module")
	}
	b, err := os.ReadFile(mod)
	if err != nil || !bytes.Contains(b, []byte("module github.com/encours/encours\n")) {
		return "", fmt.Errorf("%s is not Encours's go.mod", mod)
	}
	return filepath.Dir(mod), nil
}

// benchMetrics reads the "value unit" pairs of the first result line of name.
func benchMetrics(out, name string) map[string]float64 {
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || !strings.HasPrefix(fields[0], name) {
			continue
		}
		for i := 2; i+1 < len(fields); i += 2 {
			if v, err := strconv.ParseFloat(fields[i], 64); err == nil {
				m[fields[i+1]] = v
			}
		}
		break
	}
	return m
}

func heapAlloc() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// memory measures the ledger's live heap per customer (registered, nothing else) and per
// open invoice, after applying them to a fresh ledger.Model as the engine does.
func (r *runner) memory(context.Context) error {
	customers, perCustomer := r.cfg.MemCustomers, r.cfg.MemInvoices
	var regs, invs []domain.Envelope
	for i := range customers {
		es := customerEvents(i, perCustomer, false)
		regs = append(regs, es[0])
		invs = append(invs, es[1:]...)
	}
	at := time.Now().UTC()
	pos := uint64(0)
	for _, list := range [][]domain.Envelope{regs, invs} {
		for i := range list {
			pos++
			list[i].Position, list[i].RecordedAt = pos, at
		}
	}
	base := heapAlloc()
	m := ledger.New()
	for _, e := range regs {
		if err := m.Apply(e); err != nil {
			return err
		}
	}
	withCustomers := heapAlloc()
	for _, e := range invs {
		if err := m.Apply(e); err != nil {
			return err
		}
	}
	withInvoices := heapAlloc()
	runtime.KeepAlive(m)
	runtime.KeepAlive(regs) // live throughout: only the model's growth counts
	runtime.KeepAlive(invs)
	perCust := float64(int64(withCustomers)-int64(base)) / float64(customers)
	perInv := float64(int64(withInvoices)-int64(withCustomers)) / float64(len(invs))
	note := fmt.Sprintf("ledger.Model, %d customers, %d open invoices; live heap after GC", customers, len(invs))
	row := r.res.add(Row{Group: "memory", Name: "per customer", Unit: "B", Better: Lower, NoPostgres: true, Encours: f(perCust), Note: note})
	target(row, "<= 1 KiB", perCust <= 1024, false)
	row = r.res.add(Row{Group: "memory", Name: "per open invoice", Unit: "B", Better: Lower, NoPostgres: true, Encours: f(perInv)})
	target(row, "<= 200 B", perInv <= 200, false)
	return nil
}

// growRuns is how many append runs each size of the growth measurement takes the median of.
const growRuns = 3

// growth measures the cost per event of durable appends (100 events × 32 writers) when the
// log holds GrowFrom events, then again at GrowTo: flat means within ±15 %.
func (r *runner) growth(ctx context.Context) error {
	dir, err := r.tempDir("grow")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	es, err := embedded.Open(dir, embedded.Options{})
	if err != nil {
		return err
	}
	defer es.Close()
	var filled int
	costAt := func(size int) (float64, error) {
		n, err := fillBulk(ctx, es, size-filled)
		if err != nil {
			return 0, err
		}
		filled += n
		// The fill left gigabytes of dirty pages: written back during the runs, they would
		// slow the fdatasyncs of the larger size only.
		syscall.Sync()
		costs := make([]float64, growRuns)
		for i := range costs {
			ac, err := runAppends(ctx, es, 100, 32, r.cfg.AppendDuration)
			if err != nil {
				return 0, err
			}
			filled += ac.Appends * 100
			costs[i] = 1e9 / ac.EventsPS
		}
		fmt.Fprintf(r.cfg.Log, "bench:   at %d events: %s ns/event\n", size, runsNote(costs, "%.0f"))
		return slices.Sorted(slices.Values(costs))[len(costs)/2], nil
	}
	c1, err := costAt(r.cfg.GrowFrom)
	if err != nil {
		return err
	}
	c2, err := costAt(r.cfg.GrowTo)
	if err != nil {
		return err
	}
	change := (c2 - c1) / c1 * 100
	group := "cost per event as the log grows"
	r.res.add(Row{Group: group, Name: "append 100 × 32 at " + count(r.cfg.GrowFrom), Unit: "ns/event", Better: Lower, NoPostgres: true, Encours: f(c1)})
	r.res.add(Row{Group: group, Name: "append 100 × 32 at " + count(r.cfg.GrowTo), Unit: "ns/event", Better: Lower, NoPostgres: true, Encours: f(c2)})
	// Without the store's drop-behind (embedded's cache.go) this row measured the page
	// cache's history, not the log's size: +72..134 %, the second size's writes landing in
	// pages the kernel had to take anew.
	note := fmt.Sprintf("each size: the median of %d runs of %s; PostgreSQL not measured here: filling it to this size takes minutes; "+
		"the store drops its durable pages 16 MiB behind the log's end, so that new writes reuse pages the kernel has just freed "+
		"(machine row «write into new page-cache pages»)", growRuns, r.cfg.AppendDuration)
	row := r.res.add(Row{Group: group, Name: "change", Unit: "%", Better: Lower, NoPostgres: true, Encours: f(change), Note: note})
	target(row, "within ±15 %", change >= -15 && change <= 15, false)
	return nil
}

// fillBulk appends n events in batches of 1000 from 4 writers, each on its own streams.
func fillBulk(ctx context.Context, s eventstore.Store, n int) (int, error) {
	const batch, writers = eventstore.AppendEventsMax, 4
	if n <= 0 {
		return 0, nil
	}
	appends := int64((n + batch - 1) / batch)
	var handed atomic.Int64
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() { // ends when the appends are handed out, or on the first error
			defer wg.Done()
			st := fmt.Sprintf("fill-%d-%d", w, time.Now().UnixNano())
			events := storetest.Events(st, batch)
			for v := int64(0); handed.Add(1) <= appends; v += batch {
				if _, err := s.Append(ctx, eventstore.AppendRequest{Stream: st, ExpectedVersion: v, Events: events}); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return int(appends) * batch, nil
}
