package main

// Distributed mode (design §Flow step 4, §Scale-out): encoursd --role api|projector|all.
//
//   - all (the default) is the single process of one machine: store, HTTP API, ledger
//     projection, alerts. Given --kafka-brokers on the command line (the environment alone
//     does not switch it on), it also relays to encours.events, executes encours.commands and
//     carries the kafka alert channel.
//   - api: the HTTP API over the store (writes, log reads, tokens), the ingest topic
//     encours.commands (its consumer group, encours-ingest, shares the topic's partitions
//     among the api nodes), and — with --relay on, the default — the duties that must run
//     once per deployment because each follows the whole log: the relay to encours.events
//     and the alert evaluator with its delivery (webhooks, SSE, encours.alerts). Several api
//     nodes run one with --relay on and the others with --relay off. Why a flag and not an
//     election: the deployment already decides which node is which (a StatefulSet's first
//     pod, a compose service), Kafka offers no leader lease to the relay, and two relays by
//     mistake cost only traffic: projectors deduplicate by stream version. Two alert
//     deliveries would send each alert twice, hence the same flag.
//   - projector: a projection worker (projections/worker) in the consumer group
//     --kafka-group on encours.events; it reads the versions of a stream it has not received
//     from the shared store (--store kurrentdb), and serves /healthz, /readyz, /metrics and
//     its read routes (GET /v1/projection/customers[/{id}]) on --listen.
//
// The topics the daemon uses are created at start when missing, with --kafka-partitions
// partitions and --kafka-replication replicas; --kafka-topic-prefix prefixes their names
// (several deployments on one cluster, tests).

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/encours/encours/bus/kafka"
	"github.com/encours/encours/bus/relay"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/kurrent"
	"github.com/encours/encours/handlers/alerting"
	"github.com/encours/encours/handlers/auth"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/handlers/httpapi"
	"github.com/encours/encours/handlers/ingest"
	"github.com/encours/encours/handlers/reports"
	"github.com/encours/encours/projections/worker"
)

type role string

const (
	roleAll       role = "all"
	roleAPI       role = "api"
	roleProjector role = "projector"
)

// Topics, before --kafka-topic-prefix.
const (
	topicEvents = relay.Topic // encours.events
	topicAlerts = "encours.alerts"
)

// Kafka settings of the daemon.
const (
	// kafkaAdminTimeout bounds creating one topic at start.
	kafkaAdminTimeout = 30 * time.Second
	// ingestGroup is the consumer group of the api nodes on encours.commands.
	ingestGroup = "encours-ingest"
	// projectorCommitInterval: the worker deduplicates by stream version, so its offsets go
	// in the background (projections/worker.New says why, with the figures).
	projectorCommitInterval = 100 * time.Millisecond
)

// scaleConfig is the distributed mode's part of the configuration.
type scaleConfig struct {
	role        role
	brokers     []string // nil: no Kafka (role all only)
	group       string
	partitions  int
	replication int
	prefix      string
	relay       bool
	// reports: an api node keeps the whole ledger projection and serves the report routes
	// (--reports); always true for role all, false for projectors.
	reports bool
}

// kafkaOn reports whether this process talks to Kafka.
func (s scaleConfig) kafkaOn() bool { return len(s.brokers) > 0 }

// followsLog reports whether this process runs the once-per-deployment log followers: the
// relay, alert evaluation and delivery.
func (s scaleConfig) followsLog() bool { return s.role == roleAll || s.relay }

// servesLedger reports whether this process keeps the whole ledger projection and serves
// the portfolio-wide reports from it: role all, and api nodes with --reports on. Projectors
// hold only their partitions' customers.
func (s scaleConfig) servesLedger() bool {
	return s.role == roleAll || (s.role == roleAPI && s.reports)
}

func (s scaleConfig) topic(name string) string { return s.prefix + name }

// scaleFlags registers the distributed mode's flags on fs; parse reads them after fs.Parse.
type scaleFlags struct {
	role, brokers, group, prefix, relay, reports *string
	partitions, replication                      *int
}

func addScaleFlags(fs *flag.FlagSet) *scaleFlags {
	return &scaleFlags{
		role:        fs.String("role", string(roleAll), "all: one process does everything; api: HTTP API, ingest topic and (--relay) relay and alerts; projector: a projection worker of --kafka-group"),
		brokers:     fs.String("kafka-brokers", "", "Kafka bootstrap brokers, host:port,... (default $ENCOURS_KAFKA_BROKERS; required for api and projector; --role all uses Kafka only when this flag is given)"),
		group:       fs.String("kafka-group", "encours-projectors", "consumer group of the projectors on encours.events"),
		prefix:      fs.String("kafka-topic-prefix", "", "prefix of every topic name (several deployments on one cluster)"),
		relay:       fs.String("relay", "on", "api role: on: this node relays to encours.events and evaluates and delivers alerts (run exactly one such node); off: it does not"),
		reports:     fs.String("reports", "on", "api role: on: this node keeps the whole ledger projection, followed from the store, and serves the portfolio reports (/v1/portfolio, /v1/aging, exports...); off: it serves commands and per-customer reads only, with less memory"),
		partitions:  fs.Int("kafka-partitions", 12, "partitions of the topics created at start: the most projectors (and ingesting api nodes) that can work at once"),
		replication: fs.Int("kafka-replication", 1, "replication factor of the topics created at start (3 in production)"),
	}
}

