//go:build linux && !netpoll_portable

package netpoll

import (
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// What an event's epoll_data holds: for a connection, its slot in the
// poller's table (>= 0) and the generation of that registration; for the
// poller's eventfd, wakeData; for a listener, listenerData - its index.
const (
	wakeData     = -1
	listenerData = -2
)

// poller is one event loop: an epoll instance, the goroutine that waits on
// it, and everything that goroutine alone touches.
type poller struct {
	l        *Loop
	idx      int
	epfd     int
	evfd     int
	events   []unix.EpollEvent
	file     *os.File        // epfd, when the poller waits in Go's poller
	raw      syscall.RawConn // file's
	deadline bool            // a read deadline is set on file
	harvest  func(uintptr) bool
	got      int
	gotErr   error
	buf      []byte // read buffer, shared by the poller's connections
	plain    []byte // decrypted TLS bytes, made on first use
	now      int64  // the loop's clock at the last wake-up
	exit     bool

	// slots are the poller's registered connections; an event names a
	// slot and the generation it was registered with, and is dropped when
	// the slot now holds another registration (or none).
	slots []*Conn
	free  []int32
	gen   uint32
	n     atomic.Int32 // connections owned, registered or on their way
	stale uint64       // events dropped for a stale generation

	qmu         sync.Mutex
	queue       []func()
	spare       []func()
	qclosed     bool
	sleeping    atomic.Bool // in (or about to be in) epoll_wait
	wakePending atomic.Bool // the eventfd was written and not yet read

	again      []*Conn // connections to read again before sleeping
	againSpare []*Conn
	wheel      *wheel
	fired      []fired

	lns    map[int32]*listener
	paused []pausedListener // accepts stopped by EMFILE and the like
}

type pausedListener struct {
	lis   *listener
	until int64
}

func newPoller(l *Loop, idx int) (*poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, os.NewSyscallError("eventfd", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: wakeData}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(evfd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	p := &poller{
		l: l, idx: idx, epfd: epfd, evfd: evfd,
		events: make([]unix.EpollEvent, 256),
		buf:    make([]byte, l.opts.ReadBufferSize),
		wheel:  newWheel(int64(l.opts.TimerTick)),
		lns:    map[int32]*listener{},
	}
	if parkInRuntime {
		if err := unix.SetNonblock(epfd, true); err == nil {
			p.file = os.NewFile(uintptr(epfd), "epoll")
			if rc, err := p.file.SyscallConn(); err == nil {
				p.raw = rc
				p.harvest = p.harvestEvents
			}
		}
	}
	return p, nil
}

func (p *poller) closeFds() {
	if p.file != nil {
		p.file.Close() // the epoll descriptor
	} else {
		unix.Close(p.epfd)
	}
	unix.Close(p.evfd)
}

// parkInRuntime: a poller with nothing to do waits in Go's own network
// poller (on its epoll descriptor, which is readable when it holds
// events) instead of in a blocking epoll_wait: its goroutine parks like
// any other waiting on I/O, and no thread sits in a system call.
var parkInRuntime = true

// epollWait returns the events ready now, waiting up to wait ms (-1:
// without end) when there are none.
func (p *poller) epollWait(wait int) (int, error) {
	if wait == 0 || p.raw == nil {
		return unix.EpollWait(p.epfd, p.events, wait)
	}
	if wait > 0 {
		_ = p.file.SetReadDeadline(time.Now().Add(time.Duration(wait) * time.Millisecond))
		p.deadline = true
	} else if p.deadline {
		_ = p.file.SetReadDeadline(time.Time{})
		p.deadline = false
	}
	p.got, p.gotErr = 0, nil
	rerr := p.raw.Read(p.harvest)
	if rerr != nil && p.got == 0 && p.gotErr == nil {
		return 0, nil // the deadline: a timer tick is due
	}
	return p.got, p.gotErr
}

// harvest takes the ready events without waiting; false has Go's poller
// wait until the epoll descriptor is readable. A method value made once,
// so that waiting allocates nothing.
func (p *poller) harvestEvents(fd uintptr) bool {
	p.got, p.gotErr = unix.EpollWait(int(fd), p.events, 0)
	return p.got > 0 || p.gotErr != nil && p.gotErr != unix.EINTR
}

func (p *poller) run() {
	defer p.l.pwg.Done()
	defer p.closeFds()
	for {
		wait := 0
		if len(p.again) == 0 {
			p.sleeping.Store(true)
			if !p.hasTasks() {
				wait = p.wait()
			}
		}
		n, err := p.epollWait(wait)
		p.sleeping.Store(false)
		if err != nil && err != unix.EINTR {
			p.l.opts.Logger.Error("netpoll: epoll_wait", slog.Any("err", err))
		}
		p.now = p.l.now()
		for i := 0; i < n; i++ {
			p.dispatch(&p.events[i])
		}
		p.readAgain()
		p.runTasks()
		p.tick()
		if p.exit {
			for p.runTasks() {
			}
			return
		}
	}
}

// wait is epoll_wait's timeout: until the next timer tick, or the end of
// an accept pause, or -1.
func (p *poller) wait() int {
	w := p.wheel.wait(p.l.now())
	if len(p.paused) > 0 && (w < 0 || w > 50) {
		w = 50
	}
	return w
}

func (p *poller) hasTasks() bool {
	p.qmu.Lock()
	n := len(p.queue)
	p.qmu.Unlock()
	return n > 0
}

var wakeBytes = [8]byte{1}

// post queues f to run on the poller, and wakes it if it sleeps. It
// returns false, without queuing f, once the poller has stopped.
func (p *poller) post(f func()) bool {
	p.qmu.Lock()
	if p.qclosed {
		p.qmu.Unlock()
		return false
	}
	p.queue = append(p.queue, f)
	// The poller says it sleeps before it looks at the queue, and this
	// looks whether it sleeps after queuing: one of the two sees the other.
	// The write is under qmu, so the eventfd is not closed under it.
	if p.sleeping.Load() && p.wakePending.CompareAndSwap(false, true) {
		_, _ = unix.Write(p.evfd, wakeBytes[:])
	}
	p.qmu.Unlock()
	return true
}

// runTasks runs what was queued so far, and says whether there was any.
func (p *poller) runTasks() bool {
	p.qmu.Lock()
	q := p.queue
	p.queue = p.spare[:0]
	p.qmu.Unlock()
	for i, f := range q {
		f()
		q[i] = nil
	}
	p.spare = q[:0]
	return len(q) > 0
}

func (p *poller) dispatch(ev *unix.EpollEvent) {
	d := ev.Fd
	switch {
	case d >= 0:
		if int(d) >= len(p.slots) {
			p.stale++
			return
		}
		c := p.slots[d]
		if c == nil || c.gen != uint32(ev.Pad) {
			p.stale++
			return
		}
		p.connEvent(c, ev.Events)
	case d == wakeData:
		var b [8]byte
		_, _ = unix.Read(p.evfd, b[:])
		p.wakePending.Store(false)
	default:
		if lis := p.lns[listenerData-d]; lis != nil {
			p.accept(lis)
		}
	}
}

func (p *poller) connEvent(c *Conn, ev uint32) {
	if ev&(unix.EPOLLERR|unix.EPOLLHUP) != 0 && c.state == stOpen && c.paused.Load() {
		// Reset (or shut both ways): nothing paused can be of use, and
		// the layer above learns at once that the peer is gone (a parked
		// long-poll). A peer's FIN alone waits for ResumeReads.
		err := error(io.EOF)
		if e, _ := unix.GetsockoptInt(c.fd, unix.SOL_SOCKET, unix.SO_ERROR); e != 0 {
			err = os.NewSyscallError("read", unix.Errno(e))
		}
		p.closeNow(c, err)
		return
	}
	if ev&unix.EPOLLOUT != 0 {
		p.flushOut(c)
	}
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		if ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
			c.hup = true
		}
		p.read(c)
	}
}

