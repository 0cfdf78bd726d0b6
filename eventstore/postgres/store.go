package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// Defaults and limits (style §8).
const (
	// ConnsDefault: pool size, enough for 32 writers and a few readers at once.
	ConnsDefault = 40
	// pollInterval: how often an idle subscription looks for events appended by another
	// process (appends through this Store wake it at once).
	pollInterval = 50 * time.Millisecond
	// subscribePageMax: events a subscription reads per query.
	subscribePageMax = 1000
	// subscriptionBuffer: events waiting in a subscription's channel.
	subscriptionBuffer = 256
	// Field limits: the canonical decoder's (domain.AppendCanonical), as in the other adapters.
	fieldBytesMax       = 1 << 10
	dataBytesMax        = 1 << 20
	requestHashBytesLen = sha256.Size
	// lockKey is the advisory lock that orders chained appends.
	lockKey = 0x656e636f757273 // "encours"
)

// Options configure a Store.
type Options struct {
	// Schema holds the tables; created if missing. Default "public".
	Schema string
	// Conns is the pool size. Default ConnsDefault.
	Conns int
	// Plain drops the hash chain and the lock (see the package doc): benchmarks only.
	Plain bool
}

// Store is the event store on PostgreSQL. It implements eventstore.Store.
type Store struct {
	pool  *pgxpool.Pool
	plain bool

	mu     sync.RWMutex // held for reading by each Append; for writing by Close
	closed bool
	done   chan struct{} // closed by Close: subscriptions end
	subs   sync.WaitGroup
	wakeMu sync.Mutex
	wake   chan struct{} // closed and replaced after each local commit
}

// Open connects to url and creates the schema and tables if missing.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	if opts.Schema == "" {
		opts.Schema = "public"
	}
	if opts.Conns <= 0 {
		opts.Conns = ConnsDefault
	}
	cfg.MaxConns = int32(opts.Conns)
	cfg.ConnConfig.RuntimeParams["search_path"] = opts.Schema
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	schema := pgx.Identifier{opts.Schema}.Sanitize()
	if _, err := pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema+";"+createTables); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: create tables in %s: %w", opts.Schema, err)
	}
	return &Store{pool: pool, plain: opts.Plain, done: make(chan struct{}), wake: make(chan struct{})}, nil
}

const createTables = `
CREATE TABLE IF NOT EXISTS events (
	position        bigserial PRIMARY KEY,
	stream          text NOT NULL,
	version         int NOT NULL,
	data            jsonb NOT NULL,
	event_id        text NOT NULL,
	type            text NOT NULL,
	schema_version  smallint NOT NULL,
	effective_on    date NOT NULL,
	recorded_at     timestamptz NOT NULL,
	actor           text NOT NULL,
	correlation_id  text NOT NULL,
	causation_id    text NOT NULL,
	idempotency_key text NOT NULL,
	request_hash    bytea,
	prev_hash       bytea,
	hash            bytea,
	UNIQUE (stream, version)
);
CREATE TABLE IF NOT EXISTS idempotency (
	key          text PRIMARY KEY,
	request_hash bytea NOT NULL,
	stream       text NOT NULL,
	version      bigint NOT NULL,
	position     bigint NOT NULL,
	event_ids    text[] NOT NULL
);`

// Pool is the connection pool, for the benchmarks' size queries.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close stops accepting appends, waits for those in flight, ends the subscriptions and
// closes the pool.
func (s *Store) Close() error {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	s.mu.Unlock()
	if already {
		return nil
	}
	close(s.done)
	s.subs.Wait()
	s.pool.Close()
	return nil
}

func invalid(stream, format string, args ...any) error {
	return fmt.Errorf("append to %q: %s: %w", stream, fmt.Sprintf(format, args...), eventstore.ErrInvalidAppend)
}

