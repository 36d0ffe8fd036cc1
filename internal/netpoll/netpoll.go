package netpoll

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"time"
)

// Handler receives a connection's events. Its methods are called on the
// connection's loop, one at a time and in order; b is valid only during
// the call (copy what must outlive it). A callback must not block: every
// other connection of its loop waits for it.
type Handler interface {
	// OnData is called with bytes read from the peer (after decryption
	// on a TLS connection).
	OnData(c *Conn, b []byte)
	// OnClose is called once, after the descriptor is closed. err says
	// why: nil when the application closed it (Close, Abort), io.EOF when
	// the peer did, ErrSlowPeer, ErrReadTimeout, ErrDeadline,
	// ErrCloseTimeout, ErrLoopClosed, a *PanicError, or the system call's
	// error.
	OnClose(c *Conn, err error)
}

// TimeoutHandler is a Handler that decides what a timeout does (an HTTP
// server answers 408 before it closes, as Node does). Without it, a
// timeout closes the connection at once. The timeout that fired is
// disarmed before the call; the handler may set it again.
type TimeoutHandler interface {
	Handler
	// OnTimeout is called on the loop with ErrReadTimeout or ErrDeadline.
	OnTimeout(c *Conn, err error)
}

// HandlerFuncs is a Handler made of functions; a nil one does nothing.
type HandlerFuncs struct {
	Data  func(c *Conn, b []byte)
	Close func(c *Conn, err error)
}

// OnData calls f.Data.
func (f HandlerFuncs) OnData(c *Conn, b []byte) {
	if f.Data != nil {
		f.Data(c, b)
	}
}

// OnClose calls f.Close.
func (f HandlerFuncs) OnClose(c *Conn, err error) {
	if f.Close != nil {
		f.Close(c, err)
	}
}

// Errors a connection is closed with, and that the API returns. A write
// on a closed connection returns net.ErrClosed (or the error that closed
// it: ErrSlowPeer, a system call's error).
var (
	// ErrSlowPeer: more than Options.MaxWriteBuffer bytes waited for the
	// peer; the connection was closed and the bytes dropped.
	ErrSlowPeer = errors.New("netpoll: peer too slow: write buffer full")
	// ErrReadTimeout: nothing was read for the duration set with
	// SetReadTimeout.
	ErrReadTimeout = errors.New("netpoll: read timeout")
	// ErrDeadline: the deadline set with SetDeadline passed.
	ErrDeadline = errors.New("netpoll: deadline exceeded")
	// ErrCloseTimeout: a graceful Close could not deliver what was
	// buffered, or hear the peer's end, within Options.CloseTimeout.
	ErrCloseTimeout = errors.New("netpoll: close timeout")
	// ErrLoopClosed: the Loop was closed.
	ErrLoopClosed = errors.New("netpoll: loop closed")
	// ErrMaxConns: Adopt was refused because Options.MaxConns
	// connections are open.
	ErrMaxConns = errors.New("netpoll: too many connections")
	// ErrNotTCP: Adopt or Serve was given something other than a TCP
	// connection or listener; the caller keeps it and serves it another
	// way.
	ErrNotTCP = errors.New("netpoll: not a TCP connection")
	// ErrHandshakeTimeout: a TLS handshake did not finish within
	// Options.HandshakeTimeout.
	ErrHandshakeTimeout = errors.New("netpoll: TLS handshake timeout")
)

// PanicError is the error a connection is closed with when one of its
// callbacks panicked. The loop recovered it and went on.
type PanicError struct {
	Value any    // what was passed to panic
	Stack []byte // the panicking goroutine's stack
}

func (e *PanicError) Error() string { return fmt.Sprintf("netpoll: panic in handler: %v", e.Value) }

// Unwrap returns the panic's value when it is an error.
func (e *PanicError) Unwrap() error {
	err, _ := e.Value.(error)
	return err
}

// Options configure a Loop. The zero value is usable.
type Options struct {
	// Pollers is the number of event loops, each a goroutine with its own
	// epoll instance. Default runtime.GOMAXPROCS(0).
	Pollers int
	// MaxConns bounds the connections open at once; a connection accepted
	// over it is closed at once (counted in Stats.Rejected). Default 1<<20.
	MaxConns int
	// MaxWriteBuffer bounds the bytes that may wait for one peer; a write
	// past it closes the connection with ErrSlowPeer. Default 4 MiB.
	MaxWriteBuffer int
	// ReadBufferSize is the size of each loop's read buffer, shared by its
	// connections: the most one OnData call gets. Default 64 KiB.
	ReadBufferSize int
	// CloseTimeout bounds a graceful Close: delivering what is buffered,
	// then waiting for the peer's end. Default 5s.
	CloseTimeout time.Duration
	// HandshakeTimeout bounds a TLS handshake. Default 120s (Node's
	// tls.Server handshakeTimeout).
	HandshakeTimeout time.Duration
	// TimerTick is the resolution of the per-loop timer wheel behind
	// SetReadTimeout and SetDeadline: a timeout fires up to one tick late.
	// Default 250ms.
	TimerTick time.Duration
	// Logger receives recovered panics and accept errors. Default
	// slog.Default().
	Logger *slog.Logger
	// OnPanic, when set, is called (on the loop) for each recovered panic,
	// after it is logged: a hook for a metric.
	OnPanic func(*PanicError)
}

func (o Options) withDefaults() Options {
	if o.Pollers <= 0 {
		o.Pollers = runtime.GOMAXPROCS(0)
	}
	if o.MaxConns <= 0 {
		o.MaxConns = 1 << 20
	}
	if o.MaxWriteBuffer <= 0 {
		o.MaxWriteBuffer = 4 << 20
	}
	if o.ReadBufferSize <= 0 {
		o.ReadBufferSize = 64 << 10
	}
	if o.CloseTimeout <= 0 {
		o.CloseTimeout = 5 * time.Second
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 120 * time.Second
	}
	if o.TimerTick <= 0 {
		o.TimerTick = 250 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Stats are a Loop's counters since it started.
type Stats struct {
	Conns           int    // open now (TLS handshakes included)
	Accepted        uint64 // accepted by Serve, or adopted
	Rejected        uint64 // closed at once, over MaxConns
	Panics          uint64 // recovered in callbacks
	HandshakeErrors uint64 // TLS handshakes that failed or timed out
}

// ServeOption changes how Serve serves its listener.
type ServeOption func(*serveConfig)

type serveConfig struct {
	tls *tls.Config
}

// TLS serves the listener through Go's crypto/tls with cfg (which must
// hold a certificate). The handshake runs on a short-lived goroutine fed
// by the loop; afterwards records are decrypted on the loop, and the
// Handler sees plaintext. Serve's accept function is called once the
// handshake is done, so c.ConnectionState is known to it. Nothing in
// crypto/tls is reached into: Go's defaults (TLS 1.2 and up, ECDHE with
// AEAD ciphers, X25519MLKEM768) apply unless cfg changes them.
func TLS(cfg *tls.Config) ServeOption {
	return func(s *serveConfig) { s.tls = cfg }
}

// wouldBlock is what the connection under a crypto/tls server returns
// when the loop has no more bytes for it: a net.Error that is Temporary,
// on which crypto/tls keeps its state and the bytes of a partial record
// (crypto/tls conn.go, readRecordOrCCS), so the next Read goes on.
type wouldBlock struct{}

func (wouldBlock) Error() string   { return "netpoll: no more bytes on the loop" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

var errWouldBlock error = wouldBlock{}

// errClosed refuses the writes on a connection that is closing or closed.
var errClosed = net.ErrClosed
