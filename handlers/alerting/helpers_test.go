package alerting

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/projections/signals"
)

// waitMax bounds every wait of these tests (style §7: every wait has a deadline).
const waitMax = 10 * time.Second

func d(s string) domain.Date { return domain.MustDate(s) }

func eur(minor int64) domain.Money { return domain.Money{Minor: minor, Ccy: "EUR"} }

// rig is an embedded store in a directory with an Evaluator and a Delivery running on it,
// and the routes served by an httptest server. Its business date is set by the test.
type rig struct {
	t     testing.TB
	dir   string
	store *embedded.Store
	ev    *Evaluator
	dl    *Delivery
	srv   *httptest.Server

	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	today domain.Date
	vers  map[string]int64
	seq   int
	terms map[domain.CustomerID]int
}

type rigOptions struct {
	delivery DeliveryOptions
	config   *signals.Config
	today    domain.Date
	snapshot bool // the evaluator keeps its snapshot in dir/alerts.snapshot
}

// newRig opens (or reopens) a store in dir and starts an evaluator and a delivery on it.
func newRig(t testing.TB, dir string, o rigOptions) *rig {
	t.Helper()
	st, err := embedded.Open(dir+"/store", embedded.Options{})
	require.NoError(t, err)
	r := &rig{t: t, dir: dir, store: st, vers: map[string]int64{}, terms: map[domain.CustomerID]int{}, today: o.today}
	if r.today.IsZero() {
		r.today = d("2024-01-01")
	}
	eo := EvaluatorOptions{Config: o.config, Today: r.Today, TickPoll: 20 * time.Millisecond}
	if o.snapshot {
		eo.SnapshotPath = dir + "/alerts.snapshot"
	}
	r.ev = NewEvaluator(st, eo)
	o.delivery.Dir = dir + "/delivery"
	if o.delivery.Backoff.Initial == 0 {
		o.delivery.Backoff = Backoff{Initial: 2 * time.Millisecond, Max: 20 * time.Millisecond}
	}
	if o.delivery.CheckpointInterval == 0 {
		o.delivery.CheckpointInterval = 10 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.dl, err = OpenDelivery(ctx, st, o.delivery)
	require.NoError(t, err)
	r.cancel, r.done = cancel, make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = r.ev.Run(ctx) }() // ends with ctx
	go func() { defer wg.Done(); _ = r.dl.Run(ctx) }() // ends with ctx
	go func() { wg.Wait(); close(r.done) }()
	mux := http.NewServeMux()
	for _, rt := range Routes(r.ev, r.dl, RoutesOptions{Actor: func(*http.Request) string { return "manager@test" }}) {
		mux.HandleFunc(rt.Method+" "+rt.Pattern, rt.Handler)
	}
	r.srv = httptest.NewServer(mux)
	r.recoverVersions()
	t.Cleanup(r.stop)
	return r
}

// recoverVersions reads the customer stream versions of a reopened store.
func (r *rig) recoverVersions() {
	page, err := r.store.ReadAll(context.Background(), 1, eventstore.ReadLimitMax)
	require.NoError(r.t, err)
	for _, e := range page {
		r.vers[e.Stream] = int64(e.StreamVersion)
	}
}

// stop cancels the evaluator and the delivery, waits for them, and closes the store.
func (r *rig) stop() {
	if r.cancel == nil {
		return
	}
	r.srv.Close()
	r.cancel()
	select {
	case <-r.done:
	case <-time.After(waitMax):
		r.t.Errorf("evaluator and delivery did not stop within %s", waitMax)
	}
	_ = r.store.Close()
	r.cancel = nil
}

// kill is stop without the delivery's final state write: a crash as far as delivery knows.
func (r *rig) kill() {
	r.dl.mu.Lock()
	r.dl.opts.noFinalPersist = true
	r.dl.mu.Unlock()
	r.stop()
}

func (r *rig) Today() domain.Date {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.today
}

// tick moves the business date and waits for the evaluator's tick there.
func (r *rig) tick(day domain.Date) {
	r.t.Helper()
	r.mu.Lock()
	r.today = day
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), waitMax)
	defer cancel()
	require.NoError(r.t, r.ev.Tick(ctx, day))
}

