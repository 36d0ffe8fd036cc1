package transports

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/nbhttp"

	"github.com/siogo/siogo/transports/websocket"

	"github.com/siogo/siogo/transports/polling"
)

// HTTPServer serves any http.Handler over HTTP/1.1 from an nbio event loop
// instead of a goroutine per connection. Handlers run on a shared pool, as
// with net/http; what changes is the cost of a connection while nothing
// happens on it: no goroutine, no bufio buffers.
//
// It is where a waiting long-poll is cheapest. A Server that finds its
// request served here parks a poll that has nothing to send: the handler
// returns at once, and the session keeps only the connection and the few
// request fields the answer needs (about 2 KB in all instead of the
// 15-20 KB of a net/http goroutine blocked in its handler, measured in
// bench/README.md). The answer is written when a packet comes, and the
// connection goes on serving the client's next request. Under net/http or
// any other server, a Server works as before: the handler waits.
//
// TLS is not served here: terminate it in front, or serve net/http with
// websocket.ServeTLS, whose WebSocket connections move to an event loop
// too (polls then wait in net/http handlers).
//
//	hs := transports.NewHTTPServer(mux, transports.HTTPServerOptions{})
//	go hs.Serve(ln)
//	defer hs.Shutdown(ctx)
type HTTPServer struct {
	h    http.Handler
	opts HTTPServerOptions

	mu      sync.Mutex
	engine  *nbhttp.Engine
	done    chan struct{}
	stopped bool

	// settler settles each accepted connection's descriptor number
	// (websocket.Settler); ready is closed once it is set.
	settler *websocket.Settler
	ready   chan struct{}
}

// HTTPServerOptions configure an HTTPServer. The zero value is usable.
type HTTPServerOptions struct {
	// MaxBodySize bounds a request body; a larger one closes the
	// connection. Default 2 MB (twice Node's maxHttpBufferSize, so that a
	// Server's own bound answers first, with its 413).
	MaxBodySize int
	// KeepAlive is how long an idle keep-alive connection stays open
	// between requests (a parked poll is not idle). Default 120s.
	KeepAlive time.Duration
	// MaxConnections bounds the connections served at once. Default 1<<20.
	MaxConnections int
	// MaxWriteBuffer bounds the bytes waiting for a slow peer of a
	// WebSocket upgraded here (they stay on this loop); set it as the
	// Server's Options.MaxWriteBuffer. Default 4 MiB.
	MaxWriteBuffer int
}

// NewHTTPServer returns a server of h; Serve starts it.
func NewHTTPServer(h http.Handler, opts HTTPServerOptions) *HTTPServer {
	if opts.MaxBodySize <= 0 {
		opts.MaxBodySize = 2e6
	}
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 120 * time.Second
	}
	if opts.MaxConnections <= 0 {
		opts.MaxConnections = 1 << 20
	}
	if opts.MaxWriteBuffer <= 0 {
		opts.MaxWriteBuffer = 4 << 20
	}
	return &HTTPServer{h: h, opts: opts, done: make(chan struct{}), ready: make(chan struct{})}
}

// ErrHTTPServerClosed is returned by Serve after Shutdown.
var ErrHTTPServerClosed = errors.New("transports: HTTP server closed")

// Serve serves connections accepted from ln until Shutdown, and returns
// ErrHTTPServerClosed then. The listener is closed by Shutdown.
func (s *HTTPServer) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return ErrHTTPServerClosed
	}
	if s.engine != nil {
		s.mu.Unlock()
		return errors.New("transports: HTTPServer.Serve called twice")
	}
	e := nbhttp.NewEngine(nbhttp.Config{
		Name:            "siogo-http",
		Network:         "tcp",
		Addrs:           []string{ln.Addr().String()},
		Listen:          func(string, string) (net.Listener, error) { return newCloexecListener(ln, s), nil },
		Handler:         s.h,
		MaxLoad:         s.opts.MaxConnections,
		MaxHTTPBodySize: s.opts.MaxBodySize,
		ReadLimit:       s.opts.MaxBodySize + 64<<10,
		KeepaliveTime:   s.opts.KeepAlive,
		NPoller:         max(1, runtime.GOMAXPROCS(0)/2),
		// The handshake's WebSocket connections stay on this loop, so the
		// same bound as the WebSocket server's.
		MaxWriteBufferSize: s.opts.MaxWriteBuffer,
	})
	e.OnClose(func(c net.Conn, _ error) {
		if nc, ok := c.(*nbio.Conn); ok {
			s.settler.Closed(nc)
		}
		connClosed(c)
	})
	e.OnWrittenSize(websocket.CountWritten)
	if raceEnabled {
		// nbio fills a connection's fields on the accepting goroutine and
		// reads them on the poller's, ordered by epoll_ctl and epoll_wait,
		// which the race detector cannot see. A lock taken on both sides
		// shows it the order (in race builds only).
		var accepted sync.RWMutex
		e.OnOpen(func(net.Conn) { accepted.Lock(); accepted.Unlock() })
		e.Engine.OnReadBufferAlloc(func(c *nbio.Conn) *[]byte {
			accepted.RLock()
			defer accepted.RUnlock()
			return e.Engine.PollerBufferPtr(c)
		})
	}
	err := websocket.StartEngine(func() error {
		if err := e.Start(); err != nil {
			return err
		}
		// A probe on each poller: the engine's own accepts are settled
		// against descriptor reuse, as the WebSocket server's upgrades
		// are (docs/reliability.md).
		st, err := websocket.NewSettler(e.Engine, e.NPoller)
		if err != nil {
			e.Stop()
			return err
		}
		s.settler = st
		return nil
	})
	close(s.ready)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.engine = e
	s.mu.Unlock()
	<-s.done
	return ErrHTTPServerClosed
}

