package kurrenttest_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/eventstore/kurrent/kurrenttest"
)

// waitTimeout bounds every wait for a subscription message.
const waitTimeout = 5 * time.Second

// connect starts a server and connects the client v4.2.0 to it, as the adapter does.
func connect(t *testing.T) (*kurrenttest.Server, *esdb.Client) {
	t.Helper()
	srv := kurrenttest.Start(t)
	cfg, err := esdb.ParseConnectionString(srv.URL())
	require.NoError(t, err)
	cfg.Logger = esdb.NoopLogging()
	c, err := esdb.NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return srv, c
}

func events(n int) []esdb.EventData {
	out := make([]esdb.EventData, n)
	for i := range out {
		out[i] = esdb.EventData{EventID: uuid.New(), EventType: "Tested", ContentType: esdb.ContentTypeJson, Data: []byte(`{"n":1}`)}
	}
	return out
}

func appendTo(t *testing.T, c *esdb.Client, stream string, want esdb.ExpectedRevision, es ...esdb.EventData) (*esdb.WriteResult, error) {
	t.Helper()
	return c.AppendToStream(context.Background(), stream, esdb.AppendToStreamOptions{ExpectedRevision: want}, es...)
}

func readStream(t *testing.T, c *esdb.Client, stream string, opts esdb.ReadStreamOptions, count uint64) ([]*esdb.ResolvedEvent, error) {
	t.Helper()
	rs, err := c.ReadStream(context.Background(), stream, opts, count)
	require.NoError(t, err)
	defer rs.Close()
	var out []*esdb.ResolvedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
}

func wrongVersion(err error) bool {
	var e *esdb.Error
	return errors.As(err, &e) && e.Code() == esdb.ErrorCodeWrongExpectedVersion
}

// Goal: an append checks its expected revision as KurrentDB does, for each kind.
func TestAppendExpectedRevision(t *testing.T) {
	_, c := connect(t)
	for i, tc := range []struct {
		name     string
		existing int // events in the stream before
		want     esdb.ExpectedRevision
		ok       bool
	}{
		{"no stream on a new stream appends", 0, esdb.NoStream{}, true},
		{"no stream on an existing stream is wrong", 2, esdb.NoStream{}, false},
		{"the last revision appends", 2, esdb.Revision(1), true},
		{"a revision behind is wrong", 2, esdb.Revision(0), false},
		{"a revision ahead is wrong", 2, esdb.Revision(5), false},
		{"a revision on a new stream is wrong", 0, esdb.Revision(0), false},
		{"stream exists on a new stream is wrong", 0, esdb.StreamExists{}, false},
		{"stream exists on an existing stream appends", 2, esdb.StreamExists{}, true},
		{"any on a new stream appends", 0, esdb.Any{}, true},
		{"any on an existing stream appends", 2, esdb.Any{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stream := "rev-" + string(rune('a'+i))
			if tc.existing > 0 {
				_, err := appendTo(t, c, stream, esdb.NoStream{}, events(tc.existing)...)
				require.NoError(t, err)
			}
			res, err := appendTo(t, c, stream, tc.want, events(1)...)
			if !tc.ok {
				assert.True(t, wrongVersion(err), "got %v, want a wrong expected version", err)
				got, _ := readStream(t, c, stream, esdb.ReadStreamOptions{}, 10)
				assert.Len(t, got, tc.existing, "events after a refused append")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, uint64(tc.existing), res.NextExpectedVersion, "revision of the appended event")
		})
	}
}

// Goal: appending the same event IDs again is KurrentDB's idempotent write: success,
// nothing written; some but not all of them is refused.
func TestAppendIdempotent(t *testing.T) {
	_, c := connect(t)
	first := events(3)
	_, err := appendTo(t, c, "idem", esdb.NoStream{}, first...)
	require.NoError(t, err)
	_, err = appendTo(t, c, "idem", esdb.Revision(2), events(1)...)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		want esdb.ExpectedRevision
		es   []esdb.EventData
		ok   bool
	}{
		{"same ids at the same expected revision", esdb.NoStream{}, first, true},
		{"same ids with any", esdb.Any{}, first, true},
		{"a prefix of them at their revision", esdb.NoStream{}, first[:2], true},
		{"some of them and a new one", esdb.NoStream{}, append(append([]esdb.EventData(nil), first[:2]...), events(1)...), false},
		{"same ids at another revision", esdb.Revision(0), first, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := appendTo(t, c, "idem", tc.want, tc.es...)
			if tc.ok {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
			}
			got, err := readStream(t, c, "idem", esdb.ReadStreamOptions{}, 100)
			require.NoError(t, err)
			assert.Len(t, got, 4, "events in the stream")
		})
	}
}