// add appends ev on customer c's stream and waits until the evaluator has evaluated it.
func (r *rig) add(c domain.CustomerID, ev domain.Event) uint64 {
	r.t.Helper()
	data, err := domain.EncodeEvent(ev)
	require.NoError(r.t, err)
	stream := domain.CustomerStream(c)
	r.seq++
	ctx, cancel := context.WithTimeout(context.Background(), waitMax)
	defer cancel()
	res, err := r.store.Append(ctx, eventstore.AppendRequest{Stream: stream, ExpectedVersion: r.vers[stream],
		Events: []domain.Envelope{{EventID: fmt.Sprintf("test-%d-%d", time.Now().UnixNano(), r.seq), Stream: stream, Type: ev.EventType(),
			SchemaVersion: domain.CurrentSchemaVersion, EffectiveOn: ev.Effective(), Actor: "test", Data: data}}})
	require.NoError(r.t, err)
	r.vers[stream] = int64(res.StreamVersion)
	require.NoError(r.t, r.ev.WaitFor(ctx, res.Position), "evaluated up to %d", res.Position)
	return res.Position
}

func (r *rig) register(c domain.CustomerID, segment string, terms int, limit int64, on domain.Date) uint64 {
	r.terms[c] = terms
	return r.add(c, domain.CustomerRegistered{CustomerID: c, Name: string(c), Country: "FR", Segment: segment,
		Currency: "EUR", Terms: domain.Net(terms), CreditLimit: eur(limit), RegisteredOn: on})
}

func (r *rig) invoice(c domain.CustomerID, amount int64, issue domain.Date) domain.InvoiceID {
	r.seq++
	id := domain.InvoiceID(fmt.Sprintf("%s-I%d", c, r.seq))
	r.add(c, domain.InvoiceIssued{InvoiceID: id, Number: string(id), Amount: eur(amount), IssueDate: issue, DueDate: issue.AddDays(r.terms[c])})
	return id
}

func (r *rig) pay(c domain.CustomerID, on domain.Date, inv domain.InvoiceID, amount int64) uint64 {
	r.seq++
	id := domain.PaymentID(fmt.Sprintf("%s-P%d", c, r.seq))
	return r.add(c, domain.PaymentReceived{PaymentID: id, Amount: eur(amount), ReceivedOn: on,
		Allocations: []domain.Allocation{{InvoiceID: inv, Amount: eur(amount)}}, Unallocated: eur(0)})
}

func (r *rig) setLimit(c domain.CustomerID, limit int64, on domain.Date) uint64 {
	return r.add(c, domain.CreditLimitChanged{Limit: eur(limit), Reason: "test", ChangedOn: on})
}

// alertEvents returns the alert events of the log, in position order.
func (r *rig) alertEvents() []domain.Envelope {
	r.t.Helper()
	var out []domain.Envelope
	for from := uint64(1); ; {
		page, err := r.store.ReadAll(context.Background(), from, eventstore.ReadLimitMax)
		require.NoError(r.t, err)
		for _, e := range page {
			if isAlertEvent(e) {
				out = append(out, e)
			}
		}
		if len(page) < eventstore.ReadLimitMax {
			return out
		}
		from = page[len(page)-1].Position + 1
	}
}

// do sends a request to the rig's server and decodes a JSON answer into out (if not nil).
func (r *rig) do(method, path string, body any, out any) int {
	r.t.Helper()
	var req *http.Request
	var err error
	if body != nil {
		b, merr := json.Marshal(body)
		require.NoError(r.t, merr)
		req, err = http.NewRequest(method, r.srv.URL+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
	} else {
		req, err = http.NewRequest(method, r.srv.URL+path, nil)
	}
	require.NoError(r.t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(r.t, err)
	defer resp.Body.Close()
	if out != nil {
		require.NoError(r.t, json.NewDecoder(resp.Body).Decode(out))
	}
	return resp.StatusCode
}

func newTestRand() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }
