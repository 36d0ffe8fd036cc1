package websocket

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	ltls "github.com/lesismal/llib/std/crypto/tls"

	"github.com/siogo/siogo/internal/testcert"
)

// serveTLS serves upgrades over ServeTLS and returns the address and
// the certificate clients trust.
func serveTLS(t *testing.T) (*recorder, string, *testcert.Cert) {
	t.Helper()
	s, err := NewServer(Config{})
	if err != nil {
		t.Fatal(err)
	}
	cert := testcert.New(t)
	rec := &recorder{closed: make(chan error, 64), conns: make(chan *Conn, 64)}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/secure" {
			fmt.Fprint(w, r.TLS != nil && r.TLS.HandshakeComplete)
			return
		}
		c, err := s.Upgrade(w, r, nil, rec)
		if err == nil {
			rec.conns <- c
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ServeTLS(hs, ln, &tls.Config{Certificates: []tls.Certificate{cert.TLS}}) }()
	t.Cleanup(func() {
		_ = hs.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("ServeTLS: %v", err)
		}
		s.Close()
	})
	return rec, ln.Addr().String(), cert
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

// TestServeTLS: a WebSocket over ServeTLS's TLS moves to the event loop
// (no goroutine reads it), keeps the frame rules, and carries messages
// larger than a TLS record; plain HTTP requests see r.TLS.
func TestServeTLS(t *testing.T) {
	rec, addr, cert := serveTLS(t)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cert.Client()}}
	res, err := hc.Get("https://" + addr + "/secure")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != "true" {
		t.Fatalf("r.TLS seen by the handler: %q", body)
	}
	hc.CloseIdleConnections()

	c := dialTLS(t, addr, cert)
	if conn := <-rec.conns; conn.nbc == nil || conn.tls == nil {
		t.Fatal("the TLS connection is not on the event loop")
	}
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

// TestServeTLSIdleGoroutines: idle WSS connections hold no goroutine.
func TestServeTLSIdleGoroutines(t *testing.T) {
	rec, addr, cert := serveTLS(t)
	warm := dialTLS(t, addr, cert) // pools and pollers started
	<-rec.conns
	warm.send(opText, "w")
	warm.read()
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	const n = 100
	for range n {
		c := dialTLS(t, addr, cert)
		<-rec.conns
		c.send(opText, "hi")
		if _, p := c.read(); p != "hi" {
			t.Fatalf("echo %q", p)
		}
	}
	var after int
	for range 50 { // net/http's goroutines of the upgraded requests end
		time.Sleep(100 * time.Millisecond)
		if after = runtime.NumGoroutine(); after-before < n/10 {
			break
		}
	}
	if after-before >= n/10 {
		t.Fatalf("%d idle WSS connections: %d goroutines more", n, after-before)
	}
}

// sendBig sends payload as one masked frame with a 64-bit length.
func (c *client) sendBig(payload string) {
	b := []byte{0x80 | opText, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	for i := range 8 {
		b[2+i] = byte(uint64(len(payload)) >> (56 - 8*i))
	}
	_, _ = c.conn.Write(append(b, payload...))
}

// TestRecordConnKeepsCutRecord: a read that times out in the middle of a
// TLS record hands out nothing of it, and the next read gets it whole.
func TestRecordConnKeepsCutRecord(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	rc := &recordConn{Conn: sc}
	rec := append([]byte{23, 3, 3, 0, 10}, "0123456789"...)
	_, _ = peer.Write(rec[:7])
	_ = rc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	buf := make([]byte, 5)
	if n, err := io.ReadFull(rc, buf); n != 0 || err == nil {
		t.Fatalf("cut record: read %d, %v; want nothing and the timeout", n, err)
	}
	_ = rc.SetReadDeadline(time.Time{})
	_, _ = peer.Write(append(rec[7:], rec[:3]...)) // and the start of another
	got := make([]byte, 15)
	if _, err := io.ReadFull(rc, got); err != nil || string(got) != string(rec) {
		t.Fatalf("got %q, %v; want %q", got, err, rec)
	}
	if left := rc.take(); string(left) != string(rec[:3]) {
		t.Fatalf("take: %q, want the next record's start", left)
	}
}

// TestServeTLSKeepAlive: many requests in a row on one keep-alive
// connection, each sent as soon as the last answer came (when net/http
// cuts its background read short), all answered.
func TestServeTLSKeepAlive(t *testing.T) {
	_, addr, cert := serveTLS(t)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cert.Client(), MaxConnsPerHost: 1}}
	defer hc.CloseIdleConnections()
	for i := range 500 {
		res, err := hc.Get("https://" + addr + "/secure")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
}

// TestDropHandshake: the fields dropHandshake clears are llib's (an
// upgrade that renames them fails here), and an upgraded connection holds
// its handshake no more, and still works (TestServeTLS).
func TestDropHandshake(t *testing.T) {
	v := reflect.ValueOf(&ltls.Conn{}).Elem()
	for _, name := range append(handshakeFields, "handOff") {
		if !v.FieldByName(name).IsValid() {
			t.Errorf("llib's tls.Conn has no field %s", name)
		}
	}
	if inputOffset == ^uintptr(0) {
		t.Error("llib's tls.Conn has no bytes.Reader field input")
	}
	rec, addr, cert := serveTLS(t)
	c := dialTLS(t, addr, cert)
	conn := <-rec.conns
	for _, name := range handshakeFields {
		if f := reflect.ValueOf(conn.tls).Elem().FieldByName(name); !f.IsZero() {
			t.Errorf("after the upgrade, %s is still set", name)
		}
	}
	c.send(opText, "after")
	if _, p := c.read(); p != "after" {
		t.Fatalf("echo %q", p)
	}
}
