package alerting

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// BenchmarkAlertLatency measures append → alert delivered, to an SSE client and to a local
// webhook receiver, under background appends (the Early-warning signals issue: p50/p99,
// target p99 ≤ 5 ms, under 10k events/s). Method: one customer, BENCH, has its credit limit
// moved across 80 % of its exposure at each iteration, which raises or resolves its
// credit_limit alert; the clock starts before the limit change's Append and stops when the
// alert event arrives, at the webhook (subscription filtered on BENCH) and on the SSE
// stream (?customer_id=BENCH). Meanwhile writers append invoices to 1 000 other customers at
// the background rate (bgEventsPerSec). The path: the fact's fsync, the evaluator's
// subscription, the batch's evaluation (BENCH and every customer the background touched),
// the alert's fsync, then the delivery's subscriptions and the HTTP hop. append-p50/p99 is
// the limit change's own Append (one fsync under the same load), and alert-committed the
// time until the alert event was committed (its recorded_at), for comparison.
func BenchmarkAlertLatency(b *testing.B) {
	const (
		bgEventsPerSec = 10_000
		bgWriters      = 8
		bgCustomers    = 1000
		bgBatch        = 25 // events per background Append (one customer's invoices)
	)
	r := newRig(b, b.TempDir(), rigOptions{today: d("2024-06-01")})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The background customers: registered with a limit no invoice reaches.
	for i := range bgCustomers {
		c := domain.CustomerID(fmt.Sprintf("BG%04d", i))
		data, _ := domain.EncodeEvent(domain.CustomerRegistered{CustomerID: c, Name: string(c), Country: "FR", Segment: "corporate",
			Currency: "EUR", Terms: domain.Net(60), CreditLimit: eur(1 << 50), RegisteredOn: d("2024-01-01")})
		stream := domain.CustomerStream(c)
		_, err := r.store.Append(ctx, eventstore.AppendRequest{Stream: stream, ExpectedVersion: 0, Events: []domain.Envelope{{
			EventID: "reg-" + string(c), Stream: stream, Type: domain.TypeCustomerRegistered, SchemaVersion: 1,
			EffectiveOn: d("2024-01-01"), Actor: "bench", Data: data}}})
		require.NoError(b, err)
	}
	const bench = domain.CustomerID("BENCH")
	r.register(bench, "sme", 30, 100_000_00, d("2024-01-01"))
	r.invoice(bench, 8_500_00, d("2024-06-01")) // 8.5 % of the limit: no alert yet

	// The webhook receiver and the SSE client, each handing BENCH's alert events over.
	hooked := make(chan time.Time, 16)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		w.WriteHeader(http.StatusNoContent)
		hooked <- time.Now()
	}))
	defer hook.Close()
	var sub createdSubscription
	require.Equal(b, http.StatusCreated, r.do("POST", "/v1/subscriptions", map[string]any{"channel": "webhook", "url": hook.URL,
		"filter": map[string]any{"customer_ids": []string{string(bench)}}}, &sub))
	streamed := make(chan time.Time, 16)
	committed := make(chan time.Time, 16) // recorded_at of the alert event: when the store committed it
	sse := r.openSSE("?customer_id=BENCH", "")
	go func() { // ends when the stream ends (the rig's server closes)
		for e := range sse.events {
			streamed <- time.Now()
			committed <- e.note.RecordedAt
		}
	}()
	require.Eventually(b, func() bool { return r.dl.Stats().SSEClients == 1 }, waitMax, time.Millisecond)

	// Background writers: bgEventsPerSec invoices in all, bgBatch per Append.
	var bgEvents atomic.Int64
	var wg sync.WaitGroup
	for w := range bgWriters {
		wg.Add(1)
		go func() { // ends with ctx
			defer wg.Done()
			period := time.Duration(int64(time.Second) * bgBatch * bgWriters / bgEventsPerSec)
			t := time.NewTicker(period)
			defer t.Stop()
			versions := map[string]int64{}
			for n := 0; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				c := domain.CustomerID(fmt.Sprintf("BG%04d", (w+n*bgWriters)%bgCustomers))
				stream := domain.CustomerStream(c)
				if versions[stream] == 0 {
					versions[stream] = 1
				}
				req := eventstore.AppendRequest{Stream: stream, ExpectedVersion: versions[stream]}
				for k := range bgBatch {
					id := fmt.Sprintf("%s-%d-%d", c, n, k)
					data, _ := domain.EncodeEvent(domain.InvoiceIssued{InvoiceID: domain.InvoiceID(id), Number: id, Amount: eur(100_00),
						IssueDate: d("2024-05-20"), DueDate: d("2024-07-19")})
					req.Events = append(req.Events, domain.Envelope{EventID: id, Stream: stream, Type: domain.TypeInvoiceIssued,
						SchemaVersion: 1, EffectiveOn: d("2024-05-20"), Actor: "bench", Data: data})
				}
				res, err := r.store.Append(ctx, req)
				if err != nil {
					return
				}
				versions[stream] = int64(res.StreamVersion)
				bgEvents.Add(bgBatch)
			}
		}()
	}
	require.Eventually(b, func() bool { return bgEvents.Load() >= bgEventsPerSec/2 }, waitMax, time.Millisecond,
		"the background running for about half a second before measuring")

	benchStream := domain.CustomerStream(bench)
	version := r.vers[benchStream]
	var hookLat, sseLat, appendLat, commitLat []time.Duration
	b.ResetTimer()
	startBG, startAt := bgEvents.Load(), time.Now()
	for i := range b.N {
		limit := int64(100_000_00) // 8.5 %: resolves
		if i%2 == 0 {
			limit = 10_000_00 // 85 %: raises
		}
		data, _ := domain.EncodeEvent(domain.CreditLimitChanged{Limit: eur(limit), Reason: "bench", ChangedOn: d("2024-06-01")})
		t0 := time.Now()
		res, err := r.store.Append(ctx, eventstore.AppendRequest{Stream: benchStream, ExpectedVersion: version, Events: []domain.Envelope{{
			EventID: fmt.Sprintf("bench-%d", i), Stream: benchStream, Type: domain.TypeCreditLimitChanged, SchemaVersion: 1,
			EffectiveOn: d("2024-06-01"), Actor: "bench", Data: data}}})
		require.NoError(b, err)
		appendLat = append(appendLat, time.Since(t0))
		version = int64(res.StreamVersion)
		for _, ch := range []chan time.Time{hooked, streamed} {
			select {
			case at := <-ch:
				if ch == hooked {
					hookLat = append(hookLat, at.Sub(t0))
				} else {
					sseLat = append(sseLat, at.Sub(t0))
				}
			case <-time.After(waitMax):
				b.Fatalf("iteration %d: no alert delivered within %s", i, waitMax)
			}
		}
		commitLat = append(commitLat, (<-committed).Sub(t0))
	}
	b.StopTimer()
	rate := float64(bgEvents.Load()-startBG) / time.Since(startAt).Seconds()
	cancel()
	wg.Wait()
	pct := func(ds []time.Duration, p int) float64 {
		s := slices.Clone(ds)
		slices.Sort(s)
		return float64(s[min(len(s)-1, len(s)*p/100)].Microseconds()) / 1000
	}
	b.ReportMetric(pct(hookLat, 50), "webhook-p50-ms")
	b.ReportMetric(pct(hookLat, 99), "webhook-p99-ms")
	b.ReportMetric(pct(sseLat, 50), "sse-p50-ms")
	b.ReportMetric(pct(sseLat, 99), "sse-p99-ms")
	b.ReportMetric(pct(commitLat, 50), "alert-committed-p50-ms")
	b.ReportMetric(pct(commitLat, 99), "alert-committed-p99-ms")
	b.ReportMetric(pct(appendLat, 50), "append-p50-ms")
	b.ReportMetric(pct(appendLat, 99), "append-p99-ms")
	b.ReportMetric(rate, "background-events/s")
	st := r.ev.Stats()
	b.Logf("%d iterations, %d evaluations; background %.0f events/s", b.N, st.Evaluations, rate)
}
