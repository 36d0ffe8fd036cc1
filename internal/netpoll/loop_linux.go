//go:build linux && !netpoll_portable

package netpoll

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Loop is a set of pollers serving connections: an epoll instance and a
// goroutine each. Serve accepts on them, Adopt takes connections over from
// another server; Close stops it all.
type Loop struct {
	opts    Options
	start   time.Time
	pollers []*poller

	conns           atomic.Int64
	accepted        atomic.Uint64
	rejected        atomic.Uint64
	panics          atomic.Uint64
	handshakeErrors atomic.Uint64
	// acceptLocal: a poller keeps what it accepts (a benchmark compares).
	acceptLocal bool

	mu        sync.Mutex
	closed    bool
	done      chan struct{} // closed by Close: Serve returns
	listeners []*listener
	pwg       sync.WaitGroup // pollers
	wg        sync.WaitGroup // TLS handshakes
	stopped   chan struct{}  // closed when Close is done
	idle      chan struct{}  // closed when a Shutdown's connections are all gone
	draining  atomic.Bool    // Shutdown was called: Adopt refuses
	noAccept  bool           // StopAccepting was called: Serve refuses
}

// New starts a Loop's pollers.
func New(opts Options) (*Loop, error) {
	opts = opts.withDefaults()
	l := &Loop{opts: opts, start: time.Now(), done: make(chan struct{}), stopped: make(chan struct{})}
	for i := 0; i < opts.Pollers; i++ {
		p, err := newPoller(l, i)
		if err != nil {
			for _, p := range l.pollers {
				p.closeFds()
			}
			return nil, err
		}
		l.pollers = append(l.pollers, p)
	}
	for _, p := range l.pollers {
		l.pwg.Add(1)
		go p.run()
	}
	return l, nil
}

// pick is the poller with the fewest connections; self when it is among
// them. Whichever poller epoll wakes for a listener accepts, and hands the
// connection to the least loaded one: with EPOLLEXCLUSIVE alone, clients
// that arrive one at a time land on the same poller (9 in 10 in
// BenchmarkAccept).
func (l *Loop) pick(self *poller) *poller {
	best := self
	var min int32 = 1<<31 - 1
	if self != nil {
		min = self.n.Load()
	}
	for _, p := range l.pollers {
		if n := p.n.Load(); n < min {
			best, min = p, n
		}
	}
	return best
}

// now is the loop's monotonic clock, in ns since it started.
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

// listener is a listening socket the pollers accept on, each with
// EPOLLEXCLUSIVE, so that one of them (not all) wakes per connection.
type listener struct {
	idx    int32
	fd     int
	accept func(*Conn) Handler
	tls    *tls.Config
}

// Serve accepts connections from ln (a *net.TCPListener) on the loop until
// the Loop is closed, and returns ErrLoopClosed then. It takes ln over: its
// socket is duplicated close-on-exec and ln is closed. accept is called on
// the loop for each new connection (after the TLS handshake, with the TLS
// option) and returns its Handler; nil closes the connection.
func (l *Loop) Serve(ln net.Listener, accept func(c *Conn) Handler, opts ...ServeOption) error {
	var sc serveConfig
	for _, o := range opts {
		o(&sc)
	}
	tl, ok := ln.(*net.TCPListener)
	if !ok {
		return ErrNotTCP
	}
	fd, err := dupSocket(tl)
	if err != nil {
		return err
	}
	_ = ln.Close()
	l.mu.Lock()
	if l.closed || l.noAccept {
		l.mu.Unlock()
		unix.Close(fd)
		return ErrLoopClosed
	}
	lis := &listener{idx: int32(len(l.listeners)), fd: fd, accept: accept, tls: sc.tls}
	l.listeners = append(l.listeners, lis)
	l.mu.Unlock()
	var wg sync.WaitGroup
	errs := make(chan error, len(l.pollers))
	for _, p := range l.pollers {
		wg.Add(1)
		if !p.post(func() { defer wg.Done(); errs <- p.addListener(lis) }) {
			wg.Done()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err // the loop still owns fd; Close closes it
		}
	}
	<-l.done
	return ErrLoopClosed
}

// dupSocket returns a close-on-exec, non-blocking duplicate of the socket
// under c, made while c's descriptor is held by its owner.
func dupSocket(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	nfd := -1
	var derr error
	if err := rc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, os.NewSyscallError("fcntl", derr)
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, os.NewSyscallError("setnonblock", err)
	}
	return nfd, nil
}

