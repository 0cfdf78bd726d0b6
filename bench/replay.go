package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/eventstore/postgres"
	"github.com/encours/encours/projections/engine"
	"github.com/encours/encours/projections/ledger"
)

// A customer of the replay log: registered, invoicesPerCustomer invoices, every other one
// paid in full; one Append per customer.
const (
	invoicesPerCustomer = 20
	eventsPerCustomer   = 1 + invoicesPerCustomer + invoicesPerCustomer/2
	fillWriters         = 8
)

var (
	day0 = domain.MustDate("2025-01-01") // the log's first business date; its last is within a year
)

func eur(minor int64) domain.Money { return domain.Money{Minor: minor, Ccy: "EUR"} }

// customerEvents returns customer i's events (one Append); open says whether to include
// the payments (false leaves every invoice open).
func customerEvents(i, invoices int, paid bool) []domain.Envelope {
	id := domain.CustomerID(fmt.Sprintf("C%07d", i))
	stream := domain.CustomerStream(id)
	var out []domain.Envelope
	add := func(typ string, on domain.Date, ev domain.Event) {
		data, err := domain.EncodeEvent(ev)
		if err != nil {
			panic(fmt.Sprintf("bench: encode %s: %v", typ, err)) // the generator's own bug
		}
		out = append(out, domain.Envelope{EventID: fmt.Sprintf("%s-%d", id, len(out)), Stream: stream, Type: typ, SchemaVersion: 1,
			EffectiveOn: on, Actor: "bench", CorrelationID: string(id), Data: data})
	}
	add(domain.TypeCustomerRegistered, day0, domain.CustomerRegistered{CustomerID: id, Name: fmt.Sprintf("Customer %07d SAS", i),
		Country: "FR", Sector: []string{"C25", "G46", "F43"}[i%3], Segment: []string{"sme", "corporate"}[i%2], Currency: "EUR",
		Terms: domain.Net(30), CreditLimit: eur(50_000_000_00), RegisteredOn: day0})
	for j := range invoices {
		inv := domain.InvoiceID(fmt.Sprintf("F%07d-%04d", i, j))
		issue := day0.AddDays((i + j*3) % 300)
		amount := eur(int64(10_000 + (i*37+j*101)%500_000))
		add(domain.TypeInvoiceIssued, issue, domain.InvoiceIssued{InvoiceID: inv, Number: string(inv), Amount: amount, IssueDate: issue, DueDate: issue.AddDays(30)})
		if paid && j%2 == 1 {
			on := issue.AddDays(25 + j%20)
			add(domain.TypePaymentReceived, on, domain.PaymentReceived{PaymentID: domain.PaymentID("P" + string(inv)), Amount: amount, ReceivedOn: on,
				Allocations: []domain.Allocation{{InvoiceID: inv, Amount: amount}}, Unallocated: eur(0)})
		}
	}
	return out
}

// fillLedger appends customers until the log holds at least n events, from fillWriters
// goroutines; it returns the number of events appended.
func fillLedger(ctx context.Context, s eventstore.Store, n int) (int, error) {
	customers := (n + eventsPerCustomer - 1) / eventsPerCustomer
	var next atomic.Int64
	var total atomic.Int64
	errs := make([]error, fillWriters)
	var wg sync.WaitGroup
	for w := range fillWriters {
		wg.Add(1)
		go func() { // ends when the customers are handed out, or on the first error
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= customers || ctx.Err() != nil {
					return
				}
				es := customerEvents(i, invoicesPerCustomer, true)
				if _, err := s.Append(ctx, eventstore.AppendRequest{Stream: es[0].Stream, ExpectedVersion: 0, Events: es}); err != nil {
					errs[w] = err
					return
				}
				total.Add(int64(len(es)))
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return 0, err
		}
	}
	return int(total.Load()), ctx.Err()
}

// verifyingReader checks the hash chain of what it reads: each event's hash against its
// bytes and its prev_hash against the event before. PostgreSQL checks none of it itself.
type verifyingReader struct {
	src     engine.Reader
	prev    domain.Hash
	last    uint64
	scratch []byte
}

