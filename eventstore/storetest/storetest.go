package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// Features says what an adapter does not promise; the suite skips those cases, saying why.
type Features struct {
	// Reopen: closing the store and opening it again on the same directory keeps every
	// event, stream version and idempotency key (the embedded store). An adapter backed by a
	// server, which ignores dir, leaves it false.
	Reopen bool
}

// OpenFunc opens a store on dir (a fresh temporary directory, or the directory of a store
// the suite closed, to reopen it). The suite owns the store it returns and closes it once.
type OpenFunc func(t *testing.T, dir string) eventstore.Store

// Limits of the suite (style §8).
const (
	// waitTimeout bounds every wait for an event, a subscription's end or a goroutine.
	waitTimeout = 10 * time.Second
	// appendRetriesMax bounds the retries of an appender that lost a version race.
	appendRetriesMax = 1000
)

// Run runs the conformance suite against the stores open returns, each case in a subtest
// with a fresh directory.
func Run(t *testing.T, open OpenFunc, f Features) {
	h := &harness{open: open, features: f}
	for _, c := range []struct {
		name string
		run  func(t *testing.T, h *harness)
	}{
		{"append to a new stream with expected version 0", testAppendNewStream},
		{"wrong expected version appends nothing", testWrongVersion},
		{"any version skips the version check", testAnyVersion},
		{"stream versions are contiguous and 1-based", testVersionsContiguous},
		{"positions are global, 1-based and gap-free across streams", testPositionsGlobal},
		{"a multi-event append is atomic", testMultiEventAtomic},
		{"malformed appends are refused", testInvalidAppends},
		{"idempotent retries return the first result", testIdempotency},
		{"idempotency survives a reopen", testIdempotencyReopen},
		{"read a stream from a version with a limit", testReadStream},
		{"read all from a position with a limit", testReadAll},
		{"an unknown stream reads empty", testUnknownStream},
		{"the hash chain links and verifies every event", testHashChain},
		{"the store sets recorded at, in UTC", testRecordedAt},
		{"subscribe from 1 catches up then goes live with no gap", testSubscribeCatchUp},
		{"subscribe from a middle position", testSubscribeMiddle},
		{"a subscription ends when its context is cancelled", testSubscribeCancel},
		{"concurrent appenders get every position exactly once", testConcurrentAppenders},
		{"reopen keeps everything", testReopen},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, h) })
	}
}

type harness struct {
	open     OpenFunc
	features Features
}

// newStore opens a store on a fresh directory; it is closed when the test ends.
func (h *harness) newStore(t *testing.T) (eventstore.Store, string) {
	t.Helper()
	dir := t.TempDir()
	return h.openAt(t, dir), dir
}

func (h *harness) openAt(t *testing.T, dir string) eventstore.Store {
	t.Helper()
	s := h.open(t, dir)
	require.NotNil(t, s, "open %s", dir)
	c := &closer{s: s}
	t.Cleanup(func() { c.close(t) })
	return closeOnceStore{Store: s, c: c}
}

// reopen closes s and opens the store on dir again.
func (h *harness) reopen(t *testing.T, s eventstore.Store, dir string) eventstore.Store {
	t.Helper()
	s.(closeOnceStore).c.close(t)
	return h.openAt(t, dir)
}

type closer struct {
	once sync.Once
	s    eventstore.Store
}

func (c *closer) close(t *testing.T) {
	c.once.Do(func() { assert.NoError(t, c.s.Close(), "close") })
}

// closeOnceStore lets the suite close a store explicitly (to reopen it) and again at cleanup.
type closeOnceStore struct {
	eventstore.Store
	c *closer
}

var eventSeq atomic.Uint64

