package httploop

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siogo/siogo/internal/http1"
	"github.com/siogo/siogo/internal/netpoll"
	"github.com/siogo/siogo/internal/workpool"
)

// Options configure a Server. The zero value means Node 20's defaults.
type Options struct {
	// MaxHeaderBytes bounds a request's line and headers; over it the
	// client gets 431. Default 16384 (Node's maxHeaderSize).
	MaxHeaderBytes int
	// MaxHeaders bounds the header lines of a request (431). Default 2000.
	MaxHeaders int
	// MaxBodyBytes bounds a request body (413). Default 2e6.
	MaxBodyBytes int64
	// KeepAlive is how long an idle connection stays open between
	// requests. Default 5s (Node's keepAliveTimeout); negative: no bound.
	KeepAlive time.Duration
	// HeadersTimeout bounds the arrival of a request's head, from its
	// first byte (or from the connection's start); past it the client gets
	// 408 and the connection closes. Default 60s (Node's headersTimeout).
	HeadersTimeout time.Duration
	// RequestTimeout bounds the arrival of a whole request, body
	// included, from its first byte (408). Default 300s (Node's
	// requestTimeout).
	RequestTimeout time.Duration
	// MaxConns bounds the connections open at once (WebSockets upgraded
	// from them included); one over is closed at once. Default 1<<20.
	MaxConns int
	// MaxWriteBuffer bounds the bytes waiting for a slow peer, past which
	// its connection closes. Default 4 MiB.
	MaxWriteBuffer int
	// Pollers is the number of event loops. Default GOMAXPROCS.
	Pollers int
	// TLS, when set, serves HTTPS with Go's crypto/tls on the loop (it
	// must hold a certificate). Go's defaults apply unless it changes
	// them; NextProtos defaults to http/1.1 only.
	TLS *tls.Config
	// Logger receives recovered panics. Default slog.Default().
	Logger *slog.Logger
	// OnPanic, when set, is called for each panic recovered on a
	// connection's path, after it was logged: where is "http" (a
	// handler) or "loop" (a callback on the event loop).
	OnPanic func(where string)
}

// The defaults of a zero Options that http1.Config does not give.
const (
	DefaultHeadersTimeout = 60 * time.Second
	DefaultRequestTimeout = 300 * time.Second
)

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("httploop: server closed")

// Server serves an http.Handler on the event loop.
type Server struct {
	h     http.Handler
	opts  Options
	cfg   http1.Config
	ctx   context.Context // every request's context derives from it
	stop  context.CancelFunc
	pool  *workpool.Pool[func(), struct{}]
	epoch time.Time

	draining atomic.Bool

	mu      sync.Mutex
	loop    *netpoll.Loop
	closed  bool  // Shutdown or Close was called
	conns   *conn // the HTTP connections (not those upgraded), a list
	n       int
	idle    chan struct{} // closed once draining and no connection is left
	stopped chan struct{} // closed once Shutdown or Close is done
}

