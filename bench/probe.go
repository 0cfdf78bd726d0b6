package bench

import (
	"crypto/sha256"
	"os"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func runtimeCPUs() int { return runtime.NumCPU() }

// probeFdatasync writes 4 KiB at the next offset of a file preallocated with zeros (as the
// embedded store prepares its segments) and fdatasyncs, for d.
func probeFdatasync(path string, d time.Duration) (perSec, p99ms float64, err error) {
	const writeBytes, prealloc = 4 << 10, 64 << 20
	fh, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, 0, err
	}
	defer fh.Close()
	zeros := make([]byte, 1<<20)
	for off := int64(0); off < prealloc; off += int64(len(zeros)) {
		if _, err := fh.WriteAt(zeros, off); err != nil {
			return 0, 0, err
		}
	}
	if err := fh.Sync(); err != nil {
		return 0, 0, err
	}
	buf := make([]byte, writeBytes)
	for i := range buf {
		buf[i] = byte(i)
	}
	syscall.Sync()
	var lat latencies
	start := time.Now()
	for i := 0; time.Since(start) < d; i++ {
		off := int64(i) * writeBytes % prealloc
		t0 := time.Now()
		if _, err := fh.WriteAt(buf, off); err != nil {
			return 0, 0, err
		}
		if err := syscall.Fdatasync(int(fh.Fd())); err != nil {
			return 0, 0, err
		}
		lat = append(lat, time.Since(t0))
	}
	elapsed := time.Since(start)
	slices.Sort(lat)
	return float64(len(lat)) / elapsed.Seconds(), lat.ms(0.99), nil
}

// probeSeqWrite appends 1 MiB writes to a new file for about d and fdatasyncs once: MB/s
// (10^6 bytes) of data made durable.
func probeSeqWrite(path string, d time.Duration) (float64, error) {
	fh, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	defer os.Remove(path)
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	const maxBytes = 4 << 30 // bound the file whatever d
	syscall.Sync()
	var n int64
	start := time.Now()
	for time.Since(start) < d && n < maxBytes {
		w, err := fh.Write(buf)
		if err != nil {
			return 0, err
		}
		n += int64(w)
	}
	if err := syscall.Fdatasync(int(fh.Fd())); err != nil {
		return 0, err
	}
	return float64(n) / 1e6 / time.Since(start).Seconds(), nil
}

// probeSHA256 hashes 256-byte inputs (an event's canonical bytes are about that size) for d,
// on one goroutine and then on one per CPU.
func probeSHA256(d time.Duration) (oneCore, allCores float64) {
	run := func(workers int) float64 {
		var total atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range workers {
			wg.Add(1)
			go func() { // ends after d
				defer wg.Done()
				var in [256 + 32]byte
				n := int64(0)
				for time.Since(start) < d {
					for range 1000 {
						sum := sha256.Sum256(in[:])
						copy(in[:32], sum[:])
					}
					n += 1000
				}
				total.Add(n)
			}()
		}
		wg.Wait()
		return float64(total.Load()) / time.Since(start).Seconds()
	}
	return run(1), run(runtime.NumCPU())
}
