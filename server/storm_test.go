package server_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/siotest"
	"github.com/siogo/siogo/transports"
)

// TestReconnectionStorm: N clients connected over WebSocket are dropped at
// once (their TCP connections closed together) and reconnect at once. The
// node keeps accepting: none is refused, and once they are gone again,
// goroutines and open files are back at their idle level, and the heap
// within 4 MB of it; a second storm adds nothing to what the first left
// (the high-water mark of tables sized for N clients). The
// clients run in a child process (this test binary again), so that the
// 10,000 of make reliability (SIOGO_RELIABILITY=full) fit the file limit
// beside the server's own 10,000; CI runs 500.
func TestReconnectionStorm(t *testing.T) {
	if os.Getenv("SIOGO_STORM_CLIENTS") != "" {
		stormClients(t)
		return
	}
	n := 500
	if full() {
		n = 10000
	}
	// Nobody vanishes here: a heartbeat that 10,000 clients connecting at
	// once on two cores can keep.
	srv, base := reliabilityServer(t, transports.Options{PingInterval: 5 * time.Second, PingTimeout: 20 * time.Second})
	warm, err := siotest.OpenSocketIO(base, 0)
	if err != nil {
		t.Fatal(err)
	}
	warm.Close()
	waitEmpty(t, srv, 10*time.Second)

	child := exec.Command(os.Args[0], "-test.run=^TestReconnectionStorm$")
	child.Env = append(os.Environ(), "SIOGO_STORM_CLIENTS="+strconv.Itoa(n), "SIOGO_STORM_URL="+base)
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	lines := bufio.NewScanner(stdout)
	report := func() stormReport {
		t.Helper()
		for lines.Scan() {
			var r stormReport
			if json.Unmarshal(lines.Bytes(), &r) == nil && r.Phase != "" {
				return r
			}
		}
		t.Fatalf("the clients' process ended: %v", lines.Err())
		return stormReport{}
	}
	step := func(cmd string) { _, _ = io.WriteString(stdin, cmd+"\n") }

	// The child's pipes are open files of this process too.
	before := measureIdle()
	// Twice: what stays after the first storm is the high-water mark of
	// tables sized for n clients (Go maps keep their buckets); a second
	// storm must not add to it.
	var afters []idle
	for round := 1; round <= 2; round++ {
		step("connect")
		first := report()
		if first.Failed > 0 {
			t.Fatalf("round %d, connecting: %d of %d failed: %s", round, first.Failed, n, first.Example)
		}
		peak := measureIdle()
		step("storm")
		storm := report()
		if storm.Failed > 0 {
			t.Fatalf("round %d, after the drop: %d of %d reconnections failed: %s", round, storm.Failed, n, storm.Example)
		}
		step("close")
		report()
		waitEmpty(t, srv, 30*time.Second)
		slack := uint64(4 << 20)
		if full() {
			slack = 1 << 40 // recorded, not bounded: the second round is
		}
		if round == 2 {
			slack = afters[0].heap - before.heap + 1<<20
		}
		after := backToIdle(t, before, slack)
		afters = append(afters, after)
		t.Logf("round %d, %d clients: connected in %v; dropped at once and reconnected at once in %v, none refused; heap %.1f MB idle, %.1f MB with them, %.1f MB after; goroutines %d -> %d, open files %d -> %d",
			round, n, time.Duration(first.Millis)*time.Millisecond, time.Duration(storm.Millis)*time.Millisecond,
			float64(before.heap)/1e6, float64(peak.heap)/1e6, float64(after.heap)/1e6, before.nGoroutine, after.nGoroutine, before.fds, after.fds)
	}
}

type stormReport struct {
	Phase   string `json:"phase"`
	Failed  int    `json:"failed"`
	Example string `json:"example"`
	Millis  int64  `json:"millis"`
}

// stormClients is the child process: on "connect" it connects n clients
// at once and reports, on "storm" closes them all at once and connects them again
// at once, on "close" closes them.
func stormClients(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SIOGO_STORM_CLIENTS"))
	base := os.Getenv("SIOGO_STORM_URL")
	conns := make([]*siotest.WS, n)
	connectAll := func(phase string) {
		start := time.Now()
		var mu sync.Mutex
		r := stormReport{Phase: phase}
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for i := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				c, err := siotest.OpenSocketIO(base, 0)
				if err == nil {
					go func() { // answer the heartbeat, as a client does
						for {
							if _, err := c.Next(); err != nil {
								return
							}
						}
					}()
				}
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					r.Failed++
					var refused *siotest.RefusedError
					if r.Example == "" || errors.As(err, &refused) {
						r.Example = err.Error()
					}
					return
				}
				conns[i] = c
			}()
		}
		close(gate)
		wg.Wait()
		r.Millis = time.Since(start).Milliseconds()
		b, _ := json.Marshal(r)
		fmt.Println(string(b))
	}
	closeAll := func() {
		var wg sync.WaitGroup
		gate := make(chan struct{})
		for i, c := range conns {
			if c == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-gate
				_ = c.Conn.Close() // dropped: no close frame, no Socket.IO disconnect
				conns[i] = nil
			}()
		}
		close(gate)
		wg.Wait()
	}
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "connect":
			connectAll("connected")
		case "storm":
			closeAll()
			connectAll("reconnected")
		case "close":
			closeAll()
			fmt.Println(`{"phase":"closed"}`)
		}
	}
}
