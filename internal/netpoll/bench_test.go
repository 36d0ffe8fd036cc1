package netpoll_test

import (
	"crypto/tls"
	"io"
	"net"
	"testing"

	"github.com/siogo/siogo/internal/netpoll"
)

var msg64 = []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")

// BenchmarkEcho is one client's round trip of 64 bytes through the loop.
func BenchmarkEcho(b *testing.B) {
	l := newLoop(b, netpoll.Options{})
	addr := serve(b, l, echo(nil))
	benchRoundTrips(b, dial(b, addr))
}

func BenchmarkEchoTLS(b *testing.B) {
	srv, client := serverTLS(b)
	l := newLoop(b, netpoll.Options{})
	addr := serve(b, l, echo(nil), netpoll.TLS(srv))
	benchRoundTrips(b, dialTLS(b, addr, client))
}

func benchRoundTrips(b *testing.B, c net.Conn) {
	buf := make([]byte, len(msg64))
	b.SetBytes(int64(len(msg64)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(msg64); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEchoParallel: round trips on as many connections as goroutines
// (GOMAXPROCS by default; -cpu to change).
func BenchmarkEchoParallel(b *testing.B) {
	l := newLoop(b, netpoll.Options{})
	addr := serve(b, l, echo(nil))
	b.SetBytes(int64(len(msg64)))
	b.ReportAllocs()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		buf := make([]byte, len(msg64))
		for pb.Next() {
			if _, err := c.Write(msg64); err != nil {
				b.Error(err)
				return
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// writeTarget is a server connection whose client reads and discards.
func writeTarget(b *testing.B, cfg *tls.Config, client *tls.Config) *netpoll.Conn {
	l := newLoop(b, netpoll.Options{MaxWriteBuffer: 1 << 30})
	conns := make(chan *netpoll.Conn, 1)
	accept := func(c *netpoll.Conn) netpoll.Handler { conns <- c; return netpoll.HandlerFuncs{} }
	var c net.Conn
	if cfg != nil {
		addr := serve(b, l, accept, netpoll.TLS(cfg))
		c = dialTLS(b, addr, client)
	} else {
		c = dial(b, serve(b, l, accept))
	}
	go func() { _, _ = io.Copy(io.Discard, c) }()
	return <-conns
}

// BenchmarkWrite is Conn.Write of 64 bytes from another goroutine to a
// peer that reads as fast as it can.
func BenchmarkWrite(b *testing.B) {
	sc := writeTarget(b, nil, nil)
	b.SetBytes(int64(len(msg64)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sc.Write(msg64); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWritev is Conn.Writev of four 64-byte pieces.
func BenchmarkWritev(b *testing.B) {
	sc := writeTarget(b, nil, nil)
	bufs := [][]byte{msg64, msg64, msg64, msg64}
	b.SetBytes(4 * int64(len(msg64)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sc.Writev(bufs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWriteTLS(b *testing.B) {
	srv, client := serverTLS(b)
	sc := writeTarget(b, srv, client)
	b.SetBytes(int64(len(msg64)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := sc.Write(msg64); err != nil {
			b.Fatal(err)
		}
	}
}
