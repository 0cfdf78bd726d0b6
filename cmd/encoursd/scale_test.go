package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/bus/kafka"
	"github.com/encours/encours/bus/kafka/kafkatest"
	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/kurrent"
	"github.com/encours/encours/eventstore/kurrent/kurrenttest"
	"github.com/encours/encours/handlers/reports"
	"github.com/encours/encours/projections/ledger"
)

const (
	scaleToken = "env-admin-token-0123456789abcdef-0123456789"
	scaleWait  = 60 * time.Second
	scaleAsOf  = "2026-12-31"
)

func buildDaemon(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "encoursd")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run(), "go build")
	return bin
}

// cluster is one deployment under test: a KurrentDB (in-process), the real broker, and a
// topic prefix of its own.
type cluster struct {
	bin, url, brokers, prefix string
}

func (c cluster) start(t *testing.T, args ...string) *daemon {
	t.Helper()
	return c.startIn(t, filepath.Join(t.TempDir(), "data"), args...)
}

func (c cluster) startIn(t *testing.T, data string, args ...string) *daemon {
	t.Helper()
	base := []string{"--store", "kurrentdb", "--kurrentdb-url", c.url, "--kafka-brokers", c.brokers,
		"--kafka-topic-prefix", c.prefix, "--kafka-partitions", "8"}
	return startDaemon(t, c.bin, data, []string{adminTokenEnv + "=" + scaleToken}, append(base, args...)...)
}

// metric reads one series' value from a /metrics page (0 when absent).
func metric(t *testing.T, url, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(get(t, url+"/metrics", scaleToken))
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	require.NoError(t, err)
	return v
}

type heldList struct {
	Customers []reports.HeldCustomer `json:"customers"`
}

func heldBy(t *testing.T, url string) map[domain.CustomerID]reports.HeldCustomer {
	t.Helper()
	var l heldList
	require.NoError(t, json.Unmarshal([]byte(get(t, url+"/v1/projection/customers?as_of="+scaleAsOf, scaleToken)), &l))
	out := map[domain.CustomerID]reports.HeldCustomer{}
	for _, c := range l.Customers {
		out[c.CustomerID] = c
	}
	return out
}

// storeReference replays the whole log: each customer's stream version and figures.
func storeReference(t *testing.T, s eventstore.Store) (map[domain.CustomerID]uint64, *ledger.Model) {
	t.Helper()
	m := ledger.New()
	versions := map[domain.CustomerID]uint64{}
	for next := uint64(1); ; {
		page, err := s.ReadAll(context.Background(), next, eventstore.ReadLimitMax)
		require.NoError(t, err)
		if len(page) == 0 {
			return versions, m
		}
		for _, e := range page {
			require.NoError(t, m.Apply(e))
			if id, ok := strings.CutPrefix(e.Stream, domain.CustomerStreamPrefix); ok {
				versions[domain.CustomerID(id)] = e.StreamVersion
			}
		}
		next = page[len(page)-1].Position + 1
	}
}

