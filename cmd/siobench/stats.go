package main

import (
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Histogram counts latencies in microseconds, log-linear: 32 buckets per
// power of two (about 3% wide), lock-free, so that thousands of readers
// record without contention and percentiles cost no sort.
type Histogram struct {
	counts [64 * histSub]atomic.Int64
	n      atomic.Int64
	max    atomic.Int64
}

const histSub = 32

func bucketOf(us int64) int {
	if us < histSub {
		return int(max(us, 0))
	}
	e := bits.Len64(uint64(us)) - 6 // us >> e lies in [32, 64)
	return (e+1)*histSub + int(us>>e) - histSub
}

// bucketUpper is the largest value that falls in bucket i.
func bucketUpper(i int) int64 {
	if i < histSub {
		return int64(i)
	}
	e := i/histSub - 1
	m := int64(i%histSub + histSub)
	return (m+1)<<e - 1
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	us := d.Microseconds()
	h.counts[bucketOf(us)].Add(1)
	h.n.Add(1)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			return
		}
	}
}

// Count is the number of latencies recorded.
func (h *Histogram) Count() int64 { return h.n.Load() }

// Quantile returns the latency at q (0..1) in milliseconds.
func (h *Histogram) Quantile(q float64) float64 {
	n := h.n.Load()
	if n == 0 {
		return math.NaN()
	}
	rank := int64(math.Ceil(q * float64(n)))
	var seen int64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			return float64(min(bucketUpper(i), h.max.Load())) / 1000
		}
	}
	return float64(h.max.Load()) / 1000
}

// Buckets lists the non-empty buckets as [upper bound in ms, count], for
// plotting the distribution.
func (h *Histogram) Buckets() [][2]float64 {
	var out [][2]float64
	for i := range h.counts {
		if c := h.counts[i].Load(); c > 0 {
			out = append(out, [2]float64{float64(bucketUpper(i)) / 1000, float64(c)})
		}
	}
	return out
}

// proc reads a server's resident memory and CPU time from /proc.
type proc struct{ pid int }

// rss is VmRSS in bytes.
func (p proc) rss() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", p.pid)
}

// cpu is utime+stime.
func (p proc) cpu() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("bad /proc/%d/stat", p.pid)
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("bad /proc/%d/stat", p.pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100, nil // USER_HZ
}

// progress draws a bar on stderr while a phase runs: on a terminal it
// redraws in place, elsewhere it prints a line every five seconds.
type progress struct {
	w     io.Writer
	tty   bool
	label string
	total int64
	done  atomic.Int64
	start time.Time
	stop  chan struct{}
	ended chan struct{}
}

func newProgress(w io.Writer, label string, total int64) *progress {
	p := &progress{w: w, label: label, total: total, start: time.Now(), stop: make(chan struct{}), ended: make(chan struct{})}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	if w == nil {
		close(p.ended)
		return p
	}
	go p.run()
	return p
}

func (p *progress) Add(n int64) { p.done.Add(n) }

func (p *progress) run() {
	defer close(p.ended)
	every := 5 * time.Second
	if p.tty {
		every = 200 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			p.draw(true)
			return
		case <-t.C:
			p.draw(false)
		}
	}
}

func (p *progress) draw(last bool) {
	d := p.done.Load()
	el := time.Since(p.start)
	rate := float64(d) / el.Seconds()
	const width = 30
	bar := ""
	count := strconv.FormatInt(d, 10)
	if p.total > 0 {
		f := min(float64(d)/float64(p.total), 1)
		n := int(f * width)
		bar = "[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "] "
		count += "/" + strconv.FormatInt(p.total, 10)
	}
	line := fmt.Sprintf("%-22s %s%s  %.0f/s  %s", p.label, bar, count, rate, el.Round(100*time.Millisecond))
	if p.total == 0 && d == 0 { // a phase that only waits
		line = fmt.Sprintf("%-22s %s", p.label, el.Round(100*time.Millisecond))
	}
	switch {
	case p.tty && last:
		fmt.Fprintf(p.w, "\r\033[K%s\n", line)
	case p.tty:
		fmt.Fprintf(p.w, "\r\033[K%s", line)
	default:
		fmt.Fprintln(p.w, line)
	}
}

// Stop draws the last state and ends the bar.
func (p *progress) Stop() {
	if p.w == nil {
		return
	}
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.ended
}
