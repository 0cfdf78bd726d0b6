package alerting

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// Limits of delivery (style §8).
const (
	// deadLettersMax bounds the dead letters kept. Full: a failing delivery is not
	// dead-lettered but retried at the backoff's cap until there is room (an alert is never
	// dropped); redeliver or delete subscriptions to make room.
	deadLettersMax = 10_000
	// alertMetaMax bounds the cache of alert metadata (customer, rule, severities) the
	// filters read. Full: it is emptied and refilled from the alert streams on demand.
	alertMetaMax = 1 << 18
	// subscriptionRetriesMax bounds the attempts to append a subscription event that lost a
	// race on the stream's version.
	subscriptionRetriesMax = 5
	// checkpointIntervalDefault is how often dirty checkpoints are written: a crash
	// redelivers at most this much (at least once).
	checkpointIntervalDefault = 200 * time.Millisecond
	// stateFile is the delivery state in DeliveryOptions.Dir.
	stateFile   = "alert-delivery.json"
	stateFormat = 1
)

// Errors callers tell apart with errors.Is.
var (
	ErrUnknownSubscription  = errors.New("unknown subscription")
	ErrUnknownDeadLetter    = errors.New("unknown dead letter")
	ErrTooManySubscriptions = errors.New("too many subscriptions")
)

// Publisher publishes an alert notification (the Notification JSON) on the Kafka topic
// encours.alerts, keyed by customer ("portfolio" for the portfolio's alerts) so that one
// customer's alert events stay in order (design §The flow of one event, step 6). The daemon
// wires bus/kafka here; without one, kafka subscriptions are refused. An error is retried
// like a webhook's.
type Publisher interface {
	PublishAlert(ctx context.Context, key string, body []byte) error
}

// DeliveryOptions configure OpenDelivery.
type DeliveryOptions struct {
	// Dir holds the delivery state (checkpoints, dead letters). Required.
	Dir string
	// Client sends webhooks. Default: an http.Client with a 10 s timeout.
	Client *http.Client
	// AttemptsMax is the tries before a dead letter. Default webhookAttemptsMax (8).
	AttemptsMax int
	// Backoff is the retry schedule. Default 500 ms doubling to 5 min.
	Backoff Backoff
	// Publisher carries the kafka channel. Default none: kafka subscriptions are refused.
	Publisher Publisher
	// Clock gives signature timestamps and dead-letter times. Default time.Now.
	Clock func() time.Time
	// Today is the business date of subscription events. Default: Clock's UTC date.
	Today func() domain.Date
	// CheckpointInterval is how often dirty state is written. Default 200 ms.
	CheckpointInterval time.Duration
	// SSEQueueMax is each SSE client's queue. Default sseClientQueueMax (256).
	SSEQueueMax int
	// Logger receives delivery failures. Default: discard.
	Logger *slog.Logger

	// noFinalPersist makes Run stop without writing its state: the crash tests' kill.
	noFinalPersist bool
}

// DeadLetter is an alert event a subscription failed to deliver AttemptsMax times.
type DeadLetter struct {
	ID             string    `json:"id"` // <subscription_id>:<position>
	SubscriptionID string    `json:"subscription_id"`
	Position       uint64    `json:"position"`
	EventID        string    `json:"event_id"`
	EventType      string    `json:"event_type"`
	AlertID        string    `json:"alert_id"`
	Attempts       int       `json:"attempts"`
	LastError      string    `json:"last_error"`
	DeadAt         time.Time `json:"dead_at"`
	// Redeliver is set by a redelivery request until the worker has tried it.
	Redeliver bool `json:"redeliver_requested"`
}

// DeliveryStats are counters since OpenDelivery, for metrics.
type DeliveryStats struct {
	Subscriptions  int
	Delivered      uint64 // webhook and kafka deliveries that succeeded
	FailedAttempts uint64
	DeadLettered   uint64
	Redelivered    uint64
	DeadLetters    int
	SSEClients     int
	SSESent        uint64
	SSEDropped     uint64 // slow clients disconnected
}

