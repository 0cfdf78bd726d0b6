package command

import (
	"context"
	"errors"
	"fmt"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// Prepared is an event decided and encoded ahead of its append (AppendPrepared): what its
// envelope needs besides the ids and times given at the append, and what links a
// correction to the event it corrects. The bulk importer decides a file's rows once, keeps
// them in this form (in memory, or spilled to a file) while it validates the rest, and
// appends them once the whole file is known good.
type Prepared struct {
	Type        string
	EffectiveOn domain.Date
	Data        []byte // domain.EncodeEvent
	// Document is the invoice or payment id the event introduces or concerns (documentID);
	// CorrectsType and CorrectsID name the event a compensating event corrects (corrected),
	// both empty for an event that corrects nothing.
	Document     string
	CorrectsType string
	CorrectsID   string
}

// Prepare encodes e for AppendPrepared.
func Prepare(e domain.Event) (Prepared, error) {
	p, _, err := PrepareAppend(make([]byte, 0, 256), e)
	return p, err
}

// PrepareAppend is Prepare with the event's data appended to buf (domain.AppendEvent): p.Data
// is the part of the returned buffer it appended. The bulk importer encodes a batch's events
// into one buffer it reuses, instead of one allocation per event.
func PrepareAppend(buf []byte, e domain.Event) (p Prepared, out []byte, err error) {
	start := len(buf)
	out, err = domain.AppendEvent(buf, e)
	if err != nil {
		return Prepared{}, buf, fmt.Errorf("encode %s: %w", e.EventType(), err)
	}
	typ, id, _ := corrected(e)
	return Prepared{Type: e.EventType(), EffectiveOn: e.Effective(), Data: out[start:len(out):len(out)], Document: documentID(e),
		CorrectsType: typ, CorrectsID: id}, out, nil
}

// AppendDecided appends events that the caller decided itself, with domain.Decide and
// domain.Evolve, against customer id's state at version: AppendPrepared of the events, each
// through Prepare.
func (s *Service) AppendDecided(ctx context.Context, id domain.CustomerID, version uint64, events []domain.Event, meta Meta) (eventstore.AppendResult, error) {
	prepared := make([]Prepared, len(events))
	for i, e := range events {
		p, err := Prepare(e)
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		prepared[i] = p
	}
	return s.AppendPrepared(ctx, id, version, prepared, meta)
}

// AppendPrepared appends events that the caller decided itself, with domain.Decide and
// domain.Evolve, against customer id's state at version, and encoded with Prepare: the bulk
// path of handlers/ingest, which decides thousands of rows in memory and appends them in
// batches of up to eventstore.AppendEventsMax events instead of one command at a time. The
// append carries the expected version, so an interleaved write by anyone else is refused
// (version_conflict) rather than overwritten, and meta's idempotency key, so a batch
// appended before answers its first result (Replayed) and appends nothing.
//
// It bypasses the id directory's claims: the caller checks that the invoice and payment ids
// it introduces belong to no other customer (InvoiceCustomer, PaymentCustomer). The cached
// state of the customer is dropped; the next command re-reads the stream.
func (s *Service) AppendPrepared(ctx context.Context, id domain.CustomerID, version uint64, events []Prepared, meta Meta) (eventstore.AppendResult, error) {
	if len(events) == 0 || len(events) > eventstore.AppendEventsMax {
		return eventstore.AppendResult{}, fmt.Errorf("append decided %s: %d events, want 1 to %d", id, len(events), eventstore.AppendEventsMax)
	}
	if meta.IdempotencyKey != "" && len(meta.RequestHash) == 0 {
		return eventstore.AppendResult{}, fmt.Errorf("append decided %s: idempotency key without a request hash", id)
	}
	if meta.Actor == "" {
		meta.Actor = "unknown"
	}
	unlock := s.lock(id)
	defer unlock()
	defer s.forgetLocked(id)
	stream := domain.CustomerStream(id)
	causes, err := s.causations(ctx, stream, events, meta)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	req := s.preparedRequest(stream, version, events, meta, causes)
	linkWithinRequest(&req, events)
	res, err := s.store.Append(ctx, req)
	switch {
	case err == nil:
		return res, nil
	case errors.Is(err, eventstore.ErrWrongVersion):
		return res, domain.Errorf(domain.KindConflict, domain.CodeVersionConflict,
			"customer %s changed while its rows were decided; import again", id)
	case errors.Is(err, eventstore.ErrIdempotencyKeyReused):
		return res, keyReusedError(meta.IdempotencyKey)
	default:
		return res, fmt.Errorf("append %s at v%d: %w", stream, version, err)
	}
}