// TestProjectorKilledMidStream is issue 6's fault test with operating-system processes on
// the real broker: an api node (relay on) over a KurrentDB, and two projector processes in
// one consumer group. Invoices and payments arrive through the API; once the second
// projector has applied some events it is killed with SIGKILL (no leave, no commit). The
// survivor takes its partitions at their committed offsets, filling from the store what it
// never received. Then every customer gets one more invoice, so the survivor receives
// each, and its balances must equal a full replay of the store: no lost and no doubled
// effect.
func TestProjectorKilledMidStream(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon binary")
	}
	brokers := kafkatest.Real(t)
	started := time.Now()
	srv := kurrenttest.Start(t)
	c := cluster{bin: buildDaemon(t), url: srv.URL(), brokers: strings.Join(brokers, ","), prefix: "t" + watermill.NewShortUUID() + "."}
	group := "projectors-" + watermill.NewShortUUID()

	api := c.start(t, "--role", "api")
	defer api.stop(t)
	p1 := c.start(t, "--role", "projector", "--kafka-group", group)
	defer p1.stop(t)
	p2 := c.start(t, "--role", "projector", "--kafka-group", group)

	const customers = 24
	id := func(i int) string { return fmt.Sprintf("C%03d", i) }
	invoice := func(cust string, n int) string {
		return fmt.Sprintf(`{"customer_id":%q,"invoice_id":"%s-F%d","number":"F%d","amount":%d,"currency":"EUR","issue_date":"2026-11-02","due_date":"2026-12-02"}`,
			cust, cust, n, n, 10_000+n)
	}
	for i := range customers {
		post(t, api.url+"/v1/customers", scaleToken, fmt.Sprintf(`{"id":%q,"name":"Customer %d","country":"FR","segment":"sme","currency":"EUR","terms_days":30,"credit_limit":50000000}`, id(i), i))
	}
	// The stream goes on in the background while p2 is killed: at least minRounds rounds,
	// and until afterKill rounds have followed the kill, so that the kill always lands in
	// the middle of it however slowly the projectors join their group.
	var sent atomic.Int64
	var killed atomic.Bool
	done := make(chan error, 1)
	const minRounds, afterKill, maxRounds = 30, 5, 90 // round 99 is the last one, below
	// The stream ends after its rounds, or at the first failed request.
	go func() {
		tick := time.NewTicker(5 * time.Millisecond) // about 200 requests/s: a stream, not a burst
		defer tick.Stop()
		tail := 0
		for n := 1; n <= maxRounds && (n <= minRounds || tail < afterKill); n++ {
			if killed.Load() {
				tail++
			}
			for i := range customers {
				body := invoice(id(i), n)
				path := "/v1/invoices"
				if n%4 == 0 {
					body = fmt.Sprintf(`{"customer_id":%q,"payment_id":"%s-P%d","amount":%d,"currency":"EUR","received_on":"2026-11-20"}`, id(i), id(i), n, 5_000+n)
					path = "/v1/payments"
				}
				<-tick.C
				req, _ := http.NewRequest(http.MethodPost, api.url+path, strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+scaleToken)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					done <- err
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					done <- fmt.Errorf("POST %s: %d", path, resp.StatusCode)
					return
				}
				sent.Add(1)
			}
		}
		done <- nil
	}()
	// Both members have partitions once each has applied something; projector 2 commits its
	// offsets every 100 ms, so a moment later some are committed and some are not.
	require.Eventually(t, func() bool {
		return metric(t, p2.url, "encours_projector_events_applied_total") >= 40 && metric(t, p1.url, "encours_projector_events_applied_total") >= 1
	}, scaleWait, 20*time.Millisecond, "both projectors apply events")
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, p2.cmd.Process.Signal(syscall.SIGKILL))
	killedAt := sent.Load()
	killed.Store(true)
	select {
	case err := <-done:
		require.NoError(t, err)
		require.Less(t, killedAt, sent.Load(), "projector 2 was killed after the stream ended, not in the middle of it")
	case <-time.After(2 * scaleWait):
		t.Fatal("the API did not take the invoices in time")
	}
	for i := range customers {
		post(t, api.url+"/v1/invoices", scaleToken, invoice(id(i), 99))
	}

	store, err := kurrent.Open(context.Background(), c.url, kurrent.Options{})
	require.NoError(t, err)
	defer store.Close()
	versions, ref := storeReference(t, store)
	require.Len(t, versions, customers)
	var got map[domain.CustomerID]reports.HeldCustomer
	require.Eventually(t, func() bool {
		got = heldBy(t, p1.url)
		for cid, v := range versions {
			if got[cid].StreamVersion != v {
				return false
			}
		}
		return true
	}, scaleWait, 100*time.Millisecond, "the survivor holds every customer at the store's version")
	asOf := domain.MustDate(scaleAsOf)
	for cid := range versions {
		f, err := ledger.ComputeFigures(ref, ledger.CustomerScope(cid), asOf, ledger.Config{})
		require.NoError(t, err)
		assert.Equal(t, f.Exposure, got[cid].Exposure, "exposure of %s", cid)
		assert.Equal(t, f.Overdue, got[cid].Overdue, "overdue of %s", cid)
		assert.Equal(t, f.OpenItems, got[cid].OpenItems, "open items of %s", cid)
	}
	// The api node (--reports on by default) follows the whole log and serves the portfolio:
	// its live figures equal the full replay's, at the store's head.
	head, err := store.Head(context.Background())
	require.NoError(t, err)
	var pf struct {
		Basis struct {
			Position uint64 `json:"position"`
			Live     bool   `json:"live"`
		} `json:"basis"`
		Data struct {
			Figures struct {
				Exposure  domain.Money `json:"exposure"`
				OpenItems int          `json:"open_items"`
			} `json:"figures"`
		} `json:"data"`
	}
	require.Eventually(t, func() bool {
		require.NoError(t, json.Unmarshal([]byte(get(t, api.url+"/v1/portfolio", scaleToken)), &pf))
		return pf.Basis.Position >= head.Position
	}, scaleWait, 50*time.Millisecond, "the api node's ledger reaches the store's head")
	assert.True(t, pf.Basis.Live, "the api node answers from its live projection")
	whole, err := ledger.ComputeFigures(ref, ledger.Portfolio(), asOf, ledger.Config{})
	require.NoError(t, err)
	assert.Equal(t, whole.Exposure, pf.Data.Figures.Exposure, "portfolio exposure on the api node")
	assert.Equal(t, whole.OpenItems, pf.Data.Figures.OpenItems, "portfolio open items on the api node")

	filled := metric(t, p1.url, "encours_projector_events_filled_total")
	t.Logf("projector 2 killed after %d requests; survivor: applied %.0f, filled from the store %.0f, duplicates %.0f; in %s",
		killedAt, metric(t, p1.url, "encours_projector_events_applied_total"), filled,
		metric(t, p1.url, "encours_projector_duplicates_total"), time.Since(started).Round(time.Millisecond))
}

