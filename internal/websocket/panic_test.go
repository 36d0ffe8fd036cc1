package websocket

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// panicker echoes, but panics on "boom".
type panicker struct{ recorder }

func (p *panicker) recorded() *recorder { return &p.recorder }

func (p *panicker) OnMessage(c *Conn, binary bool, data []byte) {
	if string(data) == "boom" {
		panic("injected in a handler")
	}
	p.recorder.OnMessage(c, binary, data)
}

// TestPanicStaysWithItsConnection: a panic in the frame reader (on the
// loop, from net/http's Adopt and from the loop's own HTTP server) and
// one in a message's handler (on a worker) each close their connection
// with 1011, report ErrPanic, are counted, and leave the other
// connections and the process as they were.
func TestPanicStaysWithItsConnection(t *testing.T) {
	faultHook = func(data []byte) {
		if strings.Contains(string(data), "read-boom") {
			panic("injected in the frame reader")
		}
	}
	t.Cleanup(func() { faultHook = nil })
	var mu sync.Mutex
	counts := map[string]int{}
	cfg := Config{Logger: slog.New(slog.DiscardHandler), OnPanic: func(where string) {
		mu.Lock()
		counts[where]++
		mu.Unlock()
	}}
	for _, loop := range []bool{false, true} {
		var rec *recorder
		var addr string
		p := &panicker{recorder{closed: make(chan error, 16), conns: make(chan *Conn, 16)}}
		if loop {
			rec, addr = serveLoopWith(t, cfg, p)
		} else {
			rec, addr = serveWith(t, cfg, &p.recorder, p)
		}
		other := dial(t, addr)
		<-rec.conns
		for _, c := range []struct {
			payload, where string
		}{{"read-boom", "read"}, {"boom", "handler"}} {
			victim := dial(t, addr)
			<-rec.conns
			victim.send(opText, c.payload)
			if op, p := victim.read(); op != opClose || p != "\x03\xf3" {
				t.Fatalf("loop %v, %s: got %d %q, want close 1011", loop, c.where, op, p)
			}
			_ = victim.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadAll(victim.br); err != nil {
				t.Fatalf("loop %v, %s: after the close frame: %v, want EOF", loop, c.where, err)
			}
			select {
			case err := <-rec.closed:
				if !errors.Is(err, ErrPanic) {
					t.Fatalf("loop %v, %s: OnClose(%v), want ErrPanic", loop, c.where, err)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("loop %v, %s: no OnClose", loop, c.where)
			}
			other.send(opText, "still here")
			if _, p := other.read(); p != "still here" {
				t.Fatalf("loop %v, %s: the other connection: %q", loop, c.where, p)
			}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if counts["read"] != 2 || counts["handler"] != 2 {
		t.Fatalf("OnPanic counted %v, want read 2 and handler 2", counts)
	}
}