// Delivery delivers alert events to subscriptions (package doc). OpenDelivery loads its
// state; Run delivers until its context ends.
type Delivery struct {
	store eventstore.Store
	opts  DeliveryOptions
	path  string
	log   *slog.Logger
	ids   uuidGen
	hub   *sseHub
	rnd   *rand.Rand // guarded by rndMu
	rndMu sync.Mutex

	headAtOpen uint64

	mu          sync.Mutex
	subs        map[string]*subState
	subVersion  uint64            // version of SubscriptionsStream folded
	saved       map[string]uint64 // checkpoints read from the state file
	dead        map[string]*DeadLetter
	meta        map[string]*metaEntry
	hubPos      uint64
	hubProgress chan struct{}
	dirty       bool
	running     bool
	stats       DeliveryStats
	byChannel   map[string]ChannelStats // the counters of stats, by channel (metrics.go)
	persistC    chan struct{}
}

type subState struct {
	sub    *Subscription
	cancel context.CancelFunc
	done   chan struct{}
	kick   chan struct{} // a redelivery was requested
}

// metaEntry is an alert's metadata and the severity of each of its raises.
type metaEntry struct {
	alertMeta
	raises []raiseAt // in position order
}

type raiseAt struct {
	position uint64
	severity string
}

type deliveryState struct {
	Format      int               `json:"format"`
	Checkpoints map[string]uint64 `json:"checkpoints"`
	DeadLetters []*DeadLetter     `json:"dead_letters"`
}

// OpenDelivery loads the delivery state from opts.Dir and the subscriptions from the log.
// It panics on a nil store or an empty Dir (wiring errors).
func OpenDelivery(ctx context.Context, store eventstore.Store, opts DeliveryOptions) (*Delivery, error) {
	if store == nil || opts.Dir == "" {
		panic("alerting.OpenDelivery: nil store or empty Dir")
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: webhookTimeout}
	}
	if opts.AttemptsMax <= 0 {
		opts.AttemptsMax = webhookAttemptsMax
	}
	if opts.Backoff.Initial <= 0 {
		opts.Backoff.Initial = backoffInitialDefault
	}
	if opts.Backoff.Max <= 0 {
		opts.Backoff.Max = backoffMaxDefault
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Today == nil {
		opts.Today = func() domain.Date { return domain.DateOfTime(opts.Clock().UTC()) }
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = checkpointIntervalDefault
	}
	if opts.SSEQueueMax <= 0 {
		opts.SSEQueueMax = sseClientQueueMax
	}
	d := &Delivery{store: store, opts: opts, path: filepath.Join(opts.Dir, stateFile), log: opts.Logger,
		rnd:  rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0x0b0ff)),
		subs: map[string]*subState{}, saved: map[string]uint64{}, dead: map[string]*DeadLetter{},
		meta: map[string]*metaEntry{}, hubProgress: make(chan struct{}), persistC: make(chan struct{}, 1)}
	if d.log == nil {
		d.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	d.hub = newSSEHub(d)
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("alerting: delivery dir: %w", err)
	}
	if err := d.load(); err != nil {
		return nil, err
	}
	head, err := store.Head(ctx)
	if err != nil {
		return nil, fmt.Errorf("alerting: delivery head: %w", err)
	}
	d.headAtOpen, d.hubPos = head.Position, head.Position
	// Fold the subscriptions up to the head; the hub folds the ones after it.
	for from := uint64(1); ; {
		page, err := store.ReadStream(ctx, SubscriptionsStream, from, eventstore.ReadLimitMax)
		if err != nil {
			return nil, fmt.Errorf("alerting: read %s: %w", SubscriptionsStream, err)
		}
		for _, e := range page {
			if e.Position > head.Position {
				break
			}
			if err := d.applySubscription(e); err != nil {
				return nil, err
			}
		}
		if len(page) < eventstore.ReadLimitMax {
			break
		}
		from = page[len(page)-1].StreamVersion + 1
	}
	return d, nil
}

