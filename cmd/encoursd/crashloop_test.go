package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/projections/engine"
	"github.com/encours/encours/projections/ledger"
)

var crashLoopKills = flag.Int("crashloop.kills", 0, "SIGKILLs of TestCrashLoop (default 30 with CI=true, 10 otherwise, 3 under -short)")

// The crash loop's child is this test binary, re-executed to run the daemon (run) on the
// data directory in crashLoopDataEnv.
const (
	crashLoopDataEnv = "ENCOURS_CRASHLOOP_DATA"
	crashLoopClients = 32
	// crashLoopToken is the child daemon's ENCOURS_ADMIN_TOKEN.
	crashLoopToken = "crashloop-admin-token-0123456789abcdef-0123"
	// crashLoopKillDelayMax bounds the random delay between the first acknowledged append of
	// a run and its SIGKILL.
	crashLoopKillDelayMax = 400 * time.Millisecond
)

// TestCrashLoopChild is the daemon of TestCrashLoop; it runs only there.
func TestCrashLoopChild(t *testing.T) {
	dir := os.Getenv(crashLoopDataEnv)
	if dir == "" {
		t.Skip("the child process of TestCrashLoop; it runs only there")
	}
	env := func(k string) string {
		if k == adminTokenEnv {
			return crashLoopToken
		}
		return os.Getenv(k)
	}
	os.Exit(run(context.Background(), []string{"--data", dir, "--listen", "127.0.0.1:0", "--rate-limit", "0"}, env, os.Stdout, io.Discard))
}

// crashLoopAck is one acknowledged write: the event the daemon answered 201 for.
type crashLoopAck struct {
	eventID  string
	position uint64
	stream   string
	version  uint64
}

// TestCrashLoop is the daemon under SIGKILL: 32 clients post invoices and payments over HTTP
// to the real daemon (run, in a child process) until it is killed at a random moment. After
// each kill the data directory must hold every acknowledged event exactly once, at the
// position the answer gave, with stream versions contiguous and the chain verifying
// (embedded.Verify), and the ledger projection resumed from the snapshot in the data
// directory must equal a full replay into a new model. The next run then starts on the same
// directory: the daemon recovers the store and its projections and takes writes again.
func TestCrashLoop(t *testing.T) {
	kills := *crashLoopKills
	switch {
	case kills > 0:
	case testing.Short():
		kills = 3
	case os.Getenv("CI") == "true":
		kills = 30
	default:
		kills = 10
	}
	dir := filepath.Join(t.TempDir(), "data")
	acked := map[string]crashLoopAck{} // by event id, over every run
	var appended, resumedFromSnapshot int
	start := time.Now()
	for run := range kills {
		d := startCrashChild(t, dir)
		if run == 0 {
			for c := range crashLoopClients {
				_, ack, err := crashPost(d, "/v1/customers", fmt.Sprintf(
					`{"id":"C%d","name":"C%d SAS","country":"FR","sector":"C25","segment":"sme","currency":"EUR","terms_days":30,"credit_limit":100000000,"registered_on":"2020-01-02"}`, c, c))
				require.NoError(t, err)
				acked[ack.eventID] = ack
			}
		}
		acks := crashLoad(t, d, run)
		for _, a := range acks {
			require.NotContains(t, acked, a.eventID, "event id answered twice")
			acked[a.eventID] = a
		}
		appended += len(acks)
		if crashCheck(t, dir, acked) {
			resumedFromSnapshot++
		}
		if t.Failed() {
			t.Fatalf("run %d", run)
		}
	}
	t.Logf("%d SIGKILLs survived in %s: %d acknowledged writes, all present once; projections resumed from a snapshot %d times, equal to a full replay every time",
		kills, time.Since(start).Round(time.Millisecond), appended, resumedFromSnapshot)
}

// crashChild is one run of the child daemon.
type crashChild struct {
	cmd    *exec.Cmd
	url    string
	done   chan struct{}
	client *http.Client
}

func startCrashChild(t *testing.T, dir string) *crashChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashLoopChild$", "-test.v=false")
	cmd.Env = append(os.Environ(), crashLoopDataEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = os.Stderr
	require.NoError(t, cmd.Start())
	c := &crashChild{cmd: cmd, done: make(chan struct{}),
		client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: crashLoopClients}}}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	urls := make(chan string, 1)
	go func() { // ends when the child exits
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "encoursd listening on "); ok {
				urls <- u
			}
		}
		_ = cmd.Wait()
		close(c.done)
	}()
	select {
	case c.url = <-urls:
	case <-c.done:
		t.Fatal("the daemon exited before listening")
	case <-time.After(60 * time.Second):
		t.Fatal("the daemon printed no URL within 60s")
	}
	return c
}

// crashPost posts body; it returns the status and, for a 201, the one event appended.
func crashPost(d *crashChild, path, body string) (int, crashLoopAck, error) {
	req, err := http.NewRequest(http.MethodPost, d.url+path, strings.NewReader(body))
	if err != nil {
		return 0, crashLoopAck{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+crashLoopToken)
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, crashLoopAck{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, crashLoopAck{}, err
	}
	if resp.StatusCode != http.StatusCreated {
		return resp.StatusCode, crashLoopAck{}, fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, b)
	}
	var a struct {
		Stream        string   `json:"stream"`
		StreamVersion uint64   `json:"stream_version"`
		Position      uint64   `json:"position"`
		EventIDs      []string `json:"event_ids"`
	}
	if err := json.Unmarshal(b, &a); err != nil || len(a.EventIDs) != 1 {
		return resp.StatusCode, crashLoopAck{}, fmt.Errorf("POST %s: answer %s", path, b)
	}
	return resp.StatusCode, crashLoopAck{eventID: a.EventIDs[0], position: a.Position, stream: a.Stream, version: a.StreamVersion}, nil
}

