package websocket

import (
	"sync"
	"time"

	"github.com/lesismal/nbio"
)

// nbio's HTTP engine (nbhttp) sets a fresh connection's keep-alive read
// deadline on its accepting goroutine after it has put the connection on
// a poller. The poller may read the first request meanwhile, and its
// handler may upgrade the connection to a WebSocket or park a poll, each
// clearing that deadline, before it is set: the deadline set late then
// closed the WebSocket 120 s after its accept, in about one connection in
// 3,000 under load (docs/reliability.md, "Connections closed at 120 s").
//
// The listener that feeds such an engine tells it apart: Handing as it
// hands the engine a connection, Handed once the engine's loop asks for
// the next one (it is done with the last then). ClearReadDeadline clears
// the deadline now and, for a connection still being handed, again once
// it is handed.

var handing sync.Map // *nbio.Conn → *handingConn

type handingConn struct {
	mu     sync.Mutex
	handed bool
	clear  bool // ClearReadDeadline was called while it was being handed
}

// Handing notes that c goes to an engine's accepting loop, which may set
// its read deadline after c's first request has been served.
func Handing(c *nbio.Conn) { handing.Store(c, &handingConn{}) }

// Handed notes that the accepting loop is done with c, and clears c's
// read deadline if ClearReadDeadline was called meanwhile.
func Handed(c *nbio.Conn) {
	v, ok := handing.LoadAndDelete(c)
	if !ok {
		return
	}
	h := v.(*handingConn)
	h.mu.Lock()
	h.handed = true
	clear := h.clear
	h.mu.Unlock()
	if clear {
		_ = c.SetReadDeadline(time.Time{})
	}
}

// ClearReadDeadline clears c's read deadline, for good: also when the
// engine's accepting loop sets it after this call.
func ClearReadDeadline(c *nbio.Conn) {
	if v, ok := handing.Load(c); ok {
		h := v.(*handingConn)
		h.mu.Lock()
		if !h.handed {
			h.clear = true
		}
		h.mu.Unlock()
	}
	// After the check: a connection found handed had its deadline set
	// before, and this clears it.
	_ = c.SetReadDeadline(time.Time{})
}
