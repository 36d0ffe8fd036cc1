//go:build linux && !netpoll_portable

package netpoll

import (
	"crypto/tls"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The states of a connection, as its loop sees them.
const (
	stNew       uint8 = iota // not yet registered
	stHandshake              // TLS handshake on its goroutine
	stOpen
	stFlush  // graceful close: delivering what is buffered
	stLinger // graceful close: write side shut, waiting for the peer's end
	stClosed
)

// Conn is a connection served by a Loop. Its Handler's callbacks run on
// the loop that owns it; Write, Writev, Close, Abort, Exec, Buffered,
// PauseReads, ResumeReads, the timeouts and the addresses may be used from
// any goroutine.
type Conn struct {
	p     *poller
	fd    int
	slot  int32
	gen   uint32
	state uint8 // loop-owned, like the fields down to closeErr
	// hup: the peer's end or an error was signalled, so reads go on
	// until the socket says so; hold: reads wait for the TLS handshake.
	hup, peerEOF, onAgain, hold bool

	h        Handler
	ctx      any
	tls      *tlsState
	closeErr error // the reason a graceful close reports

	remote netip.AddrPort
	local  netip.AddrPort // under wmu, filled on first use

	closing  atomic.Bool // Close, Abort or a failure: OnData is over
	paused   atomic.Bool
	buffered atomic.Int64

	wmu        sync.Mutex
	out        *outBuf
	werr       error
	wclosed    bool // writes are refused with werr
	closeAsked bool
	fdClosed   bool

	timers
}

func newConn(p *poller, fd int) *Conn { return &Conn{p: p, fd: fd, slot: -1} }

// Write writes b to the peer without blocking: at once when nothing waits
// (a write system call from the calling goroutine), otherwise into the
// connection's buffer, which the loop delivers as the peer reads. It
// returns len(b), or an error when the connection is closed; past
// Options.MaxWriteBuffer it closes the connection with ErrSlowPeer. On a
// TLS connection b is encrypted first.
func (c *Conn) Write(b []byte) (int, error) {
	if ts := c.tls; ts != nil {
		if c.closing.Load() {
			return 0, c.writeErr()
		}
		return ts.conn.Write(b)
	}
	return c.writeRaw(b)
}

func (c *Conn) writeErr() error {
	c.wmu.Lock()
	err := c.werr
	c.wmu.Unlock()
	if err == nil {
		err = net.ErrClosed
	}
	return err
}

func (c *Conn) writeRaw(b []byte) (int, error) {
	c.wmu.Lock()
	if c.wclosed {
		err := c.werr
		c.wmu.Unlock()
		return 0, err
	}
	n := 0
	if c.out == nil {
		for n < len(b) {
			k, err := unix.Write(c.fd, b[n:])
			if k > 0 {
				n += k
			}
			if err == nil || err == unix.EINTR {
				continue
			}
			if err == unix.EAGAIN {
				break
			}
			err = os.NewSyscallError("write", err)
			c.failLocked(err)
			c.wmu.Unlock()
			return n, err
		}
	}
	if n < len(b) {
		if err := c.bufferLocked(b[n:]); err != nil {
			c.wmu.Unlock()
			return n, err
		}
	}
	c.wmu.Unlock()
	return len(b), nil
}

// Writev writes bufs as Write would, in one writev system call when
// nothing waits.
func (c *Conn) Writev(bufs [][]byte) (int, error) {
	if ts := c.tls; ts != nil {
		if c.closing.Load() {
			return 0, c.writeErr()
		}
		return ts.writev(bufs)
	}
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	c.wmu.Lock()
	if c.wclosed {
		err := c.werr
		c.wmu.Unlock()
		return 0, err
	}
	n := 0
	rest := bufs
	if c.out == nil {
		for len(rest) > 0 {
			iov := rest
			if len(iov) > 1024 {
				iov = iov[:1024]
			}
			k, err := unix.Writev(c.fd, iov)
			if k > 0 {
				n += k
				rest = skip(rest, k)
			}
			if err == nil || err == unix.EINTR {
				continue
			}
			if err == unix.EAGAIN {
				break
			}
			err = os.NewSyscallError("writev", err)
			c.failLocked(err)
			c.wmu.Unlock()
			return n, err
		}
	}
	for _, b := range rest {
		if err := c.bufferLocked(b); err != nil {
			c.wmu.Unlock()
			return n, err
		}
	}
	c.wmu.Unlock()
	return total, nil
}

// skip drops the first n bytes of bufs.
func skip(bufs [][]byte, n int) [][]byte {
	for n > 0 && len(bufs) > 0 {
		if n < len(bufs[0]) {
			bufs[0] = bufs[0][n:]
			return bufs
		}
		n -= len(bufs[0])
		bufs = bufs[1:]
	}
	for len(bufs) > 0 && len(bufs[0]) == 0 {
		bufs = bufs[1:]
	}
	return bufs
}

// bufferLocked keeps b until the peer can take it; the loop writes it on
// the next EPOLLOUT edge (the write that could not finish ensures one).
func (c *Conn) bufferLocked(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if int(c.buffered.Load())+len(b) > c.p.l.opts.MaxWriteBuffer {
		c.failLocked(ErrSlowPeer)
		return ErrSlowPeer
	}
	if c.out == nil {
		c.out = newOutBuf()
	}
	c.out.append(b)
	c.buffered.Store(int64(c.out.size))
	return nil
}

// flushLocked writes what waits until the socket is full or nothing is
// left. c.wmu is held.
func (c *Conn) flushLocked() error {
	var arr [64][]byte
	for c.out != nil {
		iov := c.out.iovecs(arr[:0], len(arr))
		k, err := unix.Writev(c.fd, iov)
		clear(arr[:len(iov)])
		if k > 0 {
			c.out.consume(k)
			c.buffered.Store(int64(c.out.size))
			if c.out.size == 0 {
				c.out.release()
				c.out = nil
			}
		}
		if err == nil || err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return nil
		}
		err = os.NewSyscallError("writev", err)
		c.failLocked(err)
		return err
	}
	return nil
}

