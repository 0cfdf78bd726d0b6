package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"syscall"
	"testing"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/projections/ledger"
)

// The replay benchmarks (Projections issue item 6, Benchmark issue: replay of 1M and 10M
// events into ready read models, with and without chain verification, restart to ready of a
// 10M-event store). The 10M ones need -replay.10m: their store is ~3.5 GB and takes about a
// minute to generate, so `make test` and the default `make bench` never run them:
//
//	go test -run '^$' -bench 'Replay10M|Restart10M' -benchtime 1x -count 3 ./projections/engine -replay.10m
var replay10M = flag.Bool("replay.10m", false, "run BenchmarkReplay10M and BenchmarkRestart10M (a 10M-event store generated once under the temp directory)")

// benchStoreVersion names the generator below: change it whenever the generated log changes,
// so that a store cached by an older generator is not reused.
const benchStoreVersion = "replay-v1"

// Each bench customer has a registration, benchInvoices invoices and a payment settling
// every other one: 1 + 20 + 10 = 31 events in one append, half its invoices open.
const benchInvoices = 20

func benchEventsPerCustomer() int { return 1 + benchInvoices + benchInvoices/2 }

// benchStore returns the directory of an embedded store of about events events (whole
// customers), generating it on first use under os.TempDir in a directory named by the
// generator's version and size, so later runs reuse it. It is built in a temporary
// directory and renamed into place once complete: an interrupted generation is never
// reused.
func benchStore(b *testing.B, events int) (dir string, customers int) {
	b.Helper()
	customers = events / benchEventsPerCustomer()
	sum := sha256.Sum256(fmt.Appendf(nil, "%s/%d", benchStoreVersion, customers))
	dir = filepath.Join(os.TempDir(), "encours-bench-"+hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(dir); err == nil {
		return dir, customers
	}
	tmp, err := os.MkdirTemp(os.TempDir(), "encours-bench-gen-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(tmp) // only if the rename below did not happen
	b.Logf("generating a store of %d customers (%d events) in %s", customers, customers*benchEventsPerCustomer(), dir)
	s, err := embedded.Open(tmp, embedded.Options{SegmentBytes: 256 << 20})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for i := range customers {
		evs := benchCustomerEvents(b, i)
		stream := evs[0].Stream
		if _, err := s.Append(ctx, eventstore.AppendRequest{Stream: stream, ExpectedVersion: 0, Events: evs}); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		b.Fatal(err)
	}
	return dir, customers
}

// benchCustomerEvents is customer i's append: realistic ids (a 36-byte event id, an
// actor), amounts and dates that vary with i.
func benchCustomerEvents(b *testing.B, i int) []domain.Envelope {
	id := domain.CustomerID(fmt.Sprintf("C%08d", i))
	stream := domain.CustomerStream(id)
	evs := make([]domain.Envelope, 0, benchEventsPerCustomer())
	add := func(ev domain.Event) {
		data, err := domain.EncodeEvent(ev)
		if err != nil {
			b.Fatal(err)
		}
		n := len(evs)
		evs = append(evs, domain.Envelope{
			EventID: fmt.Sprintf("0193a5c2-%04x-7%03x-8%03x-%012x", n, i%4096, n, i), Stream: stream,
			Type: ev.EventType(), SchemaVersion: domain.CurrentSchemaVersion, EffectiveOn: ev.Effective(),
			Actor: "import", Data: data,
		})
	}
	add(domain.CustomerRegistered{CustomerID: id, Name: fmt.Sprintf("Customer %08d SAS", i), Country: "FR",
		Sector: []string{"C25", "G46", "F43"}[i%3], Segment: []string{"sme", "corporate"}[i%2], Currency: "EUR",
		Terms: domain.Net(30), CreditLimit: eur(5_000_000), RegisteredOn: d("2024-01-01")})
	for j := range benchInvoices {
		inv := domain.InvoiceID(fmt.Sprintf("F%08d-%03d", i, j))
		issue := d("2024-01-01").AddDays((i + j*3) % 300)
		amount := eur(int64(10_000 + (i*37+j*101)%500_000))
		add(domain.InvoiceIssued{InvoiceID: inv, Number: string(inv), Amount: amount, IssueDate: issue, DueDate: issue.AddDays(30)})
		if j%2 == 1 {
			add(domain.PaymentReceived{PaymentID: domain.PaymentID("P" + string(inv)), Amount: amount, ReceivedOn: issue.AddDays(25 + j%20),
				Allocations: []domain.Allocation{{InvoiceID: inv, Amount: amount}}, Unallocated: eur(0)})
		}
	}
	return evs
}

// openBenchStore opens the cached store read-only (Open checks every record), its files read
// first: the writer dropped them from the page cache as it wrote them (embedded's cache.go),
// and the replays measure the replay, not the disk.
func openBenchStore(b *testing.B, events int) (*embedded.Store, int) {
	dir, customers := benchStore(b, events)
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, f)
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	s, err := embedded.Open(dir, embedded.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s, customers
}

// runToReady runs a ledger engine over s until it is Ready and returns it stopped, with
// how long Run took to become Ready.
func runToReady(b *testing.B, s Source, snapDir string, cfg Config[*ledger.Model]) (*Engine[*ledger.Model], time.Duration) {
	b.Helper()
	eng := NewLedgerEngine(s, snapDir, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cpu0, gc0 := cpuTime(), gcClasses()
	start := time.Now()
	go func() { done <- eng.Run(ctx) }() // ends at cancel below
	for !eng.Ready() {
		select {
		case err := <-done:
			cancel()
			b.Fatalf("engine stopped before Ready: %v", err)
		case <-time.After(200 * time.Microsecond):
		}
	}
	took := time.Since(start)
	cpu := cpuTime() - cpu0
	cpuTotal += cpu
	gc1 := gcClasses()
	gcCPU, allCPU = gcCPU+gc1[0]-gc0[0], allCPU+gc1[1]-gc0[1]
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	return eng, took
}

func BenchmarkReplay1M(b *testing.B) { benchmarkReplay(b, 1_000_000) }

func BenchmarkReplay10M(b *testing.B) {
	if !*replay10M {
		b.Skip("a 10M-event store (~3.5 GB): run with -replay.10m")
	}
	benchmarkReplay(b, 10_000_000)
}

// benchmarkReplay measures a fresh ledger engine (no snapshot) catching up with a store of
// about events events until Ready, with and without chain verification, and reports
// events/s, ns/event and the live heap of the ready model per customer and per open invoice.
func benchmarkReplay(b *testing.B, events int) {
	s, customers := openBenchStore(b, events)
	h, err := s.Head(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	n := float64(h.Position)
	for _, verify := range []bool{true, false} {
		b.Run(fmt.Sprintf("verify=%t", verify), func(b *testing.B) {
			var total time.Duration
			cpuTotal, gcCPU, allCPU = 0, 0, 0
			for b.Loop() {
				eng, took := runToReady(b, s, "", Config[*ledger.Model]{SkipChainVerification: !verify})
				total += took
				if eng.Position() != h.Position {
					b.Fatalf("ready at %d, head %d", eng.Position(), h.Position)
				}
			}
			per := total.Seconds() / float64(b.N)
			b.ReportMetric(n/per, "events/s")
			b.ReportMetric(per*1e9/n, "ns/event")
			b.ReportMetric(cpuTotal.Seconds()/float64(b.N)*1e9/n, "cpu-ns/event")
			b.ReportMetric(100*gcCPU/max(allCPU, 1e-9), "gc-cpu-%")
			b.ReportMetric(0, "ns/op")
		})
	}
	b.Run("memory", func(b *testing.B) {
		for b.Loop() {
			base := heapLive()
			eng, _ := runToReady(b, s, "", Config[*ledger.Model]{SkipChainVerification: true})
			live := heapLive()
			// The ready model of the whole log (customers, invoices, payments, indexes);
			// ledger's BenchmarkMemory measures per customer and per open invoice apart.
			b.ReportMetric(float64(live-base)/(1<<20), "MiB")
			b.ReportMetric(float64(live-base)/n, "B/event")
			b.ReportMetric(float64(customers), "customers")
			b.ReportMetric(0, "ns/op")
			runtime.KeepAlive(eng)
		}
	})
}

// gcCPU and allCPU sum the runtime's estimates of the CPU time the garbage collector took
// and of all CPU time (runtime/metrics' /cpu/classes: comparable with each other only)
// during runToReady: gc-cpu-% is the collector's share of a replay.
var gcCPU, allCPU float64

func gcClasses() [2]float64 {
	ms := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}, {Name: "/cpu/classes/total:cpu-seconds"}}
	metrics.Read(ms)
	return [2]float64{ms[0].Value.Float64(), ms[1].Value.Float64()}
}

// cpuTotal sums the process's CPU time (user and system, all threads) spent by runToReady
// until Ready: on a shared machine wall time depends on the other load, CPU time much less.
var cpuTotal time.Duration

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapLive() uint64 {
	var ms runtime.MemStats
	for range 2 {
		runtime.GC()
	}
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkLedgerAsOf1M measures the as-of replay accountants run (`encours replay
// --as-of`, reads of a past date): every record's hash checked, into a fresh model.
func BenchmarkLedgerAsOf1M(b *testing.B) {
	s, _ := openBenchStore(b, 1_000_000)
	h, err := s.Head(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	cpu0 := cpuTime()
	for b.Loop() {
		m, err := LedgerAsOf(context.Background(), s, d("2099-12-31"), farFuture)
		if err != nil {
			b.Fatal(err)
		}
		if m.Position() != h.Position {
			b.Fatalf("replayed to %d, head %d", m.Position(), h.Position)
		}
	}
	n := float64(h.Position) * float64(b.N)
	b.ReportMetric(n/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(cpuTime()-cpu0)/n, "cpu-ns/event")
	b.ReportMetric(0, "ns/op")
}

func BenchmarkRestart1M(b *testing.B) { benchmarkRestart(b, 1_000_000) }

func BenchmarkRestart10M(b *testing.B) {
	if !*replay10M {
		b.Skip("a 10M-event store (~3.5 GB): run with -replay.10m")
	}
	benchmarkRestart(b, 10_000_000)
}

// restartTail is how far the snapshot is behind the head at a restart: the engine's
// SnapshotEveryDefault, the most a running engine lets its checkpoint fall behind.
const restartTail = SnapshotEveryDefault

// benchmarkRestart measures a restart to ready: Open of the store (which checks every
// record), then the ledger engine loading its snapshot, taken restartTail events before the
// head, and applying the tail until Ready. The snapshot is made once, outside the timer, by
// an engine that sees the log only up to head − restartTail.
func benchmarkRestart(b *testing.B, events int) {
	dir, _ := benchStore(b, events)
	// A store shut down cleanly: its Close leaves the recovery checkpoint that the timed
	// Opens below start from (a store generated before checkpoints existed gets one here).
	if s, err := embedded.Open(dir, embedded.Options{}); err != nil {
		b.Fatal(err)
	} else if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	s, _ := openBenchStore(b, events)
	h, err := s.Head(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	snapDir := b.TempDir()
	capped := cappedSource{s, h.Position - restartTail}
	if eng, _ := runToReady(b, capped, snapDir, Config[*ledger.Model]{}); eng.Stats().LastSnapshotAtPos != capped.last {
		b.Fatalf("snapshot at %d, want %d", eng.Stats().LastSnapshotAtPos, capped.last)
	}
	s.Close()
	// ms-to-ready and cpu-ms-to-ready end at Ready; ms-to-stopped and cpu-ms-to-stopped also
	// count the engine's stop after it (its last snapshot, seconds at 10M events).
	var open, load, tail, total, cpu, stopped, cpuStopped time.Duration
	for b.Loop() {
		// The engine's stop snapshots the head: each restart starts from a copy of the
		// snapshot taken restartTail events before it.
		runDir := b.TempDir()
		copySnapshots(b, snapDir, runDir)
		cpu0 := cpuTime()
		start := time.Now()
		s, err := embedded.Open(dir, embedded.Options{ReadOnly: true})
		if err != nil {
			b.Fatal(err)
		}
		opened := time.Since(start)
		cpuOpen, engineCPU := cpuTime()-cpu0, cpuTotal
		eng, took := runToReady(b, s, runDir, Config[*ledger.Model]{SkipChainVerification: true})
		total += opened + took
		cpu += cpuOpen + cpuTotal - engineCPU
		stopped += time.Since(start)
		cpuStopped += cpuTime() - cpu0
		st := eng.Stats()
		if !st.SnapshotLoaded || st.SnapshotPosition != capped.last || eng.Position() != h.Position {
			b.Fatalf("snapshot loaded %t (%s) at %d, ready at %d", st.SnapshotLoaded, st.SnapshotDiscarded, st.SnapshotPosition, eng.Position())
		}
		open += opened
		load += st.SnapshotLoadTime
		tail += took - st.SnapshotLoadTime
		s.Close()
	}
	ms := func(d time.Duration) float64 { return d.Seconds() * 1e3 / float64(b.N) }
	b.ReportMetric(ms(total), "ms-to-ready")
	b.ReportMetric(ms(cpu), "cpu-ms-to-ready")
	b.ReportMetric(ms(stopped), "ms-to-stopped")
	b.ReportMetric(ms(cpuStopped), "cpu-ms-to-stopped")
	b.ReportMetric(ms(open), "ms-open")
	b.ReportMetric(ms(load), "ms-snapshot")
	b.ReportMetric(ms(tail), "ms-tail")
	b.ReportMetric(float64(h.Position), "events")
	b.ReportMetric(0, "ns/op")
}

// copySnapshots copies the files of directory from into directory to.
func copySnapshots(b *testing.B, from, to string) {
	b.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
}

// cappedSource is a store seen up to position last: its head, its reads, and a
// subscription that delivers nothing.
type cappedSource struct {
	*embedded.Store
	last uint64
}

func (c cappedSource) Head(ctx context.Context) (eventstore.Head, error) {
	envs, err := c.Store.ReadAll(ctx, c.last, 1)
	if err != nil || len(envs) == 0 {
		return eventstore.Head{}, fmt.Errorf("head at %d: %v", c.last, err)
	}
	return eventstore.Head{Position: c.last, Hash: envs[0].Hash}, nil
}

func (c cappedSource) ReadAll(ctx context.Context, from uint64, limit int) ([]domain.Envelope, error) {
	if from > c.last {
		return nil, nil
	}
	return c.Store.ReadAll(ctx, from, int(min(uint64(limit), c.last-from+1)))
}

func (c cappedSource) ReadPage(ctx context.Context, from uint64, limit int, hashed bool, envs []domain.Envelope, buf []byte) ([]domain.Envelope, []byte, error) {
	if from > c.last {
		return envs[:0], buf, nil
	}
	return c.Store.ReadPage(ctx, from, int(min(uint64(limit), c.last-from+1)), hashed, envs, buf)
}

func (c cappedSource) Subscribe(ctx context.Context, _ uint64) (eventstore.Subscription, error) {
	sub := &memSub{c: make(chan domain.Envelope)}
	go func() { // ends with ctx
		<-ctx.Done()
		close(sub.c)
	}()
	return sub, nil
}

// BenchmarkChainHash measures the machine's bound on a verified replay: SHA-256 chain
// hashes per second on one core (domain.ChainHash over the canonical bytes of the replay
// benchmark's own records, stored hash included in the record size reported).
func BenchmarkChainHash(b *testing.B) {
	evs := benchCustomerEvents(b, 123)
	canon := make([][]byte, len(evs))
	size := 0
	for i := range evs {
		evs[i].Position, evs[i].StreamVersion, evs[i].RecordedAt = uint64(1e6+i), uint64(i+1), time.Unix(1.7e9, 0)
		canon[i] = domain.AppendCanonical(nil, &evs[i])
		size += len(canon[i]) + 32 + 12 // + stored hash + record header
	}
	var prev domain.Hash
	n, cpu0 := 0, cpuTime()
	for b.Loop() {
		for _, c := range canon {
			prev = domain.ChainHash(prev, c)
		}
		n += len(canon)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "hashes/s")
	b.ReportMetric(float64(size)/float64(len(canon)), "B/record")
	b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(n), "ns/hash")
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(n), "cpu-ns/hash")
	b.ReportMetric(0, "ns/op")
}
