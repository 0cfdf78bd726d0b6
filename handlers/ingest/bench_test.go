package ingest

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/command"
)

// importRows is the size of BenchmarkImport's file: 1M rows in make bench (well under two
// minutes), -import.rows 10000000 for the 10M figure of the README.
var importRows = flag.Int("import.rows", 1_000_000, "rows of the generated file BenchmarkImport imports")

// importRowsPerCustomer sets the customers of a generated file: 50 invoices each on average.
const importRowsPerCustomer = 50

// writeGenericSample writes rows generic-format rows of rows/importRowsPerCustomer customers,
// whose rows are scattered through the file (each row's customer is drawn at random), as an
// ERP's invoice register sorted by date would have them: 80 % settled (a tenth of them
// partially), 8 % disputed, the rest open. The same seed writes the same bytes.
func writeGenericSample(w io.Writer, rows int, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	customers := max(1, rows/importRowsPerCustomer)
	bw := bufio.NewWriterSize(w, 1<<20)
	_, _ = bw.WriteString("customer_id,customer_name,country,segment,currency,terms_days,credit_limit,invoice_id,invoice_number,issue_date,due_date,amount,disputed,paid_date,paid_amount\n")
	first := domain.MustDate("2022-01-03")
	var line []byte
	for i := range rows {
		c := rng.IntN(customers)
		day := i * 730 / rows // two years of invoices, in date order
		issue := first.AddDays(day + rng.IntN(3))
		terms := []int{30, 45, 60}[c%3]
		due := issue.AddDays(terms)
		minor := 1000 + rng.Int64N(5_000_000) // 10,00 to 50 010,00 EUR
		line = line[:0]
		line = fmt.Appendf(line, "C%07d,Customer %d,FR,%s,EUR,%d,%d.00,INV%09d,F-%09d,%s,%s,%d.%02d,",
			c, c, []string{"sme", "large", "public"}[c%3], terms, 100_000+(c%50)*10_000, i, i, issue, due, minor/100, minor%100)
		disputed := rng.IntN(100) < 8
		if disputed {
			line = append(line, "yes,"...)
		} else {
			line = append(line, "no,"...)
		}
		if rng.IntN(100) < 80 {
			paid := issue.AddDays(max(0, terms-10+rng.IntN(40)))
			line = append(line, paid.String()...)
			line = append(line, ',')
			if rng.IntN(10) == 0 {
				part := max(1, minor/2)
				line = fmt.Appendf(line, "%d.%02d", part/100, part%100)
			}
		} else {
			line = append(line, ',')
		}
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// sampleFile generates the file of rows rows in the benchmark's temporary directory.
func sampleFile(b *testing.B, rows int) (string, int64) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "ledger-"+strconv.Itoa(rows)+".csv")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := writeGenericSample(f, rows, 1); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	return path, st.Size()
}

// memPeak samples the heap in use and the memory obtained from the OS every interval until
// stop is called, and returns their peaks.
func memPeak(interval time.Duration) (stop func() (heapInuse, sys uint64)) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	var heap, sys uint64
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap, sys = max(heap, ms.HeapInuse), max(sys, ms.Sys)
	}
	wg.Add(1)
	go func() { // ends when stop closes done
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() (uint64, uint64) {
		close(done)
		wg.Wait()
		sample()
		return heap, sys
	}
}

// cpuTime is the CPU time (user + system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// mallocs is the count of heap objects this process has allocated.
func mallocs() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.Mallocs
}

// reportPerRow adds the CPU time (user + system) and the heap allocations per row: on a
// shared machine they are the figures that load on other processes disturbs least.
func reportPerRow(b *testing.B, rows int, cpu time.Duration, allocs uint64) {
	n := float64(rows) * float64(b.N)
	b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/row")
	b.ReportMetric(float64(allocs)/n, "allocs/row")
}

