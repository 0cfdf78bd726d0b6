package embedded

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/storetest"
)

var crashIterations = flag.Int("crash.iterations", 20, "SIGKILLs of TestCrash (5 under -short or CI=true)")

// The crash test's child is this test binary, re-executed with these variables set.
const (
	crashDirEnv       = "ENCOURS_CRASH_DIR"
	crashIterationEnv = "ENCOURS_CRASH_ITERATION"
)

// Limits of the crash test.
const (
	crashWriters = 32
	// crashKillDelayMax bounds the random delay between the child's first acknowledgement and
	// its SIGKILL.
	crashKillDelayMax = 150 * time.Millisecond
	// crashChildLifeMax ends a child whose parent never killed it (the parent died).
	crashChildLifeMax = 2 * time.Minute
	// crashWaitMax bounds the wait for a child's first acknowledgement and for its end.
	crashWaitMax      = 30 * time.Second
	crashSegmentBytes = 256 << 10 // small, so that kills land around rollovers too
	// crashEpochKills is how many kills one directory goes through before the test starts
	// afresh: every kill rereads the whole log, so the work grows with the square of the
	// kills in one directory.
	crashEpochKills = 20
)

// crashAck is one acknowledged append, as the child prints it:
//
//	ack <stream> <first version> <first position> <replayed 0|1> <key or -> <id>,<id>,...
type crashAck struct {
	stream       string
	firstVersion uint64
	firstPos     uint64
	replayed     bool
	key          string
	ids          []string
}

func (a crashAck) line() string {
	r, key := 0, a.key
	if a.replayed {
		r = 1
	}
	if key == "" {
		key = "-"
	}
	return fmt.Sprintf("ack %s %d %d %d %s %s\n", a.stream, a.firstVersion, a.firstPos, r, key, strings.Join(a.ids, ","))
}

func parseCrashAck(line string) (crashAck, error) {
	f := strings.Fields(line)
	if len(f) != 7 || f[0] != "ack" {
		return crashAck{}, fmt.Errorf("malformed line %q", line)
	}
	v, err1 := strconv.ParseUint(f[2], 10, 64)
	p, err2 := strconv.ParseUint(f[3], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return crashAck{}, fmt.Errorf("line %q: %w", line, err)
	}
	a := crashAck{stream: f[1], firstVersion: v, firstPos: p, replayed: f[4] == "1", key: f[5], ids: strings.Split(f[6], ",")}
	if a.key == "-" {
		a.key = ""
	}
	return a, nil
}

// TestCrashChild is the child process of TestCrash: it opens the store and appends from 32
// goroutines until it is killed, printing one line per acknowledged append, each with one
// write(2), after Append returned.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("the child process of TestCrash; it runs only there")
	}
	iteration := os.Getenv(crashIterationEnv)
	s, err := Open(dir, Options{SegmentBytes: crashSegmentBytes})
	if err != nil {
		fmt.Fprintf(os.Stdout, "err open: %v\n", err)
		os.Exit(3)
	}
	var out sync.Mutex
	emit := func(a crashAck) {
		out.Lock()
		defer out.Unlock()
		os.Stdout.WriteString(a.line()) // < PIPE_BUF: one atomic write
	}
	fail := func(err error) {
		out.Lock()
		fmt.Fprintf(os.Stdout, "err %v\n", err)
		os.Exit(3)
	}
	deadline := time.Now().Add(crashChildLifeMax)
	var wg sync.WaitGroup
	for g := range crashWriters {
		wg.Add(1)
		go func() { // appends until killed, or until crashChildLifeMax has passed
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(g), uint64(time.Now().UnixNano())))
			own := fmt.Sprintf("crash-%s-g%d", iteration, g)
			var ownVersion int64
			for n := 0; time.Now().Before(deadline); n++ {
				st, expected := own, ownVersion
				if n%4 == 3 {
					st, expected = fmt.Sprintf("crash-shared-%d", g%4), eventstore.AnyVersion
				}
				size := 1
				if rng.IntN(3) == 0 {
					size = 2 + rng.IntN(4) // small batches
				}
				req := eventstore.AppendRequest{Stream: st, ExpectedVersion: expected, Events: storetest.Events(st, size)}
				if n%3 == 0 {
					req.IdempotencyKey = fmt.Sprintf("k-%s-%d-%d", iteration, g, n)
					req.RequestHash = storetest.RequestHash(req.IdempotencyKey)
				}
				res, err := s.Append(context.Background(), req)
				if err != nil {
					fail(fmt.Errorf("append to %s: %w", st, err))
				}
				ack := func(res eventstore.AppendResult) crashAck {
					k := uint64(len(res.EventIDs))
					return crashAck{stream: res.Stream, firstVersion: res.StreamVersion - k + 1, firstPos: res.Position - k + 1,
						replayed: res.Replayed, key: req.IdempotencyKey, ids: res.EventIDs}
				}
				emit(ack(res))
				if st == own {
					ownVersion += int64(size)
				}
				if req.IdempotencyKey != "" && n%9 == 0 {
					// A client retry of what was just acknowledged: replays, appends nothing.
					req.Events = storetest.Events(st, size)
					again, err := s.Append(context.Background(), req)
					if err != nil || !again.Replayed {
						fail(fmt.Errorf("retry of %s: replayed %v, %v", req.IdempotencyKey, again.Replayed, err))
					}
					emit(ack(again))
				}
			}
		}()
	}
	wg.Wait()
	s.Close()
}

