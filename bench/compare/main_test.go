package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestReport: the table carries medians, rounds, ratios and whether each
// target is met; the section is appended once, then replaced in place; the
// figures are drawn.
func TestReport(t *testing.T) {
	hist := []any{[]any{0.5, 10.0}, []any{1.0, 5.0}}
	rep := report{
		Date: time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC), CPU: "2 × test", Load: "1 1 1", Command: "make compare", Versions: "go", Rounds: 3, Scale: "quick",
		Runs: map[string]map[string][]result{
			"siogo": {"conns": {{"memory_per_conn_kb": 3.0, "connections": 1000.0}, {"memory_per_conn_kb": 5.0}, {"memory_per_conn_kb": 4.0}},
				"echo": {{"cpu_per_ack_us": 20.0, "latency_hist_ms": hist}}, "wsecho": {{"cpu_per_echo_us": 10.0}}},
			"node": {"conns": {{"memory_per_conn_kb": 16.0}, {"memory_per_conn_kb": 15.0}, {"memory_per_conn_kb": 17.0}},
				"echo": {{"cpu_per_ack_us": 100.0, "latency_hist_ms": hist}}},
		},
	}
	md := rep.markdown()
	for _, want := range []string{
		"| resident memory per idle WebSocket client (`conns`) | **4.00** KB (3.00 / 5.00 / 4.00) | **16.0** KB (16.0 / 15.0 / 17.0) | 0.25 | ≤ 4 KB | yes |",
		"| server CPU per echo with ack (`echo`) | **20.0** us | **100** us | 0.20 | ≤ 0.25 × Node | yes |",
		"| server CPU per Socket.IO echo with ack over per plain WebSocket echo, same server | 2.00 | - | - | ≤ 1.5 | **no** |",
		"**A quick run, not the issue's 10,000 clients**: `conns` 1,000 WebSocket clients",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("table lacks %q:\n%s", want, md)
		}
	}
	// With the profiles saved, each missed target links the one that says why.
	rep.Profiles = "profiles"
	rep.Runs["siogo"]["conns"][1]["memory_per_conn_kb"] = 9.0
	rep.Runs["siogo"]["conns"][2]["memory_per_conn_kb"] = 8.0
	md2 := rep.markdown()
	for _, want := range []string{
		"(3.00 / 9.00 / 8.00) | **16.0** KB (16.0 / 15.0 / 17.0) | 0.50 | ≤ 4 KB | **no**: [conns-heap](profiles/conns-heap.txt) |",
		"| ≤ 1.5 | **no**: [echo-cpu](profiles/echo-cpu.txt), [wsecho-cpu](profiles/wsecho-cpu.txt) |",
		"| ≤ 0.25 × Node | yes |",
	} {
		if !strings.Contains(md2, want) {
			t.Errorf("table lacks %q:\n%s", want, md2)
		}
	}
	rep.Runs["node"]["conns"][0]["connections"] = 997.0
	rep.Runs["node"]["conns"][0]["connect_errors"] = 3.0
	if md3 := rep.markdown(); !strings.Contains(md3, "Not clean: Node `conns` round 1: 3 connect errors, 997 of 1,000 held.") {
		t.Errorf("troubles not told:\n%s", md3)
	}
	dir := t.TempDir()
	readme := filepath.Join(dir, "README.md")
	if err := os.WriteFile(readme, []byte("# Benchmarks\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := writeSection(readme, "compare", md); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(readme)
	if strings.Count(string(b), "<!-- compare:begin") != 1 || strings.Count(string(b), "| figure |") != 1 {
		t.Errorf("section not replaced in place:\n%s", b)
	}
	if err := rep.plots(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"compare-latency.png", "compare-memory.png"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() < 1000 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestBaselineReport: against an earlier siogo the second column is that
// revision's, and the targets are issue 18's: memory bounds, CPU within
// 10%, broadcast p99 no worse.
func TestBaselineReport(t *testing.T) {
	rep := report{
		Date: time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC), CPU: "2 × test", Load: "1 1 1", Command: "make compare", Versions: "go", Rounds: 1, Scale: "full", Baseline: "519b95f",
		Runs: map[string]map[string][]result{
			"siogo": {"conns": {{"memory_per_conn_kb": 3.0}}, "echo": {{"cpu_per_ack_us": 23.0}}, "fanout": {{"latency_p99_ms": 200.0}}},
			"base":  {"conns": {{"memory_per_conn_kb": 2.9}}, "echo": {{"cpu_per_ack_us": 20.0}}, "fanout": {{"latency_p99_ms": 210.0}}},
		},
	}
	md := rep.markdown()
	for _, want := range []string{
		"| figure | siogo | siogo 519b95f | siogo / siogo 519b95f | target | met |",
		"| resident memory per idle WebSocket client (`conns`) | **3.00** KB | **2.90** KB | 1.03 | ≤ 3.2 KB | yes |",
		"| server CPU per echo with ack (`echo`) | **23.0** us | **20.0** us | 1.15 | ≤ 1.1 × siogo 519b95f | **no** |",
		"| broadcast latency p99 | **200** ms | **210** ms | 0.95 | ≤ 1 × siogo 519b95f | yes |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("missing %q in\n%s", want, md)
		}
	}
	if strings.Contains(md, "compare-latency.png") {
		t.Error("figures linked in a baseline run, which draws none")
	}
}

// TestMarkWatcher: the mark is found across writes, among progress bars,
// and starts the profile once.
func TestMarkWatcher(t *testing.T) {
	started := 0
	w := &markWatcher{mark: []byte("\nsiobench: measuring echo\n"), start: func() <-chan struct{} {
		started++
		return make(chan struct{})
	}}
	for _, chunk := range []string{"echo: connecting [===] 1/1\r", "\nsiobench: meas", "uring echo", "\n", "echo: acks 12\r", "\nsiobench: measuring echo\n"} {
		if n, err := w.Write([]byte(chunk)); n != len(chunk) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if started != 1 || w.done == nil {
		t.Errorf("started %d times", started)
	}
	w2 := &markWatcher{mark: []byte("\nsiobench: measuring echo\n"), start: func() <-chan struct{} { t.Error("started"); return nil }}
	_, _ = w2.Write([]byte("\nsiobench: measuring echoes\n"))
}

func TestProfilesReadme(t *testing.T) {
	dir := t.TempDir()
	profileFor = 3 * time.Second
	rep := report{Date: time.Date(2026, 12, 1, 23, 24, 0, 0, time.UTC), Scale: "full", Versions: "siogo abc", CPU: "2 × test", Load: "1 1 1"}
	writeProfilesReadme(dir, &rep, []string{"conns", "echo"})
	b, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"run of 2026-12-01 23:24 UTC (full scale; siogo abc;", "3s of CPU", "- `echo`: [CPU](echo-cpu.txt), [heap](echo-heap.txt)\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("profiles README lacks %q:\n%s", want, b)
		}
	}
}