// load reads the state file, if any.
func (d *Delivery) load() error {
	b, err := os.ReadFile(d.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("alerting: read delivery state: %w", err)
	}
	var st deliveryState
	if err := json.Unmarshal(b, &st); err != nil || st.Format != stateFormat {
		return fmt.Errorf("alerting: delivery state %s: format %d: %v", d.path, st.Format, err)
	}
	d.saved = st.Checkpoints
	if d.saved == nil {
		d.saved = map[string]uint64{}
	}
	for _, dl := range st.DeadLetters {
		d.dead[dl.ID] = dl
	}
	return nil
}

// persist writes the state file atomically: a temporary file, fsync, rename, fsync of the
// directory. Only one goroutine calls it at a time (the persister, then Run at the end).
func (d *Delivery) persist() error {
	d.mu.Lock()
	if !d.dirty {
		d.mu.Unlock()
		return nil
	}
	st := deliveryState{Format: stateFormat, Checkpoints: map[string]uint64{}, DeadLetters: []*DeadLetter{}}
	for id, s := range d.subs {
		st.Checkpoints[id] = s.sub.Checkpoint
	}
	for _, dl := range d.dead {
		c := *dl
		st.DeadLetters = append(st.DeadLetters, &c)
	}
	d.dirty = false
	d.mu.Unlock()
	slices.SortFunc(st.DeadLetters, func(a, b *DeadLetter) int { return cmp.Compare(a.ID, b.ID) })
	b, err := json.MarshalIndent(st, "", " ")
	if err == nil {
		err = writeFileAtomic(d.path, b)
	}
	if err != nil {
		d.mu.Lock()
		d.dirty = true
		d.mu.Unlock()
		return fmt.Errorf("alerting: write delivery state: %w", err)
	}
	return nil
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}

func (d *Delivery) markDirty() {
	d.dirty = true
	select {
	case d.persistC <- struct{}{}:
	default:
	}
}

