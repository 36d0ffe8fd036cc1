// Command soak runs siogo as users run it (cmd/siogo built, started with
// its demo from the repository's root, as `make run` does) under
// cmd/siobench's soak scenario: 10,000 clients for 30 minutes with ticks,
// echoes with acks, broadcasts and churn (WebSocket, polling with upgrade,
// polling, and clients that vanish without closing). siobench samples the
// server's resident memory, goroutines (from --debug-addr's pprof) and open
// files once a second into a CSV beside its own counts; this program then
// scans the server's log for errors, draws the samples over time as a PNG
// and prints a summary in Markdown.
//
//	cd bench/soak && go run . -root ../.. [-n 10000] [-duration 30m]
//
// (`make soak`, with SOAK_FLAGS="-n 2000 -duration 5m" for a short run.)
// It is a module of its own so that siogo's go.mod does not carry the
// plotting library.
package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"image/color"
	"log"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/siogo/siogo/bench/harness"
)

func main() {
	root := flag.String("root", "../..", "the siogo repository")
	n := flag.Int("n", 10000, "clients held")
	duration := flag.Duration("duration", 30*time.Minute, "how long the load runs, after the clients are connected")
	warmup := flag.Duration("warmup", 3*time.Minute, "the warm-up: figures are compared from then to the end")
	out := flag.String("out", "docs/soak", "path prefix of the CSV, PNG and summary, relative to -root")
	benchFlags := flag.String("bench-flags", "", "more siobench flags, space separated (for example \"-echo-rate 200 -churn-rate 20\")")
	serverFlags := flag.String("server-flags", "", "more siogo flags, space separated (for example \"--log-level debug\")")
	from := flag.String("from", "", "redraw the PNG and the summary from this CSV (and its .json) instead of running")
	flag.Parse()
	rootDir, err := filepath.Abs(*root)
	if err != nil {
		log.Fatal(err)
	}
	prefix := *out
	if !filepath.IsAbs(prefix) {
		prefix = filepath.Join(rootDir, prefix)
	}
	csvPath := prefix + ".csv"
	var meta runInfo
	if *from != "" {
		csvPath = *from
		b, err := os.ReadFile(strings.TrimSuffix(csvPath, ".csv") + ".json")
		if err != nil {
			log.Fatal(err)
		}
		if err := json.Unmarshal(b, &meta); err != nil {
			log.Fatal(err)
		}
	} else {
		meta = run(rootDir, prefix, *n, *duration, *benchFlags, *serverFlags)
		b, _ := json.MarshalIndent(meta, "", "  ")
		if err := os.WriteFile(prefix+".json", append(b, '\n'), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	rows, err := readCSV(csvPath)
	if err != nil {
		log.Fatal(err)
	}
	if err := drawPNG(prefix+".png", rows, meta, *warmup); err != nil {
		log.Fatal(err)
	}
	sum := summary(rows, meta, *warmup)
	if err := os.WriteFile(prefix+"-summary.md", []byte(sum), 0o644); err != nil {
		log.Fatal(err)
	}
	fmt.Print(sum)
}

// runInfo is a run's context, saved beside the CSV.
type runInfo struct {
	Command   string            `json:"command"`
	Date      time.Time         `json:"date"`
	End       time.Time         `json:"end"`
	CPU       string            `json:"cpu"`
	LoadStart string            `json:"load_start"`
	LoadEnd   string            `json:"load_end"`
	Commit    string            `json:"commit"`
	Go        string            `json:"go"`
	Clients   int               `json:"clients"`
	Duration  string            `json:"duration"`
	Server    string            `json:"server"`
	Result    map[string]any    `json:"result"`
	LogLines  int               `json:"log_lines"`
	LogErrors []string          `json:"log_errors"`
	LogLevels map[string]int    `json:"log_levels"`
	Limits    map[string]string `json:"limits"`
	// After the loader exited: how long until the server held no session
	// (the clients it had not seen go, reaped by its heartbeat), and how
	// many it still held if that did not come within a minute.
	IdleAfter string `json:"idle_after"`
	LeftOpen  int    `json:"left_open"`
}

func run(rootDir, prefix string, n int, duration time.Duration, benchFlags, serverFlags string) runInfo {
	if err := harness.RaiseFileLimit(uint64(n) + 1000); err != nil {
		log.Fatal(err)
	}
	info := runInfo{
		Command:   "cd bench/soak && go run . " + strings.Join(os.Args[1:], " "),
		Date:      time.Now().UTC(),
		CPU:       harness.CPUModel(),
		LoadStart: harness.LoadAvg(),
		Go:        runtime.Version(),
		Clients:   n,
		Duration:  duration.String(),
		Limits:    map[string]string{"nofile": harness.FileLimit()},
	}
	if b, err := exec.Command("git", "-C", rootDir, "rev-parse", "--short", "HEAD").Output(); err == nil {
		info.Commit = strings.TrimSpace(string(b))
	}
	bin, err := os.MkdirTemp("", "siogo-soak")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(bin)
	for _, name := range []string{"siogo", "siobench"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, name), "./cmd/"+name)
		cmd.Dir, cmd.Stdout, cmd.Stderr = rootDir, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			log.Fatalf("building %s: %v", name, err)
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", harness.MustFreePort())
	debugAddr := fmt.Sprintf("127.0.0.1:%d", harness.MustFreePort())
	logPath := filepath.Join(bin, "siogo.log")
	if keep := os.Getenv("SOAK_LOG"); keep != "" {
		logPath = keep
	}
	lf, err := os.Create(logPath)
	if err != nil {
		log.Fatal(err)
	}
	// As the README runs it: the program with its demo, from the
	// repository's root (public/ holds the page's client bundles).
	srvArgs := []string{"--addr", addr, "--debug-addr", debugAddr}
	srvArgs = append(srvArgs, strings.Fields(serverFlags)...)
	info.Server = "siogo " + strings.Join(srvArgs, " ")
	srv := exec.Command(filepath.Join(bin, "siogo"), srvArgs...)
	srv.Dir, srv.Stdout, srv.Stderr = rootDir, lf, lf
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	if err := harness.WaitHealthy(addr); err != nil {
		_ = srv.Process.Kill()
		log.Fatal(err)
	}
	bargs := []string{"--url", "http://" + addr, "--pid", strconv.Itoa(srv.Process.Pid),
		"--debug-url", "http://" + debugAddr, "--soak-csv", prefix + ".csv",
		"-n", strconv.Itoa(n), "--duration", duration.String(), "--json"}
	bargs = append(bargs, strings.Fields(benchFlags)...)
	bargs = append(bargs, "soak")
	log.Printf("siogo (pid %d) on %s, log in %s; siobench %s", srv.Process.Pid, addr, logPath, strings.Join(bargs, " "))
	b := exec.Command(filepath.Join(bin, "siobench"), bargs...)
	var stdout bytes.Buffer
	b.Stdout, b.Stderr = &stdout, os.Stderr
	berr := b.Run()
	// The loader is gone: the server sees its WebSockets close at once,
	// and reaps the polling sessions (vanished ones among them) at their
	// ping timeout. Stopped only then, its graceful drain has nothing to
	// wait for, and a session the heartbeat failed to reap shows.
	idle, left := waitIdle(addr, time.Minute)
	info.IdleAfter, info.LeftOpen = idle.Round(100*time.Millisecond).String(), left
	log.Printf("server idle %s after the loader exited (%d sessions left)", info.IdleAfter, left)
	harness.Stop(srv, 30*time.Second)
	lf.Close()
	info.End = time.Now().UTC()
	info.LoadEnd = harness.LoadAvg()
	if berr != nil {
		log.Printf("siobench: %v", berr)
	}
	if line := bytes.TrimSpace(stdout.Bytes()); len(line) > 0 {
		if err := json.Unmarshal(line, &info.Result); err != nil {
			log.Printf("siobench's result %q: %v", line, err)
		}
	}
	info.LogLines, info.LogLevels, info.LogErrors = scanLog(logPath)
	return info
}

// scanLog counts the server's log lines by level and keeps the first
// twenty at WARN or ERROR (or a panic's).
func scanLog(path string) (int, map[string]int, []string) {
	f, err := os.Open(path)
	if err != nil {
		return 0, nil, []string{err.Error()}
	}
	defer f.Close()
	levels := map[string]int{}
	var bad []string
	lines := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines++
		l := sc.Text()
		lvl := "other"
		if i := strings.Index(l, "level="); i >= 0 {
			lvl = strings.Fields(l[i+len("level="):])[0]
		}
		levels[lvl]++
		if lvl == "WARN" || lvl == "ERROR" || strings.Contains(l, "panic") || strings.Contains(l, "fatal error") || strings.HasPrefix(l, "goroutine ") {
			if len(bad) < 20 {
				bad = append(bad, l)
			}
		}
	}
	return lines, levels, bad
}

