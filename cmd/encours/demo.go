package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/handlers/demo"
	"github.com/encours/encours/handlers/ingest"
)

func init() {
	register(verb{name: "demo", summary: "append a synthetic demo portfolio (same seed, same log)", run: runDemo})
}

// demoProgressEvery is how many commands pass between two progress lines.
const demoProgressEvery = 20_000

// runDemo generates a portfolio calibrated on the IBM sample and appends it to a stopped
// daemon's --data through the command service. Every command has an idempotency key from the
// seed and its rank, so running it twice appends nothing the second time.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("encours demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: encours demo [--data DIR] [--customers N] [--years Y] [--seed S] [--end YYYY-MM-DD]\n\n"+
			"Appends a synthetic portfolio: N generated customers plus six named stories (ACME drifts,\n"+
			"SILENT stops paying, PLAN misses an instalment, PROMISE breaks a promise, BOUNCE has\n"+
			"reversed payments, DISPUTE has disputes and credit notes), ending on --end.\n\n")
		fs.PrintDefaults()
	}
	data := fs.String("data", "./data", "directory of the embedded event store (the daemon must be stopped)")
	customers := fs.Int("customers", 200, "generated customers, besides the six named ones")
	years := fs.Int("years", 2, "years of history")
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives the same log")
	end := fs.String("end", "", "last business date of the history (default today)")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	endDate := domain.DateOfTime(time.Now())
	if *end != "" {
		d, err := domain.ParseDate(*end)
		if err != nil {
			fmt.Fprintf(stderr, "encours demo: --end: %v\n", err)
			return exitUsage
		}
		endDate = d
	}
	steps, err := demo.Generate(demo.Config{Customers: *customers, Years: *years, Seed: *seed, End: endDate})
	if err != nil {
		fmt.Fprintf(stderr, "encours demo: %v\n", err)
		return exitUsage
	}
	store, err := embedded.Open(*data, embedded.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "encours demo: open store %s: %v\n", *data, err)
		return exitFinding
	}
	defer store.Close()
	svc := command.New(store, command.WallClock{}, command.Options{})
	if err := svc.Warm(ctx); err != nil {
		fmt.Fprintf(stderr, "encours demo: %v\n", err)
		return exitFinding
	}
	// The demo has a few GBP and USD customers: publish rates to EUR in force from the
	// start of its history, so that portfolio totals can be made (design §Events,
	// ExchangeRatesPublished). They are illustrative, and say so.
	ratesOn := endDate.AddMonths(-12 * *years)
	rates := domain.ExchangeRatesPublished{Reporting: "EUR", RatesOn: ratesOn, Source: "demo: illustrative rates, not published by the ECB",
		Rates: []domain.Rate{{Currency: "GBP", E9: 1_170_000_000}, {Currency: "USD", E9: 920_000_000}}}
	ratesKey := fmt.Sprintf("demo:%d:rates:%s", *seed, ratesOn)
	if used, err := svc.KeyUsed(ctx, ratesKey); err != nil {
		fmt.Fprintf(stderr, "encours demo: %v\n", err)
		return exitFinding
	} else if !used {
		if _, err := svc.PublishRates(ctx, rates, command.Meta{Actor: "demo", IdempotencyKey: ratesKey, RequestHash: keyHash(ratesKey)}); err != nil {
			fmt.Fprintf(stderr, "encours demo: publish rates: %v\n", err)
			return exitFinding
		}
	}
	start := time.Now()
	a := ingest.NewApplier(ctx, svc, "demo")
	n := 0
	for st := range steps {
		n++
		if err := a.Submit(ingest.Record{Row: n, Key: st.Key, Command: st.Command}); err != nil {
			break
		}
		if n%demoProgressEvery == 0 {
			fmt.Fprintf(stderr, "demo: %d commands (%s), %.0f/s\n", n, st.On, float64(n)/time.Since(start).Seconds())
		}
	}
	counts, err := a.Close()
	if err != nil {
		fmt.Fprintf(stderr, "encours demo: %v\n", err)
		return exitFinding
	}
	fmt.Fprintf(stdout, "demo portfolio (seed %d, %d customers + %d named, %d years to %s): %d commands; %d appended, %d already present, in %s\n",
		*seed, *customers, len(demo.NamedCustomers()), *years, endDate, n, counts.Appended, counts.AlreadyPresent, time.Since(start).Round(time.Millisecond))
	return exitOK
}

// keyHash is the request hash stored with a key derived from its own content.
func keyHash(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}
