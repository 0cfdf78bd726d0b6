package alerting

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/projections/signals"
)

// Reasons of AlertResolved.
const (
	// ReasonConditionCleared: the evaluator resolved the alert, its signal no longer holds.
	ReasonConditionCleared = "condition cleared"
	// ReasonResolvedByHand: a credit manager resolved the alert (POST /v1/alerts/{id}/resolve)
	// while its condition may still hold.
	ReasonResolvedByHand = "resolved by hand"
	// ReasonClearedAfterHand: the condition of an alert resolved by hand no longer holds; the
	// rule may raise a new alert on the same key again.
	ReasonClearedAfterHand = "condition cleared after a resolution by hand"
)

// Change is one alert event to append to Stream.
type Change struct {
	Stream string
	Event  domain.Event // domain.AlertRaised or domain.AlertResolved
}

// explanationPayload is the JSON of AlertRaised.Explanation: the signal's explanation and
// the customer's segment (subscription filters read it).
type explanationPayload struct {
	Segment string `json:"segment,omitempty"`
	signals.Explanation
}

// alertID returns the n-th alert id of a key: <customer>:<rule>:<subject>:<n>.
func alertID(k signals.Key, n int) string {
	c := string(k.CustomerID)
	if c == "" {
		c = portfolioIDPart
	}
	return fmt.Sprintf("%s:%s:%s:%d", c, k.Rule, k.Subject, n)
}

// Plan returns the alert events that reconcile book with sigs, the signals that hold at asOf
// over scope (design §The flow of one event, step 5):
//   - a signal with no open alert on its key raises a new alert, id alertID(key, n) with n
//     one more than the alerts ever raised on the key (skipping an id already taken);
//   - a signal worse than its open alert re-raises the same id with the higher severity
//     (escalation); a milder or equal one changes nothing;
//   - a signal that only holds (signals.Signal.Hold, the hysteresis band) keeps its open
//     alert open and raises nothing;
//   - an open alert in scope whose signal no longer holds is resolved, "condition cleared".
//
// Alerts outside scope are left alone (a batch evaluates only the customers it touched; the
// portfolio's alerts only at a tick). It is a pure function: the same book, signals, scope
// and date give the same events, in a fixed order (by stream, then signal order, then
// resolutions by key).
func Plan(book *Book, sigs []signals.Signal, scope signals.Scope, asOf domain.Date) ([]Change, error) {
	in := make(map[domain.CustomerID]bool, len(scope.Customers))
	for _, c := range scope.Customers {
		in[c] = true
	}
	inScope := func(k signals.Key) bool { return scope.All || (k.CustomerID != "" && in[k.CustomerID]) }
	var out []Change
	desired := make(map[signals.Key]bool, len(sigs))
	taken := map[string]bool{}
	for _, s := range sigs {
		k := s.Key()
		if !inScope(k) {
			return nil, fmt.Errorf("alerting: signal %v outside the evaluated scope", k)
		}
		if desired[k] {
			return nil, fmt.Errorf("alerting: two signals on %v", k)
		}
		desired[k] = true
		if !s.Severity.Valid() || !signals.IsRule(s.Rule) || s.Subject == "" {
			return nil, fmt.Errorf("alerting: malformed signal %v severity %v", k, s.Severity)
		}
		expl, err := json.Marshal(explanationPayload{Segment: s.Segment, Explanation: s.Explanation})
		if err != nil {
			return nil, fmt.Errorf("alerting: explanation of %v: %w", k, err)
		}
		raised := domain.AlertRaised{CustomerID: k.CustomerID, Rule: k.Rule, Subject: k.Subject, Severity: s.Severity.String(),
			Message: s.Message, Explanation: expl, TriggerPosition: s.TriggerPosition, RaisedOn: asOf}
		id, isOpen := book.open[k]
		switch {
		case s.Hold:
			continue // keeps an open alert open; never raises nor escalates
		case !isOpen && book.dismissed[k] != "" && !worse(s.Severity, book.alerts[book.dismissed[k]]):
			continue // resolved by hand, and no worse since
		case isOpen:
			cur, err := signals.ParseSeverity(book.alerts[id].Severity)
			if err == nil && s.Severity <= cur {
				continue
			}
			raised.AlertID = id
		default:
			n := book.raised[k] + 1
			for book.alerts[alertID(k, n)] != nil || taken[alertID(k, n)] {
				n++
			}
			raised.AlertID = alertID(k, n)
			taken[raised.AlertID] = true
		}
		out = append(out, Change{Stream: alertStream(k.CustomerID), Event: raised})
	}
	open := make([]signals.Key, 0, len(book.open))
	for k := range book.open {
		if inScope(k) && !desired[k] {
			open = append(open, k)
		}
	}
	slices.SortFunc(open, compareKeys)
	for _, k := range open {
		out = append(out, Change{Stream: alertStream(k.CustomerID),
			Event: domain.AlertResolved{AlertID: book.open[k], Reason: ReasonConditionCleared, ResolvedOn: asOf}})
	}
	cleared := make([]signals.Key, 0, len(book.dismissed))
	for k := range book.dismissed {
		if inScope(k) && !desired[k] {
			cleared = append(cleared, k)
		}
	}
	slices.SortFunc(cleared, compareKeys)
	for _, k := range cleared {
		out = append(out, Change{Stream: alertStream(k.CustomerID),
			Event: domain.AlertResolved{AlertID: book.dismissed[k], Reason: ReasonClearedAfterHand, ResolvedOn: asOf}})
	}
	slices.SortStableFunc(out, func(a, b Change) int { return strings.Compare(a.Stream, b.Stream) })
	return out, nil
}

// worse reports whether severity s is above the severity of alert a (a nil or unreadable
// alert: true, so that a condition is never silenced by accident).
func worse(s signals.Severity, a *Alert) bool {
	if a == nil {
		return true
	}
	cur, err := signals.ParseSeverity(a.Severity)
	return err != nil || s > cur
}

// compareKeys orders keys by customer, rule, subject.
func compareKeys(a, b signals.Key) int {
	return cmp.Or(strings.Compare(string(a.CustomerID), string(b.CustomerID)), strings.Compare(a.Rule, b.Rule), strings.Compare(a.Subject, b.Subject))
}
