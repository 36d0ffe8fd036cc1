package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/websocket"
	"github.com/siogo/siogo/server"
)

// A raw WebSocket client of Engine.IO 4, enough for the benchmarks of the
// per-message and per-connection paths over real sockets.
type wsClient struct {
	nc net.Conn
	br *bufio.Reader
}

func wsDial(b testing.TB, addr string) *wsClient {
	c := wsUpgrade(b, addr, "/socket.io/?EIO=4&transport=websocket")
	if m := c.read(b); m[0] != '0' {
		b.Fatalf("open: %q", m)
	}
	c.send(b, "40")
	if m := c.read(b); !bytes.HasPrefix(m, []byte("40")) {
		b.Fatalf("connect: %q", m)
	}
	return c
}

func wsUpgrade(b testing.TB, addr, path string) *wsClient {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := nc.Write([]byte(req)); err != nil {
		b.Fatal(err)
	}
	c := &wsClient{nc: nc, br: bufio.NewReader(nc)}
	res, err := http.ReadResponse(c.br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		b.Fatalf("upgrade: %v %v", res, err)
	}
	return c
}

func (c *wsClient) send(b testing.TB, msg string) {
	frame := make([]byte, 0, 14+len(msg))
	frame = append(frame, 0x81)
	switch n := len(msg); {
	case n < 126:
		frame = append(frame, 0x80|byte(n))
	default:
		frame = binary.BigEndian.AppendUint16(append(frame, 0x80|126), uint16(n))
	}
	frame = append(frame, 0, 0, 0, 0) // a zero mask leaves the payload as it is
	frame = append(frame, msg...)
	if _, err := c.nc.Write(frame); err != nil {
		b.Error(err)
	}
}

// read returns the next message's payload (ping packets included).
func (c *wsClient) read(b testing.TB) []byte {
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		b.Error(err)
		return []byte{'?'}
	}
	n := int(h[1] & 0x7f)
	switch n {
	case 126:
		var l [2]byte
		_, _ = io.ReadFull(c.br, l[:])
		n = int(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		_, _ = io.ReadFull(c.br, l[:])
		n = int(binary.BigEndian.Uint64(l[:]))
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		b.Error(err)
		return []byte{'?'}
	}
	return p
}

func cpuTime() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func newDemoServer(b *testing.B) *httptest.Server {
	srv, err := server.New(server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	// The echo handler of cmd/siogo's demo.
	srv.OnConnection(func(s *server.Socket) {
		s.On("message", func(args []any, ack server.Ack) {
			_ = s.Emit("message", args...)
			if ack != nil {
				ack(args...)
			}
		})
	})
	hs := httptest.NewServer(srv)
	b.Cleanup(func() { hs.Close(); _ = srv.Close() })
	return hs
}

// BenchmarkWSEcho is cmd/siogo's echo with ack over WebSocket: 100 clients
// in a closed loop, each sending `message` with an ack id and waiting for
// the echo and the ack. cpu-ns/op is the process's CPU (server and the
// in-process clients) per echo.
func BenchmarkWSEcho(b *testing.B) {
	hs := newDemoServer(b)
	addr := hs.Listener.Addr().String()
	const clients = 100
	cs := make([]*wsClient, clients)
	for i := range cs {
		cs[i] = wsDial(b, addr)
	}
	var left atomic.Int64
	left.Store(int64(b.N))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := 0; left.Add(-1) >= 0; id++ {
				c.send(b, "42"+strconv.Itoa(id)+`["message","hello",{"n":1}]`)
				for got := 0; got < 2; {
					m := c.read(b)
					switch {
					case m[0] == '?':
						return
					case bytes.HasPrefix(m, []byte("42")), bytes.HasPrefix(m, []byte("43")):
						got++
					}
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	b.StopTimer()
	for _, c := range cs {
		_ = c.nc.Close()
	}
}

// BenchmarkBareEcho is the yardstick of BenchmarkWSEcho: a bare WebSocket
// echo server on the same loop and frame code (internal/websocket, no
// Engine.IO or Socket.IO above it), the same 100 clients in a closed loop,
// one message and its echo. (bench/wslibs sets it beside other libraries.)
func BenchmarkBareEcho(b *testing.B) {
	ws, err := websocket.NewServer(websocket.Config{})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = ws.Upgrade(w, r, nil, bareEcho{}) }))
	b.Cleanup(func() { hs.Close(); ws.Close() })
	addr := hs.Listener.Addr().String()
	const clients = 100
	cs := make([]*wsClient, clients)
	for i := range cs {
		cs[i] = wsUpgrade(b, addr, "/")
	}
	var left atomic.Int64
	left.Store(int64(b.N))
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				c.send(b, `42["message","hello",{"n":1}]`)
				if m := c.read(b); m[0] == '?' {
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	b.StopTimer()
	for _, c := range cs {
		_ = c.nc.Close()
	}
}

// bareEcho sends every message back as it came.
type bareEcho struct{}

func (bareEcho) OnMessage(c *websocket.Conn, binary bool, data []byte) {
	_ = c.WriteFrames(websocket.Frame{Binary: binary, Data: data})
}

func (bareEcho) OnClose(*websocket.Conn, error) {}

// BenchmarkWSConnect is a new connection: the WebSocket handshake, the
// Engine.IO open, a CONNECT to "/" and its answer, then the client's close.
func BenchmarkWSConnect(b *testing.B) {
	hs := newDemoServer(b)
	addr := hs.Listener.Addr().String()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for i := 0; i < b.N; i++ {
		c := wsDial(b, addr)
		_ = c.nc.Close()
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// TestWaitInHandlerOverWebSocket: a handler that waits for the client's
// acknowledgement (EmitWithAck) runs on the worker that read the event;
// the acknowledgement still comes in, on another, and a later event of the
// same socket runs after the waiting handler, not beside it.
func TestWaitInHandlerOverWebSocket(t *testing.T) {
	srv, err := server.New(server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	srv.OnConnection(func(s *server.Socket) {
		s.On("ask", func(_ []any, ack server.Ack) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			got, err := s.EmitWithAck(ctx, "q")
			order = append(order, "ask")
			if err != nil {
				ack(err.Error())
				return
			}
			ack(got...)
		})
		s.On("after", func(_ []any, ack server.Ack) {
			order = append(order, "after")
			ack(len(order))
		})
	})
	hs := httptest.NewServer(srv)
	defer func() { hs.Close(); _ = srv.Close() }()
	c := wsDial(t, hs.Listener.Addr().String())
	defer c.nc.Close()
	c.send(t, `421["ask"]`)
	c.send(t, `422["after"]`)
	q := string(c.read(t))
	if !strings.HasPrefix(q, "42") || !strings.HasSuffix(q, `["q"]`) {
		t.Fatalf("server's event: %q", q)
	}
	c.send(t, "43"+strings.TrimSuffix(strings.TrimPrefix(q, "42"), `["q"]`)+`["answer"]`)
	if got := string(c.read(t)); got != `431["answer"]` {
		t.Fatalf("ack of ask: %q", got)
	}
	if got := string(c.read(t)); got != `432[2]` {
		t.Fatalf("ack of after: %q (order %v)", got, order)
	}
}
