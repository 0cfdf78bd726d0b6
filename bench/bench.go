// Package bench is the benchmark suite of issue 10: in one run, the same workloads against
// Encours (the embedded store, the HTTP API, the ledger read model, alerting) and against
// PostgreSQL (eventstore/postgres, a table as a user would set it up), with the machine's own
// limits measured in the same run, each figure beside its target. `encours bench` and
// `make bench` run it; it prints a table and writes results.json and PNG plots.
//
// The replay, restart and memory workloads call the project's own functions
// (engine.LedgerAsOf, engine.NewLedgerEngine, embedded.Verify, ledger.Model.Apply), so the
// figures follow the code they measure.
package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"time"
)

// Config sizes a run. Zero fields take the defaults of Defaults (or QuickDefaults).
type Config struct {
	// PostgresURL is the baseline's server (ENCOURS_POSTGRES_URL); "" runs Encours only and
	// the PostgreSQL columns say "not run".
	PostgresURL string
	// Out is where results.json and the PNGs go ("" writes nothing).
	Out string
	// Dir holds the stores under test (default: a temporary directory, removed after).
	Dir string
	// Quick: small sizes, the whole run in under a minute.
	Quick bool

	AppendDuration time.Duration // per append case and system
	HTTPDuration   time.Duration
	HTTPClients    int
	ReplayEvents   []int // replay and restart sizes
	// PostgresReplayEvents caps the PostgreSQL replay log: it is filled through Append,
	// which runs at a few thousand events/s (the rate is per event, so sizes compare).
	PostgresReplayEvents int
	GrowFrom             int // cost per event: measured at GrowFrom events, then at GrowTo
	GrowTo               int
	AlertIters           int // append → alert iterations (0: skip)
	MemCustomers         int
	MemInvoices          int // open invoices per customer in the memory workload
	ProbeDuration        time.Duration

	// Log receives progress lines (default: discard).
	Log io.Writer
}

// Defaults are the sizes of `make bench`.
func Defaults() Config {
	return Config{AppendDuration: 2 * time.Second, HTTPDuration: 3 * time.Second, HTTPClients: 64,
		ReplayEvents: []int{1_000_000}, PostgresReplayEvents: 200_000, GrowFrom: 1_000_000, GrowTo: 10_000_000, AlertIters: 400,
		MemCustomers: 20_000, MemInvoices: 10, ProbeDuration: time.Second}
}

// QuickDefaults finish in under a minute (the end-to-end test).
func QuickDefaults() Config {
	return Config{Quick: true, AppendDuration: 150 * time.Millisecond, HTTPDuration: 300 * time.Millisecond, HTTPClients: 64,
		ReplayEvents: []int{20_000}, PostgresReplayEvents: 20_000, GrowFrom: 20_000, GrowTo: 100_000, AlertIters: 20,
		MemCustomers: 5_000, MemInvoices: 10, ProbeDuration: 150 * time.Millisecond}
}