// Goal: stream reads go forwards or backwards from a revision with a count; a missing
// stream is StreamNotFound; $all positions grow with gaps; links resolve on request.
func TestRead(t *testing.T) {
	_, c := connect(t)
	_, err := appendTo(t, c, "a", esdb.NoStream{}, events(5)...)
	require.NoError(t, err)
	_, err = appendTo(t, c, "b", esdb.NoStream{}, events(2)...)
	require.NoError(t, err)
	revisions := func(evs []*esdb.ResolvedEvent) []uint64 {
		var out []uint64
		for _, e := range evs {
			out = append(out, e.OriginalEvent().EventNumber)
		}
		return out
	}

	got, err := readStream(t, c, "a", esdb.ReadStreamOptions{From: esdb.Revision(1)}, 3)
	require.NoError(t, err)
	assert.Equal(t, []uint64{1, 2, 3}, revisions(got), "forwards from 1, count 3")
	got, err = readStream(t, c, "a", esdb.ReadStreamOptions{From: esdb.End{}, Direction: esdb.Backwards}, 2)
	require.NoError(t, err)
	assert.Equal(t, []uint64{4, 3}, revisions(got), "backwards from the end, count 2")
	_, err = readStream(t, c, "nobody", esdb.ReadStreamOptions{}, 1)
	var e *esdb.Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, esdb.ErrorCodeResourceNotFound, e.Code())

	rs, err := c.ReadAll(context.Background(), esdb.ReadAllOptions{}, 100)
	require.NoError(t, err)
	var positions []uint64
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		p := ev.OriginalEvent().Position
		assert.Equal(t, p.Commit, p.Prepare)
		positions = append(positions, p.Commit)
	}
	rs.Close()
	require.Len(t, positions, 7)
	for i := 1; i < len(positions); i++ {
		assert.Greater(t, positions[i], positions[i-1]+1, "positions grow with gaps, as byte offsets")
	}

	link := esdb.EventData{EventID: uuid.New(), EventType: "$>", ContentType: esdb.ContentTypeBinary, Data: []byte("3@a")}
	dangling := esdb.EventData{EventID: uuid.New(), EventType: "$>", ContentType: esdb.ContentTypeBinary, Data: []byte("9@a")}
	_, err = appendTo(t, c, "links", esdb.NoStream{}, link, dangling)
	require.NoError(t, err)
	got, err = readStream(t, c, "links", esdb.ReadStreamOptions{ResolveLinkTos: true}, 10)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.NotNil(t, got[0].Event)
	assert.Equal(t, "a", got[0].Event.StreamID)
	assert.Equal(t, uint64(3), got[0].Event.EventNumber)
	assert.Equal(t, "links", got[0].Link.StreamID)
	assert.Nil(t, got[1].Event, "a link to nothing resolves to no event")
}

// next takes the next subscription message that is not a checkpoint, within waitTimeout.
func next(t *testing.T, sub *esdb.Subscription) *esdb.SubscriptionEvent {
	t.Helper()
	c := make(chan *esdb.SubscriptionEvent, 1)
	go func() { c <- sub.Recv() }() // ends with the message, or when the subscription is closed
	select {
	case ev := <-c:
		return ev
	case <-time.After(waitTimeout):
		require.FailNow(t, "timeout", "waited %s for a subscription message", waitTimeout)
		return nil
	}
}

// Goal: a stream subscription starts after its revision, sends the stored events, CaughtUp
// once, then live events; DropSubscriptions drops it, keeping the data.
func TestSubscribeStream(t *testing.T) {
	srv, c := connect(t)
	_, err := appendTo(t, c, "s", esdb.NoStream{}, events(4)...)
	require.NoError(t, err)
	sub, err := c.SubscribeToStream(context.Background(), "s", esdb.SubscribeToStreamOptions{From: esdb.Revision(1)})
	require.NoError(t, err)
	defer sub.Close()
	for _, want := range []uint64{2, 3} {
		ev := next(t, sub)
		require.NotNil(t, ev.EventAppeared, "event %d", want)
		assert.Equal(t, want, ev.EventAppeared.OriginalEvent().EventNumber)
	}
	assert.NotNil(t, next(t, sub).CaughtUp, "caught up after the stored events")
	_, err = appendTo(t, c, "s", esdb.Revision(3), events(1)...)
	require.NoError(t, err)
	ev := next(t, sub)
	require.NotNil(t, ev.EventAppeared, "live event")
	assert.Equal(t, uint64(4), ev.EventAppeared.OriginalEvent().EventNumber)

	srv.DropSubscriptions()
	assert.NotNil(t, next(t, sub).SubscriptionDropped, "dropped")
	got, err := readStream(t, c, "s", esdb.ReadStreamOptions{}, 10)
	require.NoError(t, err)
	assert.Len(t, got, 5, "events after the drop")
}

// Goal: a $all subscription with a stream-prefix filter delivers the matching events only,
// and checkpoints.
func TestSubscribeAllFiltered(t *testing.T) {
	_, c := connect(t)
	for i := range 4 {
		_, err := appendTo(t, c, []string{"keep-1", "skip-1"}[i%2], esdb.Any{}, events(2)...)
		require.NoError(t, err)
	}
	sub, err := c.SubscribeToAll(context.Background(), esdb.SubscribeToAllOptions{From: esdb.Start{},
		Filter: &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{"keep-"}}, MaxSearchWindow: 2, CheckpointInterval: 1})
	require.NoError(t, err)
	defer sub.Close()
	kept, checkpoints := 0, 0
	for kept < 4 || checkpoints == 0 {
		ev := next(t, sub)
		switch {
		case ev.EventAppeared != nil:
			assert.True(t, strings.HasPrefix(ev.EventAppeared.OriginalEvent().StreamID, "keep-"), "stream %s", ev.EventAppeared.OriginalEvent().StreamID)
			kept++
		case ev.CheckPointReached != nil:
			checkpoints++
		case ev.SubscriptionDropped != nil:
			require.FailNow(t, "dropped", "%v", ev.SubscriptionDropped.Error)
		}
	}
	assert.Equal(t, 4, kept)
}

// Goal: an append larger than MaxAppendBytes is refused, as KurrentDB's MaxAppendSize.
func TestMaxAppendBytes(t *testing.T) {
	_, c := connect(t)
	big := events(1)
	big[0].Data = []byte(`"` + strings.Repeat("x", kurrenttest.MaxAppendBytesDefault) + `"`)
	_, err := appendTo(t, c, "big", esdb.Any{}, big...)
	require.Error(t, err)
	_, err = readStream(t, c, "big", esdb.ReadStreamOptions{}, 1)
	assert.Error(t, err, "nothing written")
}
