package websocket

import (
	"strings"
	"testing"
)

// TestAnswersBeforeClose: the close that answers a peer's violation, or
// the peer's own close, leaves after the answers to the messages read
// before it, as a server that reads and answers in one loop sends them
// (Autobahn's cases 3.2, 4.1.3, 5.15 and 7.1.1 expect the echo).
func TestAnswersBeforeClose(t *testing.T) {
	for _, tc := range []struct {
		name  string
		last  func(c *client)
		close string
	}{
		{"reserved bit", func(c *client) { c.sendRaw(finBit|0x20|opText, true, "x") }, "\x03\xea"},
		{"reserved opcode", func(c *client) { c.sendRaw(finBit|0x5, true, "") }, "\x03\xea"},
		{"invalid UTF-8", func(c *client) { c.sendRaw(finBit|opText, true, "\xff") }, "\x03\xef"},
		{"peer's close", func(c *client) { c.sendRaw(finBit|opClose, true, "\x03\xe8") }, "\x03\xe8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := serve(t, Config{})
			c := dial(t, addr)
			big := strings.Repeat("*", 100)
			c.sendRaw(finBit|opText, true, "Hello, world!")
			c.sendRaw(finBit|opText, true, big)
			tc.last(c)
			for _, want := range []string{"Hello, world!", big} {
				if op, p := c.read(); op != opText || p != want {
					t.Fatalf("got %d %q, want the echo %q", op, p, want)
				}
			}
			if op, p := c.read(); op != opClose || p != tc.close {
				t.Fatalf("got %d %q, want close %q", op, p, tc.close)
			}
		})
	}
}