// Shutdown stops accepting, closes every connection (after a Server's own
// Shutdown has answered its polls) and waits for the loop to stop or ctx
// to end.
func (s *HTTPServer) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return ErrHTTPServerClosed
	}
	s.stopped = true
	e := s.engine
	close(s.done)
	s.mu.Unlock()
	if e == nil {
		return nil
	}
	return e.Shutdown(ctx)
}

// parkedPoll is a GET that waits for packets on an event-loop connection,
// with no goroutine: what the answer needs of the request, and where to
// write it.
type parkedPoll struct {
	conn *nbio.Conn
	// header is the response header set before the poll parked (CORS),
	// nil when empty.
	header         http.Header
	acceptEncoding string // gzip, deflate or none, as the client accepts
	userAgent      string // only when it names an old IE, which changes the answer
	closeAfter     bool   // the client asked for Connection: close, or spoke HTTP/1.0
	keepAlive      time.Duration
	duringUpgrade  bool
	upgradeTimer   *time.Timer
	woken          bool // an answer is scheduled
}

// parkedConns maps an event-loop connection to the session whose poll is
// parked on it, so that its close ends the session as the close of a
// waiting request does (Node: the request's close event).
var parkedConns sync.Map // *nbio.Conn -> *Session

// connClosed is called by the event loop when any connection closes.
func connClosed(c net.Conn) {
	nc, ok := c.(*nbio.Conn)
	if !ok {
		return
	}
	v, ok := parkedConns.LoadAndDelete(nc)
	if !ok {
		return
	}
	s := v.(*Session)
	s.mu.Lock()
	p := s.parked
	lost := p != nil && p.conn == nc && !p.woken
	if lost {
		s.parked = nil
		if p.upgradeTimer != nil {
			p.upgradeTimer.Stop()
		}
	}
	s.mu.Unlock()
	if lost {
		s.closeWith(ReasonTransportError, false)
	}
}

// eventLoopConn is the event-loop connection w answers on, or nil when w
// belongs to another server.
func eventLoopConn(w http.ResponseWriter) (*nbhttp.Response, *nbio.Conn) {
	for {
		switch v := w.(type) {
		case *nbhttp.Response:
			if v.Parser == nil {
				return nil, nil
			}
			var c net.Conn = v.Parser.Conn
			if hc, ok := c.(*nbhttp.Conn); ok {
				c = hc.Conn
			}
			nc, ok := c.(*nbio.Conn)
			if !ok {
				return nil, nil
			}
			return v, nc
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return nil, nil
		}
	}
}

// park turns a waiting GET into a parkedPoll when it is served by an
// HTTPServer; nil otherwise. s.mu is held.
func (s *Session) park(w http.ResponseWriter, r *http.Request) *parkedPoll {
	res, nc := eventLoopConn(w)
	if res == nil {
		return nil
	}
	if _, _, err := res.Hijack(); err != nil {
		return nil
	}
	p := &parkedPoll{
		conn: nc,
		// The encoding chosen now, a constant: the header's own string
		// would be kept.
		acceptEncoding: polling.AcceptedEncoding(r.Header.Get("Accept-Encoding")),
		closeAfter:     r.Close || !r.ProtoAtLeast(1, 1),
		keepAlive:      res.Parser.Engine.KeepaliveTime,
		duringUpgrade:  s.upgrading,
	}
	if h := w.Header(); len(h) > 0 {
		p.header = h
	}
	if ua := r.Header.Get("User-Agent"); strings.Contains(ua, ";MSIE") || strings.Contains(ua, "Trident/") {
		p.userAgent = ua
	}
	// A poll waits as long as the heartbeat lets it, not the keep-alive.
	websocket.ClearReadDeadline(nc)
	return p
}

// wakeParked schedules the answer of the parked poll. s.mu is held.
func (s *Session) wakeParked() {
	p := s.parked
	if p == nil || p.woken {
		return
	}
	p.woken = true
	if p.upgradeTimer != nil {
		p.upgradeTimer.Stop()
	}
	parkedConns.Delete(p.conn)
	// On the connection's own queue: its next request, once the client has
	// the answer, runs after this.
	if !p.conn.Execute(func() { s.answerParked(p) }) {
		go s.answerParked(p)
	}
}

