package httploop

import (
	"context"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siogo/siogo/internal/http1"
	"github.com/siogo/siogo/internal/netpoll"
)

// The states of a connection. The loop moves it between them, but for
// Upgrade, which the handler's goroutine makes under mu.
const (
	stRead     uint32 = iota // reading a request (or idle between two)
	stServing                // a request is with its handler, or detached
	stUpgraded               // taken by Upgrade
	stClosing                // an error answer or a timeout: closing
	stClosed
)

// stateNone is a parser state no parser reports: the timers are set anew.
const stateNone http1.State = 255

// conn is one HTTP connection: the netpoll.Handler of its loop and the
// http1.Conn of its responses.
type conn struct {
	s *Server
	c *netpoll.Conn
	p *http1.Parser

	st atomic.Uint32

	// On the loop only.
	prev   http1.State // the parser's state when the timers were last set
	served bool        // a response went out: the keep-alive bound applies
	start  int64       // the current request's first byte, Server.now

	// Shared by the loop and the handler's goroutine, under mu: while a
	// request is served the parser (the loop keeps what comes next, Upgrade
	// takes it), and what an upgrade hands over.
	mu       sync.Mutex
	res      *http1.Response    // the request being answered
	cancel   context.CancelFunc // its context's, while its handler runs
	seq      uint32             // counts the requests, to tell whose cancel is kept
	paused   bool               // reads paused: pipelined bytes filled the parser
	upgraded bool               // Upgrade took the connection
	held     []byte             // read after Upgrade, before the new handler has it
	switched netpoll.Handler    // the new protocol's handler, until the loop hands over
	closeErr error              // why it closed, for a Switch that comes after

	// The Server's list, under Server.mu.
	next, prevc *conn
	listed      bool
}

// Node's answer to a request whose head or body did not arrive in time
// (lib/_http_server.js, requestTimeoutResponse).
var resp408 = []byte("HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n")

// resp500 answers a request whose handler panicked before it sent
// anything.
var resp500 = []byte("HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")

// maxHeld bounds what an upgraded connection reads before it is switched
// to its new protocol; past it reads pause until the switch.
const maxHeld = 64 << 10

// OnData feeds the parser what the loop read (netpoll.Handler).
func (hc *conn) OnData(c *netpoll.Conn, b []byte) {
	switch hc.st.Load() {
	case stRead:
		if err := hc.p.Feed(b); err != nil {
			hc.fail(err)
			return
		}
		hc.advance()
	case stServing, stUpgraded:
		hc.mu.Lock()
		if hc.st.Load() == stUpgraded {
			if h := hc.switched; h != nil {
				hc.mu.Unlock()
				hc.handOver(c, h, b)
				return
			}
			hc.held = append(hc.held, b...)
			if len(hc.held) > maxHeld && !hc.paused {
				hc.paused = true
				c.PauseReads()
			}
			hc.mu.Unlock()
			return
		}
		// Pipelined: kept until the answer is out, within a bound.
		err := hc.p.Feed(b)
		if err == nil && hc.p.Full() && !hc.paused {
			hc.paused = true
			c.PauseReads()
		}
		hc.mu.Unlock()
		if err != nil {
			hc.fail(err)
		}
	}
}

// handOver gives the connection to the handler an upgrade switched it
// to, with b, read now. On the loop.
func (hc *conn) handOver(c *netpoll.Conn, h netpoll.Handler, b []byte) {
	c.SetHandler(h)
	h.OnData(c, b)
}

// advance serves the next complete request, or sets the timers for the
// one arriving. On the loop.
func (hc *conn) advance() {
	r, err := hc.p.Next()
	if err != nil {
		hc.fail(err)
		return
	}
	if r != nil {
		hc.serve(r)
		return
	}
	if hc.p.WantsContinue() {
		_, _ = hc.c.Write([]byte(http1.Continue100))
	}
	hc.arm()
}

// arm sets the connection's deadline for where the parser stands, as
// Node's timers run: headersTimeout from a request's first byte (from the
// connection's start for the first), requestTimeout until its body is
// in, keepAliveTimeout between two requests.
func (hc *conn) arm() {
	st := hc.p.State()
	if st == hc.prev {
		return
	}
	o := &hc.s.opts
	now := hc.s.now()
	switch st {
	case http1.StateIdle:
		if hc.served {
			if o.KeepAlive > 0 {
				hc.c.SetDeadline(hc.s.at(now + int64(o.KeepAlive)))
			} else {
				hc.c.SetDeadline(time.Time{})
			}
		} else {
			hc.c.SetDeadline(hc.s.at(now + int64(o.HeadersTimeout)))
		}
	case http1.StateHead:
		hc.start = now
		hc.c.SetDeadline(hc.s.at(now + int64(o.HeadersTimeout)))
	case http1.StateBody:
		if hc.prev != http1.StateHead {
			hc.start = now
		}
		hc.c.SetDeadline(hc.s.at(hc.start + int64(o.RequestTimeout)))
	}
	hc.prev = st
}

