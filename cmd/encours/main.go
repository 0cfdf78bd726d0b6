// Command encours is the Encours CLI. Each verb works on a stopped daemon's --data DIR or,
// where it says so, on a running one with --server URL (design §API v1, CLI):
//
//	encours verify --data DIR
//	encours events tail (--data DIR | --server URL) [--from N] [--follow]
//
// Exit codes: 0 success, 1 a finding (verify) or a failure while running, 2 bad input or
// usage. Each verb lives in its own file and registers itself in init, so adding one touches
// no other verb.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// Exit codes.
const (
	exitOK      = 0
	exitFinding = 1 // verify found damage, or a verb failed while running
	exitUsage   = 2 // bad flags, arguments or input
)

// verb is one subcommand. run gets the arguments after the verb's name.
type verb struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

var verbs = map[string]verb{}

// register adds a verb; each verb's file calls it from init.
func register(v verb) {
	if _, dup := verbs[v.name]; dup {
		panic("encours: verb registered twice: " + v.name)
	}
	verbs[v.name] = v
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return exitOK
	}
	v, ok := verbs[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "encours: unknown command %q\n\n", args[0])
		usage(stderr)
		return exitUsage
	}
	return v.run(ctx, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: encours <command> [flags]\n\ncommands:\n")
	names := make([]string, 0, len(verbs))
	for n := range verbs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, verbs[n].summary)
	}
	fmt.Fprintf(w, "\nRun 'encours <command> -h' for a command's flags.\n"+
		"Exit codes: 0 success, 1 a finding or a failure, 2 bad input.\n")
}