// Events returns n new events of stream, with fresh UUIDv7 event ids (KurrentDB wants UUIDs)
// and small JSON data; the store assigns the rest.
func Events(stream string, n int) []domain.Envelope {
	es := make([]domain.Envelope, n)
	for i := range es {
		k := eventSeq.Add(1)
		es[i] = domain.Envelope{
			EventID:       NewEventID(),
			Stream:        stream,
			Type:          domain.TypeInvoiceIssued,
			SchemaVersion: 1,
			EffectiveOn:   domain.MustDate("2026-11-02"),
			Actor:         "storetest",
			CorrelationID: fmt.Sprintf("corr-%d", k),
			Data:          json.RawMessage(fmt.Sprintf(`{"invoice_id":"F-%d","amount":{"amount":%d,"currency":"EUR"}}`, k, 1000+k)),
		}
	}
	return es
}

// NewEventID returns a UUIDv7 (RFC 9562) string.
func NewEventID() string {
	var b [16]byte
	rand.Read(b[:])
	ms := uint64(time.Now().UnixMilli())
	binary.BigEndian.PutUint16(b[0:], uint16(ms>>32))
	binary.BigEndian.PutUint32(b[2:], uint32(ms))
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// RequestHash is the SHA-256 of body, as the HTTP API computes it for an idempotency key.
func RequestHash(body string) []byte {
	h := sha256.Sum256([]byte(body))
	return h[:]
}

func appendOK(t *testing.T, s eventstore.Store, stream string, expected int64, n int) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(context.Background(), eventstore.AppendRequest{Stream: stream, ExpectedVersion: expected, Events: Events(stream, n)})
	require.NoError(t, err, "append %d events to %s at version %d", n, stream, expected)
	return res
}

// readAll pages through the whole log.
func readAll(t *testing.T, s eventstore.Store) []domain.Envelope {
	t.Helper()
	var all []domain.Envelope
	for from := uint64(1); ; {
		batch, err := s.ReadAll(context.Background(), from, 1000)
		require.NoError(t, err, "read all from %d", from)
		if len(batch) == 0 {
			return all
		}
		all = append(all, batch...)
		from = batch[len(batch)-1].Position + 1
	}
}

func readStream(t *testing.T, s eventstore.Store, stream string) []domain.Envelope {
	t.Helper()
	var all []domain.Envelope
	for from := uint64(1); ; {
		batch, err := s.ReadStream(context.Background(), stream, from, 1000)
		require.NoError(t, err, "read stream %s from %d", stream, from)
		if len(batch) == 0 {
			return all
		}
		all = append(all, batch...)
		from = batch[len(batch)-1].StreamVersion + 1
	}
}

func head(t *testing.T, s eventstore.Store) eventstore.Head {
	t.Helper()
	h, err := s.Head(context.Background())
	require.NoError(t, err, "head")
	return h
}

func ids(es []domain.Envelope) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.EventID
	}
	return out
}

// requireContiguous checks that es hold positions first, first+1, ... in order.
func requireContiguous(t *testing.T, es []domain.Envelope, first uint64) {
	t.Helper()
	for i, e := range es {
		require.Equal(t, first+uint64(i), e.Position, "event %d of %d: got position %d, want %d", i, len(es), e.Position, first+uint64(i))
	}
}

// Goal: the first append to a stream lands at version 1 and the first positions, and its
// result names what was written.
func testAppendNewStream(t *testing.T, h *harness) {
	s, _ := h.newStore(t)
	events := Events("customer-A", 3)
	res, err := s.Append(context.Background(), eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: 0, Events: events})
	require.NoError(t, err)
	assert.Equal(t, eventstore.AppendResult{Stream: "customer-A", StreamVersion: 3, Position: 3, EventIDs: ids(events)}, res)
	got := readStream(t, s, "customer-A")
	require.Len(t, got, 3)
	for i, e := range got {
		assert.Equal(t, uint64(i+1), e.StreamVersion, "event %d: got version %d, want %d", i, e.StreamVersion, i+1)
		assert.Equal(t, events[i].EventID, e.EventID)
		assert.Equal(t, events[i].Type, e.Type)
		assert.Equal(t, events[i].Actor, e.Actor)
		assert.Equal(t, events[i].CorrelationID, e.CorrelationID)
		assert.True(t, events[i].EffectiveOn.Equal(e.EffectiveOn), "effective on: got %s, want %s", e.EffectiveOn, events[i].EffectiveOn)
		assert.JSONEq(t, string(events[i].Data), string(e.Data))
	}
	assert.Equal(t, uint64(3), head(t, s).Position)
}

