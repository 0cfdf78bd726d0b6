package embedded

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/storetest"
)

// Tests of the pipelined commit's failure paths, Close and load (append.go). The first
// three reproduce defects a review of the change found.

// appended is the outcome of an append made in the background (appendAsync).
type appended struct {
	res eventstore.AppendResult
	err error
}

// appendAsync makes req on s in a goroutine (which ends once it is answered) and sends its
// outcome on out.
func appendAsync(s *Store, req eventstore.AppendRequest, out chan<- appended) {
	go func() {
		res, err := s.Append(context.Background(), req)
		out <- appended{res, err}
	}()
}

// holdSync makes the next fdatasync of a segment wait, starts req in the background, and
// returns once that fdatasync has started (10 s at most): close release to let it go on; req's
// outcome arrives on held.
func holdSync(t *testing.T, ffs *faultFS, s *Store, req eventstore.AppendRequest) (release chan struct{}, held <-chan appended) {
	t.Helper()
	entered, release := make(chan struct{}), make(chan struct{})
	ffs.holdSync(entered, release)
	out := make(chan appended, 1)
	appendAsync(s, req, out)
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("waited 10s for the held fdatasync to start")
	}
	return release, out
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "waited 10s for %s", what)
		time.Sleep(time.Millisecond)
	}
}

// keyedTwice starts the same keyed append twice (a request and its retry); their outcomes
// arrive on the returned channel.
func keyedTwice(s *Store) <-chan appended {
	out := make(chan appended, 2)
	for range 2 {
		appendAsync(s, eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: eventstore.AnyVersion,
			IdempotencyKey: "k1", RequestHash: storetest.RequestHash(`{"k":1}`), Events: storetest.Events("customer-A", 3)}, out)
	}
	return out
}

// heldReq is an append whose fdatasync the tests hold.
func heldReq() eventstore.AppendRequest {
	return eventstore.AppendRequest{Stream: "customer-X", ExpectedVersion: 0, Events: storetest.Events("customer-X", 1)}
}

// Goal: when a group's write or fdatasync fails, no call of it is acknowledged, a retry with
// the same key and hash in the same group (a replay of an accepted call) included. Method: a
// held fdatasync lets a keyed append and its retry queue into one group; the write (writer's
// own sync) or the fdatasync (the syncer's, every group handed over) is then made to fail.
// (Found in review: the retry was answered Replayed with an empty result.)
func TestFailedGroupRefusesItsReplays(t *testing.T) {
	for _, tc := range []struct {
		name     string
		pipeline bool
		arm      func(*faultFS)
	}{
		{"write fails, writer syncs", false, func(f *faultFS) { f.armWrite(syscall.ENOSPC, false) }},
		{"fdatasync fails, syncer", true, func(f *faultFS) { f.armSync(syscall.EIO) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ffs := &faultFS{}
			s, err := Open(t.TempDir(), Options{FS: ffs})
			require.NoError(t, err)
			s.forcePipeline = tc.pipeline
			defer s.Close()
			release, held := holdSync(t, ffs, s, heldReq())
			answers := keyedTwice(s)
			waitFor(t, "the two appends to queue or fly", func() bool {
				return s.queued.Load() >= 2 || (tc.pipeline && s.inflight.Load() >= 2)
			})
			time.Sleep(20 * time.Millisecond)
			tc.arm(ffs)
			close(release)
			<-held
			for range 2 {
				a := <-answers
				if a.err == nil {
					t.Errorf("acknowledged although its group failed: %+v (store failed: %v)", a.res, s.Failed())
				}
			}
		})
	}
}

// Goal: a retry of a keyed append still in flight, which waits for it to be published, is
// refused with ErrFailed when that flight's fdatasync fails, and nothing more is written.
// Method: every group handed over, the first group's fdatasync held, the retry sent, then
// the fdatasync failed. (Found in review: the writer accepted the retry as a new append and
// hit the chain invariant.)
func TestRetryOfAFailingFlightIsRefused(t *testing.T) {
	ffs := &faultFS{}
	s, err := Open(t.TempDir(), Options{FS: ffs})
	require.NoError(t, err)
	s.forcePipeline = true
	defer s.Close()
	req := eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: eventstore.AnyVersion, IdempotencyKey: "k1",
		RequestHash: storetest.RequestHash(`{"k":1}`), Events: storetest.Events("customer-A", 3)}
	release, first := holdSync(t, ffs, s, req)
	retry := req
	retry.Events = storetest.Events("customer-A", 3)
	again := make(chan appended, 1)
	appendAsync(s, retry, again)
	time.Sleep(20 * time.Millisecond) // the writer is now in waitFlights
	ffs.armSync(syscall.EIO)
	close(release)
	require.ErrorIs(t, (<-first).err, eventstore.ErrFailed)
	require.ErrorIs(t, (<-again).err, eventstore.ErrFailed)
}

// Goal: as TestFailedGroupRefusesItsReplays, the group's own fdatasync failing when the
// writer syncs it itself.
func TestFailedSyncRefusesItsReplays(t *testing.T) {
	ffs := &faultFS{}
	s, err := Open(t.TempDir(), Options{FS: ffs})
	require.NoError(t, err)
	defer s.Close()
	release, held := holdSync(t, ffs, s, heldReq())
	answers := keyedTwice(s)
	waitFor(t, "the two appends to queue behind the held sync", func() bool { return s.queued.Load() >= 2 })
	entered2, release2 := make(chan struct{}), make(chan struct{})
	ffs.holdSync(entered2, release2)
	close(release)
	require.NoError(t, (<-held).err)
	<-entered2
	ffs.armSync(syscall.EIO)
	close(release2)
	for range 2 {
		a := <-answers
		if a.err == nil {
			t.Errorf("acknowledged although its group's fdatasync failed: %+v (store failed: %v)", a.res, s.Failed())
		}
	}
}