// TestAlertsOnKafka wires handlers/alerting's kafka channel to encours.alerts on the real
// broker: an api node (relay on, so it evaluates and delivers alerts) with a kafka
// subscription to the credit-limit rule; customers go over their limit before and after a
// restart of the node. Consuming the topic, each alert id is there exactly once (one
// AlertRaised per customer: no escalation here), keyed by its customer: the delivery's
// checkpoint, saved at shutdown, keeps the restart from sending anything twice.
func TestAlertsOnKafka(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon binary")
	}
	brokers := kafkatest.Real(t)
	srv := kurrenttest.Start(t)
	c := cluster{bin: buildDaemon(t), url: srv.URL(), brokers: strings.Join(brokers, ","), prefix: "t" + watermill.NewShortUUID() + "."}
	data := filepath.Join(t.TempDir(), "data")
	overLimit := func(api *daemon, from, to int) {
		for i := from; i < to; i++ {
			cid := fmt.Sprintf("L%03d", i)
			post(t, api.url+"/v1/customers", scaleToken, fmt.Sprintf(`{"id":%q,"name":"Customer %d","country":"FR","segment":"sme","currency":"EUR","terms_days":30,"credit_limit":100000}`, cid, i))
			post(t, api.url+"/v1/invoices", scaleToken, fmt.Sprintf(`{"customer_id":%q,"invoice_id":"%s-F1","number":"F1","amount":150000,"currency":"EUR","issue_date":"2026-11-02","due_date":"2026-12-02"}`, cid, cid))
		}
	}
	api := c.startIn(t, data, "--role", "api")
	post(t, api.url+"/v1/subscriptions", scaleToken, `{"channel":"kafka","filter":{"rules":["credit_limit"]}}`)
	overLimit(api, 0, 6)
	time.Sleep(time.Second) // let some alerts out before the restart
	api.stop(t)
	api = c.startIn(t, data, "--role", "api")
	defer api.stop(t)
	overLimit(api, 6, 10)

	cfg := kafka.DefaultSubscriberConfig(brokers, "alerts-check-"+watermill.NewShortUUID())
	sub, err := kafka.NewSubscriber(cfg, kafkatest.Logger())
	require.NoError(t, err)
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs, err := sub.Subscribe(ctx, c.prefix+"encours.alerts")
	require.NoError(t, err)
	byAlert, byEvent := map[string]int{}, map[string]int{}
	deadline := time.After(scaleWait)
	quiet := time.NewTimer(time.Hour)
	defer quiet.Stop()
	// Reads until every alert is in, then 3 s more for anything sent twice.
	for done := false; !done; {
		select {
		case m := <-msgs:
			var n struct {
				EventID    string `json:"event_id"`
				AlertID    string `json:"alert_id"`
				Type       string `json:"type"`
				CustomerID string `json:"customer_id"`
				Rule       string `json:"rule"`
			}
			require.NoError(t, json.Unmarshal(m.Payload, &n))
			assert.Equal(t, n.EventID, m.UUID)
			assert.Equal(t, n.AlertID, m.Metadata.Get("alert-id"))
			assert.Equal(t, n.CustomerID, m.Metadata.Get(kafka.PartitionKeyMetadata), "keyed by customer")
			assert.Equal(t, "credit_limit", n.Rule)
			byEvent[n.EventID]++
			if n.Type == domain.TypeAlertRaised {
				byAlert[n.AlertID]++
			}
			m.Ack()
			if len(byAlert) == 10 {
				quiet.Reset(3 * time.Second)
			}
		case <-quiet.C:
			done = true
		case <-deadline:
			t.Fatalf("alerts on the topic after %s: %v", scaleWait, byAlert)
		}
	}
	assert.Len(t, byAlert, 10, "one alert per customer over its limit")
	for id, n := range byAlert {
		assert.Equal(t, 1, n, "alert %s raised on the topic %d times", id, n)
	}
	for id, n := range byEvent {
		assert.Equal(t, 1, n, "alert event %s on the topic %d times", id, n)
	}
}