func (v *verifyingReader) ReadAll(ctx context.Context, from uint64, limit int) ([]domain.Envelope, error) {
	page, err := v.src.ReadAll(ctx, from, limit)
	if err != nil {
		return nil, err
	}
	for i := range page {
		e := &page[i]
		if e.Position != v.last+1 || e.PrevHash != v.prev {
			return nil, fmt.Errorf("position %d: not linked to %d: %w", e.Position, v.last, eventstore.ErrCorrupt)
		}
		if err := domain.VerifyHash(e, v.scratch); err != nil {
			return nil, fmt.Errorf("%v: %w", err, eventstore.ErrCorrupt)
		}
		v.prev, v.last = e.Hash, e.Position
	}
	return page, nil
}

// The replay's as-of date (today: every event of the log is effective by then) and known-at
// instant (now).
func asOfAll() domain.Date  { return domain.DateOfTime(time.Now()) }
func knownAtAll() time.Time { return time.Now().Add(time.Hour) }

func (r *runner) replay(ctx context.Context) error {
	for _, n := range r.cfg.ReplayEvents {
		if err := r.replayOne(ctx, n); err != nil {
			return fmt.Errorf("%d events: %w", n, err)
		}
	}
	return nil
}

func (r *runner) replayOne(ctx context.Context, n int) error {
	group := fmt.Sprintf("replay, %s events", count(n))
	dir, err := r.tempDir("replay")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	storeDir, snapDir := filepath.Join(dir, "store"), filepath.Join(dir, "projections")
	es, err := embedded.Open(storeDir, embedded.Options{})
	if err != nil {
		return err
	}
	t0 := time.Now()
	events, err := fillLedger(ctx, es, n)
	if err != nil {
		_ = es.Close()
		return err
	}
	fillRate := float64(events) / time.Since(t0).Seconds()
	st := es.Stats()
	if err := es.Close(); err != nil {
		return err
	}
	fmt.Fprintf(r.cfg.Log, "bench:   encours: %d events filled at %.0f events/s\n", events, fillRate)

	// Replay into a ready ledger from the read-only store: the ledger engine's catch-up with
	// no snapshot, the daemon's path to a ready model (a reader per core, the CRC of each
	// record and the prev_hash links checked as it reads). Verified: the same with every
	// record's SHA-256 recomputed as well (the engine's chain verification).
	// Every timed replay reads the log from the page cache, whatever the kernel kept of it
	// since the fill: the replays measure the replay, not the disk.
	if err := readFiles(storeDir); err != nil {
		return err
	}
	ro, err := embedded.Open(storeDir, embedded.Options{ReadOnly: true})
	if err != nil {
		return err
	}
	// Each replay runs replayRuns times, unverified and verified alternately, and the rows
	// give the median: on this kind of machine one run varies by ±15 % from the next, and
	// the first replay of a large log in a process also pays the memory's first touch.
	var plain, verified, asOf timed
	for range replayRuns {
		took, err := catchUpToReady(ctx, ro, false)
		if err != nil {
			_ = ro.Close()
			return err
		}
		plain = append(plain, took)
		if took, err = catchUpToReady(ctx, ro, true); err != nil {
			_ = ro.Close()
			return fmt.Errorf("verified replay: %w", err)
		}
		verified = append(verified, took)
	}
	// The as-of replay (engine.LedgerAsOf: Replay's rules fed by the catch-up's readers):
	// what a past-date read or `encours replay` costs, beside the engine's.
	for range replayRuns {
		runtime.GC()
		t0 = time.Now()
		if _, err := engine.LedgerAsOf(ctx, ro, asOfAll(), knownAtAll()); err != nil {
			_ = ro.Close()
			return err
		}
		asOf = append(asOf, time.Since(t0))
	}
	_ = ro.Close()
	encReplay, encVerified, encAsOf := plain.rate(events), verified.rate(events), asOf.rate(events)
	fmt.Fprintf(r.cfg.Log, "bench:   encours: replay %.0f events/s, verified %.0f events/s, as-of replay %.0f events/s (medians of %d)\n",
		encReplay, encVerified, encAsOf, replayRuns)

	// Restart to ready: the daemon's path, Open (recovery scan) and the ledger engine to
	// ready: cold (no snapshot), then warm (from the snapshot the clean stop wrote).
	cold, err := restartToReady(ctx, storeDir, snapDir)
	if err != nil {
		return fmt.Errorf("cold start: %w", err)
	}
	var warms timed
	for range replayRuns {
		warm, err := restartToReady(ctx, storeDir, snapDir)
		if err != nil {
			return fmt.Errorf("restart: %w", err)
		}
		warms = append(warms, warm)
	}
	warm := warms.median()
	fmt.Fprintf(r.cfg.Log, "bench:   encours: start without snapshot %s, restart %s (median of %d)\n", cold, warm, replayRuns)

	// PostgreSQL: the chained store (so there is a chain to verify), filled the same way.
	var pgReplay, pgVerified, pgBytes *float64
	pgSize := ""
	pgNote := "PostgreSQL not run: set ENCOURS_POSTGRES_URL"
	if r.cfg.PostgresURL != "" {
		ps, drop, err := r.openPostgres(ctx, "replay", false)
		if err != nil {
			return err
		}
		defer drop()
		t0 = time.Now()
		pgEvents, err := fillLedger(ctx, ps, min(n, r.cfg.PostgresReplayEvents))
		if err != nil {
			return fmt.Errorf("postgres fill: %w", err)
		}
		fmt.Fprintf(r.cfg.Log, "bench:   postgres: %d events filled at %.0f events/s\n", pgEvents, float64(pgEvents)/time.Since(t0).Seconds())
		runtime.GC()
		t0 = time.Now()
		if _, err := engine.LedgerAsOf(ctx, ps, asOfAll(), knownAtAll()); err != nil {
			return err
		}
		pgReplay = f(float64(pgEvents) / time.Since(t0).Seconds())
		runtime.GC()
		t0 = time.Now()
		if _, err := engine.LedgerAsOf(ctx, &verifyingReader{src: ps}, asOfAll(), knownAtAll()); err != nil {
			return err
		}
		pgVerified = f(float64(pgEvents) / time.Since(t0).Seconds())
		b, err := postgresBytes(ctx, ps)
		if err != nil {
			return err
		}
		pgBytes = f(float64(b) / float64(pgEvents))
		pgNote = "PostgreSQL (chained store): SELECT by position into the same ledger; verified: the chain recomputed as it reads"
		if pgEvents < events {
			pgSize = fmt.Sprintf("; PostgreSQL's log: %d events (filled through Append)", pgEvents)
		}
		fmt.Fprintf(r.cfg.Log, "bench:   postgres: replay %.0f events/s, verified %.0f events/s\n", *pgReplay, *pgVerified)
	}
	row := r.res.add(Row{Group: group, Name: "replay into a ready ledger", Unit: "events/s", Better: Higher,
		Encours: f(encReplay), Runs: plain.rates(events), PostgresChained: pgReplay,
		Note: "Encours: the ledger engine's catch-up, no snapshot, a reader per core; " + ratesNote(plain, events) + "; " + pgNote + pgSize})
	target(row, ">= 3M events/s", encReplay >= 3_000_000, false)
	row = r.res.add(Row{Group: group, Name: "replay with chain verification", Unit: "events/s", Better: Higher,
		Encours: f(encVerified), Runs: verified.rates(events), PostgresChained: pgVerified,
		Note: "Encours: the engine's catch-up recomputing every record's SHA-256 and link, on both cores; " + ratesNote(verified, events)})
	target(row, ">= 2M events/s", encVerified >= 2_000_000, false)
	r.res.add(Row{Group: group, Name: "as-of replay", Unit: "events/s", Better: Higher, Encours: f(encAsOf), Runs: asOf.rates(events),
		PostgresChained: pgReplay, Note: "engine.LedgerAsOf of the whole log as of today, every record's SHA-256 checked: a past-date read, `encours replay`; " + ratesNote(asOf, events)})
	r.res.add(Row{Group: group, Name: "store bytes per event", Unit: "B", Better: Lower,
		Encours: f(float64(st.Bytes) / float64(max(st.Events, 1))), PostgresChained: pgBytes,
		Note: "Encours: record bytes written; PostgreSQL: pg_total_relation_size of its tables (indexes included, WAL not)"})
	row = r.res.add(Row{Group: group, Name: "restart to ready (from snapshot)", Unit: "s", Better: Lower, NoPostgres: true, Encours: f(warm.Seconds()),
		Runs: warms.seconds(), Note: "store Open (from its recovery checkpoint, the tail scanned) + ledger engine ready from its snapshot; " +
			runsNote(warms.seconds(), "%.3f s") + "; PostgreSQL's own restart not measured"})
	target(row, "<= 2 s", warm <= 2*time.Second, false)
	r.res.add(Row{Group: group, Name: "start to ready without snapshot", Unit: "s", Better: Lower, NoPostgres: true, Encours: f(cold.Seconds())})
	return nil
}

