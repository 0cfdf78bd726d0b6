package kurrenttest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Limits (style §8).
const (
	// MaxAppendBytesDefault is KurrentDB's default MaxAppendSize (1 MiB): the data, custom
	// metadata and system metadata of one append. More is refused.
	MaxAppendBytesDefault = 1 << 20
	// positionOverheadBytes is added to each event's size to advance the $all position, as
	// a record header does in KurrentDB's transaction file: positions are never 1, 2, 3.
	positionOverheadBytes = 87
	// linkType is KurrentDB's event type of a link to another event, whose data is
	// "<revision>@<stream>".
	linkType = "$>"
)

// record is one stored event.
type record struct {
	id       uuid.UUID
	stream   string
	revision uint64
	position uint64 // commit and prepare position in $all
	metadata map[string]string
	custom   []byte
	data     []byte
}

// expectation is an append's expected revision.
type expectation struct {
	kind     expectKind
	revision uint64 // for expectRevision
}

type expectKind uint8

const (
	expectAny expectKind = iota
	expectNoStream
	expectStreamExists
	expectRevision
)

func (e expectation) String() string {
	switch e.kind {
	case expectNoStream:
		return "no stream"
	case expectStreamExists:
		return "stream exists"
	case expectRevision:
		return strconv.FormatUint(e.revision, 10)
	}
	return "any"
}

// proposed is one event of an append, before it is stored.
type proposed struct {
	id       uuid.UUID
	metadata map[string]string
	custom   []byte
	data     []byte
}

// appendOutcome is what an append did.
type appendOutcome struct {
	// wrongVersion: the expectation failed; current is then the stream's last revision
	// (exists false when there is no stream).
	wrongVersion bool
	exists       bool
	current      uint64 // last revision of the stream after the append (or at the refusal)
	position     uint64 // position of the last event appended (or matched, when idempotent)
	idempotent   bool   // the events were there already; nothing was written
}

// errCorruptedIdempotency: some but not all of an append's event IDs follow its expected
// revision, which KurrentDB refuses rather than guess.
type errCorruptedIdempotency struct{ stream string }

func (e errCorruptedIdempotency) Error() string {
	return fmt.Sprintf("append to %s: some of the events were written before, not all", e.stream)
}

// memLog is the in-memory store: streams, $all and the broadcast to subscriptions.
type memLog struct {
	maxAppendBytes int

	mu      sync.Mutex
	streams map[string][]*record
	all     []*record
	next    uint64        // the next event's position
	appends chan struct{} // closed and replaced at each append that writes: wakes subscriptions
}

func newMemLog(maxAppendBytes int) *memLog {
	return &memLog{
		maxAppendBytes: maxAppendBytes,
		streams:        make(map[string][]*record),
		next:           0,
		appends:        make(chan struct{}),
	}
}