// failLocked refuses every write from now on with err and has the loop
// close the connection with it. c.wmu is held.
func (c *Conn) failLocked(err error) {
	if c.wclosed && c.werr != errClosed {
		return
	}
	c.wclosed, c.werr = true, err
	if c.out != nil {
		c.out.release()
		c.out = nil
		c.buffered.Store(0)
	}
	c.closing.Store(true)
	p := c.p
	p.post(func() { p.closeNow(c, err) })
}

// Buffered is the number of bytes waiting for the peer (after encryption
// on a TLS connection): what a sender of volatile packets looks at before
// adding more.
func (c *Conn) Buffered() int { return int(c.buffered.Load()) }

// Close closes c gracefully: writes are refused from now on, what is
// buffered is delivered, then the connection closes (sending TLS's
// close_notify first), all within Options.CloseTimeout. OnData is not
// called again; OnClose follows with nil.
func (c *Conn) Close() error {
	if ts := c.tls; ts != nil && ts.ready.Load() && !c.closing.Load() {
		_ = ts.conn.CloseWrite()
	}
	c.wmu.Lock()
	if c.closeAsked {
		c.wmu.Unlock()
		return nil
	}
	c.closeAsked = true
	if !c.wclosed {
		c.wclosed, c.werr = true, errClosed
	}
	c.wmu.Unlock()
	c.closing.Store(true)
	p := c.p
	p.post(func() { p.beginClose(c, nil) })
	return nil
}

// Abort closes c at once, dropping what is buffered. OnClose follows with
// nil.
func (c *Conn) Abort() {
	c.wmu.Lock()
	c.closeAsked = true
	if !c.wclosed {
		c.wclosed, c.werr = true, errClosed
	}
	if c.out != nil {
		c.out.release()
		c.out = nil
		c.buffered.Store(0)
	}
	c.wmu.Unlock()
	c.closing.Store(true)
	p := c.p
	p.post(func() { p.closeNow(c, nil) })
}

// Exec runs f on c's loop, after what is queued there; a panic in f
// closes c. It returns false (and f never runs) once the Loop is closed.
func (c *Conn) Exec(f func()) bool {
	return c.p.post(func() { c.runTask(f) })
}