// sample is one CSV row.
type sample map[string]float64

func readCSV(path string) ([]sample, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, err
	}
	if len(recs) < 2 {
		return nil, fmt.Errorf("%s: no samples", path)
	}
	var rows []sample
	for _, rec := range recs[1:] {
		s := sample{}
		for i, k := range recs[0] {
			if i < len(rec) {
				s[k], _ = strconv.ParseFloat(rec[i], 64)
			}
		}
		rows = append(rows, s)
	}
	return rows, nil
}

// window is the mean of key over the samples from t0 to t1 seconds, and
// the row's count.
func window(rows []sample, key string, t0, t1 float64) float64 {
	sum, n := 0.0, 0
	for _, r := range rows {
		if r["t_s"] >= t0 && r["t_s"] < t1 && r[key] >= 0 {
			sum += r[key]
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

func extent(rows []sample, key string, t0 float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, r := range rows {
		if r["t_s"] >= t0 && r[key] >= 0 {
			lo, hi = math.Min(lo, r[key]), math.Max(hi, r[key])
		}
	}
	return lo, hi
}

func summary(rows []sample, meta runInfo, warmup time.Duration) string {
	var b strings.Builder
	last := rows[len(rows)-1]
	tEnd := last["t_s"]
	w := warmup.Seconds()
	fmt.Fprintf(&b, "Command: `%s` (server: `%s`), %s to %s UTC, commit %s, %s, %s; load average %s at the start, %s at the end; open-files limit %s.\n\n",
		meta.Command, meta.Server, meta.Date.Format("2006-01-02 15:04"), meta.End.Format("15:04"), meta.Commit, meta.Go, meta.CPU, meta.LoadStart, meta.LoadEnd, meta.Limits["nofile"])
	fmt.Fprintf(&b, "| figure | at warm-up (%s, mean of a minute) | at the end (mean of the last minute) | drift | range after warm-up |\n|---|---|---|---|---|\n", warmup)
	for _, k := range []struct{ key, name string }{{"rss_kb", "RSS (MB)"}, {"goroutines", "goroutines"}, {"fds", "open files"}, {"clients", "clients held"}} {
		a := window(rows, k.key, w, w+60)
		e := window(rows, k.key, tEnd-60, tEnd+1)
		lo, hi := extent(rows, k.key, w)
		scale := 1.0
		if k.key == "rss_kb" {
			scale = 1.0 / 1000
		}
		fmt.Fprintf(&b, "| %s | %.1f | %.1f | %+.1f (%+.1f%%) | %.1f to %.1f |\n", k.name, a*scale, e*scale, (e-a)*scale, 100*(e-a)/a, lo*scale, hi*scale)
	}
	fmt.Fprintf(&b, "\nLoader's counts: ")
	var parts []string
	for _, k := range []string{"clients", "connects", "connects_websocket", "connects_upgrade", "connects_polling", "leaves", "vanished", "errors", "disconnects", "ticks", "ticks_lost", "ticks_skipped_by_server", "ticks_late", "echoes", "echoes_lost", "echoes_late", "broadcasts", "broadcasts_delivered", "broadcasts_lost", "broadcasts_duplicated", "latency_p50_ms", "latency_p99_ms", "latency_max_ms"} {
		if v, ok := meta.Result[k]; ok {
			parts = append(parts, fmt.Sprintf("%s %v", k, v))
		}
	}
	b.WriteString(strings.Join(parts, ", "))
	fmt.Fprintf(&b, ". Server CPU time %.0f s over %.0f s.\n\n", last["server_cpu_s"], tEnd)
	if meta.IdleAfter != "" {
		fmt.Fprintf(&b, "After the loader exited, the server held no session %s later (%d left).\n\n", meta.IdleAfter, meta.LeftOpen)
	}
	fmt.Fprintf(&b, "Server log: %d lines, by level %v; WARN/ERROR/panic lines: %d", meta.LogLines, meta.LogLevels, len(meta.LogErrors))
	for _, l := range meta.LogErrors {
		fmt.Fprintf(&b, "\n    %s", l)
	}
	b.WriteString("\n")
	return b.String()
}

func drawPNG(path string, rows []sample, meta runInfo, warmup time.Duration) error {
	panels := []struct {
		title string
		keys  []string
		names []string
		scale float64
	}{
		{"resident memory (MB)", []string{"rss_kb"}, []string{"RSS"}, 1.0 / 1000},
		{"goroutines", []string{"goroutines"}, []string{"goroutines"}, 1},
		{"open files", []string{"fds"}, []string{"fds"}, 1},
		{"clients held", []string{"clients"}, []string{"clients"}, 1},
		{"errors and losses (cumulative)", []string{"errors", "echo_lost", "broadcast_lost"}, []string{"errors", "echoes lost", "broadcasts lost"}, 1},
	}
	colors := []color.Color{color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xd6, 0x27, 0x28, 0xff}, color.RGBA{0x2c, 0xa0, 0x2c, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff}}
	var col [][]*plot.Plot
	for i, pn := range panels {
		p := plot.New()
		p.Title.Text = pn.title
		if i == 0 {
			p.Title.Text = fmt.Sprintf("siogo soak, %d clients, %s (%s UTC, commit %s)\n%s", meta.Clients, meta.Duration, meta.Date.Format("2006-01-02 15:04"), meta.Commit, pn.title)
		}
		if i == len(panels)-1 {
			p.X.Label.Text = "minutes since the start"
		}
		p.Y.Min = 0
		for j, k := range pn.keys {
			var xy plotter.XYs
			for _, r := range rows {
				if v := r[k]; v >= 0 {
					xy = append(xy, plotter.XY{X: r["t_s"] / 60, Y: v * pn.scale})
				}
			}
			if len(xy) == 0 {
				continue
			}
			l, err := plotter.NewLine(xy)
			if err != nil {
				return err
			}
			l.Color, l.Width = colors[j%len(colors)], vg.Points(1)
			p.Add(l)
			if len(pn.keys) > 1 {
				p.Legend.Add(pn.names[j], l)
			}
		}
		if len(pn.keys) > 1 {
			p.Legend.Top, p.Legend.Left = true, true
			p.Y.Max = math.Max(p.Y.Max, 1)
		}
		wl, err := plotter.NewLine(plotter.XYs{{X: warmup.Minutes(), Y: p.Y.Min}, {X: warmup.Minutes(), Y: p.Y.Max}})
		if err == nil {
			wl.Color, wl.Dashes = color.Gray{0x99}, []vg.Length{vg.Points(3), vg.Points(3)}
			p.Add(wl)
		}
		p.Add(plotter.NewGrid())
		col = append(col, []*plot.Plot{p})
	}
	img := vgimg.New(vg.Points(720), vg.Points(float64(170*len(col))))
	dc := draw.New(img)
	t := draw.Tiles{Rows: len(col), Cols: 1, PadY: vg.Millimeter * 3, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	canvases := plot.Align(col, t, dc)
	for i := range col {
		col[i][0].Draw(canvases[i][0])
	}
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

// waitIdle waits until the server at addr holds no Engine.IO session (its
// /metrics' siogo_connected_clients), at most max; it returns how long it
// waited and the sessions left.
func waitIdle(addr string, max time.Duration) (time.Duration, int) {
	start := time.Now()
	left := -1
	for time.Since(start) < max {
		if left = openSessions(addr); left == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(start), left
}

func openSessions(addr string) int {
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := 0.0
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "siogo_connected_clients{") {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			v, err := strconv.ParseFloat(line[i+1:], 64)
			if err == nil {
				n += v
			}
		}
	}
	return int(n)
}
