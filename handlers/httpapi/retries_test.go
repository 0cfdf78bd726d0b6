package httpapi_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/auth"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/handlers/httpapi"
)

var retryKeys = flag.Int("retries.keys", 1000, "idempotency keys of TestRetriesAcrossRestart")

// restartable is the API over the embedded store in one data directory, which can be
// stopped (server, then store closed) and started again on the same directory: a restart of
// the service and its store.
type restartable struct {
	t     *testing.T
	dir   string
	srv   *httptest.Server
	store *embedded.Store
}

func (r *restartable) start() {
	r.t.Helper()
	store, err := embedded.Open(r.dir, embedded.Options{})
	require.NoError(r.t, err)
	clock := command.NewManualClock(testToday)
	tokens, err := auth.Open(context.Background(), store, auth.Options{Clock: clock, Bootstrap: adminToken})
	require.NoError(r.t, err)
	svc := command.New(store, clock, command.Options{})
	require.NoError(r.t, svc.Warm(context.Background()))
	r.store = store
	r.srv = httptest.NewServer(httpapi.New(svc, store, httpapi.Options{Clock: clock, Tokens: tokens, RateLimit: &auth.Rate{}}))
}

func (r *restartable) stop() {
	r.srv.Close()
	require.NoError(r.t, r.store.Close())
}

// post sends body with an Idempotency-Key; it returns the status and the body.
func (r *restartable) post(path, key, body string) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, r.srv.URL+path, bytes.NewReader([]byte(body)))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+adminToken)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := r.srv.Client().Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// TestRetriesAcrossRestart: 64 goroutines send 1000 (-retries.keys) idempotent invoices, each key 1 to 4
// times in random order, so that retries of one key race each other; after the first 60 %
// of the keys' first sends the service and its store restart on the same directory, and the rest,
// retries of those keys included, go to the new one. Exactly 1000 events are appended, every
// answer of a key is the same status and bytes, and the same key with another body is 409
// idempotency_key_reused, before and after another restart.
func TestRetriesAcrossRestart(t *testing.T) {
	const (
		goroutines = 64
		customers  = 16
	)
	keys := *retryKeys
	beforeKeys := keys * 3 / 5 // keys whose first send happens before the restart
	r := &restartable{t: t, dir: t.TempDir()}
	r.start()
	defer func() { r.stop() }()
	for c := range customers {
		status, b, err := r.post("/v1/customers", "", customerBody(fmt.Sprintf("C%d", c), "EUR", 1_000_000))
		require.NoError(t, err)
		require.Equal(t, http.StatusCreated, status, "%s", b)
	}
	setup, err := r.store.Head(context.Background())
	require.NoError(t, err)

	key := func(k int) string { return fmt.Sprintf("erp-%04d", k) }
	body := func(k int) string {
		return invoiceBody(fmt.Sprintf("C%d", k%customers), fmt.Sprintf("INV-%04d", k), int64(1000+k))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var before, after []int // keys to send, one entry per send
	for k := range keys {
		sends := 1 + rng.IntN(4)
		for s := range sends {
			if k < beforeKeys && s == 0 {
				before = append(before, k)
			} else {
				after = append(after, k)
			}
		}
	}
	rng.Shuffle(len(before), func(i, j int) { before[i], before[j] = before[j], before[i] })
	rng.Shuffle(len(after), func(i, j int) { after[i], after[j] = after[j], after[i] })

	type answer struct {
		status int
		body   string
	}
	var mu sync.Mutex
	answers := make(map[int][]answer, keys)
	send := func(work []int) {
		next := make(chan int)
		var wg sync.WaitGroup
		for range goroutines {
			wg.Go(func() {
				for k := range next {
					status, b, err := r.post("/v1/invoices", key(k), body(k))
					if !assert.NoError(t, err) {
						continue
					}
					mu.Lock()
					answers[k] = append(answers[k], answer{status, string(b)})
					mu.Unlock()
				}
			})
		}
		for _, k := range work {
			next <- k
		}
		close(next)
		wg.Wait()
	}
	send(before)
	r.stop()
	r.start()
	send(after)

	retried := 0
	for k := range keys {
		as := answers[k]
		require.NotEmpty(t, as, "key %d", k)
		retried += len(as) - 1
		assert.Equal(t, http.StatusCreated, as[0].status, "key %d: %s", k, as[0].body)
		for _, a := range as[1:] {
			assert.Equal(t, as[0], a, "key %d: every answer the same", k)
		}
	}
	events, err := r.store.ReadAll(context.Background(), setup.Position+1, 0)
	require.NoError(t, err)
	assert.Len(t, events, keys, "exactly one event per key")
	ids := map[string]bool{}
	for _, e := range events {
		assert.Equal(t, "InvoiceIssued", e.Type)
		assert.False(t, ids[e.IdempotencyKey], "key %s appended twice", e.IdempotencyKey)
		ids[e.IdempotencyKey] = true
	}
	t.Logf("%d keys, %d sends (%d retries, %d keys first sent before the restart): %d events", keys, len(before)+len(after), retried, beforeKeys, len(events))

	// The same key with another body, before and after a restart: 409, nothing appended.
	head, err := r.store.Head(context.Background())
	require.NoError(t, err)
	for round := range 2 {
		for _, k := range []int{0, 1, beforeKeys - 1, beforeKeys, keys - 1} {
			status, b, err := r.post("/v1/invoices", key(k), body(k+1))
			require.NoError(t, err)
			assert.Equal(t, http.StatusConflict, status, "round %d key %d: %s", round, k, b)
			assert.Contains(t, string(b), `"code":"idempotency_key_reused"`)
		}
		r.stop()
		r.start()
	}
	now, err := r.store.Head(context.Background())
	require.NoError(t, err)
	assert.Equal(t, head.Position, now.Position)
}