// Adopt takes over nc, a *net.TCPConn hijacked from another server (an
// HTTP upgrade): its socket is duplicated close-on-exec and nc is closed.
// initial holds bytes already read from it (a bufio.Reader's); h gets them
// first, in an OnData call on the loop, which may run before Adopt returns:
// what must reach the peer before the handler's bytes (an HTTP 101) is
// written to nc before Adopt. For anything but a TCP connection
// Adopt returns ErrNotTCP and leaves nc to the caller; on any other error
// nc is closed.
func (l *Loop) Adopt(nc net.Conn, initial []byte, h Handler) (*Conn, error) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil, ErrNotTCP
	}
	if l.draining.Load() {
		_ = nc.Close()
		return nil, ErrLoopClosed
	}
	if l.conns.Add(1) > int64(l.opts.MaxConns) {
		l.connGone()
		l.rejected.Add(1)
		_ = nc.Close()
		return nil, ErrMaxConns
	}
	fd, err := dupSocket(tc)
	_ = nc.Close()
	if err != nil {
		l.connGone()
		return nil, err
	}
	p := l.pick(nil)
	p.n.Add(1)
	c := newConn(p, fd)
	c.remote = addrPort(nc.RemoteAddr())
	c.local = addrPort(nc.LocalAddr())
	c.h = h
	if len(initial) > 0 {
		initial = append([]byte(nil), initial...)
	}
	l.accepted.Add(1) // before the loop may have served and closed it
	if !p.post(func() { p.adopt(c, initial) }) {
		l.accepted.Add(^uint64(0))
		unix.Close(fd)
		p.n.Add(-1)
		l.connGone()
		return nil, ErrLoopClosed
	}
	return c, nil
}

// StopAccepting stops accepting on every listener Serve was given and
// closes them (a client connecting now is refused); the connections
// already accepted go on. Serve returns when the Loop is closed, and a
// Serve called afterwards returns ErrLoopClosed at once. It is the first
// step of a server's own graceful shutdown, which closes its connections
// as it sees fit. Not from a callback, as Close.
func (l *Loop) StopAccepting() {
	l.mu.Lock()
	l.noAccept = true
	l.mu.Unlock()
	var wg sync.WaitGroup
	for _, p := range l.pollers {
		wg.Add(1)
		if !p.post(func() { defer wg.Done(); p.removeListeners() }) {
			wg.Done()
		}
	}
	wg.Wait()
	l.mu.Lock()
	for _, lis := range l.listeners {
		unix.Close(lis.fd)
	}
	l.listeners = nil
	l.mu.Unlock()
}

// Close stops accepting, closes every connection (each Handler's OnClose
// is called with ErrLoopClosed), stops every poller and waits for them and
// for every goroutine the loop started. It must not be called from a
// callback, which runs on a poller it waits for.
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
	for _, p := range l.pollers {
		p.stop()
	}
	l.pwg.Wait()
	l.wg.Wait()
	l.mu.Lock()
	for _, lis := range l.listeners {
		unix.Close(lis.fd)
	}
	l.listeners = nil
	l.mu.Unlock()
	close(l.stopped)
	return nil
}

// Shutdown stops accepting, closes every connection gracefully (what is
// buffered is delivered first, bounded by Options.CloseTimeout) and waits
// until all are closed or ctx ends, then closes the Loop. It returns
// ctx.Err() when ctx ended first. Not from a callback, as Close.
func (l *Loop) Shutdown(ctx context.Context) error {
	l.mu.Lock()
	if l.idle == nil {
		l.idle = make(chan struct{})
		l.draining.Store(true)
	}
	idle := l.idle
	l.mu.Unlock()
	for _, p := range l.pollers {
		p.post(func() { p.drain() })
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

// connGone counts a closed connection, and tells a Shutdown when it was
// the last.
func (l *Loop) connGone() {
	if l.conns.Add(-1) == 0 && l.draining.Load() {
		l.signalIdle()
	}
}

func (l *Loop) signalIdle() {
	l.mu.Lock()
	select {
	case <-l.idle:
	default:
		close(l.idle)
	}
	l.mu.Unlock()
}

// panicked logs and counts a recovered panic, and closes c with it.
func (l *Loop) panicked(c *Conn, v any) {
	pe := &PanicError{Value: v, Stack: debug.Stack()}
	l.panics.Add(1)
	l.opts.Logger.Error("netpoll: panic in a connection handler; connection closed",
		slog.String("remote", c.remote.String()), slog.Any("panic", v), slog.String("stack", string(pe.Stack)))
	if f := l.opts.OnPanic; f != nil {
		func() {
			defer func() { _ = recover() }()
			f(pe)
		}()
	}
	c.p.closeNow(c, pe)
}
