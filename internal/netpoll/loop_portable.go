//go:build !linux || netpoll_portable

package netpoll

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// The portable Loop: the same API on net.Conn, with a goroutine per
// connection reading into OnData (and short-lived ones for tasks and for
// writes that wait). Each connection's callbacks run under its own lock,
// which stands for the loop: one at a time, in order.

// Loop serves connections: Serve accepts them, Adopt takes them over from
// another server, Close stops it all and waits for every goroutine it
// started.
type Loop struct {
	opts  Options
	start time.Time
	wheel *wheel

	conns           atomic.Int64
	accepted        atomic.Uint64
	rejected        atomic.Uint64
	panics          atomic.Uint64
	handshakeErrors atomic.Uint64

	mu       sync.RWMutex // closed, draining, and the WaitGroup's adds
	closed   bool
	draining bool
	noAccept bool // StopAccepting was called
	wg       sync.WaitGroup
	done     chan struct{}
	stopped  chan struct{}
	idle     chan struct{}

	cmu  sync.Mutex
	live map[*Conn]struct{}
	lns  []net.Listener
}

// New starts a Loop.
func New(opts Options) (*Loop, error) {
	opts = opts.withDefaults()
	l := &Loop{
		opts: opts, start: time.Now(), wheel: newWheel(int64(opts.TimerTick)),
		done: make(chan struct{}), stopped: make(chan struct{}), live: map[*Conn]struct{}{},
	}
	l.wg.Add(1)
	go l.ticker()
	return l, nil
}

func (l *Loop) now() int64 { return int64(time.Since(l.start)) }

// Stats returns the loop's counters.
func (l *Loop) Stats() Stats {
	return Stats{
		Conns:           int(l.conns.Load()),
		Accepted:        l.accepted.Load(),
		Rejected:        l.rejected.Load(),
		Panics:          l.panics.Load(),
		HandshakeErrors: l.handshakeErrors.Load(),
	}
}

// spawn runs f on a goroutine the Loop waits for, unless it is closed.
func (l *Loop) spawn(f func()) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return false
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		f()
	}()
	return true
}

func (l *Loop) ticker() {
	defer l.wg.Done()
	t := time.NewTicker(l.opts.TimerTick)
	defer t.Stop()
	var out []fired
	for {
		select {
		case <-l.done:
			return
		case <-t.C:
		}
		out = l.wheel.advance(l.now(), out[:0])
		for i, f := range out {
			out[i] = fired{}
			f.c.timeout(f.kind)
		}
	}
}

// Serve accepts connections from ln until the Loop is closed, and returns
// ErrLoopClosed then; ln is closed by Close. accept is called for each new
// connection (after the TLS handshake, with the TLS option) and returns its
// Handler; nil closes the connection.
func (l *Loop) Serve(ln net.Listener, accept func(c *Conn) Handler, opts ...ServeOption) error {
	var sc serveConfig
	for _, o := range opts {
		o(&sc)
	}
	l.cmu.Lock()
	l.lns = append(l.lns, ln)
	l.cmu.Unlock()
	l.mu.RLock()
	closed, draining := l.closed, l.draining || l.noAccept
	l.mu.RUnlock()
	if closed || draining {
		_ = ln.Close()
		return ErrLoopClosed
	}
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			select {
			case <-l.done:
				return ErrLoopClosed
			default:
			}
			if l.isDraining() {
				<-l.done
				return ErrLoopClosed
			}
			if errors.Is(err, net.ErrClosed) {
				<-l.done
				return ErrLoopClosed
			}
			// Out of descriptors and the like: wait, as net/http does.
			l.opts.Logger.Warn("netpoll: accept", slog.Any("err", err))
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if l.conns.Add(1) > int64(l.opts.MaxConns) {
			l.connGone()
			l.rejected.Add(1)
			_ = nc.Close()
			continue
		}
		l.accepted.Add(1)
		c := newConn(l, nc)
		if !l.add(c) {
			_ = nc.Close()
			l.connGone()
			continue
		}
		tlsCfg := sc.tls
		if !l.spawn(func() { c.serve(nil, accept, tlsCfg) }) {
			l.remove(c)
			_ = nc.Close()
			l.connGone()
		}
	}
}

func (l *Loop) isDraining() bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.draining
}