// Goal: Close waits for the groups in flight: they are synced, published and answered, and
// the recovery checkpoint is written at the head. Method: every group handed over, the
// first fdatasync held while eight appends are in flight and Close is called.
func TestCloseWaitsForFlights(t *testing.T) {
	ffs := &faultFS{}
	dir := t.TempDir()
	s, err := Open(dir, Options{FS: ffs})
	require.NoError(t, err)
	s.forcePipeline = true
	ctx := context.Background()
	entered, release := make(chan struct{}), make(chan struct{})
	ffs.holdSync(entered, release)
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			st := fmt.Sprintf("customer-%d", i)
			_, err := s.Append(ctx, eventstore.AppendRequest{Stream: st, ExpectedVersion: 0, Events: storetest.Events(st, 2)})
			errs <- err
		}()
		if i == 0 {
			<-entered
		}
	}
	time.Sleep(20 * time.Millisecond)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	time.Sleep(20 * time.Millisecond)
	select {
	case <-closed:
		t.Fatal("Close returned while a flight is held")
	default:
	}
	close(release)
	require.NoError(t, <-closed)
	for range 8 {
		require.NoError(t, <-errs)
	}
	r, err := Open(dir, Options{})
	require.NoError(t, err)
	defer r.Close()
	h, _ := r.Head(ctx)
	require.Equal(t, uint64(16), h.Position)
	require.Equal(t, uint64(16), r.Stats().RecoveryCheckpoint)
}

// Goal: under concurrent writers, keyed retries racing their first attempt, appends of
// several MiB across 4 MiB segments and a reader, with and without every group handed to
// the syncer: the head never goes back, reads are gap-free, each retry answers its first
// attempt's result, and the log verifies. Events are made here, not by storetest.Events,
// whose process-wide counter lengthens later tests' records.
func TestPipelinedCommitUnderLoad(t *testing.T) {
	for _, force := range []bool{false, true} {
		t.Run(fmt.Sprint("force=", force), func(t *testing.T) {
			dir := t.TempDir()
			s, err := Open(dir, Options{SegmentBytes: 4 << 20})
			require.NoError(t, err)
			s.forcePipeline = force
			ctx := context.Background()
			big := json.RawMessage(`{"x":"` + strings.Repeat("a", 3000) + `"}`)
			const writers, per = 6, 150
			var wg sync.WaitGroup
			stop := make(chan struct{})
			var rwg sync.WaitGroup
			rwg.Add(1)
			go func() { // reader: head never goes back, ReadAll gap-free
				defer rwg.Done()
				var last uint64
				for {
					select {
					case <-stop:
						return
					default:
					}
					h, _ := s.Head(ctx)
					if h.Position < last {
						t.Errorf("head went back %d -> %d", last, h.Position)
					}
					last = h.Position
					if h.Position > 5 {
						es, err := s.ReadAll(ctx, h.Position-4, 5)
						if err != nil {
							t.Error(err)
							return
						}
						for i, e := range es {
							if e.Position != h.Position-4+uint64(i) {
								t.Errorf("gap")
							}
						}
					}
				}
			}()
			errs := make(chan error, writers*per*2)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					st := fmt.Sprintf("customer-%d", w)
					v := int64(0)
					for i := range per {
						n := 1
						if i%3 == 0 {
							n = 25
						}
						evs := pipeEvents(st, n)
						for j := range evs {
							if n > 1 {
								evs[j].Data = big
							}
						}
						key := fmt.Sprintf("%s-%d", st, i)
						req := eventstore.AppendRequest{Stream: st, ExpectedVersion: v, IdempotencyKey: key, RequestHash: storetest.RequestHash(key), Events: evs}
						var res eventstore.AppendResult
						var rerr error
						var wg2 sync.WaitGroup
						wg2.Add(1)
						go func() { // concurrent retry
							defer wg2.Done()
							r := req
							r.Events = pipeEvents(st, n)
							for j := range r.Events {
								r.Events[j].Data = evs[j].Data
							}
							res, rerr = s.Append(ctx, r)
						}()
						got, err := s.Append(ctx, req)
						wg2.Wait()
						if err != nil && rerr != nil {
							errs <- fmt.Errorf("%v / %v", err, rerr)
							return
						}
						if err == nil && rerr == nil && (got.Position != res.Position || got.Replayed == res.Replayed) {
							errs <- fmt.Errorf("mismatch %+v %+v", got, res)
						}
						v += int64(n)
					}
				}()
			}
			wg.Wait()
			close(stop)
			rwg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			t.Logf("%+v", s.Stats())
			require.NoError(t, s.Close())
			_, err = Verify(ctx, dir, nil)
			require.NoError(t, err)
		})
	}
}

// pipeEvents is n events of stream with fresh ids and fixed-size data.
func pipeEvents(stream string, n int) []domain.Envelope {
	es := make([]domain.Envelope, n)
	for i := range es {
		es[i] = domain.Envelope{EventID: storetest.NewEventID(), Stream: stream, Type: domain.TypeInvoiceIssued,
			SchemaVersion: 1, EffectiveOn: domain.MustDate("2026-11-02"), Actor: "pipeline-test",
			Data: json.RawMessage(`{"invoice_id":"F-1","amount":{"amount":1000,"currency":"EUR"}}`)}
	}
	return es
}
