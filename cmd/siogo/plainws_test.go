package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// wsOpen sends a WebSocket handshake for path with extra header lines; on
// a 101 it returns the connection, else the status and body.
func wsOpen(t *testing.T, base, path, extra string) (*rawWS, int, string) {
	t.Helper()
	host := strings.TrimPrefix(base, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n", path, host, extra)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(res.Body)
		conn.Close()
		return nil, res.StatusCode, string(b)
	}
	return &rawWS{t, conn, br}, res.StatusCode, ""
}

// frame reads the next frame, of any length, within d; ok is false when
// the connection ended (EOF, reset) instead.
func (c *rawWS) frame(d time.Duration) (op byte, payload []byte, ok bool) {
	c.t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	h := make([]byte, 2)
	if _, err := io.ReadFull(c.br, h); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			c.t.Fatalf("no frame nor close within %v", d)
		}
		return 0, nil, false
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		b := make([]byte, 2)
		_, _ = io.ReadFull(c.br, b)
		n = uint64(binary.BigEndian.Uint16(b))
	case 127:
		b := make([]byte, 8)
		_, _ = io.ReadFull(c.br, b)
		n = binary.BigEndian.Uint64(b)
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return 0, nil, false
	}
	return h[0] & 0x0f, p, true
}

// closedWithin reads frames (answering nothing) until the server closes
// the connection, which must come within d; it returns the close frame's
// code, 0 if none came, and whether a ping came first.
func (c *rawWS) closedWithin(d time.Duration) (code int, pinged bool) {
	c.t.Helper()
	end := time.Now().Add(d)
	for {
		op, p, ok := c.frame(time.Until(end))
		if !ok {
			return code, pinged
		}
		switch op {
		case 0x9:
			pinged = true
		case 0x8:
			if len(p) >= 2 {
				code = int(binary.BigEndian.Uint16(p))
			}
		}
	}
}