// Goal: a lost optimistic-concurrency race is ErrWrongVersion and leaves the log untouched.
func testWrongVersion(t *testing.T, h *harness) {
	s, _ := h.newStore(t)
	appendOK(t, s, "customer-A", 0, 2)
	before := head(t, s)
	for _, tc := range []struct {
		name     string
		stream   string
		expected int64
	}{
		{"expected 0 on an existing stream", "customer-A", 0},
		{"expected behind", "customer-A", 1},
		{"expected ahead", "customer-A", 5},
		{"expected 1 on a new stream", "customer-B", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Append(context.Background(), eventstore.AppendRequest{Stream: tc.stream, ExpectedVersion: tc.expected, Events: Events(tc.stream, 2)})
			require.ErrorIs(t, err, eventstore.ErrWrongVersion, "append to %s at %d", tc.stream, tc.expected)
			assert.Equal(t, before, head(t, s), "head after a refused append")
		})
	}
	assert.Len(t, readStream(t, s, "customer-A"), 2)
	assert.Empty(t, readStream(t, s, "customer-B"))
}

// Goal: AnyVersion appends to a new or an existing stream without a check.
func testAnyVersion(t *testing.T, h *harness) {
	s, _ := h.newStore(t)
	res := appendOK(t, s, "customer-A", eventstore.AnyVersion, 1)
	assert.Equal(t, uint64(1), res.StreamVersion)
	res = appendOK(t, s, "customer-A", eventstore.AnyVersion, 2)
	assert.Equal(t, uint64(3), res.StreamVersion)
	assert.Equal(t, uint64(3), res.Position)
}

// Goal: versions count 1, 2, 3, ... across appends of various sizes.
func testVersionsContiguous(t *testing.T, h *harness) {
	s, _ := h.newStore(t)
	v := int64(0)
	for _, n := range []int{1, 3, 1, 5, 2} {
		res := appendOK(t, s, "customer-A", v, n)
		v += int64(n)
		assert.Equal(t, uint64(v), res.StreamVersion, "after %d events", n)
	}
	for i, e := range readStream(t, s, "customer-A") {
		assert.Equal(t, uint64(i+1), e.StreamVersion, "event %d: got version %d, want %d", i, e.StreamVersion, i+1)
	}
}

// Goal: interleaved appends to several streams share one position sequence with no gap.
func testPositionsGlobal(t *testing.T, h *harness) {
	s, _ := h.newStore(t)
	streams := []string{"customer-A", "customer-B", "customer-C"}
	versions := map[string]int64{}
	want := uint64(0)
	for i := range 12 {
		st := streams[i%len(streams)]
		n := 1 + i%3
		res := appendOK(t, s, st, versions[st], n)
		versions[st] += int64(n)
		want += uint64(n)
		assert.Equal(t, want, res.Position, "append %d: got position %d, want %d", i, res.Position, want)
	}
	all := readAll(t, s)
	require.Len(t, all, int(want))
	requireContiguous(t, all, 1)
	for _, st := range streams {
		assert.Len(t, readStream(t, s, st), int(versions[st]), "stream %s", st)
	}
}

