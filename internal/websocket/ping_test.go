package websocket

import (
	"strings"
	"testing"
	"time"
)

// TestPingPong: Ping sends a ping frame behind what was written; the
// peer's pong, and only a pong, moves LastPong; a payload too long for a
// control frame is refused.
func TestPingPong(t *testing.T) {
	rec, addr := serve(t, Config{})
	c := dial(t, addr)
	conn := <-rec.conns
	if !conn.LastPong().IsZero() {
		t.Fatalf("LastPong before any pong: %v", conn.LastPong())
	}
	before := time.Now()
	if err := conn.WriteFrames(Frame{Data: []byte("first")}); err != nil {
		t.Fatal(err)
	}
	if err := conn.Ping([]byte("hb")); err != nil {
		t.Fatal(err)
	}
	if op, p := c.read(); op != opText || p != "first" {
		t.Fatalf("got %d %q, want the text first", op, p)
	}
	if op, p := c.read(); op != opPing || p != "hb" {
		t.Fatalf("got %d %q, want ping hb", op, p)
	}
	// A message is not a pong.
	c.send(opText, "not a pong")
	if _, p := c.read(); p != "not a pong" {
		t.Fatalf("echo %q", p)
	}
	if !conn.LastPong().IsZero() {
		t.Fatal("a text message counted as a pong")
	}
	c.send(opPong, "hb")
	c.send(opText, "after") // its echo says the pong was read
	if _, p := c.read(); p != "after" {
		t.Fatalf("echo %q", p)
	}
	if got := conn.LastPong(); got.Before(before) || got.After(time.Now()) {
		t.Fatalf("LastPong %v, want between %v and now", got, before)
	}
	if err := conn.Ping([]byte(strings.Repeat("x", 126))); err == nil {
		t.Fatal("a ping of 126 bytes accepted")
	}
}