// TestIngestOnTheAPINode: commands put on encours.commands reach the api node's store, an
// invalid one reaches encours.commands.dlq with its code, and the same idempotency key over
// HTTP afterwards replays the topic's result.
func TestIngestOnTheAPINode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the daemon binary")
	}
	brokers := kafkatest.Real(t)
	srv := kurrenttest.Start(t)
	c := cluster{bin: buildDaemon(t), url: srv.URL(), brokers: strings.Join(brokers, ","), prefix: "t" + watermill.NewShortUUID() + "."}
	api := c.start(t, "--role", "api", "--relay", "off", "--reports", "off")
	defer api.stop(t)
	assert.Equal(t, http.StatusNotFound, do(t, http.MethodGet, api.url+"/v1/portfolio", scaleToken, ""), "--reports off: no portfolio on this node")

	pcfg := kafka.DefaultPublisherConfig(brokers)
	pub, err := kafka.NewPublisher(pcfg, kafkatest.Logger())
	require.NoError(t, err)
	defer pub.Close()
	command := func(path, key, body string) *message.Message {
		m := message.NewMessage(watermill.NewUUID(), []byte(body))
		m.Metadata.Set(kafka.PartitionKeyMetadata, "ACME")
		m.Metadata.Set("path", path)
		m.Metadata.Set("idempotency-key", key)
		return m
	}
	const invoice = `{"customer_id":"ACME","invoice_id":"F1","number":"F1","amount":125000,"currency":"EUR","issue_date":"2026-11-02","due_date":"2026-12-02"}`
	bad := command("/v1/invoices", "bad-1", `{"customer_id":"ACME","amount":"lots"}`)
	require.NoError(t, pub.Publish(c.prefix+"encours.commands",
		command("/v1/customers", "reg-ACME", `{"id":"ACME","name":"Acme SAS","country":"FR","segment":"sme","currency":"EUR","terms_days":30,"credit_limit":5000000}`),
		command("/v1/invoices", "inv-F1", invoice), bad))

	require.Eventually(t, func() bool {
		return do(t, http.MethodGet, api.url+"/v1/customers/ACME/events", scaleToken, "") == http.StatusOK &&
			strings.Contains(get(t, api.url+"/v1/customers/ACME/events", scaleToken), `"InvoiceIssued"`)
	}, scaleWait, 50*time.Millisecond, "the topic's invoice is in the store")
	req, err := http.NewRequest(http.MethodPost, api.url+"/v1/invoices", strings.NewReader(invoice))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+scaleToken)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "inv-F1")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, "true", resp.Header.Get("Idempotent-Replayed"), "the key used on the topic is the same request over HTTP")

	sub, err := kafka.NewSubscriber(kafka.DefaultSubscriberConfig(brokers, "dlq-check-"+watermill.NewShortUUID()), kafkatest.Logger())
	require.NoError(t, err)
	defer sub.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs, err := sub.Subscribe(ctx, c.prefix+"encours.commands.dlq")
	require.NoError(t, err)
	select {
	case m := <-msgs:
		assert.Equal(t, bad.UUID, m.UUID)
		assert.Equal(t, "invalid_field", m.Metadata.Get("error-code"))
		assert.Equal(t, "amount", m.Metadata.Get("error-field"))
		m.Ack()
	case <-time.After(scaleWait):
		t.Fatal("no dead letter")
	}
}

