package bench

import (
	"encoding/json"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Files written under Config.Out.
const (
	ResultsFile    = "results.json"
	ThroughputPlot = "throughput.png"
	LatencyPlot    = "latency.png"
)

// Replot renders the PNGs again from a results.json (after a change of the plots' layout).
func Replot(resultsPath string) error {
	b, err := os.ReadFile(resultsPath)
	if err != nil {
		return err
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		return fmt.Errorf("%s: %w", resultsPath, err)
	}
	dir := filepath.Dir(resultsPath)
	if err := plotThroughput(res.Appends, filepath.Join(dir, ThroughputPlot)); err != nil {
		return err
	}
	return plotLatency(res.Appends, filepath.Join(dir, LatencyPlot))
}

func (r *runner) write(out string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r.res, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, ResultsFile), append(b, '\n'), 0o644); err != nil {
		return err
	}
	if err := plotThroughput(r.res.Appends, filepath.Join(out, ThroughputPlot)); err != nil {
		return fmt.Errorf("plot throughput: %w", err)
	}
	if err := plotLatency(r.res.Appends, filepath.Join(out, LatencyPlot)); err != nil {
		return fmt.Errorf("plot latency: %w", err)
	}
	return nil
}

// num formats a figure with 3 significant digits and thousands separators.
func num(v *float64) string {
	if v == nil {
		return "not run"
	}
	x := *v
	switch a := math.Abs(x); {
	case a >= 1000:
		s := fmt.Sprintf("%.0f", x)
		var b strings.Builder
		neg := strings.HasPrefix(s, "-")
		s = strings.TrimPrefix(s, "-")
		for i, c := range s {
			if i > 0 && (len(s)-i)%3 == 0 {
				b.WriteByte(',')
			}
			b.WriteRune(c)
		}
		if neg {
			return "-" + b.String()
		}
		return b.String()
	case a >= 100:
		return fmt.Sprintf("%.0f", x)
	case a >= 10:
		return fmt.Sprintf("%.1f", x)
	case a >= 1:
		return fmt.Sprintf("%.2f", x)
	}
	return fmt.Sprintf("%.3f", x)
}

// Markdown writes the results as a Markdown table (the README's, and what `encours bench`
// prints).
func (res *Results) Markdown(w io.Writer) {
	fmt.Fprintf(w, "| workload | figure | Encours | PostgreSQL | PostgreSQL chained | Encours / PostgreSQL | target | |\n")
	fmt.Fprintf(w, "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |\n")
	for _, row := range res.Rows {
		pgc := ""
		if row.PostgresChained != nil {
			pgc = num(row.PostgresChained)
		}
		pg := num(row.Postgres)
		switch {
		case row.NoPostgres:
			pg = "n/a"
		case row.Postgres == nil && res.Config.Postgres:
			pg = "–"
		}
		ratio := ""
		if row.Ratio != nil {
			ratio = fmt.Sprintf("%.2f×", *row.Ratio)
		}
		met := ""
		if row.Met != nil {
			met = "missed"
			if *row.Met {
				met = "met"
			}
		}
		fmt.Fprintf(w, "| %s | %s (%s) | %s | %s | %s | %s | %s | %s |\n", row.Group, row.Name, row.Unit, num(row.Encours), pg, pgc, ratio, row.Target, met)
	}
	fmt.Fprintf(w, "\nNotes:\n")
	for _, row := range res.Rows {
		if row.Note != "" {
			fmt.Fprintf(w, "- %s, %s: %s\n", row.Group, row.Name, row.Note)
		}
	}
}

var systemColors = map[string]color.Color{
	sysEncours:         color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	sysPostgres:        color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	sysPostgresChained: color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
}