// Run delivers until ctx ends: a worker per webhook and kafka subscription reading the log
// from its checkpoint, the SSE hub reading it from the head at open, and the persister. It
// waits for all of them, writes the state a last time and returns. It must be called once.
func (d *Delivery) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	d.mu.Lock()
	d.running = true
	for _, st := range d.subs {
		d.startWorkerLocked(ctx, &wg, st)
	}
	d.mu.Unlock()
	hubErr := make(chan error, 1)
	wg.Add(2)
	go func() { // ends when ctx is done or the store's subscription ends
		defer wg.Done()
		hubErr <- d.runHub(ctx, &wg)
	}()
	go func() { // ends when ctx is done
		defer wg.Done()
		t := time.NewTicker(d.opts.CheckpointInterval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				if err := d.persist(); err != nil {
					d.log.Error("delivery state not written", "err", err)
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	var err error
	select {
	case <-ctx.Done():
	case err = <-hubErr:
	}
	d.stopWorkers()
	wg.Wait()
	d.hub.closeAll()
	d.mu.Lock()
	d.running = false
	d.mu.Unlock()
	if d.opts.noFinalPersist {
		return err
	}
	if perr := d.persist(); perr != nil && err == nil {
		err = perr
	}
	return err
}

func (d *Delivery) stopWorkers() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, st := range d.subs {
		if st.cancel != nil {
			st.cancel()
		}
	}
}

// startWorkerLocked starts the worker of a webhook or kafka subscription. d.mu is held.
func (d *Delivery) startWorkerLocked(ctx context.Context, wg *sync.WaitGroup, st *subState) {
	if st.cancel != nil || (st.sub.Channel != ChannelWebhook && st.sub.Channel != ChannelKafka) {
		return
	}
	wctx, cancel := context.WithCancel(ctx)
	st.cancel, st.done = cancel, make(chan struct{})
	wg.Add(1)
	go func() { // ends when the subscription is deleted, ctx is done, or the store closes
		defer wg.Done()
		defer close(st.done)
		d.runWorker(wctx, st)
	}()
	for _, dl := range d.dead {
		if dl.SubscriptionID == st.sub.SubscriptionID && dl.Redeliver {
			select {
			case st.kick <- struct{}{}:
			default:
			}
			break
		}
	}
}

// runHub follows the log from the head at open: it folds subscription events (starting and
// stopping workers) and fans alert events out to the SSE clients.
func (d *Delivery) runHub(ctx context.Context, wg *sync.WaitGroup) error {
	sub, err := d.store.Subscribe(ctx, d.headAtOpen+1)
	if err != nil {
		return fmt.Errorf("alerting: delivery subscribe: %w", err)
	}
	for e := range sub.C() {
		if e.Stream == SubscriptionsStream {
			if err := d.applySubscription(e); err != nil {
				return err
			}
			d.mu.Lock()
			for _, st := range d.subs {
				if d.running && ctx.Err() == nil {
					d.startWorkerLocked(ctx, wg, st)
				}
			}
			d.mu.Unlock()
		}
		if isAlertEvent(e) {
			id, m, err := d.metaOf(ctx, e)
			if err != nil {
				return err
			}
			body, err := notificationOf(e, id, m, "")
			if err != nil {
				return fmt.Errorf("alerting: notification at %d: %w", e.Position, err)
			}
			d.hub.broadcast(e.Position, e.Type, body, m)
		}
		d.mu.Lock()
		d.hubPos = e.Position
		close(d.hubProgress)
		d.hubProgress = make(chan struct{})
		d.mu.Unlock()
	}
	if err := sub.Err(); err != nil {
		return fmt.Errorf("alerting: delivery subscription: %w", err)
	}
	return nil
}

// waitHub waits until the hub has folded position.
func (d *Delivery) waitHub(ctx context.Context, position uint64) error {
	for { // until the hub is there or ctx ends
		d.mu.Lock()
		ok, ch := d.hubPos >= position, d.hubProgress
		d.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("alerting: wait for delivery at %d: %w", position, ctx.Err())
		}
	}
}

func isAlertEvent(e domain.Envelope) bool {
	if !isAlertStream(e.Stream) {
		return false
	}
	switch e.Type {
	case domain.TypeAlertRaised, domain.TypeAlertResolved, domain.TypeAlertAcknowledged:
		return true
	}
	return false
}

// applySubscription folds one event of SubscriptionsStream.
func (d *Delivery) applySubscription(e domain.Envelope) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	defer func() { d.subVersion = max(d.subVersion, e.StreamVersion) }()
	if e.StreamVersion <= d.subVersion {
		return nil
	}
	switch e.Type {
	case TypeSubscriptionCreated:
		var c SubscriptionCreated
		if err := decodeStrict(e.Data, &c); err != nil {
			return fmt.Errorf("alerting: subscription at %d: %w", e.Position, err)
		}
		s := subscriptionOf(c, e)
		if cp, ok := d.saved[s.SubscriptionID]; ok && cp > s.Checkpoint {
			s.Checkpoint = cp
		}
		d.subs[s.SubscriptionID] = &subState{sub: s, kick: make(chan struct{}, 1)}
		d.stats.Subscriptions = len(d.subs)
	case TypeSubscriptionDeleted:
		var del SubscriptionDeleted
		if err := decodeStrict(e.Data, &del); err != nil {
			return fmt.Errorf("alerting: subscription deletion at %d: %w", e.Position, err)
		}
		if st := d.subs[del.SubscriptionID]; st != nil {
			if st.cancel != nil {
				st.cancel()
			}
			delete(d.subs, del.SubscriptionID)
			for id, dl := range d.dead {
				if dl.SubscriptionID == del.SubscriptionID {
					delete(d.dead, id)
				}
			}
			d.stats.Subscriptions, d.stats.DeadLetters = len(d.subs), len(d.dead)
			d.markDirty()
		}
	}
	return nil
}