func validate(req *eventstore.AppendRequest) error {
	switch {
	case req.Stream == "":
		return invalid(req.Stream, "empty stream name")
	case len(req.Stream) > fieldBytesMax:
		return invalid(req.Stream[:32]+"...", "stream name of %d bytes", len(req.Stream))
	case len(req.Events) == 0:
		return invalid(req.Stream, "no events")
	case len(req.Events) > eventstore.AppendEventsMax:
		return invalid(req.Stream, "%d events, want at most %d", len(req.Events), eventstore.AppendEventsMax)
	case req.ExpectedVersion < eventstore.AnyVersion:
		return invalid(req.Stream, "expected version %d", req.ExpectedVersion)
	case len(req.IdempotencyKey) > fieldBytesMax:
		return invalid(req.Stream, "idempotency key of %d bytes", len(req.IdempotencyKey))
	case req.IdempotencyKey != "" && len(req.RequestHash) != requestHashBytesLen:
		return invalid(req.Stream, "request hash of %d bytes with an idempotency key, want %d", len(req.RequestHash), requestHashBytesLen)
	case req.IdempotencyKey == "" && len(req.RequestHash) != 0:
		return invalid(req.Stream, "request hash without an idempotency key")
	}
	for i := range req.Events {
		e := &req.Events[i]
		switch {
		case e.Stream != req.Stream:
			return invalid(req.Stream, "event %d is for stream %q", i, e.Stream)
		case e.EventID == "":
			return invalid(req.Stream, "event %d has no event id", i)
		case e.Type == "":
			return invalid(req.Stream, "event %d has no type", i)
		case len(e.Data) > dataBytesMax:
			return invalid(req.Stream, "event %d: data of %d bytes", i, len(e.Data))
		case !json.Valid(e.Data):
			return invalid(req.Stream, "event %d: data is not JSON", i)
		}
		for _, n := range [...]int{len(e.EventID), len(e.Type), len(e.Actor), len(e.CorrelationID), len(e.CausationID)} {
			if n > fieldBytesMax {
				return invalid(req.Stream, "event %d: a field of %d bytes, want at most %d", i, n, fieldBytesMax)
			}
		}
	}
	return nil
}

// columns are an append's events as arrays, one per column, for unnest.
type columns struct {
	data, eventID, typ, actor, corr, caus []string
	schema                                []int16
	days                                  []int32
}

func columnsOf(es []domain.Envelope) columns {
	n := len(es)
	c := columns{data: make([]string, n), eventID: make([]string, n), typ: make([]string, n), actor: make([]string, n),
		corr: make([]string, n), caus: make([]string, n), schema: make([]int16, n), days: make([]int32, n)}
	for i := range es {
		e := &es[i]
		c.data[i], c.eventID[i], c.typ[i], c.actor[i] = string(e.Data), e.EventID, e.Type, e.Actor
		c.corr[i], c.caus[i], c.schema[i], c.days[i] = e.CorrelationID, e.CausationID, int16(e.SchemaVersion), e.EffectiveOn.Days()
	}
	return c
}

func ids(es []domain.Envelope) []string {
	out := make([]string, len(es))
	for i := range es {
		out[i] = es[i].EventID
	}
	return out
}

