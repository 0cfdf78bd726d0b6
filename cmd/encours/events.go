package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/encours/encours/eventstore/embedded"
)

func init() {
	register(verb{name: "events", summary: "print the log's events as JSON lines (events tail)", run: runEvents})
}

const (
	// tailPageMax is the page size asked of the server (its maximum) and of the store.
	tailPageMax = 1000
	// tailPollInterval is how often --follow asks the server for new events once caught up.
	tailPollInterval = time.Second
	// tailRequestTimeout bounds one page request to the server.
	tailRequestTimeout = 30 * time.Second
	// tailPagesMax bounds one run without --follow: a billion events at 1000 a page.
	tailPagesMax = 1_000_000
)

func eventsUsage(w io.Writer) {
	fmt.Fprintf(w, "usage: encours events tail (--data DIR | --server URL) [--from N] [--follow]\n\n"+
		"Prints the log's events from position N (default 1) as JSON lines, one envelope a line.\n"+
		"--data reads a stopped daemon's store; --server pages GET /v1/events of a running one,\n"+
		"and --follow (with --server) keeps polling for new events until interrupted.\n\n")
}

func runEvents(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "tail" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			eventsUsage(stdout)
			return exitOK
		}
		eventsUsage(stderr)
		return exitUsage
	}
	fs := flag.NewFlagSet("encours events tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { eventsUsage(stderr); fs.PrintDefaults() }
	data := fs.String("data", "", "directory of a stopped daemon's event store")
	server := fs.String("server", "", "base URL of a running daemon, e.g. http://127.0.0.1:8080")
	from := fs.Uint64("from", 1, "first position to print")
	follow := fs.Bool("follow", false, "keep printing new events (needs --server)")
	if code, done := parseFlags(fs, args[1:]); done {
		return code
	}
	switch {
	case (*data == "") == (*server == ""):
		fmt.Fprintln(stderr, "encours events tail: give exactly one of --data and --server")
		return exitUsage
	case *follow && *data != "":
		// The daemon holds the store's lock while it runs: a store readable here is a stopped
		// daemon's, whose log does not grow.
		fmt.Fprintln(stderr, "encours events tail: --follow needs --server (a stopped daemon's log does not grow)")
		return exitUsage
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	var err error
	if *data != "" {
		err = tailStore(ctx, *data, max(*from, 1), out)
	} else {
		err = tailServer(ctx, *server, max(*from, 1), *follow, out)
	}
	var usageErr usageError
	switch {
	case err == nil, *follow && errors.Is(err, context.Canceled):
		return exitOK
	case errors.As(err, &usageErr):
		fmt.Fprintf(stderr, "encours events tail: %v\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "encours events tail: %v\n", err)
		return exitFinding
	}
}

// usageError is bad input found after flag parsing (an unusable URL).
type usageError struct{ error }

// tailStore prints the events of the store in dir from position from.
func tailStore(ctx context.Context, dir string, from uint64, out *bufio.Writer) error {
	store, err := embedded.Open(dir, embedded.Options{ReadOnly: true})
	if err != nil {
		return usageError{fmt.Errorf("open %s: %w", dir, err)}
	}
	defer store.Close()
	for range tailPagesMax {
		page, err := store.ReadAll(ctx, from, tailPageMax)
		if err != nil {
			return fmt.Errorf("read from position %d: %w", from, err)
		}
		if len(page) == 0 {
			return nil
		}
		for i := range page {
			b, err := json.Marshal(&page[i])
			if err != nil {
				return fmt.Errorf("encode position %d: %w", page[i].Position, err)
			}
			out.Write(b)
			out.WriteByte('\n')
		}
		if err := out.Flush(); err != nil {
			return err
		}
		from = page[len(page)-1].Position + 1
	}
	return fmt.Errorf("more than %d pages", tailPagesMax)
}

// serverPage is GET /v1/events's answer; events are passed through as the server wrote them.
type serverPage struct {
	Events []json.RawMessage `json:"events"`
	Next   uint64            `json:"next"`
	Head   uint64            `json:"head"`
}

// tailServer pages GET /v1/events from position from; with follow it polls once caught up
// until ctx ends (loop meant to run until interrupted).
func tailServer(ctx context.Context, base string, from uint64, follow bool, out *bufio.Writer) error {
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usageError{fmt.Errorf("--server %q: want an http(s) URL", base)}
	}
	client := &http.Client{Timeout: tailRequestTimeout}
	for pages := 0; follow || pages < tailPagesMax; pages++ {
		page, err := fetchPage(ctx, client, u.String(), from)
		if err != nil {
			return err
		}
		for _, e := range page.Events {
			out.Write(e)
			out.WriteByte('\n')
		}
		if err := out.Flush(); err != nil {
			return err
		}
		if page.Next > from {
			from = page.Next
		}
		if len(page.Events) > 0 && page.Next <= page.Head {
			continue // more to read now
		}
		if !follow {
			return nil
		}
		t := time.NewTimer(tailPollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return fmt.Errorf("more than %d pages", tailPagesMax)
}

func fetchPage(ctx context.Context, client *http.Client, base string, from uint64) (serverPage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet,
		base+"/v1/events?from="+strconv.FormatUint(from, 10)+"&limit="+strconv.Itoa(tailPageMax), nil)
	if err != nil {
		return serverPage{}, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return serverPage{}, fmt.Errorf("get events from %d: %w", from, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return serverPage{}, fmt.Errorf("get events from %d: %s: %s", from, resp.Status, strings.TrimSpace(string(b)))
	}
	var page serverPage
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		return serverPage{}, fmt.Errorf("get events from %d: decode: %w", from, err)
	}
	return page, nil
}