// Goal: the events of one append are contiguous in the log, even with other appends racing,
// and a refused multi-event append leaves none of them.
func testMultiEventAtomic(t *testing.T, h *harness) {
	s, _ := h.newStore(t)
	const writers, perAppend = 4, 7
	var wg sync.WaitGroup
	results := make([]eventstore.AppendResult, writers)
	errs := make([]error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := fmt.Sprintf("customer-%d", w)
			results[w], errs[w] = s.Append(context.Background(), eventstore.AppendRequest{Stream: st, ExpectedVersion: 0, Events: Events(st, perAppend)})
		}()
	}
	wg.Wait()
	all := readAll(t, s)
	for w := range writers {
		require.NoError(t, errs[w], "writer %d", w)
		res := results[w]
		first := res.Position - perAppend + 1
		got := all[first-1 : res.Position]
		assert.Equal(t, res.EventIDs, ids(got), "writer %d: positions %d..%d", w, first, res.Position)
	}
	before := head(t, s)
	_, err := s.Append(context.Background(), eventstore.AppendRequest{Stream: "customer-0", ExpectedVersion: 0, Events: Events("customer-0", perAppend)})
	require.ErrorIs(t, err, eventstore.ErrWrongVersion)
	assert.Equal(t, before, head(t, s))
}

// Goal: each malformed request is ErrInvalidAppend and appends nothing.
func testInvalidAppends(t *testing.T, h *harness) {
	s, _ := h.newStore(t)
	appendOK(t, s, "customer-A", 0, 1)
	before := head(t, s)
	mismatched := Events("customer-A", 2)
	mismatched[1].Stream = "customer-B"
	for _, tc := range []struct {
		name string
		req  eventstore.AppendRequest
	}{
		{"no events", eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: eventstore.AnyVersion}},
		{"more than AppendEventsMax events", eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: eventstore.AnyVersion,
			Events: Events("customer-A", eventstore.AppendEventsMax+1)}},
		{"an event of another stream", eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: eventstore.AnyVersion, Events: mismatched}},
		{"no stream", eventstore.AppendRequest{ExpectedVersion: eventstore.AnyVersion, Events: Events("", 1)}},
		{"an idempotency key without a request hash", eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: eventstore.AnyVersion,
			IdempotencyKey: "k", Events: Events("customer-A", 1)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.Append(context.Background(), tc.req)
			require.ErrorIs(t, err, eventstore.ErrInvalidAppend)
			assert.Equal(t, before, head(t, s), "head after a refused append")
		})
	}
	res := appendOK(t, s, "customer-A", 1, eventstore.AppendEventsMax)
	assert.Equal(t, uint64(1+eventstore.AppendEventsMax), res.StreamVersion, "exactly AppendEventsMax events is fine")
}

// Goal: the same key with the same request hash returns the first result and appends
// nothing, whatever the stream has become; the same key with another hash is refused.
func testIdempotency(t *testing.T, h *harness) {
	s, _ := h.newStore(t)
	req := eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: 0, IdempotencyKey: "inv-F-001",
		RequestHash: RequestHash(`{"invoice_id":"F-001"}`), Events: Events("customer-A", 2)}
	first, err := s.Append(context.Background(), req)
	require.NoError(t, err)
	assert.False(t, first.Replayed)
	appendOK(t, s, "customer-A", 2, 1)
	before := head(t, s)

	retry := req
	retry.Events = Events("customer-A", 2) // a retry carries fresh event ids: the key decides
	again, err := s.Append(context.Background(), retry)
	require.NoError(t, err, "retry with the same key and hash")
	assert.True(t, again.Replayed, "retry: got Replayed false, want true")
	again.Replayed = false
	assert.Equal(t, first, again, "retry result")
	assert.Equal(t, before, head(t, s), "head after a replay")

	other := req
	other.RequestHash = RequestHash(`{"invoice_id":"F-002"}`)
	_, err = s.Append(context.Background(), other)
	require.ErrorIs(t, err, eventstore.ErrIdempotencyKeyReused)
	assert.Equal(t, before, head(t, s), "head after a reused key")

	got, hash, found, err := s.LookupIdempotency(context.Background(), "inv-F-001")
	require.NoError(t, err)
	require.True(t, found, "lookup of a used key")
	assert.Equal(t, req.RequestHash, hash)
	assert.Equal(t, first, got)
	_, _, found, err = s.LookupIdempotency(context.Background(), "never-used")
	require.NoError(t, err)
	assert.False(t, found, "lookup of an unused key")

	// Concurrent retries of one new key: exactly one appends.
	const retries = 8
	req2 := eventstore.AppendRequest{Stream: "customer-B", ExpectedVersion: eventstore.AnyVersion, IdempotencyKey: "pay-P-9",
		RequestHash: RequestHash(`{"payment_id":"P-9"}`)}
	var wg sync.WaitGroup
	results := make([]eventstore.AppendResult, retries)
	errs := make([]error, retries)
	for i := range retries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := req2
			r.Events = Events("customer-B", 1)
			results[i], errs[i] = s.Append(context.Background(), r)
		}()
	}
	wg.Wait()
	appended := 0
	for i := range retries {
		require.NoError(t, errs[i], "concurrent retry %d", i)
		if !results[i].Replayed {
			appended++
		}
		results[i].Replayed = false
		assert.Equal(t, results[0], results[i], "concurrent retry %d", i)
	}
	assert.Equal(t, 1, appended, "concurrent retries that appended: got %d, want 1", appended)
	assert.Len(t, readStream(t, s, "customer-B"), 1)
}

