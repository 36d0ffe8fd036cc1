// Command wslibs compares Go WebSocket libraries for siogo's transport on
// the figures that decide it: server memory per idle connection, server CPU
// per message broadcast to many connections (each library's encode-once
// facility where it has one), and server CPU per echoed message. Each
// library serves in a child process; the driver reads the child's VmRSS
// and CPU time from /proc.
//
//	cd bench/wslibs && go run . -n 10000
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const payload = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" // 64 bytes

func main() {
	n := flag.Int("n", 10000, "connections")
	libs := flag.String("libs", "nbio,gobwas,gws,gorilla,coder", "libraries to compare")
	broadcasts := flag.Int("broadcasts", 20, "messages broadcast to every connection")
	echoConns := flag.Int("echo-conns", 1000, "connections that send in the echo test")
	echoes := flag.Int("echoes", 20, "messages each of them sends")
	serve := flag.String("serve", "", "run this library's server (used by the driver)")
	addr := flag.String("addr", "127.0.0.1:3200", "server address")
	flag.Parse()
	raiseFileLimit()
	if *serve != "" {
		runServer(*serve, *addr)
		return
	}
	fmt.Printf("%-8s %10s %14s %12s   (n=%d, %s, %d cores)\n", "library", "KB/conn", "us/broadcast", "us/echo", *n, runtime.Version(), runtime.NumCPU())
	for _, lib := range strings.Split(*libs, ",") {
		r := measure(lib, *addr, *n, *broadcasts, *echoConns, *echoes)
		fmt.Printf("%-8s %10.2f %14.2f %12.2f\n", lib, r.kbPerConn, r.usPerDelivery, r.usPerEcho)
	}
}

func runServer(lib, addr string) {
	mk, ok := servers[lib]
	if !ok {
		log.Fatalf("unknown library %q", lib)
	}
	s := mk()
	mux := http.NewServeMux()
	mux.Handle("/ws", s)
	mux.HandleFunc("/broadcast", func(w http.ResponseWriter, r *http.Request) {
		m, _ := strconv.Atoi(r.URL.Query().Get("m"))
		for i := 0; i < m; i++ {
			s.broadcast([]byte(payload))
		}
	})
	mux.HandleFunc("/gc", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		debug.FreeOSMemory()
	})
	log.Fatal(http.ListenAndServe(addr, mux))
}

type result struct{ kbPerConn, usPerDelivery, usPerEcho float64 }

func measure(lib, addr string, n, broadcasts, echoConns, echoes int) result {
	self, _ := os.Executable()
	cmd := exec.Command(self, "-serve", lib, "-addr", addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }()
	pid := cmd.Process.Pid
	waitListening(addr)
	get(addr, "/gc")
	rss0 := rss(pid)

	conns := make([]*client, n)
	for i := range conns {
		conns[i] = dial(addr, &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%8))})
	}
	time.Sleep(3 * time.Second)
	get(addr, "/gc")
	time.Sleep(time.Second)
	var r result
	r.kbPerConn = float64(rss(pid)-rss0) / float64(n) / 1000

	frame := int64(2 + len(payload))
	var wg sync.WaitGroup
	expect := func(c *client, bytes int64) {
		wg.Add(1)
		go func() { defer wg.Done(); c.discard(bytes) }()
	}
	for _, c := range conns {
		expect(c, int64(broadcasts)*frame)
	}
	cpu0 := cpuTime(pid)
	get(addr, fmt.Sprintf("/broadcast?m=%d", broadcasts))
	wg.Wait()
	r.usPerDelivery = float64(cpuTime(pid)-cpu0) / float64(broadcasts*n) / 1e3

	for _, c := range conns[:echoConns] {
		expect(c, int64(echoes)*frame)
	}
	cpu0 = cpuTime(pid)
	for _, c := range conns[:echoConns] {
		go c.sendN(echoes)
	}
	wg.Wait()
	r.usPerEcho = float64(cpuTime(pid)-cpu0) / float64(echoConns*echoes) / 1e3
	for _, c := range conns {
		c.conn.Close()
	}
	return r
}

type client struct {
	conn net.Conn
	br   *bufio.Reader
}

func dial(addr string, src *net.TCPAddr) *client {
	d := net.Dialer{LocalAddr: src, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 101 {
		log.Fatalf("upgrade: %v %v", err, res)
	}
	return &client{conn: c, br: br}
}

var received atomic.Int64

func (c *client) discard(n int64) {
	_ = c.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.CopyN(io.Discard, c.br, n); err != nil {
		log.Fatalf("reading: %v", err)
	}
	received.Add(n)
}

func (c *client) sendN(k int) {
	mask := []byte{1, 2, 3, 4}
	b := []byte{0x81, 0x80 | byte(len(payload))}
	b = append(b, mask...)
	for i := 0; i < len(payload); i++ {
		b = append(b, payload[i]^mask[i%4])
	}
	for i := 0; i < k; i++ {
		if _, err := c.conn.Write(b); err != nil {
			log.Fatal(err)
		}
	}
}

func get(addr, path string) {
	res, err := http.Get("http://" + addr + path)
	if err != nil {
		log.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
}

func waitListening(addr string) {
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	log.Fatalf("nothing listens on %s", addr)
}

func rss(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// cpuTime is the user and system CPU time of process pid, in nanoseconds.
func cpuTime(pid int) int64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return (ut + st) * int64(time.Second) / 100 // USER_HZ
}

func raiseFileLimit() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err == nil && l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