// Append appends req.Events atomically to req.Stream and the log (see the package doc).
func (s *Store) Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error) {
	if err := validate(&req); err != nil {
		return eventstore.AppendResult{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return eventstore.AppendResult{}, fmt.Errorf("append to %q: %w", req.Stream, eventstore.ErrClosed)
	}
	var res eventstore.AppendResult
	var err error
	if s.plain {
		res, err = s.appendPlain(ctx, &req)
	} else {
		res, err = s.appendChained(ctx, &req)
	}
	if err == nil && !res.Replayed {
		s.signal()
	}
	return res, err
}

// signal wakes the subscriptions waiting for new events.
func (s *Store) signal() {
	s.wakeMu.Lock()
	close(s.wake)
	s.wake = make(chan struct{})
	s.wakeMu.Unlock()
}

func (s *Store) waitCh() <-chan struct{} {
	s.wakeMu.Lock()
	defer s.wakeMu.Unlock()
	return s.wake
}

const insertPlain = `
INSERT INTO events (stream, version, data, event_id, type, schema_version, effective_on, recorded_at,
	actor, correlation_id, causation_id, idempotency_key, request_hash)
SELECT $1, m.cur + u.i, u.data::jsonb, u.event_id, u.type, u.schema_version, DATE '1970-01-01' + u.days, $2,
	u.actor, u.correlation_id, u.causation_id, $3, CASE WHEN u.i = 1 THEN $4::bytea END
FROM unnest($5::text[], $6::text[], $7::text[], $8::int2[], $9::int4[], $10::text[], $11::text[], $12::text[])
	WITH ORDINALITY AS u(data, event_id, type, schema_version, days, actor, correlation_id, causation_id, i),
	(SELECT coalesce(max(version), 0) AS cur FROM events WHERE stream = $1) AS m
WHERE $13::int8 < 0 OR m.cur = $13::int8
ORDER BY u.i
RETURNING position, version`

const insertIdempotency = `INSERT INTO idempotency (key, request_hash, stream, version, position, event_ids)
VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (key) DO NOTHING`

// appendPlain: one INSERT that checks the expected version and takes positions from the
// sequence; with an idempotency key, the key's row in the same transaction.
func (s *Store) appendPlain(ctx context.Context, req *eventstore.AppendRequest) (eventstore.AppendResult, error) {
	if req.IdempotencyKey != "" {
		if res, ok, err := s.replayed(ctx, s.pool, req); err != nil || ok {
			return res, err
		}
	}
	c := columnsOf(req.Events)
	at := time.Now().UTC().Truncate(time.Microsecond)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %q: begin: %w", req.Stream, err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // a no-op after Commit
	rows, err := tx.Query(ctx, insertPlain, req.Stream, at, req.IdempotencyKey, req.RequestHash,
		c.data, c.eventID, c.typ, c.schema, c.days, c.actor, c.corr, c.caus, req.ExpectedVersion)
	if err != nil {
		return eventstore.AppendResult{}, s.appendErr(req, err)
	}
	res := eventstore.AppendResult{Stream: req.Stream, EventIDs: ids(req.Events)}
	n := 0
	for rows.Next() {
		var pos, ver int64
		if err := rows.Scan(&pos, &ver); err != nil {
			rows.Close()
			return eventstore.AppendResult{}, s.appendErr(req, err)
		}
		res.Position, res.StreamVersion = max(res.Position, uint64(pos)), max(res.StreamVersion, uint64(ver))
		n++
	}
	if err := rows.Err(); err != nil {
		return eventstore.AppendResult{}, s.appendErr(req, err)
	}
	if n == 0 {
		return eventstore.AppendResult{}, fmt.Errorf("append to %q at version %d: %w", req.Stream, req.ExpectedVersion, eventstore.ErrWrongVersion)
	}
	if req.IdempotencyKey != "" {
		tag, err := tx.Exec(ctx, insertIdempotency, req.IdempotencyKey, req.RequestHash, req.Stream,
			int64(res.StreamVersion), int64(res.Position), res.EventIDs)
		if err != nil {
			return eventstore.AppendResult{}, s.appendErr(req, err)
		}
		if tag.RowsAffected() == 0 { // another append with this key committed first
			tx.Rollback(ctx) //nolint:errcheck // the lookup below decides
			if res, ok, err := s.replayed(ctx, s.pool, req); err != nil || ok {
				return res, err
			}
			return eventstore.AppendResult{}, fmt.Errorf("append to %q with key %q: the key's row vanished", req.Stream, req.IdempotencyKey)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return eventstore.AppendResult{}, s.appendErr(req, err)
	}
	return res, nil
}

const insertChained = `
INSERT INTO events (position, stream, version, data, event_id, type, schema_version, effective_on, recorded_at,
	actor, correlation_id, causation_id, idempotency_key, request_hash, prev_hash, hash)
SELECT $1::int8 + u.i, $2, $3::int8 + u.i, u.data::jsonb, u.event_id, u.type, u.schema_version, DATE '1970-01-01' + u.days, $4,
	u.actor, u.correlation_id, u.causation_id, $5, CASE WHEN u.i = 1 THEN $6::bytea END, u.prev_hash, u.hash
FROM unnest($7::text[], $8::text[], $9::text[], $10::int2[], $11::int4[], $12::text[], $13::text[], $14::text[], $15::bytea[], $16::bytea[])
	WITH ORDINALITY AS u(data, event_id, type, schema_version, days, actor, correlation_id, causation_id, prev_hash, hash, i)`

// appendChained: under the advisory lock, read the head and the stream's version, compute
// positions and hashes, insert, commit.
func (s *Store) appendChained(ctx context.Context, req *eventstore.AppendRequest) (eventstore.AppendResult, error) {
	c := columnsOf(req.Events)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %q: begin: %w", req.Stream, err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // a no-op after Commit
	// One round trip: the data as jsonb gives it back (the chain covers those bytes), the
	// lock, the key, the stream's version and the head.
	b := &pgx.Batch{}
	b.Queue(`SELECT d::jsonb::text FROM unnest($1::text[]) WITH ORDINALITY AS u(d, i) ORDER BY i`, c.data)
	b.Queue(`SELECT pg_advisory_xact_lock($1)`, int64(lockKey))
	b.Queue(`SELECT request_hash, stream, version, position, event_ids FROM idempotency WHERE key = $1`, req.IdempotencyKey)
	b.Queue(`SELECT coalesce(max(version), 0) FROM events WHERE stream = $1`, req.Stream)
	b.Queue(`SELECT position, hash, recorded_at FROM events ORDER BY position DESC LIMIT 1`)
	br := tx.SendBatch(ctx, b)
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return eventstore.AppendResult{}, s.appendErr(req, err)
	}
	norm, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err == nil && len(norm) != len(req.Events) {
		err = fmt.Errorf("%d data back for %d events", len(norm), len(req.Events))
	}
	if err == nil {
		_, err = br.Exec()
	}
	var prior eventstore.AppendResult
	var priorHash []byte
	var found bool
	if err == nil {
		var ver, pos int64
		err = br.QueryRow().Scan(&priorHash, &prior.Stream, &ver, &pos, &prior.EventIDs)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			err = nil
		case err == nil:
			found, prior.StreamVersion, prior.Position = true, uint64(ver), uint64(pos)
		}
	}
	var cur int64
	if err == nil {
		err = br.QueryRow().Scan(&cur)
	}
	var head eventstore.Head
	var headAt time.Time
	if err == nil {
		var pos int64
		var hash []byte
		err = br.QueryRow().Scan(&pos, &hash, &headAt)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			err = nil
		case err == nil:
			head.Position = uint64(pos)
			copy(head.Hash[:], hash)
		}
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return eventstore.AppendResult{}, s.appendErr(req, err)
	}
	if req.IdempotencyKey != "" && found {
		if !bytes.Equal(priorHash, req.RequestHash) {
			return eventstore.AppendResult{}, fmt.Errorf("append to %q with key %q: %w", req.Stream, req.IdempotencyKey, eventstore.ErrIdempotencyKeyReused)
		}
		prior.Replayed = true
		return prior, nil
	}
	if req.ExpectedVersion != eventstore.AnyVersion && req.ExpectedVersion != cur {
		return eventstore.AppendResult{}, fmt.Errorf("append to %q: expected version %d, stream at %d: %w",
			req.Stream, req.ExpectedVersion, cur, eventstore.ErrWrongVersion)
	}
	at := time.Now().UTC().Truncate(time.Microsecond)
	if at.Before(headAt) {
		at = headAt.UTC()
	}
	prev := head.Hash
	prevs, hashes := make([][]byte, len(req.Events)), make([][]byte, len(req.Events))
	var scratch []byte
	for i := range req.Events {
		e := req.Events[i]
		e.Position, e.StreamVersion, e.RecordedAt = head.Position+uint64(i)+1, uint64(cur)+uint64(i)+1, at
		e.IdempotencyKey, e.RequestHash, e.Data = req.IdempotencyKey, nil, json.RawMessage(norm[i])
		if i == 0 {
			e.RequestHash = req.RequestHash
		}
		p := prev
		scratch = domain.Seal(&e, prev, scratch)
		prev = e.Hash
		prevs[i], hashes[i] = p[:], e.Hash[:]
	}
	if _, err := tx.Exec(ctx, insertChained, int64(head.Position), req.Stream, cur, at, req.IdempotencyKey, req.RequestHash,
		norm, c.eventID, c.typ, c.schema, c.days, c.actor, c.corr, c.caus, prevs, hashes); err != nil {
		return eventstore.AppendResult{}, s.appendErr(req, err)
	}
	res := eventstore.AppendResult{Stream: req.Stream, StreamVersion: uint64(cur) + uint64(len(req.Events)),
		Position: head.Position + uint64(len(req.Events)), EventIDs: ids(req.Events)}
	if req.IdempotencyKey != "" {
		if _, err := tx.Exec(ctx, insertIdempotency, req.IdempotencyKey, req.RequestHash, req.Stream,
			int64(res.StreamVersion), int64(res.Position), res.EventIDs); err != nil {
			return eventstore.AppendResult{}, s.appendErr(req, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return eventstore.AppendResult{}, s.appendErr(req, err)
	}
	return res, nil
}

// appendErr maps a unique violation on (stream, version) to ErrWrongVersion.
func (s *Store) appendErr(req *eventstore.AppendRequest, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "events_stream_version_key" {
		return fmt.Errorf("append to %q: %w (%s)", req.Stream, eventstore.ErrWrongVersion, pgErr.Message)
	}
	return fmt.Errorf("append to %q: %w", req.Stream, err)
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// replayed looks up req's key: ok when it was used, with the first result (or
// ErrIdempotencyKeyReused for another request hash).
func (s *Store) replayed(ctx context.Context, q querier, req *eventstore.AppendRequest) (eventstore.AppendResult, bool, error) {
	res, hash, found, err := s.lookup(ctx, q, req.IdempotencyKey)
	if err != nil || !found {
		return eventstore.AppendResult{}, false, err
	}
	if !bytes.Equal(hash, req.RequestHash) {
		return eventstore.AppendResult{}, true, fmt.Errorf("append to %q with key %q: %w", req.Stream, req.IdempotencyKey, eventstore.ErrIdempotencyKeyReused)
	}
	res.Replayed = true
	return res, true, nil
}

func (s *Store) lookup(ctx context.Context, q querier, key string) (eventstore.AppendResult, []byte, bool, error) {
	var res eventstore.AppendResult
	var hash []byte
	var ver, pos int64
	err := q.QueryRow(ctx, `SELECT request_hash, stream, version, position, event_ids FROM idempotency WHERE key = $1`, key).
		Scan(&hash, &res.Stream, &ver, &pos, &res.EventIDs)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.AppendResult{}, nil, false, nil
	}
	if err != nil {
		return eventstore.AppendResult{}, nil, false, fmt.Errorf("look up key %q: %w", key, err)
	}
	res.StreamVersion, res.Position = uint64(ver), uint64(pos)
	return res, hash, true, nil
}

// LookupIdempotency returns the result stored for key.
func (s *Store) LookupIdempotency(ctx context.Context, key string) (eventstore.AppendResult, []byte, bool, error) {
	return s.lookup(ctx, s.pool, key)
}

const selectEvents = `SELECT position, stream, version, data::text, event_id, type, schema_version,
	effective_on - DATE '1970-01-01', recorded_at, actor, correlation_id, causation_id, idempotency_key,
	request_hash, prev_hash, hash FROM events `

func readLimit(limit int) int {
	if limit <= 0 || limit > eventstore.ReadLimitMax {
		return eventstore.ReadLimitMax
	}
	return limit
}

func (s *Store) query(ctx context.Context, sql string, args ...any) ([]domain.Envelope, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []domain.Envelope{}
	var (
		pos, ver      int64
		schema        int16
		days          int32
		data          []byte
		rh, prev, hsh []byte
	)
	for rows.Next() {
		var e domain.Envelope
		if err := rows.Scan(&pos, &e.Stream, &ver, &data, &e.EventID, &e.Type, &schema, &days, &e.RecordedAt, &e.Actor,
			&e.CorrelationID, &e.CausationID, &e.IdempotencyKey, &rh, &prev, &hsh); err != nil {
			return nil, err
		}
		e.Position, e.StreamVersion, e.SchemaVersion = uint64(pos), uint64(ver), uint16(schema)
		e.EffectiveOn, e.RecordedAt = domain.DateFromDays(days), e.RecordedAt.UTC()
		e.Data = json.RawMessage(bytes.Clone(data))
		if len(rh) > 0 {
			e.RequestHash = bytes.Clone(rh)
		}
		copy(e.PrevHash[:], prev)
		copy(e.Hash[:], hsh)
		out = append(out, e)
	}
	return out, rows.Err()
}

// ReadStream returns up to limit events of stream from fromVersion on.
func (s *Store) ReadStream(ctx context.Context, stream string, fromVersion uint64, limit int) ([]domain.Envelope, error) {
	es, err := s.query(ctx, selectEvents+`WHERE stream = $1 AND version >= $2 ORDER BY version LIMIT $3`,
		stream, int64(min(fromVersion, 1<<62)), readLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read stream %q from %d: %w", stream, fromVersion, err)
	}
	return es, nil
}

// ReadAll returns up to limit events from fromPosition on.
func (s *Store) ReadAll(ctx context.Context, fromPosition uint64, limit int) ([]domain.Envelope, error) {
	es, err := s.query(ctx, selectEvents+`WHERE position >= $1 ORDER BY position LIMIT $2`,
		int64(min(fromPosition, 1<<62)), readLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("read all from %d: %w", fromPosition, err)
	}
	return es, nil
}

// Head returns the last position and its hash.
func (s *Store) Head(ctx context.Context) (eventstore.Head, error) {
	var h eventstore.Head
	var pos int64
	var hash []byte
	err := s.pool.QueryRow(ctx, `SELECT position, hash FROM events ORDER BY position DESC LIMIT 1`).Scan(&pos, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return h, nil
	}
	if err != nil {
		return h, fmt.Errorf("head: %w", err)
	}
	h.Position = uint64(pos)
	copy(h.Hash[:], hash)
	return h, nil
}

type subscription struct {
	c   chan domain.Envelope
	mu  sync.Mutex
	err error
}

func (sub *subscription) C() <-chan domain.Envelope { return sub.c }

func (sub *subscription) Err() error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.err
}