// plotThroughput: events/s against writers (log scale), one line per system and batch.
func plotThroughput(cases []AppendCase, path string) error {
	p := plot.New()
	p.Title.Text = "Durable appends: throughput against writers"
	p.X.Label.Text = "writers"
	p.Y.Label.Text = "events/s (log)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 1, Label: "1"}, {Value: 32, Label: "32"}})
	p.Legend.Top = true
	p.Legend.Left = true
	dashes := map[int][]vg.Length{1: nil, 100: {vg.Points(6), vg.Points(3)}, 1000: {vg.Points(2), vg.Points(2)}}
	type key struct {
		sys   string
		batch int
	}
	lines := map[key]plotter.XYs{}
	var order []key
	for _, c := range cases {
		k := key{c.System, c.Batch}
		if _, ok := lines[k]; !ok {
			order = append(order, k)
		}
		lines[k] = append(lines[k], plotter.XY{X: float64(c.Writers), Y: math.Max(c.EventsPS, 1)})
	}
	top := 1.0
	for _, c := range cases {
		top = math.Max(top, c.EventsPS)
	}
	p.Y.Max = top * 60 // room for the legend above the lines
	for _, k := range order {
		l, pts, err := plotter.NewLinePoints(lines[k])
		if err != nil {
			return err
		}
		l.Color, pts.Color = systemColors[k.sys], systemColors[k.sys]
		l.Dashes = dashes[k.batch]
		l.Width = vg.Points(1.5)
		p.Add(l, pts)
		p.Legend.Add(fmt.Sprintf("%s, batch %d", k.sys, k.batch), l, pts)
	}
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}

// plotLatency: p50, p90, p99 and p99.9 of each append case, per system (log scale).
func plotLatency(cases []AppendCase, path string) error {
	p := plot.New()
	p.Title.Text = "Durable appends: acknowledgement latency percentiles"
	p.Y.Label.Text = "ms (log)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	var labels []string
	seen := map[string]int{}
	for _, c := range cases {
		l := fmt.Sprintf("%d×%d", c.Batch, c.Writers)
		if _, ok := seen[l]; !ok {
			seen[l] = len(labels)
			labels = append(labels, l)
		}
	}
	systems := []string{}
	for _, s := range []string{sysEncours, sysPostgres, sysPostgresChained} {
		for _, c := range cases {
			if c.System == s {
				systems = append(systems, s)
				break
			}
		}
	}
	quantiles := []struct {
		name  string
		get   func(AppendCase) float64
		glyph draw.GlyphDrawer
	}{{"p50", func(c AppendCase) float64 { return c.P50ms }, draw.CircleGlyph{}},
		{"p90", func(c AppendCase) float64 { return c.P90ms }, draw.SquareGlyph{}},
		{"p99", func(c AppendCase) float64 { return c.P99ms }, draw.TriangleGlyph{}},
		{"p99.9", func(c AppendCase) float64 { return c.P999ms }, draw.CrossGlyph{}}}
	width := 0.8 / float64(max(len(systems), 1))
	top := 0.001
	for _, c := range cases {
		top = math.Max(top, c.P999ms)
	}
	p.Y.Max = top * 30 // room for the legend above the points
	for si, s := range systems {
		for _, q := range quantiles {
			var pts plotter.XYs
			for _, c := range cases {
				if c.System != s {
					continue
				}
				x := float64(seen[fmt.Sprintf("%d×%d", c.Batch, c.Writers)]) - 0.4 + width*(float64(si)+0.5)
				pts = append(pts, plotter.XY{X: x, Y: math.Max(q.get(c), 0.001)})
			}
			sc, err := plotter.NewScatter(pts)
			if err != nil {
				return err
			}
			sc.Color = systemColors[s]
			sc.Shape = q.glyph
			sc.Radius = vg.Points(3.5)
			p.Add(sc)
		}
	}
	// The legend: one black glyph per percentile, one coloured line per system.
	for _, q := range quantiles {
		sc, err := plotter.NewScatter(plotter.XYs{{X: 0, Y: 1}})
		if err != nil {
			return err
		}
		sc.Shape, sc.Radius = q.glyph, vg.Points(3.5)
		p.Legend.Add(q.name, sc)
	}
	for _, s := range systems {
		l, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 1}, {X: 1, Y: 1}})
		if err != nil {
			return err
		}
		l.Color, l.Width = systemColors[s], vg.Points(4)
		p.Legend.Add(s, l)
	}
	ticks := make([]plot.Tick, len(labels))
	for i, l := range labels {
		ticks[i] = plot.Tick{Value: float64(i), Label: "batch×writers " + l}
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = -0.6, float64(len(labels))-0.4
	return p.Save(11*vg.Inch, 5*vg.Inch, path)
}
