//go:build !linux || netpoll_portable

package netpoll

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

const (
	pHandshake uint8 = iota
	pOpen
	pClosed
)

// Conn is a connection served by a Loop.
type Conn struct {
	l  *Loop
	nc net.Conn
	tc *tls.Conn // on a TLS connection
	rw net.Conn  // tc or nc

	emu   sync.Mutex // held during every callback: the connection's "loop"
	state uint8      // under emu
	h     Handler
	ctx   any

	qmu     sync.Mutex
	tasks   []func()
	running bool

	pmu   sync.Mutex
	pcond sync.Cond

	closing  atomic.Bool
	paused   atomic.Bool
	buffered atomic.Int64

	wmu        sync.Mutex
	wcond      sync.Cond // flushing ended
	out        *outBuf
	werr       error
	wclosed    bool
	flushing   bool
	aborted    bool
	closeAsked bool
	finished   bool // the graceful close's end was sent
	causeSet   bool
	cause      error

	timers
}

func newConn(l *Loop, nc net.Conn) *Conn {
	c := &Conn{l: l, nc: nc, rw: nc}
	c.pcond.L = &c.pmu
	c.wcond.L = &c.wmu
	return c
}

// serve is the connection's goroutine: the TLS handshake, the accept
// call, then reads until the end.
func (c *Conn) serve(initial []byte, accept func(*Conn) Handler, cfg *tls.Config) {
	l := c.l
	if cfg != nil {
		c.tc = tls.Server(c.nc, cfg)
		// Loop.Close closes nc, which ends a handshake that waits.
		if err := c.handshake(); err != nil {
			l.handshakeErrors.Add(1)
			_ = c.nc.Close()
			c.gone()
			return
		}
		c.rw = c.tc
	}
	c.emu.Lock()
	c.state = pOpen
	if accept != nil && !c.closing.Load() {
		c.h = c.callAccept(accept) // nil after a panic, which closed c
		if c.h == nil {
			c.abortWith(nil)
		}
	}
	if len(initial) > 0 && c.h != nil && !c.closing.Load() {
		c.callData(initial)
	}
	c.emu.Unlock()

	size := min(c.l.opts.ReadBufferSize, 16<<10)
	buf := make([]byte, size)
	for {
		n, err := c.rw.Read(buf)
		if n > 0 {
			c.lastRead.Store(l.now())
			c.deliver(buf[:n])
		}
		if err != nil {
			c.ended(err)
			return
		}
	}
}

// handshake runs the TLS handshake, recovering a panic of a tls.Config
// callback as any callback's.
func (c *Conn) handshake() (err error) {
	defer func() {
		if v := recover(); v != nil {
			c.l.panicked(c, v)
			err = &PanicError{Value: v}
		}
	}()
	return handshake(context.Background(), c.tc, c.l.opts.HandshakeTimeout)
}

// deliver hands b to the Handler, once reads are not paused.
func (c *Conn) deliver(b []byte) {
	for {
		c.pmu.Lock()
		for c.paused.Load() && !c.closing.Load() {
			c.pcond.Wait()
		}
		c.pmu.Unlock()
		c.emu.Lock()
		if c.paused.Load() && !c.closing.Load() {
			c.emu.Unlock()
			continue
		}
		if c.state == pOpen && !c.closing.Load() {
			c.callData(b)
		}
		c.emu.Unlock()
		return
	}
}

// ended closes the connection after its reads ended with err.
func (c *Conn) ended(err error) {
	c.wmu.Lock()
	switch {
	case !c.causeSet && errors.Is(err, io.EOF):
		c.causeSet, c.cause = true, io.EOF
	case !c.causeSet:
		c.causeSet, c.cause = true, err
	case c.cause == nil && !c.aborted && errors.Is(err, os.ErrDeadlineExceeded):
		c.cause = ErrCloseTimeout // the peer did not end in time
	}
	if !c.wclosed {
		c.wclosed, c.werr = true, net.ErrClosed
	}
	c.closeAsked = true
	c.closing.Store(true)
	if c.flushing {
		// Delivering what waits, as on the loop (bounded by CloseTimeout).
		c.l.wheel.closing(c, c.l.now()+int64(c.l.opts.CloseTimeout))
	}
	for c.flushing {
		c.wcond.Wait()
	}
	if c.out != nil {
		c.out.release()
		c.out = nil
		c.buffered.Store(0)
	}
	cause := c.cause
	c.wmu.Unlock()
	_ = c.nc.Close()
	c.l.wheel.drop(c)
	c.emu.Lock()
	c.state = pClosed
	if c.h != nil {
		c.callClose(cause)
	}
	c.emu.Unlock()
	c.gone()
}

