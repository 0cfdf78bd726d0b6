package worker_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/bus/kafka/kafkatest"
	"github.com/encours/encours/bus/relay"
	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/projections/ledger"
	"github.com/encours/encours/projections/worker"
)

// killingSubscriber forwards a subscription's messages to a worker until it has forwarded
// after of them; it then kills the worker in the middle of the next one: it cancels the
// worker's context and drops the message, neither acked nor nacked — what a crash between
// receiving and acking leaves behind. The subscription then ends without committing it.
type killingSubscriber struct {
	message.Subscriber
	after  int
	kill   context.CancelFunc
	killed chan struct{}
}

func (k *killingSubscriber) Subscribe(ctx context.Context, topic string) (<-chan *message.Message, error) {
	in, err := k.Subscriber.Subscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := make(chan *message.Message)
	go func() { // ends when the subscription closes its channel, or ctx ends
		defer close(out)
		n := 0
		for msg := range in {
			if n == k.after {
				close(k.killed)
				k.kill()
				return
			}
			select {
			case out <- msg:
				n++
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// caughtUp reports whether, for every stream of the store, some worker holds it at the
// store's version.
func caughtUp(t *testing.T, s eventstore.Store, workers []*worker.Worker) bool {
	t.Helper()
	want := map[string]uint64{}
	for _, e := range readAll(t, s) {
		want[e.Stream] = e.StreamVersion
	}
	for stream, v := range want {
		best := uint64(0)
		for _, w := range workers {
			w.View(func(p *ledger.Partial) { best = max(best, p.StreamVersion(stream)) })
		}
		if best != v {
			return false
		}
	}
	return true
}

// appender appends a history's events to a store at a steady pace in a goroutine.
type appender struct {
	done     chan struct{}
	appended atomic.Int64
	err      error // set before done is closed
}

// startAppender appends at least n events, one append (1 to 4 events) every interval.
func startAppender(t *testing.T, s eventstore.Store, h *history, n int, interval time.Duration) *appender {
	t.Helper()
	a := &appender{done: make(chan struct{})}
	go func() { // ends after n events
		defer close(a.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for a.appended.Load() < int64(n) {
			<-tick.C
			k, err := h.tryAppendNext(s)
			if err != nil {
				a.err = err
				return
			}
			a.appended.Add(int64(k))
		}
	}()
	t.Cleanup(func() { <-a.done })
	return a
}

func (a *appender) wait(t *testing.T) {
	t.Helper()
	select {
	case <-a.done:
		require.NoError(t, a.err, "appender")
	case <-time.After(testWait):
		t.Fatalf("appender not done after %s", testWait)
	}
}

// TestTwoWorkersOneKilled is issue 6's fault test "kill one mid-stream": a relay publishes
// a store to a topic of 8 partitions while events keep being appended, and two workers in
// one consumer group apply them. One worker is killed in the middle of a message (its
// context cancelled, the message not acked). The other takes its partitions from the dead
// one's committed offsets — reading from the store the earlier versions of streams it had
// never seen — and gets the unacked message again.
//
// Then, after the relay has published everything: for every stream, the worker holding it
// at the highest version (the survivor, or the dead worker for a customer with no event
// since) is at the store's version (nothing lost), and its exposure, figures and open items
// equal a full replay of the store (nothing doubled).
func TestTwoWorkersOneKilled(t *testing.T) {
	kafkatest.ForEach(t, func(t *testing.T, brokers []string) {
		started := time.Now()
		s := openStore(t)
		h := newHistory(7, 40)
		h.appendEvents(t, s, 600)
		topic, group := uniqueName("events"), uniqueName("projectors")

		var stats relay.Stats
		rr := startRelay(t, s, newKafkaPublisher(t, brokers), relayConfig(t.TempDir(), topic, &stats))

		a := startWorker(t, newKafkaSubscriber(t, brokers, group), workerConfig(s, topic))
		ctxB, killB := context.WithCancel(context.Background())
		ks := &killingSubscriber{Subscriber: newKafkaSubscriber(t, brokers, group), after: 40, kill: killB, killed: make(chan struct{})}
		b := startWorkerCtx(t, ctxB, killB, ks, workerConfig(s, topic))

		app := startAppender(t, s, h, 1500, 2*time.Millisecond)
		select {
		case <-ks.killed:
		case <-time.After(testWait):
			t.Fatalf("worker B never got %d messages; relay %+v; A %+v; B %+v", ks.after, stats.Snapshot(), a.w.Stats(), b.w.Stats())
		}
		require.NoError(t, b.wait(t), "the killed worker's Run")
		killedAt := app.appended.Load()
		app.wait(t)

		head := headOf(t, s)
		require.Eventually(t, func() bool { return stats.Snapshot().Checkpoint == head }, testWait, 10*time.Millisecond,
			"waiting for the relay to publish up to %d", head)
		workers := []*worker.Worker{a.w, b.w}
		require.Eventually(t, func() bool { return caughtUp(t, s, workers) }, testWait, 50*time.Millisecond,
			"waiting for the workers to apply every stream")
		require.NoError(t, a.stop(t))
		require.NoError(t, rr.stop(t))
		requireUnionEqualsReplay(t, s, workers, nil)

		sa, sb := a.w.Stats(), b.w.Stats()
		assert.Positive(t, sb.Applied, "worker B applied nothing before it was killed")
		assert.Positive(t, sa.Applied)
		t.Logf("%d events (worker B killed after %d appended); survivor: %+v; killed: %+v; in %s",
			head, killedAt, sa, sb, time.Since(started).Round(time.Millisecond))
	})
}

// TestBrokerRestartMidStream is issue 6's fault test "restart the broker mid-stream", on the
// real broker only: while events are appended, published by the relay and applied by two
// workers, the broker of scripts/kafka is stopped (TERM, a controlled shutdown) and started
// again on the same log directories (restartKeepingLog: scripts/kafka up would format them).
// The relay rides through the outage (the publisher's retries, then its own) and the
// workers rejoin the group at its committed offsets. At the end, as in the kill test, the
// union of the workers' models equals a full replay: no lost and no doubled effect.
//
// It runs only when ENCOURS_KAFKA_RESTART_TEST=1, alone: restarting the shared broker would
// break the Kafka tests of other packages that `go test ./...` runs at the same time. Run it
// after the others, with the broker of scripts/kafka up (.ci/run does, after make test; about
// 70 s):
//
//	ENCOURS_KAFKA_RESTART_TEST=1 go test -run '^TestBrokerRestartMidStream$' ./projections/worker/
func TestBrokerRestartMidStream(t *testing.T) {
	brokers := restartableKafka(t)
	started := time.Now()
	s := openStore(t)
	h := newHistory(13, 40)
	h.appendEvents(t, s, 600)
	topic, group := uniqueName("events"), uniqueName("projectors")

	var stats relay.Stats
	rcfg := relayConfig(t.TempDir(), topic, &stats)
	rcfg.PublishAttemptsMax = 30 // each attempt lasts up to the publisher's PublishTimeout
	rr := startRelay(t, s, newKafkaPublisher(t, brokers), rcfg)
	a := startWorker(t, newKafkaSubscriber(t, brokers, group), workerConfig(s, topic))
	b := startWorker(t, newKafkaSubscriber(t, brokers, group), workerConfig(s, topic))

	app := startAppender(t, s, h, 1500, 4*time.Millisecond)
	require.Eventually(t, func() bool { return app.appended.Load() >= 400 }, testWait, 10*time.Millisecond)
	restartKeepingLog(t)
	app.wait(t)

	head := headOf(t, s)
	require.Eventually(t, func() bool { return stats.Snapshot().Checkpoint == head }, 3*testWait, 50*time.Millisecond,
		"waiting for the relay to publish up to %d after the restart", head)
	workers := []*worker.Worker{a.w, b.w}
	require.Eventually(t, func() bool { return caughtUp(t, s, workers) }, 3*testWait, 100*time.Millisecond,
		"waiting for the workers to apply every stream after the restart")
	require.NoError(t, a.stop(t), "worker A must ride through the restart")
	require.NoError(t, b.stop(t), "worker B must ride through the restart")
	require.NoError(t, rr.stop(t))
	requireUnionEqualsReplay(t, s, workers, nil)
	t.Logf("%d events; relay %+v; worker A %+v; worker B %+v; in %s",
		head, stats.Snapshot(), a.w.Stats(), b.w.Stats(), time.Since(started).Round(time.Millisecond))
}

// restartableKafka returns the scripts/kafka broker, skipping unless
// ENCOURS_KAFKA_RESTART_TEST=1 (see TestBrokerRestartMidStream).
func restartableKafka(t *testing.T) []string {
	t.Helper()
	if os.Getenv("ENCOURS_KAFKA_RESTART_TEST") != "1" {
		t.Skip("restarts the scripts/kafka broker: set ENCOURS_KAFKA_RESTART_TEST=1 and run it alone (see TestBrokerRestartMidStream)")
	}
	if env := os.Getenv("ENCOURS_KAFKA_BROKERS"); env != "" && env != kafkatest.RealBrokerDefault {
		t.Skipf("ENCOURS_KAFKA_BROKERS=%s is not the scripts/kafka broker these tests restart", env)
	}
	return kafkatest.Real(t)
}

// Bounds of restartKeepingLog, as scripts/kafka's own.
const (
	brokerStopWaitMax  = 30 * time.Second
	brokerStartWaitMax = 90 * time.Second
)

// restartKeepingLog restarts the scripts/kafka broker on its log directories: it reads the
// broker's pid from the script's pid file and its command line from /proc, stops it with
// TERM (then KILL after brokerStopWaitMax), starts the same command line again in its own
// session, appending to the broker's log, writes the new pid where scripts/kafka down finds
// it, and waits until the broker serves again.
func restartKeepingLog(t *testing.T) {
	t.Helper()
	runDir := os.Getenv("ENCOURS_KAFKA_DIR")
	if runDir == "" {
		runDir = filepath.Join(os.TempDir(), "encours-kafka")
	}
	pidFile, logFile := filepath.Join(runDir, "kafka.pid"), filepath.Join(runDir, "broker.log")
	raw, err := os.ReadFile(pidFile)
	require.NoError(t, err, "scripts/kafka's pid file")
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	require.NoError(t, err)
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	require.NoError(t, err, "command line of broker pid %d", pid)
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	require.Contains(t, args, "kafka.Kafka", "pid %d is not the scripts/kafka broker: %v", pid, args)
	before, err := os.ReadFile(logFile)
	require.NoError(t, err)
	startedBefore := strings.Count(string(before), "Kafka Server started")

	require.NoError(t, syscall.Kill(pid, syscall.SIGTERM))
	stopped := func() bool { return syscall.Kill(pid, 0) != nil }
	if !waitFor(stopped, brokerStopWaitMax) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		require.True(t, waitFor(stopped, 5*time.Second), "broker pid %d still alive after KILL", pid)
	}
	t.Logf("broker pid %d stopped", pid)

	log, err := os.OpenFile(logFile, os.O_WRONLY|os.O_APPEND, 0)
	require.NoError(t, err)
	defer log.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Dir = runDir
	cmd.Stdout, cmd.Stderr, cmd.Stdin = log, log, nil
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // outlives the test, like the script's
	require.NoError(t, cmd.Start())
	newPID := cmd.Process.Pid
	require.NoError(t, os.WriteFile(pidFile, []byte(strconv.Itoa(newPID)+"\n"), 0o644))
	require.NoError(t, cmd.Process.Release())
	served := waitFor(func() bool {
		b, err := os.ReadFile(logFile)
		return err == nil && strings.Count(string(b), "Kafka Server started") > startedBefore && kafkatest.Probe(kafkatest.RealBrokerDefault) == nil
	}, brokerStartWaitMax)
	require.True(t, served, "broker not serving %s after %s (log: %s)", kafkatest.RealBrokerDefault, brokerStartWaitMax, logFile)
	t.Logf("broker restarted on its log as pid %d", newPID)
}

// waitFor polls cond every 100 ms until it holds or within passes.
func waitFor(cond func() bool, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// TestBrokerLosesItsLogMidStream is the harsher variant of TestBrokerRestartMidStream, the
// one issue 6's brief anticipated: the broker is stopped (scripts/kafka down) and started
// again (scripts/kafka up), which formats fresh storage, so the topic and the group's
// committed offsets are lost.
//
// What is tested is then the relay's resume: it rides through the outage and, from its own
// checkpoint (a file, untouched by the broker's loss), publishes into the new topic every
// event after the last batch the old broker acknowledged — nothing missing, duplicates at
// most one batch. And the workers' safety: they ride through the outage without an error,
// and every customer they hold equals a replay of its stream up to the version they hold
// (no doubled or corrupted effect). Completeness is not asserted for the workers: their
// kafka-go readers resume at in-memory offsets the new topic has not reached, so they wait
// for it to grow past them and skip what lies before; a worker fills a stream's skipped
// versions from the store at the stream's next event, but a stream with no later event
// stays behind (logged below). After a broker loses its log, workers must start a new
// consumer group.
//
// It runs like TestBrokerRestartMidStream: ENCOURS_KAFKA_RESTART_TEST=1, alone.
func TestBrokerLosesItsLogMidStream(t *testing.T) {
	brokers := restartableKafka(t)
	started := time.Now()
	s := openStore(t)
	h := newHistory(11, 40)
	h.appendEvents(t, s, 600)
	topic, group := uniqueName("events"), uniqueName("projectors")

	var stats relay.Stats
	rcfg := relayConfig(t.TempDir(), topic, &stats)
	rcfg.PublishAttemptsMax = 30 // each attempt lasts up to the publisher's PublishTimeout
	rr := startRelay(t, s, newKafkaPublisher(t, brokers), rcfg)
	a := startWorker(t, newKafkaSubscriber(t, brokers, group), workerConfig(s, topic))
	b := startWorker(t, newKafkaSubscriber(t, brokers, group), workerConfig(s, topic))

	app := startAppender(t, s, h, 1500, 4*time.Millisecond)
	require.Eventually(t, func() bool { return app.appended.Load() >= 400 }, testWait, 10*time.Millisecond)
	kafkaScript(t, "down")
	// The broker is gone: no acknowledgement can come any more, so the checkpoint read now
	// is at or after the last batch the old broker took.
	downCheckpoint := stats.Snapshot().Checkpoint
	require.Eventually(t, func() bool { return app.appended.Load() >= 800 }, testWait, 10*time.Millisecond)
	kafkaScript(t, "up")
	app.wait(t)

	head := headOf(t, s)
	require.Eventually(t, func() bool { return stats.Snapshot().Checkpoint == head }, 3*testWait, 50*time.Millisecond,
		"waiting for the relay to publish up to %d after the restart", head)
	require.NoError(t, rr.stop(t))
	// No assertion on snap.PublishFailures: the publisher's own retries (kafka-go's, within
	// its PublishTimeout) may carry a Publish through a short outage.
	snap := stats.Snapshot()

	// The new topic: from the first position after an acknowledged batch to the head.
	counts, first := positionsInTopic(t, brokers, topic, s)
	require.NotZero(t, first, "the new topic is empty")
	assert.LessOrEqual(t, first, downCheckpoint+1, "the relay skipped events the old broker never acknowledged")
	dups := 0
	for p := first; p <= head; p++ {
		require.Positive(t, counts[p], "position %d is missing from the new topic (first %d, head %d)", p, first, head)
		dups += counts[p] - 1
	}
	assert.LessOrEqual(t, dups, rcfg.BatchEventsMax, "more duplicates than one batch")

	// Let the workers take what they can, then check what they hold.
	var behind int
	require.Eventually(t, func() bool {
		n := streamsBehind(t, s, []*worker.Worker{a.w, b.w})
		stable := n == behind
		behind = n
		return n == 0 || (stable && a.w.Stats().Received+b.w.Stats().Received > 0)
	}, 3*testWait, 2*time.Second, "waiting for the workers to settle")
	require.NoError(t, a.stop(t), "worker A must ride through the restart")
	require.NoError(t, b.stop(t), "worker B must ride through the restart")
	requireHeldEqualsReplay(t, s, []*worker.Worker{a.w, b.w})
	t.Logf("%d events; broker down with the relay at %d; new topic from %d, %d duplicates; relay %+v; worker A %+v; worker B %+v; streams behind at the end: %d; in %s",
		head, downCheckpoint, first, dups, snap, a.w.Stats(), b.w.Stats(), behind, time.Since(started).Round(time.Millisecond))
}

// positionsInTopic reads every partition of topic to its end with a fresh consumer group and
// returns how many times each position occurs, and the lowest one.
func positionsInTopic(t *testing.T, brokers []string, topic string, s eventstore.Store) (map[uint64]int, uint64) {
	t.Helper()
	sub := newKafkaSubscriber(t, brokers, uniqueName("check"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs, err := sub.Subscribe(ctx, topic)
	require.NoError(t, err)
	counts := map[uint64]int{}
	var first uint64
	head := headOf(t, s)
	deadline := time.After(testWait)
	for counts[head] == 0 || len(counts) < int(head-first+1) {
		select {
		case msg := <-msgs:
			e, err := worker.DecodePayload(msg.Payload)
			require.NoError(t, err)
			counts[e.Position]++
			if first == 0 || e.Position < first {
				first = e.Position
			}
			msg.Ack()
		case <-deadline:
			t.Fatalf("reading %s: %d positions after %s, from %d to head %d", topic, len(counts), testWait, first, head)
		}
	}
	// Nothing more should come; what is in flight is not counted.
	require.NoError(t, sub.Close())
	return counts, first
}

// streamsBehind counts the store's streams that no worker holds at the store's version.
func streamsBehind(t *testing.T, s eventstore.Store, workers []*worker.Worker) int {
	t.Helper()
	want := map[string]uint64{}
	for _, e := range readAll(t, s) {
		want[e.Stream] = e.StreamVersion
	}
	n := 0
	for stream, v := range want {
		best := uint64(0)
		for _, w := range workers {
			w.View(func(p *ledger.Partial) { best = max(best, p.StreamVersion(stream)) })
		}
		if best != v {
			n++
		}
	}
	return n
}

// requireHeldEqualsReplay checks that every customer each worker holds, at version v,
// equals a replay of the first v events of its stream: nothing applied twice, nothing out of
// order, whatever was delivered.
func requireHeldEqualsReplay(t *testing.T, s eventstore.Store, workers []*worker.Worker) {
	t.Helper()
	byStream := map[string][]domain.Envelope{}
	for _, e := range readAll(t, s) {
		byStream[e.Stream] = append(byStream[e.Stream], e)
	}
	for wi, w := range workers {
		w.View(func(p *ledger.Partial) {
			for stream, envs := range byStream {
				id, ok := strings.CutPrefix(stream, domain.CustomerStreamPrefix)
				v := p.StreamVersion(stream)
				if !ok || v == 0 {
					continue
				}
				ref := ledger.NewPartial()
				for _, e := range envs[:v] {
					_, err := ref.Apply(e)
					require.NoError(t, err)
				}
				cid := domain.CustomerID(id)
				assert.Equal(t, viewOf(t, ref.Model(), cid), viewOf(t, p.Model(), cid), "worker %d, %s at v%d", wi, stream, v)
			}
		})
	}
}

func workerConfig(s eventstore.Store, topic string) worker.Config {
	cfg := worker.DefaultConfig(s)
	cfg.Topic = topic
	return cfg
}

// kafkaScript runs scripts/kafka with verb, bounded by the script's own waits plus a margin.
func kafkaScript(t *testing.T, verb string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join("..", "..", "scripts", "kafka"), verb)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "scripts/kafka %s: %s", verb, out)
	t.Logf("scripts/kafka %s: %s", verb, strings.TrimSpace(string(out)))
}