func (f *scaleFlags) parse(fs *flag.FlagSet, getenv func(string) string, store string) (scaleConfig, error) {
	sc := scaleConfig{role: role(*f.role), group: strings.TrimSpace(*f.group), prefix: *f.prefix,
		partitions: *f.partitions, replication: *f.replication}
	given := false
	fs.Visit(func(fl *flag.Flag) { given = given || fl.Name == "kafka-brokers" })
	brokers := *f.brokers
	if !given {
		brokers = getenv("ENCOURS_KAFKA_BROKERS")
	}
	for _, b := range strings.Split(brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			if !strings.Contains(b, ":") {
				return sc, fmt.Errorf("--kafka-brokers: %q is not host:port", b)
			}
			sc.brokers = append(sc.brokers, b)
		}
	}
	switch *f.relay {
	case "on":
		sc.relay = true
	case "off":
	default:
		return sc, fmt.Errorf("--relay %q: want on or off", *f.relay)
	}
	switch *f.reports {
	case "on":
		sc.reports = true
	case "off":
	default:
		return sc, fmt.Errorf("--reports %q: want on or off", *f.reports)
	}
	switch sc.role {
	case roleAll:
		if !given {
			sc.brokers = nil
		}
	case roleAPI, roleProjector:
		if len(sc.brokers) == 0 {
			return sc, fmt.Errorf("--role %s needs --kafka-brokers or ENCOURS_KAFKA_BROKERS", sc.role)
		}
	default:
		return sc, fmt.Errorf("--role %q: want api, projector or all", *f.role)
	}
	if sc.role == roleProjector {
		sc.relay, sc.reports = false, false
		if store != "kurrentdb" {
			return sc, errors.New("--role projector needs --store kurrentdb: a projector reads the stream versions it has not received from the store the api nodes share")
		}
	}
	if sc.group == "" {
		return sc, errors.New("--kafka-group is empty")
	}
	if sc.partitions < 1 || sc.replication < 1 {
		return sc, fmt.Errorf("--kafka-partitions %d, --kafka-replication %d: want at least 1", sc.partitions, sc.replication)
	}
	return sc, nil
}

// createTopics creates the daemon's topics that are missing.
func createTopics(ctx context.Context, sc scaleConfig) error {
	topics := []string{sc.topic(topicEvents), sc.topic(topicAlerts), sc.topic(ingest.CommandsTopic), sc.topic(ingest.DeadLetterTopic)}
	return kafka.CreateTopics(ctx, sc.brokers, "encoursd", kafka.TopicConfig{Create: true, Partitions: sc.partitions,
		ReplicationFactor: sc.replication}, kafkaAdminTimeout, topics...)
}

// watermillLogger sends the Kafka adapters' notes to logger.
func watermillLogger(logger *slog.Logger) watermill.LoggerAdapter {
	return watermill.NewSlogLoggerWithLevelMapping(logger, map[slog.Level]slog.Level{watermill.LevelTrace: slog.LevelDebug - 4})
}

// subscriberConfig is bus/kafka's subscriber for group on this deployment's topics.
func subscriberConfig(sc scaleConfig, group string) kafka.SubscriberConfig {
	cfg := kafka.DefaultSubscriberConfig(sc.brokers, group)
	cfg.ClientID = "encoursd"
	cfg.Topics = kafka.TopicConfig{Create: false, Partitions: sc.partitions, ReplicationFactor: sc.replication}
	return cfg
}

// kafkaSide is what an api (or all) process runs on Kafka: the relay, the ingest topic, and
// the alert publisher for handlers/alerting.
type kafkaSide struct {
	alerts *alertPublisher // nil without Kafka or log followers
	failed chan error      // a component that stopped on its own
	stop   func() error
}

