// Command compare runs siogo (cmd/siogo, as users run it) and Node's
// socket.io 4 (test/node/demo-server.js, from test/node's lock file) in turn,
// interleaved, for several rounds, aims cmd/siobench at each with every
// scenario, and writes the medians and the siogo / Node ratios into
// bench/README.md, with the latency distributions and the memory per
// connection drawn beside it as PNG.
//
//	make compare                           # 10,000 clients, 3 rounds
//	make compare COMPARE_FLAGS="-scale quick"
//
// It is a module of its own so that siogo's go.mod does not carry the
// plotting library.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/siogo/siogo/bench/harness"
)

// scale presets: the sizes, and a quick one.
var scales = map[string]map[string][]string{
	"full": {
		"conns":      {"-n", "10000", "-rate", "1000", "-hold", "10s"},
		"polling":    {"-n", "5000", "-rate", "1000", "-hold", "10s"},
		"echo":       {"-c", "100", "-duration", "10s"},
		"fanout":     {"-n", "10000", "-rate", "1000", "-k", "20", "-bps", "10", "-wait", "30s"},
		"handshakes": {"-p", "10", "-duration", "10s"},
		"churn":      {"-p", "10", "-duration", "10s"},
		"wsecho":     {"-c", "100", "-duration", "10s"},
	},
	"quick": {
		"conns":      {"-n", "1000", "-rate", "1000", "-hold", "5s"},
		"polling":    {"-n", "500", "-rate", "500", "-hold", "5s"},
		"echo":       {"-c", "20", "-duration", "3s"},
		"fanout":     {"-n", "1000", "-rate", "1000", "-k", "20", "-bps", "10", "-wait", "10s"},
		"handshakes": {"-p", "4", "-duration", "3s"},
		"churn":      {"-p", "4", "-duration", "3s"},
		"wsecho":     {"-c", "20", "-duration", "3s"},
	},
}

var scenarios = []string{"conns", "polling", "echo", "wsecho", "fanout", "handshakes", "churn"}

// result is one siobench JSON object.
type result map[string]any

func (r result) num(k string) (float64, bool) {
	v, ok := r[k].(float64)
	return v, ok
}

