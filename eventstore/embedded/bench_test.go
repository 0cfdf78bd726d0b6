package embedded

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/storetest"
)

// BenchmarkAppend measures durable appends (acknowledged after fdatasync) of batches of
// events by concurrent writers, each to its own stream with its expected version. It
// reports events/s and the p50 and p99 latency of an acknowledgement. One op is one Append.
//
// The largest batch is eventstore.AppendEventsMax (1000): the port refuses more in one
// Append. Run with BenchmarkFdatasync, which gives the disk's own bound.
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{1, 100, eventstore.AppendEventsMax} {
		for _, writers := range []int{1, 32} {
			b.Run(fmt.Sprintf("batch=%d/writers=%d", batch, writers), func(b *testing.B) {
				benchmarkAppend(b, batch, writers)
			})
		}
	}
}

func benchmarkAppend(b *testing.B, batch, writers int) {
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// Each writer reuses its events: the store copies what it writes, and what it keeps (the
	// result's event ids) shares the strings.
	events := make([][]domain.Envelope, writers)
	for w := range events {
		events[w] = storetest.Events(fmt.Sprintf("customer-%d", w), batch)
	}
	latencies := make([][]time.Duration, writers)
	errs := make([]error, writers)
	var handed atomic.Int64
	var wg sync.WaitGroup
	syscall.Sync() // start with no other dirty data being written back
	cpu0 := cpuTime()
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Add(1)
		go func() { // ends once b.N appends are handed out, or on the first error
			defer wg.Done()
			ctx, st := context.Background(), fmt.Sprintf("customer-%d", w)
			lat := make([]time.Duration, 0, b.N/writers+1)
			for v := int64(0); handed.Add(1) <= int64(b.N); v += int64(batch) {
				t0 := time.Now()
				_, err := s.Append(ctx, eventstore.AppendRequest{Stream: st, ExpectedVersion: v, Events: events[w]})
				lat = append(lat, time.Since(t0))
				if err != nil {
					errs[w] = err
					return
				}
			}
			latencies[w] = lat
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	cpu := cpuTime() - cpu0
	for _, err := range errs {
		if err != nil {
			b.Fatal(err)
		}
	}
	reportLatencies(b, slices.Concat(latencies...))
	b.ReportMetric(float64(b.N*batch)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*batch), "cpu_ns/event")
	st := s.Stats()
	b.ReportMetric(float64(st.Events)/float64(max(st.Syncs, 1)), "events/sync")
}