// Goal: an acknowledged append survives a crash, exactly once, where it was acknowledged.
// Method (after TigerBeetle's VOPR and the Jepsen style, on a real process and disk): this
// test binary is re-executed as a child that appends from 32 goroutines (single events and
// small batches, some with idempotency keys, some of those retried) and prints each
// acknowledgement. The parent SIGKILLs it at a random moment after the first one, reaps it,
// reopens the store and checks: every acknowledged event present once, with its position,
// version and id; positions gap-free; stream versions contiguous; the hash chain valid
// (Verify); idempotency keys remembered. One directory goes through crashEpochKills kills,
// so recoveries of recovered stores are tested too.
func TestCrash(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("in the child")
	}
	iterations := *crashIterations
	if testing.Short() || os.Getenv("CI") == "true" {
		iterations = min(iterations, 5)
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 7))
	t.Logf("seed %d, %d kills", seed, iterations)
	type placed struct {
		stream   string
		version  uint64
		position uint64
	}
	var (
		dir     string
		acked   map[string]placed // event id -> where it was acknowledged
		results map[string]crashAck
	)
	var ackedEvents, appends, replays, tornTails int
	for i := range iterations {
		if i%crashEpochKills == 0 {
			dir = t.TempDir()
			acked, results = make(map[string]placed), make(map[string]crashAck)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashIterationEnv+"="+strconv.Itoa(i))
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		stderr := &lockedBuffer{}
		cmd.Stderr = stderr
		require.NoError(t, cmd.Start())
		reaped := false
		reap := func() {
			if !reaped {
				reaped = true
				cmd.Process.Kill()
				cmd.Wait()
			}
		}
		t.Cleanup(reap) // a child is reaped whatever happens to the test

		lines := make(chan string, 1024)
		go func() { // ends at the pipe's EOF, when the child is dead
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		record := func(line string) {
			if strings.HasPrefix(line, "err ") {
				require.FailNow(t, "child failed", "kill %d: %s\n%s", i, line, stderr.String())
			}
			if !strings.HasPrefix(line, "ack ") {
				return // the testing package's own output
			}
			a, err := parseCrashAck(line)
			require.NoError(t, err)
			if a.replayed {
				replays++
				first, ok := results[a.key]
				require.True(t, ok, "replay of key %s never acknowledged first", a.key)
				assert.Equal(t, first.firstPos, a.firstPos, "replay of %s", a.key)
				assert.Equal(t, first.ids, a.ids, "replay of %s", a.key)
				return
			}
			appends++
			if a.key != "" {
				results[a.key] = a
			}
			for k, id := range a.ids {
				_, dup := acked[id]
				require.False(t, dup, "event %s acknowledged twice", id)
				acked[id] = placed{stream: a.stream, version: a.firstVersion + uint64(k), position: a.firstPos + uint64(k)}
				ackedEvents++
			}
		}

		// The first acknowledgement, then a random delay, then SIGKILL.
		first := time.NewTimer(crashWaitMax)
		select {
		case line, ok := <-lines:
			require.True(t, ok, "kill %d: the child ended before its first acknowledgement: %s", i, stderr.String())
			record(line)
		case <-first.C:
			require.FailNow(t, "timeout", "kill %d: waited %s for the child's first acknowledgement", i, crashWaitMax)
		}
		first.Stop()
		kill := time.NewTimer(time.Duration(rng.Int64N(int64(crashKillDelayMax))))
	collect:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					require.FailNow(t, "child ended", "kill %d: the child ended before it was killed: %s", i, stderr.String())
				}
				record(line)
			case <-kill.C:
				break collect
			}
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		end := time.NewTimer(crashWaitMax)
	drain: // what the child wrote before it died
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					break drain
				}
				record(line)
			case <-end.C:
				require.FailNow(t, "timeout", "kill %d: waited %s for the killed child's pipe to close", i, crashWaitMax)
			}
		}
		end.Stop()
		err = cmd.Wait()
		reaped = true
		var exit *exec.ExitError
		require.ErrorAs(t, err, &exit, "kill %d", i)
		require.Equal(t, syscall.SIGKILL, exit.Sys().(syscall.WaitStatus).Signal(), "kill %d: %v: %s", i, err, stderr.String())

		torn := crashCheck(t, dir, i, func(all []crashEvent) {
			byID := make(map[string]uint64, len(all))
			for _, e := range all {
				_, dup := byID[e.EventID]
				require.False(t, dup, "kill %d: event %s twice in the log", i, e.EventID)
				byID[e.EventID] = e.Position
			}
			for id, p := range acked {
				pos, ok := byID[id]
				require.True(t, ok, "kill %d: acknowledged event %s (position %d) lost", i, id, p.position)
				e := all[pos-1]
				require.Equal(t, p, placed{stream: e.Stream, version: e.StreamVersion, position: e.Position},
					"kill %d: acknowledged event %s moved", i, id)
			}
		}, results)
		if torn {
			tornTails++
		}
	}
	t.Logf("%d kills: %d acknowledged events in %d appends, %d replays, %d torn tails recovered",
		iterations, ackedEvents, appends, replays, tornTails)
}

