package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// wsStatus sends a Socket.IO WebSocket handshake with an Origin and
// returns the status and body of the answer.
func wsStatus(t *testing.T, base, origin string) (int, string) {
	t.Helper()
	host := strings.TrimPrefix(base, "http://")
	conn, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: %s\r\nOrigin: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", host, origin)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		return res.StatusCode, ""
	}
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestSecurityFlags: --cors-origin also guards WebSocket handshakes (the
// demo page, same-origin, still connects), and --max-connections-per-ip
// bounds one address.
func TestSecurityFlags(t *testing.T) {
	// The polling sessions left open never fetch their close packet.
	base := start(t, "--cors-origin", "https://app.example", "--max-connections-per-ip", "2", "--shutdown-timeout", "500ms")
	if code, body := wsStatus(t, base, "https://evil.example"); code != http.StatusForbidden || body != `{"code":4,"message":"Forbidden"}` {
		t.Fatalf("cross-origin WebSocket: %d %s", code, body)
	}
	if code, body := wsStatus(t, base, "https://app.example"); code != http.StatusSwitchingProtocols {
		t.Fatalf("allowed origin: %d %s", code, body)
	}
	if code, body := wsStatus(t, base, base); code != http.StatusSwitchingProtocols {
		t.Fatalf("same origin: %d %s", code, body)
	}
	// Those two closed; two polling sessions fill the bound.
	deadline := time.Now().Add(10 * time.Second)
	opened := 0
	for opened < 2 && time.Now().Before(deadline) {
		if code, _ := get(t, base+"/socket.io/?EIO=4&transport=polling"); code == 200 {
			opened++
		} else {
			time.Sleep(50 * time.Millisecond) // the WebSockets' close is on its way
		}
	}
	if opened < 2 {
		t.Fatalf("opened %d polling sessions after the WebSockets closed, want 2", opened)
	}
	if code, body := get(t, base+"/socket.io/?EIO=4&transport=polling"); code != http.StatusTooManyRequests {
		t.Fatalf("third session from one address: %d %s", code, body)
	}
}
