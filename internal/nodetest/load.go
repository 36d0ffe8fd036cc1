package nodetest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"
)

// LoadConfig is the argument of test/node/load-clients.js.
type LoadConfig struct {
	URLs              []string `json:"urls"`
	PerURL            int      `json:"perUrl"`
	SenderURL         string   `json:"senderUrl,omitempty"`
	IntervalMs        int      `json:"intervalMs"`
	Transports        []string `json:"transports,omitempty"`
	ReconnectionDelay int      `json:"reconnectionDelay,omitempty"`
	// ReconnectionDelayMax caps the client's backoff (socket.io-client's
	// default 5000).
	ReconnectionDelayMax int      `json:"reconnectionDelayMax,omitempty"`
	LocalAddresses       []string `json:"localAddresses,omitempty"`
	// SettleMs is how long End waits for clients still reconnecting.
	SettleMs int `json:"settleMs,omitempty"`
}

// LoadClient is what one client of a load run saw; times are Unix ms.
type LoadClient struct {
	URL         string     `json:"url"`
	Got         [][2]int64 `json:"got"` // [seq, arrival]
	Connects    []int64    `json:"connects"`
	Disconnects []int64    `json:"disconnects"`
	Connected   bool       `json:"connected"`
	// ConnectErrors counts failed (re)connection attempts, the last one's
	// message in LastError.
	ConnectErrors int    `json:"connectErrors"`
	LastError     string `json:"lastError"`
}

// LoadReport is the output of a load run.
type LoadReport struct {
	OK      bool         `json:"ok"`
	Error   string       `json:"error"`
	Sent    int          `json:"sent"`
	Clients []LoadClient `json:"clients"`
	Sender  struct {
		Connects    []int64 `json:"connects"`
		Disconnects []int64 `json:"disconnects"`
	} `json:"sender"`
	Acks [][3]int64 `json:"acks"` // [seq, sent, acked]
}

// Load is a running load-clients.js: clients connected to every URL and a
// steady stream of acknowledged broadcasts.
type Load struct {
	t      testing.TB
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte
	stderr bytes.Buffer
	done   chan error

	once    sync.Once
	exitErr error
}

// StartLoad starts the clients and returns once all are connected.
func StartLoad(t testing.TB, cfg LoadConfig) *Load {
	t.Helper()
	dir := Require(t)
	a, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	l := &Load{t: t, lines: make(chan []byte, 4), done: make(chan error, 1)}
	l.cmd = exec.Command("node", "load-clients.js", string(a))
	l.cmd.Dir = dir
	l.cmd.Stderr = &l.stderr
	if l.stdin, err = l.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := l.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		r := bufio.NewReaderSize(out, 1<<20)
		for {
			line, err := r.ReadBytes('\n')
			if len(bytes.TrimSpace(line)) > 0 {
				l.lines <- bytes.TrimSpace(line)
			}
			if err != nil {
				close(l.lines)
				l.done <- l.cmd.Wait()
				return
			}
		}
	}()
	t.Cleanup(l.stop)
	select {
	case line, ok := <-l.lines:
		if !ok {
			err := <-l.done
			t.Fatalf("load-clients.js exited at start: %v\nstderr: %s", err, l.stderr.Bytes())
		}
		if string(line) != "ready" {
			l.stop()
			t.Fatalf("load-clients.js did not start: %s\nstderr: %s", line, l.stderr.Bytes())
		}
	case <-time.After(30 * time.Second):
		l.stop()
		t.Fatalf("load-clients.js: no client connected within 30s\nstderr: %s", l.stderr.Bytes())
	}
	return l
}

// stop kills the process unless it has exited, and waits for it: after
// stop, stderr may be read.
func (l *Load) stop() {
	l.once.Do(func() {
		_ = l.cmd.Process.Kill()
		for range l.lines {
		}
		l.exitErr = <-l.done
	})
}

// End stops the stream and returns the report.
func (l *Load) End() *LoadReport {
	l.t.Helper()
	_, _ = l.stdin.Write([]byte("end\n"))
	var last []byte
	timeout := time.After(30 * time.Second)
	for {
		select {
		case line, ok := <-l.lines:
			if !ok {
				l.stop()
				var rep LoadReport
				if err := json.Unmarshal(last, &rep); err != nil {
					l.t.Fatalf("load-clients.js: bad report %.200q: %v\nstderr: %s", last, err, l.stderr.Bytes())
				}
				if !rep.OK {
					l.t.Fatalf("load-clients.js: %s", rep.Error)
				}
				return &rep
			}
			last = line
		case <-timeout:
			l.stop()
			l.t.Fatalf("load-clients.js did not report\nstderr: %s", l.stderr.Bytes())
		}
	}
}

// MaxGap is the longest time in ms c went without a broadcast between
// from and to (Unix ms), the edges included.
func (c *LoadClient) MaxGap(from, to int64) int64 {
	prev, gap := from, int64(0)
	for _, g := range c.Got {
		if g[1] < from || g[1] > to {
			continue
		}
		gap = max(gap, g[1]-prev)
		prev = g[1]
	}
	return max(gap, to-prev)
}

// FirstAfter is the arrival of c's first broadcast at or after at, or -1.
func (c *LoadClient) FirstAfter(at int64) int64 {
	i, _ := slices.BinarySearchFunc(c.Got, at, func(g [2]int64, at int64) int {
		switch {
		case g[1] < at:
			return -1
		case g[1] > at:
			return 1
		}
		return 0
	})
	if i < len(c.Got) {
		return c.Got[i][1]
	}
	return -1
}

// Seqs is the set of broadcasts c received.
func (c *LoadClient) Seqs() map[int64]bool {
	m := make(map[int64]bool, len(c.Got))
	for _, g := range c.Got {
		m[g[0]] = true
	}
	return m
}