// Goal: a key used before a reopen still replays after it.
func testIdempotencyReopen(t *testing.T, h *harness) {
	if !h.features.Reopen {
		t.Skip("the adapter does not promise reopening from a directory (Features.Reopen)")
	}
	s, dir := h.newStore(t)
	req := eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: 0, IdempotencyKey: "inv-F-001",
		RequestHash: RequestHash("body"), Events: Events("customer-A", 3)}
	first, err := s.Append(context.Background(), req)
	require.NoError(t, err)
	s = h.reopen(t, s, dir)
	got, hash, found, err := s.LookupIdempotency(context.Background(), "inv-F-001")
	require.NoError(t, err)
	require.True(t, found, "lookup after reopen")
	assert.Equal(t, first, got)
	assert.Equal(t, req.RequestHash, hash)
	again, err := s.Append(context.Background(), req)
	require.NoError(t, err)
	assert.True(t, again.Replayed)
	assert.Equal(t, uint64(3), head(t, s).Position)
	other := req
	other.RequestHash = RequestHash("another body")
	_, err = s.Append(context.Background(), other)
	require.ErrorIs(t, err, eventstore.ErrIdempotencyKeyReused)
}

// Goal: ReadStream starts at the given version and stops at the limit or the end.
func testReadStream(t *testing.T, h *harness) {
	s, _ := h.newStore(t)
	for i := range 5 {
		appendOK(t, s, "customer-A", int64(2*i), 2)
		appendOK(t, s, "customer-B", int64(i), 1) // interleaved, so A's events are not adjacent
	}
	for _, tc := range []struct {
		from     uint64
		limit    int
		versions []uint64
	}{
		{1, 3, []uint64{1, 2, 3}},
		{4, 3, []uint64{4, 5, 6}},
		{9, 5, []uint64{9, 10}},
		{10, 1, []uint64{10}},
		{11, 5, nil},
		{0, 2, []uint64{1, 2}}, // 0 reads from the start
	} {
		got, err := s.ReadStream(context.Background(), "customer-A", tc.from, tc.limit)
		require.NoError(t, err)
		var versions []uint64
		for _, e := range got {
			versions = append(versions, e.StreamVersion)
			assert.Equal(t, "customer-A", e.Stream)
		}
		assert.Equal(t, tc.versions, versions, "read from %d limit %d", tc.from, tc.limit)
	}
}

// Goal: ReadAll starts at the given position and stops at the limit or the head.
func testReadAll(t *testing.T, h *harness) {
	s, _ := h.newStore(t)
	for i := range 10 {
		appendOK(t, s, fmt.Sprintf("customer-%d", i%3), eventstore.AnyVersion, 1)
	}
	for _, tc := range []struct {
		from       uint64
		limit      int
		wantFirst  uint64
		wantLength int
	}{
		{1, 4, 1, 4},
		{5, 4, 5, 4},
		{8, 10, 8, 3},
		{10, 1, 10, 1},
		{11, 5, 0, 0},
		{0, 3, 1, 3},
	} {
		got, err := s.ReadAll(context.Background(), tc.from, tc.limit)
		require.NoError(t, err)
		require.Len(t, got, tc.wantLength, "read from %d limit %d", tc.from, tc.limit)
		requireContiguous(t, got, tc.wantFirst)
	}
}

