package websocket

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/httploop"
	"github.com/siogo/siogo/internal/testcert"
)

// serveLoop serves upgrades (and /secure, which says whether r.TLS is
// set) on the loop's own HTTP server, over TLS when cert is not nil, and
// returns the address.
func serveLoop(t *testing.T, cfg Config, cert *testcert.Cert) (*recorder, string) {
	t.Helper()
	rec := &recorder{closed: make(chan error, 128), conns: make(chan *Conn, 128)}
	return serveLoopOn(t, cfg, cert, rec, rec)
}

// serveLoopWith is serveLoop with handler wh, without TLS.
func serveLoopWith(t *testing.T, cfg Config, wh interface {
	Handler
	recorded() *recorder
}) (*recorder, string) {
	t.Helper()
	return serveLoopOn(t, cfg, nil, wh.recorded(), wh)
}

func serveLoopOn(t *testing.T, cfg Config, cert *testcert.Cert, rec *recorder, wh Handler) (*recorder, string) {
	t.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/secure" {
			fmt.Fprint(w, r.TLS != nil && r.TLS.HandshakeComplete)
			return
		}
		c, err := s.Upgrade(w, r, nil, wh)
		if err == nil {
			rec.conns <- c
		}
	})
	var opts httploop.Options
	if cert != nil {
		opts.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
	}
	hs := httploop.New(h, opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		<-done
		s.Close()
	})
	return rec, ln.Addr().String()
}

// serveNetTLS serves upgrades over net/http's own TLS (crypto/tls
// connections, which a goroutine then reads).
func serveNetTLS(t *testing.T, cert *testcert.Cert) (*recorder, string) {
	t.Helper()
	s, err := NewServer(Config{})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{closed: make(chan error, 128), conns: make(chan *Conn, 128)}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.Upgrade(w, r, nil, rec)
		if err == nil {
			rec.conns <- c
		}
	}), TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert.TLS}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- hs.ServeTLS(ln, "", "") }()
	t.Cleanup(func() {
		_ = hs.Close()
		<-done
		s.Close()
	})
	return rec, ln.Addr().String()
}

func dialTLS(t *testing.T, addr string, cert *testcert.Cert) *client {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, cert.Client())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", err, res)
	}
	return &client{t, conn, br}
}

// exercise checks the frame rules and a message larger than a TLS record
// over c, then a violation's close.
func exercise(t *testing.T, rec *recorder, c *client) {
	t.Helper()
	c.send(opText, "")
	c.send(opText, "x")
	if op, p := c.read(); op != opText || p != "" {
		t.Fatalf("got %d %q, want the empty message", op, p)
	}
	if _, p := c.read(); p != "x" {
		t.Fatalf("got %q, want x", p)
	}
	big := strings.Repeat("0123456789", 6000) // several TLS records
	c.sendBig(big)
	if _, p := c.read(); p != big {
		t.Fatalf("got %d bytes, want %d", len(p), len(big))
	}
	c.sendRaw(finBit|opBinary, false, "no mask")
	if op, p := c.read(); op != opClose || p != "\x03\xea" {
		t.Fatalf("got %d %q, want close 1002", op, p)
	}
	select {
	case err := <-rec.closed:
		if !errors.Is(err, ErrProtocol) {
			t.Fatalf("OnClose(%v), want ErrProtocol", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no OnClose")
	}
}

// TestLoopTLS: a WebSocket over the loop's TLS (Go's crypto/tls, records
// decrypted on the loop) stays on the loop, keeps the frame rules and
// carries messages larger than a record; plain requests see r.TLS.
func TestLoopTLS(t *testing.T) {
	cert := testcert.New(t)
	rec, addr := serveLoop(t, Config{}, cert)
	tr := &http.Transport{TLSClientConfig: cert.Client()}
	res, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/secure")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	tr.CloseIdleConnections()
	if string(body) != "true" {
		t.Fatalf("r.TLS seen by the handler: %q", body)
	}
	c := dialTLS(t, addr, cert)
	if conn := <-rec.conns; conn.pc == nil || !conn.onLoop {
		t.Fatal("the TLS connection is not on the event loop")
	}
	exercise(t, rec, c)
}

// TestNetTLS: over net/http's own TLS a goroutine reads the connection,
// under the same rules.
func TestNetTLS(t *testing.T) {
	cert := testcert.New(t)
	rec, addr := serveNetTLS(t, cert)
	c := dialTLS(t, addr, cert)
	if conn := <-rec.conns; conn.pc != nil || conn.onLoop {
		t.Fatal("a crypto/tls connection of net/http went to a loop")
	}
	exercise(t, rec, c)
}

// sendBig sends payload as one masked frame with a 64-bit length.
func (c *client) sendBig(payload string) {
	b := []byte{0x80 | opText, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	for i := range 8 {
		b[2+i] = byte(uint64(len(payload)) >> (56 - 8*i))
	}
	_, _ = c.conn.Write(append(b, payload...))
}