// register files c in a free slot with a new generation and adds its
// descriptor to the epoll set, edge-triggered for reads and writes: no
// epoll_ctl is needed again for the life of the connection.
func (p *poller) register(c *Conn) error {
	var slot int32
	if n := len(p.free); n > 0 {
		slot = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		slot = int32(len(p.slots))
		p.slots = append(p.slots, nil)
	}
	p.gen++
	ev := unix.EpollEvent{
		Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET,
		Fd:     slot,
		Pad:    int32(p.gen),
	}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		p.free = append(p.free, slot)
		return os.NewSyscallError("epoll_ctl", err)
	}
	c.slot, c.gen = slot, p.gen
	p.slots[slot] = c
	return nil
}

func (p *poller) addListener(lis *listener) error {
	if p.exit {
		return ErrLoopClosed
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLEXCLUSIVE, Fd: listenerData - lis.idx}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, lis.fd, &ev); err != nil {
		return os.NewSyscallError("epoll_ctl", err)
	}
	p.lns[lis.idx] = lis
	return nil
}

func (p *poller) removeListeners() {
	for idx, lis := range p.lns {
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, lis.fd, nil)
		delete(p.lns, idx)
	}
	p.paused = nil
}

// accept takes what the listener holds, a bounded number at a time (the
// listener is level-triggered: the rest comes with the next wait).
func (p *poller) accept(lis *listener) {
	l := p.l
	for i := 0; i < 64; i++ {
		// syscall's accept4, not x/sys's: that one asks every IPv4 and
		// IPv6 socket its protocol (for L2TP), a system call per accept.
		fd, sa, err := syscall.Accept4(lis.fd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			switch err {
			case syscall.EAGAIN:
			case syscall.EINTR, syscall.ECONNABORTED:
				continue
			case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM:
				p.pauseAccept(lis, err)
			default:
				l.opts.Logger.Error("netpoll: accept", slog.Any("err", err))
			}
			return
		}
		if l.conns.Add(1) > int64(l.opts.MaxConns) {
			l.connGone()
			l.rejected.Add(1)
			unix.Close(fd)
			continue
		}
		l.accepted.Add(1)
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		q := p
		if !l.acceptLocal {
			q = l.pick(p)
		}
		q.n.Add(1)
		c := newConn(q, fd)
		c.remote = stdSockaddrAddrPort(sa)
		if q == p {
			p.open(c, lis)
		} else if !q.post(func() { q.open(c, lis) }) {
			unix.Close(fd)
			q.n.Add(-1)
			l.connGone()
		}
	}
}

