package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/encours/encours/eventstore"
	"github.com/encours/encours/eventstore/embedded"
)

func init() {
	register(verb{name: "verify", summary: "check the log's hash chain, positions and stream versions", run: runVerify})
}

// runVerify checks the embedded store in --data without changing it (embedded.Verify): every
// record's CRC and hash, the hash chain, gap-free positions and contiguous stream versions;
// then the persisted projections and the given manifests against the log (verify_log.go).
// Exit 0 when clean, 1 naming the first bad position, 2 when it cannot run.
func runVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("encours verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: encours verify [--data DIR] [--manifest FILE]... [--progress]\n\n"+
			"Checks a stopped daemon's event store: each record's checksum and hash, the hash\n"+
			"chain, gap-free positions and contiguous stream versions; then that every persisted\n"+
			"projection (DIR/projections) equals a full replay up to its position, and that the\n"+
			"log still holds the position and chain hash of each --manifest. Changes nothing.\n"+
			"Exit 0 when clean, 1 on damage (naming the first bad position), 2 on bad usage.\n\n")
		fs.PrintDefaults()
	}
	data := fs.String("data", "./data", "directory of the embedded event store")
	progress := fs.Bool("progress", false, "print the position reached every 65 536 events, on stderr")
	var manifests manifestList
	fs.Var(&manifests, "manifest", "an export's manifest (repeatable): the log must still hold its position with the same chain hash")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	var onProgress func(uint64)
	if *progress {
		onProgress = func(pos uint64) { fmt.Fprintf(stderr, "verified up to position %d\n", pos) }
	}
	rep, err := embedded.Verify(ctx, *data, onProgress)
	if err != nil {
		var corrupt *embedded.CorruptError
		if errors.As(err, &corrupt) {
			fmt.Fprintf(stdout, "verify %s: DAMAGED\nfirst bad position: %d\nsegment: %s at offset %d\nreason: %s\n",
				*data, corrupt.Position, corrupt.Segment, corrupt.Offset, corrupt.Reason)
			return exitFinding
		}
		if errors.Is(err, eventstore.ErrCorrupt) {
			fmt.Fprintf(stdout, "verify %s: DAMAGED\n%v\n", *data, err)
			return exitFinding
		}
		fmt.Fprintf(stderr, "encours verify: %v\n", err)
		return exitUsage
	}
	logLines := fmt.Sprintf("events checked: %d\nstreams: %d\nsegments: %d\nhead position: %d\nchain hash: %s\n",
		rep.Events, rep.Streams, rep.Segments, rep.Head.Position, rep.Head.Hash)
	if rep.Tail.TornTail {
		logLines += fmt.Sprintf("torn tail: from position %d in %s (never acknowledged; the daemon drops it when it opens the store)\n",
			rep.Tail.Position, rep.Tail.Segment)
	}
	findings, err := verifyAgainstLog(ctx, *data, manifests)
	if err != nil {
		fmt.Fprintf(stderr, "encours verify: %v\n", err)
		return exitUsage
	}
	verdict := "ok"
	if findings.bad {
		verdict = "DAMAGED"
	}
	fmt.Fprintf(stdout, "verify %s: %s\n%s%s", *data, verdict, logLines, findings.report)
	if findings.bad {
		if findings.firstBad != 0 {
			fmt.Fprintf(stdout, "first bad position: %d\n", findings.firstBad)
		}
		return exitFinding
	}
	return exitOK
}

// parseFlags parses a verb's flags; done is true when the verb must return code now (help
// asked, a bad flag, or a stray argument).
func parseFlags(fs *flag.FlagSet, args []string) (code int, done bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, true
		}
		return exitUsage, true
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "%s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return exitUsage, true
	}
	return 0, false
}