// Subscribe polls the log by position: at once after a local append, every pollInterval
// otherwise. In chained mode commits are visible in position order, so it skips nothing.
func (s *Store) Subscribe(ctx context.Context, fromPosition uint64) (eventstore.Subscription, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("subscribe: %w", eventstore.ErrClosed)
	}
	sub := &subscription{c: make(chan domain.Envelope, subscriptionBuffer)}
	s.subs.Add(1)
	go s.runSubscription(ctx, sub, max(fromPosition, 1)) // ends with ctx, Close or a read error
	return sub, nil
}

func (s *Store) runSubscription(ctx context.Context, sub *subscription, next uint64) {
	defer s.subs.Done()
	defer close(sub.c)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // ends with the subscription
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	timer := time.NewTimer(pollInterval)
	defer timer.Stop()
	for {
		wake := s.waitCh()
		page, err := s.ReadAll(ctx, next, subscribePageMax)
		if err != nil {
			if ctx.Err() == nil {
				sub.mu.Lock()
				sub.err = err
				sub.mu.Unlock()
			}
			return
		}
		for _, e := range page {
			select {
			case sub.c <- e:
			case <-ctx.Done():
				return
			}
		}
		if len(page) > 0 {
			next = page[len(page)-1].Position + 1
			continue
		}
		timer.Reset(pollInterval)
		select {
		case <-wake:
		case <-timer.C:
		case <-ctx.Done():
			return
		}
	}
}
