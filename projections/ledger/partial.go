package ledger

import (
	"errors"
	"fmt"

	"github.com/encours/encours/domain"
)

// ErrStreamGap: an envelope given to Partial.Apply is not the next version of its stream. The
// projection worker fills the missing versions from the event store and applies them first;
// a gap is never skipped.
var ErrStreamGap = errors.New("stream version gap")

// partialStreamsMax bounds the streams a Partial tracks: a worker holds its partitions'
// customers (and their alerts-* streams), far fewer than this; beyond it, Apply refuses
// rather than let memory grow without limit.
const partialStreamsMax = 16 << 20

// Partial is a ledger Model fed with some customers' streams only, each in stream-version
// order: what a projection worker of distributed mode sees when it consumes some partitions
// of the topic encours.events, keyed by customer (design §Flow step 4, §Scale-out).
//
// Why not Model.Apply: it is idempotent by global position and refuses any position but
// Position()+1, which holds for the whole log in position order. A worker receives only its
// partitions' events, so the positions it sees have gaps by construction, and events of two
// partitions arrive in no fixed relative order. What still holds per stream is order and
// contiguity: the relay keys every event of a stream to one partition, and Kafka keeps a
// partition's order. So Partial checks, and deduplicates by, each stream's version instead:
// an envelope at or below its stream's applied version is a redelivery and is ignored, the
// next version is applied, and anything beyond is ErrStreamGap.
//
// The ledger needs nothing across streams to apply one (invoices, payments and credit notes
// are found within their customer's stream), with one exception: the exchange rates of the
// system stream system-rates, held only by the worker owning its partition; per-customer
// figures, in the customer's currency, do not use them. Model.Position and Model.Hash of the
// model inside stay 0: a Partial has no global position.
//
// Partial is not safe for concurrent use; the worker serialises Apply and reads.
type Partial struct {
	m        *Model
	versions map[string]uint64 // stream -> last applied version
}

// NewPartial returns an empty Partial.
func NewPartial() *Partial {
	return &Partial{m: New(), versions: make(map[string]uint64)}
}

// Model returns the ledger model inside, for the figure and view functions of this package
// (ComputeFigures, CustomerInvoices, CustomerIDs ...). The caller must not Apply to it.
func (p *Partial) Model() *Model { return p.m }

// StreamVersion returns the last version of stream applied (0: none).
func (p *Partial) StreamVersion(stream string) uint64 { return p.versions[stream] }

// IsLedgerStream reports whether the ledger reads the data of stream's events (customer
// streams and the exchange rates); the other streams only advance positions and versions.
func IsLedgerStream(stream string) bool { return ledgerStream(stream) }

// Streams returns how many streams have had an envelope applied.
func (p *Partial) Streams() int { return len(p.versions) }

// Apply applies one envelope of a stream, idempotent by stream version: it returns
// applied=false and no error for an envelope at or below the stream's applied version (a
// redelivery), and ErrStreamGap for one beyond the next version. An envelope the model cannot
// apply is an error (ErrInconsistent, a decoding error) and leaves the Partial unchanged.
func (p *Partial) Apply(e domain.Envelope) (applied bool, err error) {
	if e.Stream == "" || e.StreamVersion == 0 {
		return false, fmt.Errorf("ledger: partial apply position %d: stream %q version %d: %w",
			e.Position, e.Stream, e.StreamVersion, ErrInconsistent)
	}
	have := p.versions[e.Stream]
	if e.StreamVersion <= have {
		return false, nil
	}
	if e.StreamVersion != have+1 {
		return false, fmt.Errorf("ledger: partial apply %s v%d after v%d (position %d): %w",
			e.Stream, e.StreamVersion, have, e.Position, ErrStreamGap)
	}
	if have == 0 && len(p.versions) >= partialStreamsMax {
		return false, fmt.Errorf("ledger: partial apply %s: more than %d streams", e.Stream, partialStreamsMax)
	}
	if ledgerStream(e.Stream) {
		ev, err := domain.DecodeEvent(e.Type, e.SchemaVersion, e.Data)
		if err != nil {
			return false, fmt.Errorf("ledger: partial decode %s v%d (position %d): %w", e.Stream, e.StreamVersion, e.Position, err)
		}
		if err := p.m.applyEvent(e.Stream, ev); err != nil {
			return false, fmt.Errorf("ledger: partial apply %s v%d (position %d, %s): %w", e.Stream, e.StreamVersion, e.Position, e.Type, err)
		}
	}
	p.versions[e.Stream] = e.StreamVersion
	invariant(p.m.position == 0 && p.m.replay == nil, "partial model has position %d or is a replay", p.m.position)
	return true, nil
}
