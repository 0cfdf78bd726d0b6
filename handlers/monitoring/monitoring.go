package monitoring

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/handlers/alerting"
	"github.com/encours/encours/projections/ledger"
)

// SegmentsMax bounds the segment label: the portfolio series cover the SegmentsMax segments
// of largest exposure; the others are left out (and counted in
// encours_portfolio_segments_omitted).
const SegmentsMax = 50

// segmentNone is the segment label of customers registered without a segment (bySegment).
const segmentNone = "none"

// scrapeTimeout bounds the store reads of one scrape.
const scrapeTimeout = 5 * time.Second

// Projection is a read model that follows the log: its name (a label value: keep the set
// small and fixed) and the position of the last event it applied.
type Projection struct {
	Name     string
	Position func() uint64
}

// Options name the sources of the series. A nil or empty source leaves its families out.
type Options struct {
	// Store gives the head position, and the recorded_at of the first event a projection
	// has not applied (its lag in seconds).
	Store eventstore.Store
	// StoreDir is the embedded store's directory: the size of its segment files. Empty for
	// a store that is not on local files (KurrentDB).
	StoreDir string
	// Projections are measured against the store's head.
	Projections []Projection
	// Ledger calls fn with the live ledger projection under its read lock (engine.View).
	Ledger func(fn func(*ledger.Model))
	// Today is the as-of date of the portfolio series.
	Today func() domain.Date
	// Alerts counts the alerts by rule and severity (alerting.Evaluator.AlertCounts).
	Alerts func() []alerting.AlertCount
	// Channels gives the delivery counters by channel (alerting.Delivery.ChannelStats).
	Channels func() []alerting.ChannelStats
	// Now is the clock of the lag in seconds (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Register registers the series of o's sources in reg.
func Register(reg prometheus.Registerer, o Options) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var cs []prometheus.Collector
	if o.Store != nil {
		cs = append(cs, &storeCollector{o: o})
	}
	if o.Alerts != nil {
		cs = append(cs, &alertsCollector{counts: o.Alerts})
	}
	if o.Channels != nil {
		cs = append(cs, &channelsCollector{stats: o.Channels})
	}
	if o.Ledger != nil {
		if o.Today == nil {
			return errors.New("monitoring: Options.Ledger needs Options.Today")
		}
		cs = append(cs, &portfolioCollector{o: o})
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

// The store and the projections.
var (
	headDesc = desc("encours_eventstore_head_position",
		"Position of the last event acknowledged by the store: the number of events in the log.")
	sizeDesc = desc("encours_eventstore_size_bytes",
		"Bytes of the embedded store's segment files on disk (segments are preallocated).")
	projPosDesc = desc("encours_projection_position",
		"Position of the last event a projection applied.", "projection")
	projLagDesc = desc("encours_projection_lag_events",
		"Events acknowledged by the store that a projection has not applied yet.", "projection")
	projLagSecDesc = desc("encours_projection_lag_seconds",
		"Age of the oldest event a projection has not applied yet (its recorded_at to now); 0 when caught up.", "projection")
)

type storeCollector struct{ o Options }

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- headDesc
	if c.o.StoreDir != "" {
		ch <- sizeDesc
	}
	if len(c.o.Projections) > 0 {
		ch <- projPosDesc
		ch <- projLagDesc
		ch <- projLagSecDesc
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	head, err := c.o.Store.Head(ctx)
	if err != nil {
		c.o.Logger.Warn("metrics: store head", "err", err)
		ch <- prometheus.NewInvalidMetric(headDesc, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(headDesc, prometheus.GaugeValue, float64(head.Position))
	if c.o.StoreDir != "" {
		if n, err := segmentBytes(c.o.StoreDir); err != nil {
			ch <- prometheus.NewInvalidMetric(sizeDesc, err)
		} else {
			ch <- prometheus.MustNewConstMetric(sizeDesc, prometheus.GaugeValue, float64(n))
		}
	}
	for _, p := range c.o.Projections {
		pos := p.Position()
		lag := uint64(0)
		if head.Position > pos {
			lag = head.Position - pos
		}
		ch <- prometheus.MustNewConstMetric(projPosDesc, prometheus.GaugeValue, float64(pos), p.Name)
		ch <- prometheus.MustNewConstMetric(projLagDesc, prometheus.GaugeValue, float64(lag), p.Name)
		secs := 0.0
		if lag > 0 {
			envs, err := c.o.Store.ReadAll(ctx, pos+1, 1)
			if err != nil || len(envs) == 0 {
				c.o.Logger.Warn("metrics: read the first event a projection lacks", "projection", p.Name, "position", pos+1, "err", err)
				ch <- prometheus.NewInvalidMetric(projLagSecDesc, cmp.Or(err, errors.New("no event after the projection's position")))
				continue
			}
			secs = max(0, c.o.Now().Sub(envs[0].RecordedAt).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(projLagSecDesc, prometheus.GaugeValue, secs, p.Name)
	}
}

// segmentBytes sums the sizes of the segment files (*.seg) in dir.
func segmentBytes(dir string) (int64, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		return 0, err
	}
	var n int64
	for _, name := range names {
		fi, err := os.Stat(name)
		if errors.Is(err, os.ErrNotExist) {
			continue // removed since the glob (it never is today; a compaction might)
		}
		if err != nil {
			return 0, err
		}
		n += fi.Size()
	}
	return n, nil
}

// Alerts.
var (
	raisedDesc = desc("encours_alerts_raised_total",
		"AlertRaised events: alerts raised and escalations, by rule and the severity raised.", "rule", "severity")
	openDesc = desc("encours_alerts_open",
		"Alerts open or acknowledged (not resolved), by rule and current severity.", "rule", "severity")
)

type alertsCollector struct{ counts func() []alerting.AlertCount }

func (c *alertsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- raisedDesc
	ch <- openDesc
}

func (c *alertsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, a := range c.counts() {
		ch <- prometheus.MustNewConstMetric(raisedDesc, prometheus.CounterValue, float64(a.Raised), a.Rule, a.Severity)
		ch <- prometheus.MustNewConstMetric(openDesc, prometheus.GaugeValue, float64(a.Open), a.Rule, a.Severity)
	}
}

// Deliveries.
var (
	deliveredDesc = desc("encours_alert_deliveries_total",
		"Alert events delivered, by channel (webhook and kafka: acknowledged by the receiver; sse: written to a client).", "channel")
	failedDesc = desc("encours_alert_delivery_failures_total",
		"Delivery attempts that failed, by channel (each is retried with backoff until the last).", "channel")
	deadLetteredDesc = desc("encours_alert_dead_lettered_total",
		"Alert events dead-lettered after their last failed attempt, by channel.", "channel")
	deadLettersDesc = desc("encours_alert_dead_letters",
		"Dead letters held now (GET /v1/dead-letters), by channel.", "channel")
)

type channelsCollector struct {
	stats func() []alerting.ChannelStats
}

func (c *channelsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- deliveredDesc
	ch <- failedDesc
	ch <- deadLetteredDesc
	ch <- deadLettersDesc
}

func (c *channelsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stats() {
		ch <- prometheus.MustNewConstMetric(deliveredDesc, prometheus.CounterValue, float64(s.Delivered), s.Channel)
		ch <- prometheus.MustNewConstMetric(failedDesc, prometheus.CounterValue, float64(s.FailedAttempts), s.Channel)
		ch <- prometheus.MustNewConstMetric(deadLetteredDesc, prometheus.CounterValue, float64(s.DeadLettered), s.Channel)
		ch <- prometheus.MustNewConstMetric(deadLettersDesc, prometheus.GaugeValue, float64(s.DeadLetters), s.Channel)
	}
}

// The portfolio by segment. Amounts are minor units of the segment's currency: its
// customers' own when they share one, the reporting currency otherwise (ledger.Figures).
var (
	customersDesc = desc("encours_portfolio_customers",
		"Customers registered, by segment.", "segment")
	exposureDesc = desc("encours_portfolio_exposure_minor_units",
		"Exposure (open invoices less unallocated cash and standing credit notes), minor units, by segment.", "segment")
	limitDesc = desc("encours_portfolio_credit_limit_minor_units",
		"Sum of the customers' credit limits, minor units, by segment.", "segment")
	overLimitDesc = desc("encours_portfolio_exposure_over_limit_minor_units",
		"Exposure of the customers whose exposure exceeds their credit limit, minor units, by segment.", "segment")
	overdueDesc = desc("encours_portfolio_overdue_minor_units",
		"Open invoice amounts past their due date, minor units, by segment.", "segment")
	dsoPeriodDesc = desc("encours_portfolio_dso_period_seconds",
		"DSO by the period method over the default period ending today, by segment (in seconds, the base unit: 86400 a day).", "segment")
	dsoCountbackDesc = desc("encours_portfolio_dso_countback_seconds",
		"DSO by the countback method at today, by segment (in seconds, the base unit: 86400 a day).", "segment")
	omittedDesc = desc("encours_portfolio_segments_omitted",
		"Segments left out of the portfolio series: beyond the largest 50 by exposure, or customers without a segment when one is named \"none\".")
)

type portfolioCollector struct {
	o Options

	mu sync.Mutex // one computation at a time: concurrent scrapes wait for it
}

func (c *portfolioCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{customersDesc, exposureDesc, limitDesc, overLimitDesc, overdueDesc,
		dsoPeriodDesc, dsoCountbackDesc, omittedDesc} {
		ch <- d
	}
}

// segmentFigures are one segment's series.
type segmentFigures struct {
	segment                             string
	customers                           int
	exposure, limit, overLimit, overdue float64
	dsoPeriod, dsoCountback             *int64 // centidays
}

func (c *portfolioCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var (
		segs    []segmentFigures
		omitted int
		err     error
	)
	c.o.Ledger(func(m *ledger.Model) { segs, omitted, err = bySegment(m, c.o.Today()) })
	if err != nil {
		c.o.Logger.Warn("metrics: portfolio figures", "err", err)
		ch <- prometheus.NewInvalidMetric(exposureDesc, err)
		return
	}
	for _, s := range segs {
		ch <- prometheus.MustNewConstMetric(customersDesc, prometheus.GaugeValue, float64(s.customers), s.segment)
		ch <- prometheus.MustNewConstMetric(exposureDesc, prometheus.GaugeValue, s.exposure, s.segment)
		ch <- prometheus.MustNewConstMetric(limitDesc, prometheus.GaugeValue, s.limit, s.segment)
		ch <- prometheus.MustNewConstMetric(overLimitDesc, prometheus.GaugeValue, s.overLimit, s.segment)
		ch <- prometheus.MustNewConstMetric(overdueDesc, prometheus.GaugeValue, s.overdue, s.segment)
		if s.dsoPeriod != nil {
			ch <- prometheus.MustNewConstMetric(dsoPeriodDesc, prometheus.GaugeValue, centidaysToSeconds(*s.dsoPeriod), s.segment)
		}
		if s.dsoCountback != nil {
			ch <- prometheus.MustNewConstMetric(dsoCountbackDesc, prometheus.GaugeValue, centidaysToSeconds(*s.dsoCountback), s.segment)
		}
	}
	ch <- prometheus.MustNewConstMetric(omittedDesc, prometheus.GaugeValue, float64(omitted))
}

// bySegment computes the portfolio series of m at asOf: one entry per segment, at most
// SegmentsMax (the largest by exposure), and how many segments were left out.
func bySegment(m *ledger.Model, asOf domain.Date) (segs []segmentFigures, omitted int, err error) {
	groups, err := ledger.GroupFigures(m, ledger.BySegment, asOf, ledger.Config{})
	if err != nil {
		return nil, 0, err
	}
	if len(groups) > SegmentsMax {
		slices.SortStableFunc(groups, func(a, b ledger.Figures) int { return cmp.Compare(b.Exposure.Minor, a.Exposure.Minor) })
		omitted = len(groups) - SegmentsMax
		groups = groups[:SegmentsMax]
	}
	// Customers without a segment are labelled "none": unless a segment is named so, when
	// they are left out rather than collide with it.
	if i := slices.IndexFunc(groups, func(g ledger.Figures) bool { return g.Key == "" }); i >= 0 &&
		slices.ContainsFunc(groups, func(g ledger.Figures) bool { return g.Key == segmentNone }) {
		groups = slices.Delete(groups, i, i+1)
		omitted++
	}
	perCustomer, err := ledger.GroupFigures(m, ledger.ByCustomer, asOf, ledger.Config{})
	if err != nil {
		return nil, 0, err
	}
	byID := make(map[domain.CustomerID]*ledger.Figures, len(perCustomer))
	for i := range perCustomer {
		byID[domain.CustomerID(perCustomer[i].Key)] = &perCustomer[i]
	}
	for _, g := range groups {
		s := segmentFigures{segment: cmp.Or(g.Key, segmentNone), customers: g.Customers,
			exposure: float64(g.Exposure.Minor), limit: float64(g.CreditLimit.Minor), overdue: float64(g.Overdue.Minor),
			dsoPeriod: g.DSO.PeriodCentidays, dsoCountback: g.DSO.CountbackCentidays}
		var over int64
		for _, id := range ledger.CustomerIDs(m, ledger.Scope{By: ledger.BySegment, Key: g.Key}) {
			f := byID[id]
			if f == nil || f.Exposure.Minor <= 0 || f.Exposure.Minor <= f.CreditLimit.Minor {
				continue
			}
			amt, err := inCurrency(m, f.Exposure, g, asOf)
			if err != nil {
				return nil, 0, err
			}
			over += amt // exposures add up in int64 as the ledger's own sums do
		}
		s.overLimit = float64(over)
		segs = append(segs, s)
	}
	slices.SortFunc(segs, func(a, b segmentFigures) int { return cmp.Compare(a.segment, b.segment) })
	return segs, omitted, nil
}

// inCurrency converts a into the currency of the group figures g as the ledger converts
// its sums (ledger.Model.RateAt at asOf, the minor units of both currencies, half up).
func inCurrency(m *ledger.Model, a domain.Money, g ledger.Figures, asOf domain.Date) (int64, error) {
	if a.Ccy == g.Currency {
		return a.Minor, nil
	}
	e9, rep, ok := m.RateAt(a.Ccy, asOf)
	if !ok || rep != g.Currency {
		return 0, fmt.Errorf("monitoring: no rate from %s to %s at %s", a.Ccy, g.Currency, asOf)
	}
	num, den := e9, int64(1_000_000_000)
	for range max(rep.MinorUnits()-a.Ccy.MinorUnits(), 0) {
		num *= 10
	}
	for range max(a.Ccy.MinorUnits()-rep.MinorUnits(), 0) {
		den *= 10
	}
	return domain.MulDiv(a.Minor, num, den, domain.RoundHalfUp)
}

// centidaysToSeconds converts the ledger's DSO (hundredths of a day) to seconds, Prometheus'
// base unit of time: 864 s a centiday.
func centidaysToSeconds(cd int64) float64 { return float64(cd) * 864 }
