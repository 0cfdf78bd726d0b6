package alerting

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/projections/ledger"
	"github.com/encours/encours/projections/signals"
)

// Limits (style §8).
const (
	// evaluatorBatchMax is the events the evaluator applies before it evaluates: under load
	// a batch grows to it and one evaluation covers every customer the batch touched.
	evaluatorBatchMax = 1024
	// ackRetriesMax bounds the attempts to append an acknowledgement that lost a race on
	// the alert stream's version (another acknowledgement, an escalation).
	ackRetriesMax = 5
	// ackCommentBytesMax bounds an acknowledgement's comment.
	ackCommentBytesMax = 2000
)

// ErrUnknownAlert: no alert has this id.
var ErrUnknownAlert = errors.New("unknown alert")

// ErrAlertResolved: the alert is resolved; it can no longer be acknowledged.
var ErrAlertResolved = errors.New("alert resolved")

// EvaluatorOptions configure NewEvaluator.
type EvaluatorOptions struct {
	// Config holds the signals' thresholds. Default signals.DefaultConfig().
	Config *signals.Config
	// Today is the business date (the daemon's clock): a batch is evaluated at the date of
	// the last tick, and Run ticks when Today moves. Required.
	Today func() domain.Date
	// Clock gives the instant behind event ids. Default time.Now.
	Clock func() time.Time
	// Actor is recorded on the alert events the evaluator appends. Default "alerting".
	Actor string
	// TickPoll is how often Run looks at Today for a new business day. Default 1 s.
	TickPoll time.Duration
	// Logger receives evaluation errors and conflicts. Default: discard.
	Logger *slog.Logger
	// SnapshotPath, when set, is where Run keeps the evaluator's folded state (the ledger
	// model, the signals' facts and the alert book) when it stops, and where it starts from:
	// a restart folds only the events appended since instead of the whole log.
	SnapshotPath string
}

// EvaluatorStats are cumulative counters since Run started, for metrics.
type EvaluatorStats struct {
	Position       uint64 // last envelope applied
	Ticks          uint64
	Evaluations    uint64 // batch evaluations and ticks
	Raised         uint64 // AlertRaised appended for a new alert
	Escalated      uint64 // AlertRaised appended on an open alert
	Resolved       uint64 // AlertResolved appended
	Conflicts      uint64 // appends that lost a race on a stream version, retried
	Errors         uint64 // evaluations that failed (logged)
	LastEvaluation time.Duration
	// Snapshot: whether Run started from one and at which position, why one was discarded,
	// and the one written when Run stopped.
	SnapshotLoaded    bool
	SnapshotPosition  uint64
	SnapshotDiscarded string
	SnapshotWrittenAt uint64
}

// Evaluator follows the log and keeps the alerts in step with the signals (package doc).
// Its read methods are safe for concurrent use with Run.
type Evaluator struct {
	store eventstore.Store
	cfg   *signals.Config
	today func() domain.Date
	clock func() time.Time
	actor string
	poll  time.Duration
	log   *slog.Logger
	ids   uuidGen
	// snapPath is EvaluatorOptions.SnapshotPath.
	snapPath string

	tickC chan tickRequest

	mu          sync.RWMutex // guards what follows; Run holds it to apply and evaluate
	model       *ledger.Model
	facts       *signals.Facts
	book        *Book
	touched     map[domain.CustomerID]bool
	asOf        domain.Date // date of the last tick; batches are evaluated at it
	ticked      bool
	lastDay     domain.Date // Today at the last tick Run made on its own
	settledOnce bool
	live        bool   // caught up with the head found at start: evaluations may run
	pending     uint64 // position of our last append, until the subscription brings it back
	settled     uint64 // everything up to here is applied and evaluated
	progress    chan struct{}
	stats       EvaluatorStats
}

type tickRequest struct {
	asOf domain.Date
	done chan error
}

