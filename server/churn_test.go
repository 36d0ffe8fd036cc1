package server_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/siogo/siogo/internal/siotest"
	"github.com/siogo/siogo/server"
	"github.com/siogo/siogo/transports"
)

// full reports whether the long versions of the reliability tests run
// (make reliability).
func full() bool { return os.Getenv("SIOGO_RELIABILITY") == "full" }

// reliabilityServer is a Socket.IO server with a short heartbeat, so that
// clients that vanish are reaped within 3.25 s (a timeout generous enough
// for a loaded machine), and the demo's echo.
func reliabilityServer(t *testing.T, engine transports.Options) (*server.Server, string) {
	t.Helper()
	if engine.PingInterval == 0 {
		engine.PingInterval, engine.PingTimeout = 250*time.Millisecond, 3*time.Second
	}
	srv, err := server.New(server.Options{Engine: engine})
	if err != nil {
		t.Fatal(err)
	}
	srv.OnConnection(func(s *server.Socket) {
		s.Join("everyone")
		s.On("message", func(args []any, _ server.Ack) { _ = s.Emit("message", args...) })
	})
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.Close()
		_ = srv.Close()
	})
	return srv, hs.URL
}

// idle is what a process holds at rest, for comparison.
type idle struct {
	goroutines goleak.Option
	nGoroutine int
	fds        int
	heap       uint64
}

func measureIdle() idle {
	runtime.GC()
	runtime.GC()
	return idle{goleak.IgnoreCurrent(), runtime.NumGoroutine(), openFDs(), liveHeap()}
}

func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents) - 1 // the directory's own
}

func init() {
	if os.Getenv("SIOGO_HEAP_PROFILES") != "" {
		if r, err := strconv.Atoi(os.Getenv("SIOGO_MEMPROFILERATE")); err == nil {
			runtime.MemProfileRate = r
		}
	}
}