// replayRuns is how many times each replay and restart runs; its row gives the median and
// the runs.
const replayRuns = 3

// runsNote names the runs a median was taken from, in run order, each formatted by format.
func runsNote(runs []float64, format string) string {
	parts := make([]string, len(runs))
	for i, v := range runs {
		parts[i] = fmt.Sprintf(format, v)
	}
	return fmt.Sprintf("median of %d runs: %s", len(runs), strings.Join(parts, ", "))
}

func millions(v float64) float64 { return v / 1e6 }

func ratesNote(t timed, events int) string {
	rs := t.rates(events)
	for i := range rs {
		rs[i] = millions(rs[i])
	}
	return runsNote(rs, "%.2fM")
}

// timed is the durations of a measurement's runs.
type timed []time.Duration

// median is the middle run (the upper middle of an even count).
func (t timed) median() time.Duration { return slices.Sorted(slices.Values(t))[len(t)/2] }

// rate is events per second at the median run.
func (t timed) rate(events int) float64 { return float64(events) / t.median().Seconds() }

// rates is events per second of each run, in run order.
func (t timed) rates(events int) []float64 {
	out := make([]float64, len(t))
	for i, d := range t {
		out[i] = float64(events) / d.Seconds()
	}
	return out
}

// seconds is each run in seconds, in run order.
func (t timed) seconds() []float64 {
	out := make([]float64, len(t))
	for i, d := range t {
		out[i] = d.Seconds()
	}
	return out
}