// lockedBuffer is a bytes.Buffer that the exec package's copying goroutine writes while the
// test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// crashEvent is what the crash test keeps of each event of the log.
type crashEvent struct {
	EventID, Stream         string
	StreamVersion, Position uint64
}

// crashCheck reopens the store after a kill and checks the log; it reports whether Open
// dropped a torn tail.
func crashCheck(t *testing.T, dir string, kill int, check func([]crashEvent), keyed map[string]crashAck) bool {
	t.Helper()
	s, err := Open(dir, Options{SegmentBytes: crashSegmentBytes})
	require.NoError(t, err, "kill %d: reopen", kill)
	defer s.Close()
	ctx := context.Background()
	var all []crashEvent
	versions := make(map[string]uint64)
	var prev [32]byte
	for from := uint64(1); ; {
		batch, err := s.ReadAll(ctx, from, eventstore.ReadLimitMax)
		require.NoError(t, err)
		if len(batch) == 0 {
			break
		}
		for _, e := range batch {
			require.Equal(t, uint64(len(all))+1, e.Position, "kill %d: positions not gap-free", kill)
			require.Equal(t, prev, [32]byte(e.PrevHash), "kill %d: position %d: broken link", kill, e.Position)
			versions[e.Stream]++
			require.Equal(t, versions[e.Stream], e.StreamVersion, "kill %d: position %d of %s", kill, e.Position, e.Stream)
			prev = e.Hash
			all = append(all, crashEvent{EventID: e.EventID, Stream: e.Stream, StreamVersion: e.StreamVersion, Position: e.Position})
		}
		from = batch[len(batch)-1].Position + 1
	}
	check(all)
	for key, a := range keyed {
		res, _, found, err := s.LookupIdempotency(ctx, key)
		require.NoError(t, err)
		require.True(t, found, "kill %d: idempotency key %s forgotten", kill, key)
		require.Equal(t, a.ids, res.EventIDs, "kill %d: key %s", kill, key)
	}
	torn := s.Recovered().TornTail
	require.NoError(t, s.Close())
	rep, err := Verify(ctx, dir, nil)
	require.NoError(t, err, "kill %d: verify", kill)
	require.Equal(t, uint64(len(all)), rep.Events)
	return torn
}
