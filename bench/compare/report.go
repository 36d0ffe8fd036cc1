package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// report is a run's context and results; saved as compare-results.json
// beside the README, so that -from redraws the table and the figures.
type report struct {
	Date     time.Time `json:"date"`
	Took     string    `json:"took,omitempty"`
	Profiles string    `json:"profiles,omitempty"` // siogo's profiles, relative to the README
	CPU      string    `json:"cpu"`
	Load     string    `json:"load"`
	Command  string    `json:"command"`
	Versions string    `json:"versions"`
	Rounds   int       `json:"rounds"`
	Scale    string    `json:"scale"`
	// Baseline, when set, is the revision of siogo run in Node's place
	// (-baseline), its runs under "base".
	Baseline string                         `json:"baseline,omitempty"`
	Runs     map[string]map[string][]result `json:"runs"`
}

// other is the key of the second server's runs: Node's, or the baseline's.
func (rep *report) other() string {
	if rep.Baseline != "" {
		return "base"
	}
	return "node"
}

// name is a server's name in the table.
func (rep *report) name(server string) string {
	switch server {
	case "node":
		return "Node"
	case "base":
		return "siogo " + rep.Baseline
	}
	return "siogo"
}

// baselineTargets are the targets of a run against an earlier siogo
// (issue 18, "What must not move"): memory under a bound, CPU within 10%
// of the baseline's, broadcast p99 no worse.
var baselineTargets = map[string]struct {
	target string
	max    float64
}{
	"conns/memory_per_conn_kb":     {"abs", 3.2},
	"polling/memory_per_conn_kb":   {"abs", 4.5},
	"echo/cpu_per_ack_us":          {"ratio", 1.1},
	"fanout/cpu_per_delivery_us":   {"ratio", 1.1},
	"fanout/latency_p99_ms":        {"ratio", 1},
	"handshakes/cpu_per_conn_us":   {"ratio", 1.1},
	"echo/acks_per_s":              {"", 0},
	"fanout/delivered_per_s":       {"", 0},
	"handshakes/connections_per_s": {"", 0},
}

// targetOf is f's target in this run.
func (rep *report) targetOf(f figure) (string, float64) {
	if rep.Baseline == "" {
		return f.target, f.max
	}
	if t, ok := baselineTargets[f.scenario+"/"+f.key]; ok {
		return t.target, t.max
	}
	return "", 0
}

// figure is one row of the table.
type figure struct {
	label, scenario, key, unit string
	// target: "abs" (siogo at most max), "ratio" (siogo / Node at most max), or none.
	target string
	max    float64
}

// profileOf is the profile that says where a figure's resource goes:
// memory in the heap, the rest in the CPU.
func (f figure) profileOf() string {
	if f.unit == "KB" {
		return f.scenario + "-heap"
	}
	return f.scenario + "-cpu"
}

// missed is the "met" cell of a missed target: the profiles that say why,
// when the run saved them.
func (rep *report) missed(profiles ...string) string {
	s := yesNo(false)
	if rep.Profiles == "" {
		return s
	}
	var links []string
	for _, p := range profiles {
		links = append(links, fmt.Sprintf("[%s](%s/%s.txt)", p, rep.Profiles, p))
	}
	return s + ": " + strings.Join(links, ", ")
}

