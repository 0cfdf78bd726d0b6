package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/handlers/reports"
)

func init() {
	register(verb{name: "replay", summary: "replay the log to a date and export aging, ledger or journal", run: runReplay})
}

// runReplay replays the log as of a business date (and as known at an instant) and writes an
// export whose bytes are the same every time it is run on the same log with the same
// parameters; --manifest writes the position, chain hash and SHA-256 it was made from.
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("encours replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: encours replay --as-of YYYY-MM-DD [--known-at RFC3339] [--report aging|ledger|journal]\n"+
			"                      [--format csv|json] [--data DIR | --server URL [--token T]] [--out F] [--manifest M]\n\n"+
			"Replays the log: only events effective on or before --as-of and recorded at or before\n"+
			"--known-at count. The same log and parameters always give the same bytes.\n\n")
		fs.PrintDefaults()
	}
	data := fs.String("data", "", "directory of a stopped daemon's embedded store (default ./data unless --server)")
	server := fs.String("server", "", "URL of a running daemon")
	token := fs.String("token", os.Getenv("ENCOURS_TOKEN"), "bearer token for --server (default $ENCOURS_TOKEN)")
	asOfFlag := fs.String("as-of", "", "business date (required)")
	knownAtFlag := fs.String("known-at", "", "knowledge time, RFC 3339 (default: everything recorded)")
	report := fs.String("report", "aging", "aging, ledger or journal")
	format := fs.String("format", "csv", "csv or json")
	out := fs.String("out", "", "write the export here instead of stdout")
	manifest := fs.String("manifest", "", "write the export's manifest (JSON) here")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	asOf, err := domain.ParseDate(*asOfFlag)
	if err != nil {
		fmt.Fprintf(stderr, "encours replay: --as-of: %v\n", err)
		return exitUsage
	}
	var knownAt *time.Time
	if *knownAtFlag != "" {
		t, err := time.Parse(time.RFC3339Nano, *knownAtFlag)
		if err != nil {
			fmt.Fprintf(stderr, "encours replay: --known-at %q: want an RFC 3339 instant such as 2026-01-10T00:00:00Z\n", *knownAtFlag)
			return exitUsage
		}
		t = t.UTC()
		knownAt = &t
	}
	switch reports.Report(*report) {
	case reports.ReportAging, reports.ReportLedger, reports.ReportJournal:
	default:
		fmt.Fprintf(stderr, "encours replay: --report %q: want aging, ledger or journal\n", *report)
		return exitUsage
	}
	if *format != "csv" && *format != "json" {
		fmt.Fprintf(stderr, "encours replay: --format %q: want csv or json\n", *format)
		return exitUsage
	}
	if *data != "" && *server != "" {
		fmt.Fprintln(stderr, "encours replay: give --data or --server, not both")
		return exitUsage
	}
	req := reports.Request{Report: reports.Report(*report), Format: reports.Format(*format), AsOf: asOf, KnownAt: knownAt}
	return writeExport(ctx, "replay", req, exportTarget{data: *data, server: *server, token: *token, out: *out, manifest: *manifest}, stdout, stderr)
}
