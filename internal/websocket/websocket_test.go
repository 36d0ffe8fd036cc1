package websocket

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a Handler that keeps what it is told.
type recorder struct {
	mu     sync.Mutex
	msgs   []string
	closed chan error
	conns  chan *Conn
}

func (r *recorder) OnMessage(c *Conn, binary bool, data []byte) {
	r.mu.Lock()
	r.msgs = append(r.msgs, fmt.Sprintf("%v:%s", binary, data))
	r.mu.Unlock()
	_ = c.WriteFrames(Frame{Binary: binary, Data: data}) // echo
}

func (r *recorder) OnClose(_ *Conn, err error) { r.closed <- err }

func serve(t *testing.T, cfg Config) (*recorder, string) {
	t.Helper()
	rec := &recorder{closed: make(chan error, 4), conns: make(chan *Conn, 4)}
	return serveWith(t, cfg, rec, rec)
}

// serveWith serves upgrades to h on net/http (whose connections the
// Server's loop adopts); rec gets each new connection.
func serveWith(t *testing.T, cfg Config, rec *recorder, h Handler) (*recorder, string) {
	t.Helper()
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.Upgrade(w, r, nil, h)
		if err == nil {
			rec.conns <- c
		}
	}))
	t.Cleanup(func() { hs.Close(); s.Close() })
	return rec, strings.TrimPrefix(hs.URL, "http://")
}

type client struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
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

func (c *client) send(op byte, payload string) {
	b := []byte{0x80 | op, 0x80 | byte(len(payload)), 0, 0, 0, 0} // zero mask
	_, _ = c.conn.Write(append(b, payload...))
}

func (c *client) read() (byte, string) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	h := make([]byte, 2)
	if _, err := io.ReadFull(c.br, h); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		b := make([]byte, 2)
		_, _ = io.ReadFull(c.br, b)
		n = int(binary.BigEndian.Uint16(b))
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return h[0] & 0x0f, string(p)
}