var figures = []figure{
	{"resident memory per idle WebSocket client (`conns`)", "conns", "memory_per_conn_kb", "KB", "abs", 4},
	{"resident memory per long-polling session, a GET waiting (`polling`)", "polling", "memory_per_conn_kb", "KB", "abs", 10},
	{"server CPU per echo with ack (`echo`)", "echo", "cpu_per_ack_us", "us", "ratio", 0.25},
	{"echoes with ack per second", "echo", "acks_per_s", "/s", "", 0},
	{"echo latency p99", "echo", "latency_p99_ms", "ms", "", 0},
	{"server CPU per plain WebSocket echo, the same server's /ws (`wsecho`)", "wsecho", "cpu_per_echo_us", "us", "", 0},
	{"server CPU per broadcast delivery (`fanout`)", "fanout", "cpu_per_delivery_us", "us", "ratio", 0.2},
	{"broadcast deliveries per second", "fanout", "delivered_per_s", "/s", "", 0},
	{"broadcast latency p50", "fanout", "latency_p50_ms", "ms", "", 0},
	{"broadcast latency p99", "fanout", "latency_p99_ms", "ms", "ratio", 1},
	{"broadcast deliveries lost", "fanout", "lost", "", "", 0},
	{"server CPU per new connection: handshake, namespace, close (`handshakes`)", "handshakes", "cpu_per_conn_us", "us", "ratio", 0.25},
	{"new connections per second", "handshakes", "connections_per_s", "/s", "", 0},
	{"server CPU per churn cycle: connect, emit with ack, close (`churn`)", "churn", "cpu_per_conn_us", "us", "", 0},
	{"churn cycles per second", "churn", "connections_per_s", "/s", "", 0},
}

func (rep *report) values(server string, f figure) []float64 {
	var out []float64
	for _, r := range rep.Runs[server][f.scenario] {
		if v, ok := r.num(f.key); ok {
			out = append(out, v)
		}
	}
	return out
}