// Goal: reading a stream that was never written is not an error.
func testUnknownStream(t *testing.T, h *harness) {
	s, _ := h.newStore(t)
	got, err := s.ReadStream(context.Background(), "customer-nobody", 1, 10)
	require.NoError(t, err)
	assert.Empty(t, got)
	appendOK(t, s, "customer-A", 0, 1)
	got, err = s.ReadStream(context.Background(), "customer-nobody", 1, 10)
	require.NoError(t, err)
	assert.Empty(t, got)
}

// Goal: each event's prev_hash is the hash of the event before it in the log (zero for the
// first), each hash is the chain hash of the event's bytes, and Head carries the last one.
func testHashChain(t *testing.T, h *harness) {
	s, _ := h.newStore(t)
	for i := range 6 {
		appendOK(t, s, fmt.Sprintf("customer-%d", i%2), eventstore.AnyVersion, 1+i%3)
	}
	all := readAll(t, s)
	var prev domain.Hash
	for _, e := range all {
		assert.Equal(t, prev, e.PrevHash, "position %d: got prev_hash %s, want %s", e.Position, e.PrevHash, prev)
		assert.NoError(t, domain.VerifyHash(&e, nil), "position %d", e.Position)
		prev = e.Hash
	}
	assert.Equal(t, eventstore.Head{Position: uint64(len(all)), Hash: prev}, head(t, s))
}

// Goal: RecordedAt is the store's, not the caller's: set, in UTC, never decreasing.
func testRecordedAt(t *testing.T, h *harness) {
	s, _ := h.newStore(t)
	events := Events("customer-A", 2)
	bogus := time.Date(1999, 1, 1, 0, 0, 0, 0, time.FixedZone("X", 3600))
	for i := range events {
		events[i].RecordedAt = bogus
		events[i].Position, events[i].StreamVersion = 77, 77 // store-assigned too
	}
	_, err := s.Append(context.Background(), eventstore.AppendRequest{Stream: "customer-A", ExpectedVersion: 0, Events: events})
	require.NoError(t, err)
	appendOK(t, s, "customer-A", 2, 1)
	var last time.Time
	for _, e := range readAll(t, s) {
		assert.False(t, e.RecordedAt.IsZero(), "position %d: recorded at not set", e.Position)
		assert.False(t, e.RecordedAt.Equal(bogus), "position %d: got the caller's recorded at", e.Position)
		assert.Equal(t, time.UTC, e.RecordedAt.Location(), "position %d: got location %s, want UTC", e.Position, e.RecordedAt.Location())
		assert.False(t, e.RecordedAt.Before(last), "position %d: recorded at %s before %s", e.Position, e.RecordedAt, last)
		assert.Equal(t, e.Position, e.StreamVersion, "position %d: got version %d", e.Position, e.StreamVersion)
		last = e.RecordedAt
	}
}

// receive takes n events from sub, each within waitTimeout.
func receive(t *testing.T, sub eventstore.Subscription, n int) []domain.Envelope {
	t.Helper()
	out := make([]domain.Envelope, 0, n)
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for len(out) < n {
		select {
		case e, ok := <-sub.C():
			require.True(t, ok, "subscription closed after %d of %d events: %v", len(out), n, sub.Err())
			out = append(out, e)
			timer.Reset(waitTimeout)
		case <-timer.C:
			require.FailNow(t, "timeout", "waited %s for event %d of %d", waitTimeout, len(out)+1, n)
		}
	}
	return out
}

