package kurrent

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// Subscribe delivers every event with Position >= fromPosition, in order: a KurrentDB
// catch-up subscription to the log stream, from the revision before fromPosition. KurrentDB
// switches it from the stored events to live ones with no gap or duplicate; the adapter
// checks each event's position and hash link anyway, and subscribes again after a drop from
// the next position (subscribeRetriesMax times in a row at most).
func (s *Store) Subscribe(ctx context.Context, fromPosition uint64) (eventstore.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return nil, fmt.Errorf("subscribe from %d: %w", fromPosition, eventstore.ErrClosed)
	}
	s.subs.Add(1) // Close waits for it; it cancels stopCtx first, which ends subscribeLog too
	s.closeMu.RUnlock()
	from := max(fromPosition, 1)
	ctx, cancel := context.WithCancel(ctx)
	stopOnClose := context.AfterFunc(s.stopCtx, cancel)
	es, err := s.subscribeLog(ctx, from)
	if err != nil {
		stopOnClose()
		cancel()
		s.subs.Done()
		return nil, fmt.Errorf("subscribe from %d: %w", from, err)
	}
	sub := &subscription{c: make(chan domain.Envelope, subscribeBufferMax)}
	go func() { // ends when ctx is done, the store closes, or the subscription fails
		defer s.subs.Done()
		defer stopOnClose()
		defer cancel()
		s.runSubscription(ctx, sub, es, from)
	}()
	return sub, nil
}

// subscribeLog starts a catch-up subscription to the log from position from, and waits at
// most CallTimeout for the server's confirmation.
func (s *Store) subscribeLog(ctx context.Context, from uint64) (*esdb.Subscription, error) {
	var start esdb.StreamPosition = esdb.Start{}
	if from > 1 {
		start = esdb.Revision(from - 2) // exclusive: the next event is revision from-1, position from
	}
	subCtx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(s.opts.CallTimeout, cancel)
	es, err := do(subCtx, s, func(ctx context.Context, c *esdb.Client) (*esdb.Subscription, error) {
		// No Deadline: it would end the subscription. The timer bounds the confirmation.
		return c.SubscribeToStream(ctx, s.logStream, esdb.SubscribeToStreamOptions{From: start, RequiresLeader: true})
	})
	if !timer.Stop() {
		if es != nil {
			es.Close()
		}
		return nil, fmt.Errorf("no confirmation within %s: %w", s.opts.CallTimeout, context.DeadlineExceeded)
	}
	if err != nil {
		cancel()
		return nil, err
	}
	return es, nil // subCtx ends with ctx, and the subscription with it
}

// runSubscription forwards es's events to sub from position next, and subscribes again
// after a drop.
func (s *Store) runSubscription(ctx context.Context, sub *subscription, es *esdb.Subscription, next uint64) {
	defer close(sub.c)
	var prev domain.Hash // hash of position next-1, once an event was delivered
	linked, failures := false, 0
	var scratch []byte
	for { // until ctx is done, or the subscription fails subscribeRetriesMax times in a row
		ev := es.Recv()
		switch {
		case ev.EventAppeared != nil:
			e, _, sc, err := decodeLogEvent(ev.EventAppeared.OriginalEvent(), scratch)
			scratch = sc
			switch {
			case err != nil:
				es.Close()
				sub.setErr(fmt.Errorf("subscription at position %d: %w", next, err))
				return
			case e.Position < next:
				continue // at or before the start: a server whose start is inclusive
			case e.Position > next:
				es.Close()
				sub.setErr(fmt.Errorf("subscription at position %d: got position %d: %w", next, e.Position, eventstore.ErrCorrupt))
				return
			case linked && e.PrevHash != prev:
				es.Close()
				sub.setErr(fmt.Errorf("position %d: prev_hash %s, previous event's hash %s: %w", e.Position, e.PrevHash, prev, eventstore.ErrCorrupt))
				return
			}
			select {
			case sub.c <- e:
			case <-ctx.Done():
				es.Close()
				return
			}
			next, prev, linked, failures = e.Position+1, e.Hash, true, 0
		case ev.SubscriptionDropped != nil:
			es.Close()
			if ctx.Err() != nil {
				return // cancelled, or the store closed: a clean end
			}
			var err error
			for es = nil; es == nil; {
				failures++
				if failures > subscribeRetriesMax {
					sub.setErr(fmt.Errorf("subscription at position %d dropped %d times, last: %v: %w", next, failures-1, ev.SubscriptionDropped.Error, err))
					return
				}
				backoff := backoffMax << min(failures-1, 6) // 50 ms .. 3.2 s
				select {
				case <-time.After(backoff/2 + rand.N(backoff/2+1)):
				case <-ctx.Done():
					return
				}
				if es, err = s.subscribeLog(ctx, next); err != nil && ctx.Err() != nil {
					return
				}
				if err != nil {
					s.log.Warn("kurrent: resubscribe", "position", next, "err", err)
				}
			}
		default: // caught up, fell behind, checkpoint: nothing to do
		}
	}
}

// subscription is a running subscription.
type subscription struct {
	c   chan domain.Envelope
	mu  sync.Mutex
	err error
}

// C delivers the events in position order; it is closed when the subscription ends.
func (s *subscription) C() <-chan domain.Envelope { return s.c }

// Err says why C was closed: nil after the context ended or the store closed.
func (s *subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *subscription) setErr(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}
