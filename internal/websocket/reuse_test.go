package websocket

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/httploop"
)

// closer echoes messages and closes the connection on "close", from the
// handler's goroutine: a close siogo starts off the loop's goroutine.
type closer struct{ closed atomic.Int64 }

func (*closer) OnMessage(c *Conn, _ bool, data []byte) {
	if string(data) == "close" {
		_ = c.Close(closeNormal)
		return
	}
	_ = c.WriteFrames(Frame{Data: data})
}

func (h *closer) OnClose(*Conn, error) { h.closed.Add(1) }

// TestCloseWhileUpgrading closes connections from siogo's side while
// others are being upgraded, thousands of times, on net/http (adopted by
// the Server's loop) and on the loop's own HTTP server: no fresh
// connection may be lost. On nbio a closed connection's number went at
// once to the next upgrade while the poller still held an event for the
// old socket, and nbio closed the newcomer; siogo's loop drops an event
// whose generation is not its registration's. Half the clients reset
// their connection as soon as they asked for the close, so that the
// poller gets an event for the socket while the server closes it. The
// other half must get a close frame then the end of the stream. Every
// connection must be reported closed.
func TestCloseWhileUpgrading(t *testing.T) {
	for _, loop := range []bool{false, true} {
		name := "net-http"
		if loop {
			name = "httploop"
		}
		t.Run(name, func(t *testing.T) { closeWhileUpgrading(t, loop) })
	}
}

func closeWhileUpgrading(t *testing.T, loop bool) {
	s, err := NewServer(Config{})
	if err != nil {
		t.Fatal(err)
	}
	h := &closer{}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = s.Upgrade(w, r, nil, h)
	})
	var addr string
	if loop {
		hs := httploop.New(handler, httploop.Options{})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- hs.Serve(ln) }()
		defer func() { _ = hs.Close(); <-done; s.Close() }()
		addr = ln.Addr().String()
	} else {
		hs := httptest.NewServer(handler)
		defer func() { hs.Close(); s.Close() }()
		addr = strings.TrimPrefix(hs.URL, "http://")
	}

	const workers, cycles = 16, 4000
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= cycles; i = next.Add(1) {
				if err := closeCycle(addr, i); err != nil {
					errs <- fmt.Errorf("cycle %d: %w", i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for h.closed.Load() < cycles && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := h.closed.Load(); n != cycles {
		t.Errorf("%d of %d connections reported closed", n, cycles)
	}
}

// closeCycle upgrades, checks an echo, asks the server to close and reads
// its close frame and the end of the stream.
func closeCycle(addr string, i int64) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("upgrade: status %d", res.StatusCode)
	}
	frame := func(payload string) []byte {
		return append([]byte{finBit | opText, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
	}
	want := fmt.Sprint(i)
	if _, err := conn.Write(frame(want)); err != nil {
		return err
	}
	op, p, err := readFrame(br)
	if err != nil {
		return fmt.Errorf("a fresh connection was lost: echo: %w", err)
	}
	if op != opText || p != want {
		return fmt.Errorf("echo: opcode %d %q, want %q", op, p, want)
	}
	if _, err := conn.Write(frame("close")); err != nil {
		return err
	}
	if i%2 == 0 {
		// Gone at once, with a reset: the poller gets an error event
		// while the server closes.
		_ = conn.(*net.TCPConn).SetLinger(0)
		return nil
	}
	if op, p, err = readFrame(br); err != nil || op != opClose || p != "\x03\xe8" {
		return fmt.Errorf("close frame: opcode %d %q %v", op, p, err)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("after the close frame: %v, want EOF", err)
	}
	return nil
}

// readFrame reads one unmasked server frame of less than 64 KiB.
func readFrame(br *bufio.Reader) (byte, string, error) {
	var h [4]byte
	if _, err := io.ReadFull(br, h[:2]); err != nil {
		return 0, "", err
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		if _, err := io.ReadFull(br, h[2:4]); err != nil {
			return 0, "", err
		}
		n = int(h[2])<<8 | int(h[3])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		return 0, "", err
	}
	return h[0] & 0x0f, string(p), nil
}
