package kurrent

import (
	"bytes"
	"sync"

	"github.com/encours/encours/domain"
)

// streamCacheEventsMax bounds the events the stream cache holds. Full: cleared, and streams
// are read from KurrentDB again. 50 000 events of ~1 KiB is ~50 MiB.
const streamCacheEventsMax = 50_000

// streamCache keeps the decoded events of streams from version 1: events never change once
// appended, so ReadStream asks KurrentDB only for the stream's current version and for the
// events the cache lacks (see ReadStream).
type streamCache struct {
	mu      sync.Mutex
	streams map[string][]domain.Envelope // events of versions 1..len
	events  int
}

// get copies the cached events of stream from version from to version to (inclusive, or
// as far as cached).
func (c *streamCache) get(stream string, from, to uint64) []domain.Envelope {
	c.mu.Lock()
	defer c.mu.Unlock()
	es := c.streams[stream]
	if from < 1 || from > uint64(len(es)) || to < from {
		return nil
	}
	es = es[from-1 : min(to, uint64(len(es)))]
	out := make([]domain.Envelope, len(es))
	for i := range es {
		out[i] = cloneEnvelope(&es[i])
	}
	return out
}

// add appends es to stream's cached events if they follow them (es[0] is the next version).
func (c *streamCache) add(stream string, es []domain.Envelope) {
	if len(es) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	cached := c.streams[stream]
	if es[0].StreamVersion != uint64(len(cached))+1 {
		return
	}
	if c.events+len(es) > streamCacheEventsMax {
		clear(c.streams)
		c.events = 0
		if es[0].StreamVersion != 1 {
			return
		}
		cached = nil
	}
	if c.streams == nil {
		c.streams = make(map[string][]domain.Envelope)
	}
	for i := range es {
		cached = append(cached, cloneEnvelope(&es[i]))
	}
	c.streams[stream] = cached
	c.events += len(es)
}

// cloneEnvelope copies e with its own Data and RequestHash, so callers and the cache never
// share bytes.
func cloneEnvelope(e *domain.Envelope) domain.Envelope {
	c := *e
	c.Data = bytes.Clone(e.Data)
	c.RequestHash = bytes.Clone(e.RequestHash)
	return c
}
