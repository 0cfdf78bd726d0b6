package main

import (
	"log/slog"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/handlers/alerting"
	"github.com/encours/encours/handlers/httpapi"
	"github.com/encours/encours/handlers/monitoring"
	"github.com/encours/encours/projections/engine"
	"github.com/encours/encours/projections/ledger"
)

// wireMetrics adds to /metrics what the daemon runs beyond HTTP and appends (those are
// httpapi's): the store's head and size, the ledger projection's and the alert evaluator's
// lag, alerts by rule and severity, deliveries by channel and the portfolio by segment.
// storeDir is the embedded store's directory, "" for KurrentDB.
func wireMetrics(metrics *httpapi.Metrics, logger *slog.Logger, store eventstore.Store, storeDir string,
	eng *engine.Engine[*ledger.Model], evaluator *alerting.Evaluator, delivery *alerting.Delivery, today func() domain.Date) error {
	return monitoring.Register(metrics.Registry(), monitoring.Options{
		Store:    store,
		StoreDir: storeDir,
		Projections: []monitoring.Projection{
			{Name: "ledger", Position: eng.Position},
			{Name: "alerts", Position: func() uint64 { return evaluator.Stats().Position }},
		},
		Ledger:   eng.View,
		Today:    today,
		Alerts:   evaluator.AlertCounts,
		Channels: delivery.ChannelStats,
		Logger:   logger,
	})
}
