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

// handing holds the connections handed to an accepting loop and not yet
// done with; true once ClearReadDeadline was called for one. A listener
// hands one connection at a time, so it holds one per listener at most.
var (
	handingMu sync.Mutex
	handing   = map[*nbio.Conn]bool{}
)

// Handing notes that c goes to an engine's accepting loop, which may set
// its read deadline after c's first request has been served.
func Handing(c *nbio.Conn) {
	handingMu.Lock()
	handing[c] = false
	handingMu.Unlock()
}

// Handed notes that the accepting loop is done with c, and clears c's
// read deadline if ClearReadDeadline was called meanwhile.
func Handed(c *nbio.Conn) {
	handingMu.Lock()
	clear := handing[c]
	delete(handing, c)
	handingMu.Unlock()
	if clear {
		_ = c.SetReadDeadline(time.Time{})
	}
}

// ClearReadDeadline clears c's read deadline, for good: also when the
// engine's accepting loop sets it after this call.
func ClearReadDeadline(c *nbio.Conn) {
	handingMu.Lock()
	if _, ok := handing[c]; ok {
		handing[c] = true // Handed clears it again, after the loop's
	}
	handingMu.Unlock()
	// After the check: a connection found handed had its deadline set
	// before, and this clears it.
	_ = c.SetReadDeadline(time.Time{})
}
