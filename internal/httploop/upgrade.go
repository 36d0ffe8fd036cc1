package httploop

import (
	"bufio"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/siogo/siogo/internal/http1"
	"github.com/siogo/siogo/internal/netpoll"
)

// response is the ResponseWriter handlers get: an http1.Response (with
// its Detacher and Upgrader), and an http.Hijacker for handlers written
// for net/http.
type response struct {
	*http1.Response
	hc *conn
}

// Hijack takes the connection as net/http's Hijacker does: reads then
// block on a goroutine of the caller's, fed by the loop. A protocol that
// knows the loop uses Upgrade and Upgraded.Switch instead.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	nc, rest, err := w.Upgrade()
	if err != nil {
		return nil, nil, err
	}
	u := nc.(*Upgraded)
	u.startPipe(rest)
	return u, bufio.NewReadWriter(bufio.NewReader(u), bufio.NewWriter(u)), nil
}

// Upgraded is the connection Upgrade returns: still on the loop, its
// events held until Switch gives them to a handler of the new protocol.
// As a net.Conn it reads through a goroutine-blocking pipe (for code
// written for net/http's Hijack); writes never block.
type Upgraded struct {
	hc   *conn
	once sync.Once
	pp   *pipe
}

// Conn is the loop's connection.
func (u *Upgraded) Conn() *netpoll.Conn { return u.hc.c }

// Switch gives the connection's events to h from now on: first (the
// bytes Upgrade returned) and what was read since are h's first OnData,
// on the loop. If the connection closed meanwhile, h gets OnClose. It may
// be called from any goroutine; when nothing waits to be read, the loop
// hands over at its next event, with no round trip to it now.
func (u *Upgraded) Switch(h netpoll.Handler, first []byte) {
	hc := u.hc
	hc.mu.Lock()
	if hc.st.Load() == stClosed {
		err := hc.closeErr
		hc.mu.Unlock()
		h.OnClose(hc.c, err)
		return
	}
	if len(first) == 0 && len(hc.held) == 0 && !hc.paused {
		hc.switched = h
		hc.p = nil // the parser's part is over
		hc.mu.Unlock()
		return
	}
	hc.mu.Unlock()
	ok := hc.c.Exec(func() {
		c := hc.c
		hc.mu.Lock()
		if hc.st.Load() == stClosed {
			err := hc.closeErr
			hc.mu.Unlock()
			h.OnClose(c, err)
			return
		}
		data := first
		if len(hc.held) > 0 {
			data = append(append(make([]byte, 0, len(first)+len(hc.held)), first...), hc.held...)
		}
		paused := hc.paused
		hc.held, hc.paused, hc.p = nil, false, nil
		hc.mu.Unlock()
		c.SetHandler(h)
		if paused {
			c.ResumeReads()
		}
		if len(data) > 0 {
			h.OnData(c, data)
		}
	})
	if !ok {
		h.OnClose(hc.c, netpoll.ErrLoopClosed)
	}
}

func (u *Upgraded) startPipe(first []byte) {
	u.once.Do(func() {
		u.pp = &pipe{c: u.hc.c, buf: append([]byte(nil), first...)}
		u.pp.cond.L = &u.pp.mu
		u.Switch(u.pp, nil)
	})
}

// Read reads what the peer sent after the bytes Upgrade returned.
func (u *Upgraded) Read(b []byte) (int, error) {
	u.startPipe(nil)
	return u.pp.read(b)
}

// Write writes b without blocking (netpoll.Conn.Write).
func (u *Upgraded) Write(b []byte) (int, error) { return u.hc.c.Write(b) }

// Close closes the connection gracefully.
func (u *Upgraded) Close() error { return u.hc.c.Close() }

// LocalAddr is the connection's own address.
func (u *Upgraded) LocalAddr() net.Addr { return u.hc.c.LocalAddr() }

// RemoteAddr is the peer's address.
func (u *Upgraded) RemoteAddr() net.Addr { return u.hc.c.RemoteAddr() }

// SetDeadline sets the read deadline: writes never block.
func (u *Upgraded) SetDeadline(t time.Time) error { return u.SetReadDeadline(t) }

// SetReadDeadline bounds Read.
func (u *Upgraded) SetReadDeadline(t time.Time) error {
	u.startPipe(nil)
	u.pp.setDeadline(t)
	return nil
}

// SetWriteDeadline does nothing: writes never block.
func (u *Upgraded) SetWriteDeadline(time.Time) error { return nil }

// pipe hands what the loop reads to a goroutine that blocks in Read.
type pipe struct {
	c        *netpoll.Conn
	mu       sync.Mutex
	cond     sync.Cond
	buf      []byte
	err      error
	paused   bool
	deadline time.Time
	timer    *time.Timer
}

// What a pipe keeps before it pauses the connection's reads.
const pipeMax = 256 << 10

func (p *pipe) OnData(c *netpoll.Conn, b []byte) {
	p.mu.Lock()
	p.buf = append(p.buf, b...)
	if len(p.buf) > pipeMax && !p.paused {
		p.paused = true
		c.PauseReads()
	}
	p.mu.Unlock()
	p.cond.Broadcast()
}

func (p *pipe) OnClose(_ *netpoll.Conn, err error) {
	switch err {
	case nil:
		err = net.ErrClosed
	case netpoll.ErrLoopClosed:
		err = io.EOF
	}
	p.mu.Lock()
	p.err = err
	if p.timer != nil {
		p.timer.Stop()
	}
	p.mu.Unlock()
	p.cond.Broadcast()
}

func (p *pipe) read(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.buf) == 0 && p.err == nil && !p.expired() {
		p.cond.Wait()
	}
	if len(p.buf) > 0 {
		n := copy(b, p.buf)
		p.buf = p.buf[n:]
		if len(p.buf) == 0 {
			p.buf = nil
		}
		if p.paused && len(p.buf) < pipeMax/2 {
			p.paused = false
			p.c.ResumeReads()
		}
		return n, nil
	}
	if p.err != nil {
		return 0, p.err
	}
	return 0, os.ErrDeadlineExceeded
}

// wake wakes a Read at its deadline: through the lock, so that a Read
// between its check and its wait is not missed.
func (p *pipe) wake() {
	p.mu.Lock()
	p.mu.Unlock() //nolint:staticcheck // an empty section, on purpose
	p.cond.Broadcast()
}

func (p *pipe) expired() bool { return !p.deadline.IsZero() && !time.Now().Before(p.deadline) }

func (p *pipe) setDeadline(t time.Time) {
	p.mu.Lock()
	p.deadline = t
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	if !t.IsZero() && p.err == nil {
		p.timer = time.AfterFunc(time.Until(t), p.wake)
	}
	p.mu.Unlock()
	p.cond.Broadcast()
}