func (c *Config) fill() {
	d := Defaults()
	if c.Quick {
		d = QuickDefaults()
	}
	set := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	seti := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	set(&c.AppendDuration, d.AppendDuration)
	set(&c.HTTPDuration, d.HTTPDuration)
	set(&c.ProbeDuration, d.ProbeDuration)
	seti(&c.HTTPClients, d.HTTPClients)
	seti(&c.GrowFrom, d.GrowFrom)
	seti(&c.GrowTo, d.GrowTo)
	seti(&c.AlertIters, d.AlertIters)
	seti(&c.MemCustomers, d.MemCustomers)
	seti(&c.MemInvoices, d.MemInvoices)
	seti(&c.PostgresReplayEvents, d.PostgresReplayEvents)
	if len(c.ReplayEvents) == 0 {
		c.ReplayEvents = d.ReplayEvents
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
}

// Better says which way a figure improves.
type Better string

// Directions of Better.
const (
	Higher Better = "higher"
	Lower  Better = "lower"
)

// Row is one figure of the run: Encours's, PostgreSQL's from the same run (nil: not run or
// not applicable, said in Note), and its target.
type Row struct {
	Group    string   `json:"group"`
	Name     string   `json:"name"`
	Unit     string   `json:"unit"`
	Better   Better   `json:"better"`
	Encours  *float64 `json:"encours"`
	Postgres *float64 `json:"postgres"`
	// PostgresChained is the chained PostgreSQL store (gap-free positions and the hash
	// chain, the same promises as Encours), where measured.
	PostgresChained *float64 `json:"postgres_chained,omitempty"`
	// Ratio is Encours against PostgreSQL (plain; chained where plain cannot run the
	// workload), oriented so that > 1 is Encours better.
	Ratio *float64 `json:"ratio,omitempty"`
	// NoPostgres: the figure has no PostgreSQL counterpart (the machine, Encours's own read
	// model, alerting).
	NoPostgres bool   `json:"no_postgres,omitempty"`
	Target     string `json:"target,omitempty"`
	Met        *bool  `json:"met,omitempty"`
	Note       string `json:"note,omitempty"`
	// Runs are Encours's figure in each run, in run order, where the figure is the median
	// of several.
	Runs []float64 `json:"runs,omitempty"`
}

// Results are a run's figures.
type Results struct {
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
	Machine  Machine       `json:"machine"`
	Config   struct {
		Quick          bool   `json:"quick"`
		Postgres       bool   `json:"postgres"`
		AppendDuration string `json:"append_duration"`
		ReplayEvents   []int  `json:"replay_events"`
		GrowFrom       int    `json:"grow_from"`
		GrowTo         int    `json:"grow_to"`
	} `json:"config"`
	Rows []*Row `json:"rows"`
	// Appends are the raw append cases, for the plots.
	Appends []AppendCase `json:"appends"`
}

// Machine describes where the run happened.
type Machine struct {
	GOOS, GOARCH string
	CPUs         int
	GoVersion    string
	Hostname     string
	Note         string `json:"note"`
}

func f(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func (r *Results) add(row Row) *Row {
	pg := row.Postgres
	if pg == nil {
		pg = row.PostgresChained // where only the chained store could run the workload
	}
	if row.Encours != nil && pg != nil && *pg > 0 && *row.Encours > 0 {
		if row.Better == Lower {
			row.Ratio = f(*pg / *row.Encours)
		} else {
			row.Ratio = f(*row.Encours / *pg)
		}
	}
	p := &row // targets are set on it after add, so Rows holds pointers
	r.Rows = append(r.Rows, p)
	return p
}

// Run runs every workload and returns the results; it writes them under cfg.Out when set.
func Run(ctx context.Context, cfg Config) (*Results, error) {
	cfg.fill()
	if cfg.Dir == "" {
		dir, err := os.MkdirTemp("", "encours-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		cfg.Dir = dir
	}
	host, _ := os.Hostname()
	res := &Results{Started: time.Now().UTC(), Machine: Machine{GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, CPUs: runtime.NumCPU(),
		GoVersion: runtime.Version(), Hostname: host}}
	res.Config.Quick, res.Config.Postgres = cfg.Quick, cfg.PostgresURL != ""
	res.Config.AppendDuration, res.Config.ReplayEvents = cfg.AppendDuration.String(), cfg.ReplayEvents
	res.Config.GrowFrom, res.Config.GrowTo = cfg.GrowFrom, cfg.GrowTo
	r := &runner{cfg: cfg, res: res}
	for _, w := range []struct {
		name string
		run  func(context.Context) error
	}{
		{"memory", r.memory}, // first: the heap holds nothing of the other workloads yet
		{"machine limits", r.machine},
		{"durable appends", r.appends},
		{"HTTP POST /v1/invoices", r.http},
		{"replay and restart", r.replay},
		{"append → alert", r.alert},
		{"cost per event as the log grows", r.growth},
	} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fmt.Fprintf(cfg.Log, "bench: %s ...\n", w.name)
		t0 := time.Now()
		if err := w.run(ctx); err != nil {
			return nil, fmt.Errorf("%s: %w", w.name, err)
		}
		fmt.Fprintf(cfg.Log, "bench: %s done in %s\n", w.name, time.Since(t0).Round(time.Millisecond))
	}
	res.Duration = time.Since(res.Started)
	if cfg.Out != "" {
		if err := r.write(cfg.Out); err != nil {
			return nil, err
		}
	}
	return res, nil
}

type runner struct {
	cfg Config
	res *Results
}

// tempDir returns a fresh directory under cfg.Dir.
func (r *runner) tempDir(name string) (string, error) {
	return os.MkdirTemp(r.cfg.Dir, name+"-")
}