func main() {
	root := flag.String("root", "../..", "the siogo repository")
	rounds := flag.Int("rounds", 3, "rounds; each starts each server afresh for each scenario, in alternating order")
	scale := flag.String("scale", "full", "full (the issue's 10,000 clients) or quick")
	only := flag.String("scenarios", strings.Join(scenarios, ","), "scenarios to run")
	readme := flag.String("readme", "bench/README.md", "file, under -root, whose compare section is rewritten")
	dry := flag.Bool("no-write", false, "print the table, write nothing")
	flag.StringVar(&profileDir, "profiles", "bench/profiles", `where to save siogo's CPU and heap profiles under each scenario (first round), and their tops as text, linked from the table's missed targets; under -root unless absolute; "" for none (none by default with -no-write)`)
	flag.DurationVar(&profileFor, "profile-seconds", 3*time.Second, "how long each CPU profile runs, from the start of the scenario's measured phase (after its ramp); the heap is taken at its end")
	timeout := flag.Duration("run-timeout", 5*time.Minute, "longest one scenario may run against one server before the run is abandoned")
	from := flag.String("from", "", "redraw the table and the figures from a saved compare-results.json instead of measuring")
	baseline := flag.String("baseline", "", "a git revision of siogo to run in Node's place, to set a change beside what it changes (issue 18's 519b95f); its table goes to its own section, with no figures")
	flag.Parse()
	preset, ok := scales[*scale]
	if !ok {
		log.Fatalf("-scale %q: want full or quick", *scale)
	}
	runTimeout = *timeout
	if *from == "" {
		if err := harness.RaiseFileLimit(filesNeeded(preset)); err != nil {
			log.Fatalf("%v; or -scale quick", err)
		}
	}
	rootDir, err := filepath.Abs(*root)
	if err != nil {
		log.Fatal(err)
	}
	if *dry && !flagSet("profiles") {
		profileDir = ""
	}
	if profileDir != "" && !filepath.IsAbs(profileDir) {
		profileDir = filepath.Join(rootDir, profileDir)
	}
	nodeDir := filepath.Join(rootDir, "test", "node")
	if *baseline == "" {
		if _, err := exec.LookPath("node"); err != nil {
			log.Fatal("node is not installed: apt-get install -y nodejs npm")
		}
		if _, err := os.Stat(filepath.Join(nodeDir, "node_modules", "socket.io")); err != nil {
			log.Fatalf("Node's socket.io is not installed: cd %s && npm ci", nodeDir)
		}
	}
	var rep report
	if *from != "" {
		b, err := os.ReadFile(*from)
		if err != nil {
			log.Fatal(err)
		}
		if err := json.Unmarshal(b, &rep); err != nil {
			log.Fatalf("%s: %v", *from, err)
		}
	} else {
		rep = measure(rootDir, nodeDir, *baseline, *rounds, *scale, strings.Split(*only, ","), preset)
	}
	benchDir := filepath.Dir(filepath.Join(rootDir, *readme))
	if *from == "" && profileDir != "" {
		if rel, err := filepath.Rel(benchDir, profileDir); err == nil {
			rep.Profiles = filepath.ToSlash(rel)
		}
	}
	table := rep.markdown()
	fmt.Println(table)
	if *dry {
		return
	}
	results, section := "compare-results.json", "compare"
	if rep.Baseline != "" {
		results, section = "compare-baseline-results.json", "compare-baseline"
	}
	if *from == "" {
		b, _ := json.MarshalIndent(rep, "", " ")
		if err := os.WriteFile(filepath.Join(benchDir, results), b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	if rep.Baseline == "" {
		if err := rep.plots(benchDir); err != nil {
			log.Fatalf("plots: %v", err)
		}
	}
	if err := writeSection(filepath.Join(rootDir, *readme), section, table); err != nil {
		log.Fatal(err)
	}
}

// buildAt builds cmd/siogo of the repository at rev into out, from a copy
// of that revision's tree (git archive: the checkout is left alone).
func buildAt(rootDir, rev, out string) error {
	src, err := os.MkdirTemp("", "siogo-baseline")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	archive := exec.Command("git", "-C", rootDir, "archive", rev)
	untar := exec.Command("tar", "-x", "-C", src)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return err
	}
	untar.Stdin, untar.Stderr, archive.Stderr = pipe, os.Stderr, os.Stderr
	if err := untar.Start(); err != nil {
		return err
	}
	if err := archive.Run(); err != nil {
		return fmt.Errorf("git archive %s: %v", rev, err)
	}
	if err := untar.Wait(); err != nil {
		return err
	}
	cmd := exec.Command("go", "build", "-o", out, "./cmd/siogo")
	cmd.Dir, cmd.Stdout, cmd.Stderr = src, os.Stderr, os.Stderr
	return cmd.Run()
}

// measure builds the programs and runs every round.
func measure(rootDir, nodeDir, baseline string, rounds int, scale string, only []string, preset map[string][]string) report {
	bin, err := os.MkdirTemp("", "siogo-compare")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(bin)
	for _, name := range []string{"siogo", "siobench"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, name), "./cmd/"+name)
		cmd.Dir, cmd.Stdout, cmd.Stderr = rootDir, os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			log.Fatalf("building cmd/%s: %v", name, err)
		}
	}
	other := "node"
	if baseline != "" {
		other = "base"
		if err := buildAt(rootDir, baseline, filepath.Join(bin, "siogo-base")); err != nil {
			log.Fatalf("building cmd/siogo at %s: %v", baseline, err)
		}
	}
	start := time.Now().UTC()
	load0 := harness.LoadAvg()
	if profileDir != "" {
		if err := os.MkdirAll(profileDir, 0o755); err != nil {
			log.Fatal(err)
		}
	}
	// runs[server][scenario] is one result per round.
	runs := map[string]map[string][]result{"siogo": {}, other: {}}
	for r := 0; r < rounds; r++ {
		for _, sc := range only {
			order := []string{"siogo", other}
			if r%2 == 1 {
				order = []string{other, "siogo"}
			}
			for _, srv := range order {
				fmt.Fprintf(os.Stderr, "== round %d/%d, %s, %s (%s so far)\n", r+1, rounds, sc, srv, time.Since(start).Round(time.Second))
				t0 := time.Now()
				res, err := runOne(bin, rootDir, nodeDir, srv, sc, preset[sc], r)
				if err != nil {
					log.Fatalf("round %d, %s, %s: %v", r+1, sc, srv, err)
				}
				fmt.Fprintf(os.Stderr, "== round %d/%d, %s, %s: %s\n", r+1, rounds, sc, srv, time.Since(t0).Round(time.Second))
				runs[srv][sc] = append(runs[srv][sc], res)
			}
		}
	}
	load1 := harness.LoadAvg()
	rep := report{
		Date: start, Took: time.Since(start).Round(time.Second).String(), CPU: harness.CPUModel(), Load: load0 + " at the start, " + load1 + " at the end",
		Command: commandLine(), Rounds: rounds, Scale: scale, Runs: runs,
		Versions: versions(rootDir, nodeDir), Baseline: baseline,
	}
	if profileDir != "" {
		writeProfilesReadme(profileDir, &rep, only)
	}
	return rep
}

