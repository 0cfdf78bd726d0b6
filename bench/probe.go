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

// probeFreshPages writes size bytes to a new file in 1 MiB writes, without syncing, then
// writes the same bytes again: MB/s (10^6 bytes) of each pass. The first pass makes the
// kernel allocate (and zero) a page-cache page for every 4 KiB; the second finds them. On a
// virtual machine whose host takes its guest's free memory back, a page allocated anew
// costs the host a fault as well, and everything that writes new data (the store's appends,
// an import's partition files) pays it: the gap between the passes is that cost.
func probeFreshPages(path string, size int64) (first, rewrite float64, err error) {
	fh, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return 0, 0, err
	}
	defer os.Remove(path)
	defer fh.Close()
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 13)
	}
	pass := func() (float64, error) {
		start := time.Now()
		for off := int64(0); off < size; off += int64(len(buf)) {
			if _, err := fh.WriteAt(buf, off); err != nil {
				return 0, err
			}
		}
		return float64(size) / 1e6 / time.Since(start).Seconds(), nil
	}
	if first, err = pass(); err != nil {
		return 0, 0, err
	}
	rewrite, err = pass()
	return first, rewrite, err
}

// probeAnonTouch maps size bytes of anonymous memory and writes one byte of every 4 KiB page:
// MB/s (10^6 bytes) of memory the kernel hands out on first touch, as a growing heap (a
// replay's read model) receives it.
func probeAnonTouch(size int) (float64, error) {
	b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return 0, err
	}
	defer syscall.Munmap(b)
	start := time.Now()
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	return float64(size) / 1e6 / time.Since(start).Seconds(), nil
}
