package command

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/encours/encours/domain"
)

// TestPublishRates appends rates to the system stream at successive versions and refuses
// malformed publications with the field named, appending nothing.
func TestPublishRates(t *testing.T) {
	ctx := context.Background()
	store := newMemStore()
	svc := New(store, NewManualClock(testNow), Options{})
	pub := domain.ExchangeRatesPublished{Reporting: "EUR", RatesOn: domain.MustDate("2026-01-02"),
		Rates: []domain.Rate{{Currency: "USD", E9: 858_000_000}, {Currency: "GBP", E9: 1_170_000_000}}}
	res, err := svc.PublishRates(ctx, pub, Meta{Actor: "treasury"})
	require.NoError(t, err)
	assert.Equal(t, uint64(1), res.StreamVersion)
	pub.RatesOn = domain.MustDate("2026-01-05")
	res, err = svc.PublishRates(ctx, pub, Meta{Actor: "treasury"})
	require.NoError(t, err)
	assert.Equal(t, uint64(2), res.StreamVersion)

	for _, tc := range []struct {
		name, field string
		mutate      func(*domain.ExchangeRatesPublished)
	}{
		{"unknown reporting currency", "reporting", func(e *domain.ExchangeRatesPublished) { e.Reporting = "XXX" }},
		{"no date", "rates_on", func(e *domain.ExchangeRatesPublished) { e.RatesOn = domain.Date{} }},
		{"no rates", "rates", func(e *domain.ExchangeRatesPublished) { e.Rates = nil }},
		{"zero rate", "rates[0].rate_e9", func(e *domain.ExchangeRatesPublished) { e.Rates = []domain.Rate{{Currency: "USD"}} }},
		{"rate of the reporting currency", "rates[0].currency", func(e *domain.ExchangeRatesPublished) { e.Rates = []domain.Rate{{Currency: "EUR", E9: 1}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := pub
			tc.mutate(&bad)
			_, err := svc.PublishRates(ctx, bad, Meta{})
			var de *domain.Error
			require.ErrorAs(t, err, &de)
			assert.Equal(t, tc.field, de.Field)
			v, err := svc.streamVersion(ctx, domain.RatesStream)
			require.NoError(t, err)
			assert.Equal(t, uint64(2), v, "a refused publication appends nothing")
		})
	}
}