func format(v float64) string {
	switch a := math.Abs(v); {
	case a >= 10000:
		return groupThousands(fmt.Sprintf("%.0f", v))
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func groupThousands(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
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
}

func cell(vs []float64, unit string) string {
	if len(vs) == 0 {
		return "-"
	}
	s := "**" + format(median(vs)) + "**"
	if unit != "" && unit != "/s" {
		s += " " + unit
	}
	if len(vs) > 1 {
		parts := make([]string, len(vs))
		for i, v := range vs {
			parts[i] = format(v)
		}
		s += " (" + strings.Join(parts, " / ") + ")"
	}
	return s
}

// scaleLine tells the scale of each scenario from a result.
func (rep *report) scaleLine() string {
	var parts []string
	take := func(sc, key, what string) {
		if rs := rep.Runs["siogo"][sc]; len(rs) > 0 {
			if v, ok := rs[0].num(key); ok {
				parts = append(parts, fmt.Sprintf("`%s` %s %s", sc, groupThousands(fmt.Sprintf("%.0f", v)), what))
			}
		}
	}
	take("conns", "connections", "WebSocket clients")
	take("polling", "connections", "polling sessions")
	take("echo", "clients", "clients in a closed loop")
	take("fanout", "subscribers", "subscribers")
	take("handshakes", "parallel", "parallel dialers")
	take("churn", "parallel", "parallel loops")
	return strings.Join(parts, ", ")
}

func (rep *report) markdown() string {
	var b strings.Builder
	took := ""
	if rep.Took != "" {
		took = ", took " + rep.Took
	}
	fmt.Fprintf(&b, "Run on %s UTC%s, %s, load average %s; %s.\n", rep.Date.Format("2006-01-02 15:04"), took, rep.CPU, rep.Load, rep.Versions)
	if rep.Scale != "full" {
		fmt.Fprintf(&b, "\n**A %s run, not the issue's 10,000 clients**: %s.\n", rep.Scale, rep.scaleLine())
	} else {
		fmt.Fprintf(&b, "\nScale: %s.\n", rep.scaleLine())
	}
	fmt.Fprintf(&b, "\n```\n%s\n```\n\n", rep.Command)
	rounds := fmt.Sprintf("%d rounds", rep.Rounds)
	if rep.Rounds == 1 {
		rounds = "1 round"
	}
	fmt.Fprintf(&b, "Medians of %s (each round's figures in brackets, in order); each server started afresh for each scenario, the two alternating. CPU and memory are the server's own, from /proc for its pid.\n\n", rounds)
	on := rep.name(rep.other())
	fmt.Fprintf(&b, "| figure | siogo | %s | siogo / %s | target | met |\n| --- | --- | --- | --- | --- | --- |\n", on, on)
	for _, f := range figures {
		sv, nv := rep.values("siogo", f), rep.values(rep.other(), f)
		if len(sv) == 0 && len(nv) == 0 {
			continue
		}
		ratio, target, met := "-", "", ""
		kind, bound := rep.targetOf(f)
		if len(sv) > 0 && len(nv) > 0 && median(nv) != 0 {
			r := median(sv) / median(nv)
			ratio = fmt.Sprintf("%.2f", r)
			switch kind {
			case "ratio":
				target = fmt.Sprintf("≤ %.2g × %s", bound, on)
				met = yesNo(true)
				if r > bound {
					met = rep.missed(f.profileOf())
				}
			}
		}
		if kind == "abs" && len(sv) > 0 {
			target = fmt.Sprintf("≤ %g %s", bound, f.unit)
			met = yesNo(true)
			if median(sv) > bound {
				met = rep.missed(f.profileOf())
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", f.label, cell(sv, f.unit), cell(nv, f.unit), ratio, target, met)
	}
	// The second echo target: Socket.IO's echo within 1.5 times a
	// bare WebSocket echo measured the same way (here: the server's own /ws).
	echo, ws := figure{scenario: "echo", key: "cpu_per_ack_us"}, figure{scenario: "wsecho", key: "cpu_per_echo_us"}
	if se, sw, ne, nw := rep.values("siogo", echo), rep.values("siogo", ws), rep.values(rep.other(), echo), rep.values(rep.other(), ws); len(se) > 0 && len(sw) > 0 && median(sw) > 0 {
		r := median(se) / median(sw)
		nr := "-"
		if len(ne) > 0 && len(nw) > 0 && median(nw) > 0 {
			nr = fmt.Sprintf("%.2f", median(ne)/median(nw))
		}
		met := yesNo(true)
		if r > 1.5 {
			met = rep.missed("echo-cpu", "wsecho-cpu")
		}
		fmt.Fprintf(&b, "| server CPU per Socket.IO echo with ack over per plain WebSocket echo, same server | %.2f | %s | - | ≤ 1.5 | %s |\n", r, nr, met)
	}
	if notes := rep.troubles(); len(notes) > 0 {
		b.WriteString("\nNot clean: " + strings.Join(notes, "; ") + ".\n")
	}
	if rep.Profiles != "" {
		fmt.Fprintf(&b, "\nEach missed target links the top of siogo's profile under its scenario, taken in the first round from the start of the measured phase (after the ramp; `-profile-seconds` of CPU, then the heap after a collection); the profiles themselves are beside them (`go tool pprof -top siogo %s/echo-cpu.pprof`, with siogo built from the same commit).\n", rep.Profiles)
	}
	if rep.Baseline == "" {
		b.WriteString("\n![latency distributions](compare-latency.png)\n\n![memory per connection](compare-memory.png)\n")
	}
	return b.String()
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

var colors = map[string]color.Color{
	"siogo": color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	"node":  color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
}

// cdf merges the latency histograms of every round of a scenario.
func (rep *report) cdf(server, scenario string) plotter.XYs {
	counts := map[float64]float64{}
	var total float64
	for _, r := range rep.Runs[server][scenario] {
		hist, _ := r["latency_hist_ms"].([]any)
		for _, e := range hist {
			pair, _ := e.([]any)
			if len(pair) != 2 {
				continue
			}
			ms, _ := pair[0].(float64)
			n, _ := pair[1].(float64)
			counts[math.Max(ms, 0.001)] += n
			total += n
		}
	}
	keys := make([]float64, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Float64s(keys)
	var xy plotter.XYs
	var seen float64
	for _, k := range keys {
		seen += counts[k]
		xy = append(xy, plotter.XY{X: k, Y: seen / total})
	}
	return xy
}

func (rep *report) plots(dir string) error {
	panels := []struct{ scenario, title string }{
		{"echo", "echo with ack, round trip"},
		{"fanout", "broadcast, send to delivery"},
		{"handshakes", "new connection, dial to close"},
	}
	row := make([]*plot.Plot, 0, len(panels))
	for _, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.title
		p.X.Label.Text = "latency (ms, log scale)"
		p.Y.Label.Text = "fraction at or below"
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Y.Min, p.Y.Max = 0, 1
		p.Legend.Top, p.Legend.Left = false, false // below the curves, bottom right
		any := false
		for _, srv := range []string{"siogo", "node"} {
			xy := rep.cdf(srv, pn.scenario)
			if len(xy) == 0 {
				continue
			}
			l, err := plotter.NewLine(xy)
			if err != nil {
				return err
			}
			l.Color, l.Width = colors[srv], vg.Points(1.5)
			p.Add(l)
			p.Legend.Add(map[string]string{"siogo": "siogo", "node": "Node socket.io"}[srv], l)
			any = true
		}
		if !any {
			continue
		}
		p.Add(plotter.NewGrid())
		row = append(row, p)
	}
	if len(row) > 0 {
		img := vgimg.New(vg.Points(float64(360*len(row))), vg.Points(300))
		dc := draw.New(img)
		t := draw.Tiles{Rows: 1, Cols: len(row), PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
		canvases := plot.Align([][]*plot.Plot{row}, t, dc)
		for i, p := range row {
			p.Draw(canvases[0][i])
		}
		if err := writePNG(img, filepath.Join(dir, "compare-latency.png")); err != nil {
			return err
		}
	}

	// Memory per connection, the medians.
	p := plot.New()
	p.Title.Text = "server resident memory per connection"
	p.Y.Label.Text = "KB"
	w := vg.Points(30)
	ymax := 1.0
	for i, srv := range []string{"siogo", "node"} {
		vals := plotter.Values{}
		for _, sc := range []string{"conns", "polling"} {
			v := median(rep.values(srv, figure{scenario: sc, key: "memory_per_conn_kb"}))
			vals = append(vals, v)
			ymax = math.Max(ymax, v)
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return err
		}
		bars.Color, bars.LineStyle.Width = colors[srv], 0
		bars.Offset = w * vg.Length(2*i-1) / 2
		p.Add(bars)
		p.Legend.Add(map[string]string{"siogo": "siogo", "node": "Node socket.io"}[srv], bars)
	}
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs = vg.Points(8)
	p.NominalX("idle WebSocket client", "long-polling session")
	p.X.Min, p.X.Max = -0.6, 1.6
	p.Title.Padding = vg.Points(6)
	p.Add(plotter.NewGrid())
	p.Y.Min, p.Y.Max = 0, ymax*1.3
	img := vgimg.New(vg.Points(480), vg.Points(320))
	p.Draw(draw.New(img))
	return writePNG(img, filepath.Join(dir, "compare-memory.png"))
}

func writePNG(img *vgimg.Canvas, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// troubles tells each run that had errors, lost deliveries, or held fewer
// clients than asked, so that the table's figures are read with them.
func (rep *report) troubles() []string {
	var out []string
	for _, srv := range []string{"siogo", rep.other()} {
		for _, sc := range scenarios {
			for i, r := range rep.Runs[srv][sc] {
				var parts []string
				for _, k := range []string{"connect_errors", "errors", "lost"} {
					if v, ok := r.num(k); ok && v > 0 {
						parts = append(parts, fmt.Sprintf("%s %s", groupThousands(fmt.Sprintf("%.0f", v)), strings.ReplaceAll(k, "_", " ")))
					}
				}
				if want := askedN(rep.Scale, sc); want > 0 && (sc == "conns" || sc == "polling") {
					if v, ok := r.num("connections"); ok && v < float64(want) {
						parts = append(parts, fmt.Sprintf("%s of %s held", groupThousands(fmt.Sprintf("%.0f", v)), groupThousands(strconv.Itoa(want))))
					}
				}
				if len(parts) > 0 {
					out = append(out, fmt.Sprintf("%s `%s` round %d: %s", rep.name(srv), sc, i+1, strings.Join(parts, ", ")))
				}
			}
		}
	}
	return out
}

// askedN is the -n a scale's preset gives a scenario, or 0.
func askedN(scale, scenario string) int {
	args := scales[scale][scenario]
	for i := 0; i+1 < len(args); i++ {
		if args[i] == "-n" {
			n, _ := strconv.Atoi(args[i+1])
			return n
		}
	}
	return 0
}