// metaOf returns the alert id and metadata of an alert event: from its data for AlertRaised,
// else from the cache of raises, read from the alert's stream on a miss. The severity is
// the one in force at the event (the last raise before it).
func (d *Delivery) metaOf(ctx context.Context, e domain.Envelope) (string, alertMeta, error) {
	ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
	if err != nil {
		return "", alertMeta{}, fmt.Errorf("alerting: alert event at %d: %w", e.Position, err)
	}
	var id string
	switch v := ev.(type) {
	case domain.AlertRaised:
		m := metaOfRaised(v)
		d.mu.Lock()
		d.noteRaiseLocked(v.AlertID, m, e.Position)
		d.mu.Unlock()
		return v.AlertID, m, nil
	case domain.AlertResolved:
		id = v.AlertID
	case domain.AlertAcknowledged:
		id = v.AlertID
	}
	d.mu.Lock()
	me := d.meta[id]
	d.mu.Unlock()
	if me == nil || len(me.raises) == 0 || me.raises[0].position > e.Position {
		if err := d.readRaises(ctx, e.Stream, id); err != nil {
			return "", alertMeta{}, err
		}
		d.mu.Lock()
		me = d.meta[id]
		d.mu.Unlock()
		if me == nil {
			return "", alertMeta{}, fmt.Errorf("alerting: %s at %d for alert %q never raised on %s", e.Type, e.Position, id, e.Stream)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	m := me.alertMeta
	for _, r := range me.raises {
		if r.position < e.Position {
			m.severity = r.severity
		}
	}
	return id, m, nil
}

func metaOfRaised(v domain.AlertRaised) alertMeta {
	var p struct {
		Segment string `json:"segment"`
	}
	_ = json.Unmarshal(v.Explanation, &p) // a foreign explanation just has no segment
	return alertMeta{customer: v.CustomerID, segment: p.Segment, rule: v.Rule, subject: v.Subject, severity: v.Severity}
}

// noteRaiseLocked records a raise in the cache. d.mu is held.
func (d *Delivery) noteRaiseLocked(id string, m alertMeta, pos uint64) {
	me := d.meta[id]
	if me == nil {
		if len(d.meta) >= alertMetaMax {
			clear(d.meta)
		}
		me = &metaEntry{alertMeta: m}
		d.meta[id] = me
	}
	i, found := slices.BinarySearchFunc(me.raises, pos, func(r raiseAt, p uint64) int {
		switch {
		case r.position < p:
			return -1
		case r.position > p:
			return 1
		}
		return 0
	})
	if !found {
		me.raises = slices.Insert(me.raises, i, raiseAt{position: pos, severity: m.severity})
	}
}

// readRaises reads the raises of alert id from its stream into the cache.
func (d *Delivery) readRaises(ctx context.Context, stream, id string) error {
	for from := uint64(1); ; {
		page, err := d.store.ReadStream(ctx, stream, from, eventstore.ReadLimitMax)
		if err != nil {
			return fmt.Errorf("alerting: read %s: %w", stream, err)
		}
		for _, e := range page {
			if e.Type != domain.TypeAlertRaised {
				continue
			}
			ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
			if err != nil {
				return fmt.Errorf("alerting: alert event at %d: %w", e.Position, err)
			}
			if v := ev.(domain.AlertRaised); v.AlertID == id {
				d.mu.Lock()
				d.noteRaiseLocked(id, metaOfRaised(v), e.Position)
				d.mu.Unlock()
			}
		}
		if len(page) < eventstore.ReadLimitMax {
			return nil
		}
		from = page[len(page)-1].StreamVersion + 1
	}
}

// runWorker delivers a subscription's alert events from its checkpoint, in position order.
func (d *Delivery) runWorker(ctx context.Context, st *subState) {
	d.mu.Lock()
	from := st.sub.Checkpoint + 1
	d.mu.Unlock()
	sub, err := d.store.Subscribe(ctx, from)
	if err != nil {
		d.log.Error("subscription worker cannot follow the log", "subscription", st.sub.SubscriptionID, "err", err)
		return
	}
	for { // until ctx is done (deleted, or Run stopping) or the store's subscription ends
		select {
		case e, ok := <-sub.C():
			if !ok {
				if err := sub.Err(); err != nil {
					d.log.Error("subscription worker stopped", "subscription", st.sub.SubscriptionID, "err", err)
				}
				return
			}
			if isAlertEvent(e) {
				id, m, err := d.metaOf(ctx, e)
				if err != nil {
					d.log.Error("subscription worker stopped", "subscription", st.sub.SubscriptionID, "err", err)
					return
				}
				if st.sub.matches(m) && !d.deliver(ctx, st, e, id, m, nil) {
					return // ctx ended mid-delivery: the checkpoint stays before it
				}
			}
			d.advance(st, e.Position)
		case <-st.kick:
			d.redeliver(ctx, st)
		case <-ctx.Done():
			return
		}
	}
}

func (d *Delivery) advance(st *subState, pos uint64) {
	d.mu.Lock()
	if pos > st.sub.Checkpoint {
		st.sub.Checkpoint = pos
		d.markDirty()
	}
	d.mu.Unlock()
}

// deliver tries to deliver e up to AttemptsMax times with backoff; after the last failure
// it dead-letters it (or, for a redelivery, updates dl). It returns false only when ctx
// ended before the event was delivered or dead-lettered.
func (d *Delivery) deliver(ctx context.Context, st *subState, e domain.Envelope, id string, m alertMeta, dl *DeadLetter) bool {
	body, err := notificationOf(e, id, m, st.sub.SubscriptionID)
	if err != nil {
		d.log.Error("notification not encoded", "position", e.Position, "err", err)
		return true
	}
	var lastErr error
	for attempt := 1; ; attempt++ { // bounded by AttemptsMax, or by room for a dead letter
		lastErr = d.send(ctx, st.sub, body, id, m, e, attempt)
		if lastErr == nil {
			d.mu.Lock()
			d.stats.Delivered++
			d.countChannel(st, func(c *ChannelStats) { c.Delivered++ })
			st.sub.LastError = ""
			if dl != nil {
				delete(d.dead, dl.ID)
				d.stats.Redelivered++
				d.stats.DeadLetters = len(d.dead)
				d.markDirty()
			}
			d.mu.Unlock()
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		d.mu.Lock()
		d.stats.FailedAttempts++
		d.countChannel(st, func(c *ChannelStats) { c.FailedAttempts++ })
		st.sub.LastError = lastErr.Error()
		full := dl == nil && len(d.dead) >= deadLettersMax
		d.mu.Unlock()
		if attempt >= d.opts.AttemptsMax && !full {
			break
		}
		d.rndMu.Lock()
		wait := d.opts.Backoff.delay(min(attempt, d.opts.AttemptsMax), d.rnd)
		d.rndMu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return false
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if dl != nil {
		dl.Attempts += d.opts.AttemptsMax
		dl.LastError, dl.Redeliver, dl.DeadAt = lastErr.Error(), false, d.opts.Clock().UTC()
		d.markDirty()
		return true
	}
	nd := &DeadLetter{ID: fmt.Sprintf("%s:%d", st.sub.SubscriptionID, e.Position), SubscriptionID: st.sub.SubscriptionID,
		Position: e.Position, EventID: e.EventID, EventType: e.Type, AlertID: id, Attempts: d.opts.AttemptsMax,
		LastError: lastErr.Error(), DeadAt: d.opts.Clock().UTC()}
	d.dead[nd.ID] = nd
	d.stats.DeadLettered++
	d.countChannel(st, func(c *ChannelStats) { c.DeadLettered++ })
	d.stats.DeadLetters = len(d.dead)
	d.markDirty()
	d.log.Warn("alert dead-lettered", "subscription", st.sub.SubscriptionID, "position", e.Position, "alert_id", id, "err", lastErr)
	return true
}

// send makes one attempt on the subscription's channel.
func (d *Delivery) send(ctx context.Context, s *Subscription, body []byte, alertID string, m alertMeta, e domain.Envelope, attempt int) error {
	switch s.Channel {
	case ChannelKafka:
		if d.opts.Publisher == nil {
			return errors.New("no kafka publisher configured")
		}
		key := string(m.customer)
		if key == "" {
			key = portfolioIDPart
		}
		return d.opts.Publisher.PublishAlert(ctx, key, body)
	default:
		return postWebhook(ctx, d.opts.Client, s.URL, s.secret, d.opts.Clock(), body, alertID, e.EventID, attempt)
	}
}

// redeliver retries the dead letters of st that a redelivery request marked.
func (d *Delivery) redeliver(ctx context.Context, st *subState) {
	d.mu.Lock()
	var todo []*DeadLetter
	for _, dl := range d.dead {
		if dl.SubscriptionID == st.sub.SubscriptionID && dl.Redeliver {
			todo = append(todo, dl)
		}
	}
	d.mu.Unlock()
	slices.SortFunc(todo, func(a, b *DeadLetter) int { return cmp.Compare(a.Position, b.Position) })
	for _, dl := range todo {
		page, err := d.store.ReadAll(ctx, dl.Position, 1)
		if err != nil || len(page) != 1 || page[0].Position != dl.Position {
			d.log.Error("dead letter not readable", "id", dl.ID, "err", err)
			continue
		}
		id, m, err := d.metaOf(ctx, page[0])
		if err != nil {
			d.log.Error("dead letter not readable", "id", dl.ID, "err", err)
			continue
		}
		if !d.deliver(ctx, st, page[0], id, m, dl) {
			return
		}
	}
}

// CreateSubscription appends AlertSubscriptionCreated by actor and waits until the delivery
// has folded it (its worker is running). A webhook without a secret gets a new one; the
// secret is returned here and never shown again. Invalid fields are *domain.Error.
func (d *Delivery) CreateSubscription(ctx context.Context, actor string, c SubscriptionCreated) (Subscription, string, error) {
	c.SubscriptionID = d.ids.newID(d.opts.Clock())
	c.CreatedOn = d.opts.Today()
	if err := c.validate(d.opts.Publisher != nil); err != nil {
		return Subscription{}, "", err
	}
	if c.Channel != ChannelSSE && c.Secret == "" {
		c.Secret = newSecret()
	}
	d.mu.Lock()
	n := len(d.subs)
	d.mu.Unlock()
	if n >= subscriptionsMax {
		return Subscription{}, "", fmt.Errorf("alerting: %d subscriptions: %w", n, ErrTooManySubscriptions)
	}
	res, err := d.appendSubscriptionEvent(ctx, actor, TypeSubscriptionCreated, c)
	if err != nil {
		return Subscription{}, "", err
	}
	if err := d.waitHub(ctx, res.Position); err != nil {
		return Subscription{}, "", err
	}
	s, err := d.Subscription(c.SubscriptionID)
	return s, c.Secret, err
}

// DeleteSubscription appends AlertSubscriptionDeleted and waits until its worker stopped.
func (d *Delivery) DeleteSubscription(ctx context.Context, actor, id string) error {
	if _, err := d.Subscription(id); err != nil {
		return err
	}
	res, err := d.appendSubscriptionEvent(ctx, actor, TypeSubscriptionDeleted, SubscriptionDeleted{SubscriptionID: id, DeletedOn: d.opts.Today()})
	if err != nil {
		return err
	}
	return d.waitHub(ctx, res.Position)
}

func (d *Delivery) appendSubscriptionEvent(ctx context.Context, actor, typ string, data any) (eventstore.AppendResult, error) {
	b, err := json.Marshal(data)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("alerting: encode %s: %w", typ, err)
	}
	for attempt := 1; ; attempt++ {
		d.mu.Lock()
		version := d.subVersion
		d.mu.Unlock()
		env := domain.Envelope{EventID: d.ids.newID(d.opts.Clock()), Stream: SubscriptionsStream, Type: typ,
			SchemaVersion: 1, EffectiveOn: d.opts.Today(), Actor: actor, Data: b}
		res, err := d.store.Append(ctx, eventstore.AppendRequest{Stream: SubscriptionsStream, ExpectedVersion: int64(version), Events: []domain.Envelope{env}})
		if errors.Is(err, eventstore.ErrWrongVersion) && attempt < subscriptionRetriesMax {
			h, herr := d.store.Head(ctx)
			if herr != nil {
				return eventstore.AppendResult{}, fmt.Errorf("alerting: append %s: %w", typ, herr)
			}
			if err := d.waitHub(ctx, h.Position); err != nil {
				return eventstore.AppendResult{}, err
			}
			continue
		}
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("alerting: append %s at v%d: %w", typ, version, err)
		}
		return res, nil
	}
}

// Subscription returns an active subscription.
func (d *Delivery) Subscription(id string) (Subscription, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.subs[id]
	if st == nil {
		return Subscription{}, fmt.Errorf("alerting: subscription %q: %w", id, ErrUnknownSubscription)
	}
	return d.viewLocked(st), nil
}

func (d *Delivery) viewLocked(st *subState) Subscription {
	s := *st.sub
	s.Filter.CustomerIDs = slices.Clone(s.Filter.CustomerIDs)
	s.Filter.Segments = slices.Clone(s.Filter.Segments)
	s.Filter.Rules = slices.Clone(s.Filter.Rules)
	for _, dl := range d.dead {
		if dl.SubscriptionID == s.SubscriptionID {
			s.DeadLetters++
		}
	}
	s.secret = ""
	return s
}

// Subscriptions returns the active subscriptions, oldest first.
func (d *Delivery) Subscriptions() []Subscription {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Subscription, 0, len(d.subs))
	for _, st := range d.subs {
		out = append(out, d.viewLocked(st))
	}
	slices.SortFunc(out, func(a, b Subscription) int { return cmp.Compare(a.Position, b.Position) })
	return out
}

// DeadLetters returns the dead letters, oldest first.
func (d *Delivery) DeadLetters() []DeadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]DeadLetter, 0, len(d.dead))
	for _, dl := range d.dead {
		out = append(out, *dl)
	}
	slices.SortFunc(out, func(a, b DeadLetter) int {
		return cmp.Or(cmp.Compare(a.Position, b.Position), cmp.Compare(a.SubscriptionID, b.SubscriptionID))
	})
	return out
}

// Redeliver asks the subscription's worker to deliver a dead letter again (a full series
// of attempts); it returns at once. The dead letter disappears once delivered.
func (d *Delivery) Redeliver(id string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	dl := d.dead[id]
	if dl == nil {
		return fmt.Errorf("alerting: dead letter %q: %w", id, ErrUnknownDeadLetter)
	}
	st := d.subs[dl.SubscriptionID]
	if st == nil {
		return fmt.Errorf("alerting: dead letter %q: %w", id, ErrUnknownSubscription)
	}
	dl.Redeliver = true
	d.markDirty()
	select {
	case st.kick <- struct{}{}:
	default: // a redelivery is already requested; the worker takes every marked letter
	}
	return nil
}

// Stats returns the delivery counters.
func (d *Delivery) Stats() DeliveryStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.stats
	s.DeadLetters = len(d.dead)
	s.Subscriptions = len(d.subs)
	s.SSEClients = d.hub.clientCount()
	s.SSESent, s.SSEDropped = d.hub.counters()
	return s
}