// TestPlainWebSocketGuards: /ws has the Socket.IO endpoint's guards. With
// --cors-origin a WebSocket from another origin gets 403 as on
// /socket.io/; a message over --max-payload closes with 1009; the server
// pings every --ping-interval and closes (1001) a connection that has not
// answered within --ping-timeout: one that reads but never answers, and
// one holding a frame half sent, while one that answers stays.
func TestPlainWebSocketGuards(t *testing.T) {
	base := start(t, "--cors-origin", "https://good.example", "--tick", "1h",
		"--ping-interval", "300ms", "--ping-timeout", "400ms", "--max-payload", "1000")
	const forbidden = `{"code":4,"message":"Forbidden"}`
	for _, c := range []struct {
		origin string
		want   int
	}{
		{"http://evil.example", http.StatusForbidden},
		{"https://good.example.evil.example", http.StatusForbidden},
		{"https://good.example", http.StatusSwitchingProtocols},
		{base, http.StatusSwitchingProtocols},
		{"", http.StatusSwitchingProtocols},
	} {
		extra := ""
		if c.origin != "" {
			extra = "Origin: " + c.origin + "\r\n"
		}
		ws, status, body := wsOpen(t, base, "/ws", extra)
		if status != c.want || (status == http.StatusForbidden && body != forbidden) {
			t.Errorf("/ws from %q: %d %s, want %d", c.origin, status, body, c.want)
		}
		if ws != nil {
			ws.conn.Close()
		}
		// The same rule as the Socket.IO endpoint's.
		if status, body := wsStatus(t, base, c.origin); c.origin != "" && status != c.want {
			t.Errorf("/socket.io/ from %q: %d %s, want %d", c.origin, status, body, c.want)
		}
	}

	t.Run("message bound", func(t *testing.T) {
		ws, _, _ := wsOpen(t, base, "/ws", "")
		big := make([]byte, 1001)
		hdr := []byte{0x82, 0x80 | 126, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint16(hdr[2:], uint16(len(big)))
		if _, err := ws.conn.Write(append(hdr, big...)); err != nil {
			t.Fatal(err)
		}
		if code, _ := ws.closedWithin(10 * time.Second); code != 1009 {
			t.Fatalf("a message over --max-payload: close %d, want 1009", code)
		}
	})

	t.Run("heartbeat", func(t *testing.T) {
		silent, _, _ := wsOpen(t, base, "/ws", "")
		partial, _, _ := wsOpen(t, base, "/ws", "")
		alive, _, _ := wsOpen(t, base, "/ws", "")
		// Announce 1000 bytes, send 10 of them, and stop.
		if _, err := partial.conn.Write([]byte{0x82, 0x80 | 126, 0x03, 0xe8, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}); err != nil {
			t.Fatal(err)
		}
		// The live one answers pings in its own goroutine. Its third ping
		// comes after the first round's deadline, so it has outlived a
		// check; then its echo must still come.
		alived := make(chan error, 1)
		go func() {
			n := 0
			for {
				_ = alive.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				h := make([]byte, 2)
				if _, err := io.ReadFull(alive.br, h); err != nil {
					alived <- fmt.Errorf("after %d pings: %w", n, err)
					return
				}
				p := make([]byte, h[1]&0x7f)
				if _, err := io.ReadFull(alive.br, p); err != nil {
					alived <- fmt.Errorf("after %d pings: %w", n, err)
					return
				}
				switch op := h[0] & 0x0f; {
				case op == 0x9:
					n++
					pong := append([]byte{0x8a, 0x80 | byte(len(p)), 0, 0, 0, 0}, p...)
					if n == 3 {
						pong = append(pong, 0x81, 0x80|10, 0, 0, 0, 0)
						pong = append(pong, "still here"...)
					}
					if _, err := alive.conn.Write(pong); err != nil {
						alived <- err
						return
					}
				case op == 0x1 && string(p) == "still here":
					alived <- nil
					return
				case op == 0x8:
					alived <- fmt.Errorf("closed after %d pings: %x", n, p)
					return
				}
			}
		}()
		for _, c := range []struct {
			name string
			ws   *rawWS
		}{{"silent", silent}, {"partial frame", partial}} {
			code, pinged := c.ws.closedWithin(10 * time.Second)
			if code != 1001 || (c.name == "silent" && !pinged) {
				t.Errorf("%s: closed with %d (pinged %v), want 1001 after a ping", c.name, code, pinged)
			}
		}
		if err := <-alived; err != nil {
			t.Fatalf("the connection that answers: %v", err)
		}
	})
}

// TestPlainWebSocketBounds: /ws connections count with the Engine.IO
// sessions in --max-connections-per-ip and --max-connections, and get the
// same refusal; a closed one gives its place back.
func TestPlainWebSocketBounds(t *testing.T) {
	const tooMany = `{"code":3,"message":"Too many connections from this address"}`
	base := start(t, "--max-connections-per-ip", "2", "--tick", "1h", "--shutdown-timeout", "500ms")
	if code, body := get(t, base+"/socket.io/?EIO=4&transport=polling"); code != 200 {
		t.Fatalf("polling session: %d %s", code, body)
	}
	first, status, body := wsOpen(t, base, "/ws", "")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("first /ws: %d %s", status, body)
	}
	if _, status, body := wsOpen(t, base, "/ws", ""); status != http.StatusTooManyRequests || body != tooMany {
		t.Fatalf("/ws past the bound: %d %s", status, body)
	}
	if code, body := get(t, base+"/socket.io/?EIO=4&transport=polling"); code != http.StatusTooManyRequests || body != tooMany {
		t.Fatalf("a session past the bound, /ws counted: %d %s", code, body)
	}
	first.conn.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ws, status, _ := wsOpen(t, base, "/ws", "")
		if status == http.StatusSwitchingProtocols {
			ws.conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed /ws did not give its place back: %d", status)
		}
		time.Sleep(20 * time.Millisecond) // its close is on its way to the server
	}

	all := start(t, "--max-connections", "1", "--tick", "1h")
	one, status, _ := wsOpen(t, all, "/ws", "")
	if status != http.StatusSwitchingProtocols {
		t.Fatalf("/ws: %d", status)
	}
	defer one.conn.Close()
	if code, body := get(t, all+"/socket.io/?EIO=4&transport=polling"); code != http.StatusServiceUnavailable || body != `{"code":3,"message":"Server at capacity"}` {
		t.Fatalf("a session past --max-connections, /ws counted: %d %s", code, body)
	}
}