// New returns a Server of h; Serve starts it.
func New(h http.Handler, opts Options) *Server {
	if opts.HeadersTimeout <= 0 {
		opts.HeadersTimeout = DefaultHeadersTimeout
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultRequestTimeout
	}
	if opts.KeepAlive == 0 {
		opts.KeepAlive = http1.DefaultKeepAlive
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.TLS != nil && len(opts.TLS.NextProtos) == 0 {
		// No ALPN answer but HTTP/1.1: a client offering h2 falls back.
		opts.TLS = opts.TLS.Clone()
		opts.TLS.NextProtos = []string{"http/1.1"}
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Server{
		h: h, opts: opts, ctx: ctx, stop: stop,
		cfg: http1.Config{
			MaxHeaderBytes: opts.MaxHeaderBytes,
			MaxHeaders:     opts.MaxHeaders,
			MaxBodyBytes:   opts.MaxBodyBytes,
			KeepAlive:      opts.KeepAlive,
		},
		pool:    workpool.New(64*runtime.GOMAXPROCS(0), func(_ struct{}, f func()) { f() }, nil, nil),
		epoch:   time.Now(),
		idle:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	return s
}

// Serve serves connections accepted from ln (a *net.TCPListener) until
// Shutdown or Close, and returns ErrServerClosed then. It takes ln over.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return ErrServerClosed
	}
	if s.loop == nil {
		l, err := netpoll.New(netpoll.Options{
			Pollers:        s.opts.Pollers,
			MaxConns:       s.opts.MaxConns,
			MaxWriteBuffer: s.opts.MaxWriteBuffer,
			Logger:         s.opts.Logger,
			OnPanic: func(*netpoll.PanicError) {
				if f := s.opts.OnPanic; f != nil {
					f("loop")
				}
			},
		})
		if err != nil {
			s.mu.Unlock()
			return err
		}
		s.loop = l
	}
	l := s.loop
	s.mu.Unlock()
	var so []netpoll.ServeOption
	if s.opts.TLS != nil {
		so = append(so, netpoll.TLS(s.opts.TLS))
	}
	err := l.Serve(ln, s.accept, so...)
	if errors.Is(err, netpoll.ErrLoopClosed) {
		return ErrServerClosed
	}
	return err
}

// accept serves a new connection (on the loop).
func (s *Server) accept(c *netpoll.Conn) netpoll.Handler {
	hc := &conn{s: s, c: c, p: http1.NewParser(&s.cfg), prev: stateNone}
	hc.p.RemoteAddr = c.RemoteAddr().String()
	if !s.track(hc) {
		return nil
	}
	hc.arm()
	return hc
}

// now is the server's monotonic clock, in ns since it was made.
func (s *Server) now() int64 { return int64(time.Since(s.epoch)) }

func (s *Server) at(t int64) time.Time { return s.epoch.Add(time.Duration(t)) }

// track adds hc to the list of HTTP connections, unless the server is
// draining.
func (s *Server) track(hc *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	hc.next = s.conns
	if s.conns != nil {
		s.conns.prevc = hc
	}
	s.conns = hc
	hc.listed = true
	s.n++
	return true
}

// untrack takes hc off the list: closed, or upgraded to another protocol.
func (s *Server) untrack(hc *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !hc.listed {
		return
	}
	hc.listed = false
	if hc.prevc != nil {
		hc.prevc.next = hc.next
	} else {
		s.conns = hc.next
	}
	if hc.next != nil {
		hc.next.prevc = hc.prevc
	}
	hc.next, hc.prevc = nil, nil
	s.n--
	if s.n == 0 && s.draining.Load() {
		s.signalIdle()
	}
}

// signalIdle closes s.idle once. s.mu is held.
func (s *Server) signalIdle() {
	select {
	case <-s.idle:
	default:
		close(s.idle)
	}
}

// Shutdown stops accepting, closes the idle connections at once and each
// other one once its request is answered (a detached response: once it is
// finished), then closes what is left (upgraded connections) gracefully,
// and waits for all that, and for the handlers, until ctx ends; then it
// closes the rest. It returns ctx.Err() when ctx ended first.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.stopped
		return ErrServerClosed
	}
	s.closed = true
	s.draining.Store(true)
	l := s.loop
	var conns []*conn
	for hc := s.conns; hc != nil; hc = hc.next {
		conns = append(conns, hc)
	}
	if s.n == 0 {
		s.signalIdle()
	}
	s.mu.Unlock()
	defer close(s.stopped)
	if l == nil {
		s.stop()
		s.pool.Stop()
		return s.pool.Wait(ctx)
	}
	l.StopAccepting()
	for _, hc := range conns {
		hc.mu.Lock()
		if hc.res != nil {
			hc.res.SetCloseAfter() // an answer not begun yet says so
		}
		hc.mu.Unlock()
		hc.c.Exec(hc.closeIfIdle)
	}
	var err error
	select {
	case <-s.idle:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if lerr := l.Shutdown(ctx); err == nil {
		err = lerr
	}
	s.stop()
	s.pool.Stop()
	if werr := s.pool.Wait(ctx); err == nil {
		err = werr
	}
	return err
}

// Close closes every connection at once and stops the loop; the handlers
// still running (their requests' contexts cancelled) end on their own
// goroutines, for Close may be called from one.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.stopped
		return nil
	}
	s.closed = true
	s.draining.Store(true)
	l := s.loop
	s.mu.Unlock()
	defer close(s.stopped)
	s.stop()
	if l != nil {
		_ = l.Close()
	}
	s.pool.Stop()
	return nil
}

// panicked logs and counts a panic recovered on a handler's goroutine.
func (s *Server) panicked(v any, remote string) {
	s.opts.Logger.Error("httploop: panic in an HTTP handler; connection closed",
		slog.String("remote", remote), slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
	if f := s.opts.OnPanic; f != nil {
		f("http")
	}
}
