package shared

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// A WebSocket upgrade that lands on a node other than its session's owner
// stays on that node (the edge), and its bytes cross the broker both ways:
// the owner serves the upgrade, and the WebSocket after it, on a loopback
// connection to a server of its own, so the session upgrades there exactly
// as it would for a client of its own. The edge does not parse the
// frames; each side numbers its messages, and the other writes them in
// that order whatever order the broker delivers them in.

// tunnel is one relayed WebSocket, at either end.
type tunnel struct {
	s     *Sessions
	id    string
	peer  string // the other end's node id
	edge  bool   // the client's end; the owner's otherwise
	start time.Time
	in    chan *msg
	done  chan struct{}
	once  sync.Once

	mu   sync.Mutex
	conn net.Conn // the client's (edge) or the loopback one (owner); nil until dialled
}

// relayChunk is the most bytes one data message carries.
const relayChunk = 16 << 10

func (s *Sessions) newTunnel(id, peer string, edge bool) (*tunnel, bool) {
	t := &tunnel{s: s, id: id, peer: peer, edge: edge, start: time.Now(),
		in: make(chan *msg, s.opts.MaxRelayQueue), done: make(chan struct{})}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, false
	}
	s.tunnels[id] = t
	s.use(peer, 1)
	s.mu.Unlock()
	if o := s.opts.Observer; o != nil {
		o.Relaying(1)
	}
	return t, true
}

// deliver queues a message of the peer; it never blocks (the broker's
// goroutine calls it): a tunnel whose queue is full ends.
func (t *tunnel) deliver(m *msg) {
	select {
	case t.in <- m:
	case <-t.done:
	default:
		t.s.opts.Logger.Debug("shared sessions: relayed websocket too slow, closing", "id", t.id)
		go t.end(true)
	}
}

// end closes the tunnel once; notify tells the peer.
func (t *tunnel) end(notify bool) {
	t.once.Do(func() {
		close(t.done)
		t.s.mu.Lock()
		delete(t.s.tunnels, t.id)
		t.s.use(t.peer, -1)
		t.s.mu.Unlock()
		t.mu.Lock()
		if t.conn != nil {
			_ = t.conn.Close()
		}
		t.mu.Unlock()
		if notify {
			_ = t.s.send(&msg{kind: kindClose, to: t.peer, id: t.id})
		}
		if o := t.s.opts.Observer; o != nil {
			o.Relaying(-1)
		}
	})
}

// relayUpgrade takes a WebSocket upgrade of a session owned by owner:
// the client's connection stays here, its bytes go to the owner.
func (s *Sessions) relayUpgrade(w http.ResponseWriter, r *http.Request, owner string) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		s.local().ServeHTTP(w, r)
		return
	}
	var head bytes.Buffer
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: %s\r\n", r.Method, r.URL.RequestURI(), r.Host)
	_ = r.Header.Write(&head)
	head.WriteString("\r\n")
	if n := brw.Reader.Buffered(); n > 0 {
		rest, _ := brw.Reader.Peek(n)
		head.Write(rest)
	}
	t, ok := s.newTunnel(randomID(12), owner, true)
	if !ok {
		_, _ = io.WriteString(conn, upgradeUnknownSID)
		_ = conn.Close()
		return
	}
	t.mu.Lock()
	t.conn = conn
	t.mu.Unlock()
	select {
	case <-t.done:
		// Ended before it had its connection (its owner given up on).
		_ = conn.Close()
		return
	default:
	}
	if err := s.send(&msg{kind: kindOpen, to: owner, id: t.id, body: head.Bytes()}); err != nil {
		s.observe("websocket", "error", t.start)
		_, _ = io.WriteString(conn, upgradeUnknownSID)
		t.end(false)
		return
	}
	go t.read()
	t.write()
}

// upgradeUnknownSID is a single node's refusal of an upgrade naming a
// session it does not hold (Node's, byte for byte in what counts).
const upgradeUnknownSID = "HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: 18\r\n\r\nSession ID unknown"

// openTunnel serves at the owner an upgrade an edge relayed here.
func (s *Sessions) openTunnel(m *msg) {
	t, ok := s.newTunnel(m.id, m.from, false)
	if !ok {
		return
	}
	go func() {
		addr, err := s.loopback()
		var conn net.Conn
		if err == nil {
			d := net.Dialer{Timeout: s.opts.AckTimeout}
			conn, err = d.Dial("tcp", addr)
		}
		if err != nil {
			s.opts.Logger.Warn("shared sessions: serving a relayed websocket", "err", err)
			t.end(true)
			return
		}
		t.mu.Lock()
		select {
		case <-t.done:
			t.mu.Unlock()
			_ = conn.Close()
			return
		default:
		}
		t.conn = conn
		t.mu.Unlock()
		if _, err := conn.Write(m.body); err != nil {
			t.end(true)
			return
		}
		go t.read()
		t.write()
	}()
}

// read sends what the connection reads to the peer, numbered.
func (t *tunnel) read() {
	buf := make([]byte, relayChunk)
	var seq int64
	for {
		n, err := t.conn.Read(buf)
		if n > 0 {
			if serr := t.s.send(&msg{kind: kindData, to: t.peer, id: t.id, seq: seq, body: bytes.Clone(buf[:n])}); serr != nil {
				t.end(true)
				return
			}
			seq++
		}
		if err != nil {
			t.end(true)
			return
		}
	}
}

// write writes the peer's bytes to the connection in their order. The
// peer's first word must come within AckTimeout (the edge then knows the
// owner took the upgrade), and then something at least every wait (the
// heartbeat crosses every pingInterval).
func (t *tunnel) write() {
	var next int64
	pending := map[int64][]byte{}
	heard := false
	idle := time.NewTimer(t.s.opts.AckTimeout)
	defer idle.Stop()
	for {
		select {
		case m := <-t.in:
			if m.kind == kindClose {
				if !heard && t.edge {
					// The owner could not take it: it holds no such session now.
					t.s.observe("websocket", "error", t.start)
					_, _ = io.WriteString(t.conn, upgradeUnknownSID)
				}
				t.end(false)
				return
			}
			if !heard && t.edge {
				t.s.observe("websocket", "ok", t.start)
			}
			heard = true
			idle.Reset(t.s.wait)
			if m.seq < next {
				continue
			}
			pending[m.seq] = m.body
			if len(pending) > t.s.opts.MaxRelayQueue {
				t.end(true)
				return
			}
			for {
				b, ok := pending[next]
				if !ok {
					break
				}
				delete(pending, next)
				next++
				if _, err := t.conn.Write(b); err != nil {
					t.end(true)
					return
				}
			}
		case <-idle.C:
			if !heard && t.edge {
				t.s.observe("websocket", "timeout", t.start)
				_, _ = io.WriteString(t.conn, upgradeUnknownSID)
			}
			t.end(true)
			return
		case <-t.done:
			return
		}
	}
}

// loopback is the address of the server relayed upgrades are served on:
// this node's engine on a loopback port of its own, started on first use.
func (s *Sessions) loopback() (string, error) {
	s.loopOnce.Do(func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			s.loopErr = err
			return
		}
		srv := &http.Server{Handler: s.local(), ReadHeaderTimeout: s.opts.AckTimeout}
		s.mu.Lock()
		closed := s.closed
		if !closed {
			s.loop, s.loopLn = srv, ln
		}
		s.mu.Unlock()
		if closed {
			_ = ln.Close()
			s.loopErr = net.ErrClosed
			return
		}
		s.loopAddr = ln.Addr().String()
		go func() { _ = srv.Serve(ln) }()
	})
	return s.loopAddr, s.loopErr
}
