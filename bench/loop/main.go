// Command loop compares siogo's event loop (internal/netpoll) with
// lesismal/nbio and with a goroutine per connection, each serving the same
// bare TCP echo, plain and over TLS (crypto/tls for siogo and the
// goroutines, llib's fork for nbio): the server's memory per idle
// connection (resident, and Go heap and stacks), and its CPU per echoed
// message. Each server runs in a child process; the driver reads the
// child's VmRSS and CPU time from /proc and its Go memory statistics from
// a control endpoint.
//
//	cd bench/loop && go run . -n 10000
package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/siogo/siogo/internal/benchutil"
)

const payload = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" // 64 bytes

func main() {
	n := flag.Int("n", 10000, "idle connections")
	names := flag.String("servers", "netpoll,nbio,goroutine", "servers to compare")
	modes := flag.String("modes", "plain,tls", "plain, tls or both")
	echoConns := flag.Int("echo-conns", 1000, "connections that send in the echo test")
	echoes := flag.Int("echoes", 2000, "messages each of them sends (enough for a CPU time counted in 10 ms ticks)")
	rounds := flag.Int("rounds", 1, "rounds of every server and mode, interleaved")
	serve := flag.String("serve", "", "run this server (used by the driver)")
	useTLS := flag.Bool("tls", false, "serve TLS (used by the driver)")
	addr := flag.String("addr", "", "echo address (default: a free port)")
	ctl := flag.String("ctl", "", "control address (used by the driver)")
	flag.IntVar(&pollers, "pollers", 0, "netpoll's pollers (default GOMAXPROCS)")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write the server's CPU profile of the echo test to this file prefix")
	flag.Parse()
	benchutil.RaiseFileLimit()
	if *serve != "" {
		runServer(*serve, *useTLS, *addr, *ctl)
		return
	}
	fmt.Printf("%-10s %-5s %9s %9s %9s %10s   (n=%d, %s, %d cores)\n", "server", "mode", "RSS KB", "heap KB", "stack KB", "us/echo", *n, runtime.Version(), runtime.NumCPU())
	for r := 0; r < *rounds; r++ {
		for _, name := range strings.Split(*names, ",") {
			for _, mode := range strings.Split(*modes, ",") {
				a := *addr
				if a == "" {
					a = fmt.Sprintf("127.0.0.1:%d", benchutil.FreePort())
				}
				res := measure(name, mode == "tls", a, *n, *echoConns, *echoes)
				fmt.Printf("%-10s %-5s %9.2f %9.2f %9.2f %10.2f\n", name, mode, res.rss/1000, res.heap/1000, res.stack/1000, res.usPerEcho)
			}
		}
	}
}

// memStats is what the child reports of its Go memory after a collection.
type memStats struct {
	HeapAlloc  uint64 // live heap
	StackInuse uint64
}

func runServer(name string, tlsOn bool, addr, ctl string) {
	mk, ok := servers[name]
	if !ok {
		log.Fatalf("unknown server %q", name)
	}
	mk(addr, tlsOn)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/mem", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		_ = json.NewEncoder(w).Encode(memStats{ms.HeapAlloc, ms.StackInuse})
	})
	log.Fatal(http.ListenAndServe(ctl, mux))
}

type result struct{ rss, heap, stack, usPerEcho float64 }

func measure(name string, tlsOn bool, addr string, n, echoConns, echoes int) result {
	self, _ := os.Executable()
	ctl := fmt.Sprintf("127.0.0.1:%d", benchutil.FreePort())
	args := []string{"-serve", name, "-addr", addr, "-ctl", ctl, "-pollers", fmt.Sprint(pollers)}
	if tlsOn {
		args = append(args, "-tls")
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }()
	pid := cmd.Process.Pid
	benchutil.WaitListening(ctl)
	benchutil.WaitListening(addr)
	m0 := mem(ctl)
	rss0 := benchutil.RSS(pid)

	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			conns[i] = dial(addr, i, tlsOn)
		}()
	}
	wg.Wait()
	time.Sleep(2 * time.Second)
	m1 := mem(ctl)
	time.Sleep(time.Second)
	var r result
	r.rss = float64(benchutil.RSS(pid)-rss0) / float64(n)
	r.heap = (float64(m1.HeapAlloc) - float64(m0.HeapAlloc)) / float64(n)
	r.stack = (float64(m1.StackInuse) - float64(m0.StackInuse)) / float64(n)

	profiled := make(chan struct{})
	if cpuProfile != "" {
		mode := "plain"
		if tlsOn {
			mode = "tls"
		}
		go func() {
			defer close(profiled)
			fetch(ctl, "/debug/pprof/profile?seconds=2", fmt.Sprintf("%s-%s-%s.pprof", cpuProfile, name, mode))
		}()
	} else {
		close(profiled)
	}
	cpu0 := benchutil.CPUTime(pid)
	for _, c := range conns[:min(echoConns, n)] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			echoN(c, echoes)
		}()
	}
	wg.Wait()
	r.usPerEcho = float64(benchutil.CPUTime(pid)-cpu0) / float64(min(echoConns, n)*echoes) / 1e3
	<-profiled
	for _, c := range conns {
		c.Close()
	}
	return r
}

// dial opens connection i (from one of eight loopback sources, to stay
// clear of the ephemeral port range) and has it echo once, so that it has
// been through the server's read and write paths before it idles.
func dial(addr string, i int, tlsOn bool) net.Conn {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%8))}, Timeout: 30 * time.Second}
	var c net.Conn
	var err error
	if tlsOn {
		c, err = tls.DialWithDialer(&d, "tcp", addr, &tls.Config{InsecureSkipVerify: true})
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		log.Fatalf("dial %d: %v", i, err)
	}
	echoN(c, 1)
	return c
}

// echoN sends k messages back to back and reads their echoes.
func echoN(c net.Conn, k int) {
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	errc := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(c, len(payload))
		for i := 0; i < k; i++ {
			if _, err := w.WriteString(payload); err != nil {
				errc <- err
				return
			}
			if err := w.Flush(); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	if _, err := io.CopyN(io.Discard, c, int64(k*len(payload))); err != nil {
		log.Fatalf("echo: %v", err)
	}
	if err := <-errc; err != nil {
		log.Fatalf("send: %v", err)
	}
	_ = c.SetDeadline(time.Time{})
}

func mem(ctl string) memStats {
	res, err := http.Get("http://" + ctl + "/mem")
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	var m memStats
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		log.Fatal(err)
	}
	return m
}

var cpuProfile string

func fetch(ctl, path, file string) {
	res, err := http.Get("http://" + ctl + path)
	if err != nil {
		log.Fatal(err)
	}
	defer res.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, res.Body); err != nil {
		log.Fatal(err)
	}
}