// cpuTime is the process's user+sys CPU time so far: writers and the store's goroutines.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportLatencies(b *testing.B, all []time.Duration) {
	if len(all) == 0 {
		return
	}
	slices.Sort(all)
	at := func(q float64) float64 {
		return float64(all[min(len(all)-1, int(q*float64(len(all))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(at(0.50), "p50_us")
	b.ReportMetric(at(0.99), "p99_us")
}

// BenchmarkFdatasync measures the disk's raw rate of durable writes: write 4 KiB at the next
// offset, fdatasync, in a loop, on a file preallocated three ways. zeros is what the store
// does (see runPreparer); the others show why. One op is one write + fdatasync, so 1e9/ns/op
// is the rate a single writer of single events cannot beat. zeros-dsync writes through a
// descriptor opened O_DSYNC instead (each write returns once durable, no fdatasync call):
// the same disk work in one system call rather than two.
func BenchmarkFdatasync(b *testing.B) {
	const writeBytes = 4 << 10
	for _, prealloc := range []string{"zeros", "zeros-dsync", "fallocate", "none"} {
		b.Run("prealloc="+prealloc, func(b *testing.B) {
			f, err := os.OpenFile(filepath.Join(b.TempDir(), "probe"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			size := int64(max(b.N, 256)) * writeBytes
			switch prealloc {
			case "zeros", "zeros-dsync":
				err = writeZeros(osFile{f}, 0, size)
			case "fallocate":
				err = syscall.Fallocate(int(f.Fd()), 0, 0, size)
			}
			if err == nil {
				err = f.Sync()
			}
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, writeBytes)
			for i := range buf {
				buf[i] = byte(i)
			}
			lat := make([]time.Duration, 0, b.N)
			file := osFile{f}
			dsync := prealloc == "zeros-dsync"
			if dsync {
				d, err := os.OpenFile(f.Name(), os.O_RDWR|syscall.O_DSYNC, 0)
				if err != nil {
					b.Fatal(err)
				}
				defer d.Close()
				f = d
			}
			syscall.Sync()
			cpu0 := cpuTime()
			b.ResetTimer()
			for i := range b.N {
				t0 := time.Now()
				if _, err := f.WriteAt(buf, int64(i)*writeBytes); err != nil {
					b.Fatal(err)
				}
				if !dsync {
					if err := file.Datasync(); err != nil {
						b.Fatal(err)
					}
				}
				lat = append(lat, time.Since(t0))
			}
			b.StopTimer()
			cpu := cpuTime() - cpu0
			reportLatencies(b, lat)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "syncs/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu_ns/sync")
		})
	}
}

// BenchmarkOneWriter compares one writer's durable single-event appends with the disk's own
// bound, in one process and interleaved (blocks of 100 of each in turn) so that both see the
// same disk: raw is a write of a record's size at the next offset of a zero-filled file, then
// fdatasync, which is the least an acknowledged append can cost. One op is one append and
// one raw write+fdatasync. It reports each one's rate and p50 (from the mean and median of
// its own latencies) and append_vs_raw, the appends' rate as a fraction of the raw one.
func BenchmarkOneWriter(b *testing.B) {
	const block = 100
	s, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	events := storetest.Events("customer-1", 1)
	recBytes := recordBytes(&events[0], "", nil)
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "probe"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	probe := osFile{f}
	if err := writeZeros(probe, 0, int64(b.N+block)*int64(recBytes)); err != nil {
		b.Fatal(err)
	}
	if err := probe.Sync(); err != nil {
		b.Fatal(err)
	}
	rec := make([]byte, recBytes)
	for i := range rec {
		rec[i] = byte(i) | 1
	}
	ctx := context.Background()
	raw := make([]time.Duration, 0, b.N)
	app := make([]time.Duration, 0, b.N)
	syscall.Sync()
	b.ResetTimer()
	for n := 0; n < b.N; n += block {
		for i := n; i < min(n+block, b.N); i++ {
			t0 := time.Now()
			if _, err := probe.WriteAt(rec, int64(i)*int64(recBytes)); err != nil {
				b.Fatal(err)
			}
			if err := probe.Datasync(); err != nil {
				b.Fatal(err)
			}
			raw = append(raw, time.Since(t0))
		}
		for i := n; i < min(n+block, b.N); i++ {
			t0 := time.Now()
			if _, err := s.Append(ctx, eventstore.AppendRequest{Stream: "customer-1", ExpectedVersion: int64(i), Events: events}); err != nil {
				b.Fatal(err)
			}
			app = append(app, time.Since(t0))
		}
	}
	b.StopTimer()
	rate := func(lat []time.Duration) float64 {
		var sum time.Duration
		for _, d := range lat {
			sum += d
		}
		return float64(len(lat)) / sum.Seconds()
	}
	p50 := func(lat []time.Duration) float64 {
		slices.Sort(lat)
		return float64(lat[len(lat)/2].Nanoseconds()) / 1e3
	}
	rawRate, appRate := rate(raw), rate(app)
	b.ReportMetric(rawRate, "raw/s")
	b.ReportMetric(appRate, "appends/s")
	b.ReportMetric(appRate/rawRate, "append_vs_raw")
	b.ReportMetric(p50(raw), "raw_p50_us")
	b.ReportMetric(p50(app), "append_p50_us")
}

// BenchmarkOpen measures recovery: Open scans and checks every record of a log of 200 000
// events (CRC, decoding, hash, links, versions) and builds the indexes. One op is one Open
// and Close; events/s is the scan rate, which bounds the daemon's start-up time.
func BenchmarkOpen(b *testing.B) {
	const events, batch = 200_000, eventstore.AppendEventsMax
	dir := b.TempDir()
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for v := 0; v < events; v += batch {
		st := fmt.Sprintf("customer-%d", v/batch%100)
		if _, err := s.Append(context.Background(), eventstore.AppendRequest{Stream: st, ExpectedVersion: eventstore.AnyVersion,
			Events: storetest.Events(st, batch)}); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		s, err := Open(dir, Options{})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	b.ReportMetric(float64(events*b.N)/b.Elapsed().Seconds(), "events/s")
}