// writeProfilesReadme says, beside the profiles, which run took them.
func writeProfilesReadme(dir string, rep *report, only []string) {
	var b strings.Builder
	fmt.Fprintf(&b, "# siogo's profiles under each scenario\n\n")
	fmt.Fprintf(&b, "Taken by `bench/compare` in the first round of the run of %s UTC (%s scale; %s; %s, load average %s), each from the start of the scenario's measured phase: %s of CPU, then the heap after a collection. `SCENARIO-cpu.txt` and `-heap.txt` are their tops, by own and by cumulative cost; read the profiles themselves with `go tool pprof -top siogo SCENARIO-cpu.pprof`, siogo built from the same commit.\n\n",
		rep.Date.Format("2006-01-02 15:04"), rep.Scale, rep.Versions, rep.CPU, rep.Load, profileFor)
	for _, sc := range only {
		fmt.Fprintf(&b, "- `%s`: [CPU](%s-cpu.txt), [heap](%s-heap.txt)\n", sc, sc, sc)
	}
	if err := os.WriteFile(filepath.Join(dir, "README.md"), []byte(b.String()), 0o644); err != nil {
		log.Printf("profiles: %v", err)
	}
}

// commandLine is the make command that repeats this run.
func commandLine() string {
	var set []string
	flag.Visit(func(f *flag.Flag) {
		if f.Name != "root" && f.Name != "no-write" && f.Name != "profiles" && f.Name != "run-timeout" {
			set = append(set, "-"+f.Name+" "+f.Value.String())
		}
	})
	if len(set) == 0 {
		return "make compare"
	}
	return `make compare COMPARE_FLAGS="` + strings.Join(set, " ") + `"`
}

func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// profileDir, when set, receives siogo's profiles of the first round.
var (
	profileDir string
	profileFor time.Duration
	runTimeout time.Duration
)

// profile saves a CPU profile of the first profileFor of a scenario's
// measured phase, then the heap at that moment, from siogo's
// --debug-addr, each with its top as text beside it (go tool pprof -top,
// with the binary profiled), for the table's links.
func profile(debugAddr, bin, prefix string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, p := range []struct{ url, file, index string }{
			{fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", debugAddr, max(1, int(profileFor.Seconds()))), prefix + "-cpu", "cpu"},
			{"http://" + debugAddr + "/debug/pprof/heap?gc=1", prefix + "-heap", "inuse_space"},
		} {
			res, err := http.Get(p.url)
			if err != nil {
				log.Printf("profile: %v", err)
				return
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if err := os.WriteFile(p.file+".pprof", b, 0o644); err != nil {
				log.Printf("profile: %v", err)
				continue
			}
			// By own time, then by cumulative time (who calls the costs).
			var text []byte
			for _, order := range []string{"-flat", "-cum"} {
				top, err := exec.Command("go", "tool", "pprof", "-top", order, "-nodecount=40", "-sample_index="+p.index, bin, p.file+".pprof").Output()
				if err != nil {
					log.Printf("profile: go tool pprof %s: %v", p.file, err)
					break
				}
				text = append(append(text, "$ go tool pprof -top "+order+" -sample_index="+p.index+" siogo "+filepath.Base(p.file)+".pprof\n"...), top...)
				text = append(text, '\n')
			}
			if err := os.WriteFile(p.file+".txt", text, 0o644); err != nil {
				log.Printf("profile: %v", err)
			}
		}
	}()
	return done
}

// filesNeeded is the open files the largest scenario of a preset needs in
// one process: its clients (plus fanout's sender), with room for the rest.
func filesNeeded(preset map[string][]string) uint64 {
	most := 0
	for _, args := range preset {
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-n" || args[i] == "-c" || args[i] == "-p" {
				if n, err := strconv.Atoi(args[i+1]); err == nil {
					most = max(most, n)
				}
			}
		}
	}
	return uint64(most) + 200
}

