// Command idlemem measures a server's resident memory per idle Engine.IO
// WebSocket session: it starts the server as a child process, opens -n
// sessions (spread over loopback source addresses 127.0.0.2...), lets them
// idle, and reports the growth of the server's VmRSS divided by -n.
//
//	go run ./bench/idlemem -n 10000               # siogo
//	go run ./bench/idlemem -n 10000 -server node  # Node's engine.io 6, same clients
//	go run ./bench/idlemem -n 10000 -layer socketio [-server node]  # with a Socket.IO socket each
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siogo/siogo/internal/benchutil"
	"github.com/siogo/siogo/server"
	"github.com/siogo/siogo/transports"
)

func main() {
	n := flag.Int("n", 10000, "idle sessions to open")
	server := flag.String("server", "siogo", "server to measure: siogo or node")
	addr := flag.String("addr", "127.0.0.1:3100", "server address")
	serve := flag.Bool("serve", false, "run the siogo server (used by the driver)")
	sources := flag.Int("sources", 8, "loopback source addresses to spread clients over")
	blast := flag.Int("blast", 0, "then, with -layer socketio: broadcasts to every client, timed (deliveries/s, server CPU)")
	layer := flag.String("layer", "engineio", "what each client opens: engineio (a session) or socketio (a session and a socket in \"/\")")
	flag.Parse()
	benchutil.RaiseFileLimit()
	if *serve {
		serveSiogo(*addr, *layer)
		return
	}

	cmd := serverCommand(*server, *addr, *layer)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		log.Fatalf("starting the %s server: %v", *server, err)
	}
	defer func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }()
	benchutil.WaitListening(*addr)
	collect(*addr)
	before := benchutil.RSS(cmd.Process.Pid)

	start := time.Now()
	conns := make([]net.Conn, 0, *n)
	for i := 0; i < *n; i++ {
		src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%*sources))}
		c, err := openSession(*addr, src, *layer)
		if err != nil {
			log.Fatalf("session %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	dial := time.Since(start)
	time.Sleep(3 * time.Second)
	collect(*addr)
	time.Sleep(time.Second)
	after := benchutil.RSS(cmd.Process.Pid)
	per := float64(after-before) / float64(*n)
	fmt.Printf("server=%s layer=%s sessions=%d rss_before=%.1fMiB rss_after=%.1fMiB per_session=%.2fKB dial=%s go=%s\n",
		*server, *layer, *n, float64(before)/(1<<20), float64(after)/(1<<20), per/1000, dial.Round(time.Millisecond), runtime.Version())
	if *blast > 0 && *layer == "socketio" {
		measureBlast(cmd.Process.Pid, conns, *blast, *server)
	}
	for _, c := range conns {
		_ = c.Close()
	}
}

// measureBlast has the first client ask for n broadcasts of a small event
// to every client, and times their delivery to all.
func measureBlast(pid int, conns []net.Conn, n int, server string) {
	var got atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			br := bufio.NewReaderSize(c, 16<<10)
			mine := 0
			for mine < n {
				h := make([]byte, 2)
				if _, err := io.ReadFull(br, h); err != nil {
					return
				}
				l := int(h[1] & 0x7f)
				if l == 126 {
					b := make([]byte, 2)
					_, _ = io.ReadFull(br, b)
					l = int(b[0])<<8 | int(b[1])
				}
				p := make([]byte, l)
				if _, err := io.ReadFull(br, p); err != nil {
					return
				}
				if bytes.HasPrefix(p, []byte(`42["tick"`)) {
					mine++
					got.Add(1)
				}
			}
		}(c)
	}
	cpu0 := benchutil.CPUTime(pid)
	start := time.Now()
	msg := fmt.Sprintf(`42["blast",%d]`, n)
	frame := append([]byte{0x81, 0x80 | byte(len(msg)), 0, 0, 0, 0}, msg...)
	if _, err := conns[0].Write(frame); err != nil {
		log.Fatal(err)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		log.Fatalf("only %d of %d deliveries", got.Load(), n*len(conns))
	}
	d := time.Since(start)
	total := float64(n * len(conns))
	fmt.Printf("server=%s blast: %d broadcasts to %d clients: %.0f deliveries/s, server CPU %.2f us/delivery (%v)\n",
		server, n, len(conns), total/d.Seconds(), float64(benchutil.CPUTime(pid)-cpu0)/total/1e3, d.Round(time.Millisecond))
}

