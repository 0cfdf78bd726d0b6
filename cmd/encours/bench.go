package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/encours/encours/bench"
)

func init() {
	register(verb{name: "bench", summary: "benchmark Encours against PostgreSQL in one run (table, JSON, plots)", run: runBench})
}

// runBench runs the benchmark suite (package bench) and prints its table. Exit 0 when it
// ran (targets missed included: they are figures, not failures), 1 when a workload failed,
// 2 on bad usage.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("encours bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: encours bench [-quick] [-out DIR] [-postgres URL] [sizes]\n\n"+
			"Runs the same workloads against Encours and, when a PostgreSQL URL is given (default\n"+
			"$ENCOURS_POSTGRES_URL; scripts/postgres up starts one), against PostgreSQL; prints a\n"+
			"table with each figure's target and writes results.json, throughput.png and\n"+
			"latency.png under -out.\n\n")
		fs.PrintDefaults()
	}
	quick := fs.Bool("quick", false, "small sizes: the whole run in under a minute")
	out := fs.String("out", "bench", "directory for results.json and the plots (\"\" writes nothing)")
	pgURL := fs.String("postgres", os.Getenv("ENCOURS_POSTGRES_URL"), "PostgreSQL URL of the baseline (\"\": Encours only)")
	dir := fs.String("dir", "", "directory for the stores under test (default: a temporary one; same disk as PostgreSQL's for a fair run)")
	appendDur := fs.Duration("append-duration", 0, "duration of each append case (default 2s; quick 150ms)")
	httpDur := fs.Duration("http-duration", 0, "duration of the HTTP workload (default 3s)")
	replay := fs.Int("replay", 0, "events in the replay and restart log (default 1000000; quick 20000)")
	replay10M := fs.Bool("replay-10m", true, "also replay and restart a 10M-event log (about 3.5 GB of disk, 2 more minutes; with -quick only when given)")
	growFrom := fs.Int("grow-from", 0, "cost per event: first log size (default 1000000)")
	growTo := fs.Int("grow-to", 0, "cost per event: second log size (default 10000000)")
	grow100M := fs.Bool("grow-100m", false, "cost per event up to 100M events (about 30 GB of disk)")
	alertIters := fs.Int("alert-iterations", 0, "append → alert iterations (default 400)")
	replot := fs.String("replot", "", "only render the plots again from this results.json, beside it")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	if *replot != "" {
		if err := bench.Replot(*replot); err != nil {
			fmt.Fprintf(stderr, "encours bench: %v\n", err)
			return exitFinding
		}
		return exitOK
	}
	cfg := bench.Config{PostgresURL: *pgURL, Out: *out, Dir: *dir, Quick: *quick, AppendDuration: *appendDur,
		HTTPDuration: *httpDur, GrowFrom: *growFrom, GrowTo: *growTo, AlertIters: *alertIters, Log: stderr}
	if *replay > 0 {
		cfg.ReplayEvents = []int{*replay}
	}
	given10M := false
	fs.Visit(func(f *flag.Flag) { given10M = given10M || f.Name == "replay-10m" })
	if *replay10M && (!*quick || given10M) {
		if len(cfg.ReplayEvents) == 0 {
			cfg.ReplayEvents = bench.Defaults().ReplayEvents
			if *quick {
				cfg.ReplayEvents = bench.QuickDefaults().ReplayEvents
			}
		}
		cfg.ReplayEvents = append(cfg.ReplayEvents, 10_000_000)
	}
	if *grow100M {
		cfg.GrowTo = 100_000_000
	}
	if cfg.PostgresURL == "" {
		fmt.Fprintln(stderr, "encours bench: no PostgreSQL URL (-postgres or ENCOURS_POSTGRES_URL): Encours only, PostgreSQL columns say \"not run\"")
	}
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "encours bench: %v\n", err)
		return exitFinding
	}
	fmt.Fprintf(stdout, "Encours against PostgreSQL, %s, %d CPUs, %s, run of %s\n\n", res.Started.Format(time.RFC3339), res.Machine.CPUs,
		res.Machine.GoVersion, res.Duration.Round(time.Second))
	res.Markdown(stdout)
	if *out != "" {
		fmt.Fprintf(stdout, "\nwrote %s, %s, %s\n", filepath.Join(*out, bench.ResultsFile), filepath.Join(*out, bench.ThroughputPlot),
			filepath.Join(*out, bench.LatencyPlot))
	}
	return exitOK
}