// BenchmarkImport imports a generated generic-format file of -import.rows rows (1M by
// default) into a fresh embedded store, durably, and reports rows/s and the peak heap in
// use and memory obtained from the OS, sampled every 50 ms during the import.
//
// The peak includes the embedded store's in-memory index, which grows with the log (stream
// positions and, per append, its idempotency result with every event id): see
// BenchmarkImportPipeline for the importer's own memory.
func BenchmarkImport(b *testing.B) {
	rows := *importRows
	path, size := sampleFile(b, rows)
	b.SetBytes(size)
	ctx := context.Background()
	var elapsed, cpu time.Duration
	var heapPeak, sysPeak, allocs uint64
	passes := passTimes{}
	var syncs, events uint64
	for b.Loop() {
		b.StopTimer()
		dir := b.TempDir()
		st, err := embedded.Open(dir, embedded.Options{})
		if err != nil {
			b.Fatal(err)
		}
		svc := command.New(st, command.WallClock{}, command.Options{})
		if err := svc.Warm(ctx); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		stop := memPeak(50 * time.Millisecond)
		b.StartTimer()
		start, cpuStart, allocStart := time.Now(), cpuTime(), mallocs()
		rep, err := Run(ctx, svc, func() (io.ReadCloser, error) { return os.Open(path) }, Formats["generic"],
			Options{Actor: "bench", SizeHint: size, Progress: passes.record})
		elapsed += time.Since(start)
		cpu += cpuTime() - cpuStart
		allocs += mallocs() - allocStart
		b.StopTimer()
		heap, sys := stop()
		heapPeak, sysPeak = max(heapPeak, heap), max(sysPeak, sys)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Rows != rows || rep.RejectedRows != 0 {
			b.Fatalf("imported %d rows with %d refused, want %d and none", rep.Rows, rep.RejectedRows, rows)
		}
		stats := st.Stats()
		syncs, events = syncs+stats.Syncs, events+stats.Events
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		_ = os.RemoveAll(dir)
		b.StartTimer()
	}
	b.ReportMetric(float64(rows)*float64(b.N)/elapsed.Seconds(), "rows/s")
	// The machine is shared: rows per second of this process's CPU time (user + system) is
	// the figure that load on other processes disturbs least.
	b.ReportMetric(float64(rows)*float64(b.N)/cpu.Seconds(), "rows/cpu-s")
	reportPerRow(b, rows, cpu, allocs)
	b.ReportMetric(float64(heapPeak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(sysPeak)/(1<<20), "peak-sys-MiB")
	passes.report(b)
	// Events per fdatasync: how well the append pass's batches share the store's group commits.
	b.ReportMetric(float64(events)/float64(max(syncs, 1)), "events/sync")
}

// passTimes is the time each pass of an import took (the longest of the runs), from its
// progress reports.
type passTimes map[string]time.Duration

func (p passTimes) record(pr Progress) { p[pr.Pass] = max(p[pr.Pass], pr.Elapsed) }

// report adds each pass's wall time: read-s, validate-s, append-s.
func (p passTimes) report(b *testing.B) {
	for pass, d := range p {
		b.ReportMetric(d.Seconds(), pass+"-s")
	}
}

// discardLedger is a Ledger over an empty log that drops what it is given: BenchmarkImportPipeline
// measures the importer alone, without the store, whose in-memory index grows with the log.
type discardLedger struct{}

func (discardLedger) Execute(context.Context, domain.Command, command.Meta) (command.Result, error) {
	return command.Result{}, nil
}

func (discardLedger) CustomerState(context.Context, domain.CustomerID) (*domain.Customer, error) {
	return domain.NewCustomer(), nil
}

func (discardLedger) KeyUsed(context.Context, string) (bool, error) { return false, nil }

func (discardLedger) InvoiceCustomer(context.Context, domain.InvoiceID) (domain.CustomerID, bool, error) {
	return "", false, nil
}

func (discardLedger) PaymentCustomer(context.Context, domain.PaymentID) (domain.CustomerID, bool, error) {
	return "", false, nil
}

func (discardLedger) AppendPrepared(_ context.Context, _ domain.CustomerID, version uint64, events []command.Prepared, _ command.Meta) (eventstore.AppendResult, error) {
	return eventstore.AppendResult{StreamVersion: version + uint64(len(events))}, nil
}

// BenchmarkImportPipeline is BenchmarkImport without the store: the three passes, Decide,
// Evolve and the events' encoding (command.Prepare, in the validate pass), appended nowhere. Its peak heap is the importer's own,
// which must not grow with the file.
func BenchmarkImportPipeline(b *testing.B) {
	rows := *importRows
	path, size := sampleFile(b, rows)
	b.SetBytes(size)
	ctx := context.Background()
	var elapsed, cpu time.Duration
	var heapPeak, sysPeak, allocs uint64
	for b.Loop() {
		runtime.GC()
		stop := memPeak(50 * time.Millisecond)
		start, cpuStart, allocStart := time.Now(), cpuTime(), mallocs()
		rep, err := Run(ctx, discardLedger{}, func() (io.ReadCloser, error) { return os.Open(path) }, Formats["generic"],
			Options{Actor: "bench", SizeHint: size})
		elapsed += time.Since(start)
		cpu += cpuTime() - cpuStart
		allocs += mallocs() - allocStart
		heap, sys := stop()
		heapPeak, sysPeak = max(heapPeak, heap), max(sysPeak, sys)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Rows != rows || rep.RejectedRows != 0 {
			b.Fatalf("imported %d rows with %d refused, want %d and none", rep.Rows, rep.RejectedRows, rows)
		}
	}
	b.ReportMetric(float64(rows)*float64(b.N)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(float64(rows)*float64(b.N)/cpu.Seconds(), "rows/cpu-s")
	reportPerRow(b, rows, cpu, allocs)
	b.ReportMetric(float64(heapPeak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(sysPeak)/(1<<20), "peak-sys-MiB")
}