// Goal: a subscription from 1 delivers the stored events and then the live ones, with no
// gap and no duplicate at the switch. Method: appends run concurrently with the catch-up, so
// the switch happens while the log grows.
func testSubscribeCatchUp(t *testing.T, h *harness) {
	s, _ := h.newStore(t)
	stored, live := 300, 300
	if testing.Short() {
		stored, live = 50, 50
	}
	for i := 0; i < stored; i += 10 {
		appendOK(t, s, fmt.Sprintf("customer-%d", i%7), eventstore.AnyVersion, 10)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	appended := make(chan error, 1)
	go func() { // ends after live appends or the first error; awaited below
		for i := range live {
			st := fmt.Sprintf("customer-%d", i%5)
			if _, err := s.Append(ctx, eventstore.AppendRequest{Stream: st, ExpectedVersion: eventstore.AnyVersion, Events: Events(st, 1)}); err != nil {
				appended <- err
				return
			}
		}
		appended <- nil
	}()
	sub, err := s.Subscribe(ctx, 1)
	require.NoError(t, err)
	got := receive(t, sub, stored+live)
	requireContiguous(t, got, 1)
	select {
	case err := <-appended:
		require.NoError(t, err, "live appender")
	case <-time.After(waitTimeout):
		require.FailNow(t, "timeout", "waited %s for the live appender", waitTimeout)
	}
	all := readAll(t, s)
	assert.Equal(t, ids(all), ids(got), "subscription against ReadAll")
	select {
	case e, ok := <-sub.C():
		require.False(t, ok, "an event beyond the head: position %d", e.Position)
	default: // nothing more: as expected
	}
}

// Goal: a subscription from a middle position starts exactly there.
func testSubscribeMiddle(t *testing.T, h *harness) {
	s, _ := h.newStore(t)
	for i := range 20 {
		appendOK(t, s, fmt.Sprintf("customer-%d", i%3), eventstore.AnyVersion, 1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sub, err := s.Subscribe(ctx, 13)
	require.NoError(t, err)
	got := receive(t, sub, 8)
	requireContiguous(t, got, 13)
	appendOK(t, s, "customer-0", eventstore.AnyVersion, 2)
	requireContiguous(t, receive(t, sub, 2), 21)
}

// Goal: cancelling the context ends the subscription: C is closed and Err is nil, both while
// it waits for events and while it has events to deliver that nobody takes.
func testSubscribeCancel(t *testing.T, h *harness) {
	s, _ := h.newStore(t)
	appendOK(t, s, "customer-A", 0, 3)
	for _, tc := range []struct {
		name string
		from uint64
	}{{"while waiting for events", 4}, {"with events undelivered", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			sub, err := s.Subscribe(ctx, tc.from)
			require.NoError(t, err)
			cancel()
			timer := time.NewTimer(waitTimeout)
			defer timer.Stop()
			for {
				select {
				case _, ok := <-sub.C():
					if ok {
						continue // events already buffered may still arrive; the end must follow
					}
					assert.NoError(t, sub.Err())
					return
				case <-timer.C:
					require.FailNow(t, "timeout", "waited %s for the subscription to end", waitTimeout)
				}
			}
		})
	}
}

// Goal: 32 goroutines appending to their own streams and to two shared ones (retrying lost
// races with a fresh version) end with every acknowledged event present exactly once, at the
// position and version it was acknowledged with, positions gap-free and versions contiguous.
func testConcurrentAppenders(t *testing.T, h *harness) {
	s, _ := h.newStore(t)
	const writers = 32
	appends := 20
	if testing.Short() {
		appends = 5
	}
	acks := make([][]eventstore.AppendResult, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[w] = func() error {
				own := fmt.Sprintf("customer-own-%d", w)
				var ownVersion int64
				for i := range appends {
					st, expected := own, ownVersion
					shared := i%2 == 1
					if shared {
						st = fmt.Sprintf("customer-shared-%d", (w+i)%2)
					}
					n := 1 + (w+i)%3
					for attempt := 0; ; attempt++ {
						if attempt == appendRetriesMax {
							return fmt.Errorf("append to %s: %d lost races", st, attempt)
						}
						if shared {
							var err error
							if expected, err = streamVersion(s, st); err != nil {
								return err
							}
						}
						res, err := s.Append(context.Background(), eventstore.AppendRequest{Stream: st, ExpectedVersion: expected, Events: Events(st, n)})
						if errors.Is(err, eventstore.ErrWrongVersion) && shared {
							runtime.Gosched()
							continue
						}
						if err != nil {
							return fmt.Errorf("append to %s at %d: %w", st, expected, err)
						}
						acks[w] = append(acks[w], res)
						if !shared {
							ownVersion += int64(n)
						}
						break
					}
				}
				return nil
			}()
		}()
	}
	waitGroup(t, &wg, "appenders")
	total := 0
	for w := range writers {
		require.NoError(t, errs[w], "writer %d", w)
		for _, res := range acks[w] {
			total += len(res.EventIDs)
		}
	}
	all := readAll(t, s)
	require.Len(t, all, total, "events in the log against events acknowledged")
	requireContiguous(t, all, 1)
	seen := make(map[string]bool, total)
	for _, e := range all {
		require.False(t, seen[e.EventID], "event %s twice", e.EventID)
		seen[e.EventID] = true
	}
	for w := range writers {
		for _, res := range acks[w] {
			n := uint64(len(res.EventIDs))
			got := all[res.Position-n : res.Position]
			assert.Equal(t, res.EventIDs, ids(got), "writer %d: positions %d..%d", w, res.Position-n+1, res.Position)
			for i, e := range got {
				assert.Equal(t, res.Stream, e.Stream)
				assert.Equal(t, res.StreamVersion-n+1+uint64(i), e.StreamVersion, "position %d", e.Position)
			}
		}
	}
	versions := map[string]uint64{}
	for _, e := range all {
		versions[e.Stream]++
		require.Equal(t, versions[e.Stream], e.StreamVersion, "position %d of %s: got version %d, want %d",
			e.Position, e.Stream, e.StreamVersion, versions[e.Stream])
	}
}

// streamVersion reads a stream's current version (the version of its last event).
func streamVersion(s eventstore.Store, stream string) (int64, error) {
	var v uint64
	for {
		batch, err := s.ReadStream(context.Background(), stream, v+1, eventstore.ReadLimitMax)
		if err != nil {
			return 0, err
		}
		if len(batch) == 0 {
			return int64(v), nil
		}
		v = batch[len(batch)-1].StreamVersion
	}
}

func waitGroup(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }() // ends when wg does; the timeout below fails the test otherwise
	select {
	case <-done:
	case <-time.After(4 * waitTimeout):
		require.FailNow(t, "timeout", "waited %s for the %s", 4*waitTimeout, what)
	}
}