// pauseAccept stops accepting on lis for a while: out of descriptors, a
// level-triggered listener would wake the poller without end.
func (p *poller) pauseAccept(lis *listener, err error) {
	p.l.opts.Logger.Warn("netpoll: accept paused", slog.Any("err", err))
	_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, lis.fd, nil)
	delete(p.lns, lis.idx)
	p.paused = append(p.paused, pausedListener{lis, p.now + 50e6})
}

func (p *poller) resumeAccepts() {
	k := 0
	for _, pl := range p.paused {
		if pl.until > p.now {
			p.paused[k] = pl
			k++
			continue
		}
		if err := p.addListener(pl.lis); err != nil {
			p.l.opts.Logger.Error("netpoll: resuming accepts", slog.Any("err", err))
		}
	}
	clear(p.paused[k:])
	p.paused = p.paused[:k]
}

// open starts serving a connection accepted from lis.
func (p *poller) open(c *Conn, lis *listener) {
	if p.exit {
		unix.Close(c.fd)
		p.n.Add(-1)
		p.l.connGone()
		return
	}
	if err := p.register(c); err != nil {
		unix.Close(c.fd)
		p.n.Add(-1)
		p.l.connGone()
		p.l.opts.Logger.Error("netpoll: registering a connection", slog.Any("err", err))
		return
	}
	if lis.tls != nil {
		p.startTLS(c, lis)
		return
	}
	c.state = stOpen
	p.accepted(c, lis.accept)
}