// serve hands r to the handler, on a worker. On the loop.
func (hc *conn) serve(r *http.Request) {
	hc.st.Store(stServing)
	hc.prev = stateNone
	hc.c.SetDeadline(time.Time{})
	ctx, cancel := context.WithCancel(hc.s.ctx)
	r = r.WithContext(ctx)
	if st, ok := hc.c.ConnectionState(); ok {
		r.TLS = &st
	}
	res := http1.NewResponse(hc, r, &hc.s.cfg)
	hc.mu.Lock()
	hc.res, hc.cancel = res, cancel
	hc.seq++
	seq := hc.seq
	hc.mu.Unlock()
	// After res is known: either Shutdown finds it, or this sees Shutdown.
	if hc.s.draining.Load() {
		res.SetCloseAfter()
	}
	w := &response{Response: res, hc: hc}
	hc.s.pool.Go(func() { hc.run(w, r, cancel, seq) })
}

// run calls the handler (on a worker): a panic closes the connection,
// answered 500 when nothing was sent yet.
func (hc *conn) run(w *response, r *http.Request, cancel context.CancelFunc, seq uint32) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				hc.s.panicked(v, r.RemoteAddr)
			}
			hc.mu.Lock()
			upgraded := hc.upgraded
			hc.mu.Unlock()
			if !upgraded && !w.HeadSent() {
				_, _ = hc.c.Write(resp500)
			}
			_ = hc.c.Close()
		} else {
			_ = w.End()
		}
		_ = r.Body.Close()
		cancel() // as net/http: the request's context ends with its handler
		hc.mu.Lock()
		if hc.seq == seq {
			hc.cancel = nil // not kept by a detached response
		}
		hc.mu.Unlock()
	}()
	hc.s.h.ServeHTTP(w, r)
}

// Write sends b to the client (http1.Conn).
func (hc *conn) Write(b []byte) (int, error) { return hc.c.Write(b) }

// ResponseDone goes on with the next request once a response is out
// (http1.Conn): on whatever goroutine finished the response.
func (hc *conn) ResponseDone(closeAfter bool) {
	hc.mu.Lock()
	hc.res, hc.cancel = nil, nil
	hc.mu.Unlock()
	if closeAfter {
		_ = hc.c.Close()
		return
	}
	hc.c.Exec(hc.responded)
}

// responded readies the connection for the next request. On the loop.
func (hc *conn) responded() {
	hc.mu.Lock()
	if hc.st.Load() != stServing {
		hc.mu.Unlock()
		return
	}
	hc.st.Store(stRead)
	paused := hc.paused
	hc.paused = false
	hc.mu.Unlock()
	hc.served = true
	hc.p.Done()
	if hc.s.draining.Load() {
		hc.st.Store(stClosing)
		_ = hc.c.Close()
		return
	}
	if paused {
		hc.c.ResumeReads()
	}
	hc.advance()
}

// fail answers a request the parser refused as Node does, and closes.
func (hc *conn) fail(err error) {
	hc.st.Store(stClosing)
	if b := http1.ErrorResponse(err); b != nil {
		_, _ = hc.c.Write(b)
	}
	_ = hc.c.Close()
}

// OnTimeout ends a connection whose request did not arrive in time (408),
// or an idle keep-alive one (netpoll.TimeoutHandler).
func (hc *conn) OnTimeout(c *netpoll.Conn, _ error) {
	if hc.st.Load() != stRead {
		return
	}
	hc.st.Store(stClosing)
	if !(hc.served && hc.p.State() == http1.StateIdle) {
		_, _ = c.Write(resp408)
	}
	_ = c.Close()
}

// closeIfIdle closes the connection when no request is on it: Shutdown's
// first step. On the loop.
func (hc *conn) closeIfIdle() {
	if hc.st.Load() == stRead && hc.p.State() == http1.StateIdle {
		hc.st.Store(stClosing)
		_ = hc.c.Close()
	}
}

// OnClose ends the request on the connection, if any: its context is
// cancelled, and a detached response learns that its client left
// (netpoll.Handler).
func (hc *conn) OnClose(c *netpoll.Conn, err error) {
	hc.mu.Lock()
	hc.st.Store(stClosed)
	hc.closeErr = err
	hc.held = nil
	res, cancel, switched, upgraded := hc.res, hc.cancel, hc.switched, hc.upgraded
	hc.res, hc.cancel = nil, nil
	hc.mu.Unlock()
	if switched != nil {
		switched.OnClose(c, err) // not yet handed over
		return
	}
	hc.s.untrack(hc)
	if cancel != nil {
		cancel()
	}
	if res != nil && !upgraded {
		// Off the loop: a detached response's onClose is the
		// application's code.
		hc.s.pool.Go(res.ConnClosed)
	}
}

// Upgrade ends HTTP on the connection (http1.Upgrader, through
// Response.Upgrade): it returns the connection and the bytes read after
// the request. Called on the handler's goroutine; the loop keeps what
// comes next until Switch.
func (hc *conn) Upgrade() (net.Conn, []byte, error) {
	hc.mu.Lock()
	if hc.st.Load() != stServing {
		hc.mu.Unlock()
		return nil, nil, net.ErrClosed
	}
	rest := hc.p.Rest()
	hc.st.Store(stUpgraded)
	hc.upgraded = true
	hc.res, hc.cancel = nil, nil
	hc.mu.Unlock()
	hc.c.SetDeadline(time.Time{})
	hc.s.untrack(hc)
	return &Upgraded{hc: hc}, rest, nil
}
