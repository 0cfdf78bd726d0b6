package embedded

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/storetest"
)

// Goal: the embedded store keeps every promise of the port, with segments small enough that
// the suite's appends roll over many times.
func TestConformance(t *testing.T) {
	for _, segBytes := range []int64{SegmentBytesDefault, 256 << 10} {
		t.Run(segmentLabel(segBytes), func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, dir string) eventstore.Store {
				s, err := Open(dir, Options{SegmentBytes: segBytes})
				require.NoError(t, err, "open %s", dir)
				return s
			}, storetest.Features{Reopen: true})
		})
	}
}

func segmentLabel(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("segment=%dMiB", n>>20)
	}
	return fmt.Sprintf("segment=%dKiB", n>>10)
}

// Goal: readers never see a group before its fdatasync returned. Method: the fault layer
// holds the group's fdatasync until the test has looked at Head, ReadAll, ReadStream and a
// subscription from the next position.
func TestReadersWaitForTheSync(t *testing.T) {
	ffs := &faultFS{}
	s, err := Open(t.TempDir(), Options{FS: ffs})
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	_, err = s.Append(ctx, eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: 0, Events: storetest.Events("customer-A", 2)})
	require.NoError(t, err)
	before, err := s.Head(ctx)
	require.NoError(t, err)
	sub, err := s.Subscribe(ctx, before.Position+1)
	require.NoError(t, err)

	release, done := holdSync(t, ffs, s, eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: 2, Events: storetest.Events("customer-A", 3)})
	head, err := s.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, before, head, "head during the fdatasync")
	all, err := s.ReadAll(ctx, 1, 0)
	require.NoError(t, err)
	assert.Len(t, all, 2, "events during the fdatasync")
	stream, err := s.ReadStream(ctx, "customer-A", 1, 0)
	require.NoError(t, err)
	assert.Len(t, stream, 2, "stream during the fdatasync")
	select {
	case e := <-sub.C():
		t.Fatalf("subscription delivered position %d during its fdatasync", e.Position)
	default:
	}
	select {
	case a := <-done:
		t.Fatalf("append answered during its fdatasync: %v", a.err)
	default:
	}
	close(release)
	select {
	case a := <-done:
		require.NoError(t, a.err)
	case <-time.After(10 * time.Second):
		t.Fatal("waited 10s for the append after its fdatasync")
	}
	for want := before.Position + 1; want <= before.Position+3; want++ {
		select {
		case e := <-sub.C():
			assert.Equal(t, want, e.Position)
		case <-time.After(10 * time.Second):
			t.Fatalf("waited 10s for position %d", want)
		}
	}
}

// Goal: the writer never lets an append span segments, rolls over as needed, and refuses an
// append larger than a segment. Method: 4 KiB segments, concurrent appends of 1..5 events.
// Goal: a lone caller commits in its own goroutine, and callers that arrive while a group is
// being committed queue for the writer goroutine, which commits them together next. Method:
// sequential appends must all be direct groups; then the fault layer holds a direct group's
// fdatasync while three more appends arrive: they must queue (none may commit while the
// writer is held), and once released land in one group, after the held one, in order.
func TestLoneAppendsCommitDirectly(t *testing.T) {
	ffs := &faultFS{}
	s, err := Open(t.TempDir(), Options{FS: ffs})
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	for v := range 20 {
		_, err := s.Append(ctx, eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: int64(v), Events: storetest.Events("customer-A", 1)})
		require.NoError(t, err)
	}
	st := s.Stats()
	assert.Equal(t, uint64(20), st.Groups, "groups of sequential appends")
	assert.Equal(t, uint64(20), st.Direct, "sequential appends committed by their callers")

	release, held := holdSync(t, ffs, s, eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: 20, Events: storetest.Events("customer-A", 1)})
	queued := make(chan appended, 3)
	for _, st := range []string{"customer-B", "customer-C", "customer-D"} {
		appendAsync(s, eventstore.AppendRequest{Stream: st, ExpectedVersion: 0, Events: storetest.Events(st, 2)}, queued)
	}
	waitFor(t, "three appends to queue", func() bool { return s.queued.Load() >= 3 })
	assert.Equal(t, uint64(21), s.Stats().Direct, "direct groups while the writer is held")
	assert.Equal(t, uint64(20), s.Stats().Groups, "groups committed while the writer is held")
	close(release)
	require.NoError(t, (<-held).err)
	for range 3 {
		require.NoError(t, (<-queued).err)
	}
	st = s.Stats()
	assert.Equal(t, uint64(22), st.Groups, "the held group, then the three queued appends in one")
	assert.Equal(t, uint64(21), st.Direct, "the queued appends were committed by the writer goroutine")
	assert.Equal(t, int64(0), s.queued.Load(), "calls left queued")
	all, err := s.ReadAll(ctx, 1, 0)
	require.NoError(t, err)
	require.Len(t, all, 27)
	assert.Equal(t, "customer-A", all[20].Stream, "the held append comes first")
	for i, e := range all {
		assert.Equal(t, uint64(i+1), e.Position)
	}
}