// Goal: closing and reopening keeps every event, the head, stream versions (an append with
// the right expected version still works) and the hash chain (the next event links to the
// head).
func testReopen(t *testing.T, h *harness) {
	if !h.features.Reopen {
		t.Skip("the adapter does not promise reopening from a directory (Features.Reopen)")
	}
	s, dir := h.newStore(t)
	for i := range 10 {
		appendOK(t, s, fmt.Sprintf("customer-%d", i%3), eventstore.AnyVersion, 1+i%4)
	}
	before, beforeHead := readAll(t, s), head(t, s)
	s = h.reopen(t, s, dir)
	assert.Equal(t, before, readAll(t, s), "events after reopen")
	assert.Equal(t, beforeHead, head(t, s), "head after reopen")
	v := int64(len(readStream(t, s, "customer-0")))
	res := appendOK(t, s, "customer-0", v, 1)
	assert.Equal(t, beforeHead.Position+1, res.Position)
	_, err := s.Append(context.Background(), eventstore.AppendRequest{Stream: "customer-0", ExpectedVersion: v, Events: Events("customer-0", 1)})
	require.ErrorIs(t, err, eventstore.ErrWrongVersion)
	after := readAll(t, s)
	require.Len(t, after, len(before)+1)
	assert.Equal(t, beforeHead.Hash, after[len(after)-1].PrevHash, "the first event after reopen links to the old head")
}
