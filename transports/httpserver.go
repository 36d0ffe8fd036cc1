package transports

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/siogo/siogo/internal/httploop"
)

// HTTPServer serves any http.Handler over HTTP/1.1 from siogo's event loop
// instead of a goroutine per connection. Handlers run on a pool of
// goroutines kept between requests, as net/http's would run; what changes
// is the cost of a connection while nothing happens on it: no goroutine,
// no buffer.
//
// It is where a waiting long-poll is cheapest. A Server that finds its
// request served here parks a poll that has nothing to send: the handler
// returns at once, and the session keeps only the detached response and
// the two request fields the answer needs (the poll then costs about
// 4 KB in all instead of the 15-20 KB of a net/http goroutine blocked in
// its handler, measured in bench/README.md). The answer is written when a
// packet comes, and the connection goes on serving the client's next
// request. A WebSocket upgraded here stays on the same loop connection.
// Under net/http or any other server, a Server works as before: the
// handler waits.
//
// It bounds HTTP as Node's http server does (HTTPServerOptions), and
// serves TLS with Go's crypto/tls on the loop (HTTPServerOptions.TLS).
//
//	hs := transports.NewHTTPServer(mux, transports.HTTPServerOptions{})
//	go hs.Serve(ln)
//	defer hs.Shutdown(ctx)
type HTTPServer struct {
	s *httploop.Server
}

// HTTPServerOptions configure an HTTPServer. The zero value gives Node's
// bounds.
type HTTPServerOptions struct {
	// MaxBodySize bounds a request body; a larger one is answered 413 and
	// the connection closes. Default 2 MB (twice Node's
	// maxHttpBufferSize, so that a Server's own bound answers first, with
	// its 413).
	MaxBodySize int
	// MaxHeaderBytes bounds a request's line and headers, answered 431.
	// Default 16384, Node's maxHeaderSize.
	MaxHeaderBytes int
	// KeepAlive is how long an idle keep-alive connection stays open
	// between requests (a parked poll is not idle). Default 5s, Node's
	// keepAliveTimeout.
	KeepAlive time.Duration
	// HeadersTimeout bounds the arrival of a request's head; past it the
	// client gets 408. Default 60s, Node's headersTimeout.
	HeadersTimeout time.Duration
	// RequestTimeout bounds the arrival of a whole request (408). Default
	// 300s, Node's requestTimeout.
	RequestTimeout time.Duration
	// MaxConnections bounds the connections served at once. Default 1<<20.
	MaxConnections int
	// MaxWriteBuffer bounds the bytes waiting for a slow peer, of a
	// WebSocket upgraded here too (it stays on this loop); set it as the
	// Server's Options.MaxWriteBuffer. Default 4 MiB.
	MaxWriteBuffer int
	// TLS, when set, serves HTTPS with Go's crypto/tls (it must hold a
	// certificate); Go's defaults apply unless it changes them.
	TLS *tls.Config
	// Logger receives recovered panics. Default slog.Default().
	Logger *slog.Logger
	// OnPanic, when set, is told of each panic recovered on a connection's
	// path after it was logged, for a metric: where is "http" (a handler)
	// or "loop" (the event loop's own code).
	OnPanic func(where string)
}

// NewHTTPServer returns a server of h; Serve starts it.
func NewHTTPServer(h http.Handler, opts HTTPServerOptions) *HTTPServer {
	if opts.MaxBodySize <= 0 {
		opts.MaxBodySize = 2e6
	}
	return &HTTPServer{s: httploop.New(h, httploop.Options{
		MaxHeaderBytes: opts.MaxHeaderBytes,
		MaxBodyBytes:   int64(opts.MaxBodySize),
		KeepAlive:      opts.KeepAlive,
		HeadersTimeout: opts.HeadersTimeout,
		RequestTimeout: opts.RequestTimeout,
		MaxConns:       opts.MaxConnections,
		MaxWriteBuffer: opts.MaxWriteBuffer,
		TLS:            opts.TLS,
		Logger:         opts.Logger,
		OnPanic:        opts.OnPanic,
	})}
}

// ErrHTTPServerClosed is returned by Serve after Shutdown or Close.
var ErrHTTPServerClosed = errors.New("transports: HTTP server closed")

// Serve serves connections accepted from ln (a *net.TCPListener) until
// Shutdown or Close, and returns ErrHTTPServerClosed then. It takes ln
// over.
func (s *HTTPServer) Serve(ln net.Listener) error {
	err := s.s.Serve(ln)
	if errors.Is(err, httploop.ErrServerClosed) {
		return ErrHTTPServerClosed
	}
	return err
}

// Shutdown stops accepting, closes the idle connections at once and every
// other one once its request is answered (a Server's own Shutdown answers
// its parked polls first), then what is left (WebSockets) gracefully, and
// waits for all of it, and every goroutine the server started, until ctx
// ends. It returns ctx.Err() when ctx ended first.
func (s *HTTPServer) Shutdown(ctx context.Context) error {
	err := s.s.Shutdown(ctx)
	if errors.Is(err, httploop.ErrServerClosed) {
		return ErrHTTPServerClosed
	}
	return err
}

// Close closes every connection at once and stops the loop; handlers still
// running (their requests' contexts cancelled) end on their own.
func (s *HTTPServer) Close() error { return s.s.Close() }