// SetHandler gives c's events to h from now on (a protocol switch, HTTP
// to WebSocket). Call it on c's loop: in a callback or through Exec.
func (c *Conn) SetHandler(h Handler) { c.h = h }

// Handler returns c's Handler. Call it on c's loop.
func (c *Conn) Handler() Handler { return c.h }

// PauseReads stops OnData calls until ResumeReads: the peer's bytes wait
// in the kernel, and TCP's window stops the peer when it fills. A reset
// still closes the connection meanwhile; the peer's end (FIN) is seen
// after ResumeReads.
func (c *Conn) PauseReads() { c.paused.Store(true) }

// ResumeReads undoes PauseReads; what arrived meanwhile is read at once.
func (c *Conn) ResumeReads() {
	if c.paused.Swap(false) {
		p := c.p
		p.post(func() {
			if c.state != stClosed {
				p.read(c)
			}
		})
	}
}

// SetReadTimeout closes c (or calls its TimeoutHandler with
// ErrReadTimeout) once nothing has been read for d, counted from now and
// from every read after; 0 turns it off. The timeout is checked on a
// coarse wheel (Options.TimerTick): it fires up to one tick late.
func (c *Conn) SetReadTimeout(d time.Duration) {
	c.p.wheel.setRead(c, int64(d), c.p.l.now())
}

// SetDeadline closes c (or calls its TimeoutHandler with ErrDeadline) at
// t, whatever happens meanwhile; the zero time turns it off.
func (c *Conn) SetDeadline(t time.Time) {
	var at int64
	if !t.IsZero() {
		at = max(int64(t.Sub(c.p.l.start)), 1)
	}
	c.p.wheel.setDeadline(c, at)
}

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return net.TCPAddrFromAddrPort(c.remote) }

// LocalAddr is the connection's own address (nil once it is closed, when
// it was never asked before).
func (c *Conn) LocalAddr() net.Addr {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if !c.local.IsValid() && !c.fdClosed {
		if sa, err := unix.Getsockname(c.fd); err == nil {
			c.local = sockaddrAddrPort(sa)
		}
	}
	if !c.local.IsValid() {
		return nil
	}
	return net.TCPAddrFromAddrPort(c.local)
}

// Context returns the value set with SetContext.
func (c *Conn) Context() any { return c.ctx }

// SetContext keeps v with c, for the layer above (its per-connection
// state). It is a plain field: set it on the loop, or before c is shared.
func (c *Conn) SetContext(v any) { c.ctx = v }

// ConnectionState is the TLS state of a connection served with the TLS
// option; false for a plain one.
func (c *Conn) ConnectionState() (tls.ConnectionState, bool) {
	if c.tls == nil || !c.tls.ready.Load() {
		return tls.ConnectionState{}, false
	}
	return c.tls.conn.ConnectionState(), true
}

func (c *Conn) recoverPanic() {
	if v := recover(); v != nil {
		c.p.l.panicked(c, v)
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

func (c *Conn) callTimeout(th TimeoutHandler, err error) {
	defer c.recoverPanic()
	th.OnTimeout(c, err)
}

func (c *Conn) callAccept(accept func(*Conn) Handler) Handler {
	defer c.recoverPanic()
	return accept(c)
}

func (c *Conn) runTask(f func()) {
	defer c.recoverPanic()
	f()
}

func sockaddrAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(a.Addr).Unmap()
		if a.ZoneId != 0 && ip.Is6() {
			ip = ip.WithZone(zoneName(a.ZoneId))
		}
		return netip.AddrPortFrom(ip, uint16(a.Port))
	}
	return netip.AddrPort{}
}

func stdSockaddrAddrPort(sa syscall.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *syscall.SockaddrInet6:
		ip := netip.AddrFrom16(a.Addr).Unmap()
		if a.ZoneId != 0 && ip.Is6() {
			ip = ip.WithZone(zoneName(a.ZoneId))
		}
		return netip.AddrPortFrom(ip, uint16(a.Port))
	}
	return netip.AddrPort{}
}

func zoneName(id uint32) string {
	if ifi, err := net.InterfaceByIndex(int(id)); err == nil {
		return ifi.Name
	}
	return strconv.FormatUint(uint64(id), 10)
}

func addrPort(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}