func (c *Conn) gone() {
	c.l.remove(c)
	c.l.connGone()
}

// abortWith closes the connection at once with err as its reason (the
// first reason given wins).
func (c *Conn) abortWith(err error) {
	c.wmu.Lock()
	// An abort's reason replaces the nil of a graceful close it cuts short
	// (ErrCloseTimeout, ErrLoopClosed), as on the loop.
	if !c.causeSet || c.cause == nil && err != nil {
		c.causeSet, c.cause = true, err
	}
	c.aborted = true
	c.closeAsked = true
	if !c.wclosed {
		c.wclosed, c.werr = true, net.ErrClosed
	}
	if c.out != nil && !c.flushing {
		c.out.release()
		c.out = nil
		c.buffered.Store(0)
	}
	c.wmu.Unlock()
	c.closing.Store(true)
	_ = c.nc.Close()
	c.wake()
}

func (c *Conn) wake() {
	c.pmu.Lock()
	c.pcond.Broadcast()
	c.pmu.Unlock()
}

// Write queues b for the peer; a goroutine delivers it.
func (c *Conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed {
		return 0, c.werr
	}
	if err := c.bufferLocked(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// Writev queues bufs for the peer.
func (c *Conn) Writev(bufs [][]byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed {
		return 0, c.werr
	}
	n := 0
	for _, b := range bufs {
		if err := c.bufferLocked(b); err != nil {
			return 0, err
		}
		n += len(b)
	}
	return n, nil
}

func (c *Conn) bufferLocked(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if int(c.buffered.Load())+len(b) > c.l.opts.MaxWriteBuffer {
		c.failLocked(ErrSlowPeer)
		return ErrSlowPeer
	}
	if c.out == nil {
		c.out = newOutBuf()
	}
	c.out.append(b)
	c.buffered.Store(int64(c.out.size))
	if !c.flushing {
		c.flushing = true
		if !c.l.spawn(c.flush) {
			c.flushing = false
		}
	}
	return nil
}

// failLocked closes the connection with err. c.wmu is held.
func (c *Conn) failLocked(err error) {
	if !c.causeSet {
		c.causeSet, c.cause = true, err
	}
	c.aborted = true
	c.closeAsked = true
	c.wclosed, c.werr = true, err
	if c.out != nil && !c.flushing {
		c.out.release()
		c.out = nil
		c.buffered.Store(0)
	}
	c.closing.Store(true)
	_ = c.nc.Close()
	c.wake()
}

// flush writes what waits, then ends a graceful close that waited for it.
func (c *Conn) flush() {
	var iov [][]byte
	c.wmu.Lock()
	for c.out != nil && c.out.size > 0 && !c.aborted {
		iov = c.out.iovecs(iov[:0], 64)
		c.wmu.Unlock()
		bufs := net.Buffers(iov)
		n, err := bufs.WriteTo(c.rw)
		c.wmu.Lock()
		c.out.consume(int(n))
		c.buffered.Store(int64(c.out.size))
		if err != nil {
			c.failLocked(err)
		}
	}
	if c.out != nil {
		c.out.release()
		c.out = nil
		c.buffered.Store(0)
	}
	c.flushing = false
	finish := c.closeAsked && !c.aborted && !c.finished
	if finish {
		c.finished = true
	}
	c.wcond.Broadcast()
	c.wmu.Unlock()
	if finish {
		c.finishClose()
	}
}

// finishClose ends a graceful close once nothing waits: close_notify,
// the write side shut, and the peer's end awaited by the reader, within
// CloseTimeout.
func (c *Conn) finishClose() {
	if c.tc != nil {
		_ = c.tc.CloseWrite()
	}
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
		_ = c.nc.SetReadDeadline(time.Now().Add(c.l.opts.CloseTimeout))
	} else {
		_ = c.nc.Close()
	}
	c.wake()
}

// Buffered is the number of bytes waiting for the peer.
func (c *Conn) Buffered() int { return int(c.buffered.Load()) }

// Close closes c gracefully: what is buffered is delivered first.
func (c *Conn) Close() error {
	c.wmu.Lock()
	if c.closeAsked {
		c.wmu.Unlock()
		return nil
	}
	c.closeAsked = true
	if !c.causeSet {
		c.causeSet = true
	}
	if !c.wclosed {
		c.wclosed, c.werr = true, net.ErrClosed
	}
	finish := !c.flushing && !c.finished
	if finish {
		c.finished = true
	} else {
		c.l.wheel.closing(c, c.l.now()+int64(c.l.opts.CloseTimeout))
	}
	c.wmu.Unlock()
	c.closing.Store(true)
	if finish {
		c.finishClose()
	}
	c.wake()
	return nil
}

// Abort closes c at once, dropping what is buffered.
func (c *Conn) Abort() { c.abortWith(nil) }

// Exec runs f on c's "loop" (under its callback lock), in order; false
// once the Loop is closed.
func (c *Conn) Exec(f func()) bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.running {
		c.l.mu.RLock()
		closed := c.l.closed
		c.l.mu.RUnlock()
		if closed {
			return false
		}
		c.tasks = append(c.tasks, f)
		return true
	}
	c.tasks = append(c.tasks, f)
	if !c.l.spawn(c.runTasks) {
		c.tasks = c.tasks[:len(c.tasks)-1]
		return false
	}
	c.running = true
	return true
}