// startKafkaSide starts the Kafka components of an api or all process; without Kafka it
// returns a side that does nothing.
func startKafkaSide(ctx context.Context, logger *slog.Logger, cfg config, store eventstore.Store, svc *command.Service, apiOpts httpapi.Options) (*kafkaSide, error) {
	side := &kafkaSide{failed: make(chan error, 2), stop: func() error { return nil }}
	sc := cfg.scale
	if !sc.kafkaOn() {
		return side, nil
	}
	if err := createTopics(ctx, sc); err != nil {
		return nil, err
	}
	wlog := watermillLogger(logger)
	pubCfg := relay.KafkaPublisherConfig(sc.brokers)
	pubCfg.Topics = kafka.TopicConfig{Create: false, Partitions: sc.partitions, ReplicationFactor: sc.replication}
	pub, err := kafka.NewPublisher(pubCfg, wlog)
	if err != nil {
		return nil, err
	}
	sub, err := kafka.NewSubscriber(subscriberConfig(sc, sc.prefix+ingestGroup), wlog)
	if err != nil {
		_ = pub.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	var running int
	run := func(name string, fn func(context.Context) error) {
		running++
		go func() { // ends when runCtx is cancelled by stop, or on fn's own failure
			err := fn(runCtx)
			if err != nil && runCtx.Err() == nil {
				side.failed <- fmt.Errorf("%s: %w", name, err)
			}
			done <- struct{}{}
		}()
	}

	icfg := ingest.DefaultKafkaConfig()
	icfg.Topic, icfg.DeadLetterTopic, icfg.Logger = sc.topic(ingest.CommandsTopic), sc.topic(ingest.DeadLetterTopic), logger
	apiOpts.Tokens, apiOpts.Extra = nil, nil
	in, err := ingest.NewKafkaIngest(sub, pub, httpapi.NewCommands(svc, store, apiOpts), icfg)
	if err != nil {
		cancel()
		_ = sub.Close()
		_ = pub.Close()
		return nil, err
	}
	run("kafka ingest", in.Run)
	if sc.followsLog() {
		rcfg := relay.DefaultConfig(relay.NewFileCheckpoint(filepath.Join(cfg.dir, "relay.checkpoint")))
		rcfg.Topic, rcfg.Logger = sc.topic(topicEvents), logger
		run("relay", func(ctx context.Context) error { return relay.Run(ctx, store, pub, rcfg) })
		side.alerts = &alertPublisher{pub: pub, topic: sc.topic(topicAlerts)}
	}
	side.stop = func() error {
		cancel()
		for range running {
			<-done
		}
		return errors.Join(sub.Close(), pub.Close())
	}
	logger.Info("kafka side started", slog.String("brokers", strings.Join(sc.brokers, ",")),
		slog.Bool("relay", sc.followsLog()), slog.Bool("reports", sc.servesLedger()), slog.String("ingest", icfg.Topic))
	return side, nil
}

// alertPublisher carries the kafka alert channel (handlers/alerting's Publisher) to the
// topic encours.alerts: one message per alert event, keyed by customer, its UUID the alert
// event's id (the same on every redelivery, for consumers to deduplicate), with the alert id
// and event type as headers.
type alertPublisher struct {
	pub   message.Publisher
	topic string
}

func (p *alertPublisher) PublishAlert(_ context.Context, key string, body []byte) error {
	var n struct {
		EventID string `json:"event_id"`
		AlertID string `json:"alert_id"`
		Type    string `json:"type"`
	}
	if err := json.Unmarshal(body, &n); err != nil || n.EventID == "" {
		return fmt.Errorf("alert notification without an event id: %v", err)
	}
	msg := message.NewMessage(n.EventID, body)
	msg.Metadata.Set(kafka.PartitionKeyMetadata, key)
	msg.Metadata.Set("alert-id", n.AlertID)
	msg.Metadata.Set("type", n.Type)
	return p.pub.Publish(p.topic, msg)
}

// alertChannel is the kafka alert channel for handlers/alerting, nil without one.
func (s *kafkaSide) alertChannel() alerting.Publisher {
	if s.alerts == nil {
		return nil
	}
	return s.alerts
}

// onlyIf returns rs when on, else nothing.
func onlyIf[T any](on bool, rs []T) []T {
	if on {
		return rs
	}
	return nil
}

// runIf runs fn, or, when on is false, waits for ctx to end as fn would.
func runIf(on bool, fn func(context.Context) error) func(context.Context) error {
	if on {
		return fn
	}
	return func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	}
}