// accepted asks the application for c's Handler.
func (p *poller) accepted(c *Conn, accept func(*Conn) Handler) {
	h := c.callAccept(accept)
	if c.state == stClosed {
		return
	}
	if h == nil {
		p.closeNow(c, nil)
		return
	}
	c.h = h
}

// adopt registers a connection taken over by Loop.Adopt.
func (p *poller) adopt(c *Conn, initial []byte) {
	var err error
	if p.exit {
		err = ErrLoopClosed
	} else {
		err = p.register(c)
	}
	if err != nil {
		// The caller may be writing already: the close is under the lock.
		c.closing.Store(true)
		c.wmu.Lock()
		c.wclosed, c.werr, c.fdClosed = true, net.ErrClosed, true
		if c.out != nil {
			c.out.release()
			c.out = nil
			c.buffered.Store(0)
		}
		unix.Close(c.fd)
		c.wmu.Unlock()
		p.n.Add(-1)
		p.l.connGone()
		c.state = stClosed
		c.callClose(err)
		return
	}
	c.state = stOpen
	if len(initial) > 0 {
		p.deliver(c, initial)
	}
}

// read reads c until the socket is drained (edge-triggered), or the read
// buffer came back full: then c is read again after the other events, so
// that one busy peer does not hold up the rest.
func (p *poller) read(c *Conn) {
	for c.state != stClosed {
		if c.state <= stOpen && (c.hold || c.paused.Load()) {
			return
		}
		n, err := unix.Read(c.fd, p.buf)
		if err != nil {
			switch err {
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return
			}
			if c.state == stLinger {
				// The peer reset rather than ended: it has what it needs.
				p.closeNow(c, c.closeErr)
				return
			}
			p.closeNow(c, os.NewSyscallError("read", err))
			return
		}
		if n == 0 {
			p.peerEnded(c)
			return
		}
		c.lastRead.Store(p.now)
		if c.state <= stOpen {
			p.deliver(c, p.buf[:n])
		}
		if n == len(p.buf) {
			p.readLater(c)
			return
		}
		if !c.hup {
			return // a short read drained the socket; what comes next is a new edge
		}
	}
}

func (p *poller) readLater(c *Conn) {
	if !c.onAgain {
		c.onAgain = true
		p.again = append(p.again, c)
	}
}

func (p *poller) readAgain() {
	if len(p.again) == 0 {
		return
	}
	q := p.again
	p.again = p.againSpare[:0]
	for i, c := range q {
		c.onAgain = false
		q[i] = nil
		p.read(c)
	}
	p.againSpare = q[:0]
}

func (p *poller) deliver(c *Conn, b []byte) {
	if c.tls != nil {
		p.deliverTLS(c, b)
		return
	}
	if c.closing.Load() {
		return // the application asked to close: nothing more for it
	}
	c.callData(b)
}

// peerEnded handles the end of the peer's stream: as Node's sockets do
// by default (allowHalfOpen false), the connection delivers what waits
// and closes.
func (p *poller) peerEnded(c *Conn) {
	c.peerEOF = true
	switch c.state {
	case stHandshake:
		p.l.handshakeErrors.Add(1)
		p.closeNow(c, io.EOF)
	case stOpen:
		p.beginClose(c, io.EOF)
	case stLinger:
		p.closeNow(c, c.closeErr)
	}
}

// flushOut writes what waits for c, on an EPOLLOUT edge.
func (p *poller) flushOut(c *Conn) {
	c.wmu.Lock()
	if c.out == nil || c.fdClosed {
		c.wmu.Unlock()
		return
	}
	err := c.flushLocked()
	empty := c.out == nil
	c.wmu.Unlock()
	if err != nil {
		p.closeNow(c, err)
		return
	}
	if empty && c.state == stFlush {
		p.flushed(c)
	}
}

