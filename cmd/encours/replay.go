package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/encours/encours/domain"
	"github.com/encours/encours/eventstore/embedded"
	"github.com/encours/encours/handlers/reports"
)

func init() {
	register(verb{name: "replay", summary: "replay the log to a date and export aging, ledger or journal", run: runReplay})
}

// replayRequestTimeout bounds a --server export.
const replayRequestTimeout = 5 * time.Minute

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

	var body []byte
	var man reports.Manifest
	if *server != "" {
		body, man, err = replayServer(ctx, *server, *token, *report, *format, asOf, knownAt)
	} else {
		dir := *data
		if dir == "" {
			dir = "./data"
		}
		var store *embedded.Store
		store, err = embedded.Open(dir, embedded.Options{ReadOnly: true})
		if err != nil {
			fmt.Fprintf(stderr, "encours replay: open %s: %v\n", dir, err)
			return exitFinding
		}
		defer store.Close()
		body, man, err = reports.Export(ctx, store, reports.Report(*report), reports.Format(*format), asOf, knownAt)
	}
	if err != nil {
		fmt.Fprintf(stderr, "encours replay: %v\n", err)
		return exitFinding
	}
	if *out != "" {
		err = os.WriteFile(*out, body, 0o644)
	} else {
		_, err = stdout.Write(body)
	}
	if err != nil {
		fmt.Fprintf(stderr, "encours replay: %v\n", err)
		return exitFinding
	}
	if *manifest != "" {
		f, err := os.Create(*manifest)
		if err == nil {
			err = reports.WriteManifest(f, man)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "encours replay: manifest: %v\n", err)
			return exitFinding
		}
	}
	fmt.Fprintf(stderr, "replay as of %s: %s %s, %d bytes, log position %d, chain hash %s, sha256 %s\n",
		asOf, *report, *format, man.Bytes, man.Position, man.ChainHash, man.SHA256)
	return exitOK
}

func replayServer(ctx context.Context, base, token, report, format string, asOf domain.Date, knownAt *time.Time) ([]byte, reports.Manifest, error) {
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, reports.Manifest{}, fmt.Errorf("--server %q: want an http(s) URL", base)
	}
	q := url.Values{"as_of": {asOf.String()}, "format": {format}}
	if knownAt != nil {
		q.Set("known_at", knownAt.Format(time.RFC3339Nano))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String()+"/v1/exports/"+url.PathEscape(report)+"?"+q.Encode(), nil)
	if err != nil {
		return nil, reports.Manifest{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: replayRequestTimeout}).Do(req)
	if err != nil {
		return nil, reports.Manifest{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, reports.Manifest{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, reports.Manifest{}, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var man reports.Manifest
	if err := json.Unmarshal([]byte(resp.Header.Get("X-Encours-Manifest")), &man); err != nil {
		return nil, reports.Manifest{}, errors.New("the server sent no manifest")
	}
	return body, man, nil
}