func TestScaleFlagsRefused(t *testing.T) {
	noEnv := func(string) string { return "" }
	for _, args := range [][]string{
		{"--role", "worker"},
		{"--role", "api"}, // no brokers
		{"--role", "projector", "--kafka-brokers", "127.0.0.1:9092"}, // embedded store
		{"--role", "api", "--kafka-brokers", "localhost"},
		{"--role", "api", "--kafka-brokers", "127.0.0.1:9092", "--relay", "maybe"},
		{"--role", "api", "--kafka-brokers", "127.0.0.1:9092", "--kafka-partitions", "0"},
		{"--role", "api", "--kafka-brokers", "127.0.0.1:9092", "--kafka-group", " "},
		{"--role", "api", "--kafka-brokers", "127.0.0.1:9092", "--reports", "yes"},
	} {
		assert.Equal(t, 2, run(context.Background(), args, noEnv, io.Discard, io.Discard), "args %v", args)
	}
	env := func(k string) string {
		if k == "ENCOURS_KAFKA_BROKERS" {
			return "127.0.0.1:9092"
		}
		return ""
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	f := addScaleFlags(fs)
	require.NoError(t, fs.Parse(nil))
	sc, err := f.parse(fs, env, "embedded")
	require.NoError(t, err)
	assert.False(t, sc.kafkaOn(), "--role all takes Kafka from the flag only, not the environment")
	fs = flag.NewFlagSet("t", flag.ContinueOnError)
	f = addScaleFlags(fs)
	require.NoError(t, fs.Parse([]string{"--role", "api", "--relay", "off"}))
	sc, err = f.parse(fs, env, "embedded")
	require.NoError(t, err)
	assert.Equal(t, []string{"127.0.0.1:9092"}, sc.brokers, "api takes the environment's brokers")
	assert.False(t, sc.followsLog())
	assert.True(t, sc.servesLedger(), "an api node serves the reports by default")
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"--role", "api", "--reports", "off"}, false},
		{[]string{"--role", "projector"}, false},
		{[]string{"--role", "all", "--reports", "off"}, true}, // one process: the reports are its own
	} {
		fs = flag.NewFlagSet("t", flag.ContinueOnError)
		f = addScaleFlags(fs)
		require.NoError(t, fs.Parse(c.args))
		sc, err = f.parse(fs, env, "kurrentdb")
		require.NoError(t, err)
		assert.Equal(t, c.want, sc.servesLedger(), "%v", c.args)
	}
}