// beginClose starts a graceful close on the loop: writes are refused
// from now on, what is buffered goes out, then the write side is shut and
// the peer's end awaited, all within Options.CloseTimeout.
func (p *poller) beginClose(c *Conn, err error) {
	switch c.state {
	case stHandshake:
		p.closeNow(c, err)
		return
	case stOpen:
	default:
		return
	}
	if ts := c.tls; ts != nil && ts.ready.Load() {
		_ = ts.conn.CloseWrite() // close_notify, unless Close sent it
	}
	c.state = stFlush
	c.closeErr = err
	c.closing.Store(true)
	c.wmu.Lock()
	if !c.wclosed {
		c.wclosed, c.werr = true, errClosed
	}
	empty := c.out == nil
	c.wmu.Unlock()
	p.wheel.closing(c, p.now+int64(p.l.opts.CloseTimeout))
	if empty {
		p.flushed(c)
	}
}

// flushed goes on with a graceful close once nothing waits: the write
// side is shut, so that the peer reads everything then its end, and the
// connection waits for the peer's end before it closes, so that bytes
// the peer still sends do not make the kernel answer with a reset that
// could destroy what the peer has not read yet.
func (p *poller) flushed(c *Conn) {
	if c.peerEOF {
		p.closeNow(c, c.closeErr)
		return
	}
	_ = unix.Shutdown(c.fd, unix.SHUT_WR)
	c.state = stLinger
	p.readLater(c) // the peer's end may be in already, its edge consumed
}

// closeNow closes c on its loop: the descriptor is closed under the write
// lock, so no other goroutine's write can reach its number once reused,
// and the slot is freed, so no event of this registration reaches
// another. OnClose follows.
func (p *poller) closeNow(c *Conn, err error) {
	if c.state == stClosed {
		return
	}
	c.state = stClosed
	c.closing.Store(true)
	c.wmu.Lock()
	if !c.wclosed {
		c.wclosed, c.werr = true, errClosed
	}
	if c.out != nil {
		c.out.release()
		c.out = nil
		c.buffered.Store(0)
	}
	unix.Close(c.fd)
	c.fdClosed = true
	c.wmu.Unlock()
	if c.slot >= 0 {
		p.slots[c.slot] = nil
		p.free = append(p.free, c.slot)
		c.slot = -1
	}
	p.n.Add(-1)
	p.wheel.drop(c)
	p.l.connGone()
	if c.tls != nil {
		c.tls.wire.fail(err)
	}
	if c.h != nil {
		c.callClose(err)
	}
}

// tick fires the timeouts that are due.
func (p *poller) tick() {
	p.fired = p.wheel.advance(p.now, p.fired[:0])
	for i, f := range p.fired {
		p.fired[i] = fired{}
		p.timeout(f.c, f.kind)
	}
	if len(p.paused) > 0 {
		p.resumeAccepts()
	}
}

func (p *poller) timeout(c *Conn, kind error) {
	switch c.state {
	case stHandshake:
		if kind == errBound {
			p.l.handshakeErrors.Add(1)
			p.closeNow(c, ErrHandshakeTimeout)
		}
	case stFlush, stLinger:
		if kind == errBound {
			p.closeNow(c, ErrCloseTimeout)
		}
	case stOpen:
		if kind == errBound {
			return
		}
		if th, ok := c.h.(TimeoutHandler); ok {
			c.callTimeout(th, kind)
			return
		}
		p.closeNow(c, kind)
	}
}

// drain starts Shutdown on this poller: no more accepts, and a graceful
// close of every connection.
func (p *poller) drain() {
	p.removeListeners()
	for _, c := range p.slots {
		if c == nil {
			continue
		}
		if c.state == stHandshake {
			p.closeNow(c, ErrLoopClosed)
			continue
		}
		_ = c.Close()
	}
}

// stop closes every connection and ends the poller's goroutine once it
// has run what is queued.
func (p *poller) stop() {
	p.post(func() {
		p.removeListeners()
		for _, c := range p.slots {
			if c != nil {
				p.closeNow(c, ErrLoopClosed)
			}
		}
		for _, c := range p.again {
			c.onAgain = false
		}
		p.again = p.again[:0]
		p.qmu.Lock()
		p.qclosed = true
		p.qmu.Unlock()
		p.exit = true
	})
}
