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
	register(verb{name: "export", summary: "export aging, ledger, journal or a customer's statement, with a manifest", run: runExport})
}

// runExport writes one of the deterministic exports (reports.ExportRequest) from a stopped
// daemon's store or through a running daemon's API (GET /v1/exports/{report}); both give the
// same bytes and manifest. `encours replay` is the same without the statement's parameters.
func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("encours export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: encours export --report aging|ledger|journal|statement --as-of YYYY-MM-DD [--known-at RFC3339]\n"+
			"                      [--customer ID [--from YYYY-MM-DD]] [--format csv|json]\n"+
			"                      [--data DIR | --server URL [--token T]] [--out F] [--manifest M]\n\n"+
			"Only events effective on or before --as-of and recorded at or before --known-at count.\n"+
			"The same log and parameters always give the same bytes; the manifest names the log\n"+
			"position and chain hash, the parameters, the software and the file's SHA-256.\n\n")
		fs.PrintDefaults()
	}
	data := fs.String("data", "", "directory of a stopped daemon's embedded store (default ./data unless --server)")
	server := fs.String("server", "", "URL of a running daemon")
	token := fs.String("token", os.Getenv("ENCOURS_TOKEN"), "bearer token for --server (default $ENCOURS_TOKEN)")
	report := fs.String("report", "", "aging, ledger, journal or statement (required)")
	customer := fs.String("customer", "", "the customer of a statement")
	fromFlag := fs.String("from", "", "first business date of a statement's period (default: since the first movement)")
	asOfFlag := fs.String("as-of", "", "business date (required)")
	knownAtFlag := fs.String("known-at", "", "knowledge time, RFC 3339 (default: everything recorded)")
	format := fs.String("format", "csv", "csv or json")
	out := fs.String("out", "", "write the export here instead of stdout")
	manifest := fs.String("manifest", "", "write the export's manifest (JSON) here")
	if code, done := parseFlags(fs, args); done {
		return code
	}
	bad := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "encours export: "+format+"\n", a...)
		return exitUsage
	}
	req := reports.Request{Report: reports.Report(*report), Format: reports.Format(*format), CustomerID: domain.CustomerID(*customer)}
	switch req.Report {
	case reports.ReportAging, reports.ReportLedger, reports.ReportJournal:
		if *customer != "" || *fromFlag != "" {
			return bad("--customer and --from belong to --report statement")
		}
	case reports.ReportStatement:
		if *customer == "" {
			return bad("--report statement needs --customer")
		}
	default:
		return bad("--report %q: want aging, ledger, journal or statement", *report)
	}
	var err error
	if req.AsOf, err = domain.ParseDate(*asOfFlag); err != nil {
		return bad("--as-of %q: want a date YYYY-MM-DD", *asOfFlag)
	}
	if *fromFlag != "" {
		if req.From, err = domain.ParseDate(*fromFlag); err != nil {
			return bad("--from %q: want a date YYYY-MM-DD", *fromFlag)
		}
	}
	if *knownAtFlag != "" {
		t, err := time.Parse(time.RFC3339Nano, *knownAtFlag)
		if err != nil {
			return bad("--known-at %q: want an RFC 3339 instant such as 2026-01-10T00:00:00Z", *knownAtFlag)
		}
		t = t.UTC()
		req.KnownAt = &t
	}
	if req.Format != reports.FormatCSV && req.Format != reports.FormatJSON {
		return bad("--format %q: want csv or json", *format)
	}
	if *data != "" && *server != "" {
		return bad("give --data or --server, not both")
	}
	return writeExport(ctx, "export", req, exportTarget{data: *data, server: *server, token: *token, out: *out, manifest: *manifest}, stdout, stderr)
}

// exportTarget is where an export is read from and written to.
type exportTarget struct {
	data, server, token string // the store: a stopped daemon's directory, or a running daemon
	out, manifest       string // files to write, "" for the export on stdout and no manifest
}

// writeExport computes req from the store or the server of t, writes it and its manifest, and
// prints a summary line; verb names the command in messages. It returns the exit code.
func writeExport(ctx context.Context, verb string, req reports.Request, t exportTarget, stdout, stderr io.Writer) int {
	var body []byte
	var man reports.Manifest
	var err error
	if t.server != "" {
		body, man, err = exportServer(ctx, t.server, t.token, req)
	} else {
		dir := t.data
		if dir == "" {
			dir = "./data"
		}
		var store *embedded.Store
		store, err = embedded.Open(dir, embedded.Options{ReadOnly: true})
		if err != nil {
			fmt.Fprintf(stderr, "encours %s: open %s: %v\n", verb, dir, err)
			return exitFinding
		}
		defer store.Close()
		body, man, err = reports.ExportRequest(ctx, store, req)
	}
	if err != nil {
		var de *domain.Error
		if errors.As(err, &de) && de.Kind != domain.KindInternal {
			fmt.Fprintf(stderr, "encours %s: %s: %s\n", verb, de.Code, de.Message)
			return exitUsage
		}
		fmt.Fprintf(stderr, "encours %s: %v\n", verb, err)
		return exitFinding
	}
	if t.out != "" {
		err = os.WriteFile(t.out, body, 0o644)
	} else {
		_, err = stdout.Write(body)
	}
	if err == nil && t.manifest != "" {
		err = writeManifestFile(t.manifest, man)
	}
	if err != nil {
		fmt.Fprintf(stderr, "encours %s: %v\n", verb, err)
		return exitFinding
	}
	fmt.Fprintf(stderr, "%s as of %s: %s %s, %d bytes, log position %d, chain hash %s, sha256 %s\n",
		verb, req.AsOf, req.Report, req.Format, man.Bytes, man.Position, man.ChainHash, man.SHA256)
	return exitOK
}

func writeManifestFile(path string, man reports.Manifest) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("manifest: %w", err)
	}
	err = reports.WriteManifest(f, man)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// exportServer asks a running daemon for the export; an answer without a manifest is refused.
func exportServer(ctx context.Context, base, token string, req reports.Request) ([]byte, reports.Manifest, error) {
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, reports.Manifest{}, fmt.Errorf("--server %q: want an http(s) URL", base)
	}
	q := url.Values{"as_of": {req.AsOf.String()}, "format": {string(req.Format)}}
	if req.KnownAt != nil {
		q.Set("known_at", req.KnownAt.Format(time.RFC3339Nano))
	}
	if req.CustomerID != "" {
		q.Set("customer_id", string(req.CustomerID))
	}
	if !req.From.IsZero() {
		q.Set("from", req.From.String())
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String()+"/v1/exports/"+url.PathEscape(string(req.Report))+"?"+q.Encode(), nil)
	if err != nil {
		return nil, reports.Manifest{}, err
	}
	if token != "" {
		hreq.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: exportRequestTimeout}).Do(hreq)
	if err != nil {
		return nil, reports.Manifest{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, exportBytesMax+1))
	if err != nil {
		return nil, reports.Manifest{}, err
	}
	if len(body) > exportBytesMax {
		return nil, reports.Manifest{}, fmt.Errorf("the export is larger than %d bytes", exportBytesMax)
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

// exportRequestTimeout bounds a --server export.
const exportRequestTimeout = 5 * time.Minute

// exportBytesMax bounds an export read from a server (4 GiB: the journal of some ten
// million events); a larger one is refused rather than held in memory without bound.
const exportBytesMax = 4 << 30
