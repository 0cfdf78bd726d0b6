package alerting

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/projections/signals"
)

// PortfolioAlertStream holds the portfolio's alerts (concentration, DSO drift): they belong
// to no customer, and a system stream name can never be a customer's alert stream.
const PortfolioAlertStream = "system-alerts"

// portfolioIDPart stands for the customer in a portfolio alert's id.
const portfolioIDPart = "portfolio"

// Alert statuses.
const (
	StatusOpen         = "open"
	StatusAcknowledged = "acknowledged"
	StatusResolved     = "resolved"
)

// alertStream returns the stream of a customer's alerts (the portfolio's for "").
func alertStream(c domain.CustomerID) string {
	if c == "" {
		return PortfolioAlertStream
	}
	return domain.AlertStream(c)
}

// isAlertStream reports whether stream holds alerts.
func isAlertStream(stream string) bool {
	return strings.HasPrefix(stream, domain.AlertStreamPrefix) || stream == PortfolioAlertStream
}

// Ack is one acknowledgement of an alert.
type Ack struct {
	Actor    string      `json:"actor"`
	Comment  string      `json:"comment,omitempty"`
	On       domain.Date `json:"acked_on"`
	Position uint64      `json:"position"`
}

// Alert is an alert as its events tell it.
type Alert struct {
	AlertID         string            `json:"alert_id"`
	CustomerID      domain.CustomerID `json:"customer_id"`
	Rule            string            `json:"rule"`
	Subject         string            `json:"subject"`
	Severity        string            `json:"severity"`
	Status          string            `json:"status"`
	Message         string            `json:"message"`
	Explanation     json.RawMessage   `json:"explanation,omitempty"`
	TriggerPosition uint64            `json:"trigger_position"`
	RaisedOn        domain.Date       `json:"raised_on"`
	RaisedAt        time.Time         `json:"raised_at"`     // recorded_at of the first AlertRaised
	Position        uint64            `json:"position"`      // of the first AlertRaised
	LastPosition    uint64            `json:"last_position"` // of its latest event
	Escalations     []Escalation      `json:"escalations"`   // later AlertRaised on the same id
	Acks            []Ack             `json:"acknowledgements"`
	ResolvedOn      domain.Date       `json:"resolved_on,omitempty"`
	ResolvedReason  string            `json:"resolved_reason,omitempty"`
	ResolvedComment string            `json:"resolved_comment,omitempty"`
	// ResolvedBy is the actor of the resolution ("alerting" when the condition cleared).
	ResolvedBy string `json:"resolved_by,omitempty"`
	// ClearedOn is when the condition of an alert resolved by hand cleared.
	ClearedOn domain.Date `json:"cleared_on,omitempty"`
}

// Escalation is a re-raise of an open alert with a higher severity.
type Escalation struct {
	From     string      `json:"from"`
	To       string      `json:"to"`
	On       domain.Date `json:"on"`
	Position uint64      `json:"position"`
}

// key returns the (customer, rule, subject) an alert is unique on while open.
func (a *Alert) key() signals.Key {
	return signals.Key{CustomerID: a.CustomerID, Rule: a.Rule, Subject: a.Subject}
}

// Book is the alert state folded from the alert events of the log: every alert, the open
// one of each key, how many were ever raised on each key (the next id), and each alert
// stream's version (the expected version of the next append). It is not safe for concurrent
// use.
type Book struct {
	position uint64
	alerts   map[string]*Alert
	open     map[signals.Key]string
	raised   map[signals.Key]int
	versions map[string]uint64
	// dismissed holds, per key, the alert a credit manager resolved by hand while its
	// condition still held: Plan raises nothing on the key while the signal holds at that
	// alert's severity or lower, and records the condition clearing (ReasonClearedAfterHand).
	dismissed map[signals.Key]string
}

// NewBook returns an empty book.
func NewBook() *Book {
	return &Book{alerts: map[string]*Alert{}, open: map[signals.Key]string{}, raised: map[signals.Key]int{}, versions: map[string]uint64{},
		dismissed: map[signals.Key]string{}}
}

// Position returns the position of the last envelope applied.
func (b *Book) Position() uint64 { return b.position }

