//go:build linux && !netpoll_portable

package netpoll

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// TLS on the loop with Go's own crypto/tls, used only through its API.
//
// A tls.Conn reads from a net.Conn of ours, the wire. During the handshake
// the wire's Read blocks, on a short-lived goroutine, until the loop hands
// it bytes (copied). Once the handshake is done the loop calls tls.Conn.Read
// itself, with the bytes it just read in front of the wire: when they run
// out, the wire returns wouldBlock, a temporary net.Error, on which
// crypto/tls keeps what it has of a partial record and returns; the next
// Read goes on from there. Writes go through tls.Conn.Write to the wire's
// Write, which is the Conn's non-blocking write.

// maxHandshakeHold is how many bytes the loop hands a handshake before it
// stops reading until the handshake is done.
const maxHandshakeHold = 256 << 10

type tlsState struct {
	conn   *tls.Conn
	wire   *wire
	accept func(*Conn) Handler
	ready  atomic.Bool // the handshake is done and the loop reads
}

type wire struct {
	c    *Conn
	mu   sync.Mutex
	cond sync.Cond
	hs   []byte // bytes for the handshake, then what it left (a copy)
	err  error  // the connection closed
	// onLoop: the handshake is done; only the loop reads, from hs, then
	// feed (a view of the poller's buffer during one deliverTLS).
	onLoop bool
	feed   []byte
}

func (w *wire) Read(b []byte) (int, error) {
	if w.onLoop {
		if len(w.hs) > 0 {
			n := copy(b, w.hs)
			if w.hs = w.hs[n:]; len(w.hs) == 0 {
				w.hs = nil
			}
			return n, nil
		}
		if len(w.feed) == 0 {
			return 0, errWouldBlock
		}
		n := copy(b, w.feed)
		w.feed = w.feed[n:]
		return n, nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.hs) == 0 && w.err == nil {
		w.cond.Wait()
	}
	if len(w.hs) > 0 {
		n := copy(b, w.hs)
		if w.hs = w.hs[n:]; len(w.hs) == 0 {
			w.hs = nil
		}
		return n, nil
	}
	return 0, w.err
}

// give hands the handshake bytes read by the loop, and says how many wait.
func (w *wire) give(b []byte) int {
	w.mu.Lock()
	w.hs = append(w.hs, b...)
	n := len(w.hs)
	w.mu.Unlock()
	w.cond.Signal()
	return n
}

// fail ends a handshake's wait: the connection is closed.
func (w *wire) fail(err error) {
	if err == nil {
		err = net.ErrClosed
	}
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.cond.Broadcast()
}

func (w *wire) Write(b []byte) (int, error)      { return w.c.writeRaw(b) }
func (w *wire) Close() error                     { return nil } // the Conn closes the socket
func (w *wire) LocalAddr() net.Addr              { return w.c.LocalAddr() }
func (w *wire) RemoteAddr() net.Addr             { return w.c.RemoteAddr() }
func (w *wire) SetDeadline(time.Time) error      { return nil } // the loop bounds the handshake
func (w *wire) SetReadDeadline(time.Time) error  { return nil }
func (w *wire) SetWriteDeadline(time.Time) error { return nil } // writes never block
func (ts *tlsState) writev(bufs [][]byte) (int, error) {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	// Small pieces in one record, one system call.
	if total <= 16<<10 && len(bufs) > 1 {
		bp := getChunk(total)
		b := (*bp)[:0]
		for _, p := range bufs {
			b = append(b, p...)
		}
		n, err := ts.conn.Write(b)
		*bp = b[:0]
		putChunk(bp)
		return n, err
	}
	n := 0
	for _, b := range bufs {
		k, err := ts.conn.Write(b)
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// startTLS runs c's handshake on a goroutine of its own, bounded by
// Options.HandshakeTimeout.
func (p *poller) startTLS(c *Conn, lis *listener) {
	c.state = stHandshake
	w := &wire{c: c}
	w.cond.L = &w.mu
	ts := &tlsState{conn: tls.Server(w, lis.tls), wire: w, accept: lis.accept}
	c.tls = ts
	p.wheel.setBound(c, p.now+int64(p.l.opts.HandshakeTimeout))
	p.l.wg.Add(1)
	go p.handshake(c, ts)
}

func (p *poller) handshake(c *Conn, ts *tlsState) {
	defer p.l.wg.Done()
	defer func() {
		if v := recover(); v != nil { // from a tls.Config callback
			p.post(func() { p.l.panicked(c, v) })
		}
	}()
	err := ts.conn.Handshake()
	// Once the Loop is closed the post fails; its stop closed c.
	p.post(func() { p.handshakeDone(c, err) })
}

// handshakeDone moves a connection whose handshake ended to the loop.
func (p *poller) handshakeDone(c *Conn, err error) {
	if c.state != stHandshake {
		return
	}
	if err != nil {
		p.l.handshakeErrors.Add(1)
		p.closeNow(c, err)
		return
	}
	p.wheel.setBound(c, 0)
	ts := c.tls
	ts.wire.onLoop = true
	ts.ready.Store(true)
	c.state = stOpen
	p.accepted(c, ts.accept)
	if c.state != stOpen {
		return
	}
	c.hold = false
	p.deliverTLS(c, nil) // what came behind the client's last flight
	p.readLater(c)       // and what the socket holds, its edge consumed
}

// deliverTLS decrypts on the loop what was read, and hands the plaintext
// to the Handler.
func (p *poller) deliverTLS(c *Conn, b []byte) {
	ts := c.tls
	if c.state == stHandshake {
		if ts.wire.give(b) > maxHandshakeHold {
			c.hold = true
		}
		return
	}
	if p.plain == nil {
		p.plain = make([]byte, len(p.buf))
	}
	buf := p.plain
	ts.wire.feed = b
	defer func() { ts.wire.feed = nil }()
	for c.state == stOpen && !c.closing.Load() {
		off := 0
		var err error
		for off < len(buf) {
			var n int
			n, err = ts.conn.Read(buf[off:])
			off += n
			if err != nil {
				break
			}
		}
		if off > 0 && !c.closing.Load() {
			c.callData(buf[:off])
		}
		switch {
		case err == nil:
			continue // the buffer filled up: read on
		case err == errWouldBlock:
		case err == io.EOF: // close_notify
			p.beginClose(c, io.EOF)
		default:
			p.closeNow(c, err)
		}
		return
	}
}