// TestWritesKeepOrder sends bursts from several goroutines: each one's
// frames arrive in its order, and none is lost, however the flushers batch.
func TestWritesKeepOrder(t *testing.T) {
	rec, addr := serve(t, Config{})
	c := dial(t, addr)
	conn := <-rec.conns
	const writers, each = 4, 500
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				if err := conn.WriteFrames(Frame{Head: []byte{byte('a' + w)}, Data: []byte(fmt.Sprint(i))}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	next := make([]int, writers)
	for n := 0; n < writers*each; n++ {
		_, p := c.read()
		w := int(p[0] - 'a')
		if got := p[1:]; got != fmt.Sprint(next[w]) {
			t.Fatalf("writer %d: frame %s, want %d", w, got, next[w])
		}
		next[w]++
	}
	wg.Wait()
}

// TestCloseAfterPending: a close sent behind frames leaves after them.
func TestCloseAfterPending(t *testing.T) {
	rec, addr := serve(t, Config{})
	c := dial(t, addr)
	conn := <-rec.conns
	for i := 0; i < 100; i++ {
		_ = conn.WriteFrames(Frame{Data: []byte(fmt.Sprint(i))})
	}
	_ = conn.Close(1000)
	if err := conn.WriteFrames(Frame{Data: []byte("late")}); err == nil {
		t.Fatal("a write after Close was accepted")
	}
	for i := 0; i < 100; i++ {
		if _, p := c.read(); p != fmt.Sprint(i) {
			t.Fatalf("frame %d: %q", i, p)
		}
	}
	if op, p := c.read(); op != opClose || p != "\x03\xe8" {
		t.Fatalf("got opcode %d %q, want close 1000", op, p)
	}
}

// TestEchoAndLimit: messages reach the handler and come back; one over
// the limit closes the connection with 1009.
func TestEchoAndLimit(t *testing.T) {
	rec, addr := serve(t, Config{MaxMessageSize: 10})
	c := dial(t, addr)
	c.send(opText, "hello")
	if op, p := c.read(); op != opText || p != "hello" {
		t.Fatalf("echo %d %q", op, p)
	}
	c.send(opBinary, "\x00\x01")
	if op, p := c.read(); op != opBinary || p != "\x00\x01" {
		t.Fatalf("binary echo %d %q", op, p)
	}
	c.send(opText, "much too long for ten")
	if op, p := c.read(); op != opClose || !strings.HasPrefix(p, "\x03\xf1") {
		t.Fatalf("got %d %q, want close 1009", op, p)
	}
	select {
	case err := <-rec.closed:
		if errors.Is(err, ErrClosed) {
			t.Fatalf("an over-limit message reported as a clean close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no OnClose")
	}
}

// TestSlowPeer: past MaxWriteBuffer waiting bytes the connection closes
// rather than growing.
func TestSlowPeer(t *testing.T) {
	rec, addr := serve(t, Config{MaxWriteBuffer: 64 << 10})
	dial(t, addr) // never reads
	conn := <-rec.conns
	big := make([]byte, 16<<10)
	var err error
	for i := 0; i < 10000 && err == nil; i++ {
		err = conn.WriteFrames(Frame{Binary: true, Data: big})
	}
	if err == nil {
		t.Fatal("160 MB queued for a peer that does not read")
	}
}

// sendRaw writes one frame as given: b0 (FIN, RSV, opcode), the mask key
// when masked, the payload masked with it.
func (c *client) sendRaw(b0 byte, masked bool, payload string) {
	p := []byte(payload)
	var b []byte
	if masked {
		key := []byte{0x37, 0xfa, 0x21, 0x3d}
		for i := range p {
			p[i] ^= key[i%4]
		}
		b = append([]byte{b0, 0x80 | byte(len(p))}, key...)
	} else {
		b = []byte{b0, byte(len(p))}
	}
	_, _ = c.conn.Write(append(b, p...))
}

// TestEmptyMessages: a message of no bytes is a message: text or binary,
// alone, in fragments, or between others, it reaches the handler in order.
func TestEmptyMessages(t *testing.T) {
	_, addr := serve(t, Config{})
	c := dial(t, addr)
	c.send(opText, "a")
	c.send(opText, "")
	c.send(opBinary, "")
	c.sendRaw(opText, true, "") // fragments of nothing
	c.sendRaw(finBit, true, "")
	c.send(opText, "b")
	for _, want := range []struct {
		op byte
		p  string
	}{{opText, "a"}, {opText, ""}, {opBinary, ""}, {opText, ""}, {opText, "b"}} {
		if op, p := c.read(); op != want.op || p != want.p {
			t.Fatalf("got %d %q, want %d %q", op, p, want.op, want.p)
		}
	}
}

// TestUnmaskedFrame: a client's frame must be masked (RFC 6455 section
// 5.1); an unmasked one closes the connection with 1002, as Node's ws does,
// and is not delivered.
func TestUnmaskedFrame(t *testing.T) {
	rec, addr := serve(t, Config{})
	c := dial(t, addr)
	c.sendRaw(finBit|opText, false, "hello")
	if op, p := c.read(); op != opClose || !strings.HasPrefix(p, "\x03\xea") {
		t.Fatalf("got %d %q, want close 1002", op, p)
	}
	select {
	case err := <-rec.closed:
		if err == nil || errors.Is(err, ErrClosed) {
			t.Fatalf("OnClose(%v), want a protocol error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no OnClose")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.msgs) != 0 {
		t.Fatalf("unmasked frame delivered: %q", rec.msgs)
	}
}

// TestControlAndCompressed: a ping gets its pong; a compressed message
// (permessage-deflate, as browsers send) is inflated, an empty one too;
// the peer's close is answered with its code.
func TestControlAndCompressed(t *testing.T) {
	_, addr := serve(t, Config{Compression: true})
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n", addr)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 101 || res.Header.Get("Sec-Websocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("upgrade: %v %v", err, res)
	}
	if !strings.HasPrefix(res.Header.Get("Sec-Websocket-Extensions"), "permessage-deflate") {
		t.Fatalf("extensions %q", res.Header.Get("Sec-Websocket-Extensions"))
	}
	c := &client{t, conn, br}
	c.sendRaw(finBit|opPing, true, "are you there")
	if op, p := c.read(); op != opPong || p != "are you there" {
		t.Fatalf("got %d %q, want the pong", op, p)
	}
	for _, msg := range []string{"squeeze me, squeeze me, squeeze me", ""} {
		var z bytes.Buffer
		zw, _ := flate.NewWriter(&z, flate.BestCompression)
		_, _ = zw.Write([]byte(msg))
		_ = zw.Flush()
		c.sendRaw(finBit|rsv1Bit|opText, true, strings.TrimSuffix(z.String(), "\x00\x00\xff\xff"))
		if op, p := c.read(); op != opText || p != msg {
			t.Fatalf("got %d %q, want %q", op, p, msg)
		}
	}
	c.sendRaw(finBit|opClose, true, "\x0f\xa0bye") // 4000
	if op, p := c.read(); op != opClose || p != "\x0f\xa0bye" {
		t.Fatalf("got %d %q, want close 4000 echoed", op, p)
	}
}

// TestUnmaskLong: payloads of every length up to a few words unmask right
// (the key applies eight bytes at a time).
func TestUnmaskLong(t *testing.T) {
	_, addr := serve(t, Config{})
	c := dial(t, addr)
	for n := 0; n < 40; n++ {
		msg := strings.Repeat("abcdefghij", 4)[:n]
		c.sendRaw(finBit|opText, true, msg)
		if _, p := c.read(); p != msg {
			t.Fatalf("length %d: got %q", n, p)
		}
	}
}

// TestHugeLengthAfterFragment: a continuation that declares 2^64-1 bytes
// after a fragment must be refused as too large (1009), not wrap the
// bound's arithmetic into an out-of-range slice on the event loop.
func TestHugeLengthAfterFragment(t *testing.T) {
	rec, addr := serve(t, Config{})
	c := dial(t, addr)
	// No FIN: the first fragment of a message.
	_, _ = c.conn.Write([]byte{opText, 0x81, 0, 0, 0, 0, 'a'})
	huge := []byte{0x80 | opContinuation, 0x80 | 127, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0}
	_, _ = c.conn.Write(append(huge, "0123456789abcdef"...))
	if op, p := c.read(); op != opClose || !strings.HasPrefix(p, "\x03\xf1") {
		t.Fatalf("got %d %q, want close 1009", op, p)
	}
	select {
	case <-rec.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("no OnClose")
	}
}