// Apply folds e: alert events update the alerts, other events only the position. It is
// idempotent by position. An alert event that does not decode is an error (the book is left
// unchanged).
func (b *Book) Apply(e domain.Envelope) error {
	if e.Position <= b.position {
		return nil
	}
	if !isAlertStream(e.Stream) {
		b.position = e.Position
		return nil
	}
	switch e.Type {
	case domain.TypeAlertRaised, domain.TypeAlertResolved, domain.TypeAlertAcknowledged:
	default:
		b.versions[e.Stream] = e.StreamVersion
		b.position = e.Position
		return nil
	}
	ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
	if err != nil {
		return fmt.Errorf("alerting: book at position %d: %w", e.Position, err)
	}
	switch v := ev.(type) {
	case domain.AlertRaised:
		b.raise(v, e)
	case domain.AlertResolved:
		a := b.alerts[v.AlertID]
		switch {
		case a == nil:
		case a.Status != StatusResolved:
			a.Status, a.ResolvedOn, a.ResolvedReason, a.ResolvedComment, a.LastPosition = StatusResolved, v.ResolvedOn, v.Reason, v.Comment, e.Position
			a.ResolvedBy = e.Actor
			if b.open[a.key()] == a.AlertID {
				delete(b.open, a.key())
			}
			if v.Reason == ReasonResolvedByHand {
				b.dismissed[a.key()] = a.AlertID
			}
		case b.dismissed[a.key()] == a.AlertID:
			// The condition of an alert resolved by hand has cleared: the key is armed again.
			delete(b.dismissed, a.key())
			a.ClearedOn, a.LastPosition = v.ResolvedOn, e.Position
		}
	case domain.AlertAcknowledged:
		if a := b.alerts[v.AlertID]; a != nil && a.Status != StatusResolved {
			a.Status = StatusAcknowledged
			a.Acks = append(a.Acks, Ack{Actor: e.Actor, Comment: v.Comment, On: v.AckedOn, Position: e.Position})
			a.LastPosition = e.Position
		}
	}
	b.versions[e.Stream] = e.StreamVersion
	b.position = e.Position
	return nil
}

func (b *Book) raise(v domain.AlertRaised, e domain.Envelope) {
	if a := b.alerts[v.AlertID]; a != nil {
		// The same id raised again: an escalation of the open alert. It is open again,
		// whatever acknowledgement it had: the news is worse than what was acknowledged.
		if a.Status == StatusResolved {
			return // never happens with this evaluator: a resolved alert's key gets a new id
		}
		a.Escalations = append(a.Escalations, Escalation{From: a.Severity, To: v.Severity, On: v.RaisedOn, Position: e.Position})
		a.Severity, a.Message, a.Explanation, a.TriggerPosition = v.Severity, v.Message, v.Explanation, v.TriggerPosition
		a.Status, a.LastPosition = StatusOpen, e.Position
		return
	}
	a := &Alert{AlertID: v.AlertID, CustomerID: v.CustomerID, Rule: v.Rule, Subject: v.Subject, Severity: v.Severity,
		Status: StatusOpen, Message: v.Message, Explanation: v.Explanation, TriggerPosition: v.TriggerPosition,
		RaisedOn: v.RaisedOn, RaisedAt: e.RecordedAt, Position: e.Position, LastPosition: e.Position,
		Escalations: []Escalation{}, Acks: []Ack{}}
	b.alerts[a.AlertID] = a
	k := a.key()
	b.raised[k]++
	b.open[k] = a.AlertID
	delete(b.dismissed, k) // a worse condition than the one resolved by hand
}

// Alert returns a copy of the alert with id.
func (b *Book) Alert(id string) (Alert, bool) {
	a := b.alerts[id]
	if a == nil {
		return Alert{}, false
	}
	return a.clone(), true
}

func (a *Alert) clone() Alert {
	c := *a
	c.Escalations = slices.Clone(a.Escalations)
	c.Acks = slices.Clone(a.Acks)
	return c
}

// Filter selects alerts; zero fields select everything.
type Filter struct {
	Status      string // open (open or acknowledged: not resolved), acknowledged, resolved
	CustomerID  domain.CustomerID
	Rule        string
	MinSeverity signals.Severity
	Limit       int // at most this many, newest first (0: alertsListMax)
	Offset      int // skip this many first (pagination)
}

// alertsListMax bounds one listing.
const alertsListMax = 1000

// List returns the alerts that match f, newest first (by the position they were raised at),
// from f.Offset, at most f.Limit.
func (b *Book) List(f Filter) []Alert {
	rows, _ := b.Page(f)
	return rows
}

// Page is List with the number of alerts that match f, whatever the page.
func (b *Book) Page(f Filter) (rows []Alert, total int) {
	limit := f.Limit
	if limit <= 0 || limit > alertsListMax {
		limit = alertsListMax
	}
	var match []*Alert
	for _, a := range b.alerts {
		switch {
		case f.Status == StatusOpen && a.Status == StatusResolved,
			f.Status == StatusAcknowledged && a.Status != StatusAcknowledged,
			f.Status == StatusResolved && a.Status != StatusResolved,
			f.CustomerID != "" && a.CustomerID != f.CustomerID,
			f.Rule != "" && a.Rule != f.Rule:
			continue
		}
		if f.MinSeverity != 0 {
			if s, err := signals.ParseSeverity(a.Severity); err != nil || s < f.MinSeverity {
				continue
			}
		}
		match = append(match, a)
	}
	slices.SortFunc(match, func(x, y *Alert) int {
		if x.Position != y.Position {
			if x.Position > y.Position {
				return -1
			}
			return 1
		}
		return strings.Compare(x.AlertID, y.AlertID)
	})
	total = len(match)
	match = match[min(max(f.Offset, 0), total):min(max(f.Offset, 0)+limit, total)]
	rows = make([]Alert, len(match))
	for i, a := range match {
		rows[i] = a.clone()
	}
	return rows, total
}