// answerParked answers a parked poll, as servePoll does once woken.
func (s *Session) answerParked(p *parkedPoll) {
	s.mu.Lock()
	if s.parked == p {
		s.parked = nil
	}
	rw := &rawResponse{header: p.header}
	if rw.header == nil {
		rw.header = http.Header{}
	}
	req := &http.Request{Method: http.MethodGet, Header: http.Header{}}
	if p.acceptEncoding != "" {
		req.Header["Accept-Encoding"] = []string{p.acceptEncoding}
	}
	if p.userAgent != "" {
		req.Header["User-Agent"] = []string{p.userAgent}
	}
	if p.duringUpgrade && s.ws != nil && s.state == stateOpen {
		s.mu.Unlock()
		requestError(CodeBadRequest, "").writeJSON(rw)
		rw.send(p)
		return
	}
	pkts, last := s.takePoll()
	s.mu.Unlock()
	if len(pkts) == 0 {
		pkts = []Packet{{Type: PacketNoop}}
	}
	s.writePayload(rw, req, pkts)
	rw.send(p)
	if last {
		s.finalize()
	}
}

// rawResponse is the http.ResponseWriter of a parked poll's answer: it
// collects the response, and send writes it to the connection in one call.
type rawResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *rawResponse) Header() http.Header { return w.header }

func (w *rawResponse) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *rawResponse) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// send writes the response on p's connection and readies the connection
// for the client's next request.
func (w *rawResponse) send(p *parkedPoll) {
	w.WriteHeader(http.StatusOK)
	h := w.header
	h.Del("Content-Length")
	h.Del("Transfer-Encoding")
	h.Del("Connection")
	b := make([]byte, 0, 256+w.body.Len())
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(w.status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(w.status)...)
	b = append(b, "\r\n"...)
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "Date: "...)
	b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(w.body.Len()), 10)
	if p.closeAfter {
		b = append(b, "\r\nConnection: close"...)
	}
	b = append(b, "\r\n\r\n"...)
	b = append(b, w.body.Bytes()...)
	if _, err := p.conn.Write(b); err != nil {
		return
	}
	if p.closeAfter {
		_ = p.conn.Close()
		return
	}
	_ = p.conn.SetReadDeadline(time.Now().Add(p.keepAlive))
}

// cloexecListener hands nbio connections it has already moved to nbio,
// close-on-exec: nbio's own move (a dup) would leave every accepted
// socket to each child process the program starts, which then holds it
// open past siogo's close (no FIN reaches the client) and keeps it in the
// epoll set under a number a fresh connection reuses. Each is settled
// first: a number whose last socket closed off its poller waits until
// that poller holds no event for it (websocket.Settler). The accepting
// goroutine is its own, so that a connection that waits holds up no
// other: the ones that do not wait go through at once.
type cloexecListener struct {
	net.Listener
	s    *HTTPServer
	once sync.Once
	out  chan accepted
	done chan struct{}
	last atomic.Pointer[nbio.Conn] // the connection Accept returned last
}

type accepted struct {
	c   net.Conn
	err error
}

func newCloexecListener(ln net.Listener, s *HTTPServer) *cloexecListener {
	return &cloexecListener{Listener: ln, s: s, out: make(chan accepted), done: make(chan struct{})}
}

func (l *cloexecListener) Accept() (net.Conn, error) {
	// nbhttp's accepting loop is done with the connection it took last
	// (its keep-alive deadline set): see websocket.Handing.
	if last := l.last.Swap(nil); last != nil {
		websocket.Handed(last)
	}
	l.once.Do(func() { go l.accept() })
	select {
	case a := <-l.out:
		if nbc, ok := a.c.(*nbio.Conn); ok {
			websocket.Handing(nbc)
			l.last.Store(nbc)
		}
		return a.c, a.err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *cloexecListener) Close() error {
	if last := l.last.Swap(nil); last != nil {
		websocket.Handed(last)
	}
	err := l.Listener.Close()
	l.once.Do(func() {}) // no accepting goroutine after this
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	return err
}

func (l *cloexecListener) deliver(c net.Conn) {
	select {
	case l.out <- accepted{c: c}:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *cloexecListener) accept() {
	<-l.s.ready
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case l.out <- accepted{err: err}:
			case <-l.done:
			}
			return
		}
		nbc, err := websocket.TransferConn(c)
		if err != nil {
			_ = c.Close()
			continue
		}
		ticket, wait := l.s.settler.Check(nbc)
		if !wait || !settleAccepts {
			l.deliver(nbc)
			continue
		}
		go func() {
			l.s.settler.Wait(nbc, ticket)
			l.deliver(nbc)
		}()
	}
}

// settleAccepts is turned off by a test, to show what settling prevents.
var settleAccepts = true
