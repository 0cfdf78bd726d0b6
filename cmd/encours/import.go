package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/command"
	"github.com/encours/encours/handlers/ingest"
)

func init() {
	register(verb{name: "import", summary: "import a CSV ledger (invoices, settlements, disputes) into the store", run: runImport})
}

// importErrorsShownMax bounds the refusals printed; the report counts them all.
const importErrorsShownMax = 50

// runImport validates every row of --file, then appends them, on a stopped daemon's --data.
// Exit 0 on success, 2 when a row is refused (each named by row and field; nothing is
// appended unless --continue), 1 when the import fails while running.
func runImport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("encours import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: encours import --file F [--format generic|ibm-ar] [--mapping M.yaml] [--data DIR] [--dry-run] [--continue [--rejects R.csv]]\n\n"+
			"Reads every row first and refuses the whole file when one row is bad, naming its row\n"+
			"and field; then appends. Importing the same rows again appends nothing.\n"+
			"Exit 0 on success, 2 on bad input, 1 on a failure while running.\n\n")
		fs.PrintDefaults()
	}
	data := fs.String("data", "./data", "directory of the embedded event store (the daemon must be stopped)")
	file := fs.String("file", "", "the CSV file to import")
	format := fs.String("format", "generic", "the file's layout: generic or ibm-ar")
	mapping := fs.String("mapping", "", "YAML mapping the file's columns, date format and amount scale onto the generic format")
	dryRun := fs.Bool("dry-run", false, "validate every row and report; append nothing")
	cont := fs.Bool("continue", false, "append the customers whose rows are all valid; report the rest")
	rejectsPath := fs.String("rejects", "", "with --continue: write the refused rows' errors to this CSV")
	actor := fs.String("actor", "import", "who is recorded as having appended the events")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	f, ok := ingest.Formats[*format]
	if !ok {
		fmt.Fprintf(stderr, "encours import: unknown --format %q (want generic or ibm-ar)\n", *format)
		return exitUsage
	}
	if *mapping != "" {
		if *format != "generic" {
			fmt.Fprintln(stderr, "encours import: --mapping applies to --format generic only")
			return exitUsage
		}
		mf, err := os.Open(*mapping)
		if err != nil {
			fmt.Fprintf(stderr, "encours import: %v\n", err)
			return exitUsage
		}
		f, err = ingest.ParseMapping(mf)
		_ = mf.Close()
		if err != nil {
			fmt.Fprintf(stderr, "encours import: %s: %v\n", *mapping, err)
			return exitUsage
		}
	}
	if *file == "" {
		fmt.Fprintln(stderr, "encours import: --file is required")
		return exitUsage
	}
	info, err := os.Stat(*file)
	if err != nil {
		fmt.Fprintf(stderr, "encours import: %v\n", err)
		return exitUsage
	}

	store, err := embedded.Open(*data, embedded.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "encours import: open store %s: %v\n", *data, err)
		return exitFinding
	}
	defer store.Close()
	svc := command.New(store, command.WallClock{}, command.Options{})
	if err := svc.Warm(ctx); err != nil {
		fmt.Fprintf(stderr, "encours import: %v\n", err)
		return exitFinding
	}

	var read atomic.Int64
	open := func() (io.ReadCloser, error) {
		read.Store(0)
		fh, err := os.Open(*file)
		if err != nil {
			return nil, err
		}
		return countingReader{fh, &read}, nil
	}
	prog := newProgress(stderr, info.Size(), &read)
	opts := ingest.Options{DryRun: *dryRun, Continue: *cont, Actor: *actor, Progress: prog.report, SizeHint: info.Size()}
	if *rejectsPath != "" {
		rf, err := os.Create(*rejectsPath)
		if err != nil {
			fmt.Fprintf(stderr, "encours import: %v\n", err)
			return exitUsage
		}
		defer rf.Close()
		w := csv.NewWriter(rf)
		defer w.Flush()
		_ = w.Write([]string{"row", "field", "code", "reason"})
		opts.Rejects = func(e ingest.RowError) {
			_ = w.Write([]string{strconv.Itoa(e.Row), e.Field, e.Code, e.Reason})
		}
	}

	rep, err := ingest.Run(ctx, svc, open, f, opts)
	prog.done()
	for i, e := range rep.Errors {
		if i == importErrorsShownMax {
			fmt.Fprintf(stderr, "... and %d more refused rows\n", rep.RejectedRows-i)
			break
		}
		fmt.Fprintf(stderr, "%s: %s\n", *file, e.Error())
	}
	switch {
	case errors.Is(err, ingest.ErrRejected):
		fmt.Fprintf(stderr, "encours import: %v\n", err)
		return exitUsage
	case err != nil:
		fmt.Fprintf(stderr, "encours import: %v\n", err)
		return exitFinding
	}
	verb := "imported"
	if rep.DryRun {
		verb = "checked (dry run, nothing appended)"
	}
	fmt.Fprintf(stdout, "%s %s: %d rows, %d customers, %d commands; %d events appended in %d batches, %d rows already present, %d skipped, %d rows refused\n",
		*file, verb, rep.Rows, rep.Customers, rep.Commands, rep.Appended, rep.Batches, rep.AlreadyPresent, rep.Skipped, rep.RejectedRows)
	if rep.RejectedRows > 0 {
		return exitUsage
	}
	return exitOK
}

type countingReader struct {
	f *os.File
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func (c countingReader) Close() error { return c.f.Close() }

// progress draws a bar with rows/s and an ETA on a terminal, and plain lines otherwise.
type progress struct {
	w     io.Writer
	tty   bool
	size  int64
	read  *atomic.Int64
	drawn bool
}

func newProgress(w io.Writer, size int64, read *atomic.Int64) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{w: w, tty: tty, size: size, read: read}
}

func (p *progress) report(pr ingest.Progress) {
	frac := 1.0
	switch {
	case pr.Total > 0:
		frac = min(1, float64(pr.Rows)/float64(pr.Total)) // display only, never a ledger figure
	case p.size > 0:
		frac = min(1, float64(p.read.Load())/float64(p.size))
	}
	rate := 0.0
	if s := pr.Elapsed.Seconds(); s > 0 {
		rate = float64(pr.Rows) / s
	}
	eta := time.Duration(0)
	if frac > 0 && frac < 1 {
		eta = time.Duration(float64(pr.Elapsed) * (1 - frac) / frac).Round(time.Second)
	}
	if !p.tty {
		fmt.Fprintf(p.w, "%s: %d rows (%.0f%%), %.0f rows/s, eta %s\n", pr.Pass, pr.Rows, frac*100, rate, eta)
		return
	}
	const width = 30
	filled := int(frac * width)
	fmt.Fprintf(p.w, "\r%-8s [%s%s] %3.0f%% %d rows %.0f rows/s eta %s   ",
		pr.Pass, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), frac*100, pr.Rows, rate, eta)
	p.drawn = true
}

func (p *progress) done() {
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
	}
}