// serveProjector runs a projection worker until ctx ends, serving its health, metrics and
// read routes on cfg.listen.
func serveProjector(ctx context.Context, logger *slog.Logger, cfg config, stdout io.Writer) (err error) {
	sc := cfg.scale
	if err := os.MkdirAll(cfg.dir, 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}
	store, err := kurrent.Open(ctx, cfg.kurrentURL, kurrent.Options{Logger: logger})
	if err != nil {
		return fmt.Errorf("open KurrentDB event store: %w", err)
	}
	defer func() {
		if cerr := store.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close event store: %w", cerr)
		}
	}()
	if err := createTopics(ctx, sc); err != nil {
		return err
	}
	subCfg := subscriberConfig(sc, sc.group)
	subCfg.CommitInterval = projectorCommitInterval
	sub, err := kafka.NewSubscriber(subCfg, watermillLogger(logger))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := sub.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("close kafka subscriber: %w", cerr)
		}
	}()
	wcfg := worker.DefaultConfig(store)
	wcfg.Topic, wcfg.Logger = sc.topic(topicEvents), logger
	w, err := worker.New(sub, wcfg)
	if err != nil {
		return err
	}

	var tokens *auth.Tokens
	if cfg.authOn {
		if tokens, err = auth.Open(ctx, store, auth.Options{Clock: cfg.clock, Bootstrap: cfg.adminToken}); err != nil {
			return fmt.Errorf("read the tokens: %w", err)
		}
	}
	reg := prometheus.NewRegistry()
	stat := func(name, help string, v func(worker.Stats) float64, counter bool) {
		f := func() float64 { return v(w.Stats()) }
		if counter {
			reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, f))
		} else {
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f))
		}
	}
	stat("encours_projector_messages_received_total", "Messages of encours.events handed to this worker, redeliveries included.", func(s worker.Stats) float64 { return float64(s.Received) }, true)
	stat("encours_projector_events_applied_total", "Events applied from messages.", func(s worker.Stats) float64 { return float64(s.Applied) }, true)
	stat("encours_projector_duplicates_total", "Messages at or below their stream's applied version: acked, not applied.", func(s worker.Stats) float64 { return float64(s.Duplicates) }, true)
	stat("encours_projector_events_filled_total", "Events read from the store to fill a stream's gap.", func(s worker.Stats) float64 { return float64(s.Filled) }, true)
	stat("encours_projector_streams", "Streams this worker holds.", func(s worker.Stats) float64 { return float64(s.Streams) }, false)
	stat("encours_projector_last_position", "Global position of the last event applied from a message.", func(s worker.Stats) float64 { return float64(s.LastPosition) }, false)

	mux := http.NewServeMux()
	guard := func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if tokens != nil {
				scheme, secret, _ := strings.Cut(r.Header.Get("Authorization"), " ")
				p, aerr := tokens.Authenticate(r.Context(), secret)
				if !strings.EqualFold(scheme, "Bearer") || aerr != nil {
					rw.Header().Set("WWW-Authenticate", `Bearer realm="encours"`)
					writeProjectorError(rw, http.StatusUnauthorized, "unauthenticated", "this route needs an Authorization: Bearer <token> header")
					return
				}
				if !p.Role.May(auth.PermRead) {
					writeProjectorError(rw, http.StatusForbidden, "forbidden", "role "+string(p.Role)+" may not read")
					return
				}
			}
			h.ServeHTTP(rw, r)
		})
	}
	for _, rt := range reports.NewPartialHTTP(w.View, cfg.clock, logger).Routes() {
		mux.Handle(rt.Pattern, guard(rt.Handler))
	}
	mux.Handle("GET /metrics", guard(promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	mux.HandleFunc("GET /healthz", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(rw, `{"status":"ok"}`+"\n")
	})
	workerErr := make(chan error, 1)
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, r *http.Request) {
		hctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		head, herr := store.Head(hctx)
		if herr != nil {
			writeProjectorError(rw, http.StatusServiceUnavailable, "not_ready", "event store unavailable")
			return
		}
		st := w.Stats()
		rw.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(rw).Encode(map[string]any{"status": "ready", "role": roleProjector, "head": head.Position,
			"last_position": st.LastPosition, "streams": st.Streams})
	})

	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.listen, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }() // ends when Shutdown is called below

	wctx, stopWorker := context.WithCancel(ctx)
	defer stopWorker()
	go func() { workerErr <- w.Run(wctx) }() // ends when wctx is cancelled, or on a failure
	logger.Info("encoursd projector started", slog.String("group", sc.group), slog.String("topic", wcfg.Topic))
	fmt.Fprintf(stdout, "encoursd listening on http://%s\n", ln.Addr())

	var runErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case runErr = <-served:
		runErr = fmt.Errorf("serve: %w", runErr)
	case runErr = <-workerErr:
		runErr = fmt.Errorf("projection worker: %w", cmp.Or(runErr, errors.New("stopped")))
		workerErr <- nil
	}
	stopWorker()
	if werr := <-workerErr; werr != nil && runErr == nil {
		runErr = fmt.Errorf("projection worker: %w", werr)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && runErr == nil {
		runErr = fmt.Errorf("finish in-flight requests within %s: %w", shutdownTimeout, err)
	}
	return runErr
}

func writeProjectorError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
