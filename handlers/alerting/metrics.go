package alerting

import (
	"slices"

	"github.com/encours/encours/projections/signals"
)

// AlertCount is how many alerts of one rule and severity the book holds: the AlertRaised
// events (a first raise or an escalation, each counted at the severity it raised) and the
// alerts open now at their current severity. Rule and severity come from closed sets
// (signals.Rules, the three severities): what /metrics may use as labels.
type AlertCount struct {
	Rule     string
	Severity string
	Raised   uint64 // AlertRaised events folded, first raises and escalations
	Open     int    // open or acknowledged, at the alert's current severity
}

// AlertCounts returns the counts of every rule and severity (zero ones included), in the
// order of signals.Rules then severity. A raise of a rule or severity outside those sets
// (a log written by a later version) is counted under "other".
func (e *Evaluator) AlertCounts() []AlertCount {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.book.counts()
}

// Severities lists the severity names in increasing order (the labels of the alert series).
func Severities() []string {
	return []string{signals.SeverityInfo.String(), signals.SeverityWarning.String(), signals.SeverityCritical.String()}
}

// countOther is the rule or severity label of a value outside the closed sets.
const countOther = "other"

func (b *Book) counts() []AlertCount {
	type key struct{ rule, sev string }
	rules, sevs := signals.Rules(), Severities()
	idx := map[key]int{}
	var out []AlertCount
	for _, r := range rules {
		for _, s := range sevs {
			idx[key{r, s}] = len(out)
			out = append(out, AlertCount{Rule: r, Severity: s})
		}
	}
	at := func(rule, sev string) *AlertCount {
		if !slices.Contains(rules, rule) {
			rule = countOther
		}
		if !slices.Contains(sevs, sev) {
			sev = countOther
		}
		i, ok := idx[key{rule, sev}]
		if !ok {
			i = len(out)
			idx[key{rule, sev}] = i
			out = append(out, AlertCount{Rule: rule, Severity: sev})
		}
		return &out[i]
	}
	for _, a := range b.alerts {
		first := a.Severity
		if len(a.Escalations) > 0 {
			first = a.Escalations[0].From
		}
		at(a.Rule, first).Raised++
		for _, esc := range a.Escalations {
			at(a.Rule, esc.To).Raised++
		}
		if a.Status != StatusResolved {
			at(a.Rule, a.Severity).Open++
		}
	}
	return out
}

// ChannelStats are the delivery counters of one channel (webhook, sse, kafka).
type ChannelStats struct {
	Channel        string
	Delivered      uint64 // deliveries that succeeded (redeliveries included); sse: events sent to clients
	FailedAttempts uint64 // attempts that failed
	DeadLettered   uint64 // events dead-lettered after their last attempt
	DeadLetters    int    // dead letters held now
}

// Channels lists the subscription channels (the labels of the delivery series).
func Channels() []string { return []string{ChannelWebhook, ChannelSSE, ChannelKafka} }

// ChannelStats returns the delivery counters of every channel, in the order of Channels
// (zero ones included). A dead letter whose subscription was deleted since counts under
// "other".
func (d *Delivery) ChannelStats() []ChannelStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]ChannelStats, 0, 4)
	for _, c := range Channels() {
		s := d.byChannel[c]
		s.Channel = c
		if c == ChannelSSE { // events written to SSE clients go through the hub, not deliver
			sent, _ := d.hub.counters()
			s.Delivered += sent
		}
		out = append(out, s)
	}
	var orphans int
	for _, dl := range d.dead {
		st := d.subs[dl.SubscriptionID]
		if st == nil {
			orphans++
			continue
		}
		if i := slices.Index(Channels(), st.sub.Channel); i >= 0 {
			out[i].DeadLetters++
		}
	}
	if orphans > 0 {
		out = append(out, ChannelStats{Channel: countOther, DeadLetters: orphans})
	}
	return out
}

// countChannel updates the counters of st's channel; d.mu is held.
func (d *Delivery) countChannel(st *subState, fn func(*ChannelStats)) {
	if d.byChannel == nil {
		d.byChannel = map[string]ChannelStats{}
	}
	s := d.byChannel[st.sub.Channel]
	fn(&s)
	d.byChannel[st.sub.Channel] = s
}