func (l *Loop) add(c *Conn) bool {
	l.cmu.Lock()
	defer l.cmu.Unlock()
	l.mu.RLock()
	closed := l.closed
	l.mu.RUnlock()
	if closed {
		return false
	}
	l.live[c] = struct{}{}
	return true
}

func (l *Loop) remove(c *Conn) {
	l.cmu.Lock()
	delete(l.live, c)
	l.cmu.Unlock()
}

// Adopt takes over nc (any net.Conn here); initial holds bytes already
// read from it, which h gets first. What must reach the peer before the
// handler's bytes is written to nc before Adopt.
func (l *Loop) Adopt(nc net.Conn, initial []byte, h Handler) (*Conn, error) {
	if l.isDraining() {
		_ = nc.Close()
		return nil, ErrLoopClosed
	}
	if l.conns.Add(1) > int64(l.opts.MaxConns) {
		l.connGone()
		l.rejected.Add(1)
		_ = nc.Close()
		return nil, ErrMaxConns
	}
	c := newConn(l, nc)
	c.h = h
	if len(initial) > 0 {
		initial = append([]byte(nil), initial...)
	}
	l.accepted.Add(1)
	if !l.add(c) || !l.spawn(func() { c.serve(initial, nil, nil) }) {
		l.accepted.Add(^uint64(0))
		l.remove(c)
		_ = nc.Close()
		l.connGone()
		return nil, ErrLoopClosed
	}
	return c, nil
}

// StopAccepting closes every listener Serve was given; the connections
// already accepted go on. Serve returns when the Loop is closed, and a
// Serve called afterwards returns ErrLoopClosed at once.
func (l *Loop) StopAccepting() {
	l.mu.Lock()
	l.noAccept = true
	l.mu.Unlock()
	l.cmu.Lock()
	lns := l.lns
	l.lns = nil
	l.cmu.Unlock()
	for _, ln := range lns {
		_ = ln.Close()
	}
}

// Close stops accepting, closes every connection (OnClose with
// ErrLoopClosed) and waits for every goroutine the Loop started.
func (l *Loop) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.stopped
		return nil
	}
	l.closed = true
	close(l.done)
	l.mu.Unlock()
	l.cmu.Lock()
	lns := l.lns
	l.lns = nil
	conns := make([]*Conn, 0, len(l.live))
	for c := range l.live {
		conns = append(conns, c)
	}
	l.cmu.Unlock()
	for _, ln := range lns {
		_ = ln.Close()
	}
	for _, c := range conns {
		c.abortWith(ErrLoopClosed)
	}
	l.wg.Wait()
	close(l.stopped)
	return nil
}

// Shutdown stops accepting, closes every connection gracefully and waits
// until all are closed or ctx ends, then closes the Loop.
func (l *Loop) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	if l.idle == nil {
		l.idle = make(chan struct{})
	}
	l.draining = true
	idle := l.idle
	l.mu.Unlock()
	l.cmu.Lock()
	for _, ln := range l.lns {
		_ = ln.Close()
	}
	conns := make([]*Conn, 0, len(l.live))
	for c := range l.live {
		conns = append(conns, c)
	}
	l.cmu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	if l.conns.Load() == 0 {
		l.signalIdle()
	}
	var err error
	select {
	case <-idle:
	case <-ctx.Done():
		err = ctx.Err()
	}
	_ = l.Close()
	return err
}

func (l *Loop) connGone() {
	if l.conns.Add(-1) == 0 && l.isDraining() {
		l.signalIdle()
	}
}

func (l *Loop) signalIdle() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.idle == nil {
		return
	}
	select {
	case <-l.idle:
	default:
		close(l.idle)
	}
}

// panicked logs and counts a recovered panic, and closes c with it.
func (l *Loop) panicked(c *Conn, v any) {
	pe := &PanicError{Value: v, Stack: debug.Stack()}
	l.panics.Add(1)
	remote := ""
	if a := c.nc.RemoteAddr(); a != nil {
		remote = a.String()
	}
	l.opts.Logger.Error("netpoll: panic in a connection handler; connection closed",
		slog.String("remote", remote), slog.Any("panic", v), slog.String("stack", string(pe.Stack)))
	if f := l.opts.OnPanic; f != nil {
		func() {
			defer func() { _ = recover() }()
			f(pe)
		}()
	}
	c.abortWith(pe)
}

func handshake(ctx context.Context, tc *tls.Conn, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	err := tc.HandshakeContext(ctx)
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		return ErrHandshakeTimeout
	}
	return err
}
