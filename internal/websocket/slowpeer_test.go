package websocket

import (
	"errors"
	"testing"
	"time"
)

// TestSlowPeerBacklog: with a peer that never reads, what waits for it
// shows as a backlog (the signal that drops volatile packets), stays
// within MaxWriteBuffer, and past it the connection closes with
// ErrSlowPeer, given to OnClose too.
func TestSlowPeerBacklog(t *testing.T) {
	const bound = 256 << 10
	rec, addr := serve(t, Config{MaxWriteBuffer: bound})
	dial(t, addr) // never reads
	conn := <-rec.conns
	if conn.Backlogged() {
		t.Fatal("a fresh connection reported a backlog")
	}
	frame := make([]byte, 8<<10)
	var err error
	sawBacklog := false
	for i := 0; i < 100000 && err == nil; i++ {
		err = conn.WriteFrames(Frame{Binary: true, Data: frame})
		if b := conn.backlog(); b > bound {
			t.Fatalf("backlog %d bytes, over the bound %d", b, bound)
		}
		sawBacklog = sawBacklog || conn.Backlogged()
		waitHandedOver(conn) // what grows is then the loop's part

	}
	if !errors.Is(err, ErrSlowPeer) {
		t.Fatalf("writes to a peer that never reads ended with %v, want ErrSlowPeer", err)
	}
	if !sawBacklog {
		t.Fatal("the socket filled up without a backlog showing")
	}
	select {
	case err := <-rec.closed:
		if !errors.Is(err, ErrSlowPeer) {
			t.Fatalf("OnClose got %v, want ErrSlowPeer", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no OnClose")
	}
}

// waitHandedOver waits until the flushers gave the loop what c had queued.
func waitHandedOver(c *Conn) {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		c.wmu.Lock()
		done := !c.queued || c.closed
		c.wmu.Unlock()
		if done {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
}