// crashLoad runs the 32 clients against d until it is SIGKILLed, a random delay after the
// first acknowledgement, and returns what was acknowledged. A client stops at its first
// transport error (the daemon died); an answer other than 201 before the kill fails the test.
func crashLoad(t *testing.T, d *crashChild, run int) []crashLoopAck {
	t.Helper()
	var (
		mu     sync.Mutex
		acks   []crashLoopAck
		first  = make(chan struct{})
		once   sync.Once
		killed atomic.Bool
		wg     sync.WaitGroup
	)
	for c := range crashLoopClients {
		wg.Go(func() {
			for n := 0; ; n++ {
				var path, body string
				if n%3 == 2 {
					path, body = "/v1/payments", fmt.Sprintf(
						`{"customer_id":"C%d","payment_id":"P%d-%d-%d","amount":%d,"currency":"EUR","received_on":"2025-03-01"}`, c, run, c, n, 500+n)
				} else {
					path, body = "/v1/invoices", fmt.Sprintf(
						`{"customer_id":"C%d","invoice_id":"I%d-%d-%d","number":"N%d-%d-%d","amount":%d,"currency":"EUR","issue_date":"2025-01-%02d","due_date":"2025-02-28"}`,
						c, run, c, n, run, c, n, 1000+n, 1+n%28)
				}
				status, ack, err := crashPost(d, path, body)
				if err != nil {
					if status != 0 && !killed.Load() {
						t.Errorf("client %d: %v", c, err)
					}
					return
				}
				mu.Lock()
				acks = append(acks, ack)
				mu.Unlock()
				once.Do(func() { close(first) })
			}
		})
	}
	select {
	case <-first:
	case <-d.done:
		t.Fatal("the daemon died before acknowledging a write")
	case <-time.After(60 * time.Second):
		t.Fatal("no write acknowledged within 60s")
	}
	time.Sleep(time.Duration(rand.Int64N(int64(crashLoopKillDelayMax))))
	killed.Store(true)
	require.NoError(t, d.cmd.Process.Signal(syscall.SIGKILL))
	<-d.done
	wg.Wait()
	d.client.CloseIdleConnections()
	return acks
}

// crashCheck opens the killed daemon's data directory and checks every acknowledged event
// and the projection; it reports whether the projection resumed from a snapshot.
func crashCheck(t *testing.T, dir string, acked map[string]crashLoopAck) (fromSnapshot bool) {
	t.Helper()
	ctx := context.Background()
	rep, err := embedded.Verify(ctx, dir, nil)
	require.NoError(t, err, "the chain verifies")
	store, err := embedded.Open(dir, embedded.Options{})
	require.NoError(t, err)
	defer store.Close()
	all, err := store.ReadAll(ctx, 1, 0)
	require.NoError(t, err)
	require.Equal(t, rep.Events, uint64(len(all)))
	seen := make(map[string]int, len(all))
	versions := map[string]uint64{}
	for i, e := range all {
		require.Equal(t, uint64(i+1), e.Position, "positions are gap-free")
		seen[e.EventID]++
		versions[e.Stream]++
		require.Equal(t, versions[e.Stream], e.StreamVersion, "stream %s: versions contiguous", e.Stream)
	}
	for id, a := range acked {
		if !assert.Equal(t, 1, seen[id], "acknowledged event %s (position %d) present exactly once", id, a.position) {
			continue
		}
		e := all[a.position-1]
		assert.Equal(t, id, e.EventID, "event at its acknowledged position")
		assert.Equal(t, a.stream, e.Stream)
		assert.Equal(t, a.version, e.StreamVersion)
	}

	// The projection from its snapshot in the data directory (the daemon's, or the one this
	// check wrote after the previous kill), caught up, against a fresh replay. Stopping it
	// cleanly writes the snapshot the next run resumes from.
	resumed := runLedger(t, store, filepath.Join(dir, "projections"), len(all))
	fresh := runLedger(t, store, "", len(all))
	assert.Equal(t, fresh.snapshot, resumed.snapshot, "the projection resumed from its snapshot equals a full replay")
	return resumed.stats.SnapshotLoaded
}

type ledgerRun struct {
	snapshot []byte
	stats    engine.Stats
}

// runLedger runs the ledger engine over store (snapshots in dir, none when "") until it has
// applied the whole log, stops it, and returns its state as snapshot bytes.
func runLedger(t *testing.T, store *embedded.Store, dir string, head int) ledgerRun {
	t.Helper()
	eng := engine.NewLedgerEngine(store, dir, engine.Config[*ledger.Model]{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- eng.Run(ctx) }()
	require.Eventually(t, func() bool { return eng.Ready() && eng.Position() == uint64(head) },
		60*time.Second, 5*time.Millisecond, "the projection catches up to %d", head)
	cancel()
	<-done
	var b []byte
	var err error
	eng.View(func(m *ledger.Model) { b, err = m.MarshalBinary() })
	require.NoError(t, err)
	require.NotEmpty(t, b)
	return ledgerRun{snapshot: b, stats: eng.Stats()}
}