// restartToReady opens the store and runs the ledger engine until it is ready, then stops
// it cleanly (which writes its snapshot); it returns the time from Open to ready.
func restartToReady(ctx context.Context, storeDir, snapDir string) (time.Duration, error) {
	runtime.GC()
	t0 := time.Now()
	es, err := embedded.Open(storeDir, embedded.Options{})
	if err != nil {
		return 0, err
	}
	defer es.Close()
	eng := engine.NewLedgerEngine(es, snapDir, engine.Config[*ledger.Model]{})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- eng.Run(rctx) }() // ends at cancel below
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var ready time.Duration
	for ready == 0 {
		select {
		case err := <-done:
			cancel()
			return 0, fmt.Errorf("engine ended before ready: %v", err)
		case <-tick.C:
			if eng.Ready() {
				ready = time.Since(t0)
			}
		}
	}
	cancel()
	if err := <-done; err != nil && ctx.Err() == nil {
		return 0, err
	}
	return ready, nil
}

func postgresBytes(ctx context.Context, ps *postgres.Store) (int64, error) {
	var n int64
	err := ps.Pool().QueryRow(ctx, `SELECT pg_total_relation_size('events') + pg_total_relation_size('idempotency')`).Scan(&n)
	return n, err
}

func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// catchUpToReady runs a ledger engine without a snapshot over s until it is ready and
// returns how long that took; verify recomputes every record's SHA-256 on the way.
func catchUpToReady(ctx context.Context, s *embedded.Store, verify bool) (time.Duration, error) {
	runtime.GC()
	t0 := time.Now()
	eng := engine.NewLedgerEngine(s, "", engine.Config[*ledger.Model]{SkipChainVerification: !verify})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- eng.Run(rctx) }() // ends at cancel below
	tick := time.NewTicker(200 * time.Microsecond)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			cancel()
			return 0, fmt.Errorf("engine ended before ready: %v", err)
		case <-tick.C:
			if !eng.Ready() {
				continue
			}
			took := time.Since(t0)
			cancel()
			if err := <-done; err != nil && ctx.Err() == nil {
				return 0, err
			}
			return took, nil
		}
	}
}

// readFiles reads every file of dir once (into the page cache).
func readFiles(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("read %s: %w", e.Name(), err)
		}
	}
	return nil
}
