package alerting

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/encours/encours/projections/signals"
)

// The book's snapshot (the evaluator's, beside the ledger model and the signals' facts):
// JSON, alerts and keys in order, so the same book gives the same bytes.

type bookSnapshot struct {
	Position  uint64            `json:"position"`
	Alerts    []*Alert          `json:"alerts"`
	Open      []keyID           `json:"open"`
	Raised    []keyCount        `json:"raised"`
	Versions  map[string]uint64 `json:"versions"`
	Dismissed []keyID           `json:"dismissed"`
}

type keyID struct {
	Key signals.Key `json:"key"`
	ID  string      `json:"id"`
}

type keyCount struct {
	Key signals.Key `json:"key"`
	N   int         `json:"n"`
}

// MarshalBinary encodes the book (encoding.BinaryMarshaler).
func (b *Book) MarshalBinary() ([]byte, error) {
	s := bookSnapshot{Position: b.position, Alerts: make([]*Alert, 0, len(b.alerts)), Versions: b.versions}
	for _, a := range b.alerts {
		s.Alerts = append(s.Alerts, a)
	}
	slices.SortFunc(s.Alerts, func(x, y *Alert) int { return strings.Compare(x.AlertID, y.AlertID) })
	for k, id := range b.open {
		s.Open = append(s.Open, keyID{k, id})
	}
	for k, id := range b.dismissed {
		s.Dismissed = append(s.Dismissed, keyID{k, id})
	}
	for k, n := range b.raised {
		s.Raised = append(s.Raised, keyCount{k, n})
	}
	slices.SortFunc(s.Open, func(x, y keyID) int { return compareKeys(x.Key, y.Key) })
	slices.SortFunc(s.Dismissed, func(x, y keyID) int { return compareKeys(x.Key, y.Key) })
	slices.SortFunc(s.Raised, func(x, y keyCount) int { return compareKeys(x.Key, y.Key) })
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // explanations keep their bytes
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("alerting: encode book: %w", err)
	}
	return buf.Bytes(), nil
}

// UnmarshalBinary replaces b by the book data encodes (MarshalBinary's bytes).
func (b *Book) UnmarshalBinary(data []byte) error {
	var s bookSnapshot
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return fmt.Errorf("alerting: decode book: %w", err)
	}
	out := NewBook()
	out.position = s.Position
	for _, a := range s.Alerts {
		if a == nil || a.AlertID == "" || out.alerts[a.AlertID] != nil {
			return fmt.Errorf("alerting: decode book: an alert without id or twice")
		}
		out.alerts[a.AlertID] = a
	}
	for _, o := range s.Open {
		out.open[o.Key] = o.ID
	}
	for _, o := range s.Dismissed {
		out.dismissed[o.Key] = o.ID
	}
	for _, r := range s.Raised {
		out.raised[r.Key] = r.N
	}
	if s.Versions != nil {
		out.versions = s.Versions
	}
	*b = *out
	return nil
}