// Goal: with the pipelined commit, the writer writes the next group while the previous one
// syncs, readers still see only durable groups, in order, and a retry of an append still in
// flight answers its result once it is published. Method: every group is handed to the
// syncer (forcePipeline); the fault layer holds group 1's fdatasync while group 2 (another
// stream) is written and a retry of group 1's keyed append arrives; nothing may be visible
// or answered until the release; then all are, in order, and the log verifies.
func TestPipelinedCommit(t *testing.T) {
	ffs := &faultFS{}
	dir := t.TempDir()
	s, err := Open(dir, Options{FS: ffs})
	require.NoError(t, err)
	s.forcePipeline = true // before any append: the writer reads it
	ctx := context.Background()
	hash := storetest.RequestHash(`{"batch":1}`)
	reqA := eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: 0, IdempotencyKey: "batch-1", RequestHash: hash,
		Events: storetest.Events("customer-A", 3)}

	release, held := holdSync(t, ffs, s, reqA)
	written := s.Stats().Bytes
	answers := make(chan appended, 2)
	appendAsync(s, eventstore.AppendRequest{Stream: "customer-B", ExpectedVersion: 0, Events: storetest.Events("customer-B", 2)}, answers)
	waitFor(t, "group 2 to be written while group 1 syncs", func() bool { return s.Stats().Bytes != written })
	retry := reqA
	retry.Events = storetest.Events("customer-A", 3) // a retry carries fresh event ids
	appendAsync(s, retry, answers)
	time.Sleep(20 * time.Millisecond) // let the retry reach the writer
	head, err := s.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(0), head.Position, "head while group 1 syncs")
	all, err := s.ReadAll(ctx, 1, 0)
	require.NoError(t, err)
	assert.Empty(t, all, "events readable while group 1 syncs")
	select {
	case a := <-held:
		t.Fatalf("group 1 answered while it syncs: %+v", a)
	case a := <-answers:
		t.Fatalf("an append answered while group 1 syncs: %+v", a)
	default:
	}

	close(release)
	var got []appended
	for range 3 {
		select {
		case a := <-held:
			require.NoError(t, a.err)
			got = append(got, a)
		case a := <-answers:
			require.NoError(t, a.err)
			got = append(got, a)
		case <-time.After(10 * time.Second):
			t.Fatal("waited 10s for the answers after the release")
		}
	}
	byStream := map[string][]eventstore.AppendResult{}
	for _, a := range got {
		byStream[a.res.Stream] = append(byStream[a.res.Stream], a.res)
	}
	require.Len(t, byStream["customer-A"], 2)
	require.Len(t, byStream["customer-B"], 1)
	a1, a2 := byStream["customer-A"][0], byStream["customer-A"][1]
	if a1.Replayed {
		a1, a2 = a2, a1
	}
	assert.False(t, a1.Replayed)
	assert.True(t, a2.Replayed, "the retry of the append in flight")
	a2.Replayed = false
	assert.Equal(t, a1, a2, "the retry answers the first result")
	assert.Equal(t, uint64(3), a1.Position, "group 1 first")
	assert.Equal(t, uint64(5), byStream["customer-B"][0].Position, "group 2 after it")
	all, err = s.ReadAll(ctx, 1, 0)
	require.NoError(t, err)
	require.Len(t, all, 5)
	for i, e := range all {
		assert.Equal(t, uint64(i+1), e.Position)
	}
	st := s.Stats()
	assert.Equal(t, uint64(2), st.Groups, "groups published")
	assert.Equal(t, uint64(2), st.Appends)
	assert.Equal(t, uint64(1), st.Replays)
	require.NoError(t, s.Close())
	rep, err := Verify(ctx, dir, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(5), rep.Head.Position, "verified head")
}

func TestAppendsNeverSpanSegments(t *testing.T) {
	s, err := Open(t.TempDir(), Options{SegmentBytes: 4 << 10})
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	const writers = 8
	var wg sync.WaitGroup
	results := make([][]eventstore.AppendResult, writers)
	errs := make([]error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := fmt.Sprintf("customer-%d", w)
			for i := range 20 {
				res, err := s.Append(ctx, eventstore.AppendRequest{Stream: st, ExpectedVersion: eventstore.AnyVersion,
					Events: storetest.Events(st, 1+(w+i)%5)})
				if err != nil {
					errs[w] = err
					return
				}
				results[w] = append(results[w], res)
			}
		}()
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	s.mu.RLock()
	segments := len(s.segs)
	for _, rs := range results {
		for _, r := range rs {
			first, _, _ := s.locate(r.Position - uint64(len(r.EventIDs)) + 1)
			last, _, _ := s.locate(r.Position)
			assert.Equal(t, first.name, last.name, "append ending at %d spans %s and %s", r.Position, first.name, last.name)
		}
	}
	s.mu.RUnlock()
	assert.Greater(t, segments, 10, "segments")
	_, err = s.Append(ctx, eventstore.AppendRequest{Stream: "customer-big", ExpectedVersion: 0, Events: storetest.Events("customer-big", 20)})
	assert.ErrorIs(t, err, eventstore.ErrInvalidAppend, "an append larger than a segment")
}