// writeHeapProfile writes the heap's profile, after a GC, to
// $SIOGO_HEAP_PROFILES/<test>-<name>.pprof when that is set, for
// `go tool pprof -diff_base before.pprof after.pprof`.
func writeHeapProfile(t *testing.T, name string) {
	dir := os.Getenv("SIOGO_HEAP_PROFILES")
	if dir == "" {
		return
	}
	runtime.GC()
	f, err := os.Create(filepath.Join(dir, t.Name()+"-"+name+".pprof"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	t.Logf("heap %s: HeapAlloc %.2f MB in %d objects, HeapInuse %.2f MB, HeapIdle %.2f MB, HeapReleased %.2f MB, StackInuse %.2f MB",
		name, float64(ms.HeapAlloc)/1e6, ms.HeapObjects, float64(ms.HeapInuse)/1e6, float64(ms.HeapIdle)/1e6, float64(ms.HeapReleased)/1e6, float64(ms.StackInuse)/1e6)
}

// liveHeap is the bytes of live objects (HeapAlloc, read after the GCs
// of measureIdle). HeapInuse, the bytes of the spans that hold them, grows
// by about 5 MB over 10,000 cycles that the heap profile does not show as
// objects: spans kept by a few survivors each, the runtime's own
// (docs/reliability.md, "The heap left after the churn").
func liveHeap() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// backToIdle waits until the process is back at rest: no goroutine that was
// not there (goleak), as many open files, and a heap within slack of it.
func backToIdle(t *testing.T, before idle, slack uint64) idle {
	t.Helper()
	err := goleak.Find(before.goroutines)
	for deadline := time.Now().Add(10 * time.Second); err != nil && time.Now().Before(deadline); {
		err = goleak.Find(before.goroutines)
	}
	if err != nil {
		t.Errorf("goroutines left over: %v", err)
	}
	var after idle
	for deadline := time.Now().Add(10 * time.Second); ; {
		after = measureIdle()
		if after.fds <= before.fds || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if after.fds != before.fds {
		t.Errorf("open files: %d at rest, %d after", before.fds, after.fds)
	}
	if after.heap > before.heap+slack {
		t.Errorf("heap: %.2f MB at rest, %.2f MB after", float64(before.heap)/1e6, float64(after.heap)/1e6)
	}
	return after
}

// waitEmpty waits until the server holds no session and no socket.
func waitEmpty(t *testing.T, srv *server.Server, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for srv.Engine().Count() > 0 || len(srv.Of("/").Sockets()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("still %d sessions and %d sockets after %v", srv.Engine().Count(), len(srv.Of("/").Sockets()), within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestChurn runs connect/disconnect cycles that mix a WebSocket closed
// cleanly, polling upgraded to WebSocket then closed, and clients that
// vanish without closing, over WebSocket and over polling (their TCP
// connection just stops: kept open, never read nor written again). Once
// the heartbeat has reaped the vanished ones, goroutines (goleak), open
// files and heap are back at their idle level. make test runs 1000 cycles
// (about 9 s under -race); make reliability (SIOGO_RELIABILITY=full)
// 10,000, recorded in docs/reliability.md. It used to fail about one run
// in two, on fresh connections closed by nbio for an event it held for
// the socket that had had their descriptor number (docs/reliability.md,
// "A descriptor reused while nbio still held its events"); siogo's own
// loop closes every descriptor on the goroutine that owns it, and drops
// an event whose generation is not its registration's.
func TestChurn(t *testing.T) {
	cycles := 1000
	if full() {
		cycles = 10000
	}
	if n, err := strconv.Atoi(os.Getenv("SIOGO_CHURN_CYCLES")); err == nil {
		cycles = n
	}
	srv, base := reliabilityServer(t, transports.Options{})
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	hc := &http.Client{Transport: tr, Timeout: 20 * time.Second}

	var mu sync.Mutex
	var vanished []net.Conn // kept open until the server reaped them
	cycle := func(i int) error {
		switch i % 4 {
		case 0: // WebSocket, an echo, a clean close
			c, err := siotest.OpenSocketIO(base, 0)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.WriteText(`42["message","hi"]`); err != nil {
				return err
			}
			if m, err := c.Next(); err != nil || m != `42["message","hi"]` {
				return fmt.Errorf("echo %q, %v", m, err)
			}
			return nil
		case 1: // polling, upgraded, then the client leaves the namespace
			p, err := siotest.OpenPolling(hc, base)
			if err != nil {
				return err
			}
			c, err := p.Upgrade(base)
			if err != nil {
				return err
			}
			defer c.Close()
			return c.WriteText("41")
		case 2: // WebSocket that vanishes
			c, err := siotest.OpenSocketIO(base, 0)
			if err != nil {
				return err
			}
			mu.Lock()
			vanished = append(vanished, c.Conn)
			mu.Unlock()
			return nil
		default: // polling that vanishes: no more polls
			_, err := siotest.OpenPolling(hc, base)
			return err
		}
	}
	// A first round creates what is created once (the loop's pollers,
	// pools).
	for i := 0; i < 8; i++ {
		if err := cycle(i); err != nil {
			t.Fatal(err)
		}
	}
	waitEmpty(t, srv, 10*time.Second)
	for _, c := range vanished {
		c.Close()
	}
	vanished = nil
	tr.CloseIdleConnections()
	before := measureIdle()
	writeHeapProfile(t, "before")

	start := time.Now()
	const workers = 8
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < cycles; i += workers {
				if err := cycle(i); err != nil {
					errs <- fmt.Errorf("cycle %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	ran := time.Since(start)
	// The heartbeat reaps the vanished clients; only then do they go.
	waitEmpty(t, srv, 30*time.Second)
	reaped := time.Since(start)
	mu.Lock()
	defer mu.Unlock()
	for _, c := range vanished {
		c.Close()
	}
	nVanished := len(vanished)
	vanished = nil // the test's own: 2500 closed conns are 0.6 MB of heap
	tr.CloseIdleConnections()
	after := backToIdle(t, before, 2<<20)
	writeHeapProfile(t, "after")
	if os.Getenv("SIOGO_HEAP_PROFILES") != "" { // what is only waiting for a timer
		time.Sleep(15 * time.Second)
		writeHeapProfile(t, "after15s")
	}
	t.Logf("%d cycles (%d vanished) in %v, all reaped after %v; goroutines %d -> %d, open files %d -> %d, heap %.2f MB -> %.2f MB",
		cycles, nVanished, ran.Round(time.Millisecond), reaped.Round(time.Millisecond),
		before.nGoroutine, after.nGoroutine, before.fds, after.fds, float64(before.heap)/1e6, float64(after.heap)/1e6)
}
