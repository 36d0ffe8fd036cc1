package httploop

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/siogo/siogo/internal/http1"
	"github.com/siogo/siogo/internal/netpoll"
)

// The states of a connection, as its loop sees them.
const (
	stRead     uint8 = iota // reading a request (or idle between two)
	stServing               // a request is with its handler, or detached
	stUpgraded              // taken by Upgrade, not yet switched
	stClosing               // an error answer or a timeout: closing
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

	// On the loop only.
	st       uint8
	prev     http1.State // the parser's state when the timers were last set
	served   bool        // a response went out: the keep-alive bound applies
	paused   bool        // reads paused: pipelined bytes filled the parser
	upgraded bool        // Upgrade took the connection
	start    int64       // the current request's first byte, Server.now
	held     []byte      // read after Upgrade, before Switch
	closeErr error       // why it closed, for a Switch that comes after

	// Shared by the loop and the handler's goroutine.
	mu     sync.Mutex
	res    *http1.Response // the request being answered
	cancel context.CancelFunc

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
	switch hc.st {
	case stUpgraded:
		hc.held = append(hc.held, b...)
		if len(hc.held) > maxHeld && !hc.paused {
			hc.paused = true
			c.PauseReads()
		}
		return
	case stClosing, stClosed:
		return
	}
	if err := hc.p.Feed(b); err != nil {
		hc.fail(err)
		return
	}
	if hc.st == stServing {
		// Pipelined: kept until the answer is out, within a bound.
		if hc.p.Full() && !hc.paused {
			hc.paused = true
			c.PauseReads()
		}
		return
	}
	hc.advance()
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
	hc.st = stServing
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
	hc.mu.Unlock()
	// After res is known: either Shutdown finds it, or this sees Shutdown.
	if hc.s.draining.Load() {
		res.SetCloseAfter()
	}
	w := &response{Response: res, hc: hc}
	hc.s.pool.Go(func() { hc.run(w, r, cancel) })
}

// run calls the handler (on a worker): a panic closes the connection,
// answered 500 when nothing was sent yet.
func (hc *conn) run(w *response, r *http.Request, cancel context.CancelFunc) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				hc.s.panicked(v, r.RemoteAddr)
			}
			if !hc.upgraded && !w.HeadSent() {
				_, _ = hc.c.Write(resp500)
			}
			_ = hc.c.Close()
		} else {
			_ = w.End()
		}
		_ = r.Body.Close()
		cancel() // as net/http: the request's context ends with its handler
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
	if hc.st != stServing {
		return
	}
	hc.st = stRead
	hc.served = true
	hc.p.Done()
	if hc.s.draining.Load() {
		hc.st = stClosing
		_ = hc.c.Close()
		return
	}
	if hc.paused {
		hc.paused = false
		hc.c.ResumeReads()
	}
	hc.advance()
}

// fail answers a request the parser refused as Node does, and closes.
func (hc *conn) fail(err error) {
	hc.st = stClosing
	if b := http1.ErrorResponse(err); b != nil {
		_, _ = hc.c.Write(b)
	}
	_ = hc.c.Close()
}

// OnTimeout ends a connection whose request did not arrive in time (408),
// or an idle keep-alive one (netpoll.TimeoutHandler).
func (hc *conn) OnTimeout(c *netpoll.Conn, _ error) {
	if hc.st != stRead {
		return
	}
	hc.st = stClosing
	if !(hc.served && hc.p.State() == http1.StateIdle) {
		_, _ = c.Write(resp408)
	}
	_ = c.Close()
}

// closeIfIdle closes the connection when no request is on it: Shutdown's
// first step. On the loop.
func (hc *conn) closeIfIdle() {
	if hc.st == stRead && hc.p.State() == http1.StateIdle {
		hc.st = stClosing
		_ = hc.c.Close()
	}
}

// OnClose ends the request on the connection, if any: its context is
// cancelled, and a detached response learns that its client left
// (netpoll.Handler).
func (hc *conn) OnClose(_ *netpoll.Conn, err error) {
	hc.st = stClosed
	hc.closeErr = err
	hc.held = nil
	hc.s.untrack(hc)
	hc.mu.Lock()
	res, cancel := hc.res, hc.cancel
	hc.res, hc.cancel = nil, nil
	hc.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	if res != nil && !hc.upgraded {
		// Off the loop: a detached response's onClose is the
		// application's code.
		hc.s.pool.Go(res.ConnClosed)
	}
}

// Upgrade ends HTTP on the connection (http1.Upgrader, through
// Response.Upgrade): it returns the connection and the bytes read after
// the request. Called on the handler's goroutine.
func (hc *conn) Upgrade() (net.Conn, []byte, error) {
	type result struct {
		rest []byte
		err  error
	}
	ch := make(chan result, 1)
	ok := hc.c.Exec(func() {
		res := result{err: net.ErrClosed}
		defer func() { ch <- res }()
		if hc.st != stServing {
			return
		}
		res = result{rest: hc.p.Rest()}
		hc.st = stUpgraded
		hc.upgraded = true
		hc.c.SetDeadline(time.Time{})
		hc.s.untrack(hc)
	})
	if !ok {
		return nil, nil, net.ErrClosed
	}
	res := <-ch
	if res.err != nil {
		return nil, nil, res.err
	}
	return &Upgraded{hc: hc}, res.rest, nil
}