func (c *Conn) runTasks() {
	for {
		c.qmu.Lock()
		q := c.tasks
		c.tasks = nil
		if len(q) == 0 {
			c.running = false
			c.qmu.Unlock()
			return
		}
		c.qmu.Unlock()
		c.emu.Lock()
		for _, f := range q {
			c.runTask(f)
		}
		c.emu.Unlock()
	}
}

func (c *Conn) timeout(kind error) {
	if kind == errBound {
		c.abortWith(ErrCloseTimeout)
		return
	}
	c.Exec(func() {
		if c.state != pOpen || c.closing.Load() {
			return
		}
		if th, ok := c.h.(TimeoutHandler); ok {
			th.OnTimeout(c, kind)
			return
		}
		c.abortWith(kind)
	})
}

// SetHandler gives c's events to h from now on; call it in a callback.
func (c *Conn) SetHandler(h Handler) { c.h = h }

// Handler returns c's Handler; call it in a callback.
func (c *Conn) Handler() Handler { return c.h }

// PauseReads stops OnData calls until ResumeReads. Unlike the epoll
// loop, a reset meanwhile is seen only after ResumeReads.
func (c *Conn) PauseReads() { c.paused.Store(true) }

// ResumeReads undoes PauseReads.
func (c *Conn) ResumeReads() {
	c.paused.Store(false)
	c.wake()
}

// SetReadTimeout closes c once nothing was read for d; 0 turns it off.
func (c *Conn) SetReadTimeout(d time.Duration) { c.l.wheel.setRead(c, int64(d), c.l.now()) }

// SetDeadline closes c at t; the zero time turns it off.
func (c *Conn) SetDeadline(t time.Time) {
	var at int64
	if !t.IsZero() {
		at = max(int64(t.Sub(c.l.start)), 1)
	}
	c.l.wheel.setDeadline(c, at)
}

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// LocalAddr is the connection's own address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// Context returns the value set with SetContext.
func (c *Conn) Context() any { return c.ctx }

// SetContext keeps v with c.
func (c *Conn) SetContext(v any) { c.ctx = v }

// ConnectionState is the TLS state of a TLS connection.
func (c *Conn) ConnectionState() (tls.ConnectionState, bool) {
	if c.tc == nil {
		return tls.ConnectionState{}, false
	}
	return c.tc.ConnectionState(), true
}

func (c *Conn) recoverPanic() {
	if v := recover(); v != nil {
		c.l.panicked(c, v)
	}
}

func (c *Conn) callData(b []byte) {
	defer c.recoverPanic()
	c.h.OnData(c, b)
}

func (c *Conn) callClose(err error) {
	defer c.recoverPanic()
	c.h.OnClose(c, err)
}

func (c *Conn) callAccept(accept func(*Conn) Handler) Handler {
	defer c.recoverPanic()
	return accept(c)
}

func (c *Conn) runTask(f func()) {
	defer c.recoverPanic()
	f()
}