// runOne starts a fresh server, runs one scenario against it, stops it.
func runOne(bin, rootDir, nodeDir, server, scenario string, args []string, round int) (result, error) {
	port := harness.MustFreePort()
	addr := "127.0.0.1:" + strconv.Itoa(port)
	var cmd *exec.Cmd
	debugAddr := ""
	switch server {
	case "siogo":
		// As the README runs it, with the log quieter: at info it logs nothing per connection anyway.
		sa := []string{"--addr", addr, "--log-level", "warn"}
		if profileDir != "" && round == 0 {
			debugAddr = "127.0.0.1:" + strconv.Itoa(harness.MustFreePort())
			sa = append(sa, "--debug-addr", debugAddr)
		}
		cmd = exec.Command(filepath.Join(bin, "siogo"), sa...)
		cmd.Dir = rootDir
	case "base":
		cmd = exec.Command(filepath.Join(bin, "siogo-base"), "--addr", addr, "--log-level", "warn")
		cmd.Dir = rootDir
	case "node":
		cmd = exec.Command("node", "demo-server.js", addr)
		cmd.Dir = nodeDir
	}
	var serr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &serr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	defer harness.Stop(cmd, 15*time.Second)
	if err := harness.WaitHealthy(addr); err != nil {
		return nil, fmt.Errorf("%v: %s", err, serr.String())
	}
	time.Sleep(time.Second) // let it settle before the first reading
	// A handshake may wait 30 s (siobench's default is 10 s): Node's
	// server, on one core, ramps 10,000 clients at a few hundred a second
	// on a busy machine, and its long-polling sessions slower still, so
	// some of the 256 handshakes in flight waited longer than 10 s.
	sargs := append([]string{"--url", "http://" + addr, "--pid", strconv.Itoa(cmd.Process.Pid), "--json", "--marks", "--timeout", "30s"}, args...)
	sargs = append(sargs, scenario)
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	b := exec.CommandContext(ctx, filepath.Join(bin, "siobench"), sargs...)
	var out bytes.Buffer
	b.Stdout = &out
	// siobench's progress goes on to ours as it comes; its mark starts
	// the profile.
	var watch *markWatcher
	b.Stderr = os.Stderr
	if debugAddr != "" {
		watch = &markWatcher{mark: []byte("\nsiobench: measuring " + scenario + "\n"), start: func() <-chan struct{} {
			return profile(debugAddr, filepath.Join(bin, "siogo"), filepath.Join(profileDir, scenario))
		}}
		b.Stderr = io.MultiWriter(os.Stderr, watch)
	}
	werr := b.Run()
	if watch != nil {
		if done := watch.done; done != nil {
			<-done
		} else {
			log.Printf("siobench gave no mark of %s's measured phase: no profile", scenario)
		}
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("siobench %v: no result after %v (-run-timeout)", sargs, runTimeout)
	}
	if werr != nil {
		return nil, fmt.Errorf("siobench %v: %v", sargs, werr)
	}
	var res result
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &res); err != nil {
		return nil, fmt.Errorf("siobench output %q: %v", out.String(), err)
	}
	if cmd.ProcessState != nil {
		return nil, fmt.Errorf("the server died: %s", serr.String())
	}
	return res, nil
}

// markWatcher calls start once when mark goes by in what is written to it
// (exec's copy of siobench's stderr: one goroutine writes).
type markWatcher struct {
	mark  []byte
	start func() <-chan struct{}
	tail  []byte
	done  <-chan struct{}
}

func (w *markWatcher) Write(p []byte) (int, error) {
	if w.done != nil {
		return len(p), nil
	}
	w.tail = append(w.tail, p...)
	if bytes.Contains(w.tail, w.mark) {
		w.done, w.tail = w.start(), nil
		return len(p), nil
	}
	if keep := len(w.mark) - 1; len(w.tail) > keep {
		w.tail = append(w.tail[:0], w.tail[len(w.tail)-keep:]...)
	}
	return len(p), nil
}

func versions(rootDir, nodeDir string) string {
	out := runtime.Version()
	if b, err := exec.Command("node", "--version").Output(); err == nil {
		out += ", Node.js " + strings.TrimSpace(string(b))
	}
	var pkg struct{ Version string }
	if b, err := os.ReadFile(filepath.Join(nodeDir, "node_modules", "socket.io", "package.json")); err == nil && json.Unmarshal(b, &pkg) == nil {
		out += ", socket.io " + pkg.Version
	}
	if b, err := exec.Command("git", "-C", rootDir, "rev-parse", "--short", "HEAD").Output(); err == nil {
		out += ", siogo " + strings.TrimSpace(string(b))
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// writeSection replaces the README's section name (compare, or
// compare-baseline) with table, or appends it.
func writeSection(path, name, table string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	sectionBegin := "<!-- " + name + ":begin (written by bench/compare) -->"
	sectionEnd := "<!-- " + name + ":end -->"
	block := sectionBegin + "\n" + table + "\n" + sectionEnd
	i, j := strings.Index(s, sectionBegin), strings.Index(s, sectionEnd)
	if i >= 0 && j > i {
		s = s[:i] + block + s[j+len(sectionEnd):]
	} else {
		heading := "siogo and Node side by side"
		if name == "compare-baseline" {
			heading = "siogo beside an earlier siogo"
		}
		s = strings.TrimRight(s, "\n") + "\n\n## " + heading + "\n\n" + block + "\n"
	}
	return os.WriteFile(path, []byte(s), 0o644)
}