// append checks want against stream and writes events, all or nothing.
func (l *memLog) append(stream string, want expectation, events []proposed, now time.Time) (appendOutcome, error) {
	size := 0
	for _, p := range events {
		size += len(p.data) + len(p.custom)
		for k, v := range p.metadata {
			size += len(k) + len(v)
		}
	}
	if size > l.maxAppendBytes {
		return appendOutcome{}, fmt.Errorf("append to %s: %d bytes, more than the maximum append size %d", stream, size, l.maxAppendBytes)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.streams[stream]
	out := appendOutcome{exists: len(s) > 0}
	if out.exists {
		out.current = uint64(len(s) - 1)
		out.position = s[len(s)-1].position
	}
	// Idempotency, as KurrentDB checks it: the events already follow the expected revision
	// (for a number or NoStream), or follow wherever the first one is (for Any and
	// StreamExists).
	switch from, check := idempotencyStart(s, want, events); {
	case check && len(events) > 0:
		matched := 0
		for i, p := range events {
			if from+i >= len(s) || s[from+i].id != p.id {
				break
			}
			matched++
		}
		switch {
		case matched == len(events):
			last := s[from+len(events)-1]
			return appendOutcome{exists: true, current: last.revision, position: last.position, idempotent: true}, nil
		case matched > 0:
			return appendOutcome{}, errCorruptedIdempotency{stream: stream}
		}
	}
	switch want.kind {
	case expectNoStream:
		out.wrongVersion = out.exists
	case expectStreamExists:
		out.wrongVersion = !out.exists
	case expectRevision:
		out.wrongVersion = !out.exists || out.current != want.revision
	}
	if out.wrongVersion || len(events) == 0 {
		return out, nil
	}
	created := strconv.FormatInt(now.UnixNano()/100, 10) // .NET ticks since the Unix epoch, as KurrentDB sends them
	for _, p := range events {
		md := make(map[string]string, len(p.metadata)+1)
		for k, v := range p.metadata {
			md[k] = v
		}
		md["created"] = created
		r := &record{id: p.id, stream: stream, revision: uint64(len(s)), position: l.next,
			metadata: md, custom: p.custom, data: p.data}
		l.next += uint64(len(p.data)+len(p.custom)) + positionOverheadBytes
		s = append(s, r)
		l.all = append(l.all, r)
	}
	l.streams[stream] = s
	last := s[len(s)-1]
	close(l.appends)
	l.appends = make(chan struct{})
	return appendOutcome{exists: true, current: last.revision, position: last.position}, nil
}

// idempotencyStart says where events would already be if this append were a retry.
func idempotencyStart(s []*record, want expectation, events []proposed) (int, bool) {
	switch want.kind {
	case expectNoStream:
		return 0, len(s) > 0
	case expectRevision:
		return int(want.revision) + 1, uint64(len(s)) > want.revision+1
	}
	if len(events) == 0 {
		return 0, false
	}
	for i, r := range s {
		if r.id == events[0].id {
			return i, true
		}
	}
	return 0, false
}

// streamRange returns up to count events of stream from revision from (inclusive), forwards
// or backwards; found is false when the stream does not exist. from < 0 means the end.
func (l *memLog) streamRange(stream string, from int64, forwards bool, count uint64) ([]*record, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.streams[stream]
	if !ok {
		return nil, false
	}
	return pick(s, from, forwards, count), true
}

// allRange returns up to count events of $all from position from, forwards (from the first
// event at or after from) or backwards (from the last event before from; from the last
// event when end is set).
func (l *memLog) allRange(from uint64, end, forwards bool, count uint64, keep func(*record) bool) []*record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*record
	if forwards {
		i := len(l.all)
		if !end {
			i = sort.Search(len(l.all), func(i int) bool { return l.all[i].position >= from })
		}
		for ; i < len(l.all) && uint64(len(out)) < count; i++ {
			if keep(l.all[i]) {
				out = append(out, l.all[i])
			}
		}
		return out
	}
	i := len(l.all) - 1
	if !end {
		i = sort.Search(len(l.all), func(i int) bool { return l.all[i].position >= from }) - 1
	}
	for ; i >= 0 && uint64(len(out)) < count; i-- {
		if keep(l.all[i]) {
			out = append(out, l.all[i])
		}
	}
	return out
}

// pick returns up to count records of s from index from (from < 0: the end).
func pick(s []*record, from int64, forwards bool, count uint64) []*record {
	var out []*record
	if forwards {
		if from < 0 {
			return nil
		}
		for i := from; i < int64(len(s)) && uint64(len(out)) < count; i++ {
			out = append(out, s[i])
		}
		return out
	}
	if from < 0 || from >= int64(len(s)) {
		from = int64(len(s)) - 1
	}
	for i := from; i >= 0 && uint64(len(out)) < count; i-- {
		out = append(out, s[i])
	}
	return out
}

// streamAfter returns up to count events of stream after index next-1, and the channel
// closed at the next append.
func (l *memLog) streamAfter(stream string, next uint64, count int) ([]*record, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.streams[stream]
	var out []*record
	for i := next; i < uint64(len(s)) && len(out) < count; i++ {
		out = append(out, s[i])
	}
	return out, l.appends
}

// allAfter returns up to count events of $all from index next, and the channel closed at
// the next append.
func (l *memLog) allAfter(next int, count int) ([]*record, <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
	end := min(len(l.all), next+count)
	if next >= end {
		return nil, l.appends
	}
	return append([]*record(nil), l.all[next:end]...), l.appends
}

// allIndex returns the index in $all of the first event after position p (exclusive), or of
// the end.
func (l *memLog) allIndex(p uint64, start, end bool) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case start:
		return 0
	case end:
		return len(l.all)
	}
	return sort.Search(len(l.all), func(i int) bool { return l.all[i].position > p })
}

// streamEnd returns the number of events in stream.
func (l *memLog) streamEnd(stream string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return uint64(len(l.streams[stream]))
}

// resolve returns the event a link points to, or nil when it points nowhere.
func (l *memLog) resolve(link *record) *record {
	if link.metadata["type"] != linkType {
		return nil
	}
	n, stream, ok := strings.Cut(string(link.data), "@")
	if !ok {
		return nil
	}
	rev, err := strconv.ParseUint(n, 10, 64)
	if err != nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.streams[stream]
	if rev >= uint64(len(s)) {
		return nil
	}
	return s[rev]
}
