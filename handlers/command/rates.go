package command

import (
	"context"
	"errors"
	"fmt"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore"
)

// ratesCurrenciesMax bounds one publication: ISO 4217 has fewer than 200 active codes.
const ratesCurrenciesMax = 200

// PublishRates appends dated exchange rates to the reporting currency on the system stream
// (design §Events: ExchangeRatesPublished; portfolio totals use the rate of the as-of
// date). Each rate must be positive and name a known currency other than the reporting one,
// once.
func (s *Service) PublishRates(ctx context.Context, e domain.ExchangeRatesPublished, meta Meta) (Result, error) {
	if !e.Reporting.Valid() {
		return Result{}, domain.FieldErrorf(domain.KindInvalid, domain.CodeUnknownCurrency, "reporting", "unknown reporting currency %q", e.Reporting)
	}
	if !e.RatesOn.Valid() {
		return Result{}, domain.FieldErrorf(domain.KindInvalid, domain.CodeMissingField, "rates_on", "rates_on is required")
	}
	if len(e.Rates) == 0 || len(e.Rates) > ratesCurrenciesMax {
		return Result{}, domain.FieldErrorf(domain.KindInvalid, domain.CodeInvalidField, "rates", "want 1 to %d rates", ratesCurrenciesMax)
	}
	seen := map[domain.Currency]bool{}
	for i, r := range e.Rates {
		field := fmt.Sprintf("rates[%d]", i)
		switch {
		case !r.Currency.Valid():
			return Result{}, domain.FieldErrorf(domain.KindInvalid, domain.CodeUnknownCurrency, field+".currency", "unknown currency %q", r.Currency)
		case r.Currency == e.Reporting || seen[r.Currency]:
			return Result{}, domain.FieldErrorf(domain.KindInvalid, domain.CodeInvalidField, field+".currency", "%s is the reporting currency or named twice", r.Currency)
		case r.E9 <= 0:
			return Result{}, domain.FieldErrorf(domain.KindInvalid, domain.CodeAmountNotPositive, field+".rate_e9", "rate of %s must be positive", r.Currency)
		}
		seen[r.Currency] = true
	}
	for attempt := 0; ; attempt++ {
		version, err := s.streamVersion(ctx, domain.RatesStream)
		if err != nil {
			return Result{}, err
		}
		req, err := s.appendRequest(domain.RatesStream, version, []domain.Event{e}, meta, nil)
		if err != nil {
			return Result{}, err
		}
		res, err := s.store.Append(ctx, req)
		switch {
		case err == nil:
			return Result{AppendResult: res, Events: []domain.Event{e}}, nil
		case errors.Is(err, eventstore.ErrWrongVersion) && attempt+1 < appendRetriesMax:
			continue
		case errors.Is(err, eventstore.ErrWrongVersion):
			return Result{}, domain.Errorf(domain.KindConflict, domain.CodeVersionConflict, "rates stream changed %d times while publishing", appendRetriesMax)
		default:
			return Result{}, fmt.Errorf("publish rates: %w", err)
		}
	}
}

// streamVersion returns the version of a stream, reading it page by page.
func (s *Service) streamVersion(ctx context.Context, stream string) (uint64, error) {
	var version uint64
	for range streamPagesMax {
		page, err := s.store.ReadStream(ctx, stream, version+1, eventstore.ReadLimitMax)
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", stream, err)
		}
		if len(page) == 0 {
			return version, nil
		}
		version = page[len(page)-1].StreamVersion
	}
	return 0, fmt.Errorf("read %s: more than %d pages", stream, streamPagesMax)
}
