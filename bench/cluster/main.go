// Command cluster measures a broadcast crossing nodes: two siogo nodes
// share a real redis-server, -clients WebSocket clients connect to node B,
// and node A emits events carrying their send time. A paced run gives the
// latency percentiles, a burst run the deliveries per second.
//
//	go run ./bench/cluster -clients 1000
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siogo/siogo/adapters/redis"
	"github.com/siogo/siogo/internal/benchutil"
	"github.com/siogo/siogo/server"
)

func main() {
	clients := flag.Int("clients", 1000, "WebSocket clients on node B")
	paced := flag.Int("paced", 200, "events of the latency run")
	rate := flag.Int("rate", 100, "events per second of the latency run")
	burst := flag.Int("burst", 2000, "events of the throughput run")
	flag.Parse()
	benchutil.RaiseFileLimit()

	port := benchutil.FreePort()
	rs := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := rs.Start(); err != nil {
		log.Fatalf("redis-server: %v (apt-get install -y redis-server)", err)
	}
	defer rs.Process.Kill()
	benchutil.WaitListening(fmt.Sprintf("127.0.0.1:%d", port))
	url := fmt.Sprintf("redis://127.0.0.1:%d/0", port)
	a, _ := startNode(url)
	_, addrB := startNode(url)
	time.Sleep(500 * time.Millisecond)

	var (
		mu        sync.Mutex
		latencies []time.Duration
		received  atomic.Int64
		record    atomic.Bool
	)
	record.Store(true)
	for i := 0; i < *clients; i++ {
		c := dial(addrB, i)
		go func() {
			br := bufio.NewReaderSize(c, 4096)
			for {
				payload, err := readFrame(br)
				if err != nil {
					return
				}
				s := string(payload)
				if !strings.HasPrefix(s, `42["t",`) {
					continue
				}
				ns, _ := strconv.ParseInt(strings.TrimSuffix(s[len(`42["t",`):], "]"), 10, 64)
				received.Add(1)
				if record.Load() {
					d := time.Duration(time.Now().UnixNano() - ns)
					mu.Lock()
					latencies = append(latencies, d)
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(time.Second)

	// Latency, paced.
	tick := time.NewTicker(time.Second / time.Duration(*rate))
	for i := 0; i < *paced; i++ {
		<-tick.C
		_ = a.Emit("t", time.Now().UnixNano())
	}
	tick.Stop()
	waitCount(&received, int64(*paced**clients))
	mu.Lock()
	slices.Sort(latencies)
	p := func(q float64) time.Duration {
		return latencies[int(q*float64(len(latencies)-1))].Round(10 * time.Microsecond)
	}
	fmt.Printf("latency, %d events at %d/s to %d clients across nodes: p50 %v  p90 %v  p99 %v  max %v\n",
		*paced, *rate, *clients, p(.5), p(.9), p(.99), latencies[len(latencies)-1].Round(10*time.Microsecond))
	mu.Unlock()

	// Throughput, a burst.
	record.Store(false)
	received.Store(0)
	start := time.Now()
	for i := 0; i < *burst; i++ {
		_ = a.Emit("t", time.Now().UnixNano())
	}
	waitCount(&received, int64(*burst**clients))
	d := time.Since(start)
	fmt.Printf("throughput, %d events burst to %d clients across nodes: %.0f deliveries/s (%v)\n",
		*burst, *clients, float64(*burst**clients)/d.Seconds(), d.Round(time.Millisecond))
}

func startNode(url string) (*server.Server, string) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	rc, err := redis.NewClient(redis.Options{URL: url, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	srv, err := server.New(server.Options{NewAdapter: rc.NewAdapter, Logger: quiet})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	go http.Serve(ln, mux)
	for rc.Ready() != nil {
		time.Sleep(10 * time.Millisecond)
	}
	return srv, ln.Addr().String()
}

// dial opens a protocol-5 WebSocket session and joins "/".
func dial(addr string, i int) net.Conn {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%8))}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(c, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 101 {
		log.Fatalf("upgrade: %v", err)
	}
	if _, err := readFrame(br); err != nil { // the open packet
		log.Fatal(err)
	}
	// "40", masked.
	_, _ = c.Write([]byte{0x81, 0x82, 0, 0, 0, 0, '4', '0'})
	if _, err := readFrame(br); err != nil { // 40{"sid":...}
		log.Fatal(err)
	}
	return c
}

func readFrame(br *bufio.Reader) ([]byte, error) {
	h := make([]byte, 2)
	if _, err := io.ReadFull(br, h); err != nil {
		return nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		b := make([]byte, 2)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		n = uint64(binary.BigEndian.Uint16(b))
	case 127:
		b := make([]byte, 8)
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, err
		}
		n = binary.BigEndian.Uint64(b)
	}
	p := make([]byte, n)
	_, err := io.ReadFull(br, p)
	return p, err
}

func waitCount(v *atomic.Int64, want int64) {
	deadline := time.Now().Add(2 * time.Minute)
	for v.Load() < want {
		if time.Now().After(deadline) {
			log.Fatalf("only %d of %d deliveries", v.Load(), want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