// NewEvaluator returns an evaluator over store. It panics on a nil store or Today, or an
// invalid Config (wiring errors).
func NewEvaluator(store eventstore.Store, opts EvaluatorOptions) *Evaluator {
	if store == nil || opts.Today == nil {
		panic("alerting.NewEvaluator: nil store or Today")
	}
	cfg := opts.Config
	if cfg == nil {
		c := signals.DefaultConfig()
		cfg = &c
	}
	if err := cfg.Validate(); err != nil {
		panic("alerting.NewEvaluator: " + err.Error())
	}
	e := &Evaluator{store: store, cfg: cfg, today: opts.Today, clock: opts.Clock, actor: opts.Actor, poll: opts.TickPoll,
		log: opts.Logger, snapPath: opts.SnapshotPath, tickC: make(chan tickRequest),
		model: ledger.New(), facts: signals.NewFacts(), book: NewBook(), touched: map[domain.CustomerID]bool{},
		progress: make(chan struct{})}
	if e.clock == nil {
		e.clock = time.Now
	}
	if e.actor == "" {
		e.actor = "alerting"
	}
	if e.poll <= 0 {
		e.poll = time.Second
	}
	if e.log == nil {
		e.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return e
}

// Run follows the log from the start until ctx is done (nil) or the store's subscription or
// an apply fails (the error). While it replays the log found at start it only folds; once
// caught up it ticks at Today and from then on evaluates after each batch and at each new
// business day. It must be called once.
func (e *Evaluator) Run(ctx context.Context) error {
	head, err := e.store.Head(ctx)
	if err != nil {
		return fmt.Errorf("alerting: evaluator head: %w", err)
	}
	from, err := e.loadSnapshot(ctx)
	if err != nil {
		return err
	}
	if err := e.run(ctx, head, from); err != nil {
		return err
	}
	e.saveSnapshot()
	return nil
}

// run is Run from position from (1, or the one after the snapshot's).
func (e *Evaluator) run(ctx context.Context, head eventstore.Head, from uint64) error {
	sub, err := e.store.Subscribe(ctx, from)
	if err != nil {
		return fmt.Errorf("alerting: evaluator subscribe: %w", err)
	}
	poll := time.NewTicker(e.poll)
	defer poll.Stop()
	var waiting []tickRequest
	e.step(ctx, head.Position, nil, &waiting)
	for { // until ctx is done or the subscription ends
		select {
		case env, ok := <-sub.C():
			if !ok {
				e.failTicks(ctx, waiting)
				if err := sub.Err(); err != nil {
					return fmt.Errorf("alerting: evaluator subscription: %w", err)
				}
				return nil
			}
			batch := []domain.Envelope{env}
		drain:
			for len(batch) < evaluatorBatchMax {
				select {
				case env, ok := <-sub.C():
					if !ok {
						break drain
					}
					batch = append(batch, env)
				default:
					break drain
				}
			}
			if err := e.apply(batch); err != nil {
				e.failTicks(ctx, waiting)
				return err
			}
			e.step(ctx, head.Position, nil, &waiting)
		case req := <-e.tickC:
			e.step(ctx, head.Position, &req, &waiting)
		case <-poll.C:
			e.step(ctx, head.Position, nil, &waiting)
		case <-ctx.Done():
			e.failTicks(ctx, waiting)
			return nil
		}
	}
}

func (e *Evaluator) failTicks(ctx context.Context, waiting []tickRequest) {
	for _, w := range waiting {
		w.done <- fmt.Errorf("alerting: evaluator stopped before the tick at %s: %w", w.asOf, cmpErr(ctx.Err(), eventstore.ErrClosed))
	}
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// apply folds a batch into the model, the facts and the book, and notes the customers it
// touched.
func (e *Evaluator) apply(batch []domain.Envelope) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, env := range batch {
		if err := e.model.Apply(env); err != nil {
			return fmt.Errorf("alerting: evaluator: %w", err)
		}
		if err := e.facts.Apply(env); err != nil {
			return fmt.Errorf("alerting: evaluator: %w", err)
		}
		if err := e.book.Apply(env); err != nil {
			return err
		}
		if c, ok := strings.CutPrefix(env.Stream, domain.CustomerStreamPrefix); ok {
			e.touched[domain.CustomerID(c)] = true
		}
	}
	e.stats.Position = e.model.Position()
	return nil
}

// step evaluates what is due: nothing while replaying the log found at start or while our
// own appends are not back; then a tick (requested, or because Today moved, or the first
// one once live), or else the customers touched since the last evaluation.
func (e *Evaluator) step(ctx context.Context, headAtStart uint64, req *tickRequest, waiting *[]tickRequest) {
	if req != nil {
		*waiting = append(*waiting, *req)
	}
	e.mu.Lock()
	pos := e.model.Position()
	if !e.live && pos >= headAtStart {
		e.live = true
	}
	if !e.live || pos < e.pending {
		e.mu.Unlock()
		return
	}
	var asOf domain.Date
	tick := false
	switch {
	case len(*waiting) > 0:
		asOf, tick = (*waiting)[0].asOf, true
	case !e.ticked || e.today() != e.lastDay:
		asOf, tick = e.today(), true
		e.lastDay = asOf
	case len(e.touched) > 0:
		asOf = e.asOf
	default:
		e.settle(pos)
		e.mu.Unlock()
		return
	}
	scope := signals.Scope{All: tick}
	if !tick {
		scope.Customers = sortedCustomers(e.touched)
	}
	start := time.Now()
	changes, planErr := e.plan(asOf, scope)
	e.touched = map[domain.CustomerID]bool{}
	if tick {
		e.asOf, e.ticked = asOf, true
		e.stats.Ticks++
	}
	e.stats.Evaluations++
	versions := make(map[string]uint64, len(changes))
	for _, c := range changes {
		versions[c.Stream] = e.book.versions[c.Stream]
	}
	e.mu.Unlock()

	if planErr != nil {
		e.log.Error("alert evaluation failed", "as_of", asOf, "err", planErr)
		e.count(func(s *EvaluatorStats) { s.Errors++ })
	}
	last, conflict, err := e.append(ctx, changes, versions)
	if err == nil {
		err = planErr
	}
	e.mu.Lock()
	e.stats.LastEvaluation = time.Since(start)
	switch {
	case conflict:
		// Another writer appended to an alert stream (an acknowledgement, another node):
		// catch up with the log, then evaluate the same scope again.
		e.stats.Conflicts++
		if h, herr := e.store.Head(ctx); herr == nil {
			e.pending = max(e.pending, h.Position)
		}
		if tick {
			e.ticked = false
		}
		for _, c := range scope.Customers {
			e.touched[c] = true
		}
	case err != nil && planErr == nil:
		e.log.Error("alert append failed", "as_of", asOf, "err", err)
		e.stats.Errors++
	}
	e.pending = max(e.pending, last)
	if tick && !conflict && len(*waiting) > 0 && (*waiting)[0].asOf == asOf {
		(*waiting)[0].done <- err
		*waiting = (*waiting)[1:]
	}
	if e.model.Position() >= e.pending && len(e.touched) == 0 && len(*waiting) == 0 {
		e.settle(e.model.Position())
	}
	e.mu.Unlock()
}

// settle records that everything up to pos is applied and evaluated, and wakes the waiters.
// e.mu is held.
func (e *Evaluator) settle(pos uint64) {
	if pos > e.settled || !e.settledOnce {
		e.settled, e.settledOnce = pos, true
		close(e.progress)
		e.progress = make(chan struct{})
	}
}

func (e *Evaluator) count(fn func(*EvaluatorStats)) {
	e.mu.Lock()
	fn(&e.stats)
	e.mu.Unlock()
}

func sortedCustomers(m map[domain.CustomerID]bool) []domain.CustomerID {
	out := make([]domain.CustomerID, 0, len(m))
	for c := range m {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// plan evaluates the signals over scope at asOf and returns the alert events that reconcile
// the book with them. e.mu is held.
func (e *Evaluator) plan(asOf domain.Date, scope signals.Scope) ([]Change, error) {
	sigs, err := signals.Evaluate(e.model, e.facts, asOf, e.cfg, scope)
	if err != nil {
		return nil, err
	}
	return Plan(e.book, sigs, scope, asOf)
}

// append appends the changes stream by stream with the versions the plan was made on. It
// returns the last position appended, and conflict when a stream's version had moved (the
// remaining streams are not appended: the caller re-evaluates after catching up).
func (e *Evaluator) append(ctx context.Context, changes []Change, versions map[string]uint64) (last uint64, conflict bool, err error) {
	for i := 0; i < len(changes); {
		stream := changes[i].Stream
		j := i
		for j < len(changes) && changes[j].Stream == stream && j-i < eventstore.AppendEventsMax {
			j++
		}
		req := eventstore.AppendRequest{Stream: stream, ExpectedVersion: int64(versions[stream])}
		for _, c := range changes[i:j] {
			env, err := e.envelope(stream, c.Event)
			if err != nil {
				return last, false, err
			}
			req.Events = append(req.Events, env)
		}
		res, err := e.store.Append(ctx, req)
		switch {
		case errors.Is(err, eventstore.ErrWrongVersion):
			return last, true, nil
		case err != nil:
			return last, false, fmt.Errorf("alerting: append %s at v%d: %w", stream, versions[stream], err)
		}
		versions[stream] = res.StreamVersion
		last = max(last, res.Position)
		e.count(func(s *EvaluatorStats) {
			for _, c := range changes[i:j] {
				switch ev := c.Event.(type) {
				case domain.AlertRaised:
					if _, ok := e.book.alerts[ev.AlertID]; ok {
						s.Escalated++
					} else {
						s.Raised++
					}
				case domain.AlertResolved:
					s.Resolved++
				}
			}
		})
		i = j
	}
	return last, false, nil
}

func (e *Evaluator) envelope(stream string, ev domain.Event) (domain.Envelope, error) {
	data, err := domain.EncodeEvent(ev)
	if err != nil {
		return domain.Envelope{}, fmt.Errorf("alerting: encode %s: %w", ev.EventType(), err)
	}
	return domain.Envelope{EventID: e.ids.newID(e.clock()), Stream: stream, Type: ev.EventType(),
		SchemaVersion: domain.CurrentSchemaVersion, EffectiveOn: ev.Effective(), Actor: e.actor, Data: data}, nil
}

// Tick evaluates every customer and the portfolio at asOf (the daily tick) and waits until
// the alert events it appended are folded back. It fails when ctx ends or Run stops first.
func (e *Evaluator) Tick(ctx context.Context, asOf domain.Date) error {
	req := tickRequest{asOf: asOf, done: make(chan error, 1)}
	select {
	case e.tickC <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	e.mu.RLock()
	pending := e.pending
	e.mu.RUnlock()
	return e.WaitFor(ctx, pending)
}

// WaitFor waits until every event up to position is applied and evaluated, and the alert
// events that evaluation appended are folded back (read-your-writes for the API and tests).
func (e *Evaluator) WaitFor(ctx context.Context, position uint64) error {
	for { // until settled far enough or ctx ends
		e.mu.RLock()
		ok := e.settled >= position && e.settled >= e.pending
		ch := e.progress
		e.mu.RUnlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("alerting: wait for position %d: %w", position, ctx.Err())
		}
	}
}

// Stats returns the evaluator's counters.
func (e *Evaluator) Stats() EvaluatorStats {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.stats
}

// Alerts returns the alerts that match f, newest first.
func (e *Evaluator) Alerts(f Filter) []Alert {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.book.List(f)
}

// AlertsPage is Alerts with the number of alerts that match f, whatever the page.
func (e *Evaluator) AlertsPage(f Filter) ([]Alert, int) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.book.Page(f)
}

// Alert returns one alert.
func (e *Evaluator) Alert(id string) (Alert, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.book.Alert(id)
}

// Report returns the signals' report of one customer at asOf: drift charts, risk score and
// the signals that hold (ledger.ErrUnknownCustomer for an unknown customer).
func (e *Evaluator) Report(id domain.CustomerID, asOf domain.Date) (signals.CustomerReport, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return signals.Analyse(e.model, e.facts, id, asOf, e.cfg)
}

// Worklist returns the dunning worklist at asOf (signals.Worklist with the configured plan).
func (e *Evaluator) Worklist(asOf domain.Date) ([]signals.Proposal, error) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return signals.Worklist(e.model, asOf, e.cfg.Dunning)
}

// Today returns the business date the evaluator works at: the last tick's, or Today.
func (e *Evaluator) Today() domain.Date {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.ticked {
		return e.asOf
	}
	return e.today()
}

// Acknowledge appends AlertAcknowledged{comment} by actor on the alert's stream, with the
// stream's expected version, and waits until it is folded back. An unknown alert is
// ErrUnknownAlert, a resolved one ErrAlertResolved.
func (e *Evaluator) Acknowledge(ctx context.Context, id, actor, comment string) (Alert, error) {
	return e.onOpenAlert(ctx, "acknowledge", id, actor, comment, func(on domain.Date) domain.Event {
		return domain.AlertAcknowledged{AlertID: id, Comment: comment, AckedOn: on}
	})
}

// Resolve appends AlertResolved{ReasonResolvedByHand, comment} by actor: the credit manager
// has dealt with the alert. While its condition holds at the same or a lower severity no new
// alert is raised on its key; a worse one raises a new alert, and the condition clearing is
// recorded (ReasonClearedAfterHand) so that the rule is armed again. An unknown alert is
// ErrUnknownAlert, a resolved one ErrAlertResolved.
func (e *Evaluator) Resolve(ctx context.Context, id, actor, comment string) (Alert, error) {
	return e.onOpenAlert(ctx, "resolve", id, actor, comment, func(on domain.Date) domain.Event {
		return domain.AlertResolved{AlertID: id, Reason: ReasonResolvedByHand, Comment: comment, ResolvedOn: on}
	})
}

// onOpenAlert appends the event made by ev on an alert that is not resolved, by actor, with
// the stream's expected version (retrying a lost race after folding the winner), and waits
// until it is folded back. The event is dated at the evaluator's business date.
func (e *Evaluator) onOpenAlert(ctx context.Context, verb, id, actor, comment string, ev func(on domain.Date) domain.Event) (Alert, error) {
	if len(comment) > ackCommentBytesMax {
		return Alert{}, fmt.Errorf("alerting: comment of %d bytes, at most %d: %w", len(comment), ackCommentBytesMax, eventstore.ErrInvalidAppend)
	}
	for attempt := 1; ; attempt++ {
		e.mu.RLock()
		a := e.book.alerts[id]
		var stream string
		var version uint64
		resolved := false
		if a != nil {
			stream = alertStream(a.CustomerID)
			version = e.book.versions[stream]
			resolved = a.Status == StatusResolved
		}
		on := e.asOf
		if !e.ticked {
			on = e.today()
		}
		e.mu.RUnlock()
		switch {
		case a == nil:
			return Alert{}, fmt.Errorf("alerting: %s %q: %w", verb, id, ErrUnknownAlert)
		case resolved:
			return Alert{}, fmt.Errorf("alerting: %s %q: %w", verb, id, ErrAlertResolved)
		}
		env, err := e.envelope(stream, ev(on))
		if err != nil {
			return Alert{}, err
		}
		env.Actor = actor
		res, err := e.store.Append(ctx, eventstore.AppendRequest{Stream: stream, ExpectedVersion: int64(version), Events: []domain.Envelope{env}})
		switch {
		case errors.Is(err, eventstore.ErrWrongVersion) && attempt < ackRetriesMax:
			// An escalation or another acknowledgement landed first: wait for it, decide again.
			h, herr := e.store.Head(ctx)
			if herr != nil {
				return Alert{}, fmt.Errorf("alerting: %s %q: %w", verb, id, herr)
			}
			if err := e.WaitFor(ctx, h.Position); err != nil {
				return Alert{}, err
			}
			continue
		case err != nil:
			return Alert{}, fmt.Errorf("alerting: %s %q at v%d: %w", verb, id, version, err)
		}
		if err := e.WaitFor(ctx, res.Position); err != nil {
			return Alert{}, err
		}
		got, _ := e.Alert(id)
		return got, nil
	}
}