func serverCommand(server, addr, layer string) *exec.Cmd {
	switch server {
	case "siogo":
		self, err := os.Executable()
		if err != nil {
			log.Fatal(err)
		}
		return exec.Command(self, "-serve", "-addr", addr, "-layer", layer)
	case "node":
		_, file, _, _ := runtime.Caller(0)
		dir := filepath.Join(filepath.Dir(file), "..", "..", "test", "node")
		if _, err := os.Stat(filepath.Join(dir, "node_modules", "engine.io")); err != nil {
			log.Fatalf("Node's engine.io is not installed: run: cd %s && npm ci", dir)
		}
		script := "eio-server.js"
		if layer == "socketio" {
			script = "sio-server.js"
		}
		cmd := exec.Command("node", "--expose-gc", script, addr)
		cmd.Dir = dir
		return cmd
	}
	log.Fatalf("unknown server %q", server)
	return nil
}

// serveSiogo runs an echo server with Node's defaults, Engine.IO alone or
// Socket.IO, and /gc to return freed memory to the system before a reading.
func serveSiogo(addr, layer string) {
	mux := http.NewServeMux()
	if layer == "socketio" {
		srv, err := server.New(server.Options{})
		if err != nil {
			log.Fatal(err)
		}
		srv.OnConnection(func(s *server.Socket) {
			s.On("message", func(args []any, _ server.Ack) { _ = s.Emit("message", args...) })
			s.On("blast", func(args []any, _ server.Ack) {
				n, _ := args[0].(float64)
				for i := 0; i < int(n); i++ {
					_ = srv.Emit("tick", i)
				}
			})
		})
		mux.Handle("/socket.io/", srv)
	} else {
		srv, err := transports.NewServer(transports.Options{
			OnSession: func(s *transports.Session) {
				s.OnMessage(func(data []byte, binary bool) {
					_ = s.Send(transports.Packet{Type: transports.PacketMessage, Data: bytes.Clone(data), Binary: binary})
				})
			},
		})
		if err != nil {
			log.Fatal(err)
		}
		mux.Handle("/engine.io/", srv)
	}
	mux.HandleFunc("/gc", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		debug.FreeOSMemory()
		_, _ = io.WriteString(w, "ok")
	})
	log.Fatal(http.ListenAndServe(addr, mux))
}

func openSession(addr string, src *net.TCPAddr, layer string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: src, Timeout: 10 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	path := "/engine.io/"
	if layer == "socketio" {
		path = "/socket.io/"
	}
	fmt.Fprintf(c, "GET %s?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", path, addr)
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		return nil, fmt.Errorf("handshake: %s", res.Status)
	}
	h := make([]byte, 2)
	if _, err := io.ReadFull(br, h); err != nil {
		return nil, err
	}
	if _, err := io.ReadFull(br, make([]byte, h[1]&0x7f)); err != nil { // the open packet
		return nil, err
	}
	if layer == "socketio" {
		// "40", masked with a zero key; then the CONNECT answer.
		if _, err := c.Write([]byte{0x81, 0x82, 0, 0, 0, 0, '4', '0'}); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(br, h); err != nil {
			return nil, err
		}
		if _, err := io.ReadFull(br, make([]byte, h[1]&0x7f)); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func collect(addr string) {
	res, err := http.Get("http://" + addr + "/gc")
	if err == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}