// Goal: RecordedAt never goes back with the position, even when the clock does.
func TestRecordedAtNeverGoesBack(t *testing.T) {
	base := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	ticks := []time.Duration{0, time.Hour, -time.Hour, 2 * time.Hour}
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		d := ticks[0]
		if len(ticks) > 1 {
			ticks = ticks[1:]
		}
		return base.Add(d).In(time.FixedZone("CET", 3600))
	}
	s, err := Open(t.TempDir(), Options{Clock: clock})
	require.NoError(t, err)
	defer s.Close()
	var got []time.Time
	for i := range 4 {
		res, err := s.Append(context.Background(), eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: int64(i),
			Events: storetest.Events("customer-A", 1)})
		require.NoError(t, err)
		es, err := s.ReadAll(context.Background(), res.Position, 1)
		require.NoError(t, err)
		got = append(got, es[0].RecordedAt)
	}
	want := []time.Time{base, base.Add(time.Hour), base.Add(time.Hour), base.Add(2 * time.Hour)}
	assert.Equal(t, want, got, "recorded at with a clock that steps back")
}

// Goal: Close answers the appends already queued, refuses later ones with ErrClosed, ends
// subscriptions (C closed, Err nil) and is safe to call twice; reads after it are ErrClosed.
func TestClose(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{})
	require.NoError(t, err)
	ctx := context.Background()
	sub, err := s.Subscribe(ctx, 1)
	require.NoError(t, err)
	const writers = 16
	var wg sync.WaitGroup
	var acked atomic.Int64
	errs := make([]error, writers)
	for w := range writers {
		wg.Add(1)
		go func() { // ends at its first refusal
			defer wg.Done()
			st := fmt.Sprintf("customer-%d", w)
			for i := 0; ; i++ {
				_, err := s.Append(ctx, eventstore.AppendRequest{Stream: st, ExpectedVersion: int64(i), Events: storetest.Events(st, 1)})
				if err != nil {
					errs[w] = err
					return
				}
				acked.Add(1)
			}
		}()
	}
	require.Eventually(t, func() bool { return acked.Load() > 100 }, 10*time.Second, time.Millisecond, "appends before Close")
	require.NoError(t, s.Close())
	wg.Wait()
	for w, err := range errs {
		assert.ErrorIs(t, err, eventstore.ErrClosed, "writer %d", w)
	}
	require.NoError(t, s.Close(), "second Close")
	_, err = s.ReadAll(ctx, 1, 10)
	assert.ErrorIs(t, err, eventstore.ErrClosed)
	_, err = s.Subscribe(ctx, 1)
	assert.ErrorIs(t, err, eventstore.ErrClosed)
	for range sub.C() { // drains what was buffered; ends because Close closed it
	}
	assert.NoError(t, sub.Err())

	r, err := Open(dir, Options{})
	require.NoError(t, err)
	defer r.Close()
	head, err := r.Head(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(acked.Load()), head.Position, "every acknowledged append, and no other, after reopen")
}

// Goal: a cancelled context refuses the append and consumes no position.
func TestAppendCancelled(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	require.NoError(t, err)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.Append(ctx, eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: 0, Events: storetest.Events("customer-A", 1)})
	require.ErrorIs(t, err, context.Canceled)
	res, err := s.Append(context.Background(), eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: 0, Events: storetest.Events("customer-A", 1)})
	require.NoError(t, err)
	assert.Equal(t, uint64(1), res.Position)
}

// Goal: Stats count what happened.
func TestStats(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	req := eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: 0, IdempotencyKey: "k", RequestHash: storetest.RequestHash("b"),
		Events: storetest.Events("customer-A", 3)}
	_, err = s.Append(ctx, req)
	require.NoError(t, err)
	_, err = s.Append(ctx, req) // replay
	require.NoError(t, err)
	_, err = s.Append(ctx, eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: 0, Events: storetest.Events("customer-A", 1)})
	require.ErrorIs(t, err, eventstore.ErrWrongVersion)
	st := s.Stats()
	assert.Equal(t, uint64(1), st.Appends)
	assert.Equal(t, uint64(1), st.Replays)
	assert.Equal(t, uint64(1), st.Rejected)
	assert.Equal(t, uint64(3), st.Events)
	assert.Equal(t, uint64(1), st.Groups)
	assert.Equal(t, uint64(1), st.Syncs)
	assert.Positive(t, st.Bytes)
}
