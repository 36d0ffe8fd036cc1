// Package websocket carries Engine.IO over WebSocket on siogo's own event
// loop (internal/netpoll).
//
// An idle WebSocket must cost little memory, and a goroutine blocked
// reading each connection costs 4-8 KB of stack alone. So a connection is
// read by a loop: frames are parsed as the loop gets the bytes, and
// messages run on a shared pool of goroutines, in order per connection.
// Upgraded on transports.HTTPServer, a connection stays on that server's
// loop connection (over TLS too: crypto/tls decrypts on the loop). Hijacked
// from net/http, a TCP connection moves to this Server's own loop, started
// on the first one; anything else (a crypto/tls connection of net/http's
// own TLS) keeps a goroutine that reads it.
//
// The handshake (accept.go) and the frame reader (read.go) are siogo's.
// Writes are framed here too, so that several frames for one connection
// leave in one write call, and so that compression applies only to
// messages at or above a threshold, as Node's ws does. A panic while a
// connection's bytes are read or its messages handled closes that
// connection (1011) with a logged error, never the process.
package websocket

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/siogo/siogo/internal/netpoll"
	"github.com/siogo/siogo/internal/workpool"
)

// Config sets the limits of a Server. The zero value is usable.
type Config struct {
	// MaxMessageSize bounds an incoming message; a larger one closes the
	// connection. Zero means 1e6 bytes, Node's maxHttpBufferSize.
	MaxMessageSize int
	// Compression negotiates permessage-deflate when the client offers it.
	Compression bool
	// CompressThreshold is the smallest message compressed; zero means 1024.
	CompressThreshold int
	// MaxWriteBuffer bounds the bytes waiting for a slow peer; past it the
	// connection closes. Zero means 4 MiB, or twice MaxMessageSize when
	// that is more: a message as large as the largest taken can go back.
	MaxWriteBuffer int
	// Logger receives the panics recovered on a connection's path. Default
	// slog.Default().
	Logger *slog.Logger
	// OnPanic, when set, is told of each panic recovered on a connection's
	// path, after it was logged, for a metric: where is "read" (the frame
	// reader, on the loop) or "handler" (a message's handling).
	OnPanic func(where string)
}

// Handler receives a connection's events. Calls for one connection never
// overlap and come in order; data is valid only during the call.
type Handler interface {
	OnMessage(c *Conn, binary bool, data []byte)
	OnClose(c *Conn, err error)
}

// Server upgrades HTTP requests to WebSocket connections served by an
// event loop.
type Server struct {
	cfg Config
	// flushq holds connections with bytes to write, for the flushers.
	flushq   chan *Conn
	done     chan struct{}
	fwg      sync.WaitGroup // the flushers
	flushing atomic.Bool    // the flushers were started
	closed   atomic.Bool
	pool     *workpool.Pool[job, *worker] // runs the connections' messages

	mu      sync.Mutex
	loop    *netpoll.Loop      // for connections hijacked from net/http; made on the first
	stopped bool               // Close was called
	readers map[*Conn]struct{} // connections a goroutine reads
	rwg     sync.WaitGroup     // their goroutines
}

// NewServer returns a Server; its event loop starts with the first
// connection that needs it.
func NewServer(cfg Config) (*Server, error) {
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = 1e6
	}
	if cfg.CompressThreshold <= 0 {
		cfg.CompressThreshold = 1024
	}
	if cfg.MaxWriteBuffer <= 0 {
		cfg.MaxWriteBuffer = max(4<<20, 2*cfg.MaxMessageSize)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, flushq: make(chan *Conn, 1<<16), done: make(chan struct{}), pool: newPool(64 * runtime.GOMAXPROCS(0)), readers: map[*Conn]struct{}{}}
	return s, nil
}

// startFlushers starts the flushers on first use, so that a Server that
// never served leaves nothing running; a closed Server starts none.
func (s *Server) startFlushers() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || s.flushing.Load() {
		return
	}
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		s.fwg.Add(1)
		go s.flusher()
	}
	s.flushing.Store(true)
}

// eventLoop is the Server's own loop, started on first use.
func (s *Server) eventLoop() (*netpoll.Loop, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return nil, net.ErrClosed
	}
	if s.loop == nil {
		l, err := netpoll.New(netpoll.Options{MaxWriteBuffer: s.cfg.MaxWriteBuffer, Logger: s.cfg.Logger})
		if err != nil {
			return nil, err
		}
		s.loop = l
	}
	return s.loop, nil
}

// Close stops the Server: the connections on its own loop and those its
// goroutines read are closed (OnClose follows for each); its loop,
// flushers and reading goroutines have returned when Close does, and a
// worker busy with a message ends once that returns (Close may be called
// from a handler). Connections upgraded on a transports.HTTPServer are
// that server's to close.
func (s *Server) Close() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	l := s.loop
	readers := make([]*Conn, 0, len(s.readers))
	for c := range s.readers {
		readers = append(readers, c)
	}
	s.mu.Unlock()
	if l != nil {
		_ = l.Close()
	}
	for _, c := range readers {
		_ = c.nc.Close()
	}
	s.rwg.Wait()
	s.closed.Store(true)
	close(s.done)
	s.fwg.Wait()
	for {
		select {
		case c := <-s.flushq:
			c.flush()
			continue
		default:
		}
		break
	}
	s.pool.Stop()
}

// flusher writes what connections have pending, each in one call.
func (s *Server) flusher() {
	defer s.fwg.Done()
	for {
		select {
		case <-s.done:
			return
		case c := <-s.flushq:
			c.flush()
		}
	}
}

// ErrClosed is the error given to OnClose when the peer closed the
// connection, with or without a close frame, whatever its code, or when
// siogo closed it; any other error is a failure (ErrProtocol, a message
// over the limit, a write that failed, ErrPanic).
var ErrClosed = errors.New("websocket: connection closed")

// ErrPanic is wrapped in the error given to OnClose when a panic was
// recovered on the connection's path (its frame reader or a message's
// handling): the connection was closed with 1011.
var ErrPanic = errors.New("websocket: panic on the connection's path")

// panicked logs and counts a panic recovered on c's path.
func (s *Server) panicked(where string, v any, c *Conn) {
	remote := ""
	if c.remote != nil {
		remote = c.remote.String()
	}
	s.cfg.Logger.Error("websocket: panic on a connection's path; connection closed",
		slog.String("where", where), slog.String("remote", remote), slog.Any("panic", v), slog.String("stack", string(debug.Stack())))
	if f := s.cfg.OnPanic; f != nil {
		f(where)
	}
}

// Conn is one upgraded connection.
type Conn struct {
	srv      *Server
	handler  Handler
	compress bool
	// window is the server_max_window_bits the client asked for (0: none):
	// a message that could refer further back is coded Huffman-only.
	window uint8
	// onLoop: an event loop reads the connection (pc, once known); else
	// a goroutine reads nc, and calls in order itself.
	onLoop bool
	remote net.Addr
	pc     *netpoll.Conn
	nc     net.Conn

	rmu sync.Mutex
	r   reader
	// readLimit lowers MaxMessageSize for this connection (SetReadLimit),
	// and bounds waiting, the bytes of the messages it read since that wait
	// for the handler.
	readLimit, waiting atomic.Int64

	x executor // runs the messages, in order

	// Writes: frames wait in pending (held only while not empty) for a
	// flusher, which writes all of them at once. A burst of frames to one
	// connection thus leaves in few system calls, as libuv does for Node.
	wmu        sync.Mutex
	pending    *[]byte
	queued     bool   // a flush is scheduled or running
	closeFrame []byte // payload of the close frame to send once pending is written
	closeRaw   bool   // closeFrame is sent as it is, unframed (Abort)
	closing    bool
	closed     bool
	// corkW is the worker whose run of the connection's jobs corks it:
	// frames wait in pending until the run ends, or its timer fires
	// (armed once something waits).
	corkW     *worker
	corkArmed bool
	abort     bool  // closed without a close frame: the flusher releases
	closeErr  error // what OnClose will say, when not the peer's close
	reported  bool  // OnClose was called
	// lastPong is when the last pong frame was read, as nanoseconds
	// since pongEpoch plus one; zero when none was.
	lastPong atomic.Int64
}

// loopHandler is a Conn as its loop's netpoll.Handler.
type loopHandler struct{ c *Conn }

// OnData reads frames from what the loop read.
func (h loopHandler) OnData(_ *netpoll.Conn, b []byte) { h.c.onData(b) }

// OnClose reports the end, in order after the messages read before it.
func (h loopHandler) OnClose(_ *netpoll.Conn, err error) {
	c := h.c
	c.exec(func() { c.onClosed(err) })
}

// pongEpoch makes lastPong monotonic: a wall clock step does not move it.
var pongEpoch = time.Now()

// Ping queues a ping frame (payload at most 125 bytes) behind the frames
// already written. A peer answers with a pong, which LastPong reports:
// for a heartbeat of an endpoint whose protocol has none of its own.
func (c *Conn) Ping(payload []byte) error {
	if len(payload) > 125 {
		return fmt.Errorf("websocket: ping payload of %d bytes, at most 125", len(payload))
	}
	return c.writeControl(opPing, payload)
}

// LastPong is when the connection last read a pong frame (answering a
// Ping, or unsolicited); the zero Time when it has read none. A peer that
// holds a frame half sent, or reads nothing, sends no pong.
func (c *Conn) LastPong() time.Time {
	n := c.lastPong.Load()
	if n == 0 {
		return time.Time{}
	}
	return pongEpoch.Add(time.Duration(n - 1))
}

// backlog is the number of bytes the loop holds for a socket that cannot
// take them yet.
func (c *Conn) backlog() int64 {
	if c.pc == nil {
		return 0
	}
	return int64(c.pc.Buffered())
}

// Backlogged reports whether bytes wait for the peer to read: what is
// written now would not reach the socket at once. Volatile packets are
// dropped then, as Node drops them while its transport is not writable.
func (c *Conn) Backlogged() bool { return c.backlog() > 0 }

// SetReadLimit lowers the bound on what the peer may send, from now on,
// to max bytes (0 restores Config.MaxMessageSize alone): each message, and
// the messages read while the handler is busy that wait for it, together.
// Past it the connection closes with 1009, as for a message too large. For
// a peer that has yet to prove who it is, while a costly check runs.
func (c *Conn) SetReadLimit(max int) {
	if max < 0 {
		max = 0
	}
	c.readLimit.Store(int64(max))
}

// maxMessage is the largest message the peer may send now.
func (c *Conn) maxMessage() int {
	max := c.srv.cfg.MaxMessageSize
	if l := c.readLimit.Load(); l > 0 && l < int64(max) {
		max = int(l)
	}
	return max
}

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// Compressed reports whether permessage-deflate was negotiated.
func (c *Conn) Compressed() bool { return c.compress }

// Frame is one message to write: Head then Data, as one text or binary
// message. Head lets a caller prefix a packet type without copying Data.
type Frame struct {
	Binary     bool
	NoCompress bool
	Head       []byte
	Data       []byte
	control    byte // a control frame's opcode (a pong)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, pooledWrite); return &b }}

// pooledWrite is the size of the pool's write buffers. Frames that fit in
// less (a tick's timestamp, most events) get a buffer of their own size
// instead, left to the collector once written: a broadcast to every
// connection would otherwise take a pooled buffer per connection, which
// the pool then keeps between broadcasts, 512 bytes per idle connection.
const pooledWrite = 512

// newPending is the buffer of the frames a connection is about to queue.
func newPending(frames []Frame) *[]byte {
	n := 0
	for _, f := range frames {
		n += 14 + len(f.Head) + len(f.Data)
	}
	if n < pooledWrite/2 {
		b := make([]byte, 0, n)
		return &b
	}
	pb := bufPool.Get().(*[]byte)
	*pb = (*pb)[:0]
	return pb
}

// ErrSlowPeer is returned, and the connection closed, when more than
// Config.MaxWriteBuffer bytes wait for a peer (queued here and held by
// the loop for a socket whose buffer is full); OnClose is given it too.
var ErrSlowPeer = errors.New("websocket: peer too slow, write buffer full")

// WriteFrames queues frames for the connection, in order, and returns at
// once: a flusher writes what waits in one call. It does not block on a
// slow peer; past Config.MaxWriteBuffer waiting bytes the connection
// closes.
func (c *Conn) WriteFrames(frames ...Frame) error {
	c.wmu.Lock()
	if c.closed || c.closing {
		c.wmu.Unlock()
		return net.ErrClosed
	}
	if c.pending == nil {
		c.pending = newPending(frames)
	}
	buf := *c.pending
	for _, f := range frames {
		buf = c.appendFrame(buf, f)
	}
	*c.pending = buf
	if len(buf)+int(c.backlog()) > c.srv.cfg.MaxWriteBuffer {
		c.closed, c.abort = true, true
		if c.closeErr == nil {
			c.closeErr = ErrSlowPeer
		}
		c.pending = nil
		// The socket is released by whoever writes, after its write: a
		// flush running now, or here.
		own := !c.queued
		c.queued = true
		c.wmu.Unlock()
		if own {
			c.flush()
		}
		return ErrSlowPeer
	}
	if w := c.corkW; w != nil && !c.queued {
		arm := !c.corkArmed
		c.corkArmed = true
		c.wmu.Unlock()
		if arm {
			w.timer.Reset(corkDelay)
		}
		return nil
	}
	schedule := !c.queued
	c.queued = true
	c.wmu.Unlock()
	switch {
	case !schedule:
	case c.inHandler():
		// The connection's worker runs (a handler writes an echo, an
		// ack, a CONNECT answer): the loop's write does not block, so
		// the frames leave from here, with no hand-off to a flusher.
		c.flush()
	default:
		c.srv.schedule(c)
	}
	return nil
}

// Hold keeps what is written to the connection, from now on, for d before
// it leaves (in one write then): the Engine.IO open packet must not come
// in the same read as the 101 response (transports.openPacketGap).
func (c *Conn) Hold(d time.Duration) {
	c.wmu.Lock()
	if c.queued || c.closed || c.closing {
		c.wmu.Unlock()
		return
	}
	// A flush counted as scheduled: writes and a close only queue until
	// the timer hands the connection to a flusher.
	c.queued = true
	c.wmu.Unlock()
	time.AfterFunc(d, func() { c.srv.schedule(c) })
}

// cork holds what is written to the connection in pending while w runs
// its jobs.
func (c *Conn) cork(w *worker) {
	c.wmu.Lock()
	if c.corkW != w {
		c.corkW, c.corkArmed = w, false
	}
	c.wmu.Unlock()
}

// uncork ends w's cork, if it holds one, and writes what waits.
func (c *Conn) uncork(w *worker) {
	c.wmu.Lock()
	if c.corkW != w {
		c.wmu.Unlock()
		return
	}
	c.corkW, c.corkArmed = nil, false
	schedule := c.pending != nil && !c.queued
	if schedule {
		c.queued = true
	}
	c.wmu.Unlock()
	if schedule {
		c.flush()
	}
}

// Flush writes at once what the handling of the current message has
// written so far, and what it writes after, until it returns: for a
// handler about to wait for its client (an acknowledgement), which must
// have what it sent first. Elsewhere it does nothing.
func (c *Conn) Flush() {
	c.wmu.Lock()
	w := c.corkW
	c.wmu.Unlock()
	if w != nil {
		c.uncork(w)
	}
}

// schedule hands c to a flusher, or flushes here when they are all busy
// and their queue is full, or the Server is closed.
func (s *Server) schedule(c *Conn) {
	if s.closed.Load() {
		c.flush()
		return
	}
	if !s.flushing.Load() {
		s.startFlushers()
	}
	select {
	case s.flushq <- c:
	default:
		c.flush()
	}
}

// flush writes what is pending until nothing is, then a close frame if one
// was asked for. One flush runs per connection at a time, so frames keep
// their order.
func (c *Conn) flush() {
	for {
		c.wmu.Lock()
		pb := c.pending
		c.pending = nil
		if pb == nil {
			closing := c.closing && !c.closed
			abort := c.abort
			c.queued, c.abort = false, false
			if closing {
				c.closed = true
			}
			c.wmu.Unlock()
			if closing {
				if c.closeRaw {
					_ = c.write(c.closeFrame)
				} else {
					frame := appendHeader(make([]byte, 0, 2+len(c.closeFrame)), finBit|opClose, len(c.closeFrame))
					_ = c.write(append(frame, c.closeFrame...))
				}
			}
			if closing || abort {
				c.release(abort && !closing)
				// Over for the handler now, as Node's engine.io sees it:
				// the loop's graceful close (the peer's end awaited) may
				// take longer.
				c.exec(func() { c.onClosed(nil) })
			}
			return
		}
		c.wmu.Unlock()
		err := c.write(*pb)
		if cap(*pb) >= pooledWrite && cap(*pb) <= 64<<10 {
			*pb = (*pb)[:0]
			bufPool.Put(pb)
		}
		if err != nil {
			c.wmu.Lock()
			c.closed = true
			if c.pending != nil {
				c.pending = nil
			}
			c.queued = false
			c.wmu.Unlock()
			return
		}
	}
}

// write writes b to the connection: without blocking on a loop's (what
// the socket cannot take waits in the loop's buffer).
func (c *Conn) write(b []byte) error {
	var err error
	if c.pc != nil {
		_, err = c.pc.Write(b)
	} else {
		_, err = c.nc.Write(b)
	}
	return err
}

// release ends the connection once its last bytes are written: on a loop
// gracefully (what waits is delivered, then the peer's end awaited, on
// the loop that owns the descriptor); abort drops what waits.
func (c *Conn) release(abort bool) {
	switch {
	case c.pc != nil && abort:
		c.pc.Abort()
	case c.pc != nil:
		_ = c.pc.Close()
	default:
		_ = c.nc.Close()
	}
}

const (
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	finBit   = 0x80
	rsv1Bit  = 0x40
)

func (c *Conn) appendFrame(dst []byte, f Frame) []byte {
	op := byte(opText)
	switch {
	case f.control != 0:
		dst = appendHeader(dst, finBit|f.control, len(f.Data))
		return append(dst, f.Data...)
	case f.Binary:
		op = opBinary
	}
	n := len(f.Head) + len(f.Data)
	if c.compress && !f.NoCompress && n >= c.srv.cfg.CompressThreshold {
		// A fresh stream of n bytes refers at most n-1 bytes back.
		huffman := c.window != 0 && c.window < 15 && n > 1<<c.window
		if out, ok := deflate(f.Head, f.Data, huffman); ok {
			dst = appendHeader(dst, finBit|rsv1Bit|op, len(*out))
			dst = append(dst, *out...)
			*out = (*out)[:0]
			deflateBufPool.Put(out)
			return dst
		}
	}
	dst = appendHeader(dst, finBit|op, n)
	dst = append(dst, f.Head...)
	return append(dst, f.Data...)
}

func appendHeader(dst []byte, b0 byte, n int) []byte {
	switch {
	case n < 126:
		return append(dst, b0, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, b0, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, b0, 127), uint64(n))
	}
}

var (
	flatePool      = sync.Pool{New: func() any { w, _ := flate.NewWriter(nil, flate.BestSpeed); return w }}
	huffmanPool    = sync.Pool{New: func() any { w, _ := flate.NewWriter(nil, flate.HuffmanOnly); return w }}
	deflateBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}
)

type sliceWriter struct{ b *[]byte }

func (w sliceWriter) Write(p []byte) (int, error) {
	*w.b = append(*w.b, p...)
	return len(p), nil
}

// deflate compresses one message for permessage-deflate with no context
// takeover: a fresh stream, sync-flushed, its 00 00 ff ff tail removed
// (RFC 7692 section 7.2.1); with huffman, with no back-references at all,
// for a peer that limited the server's window.
func deflate(head, data []byte, huffman bool) (*[]byte, bool) {
	out := deflateBufPool.Get().(*[]byte)
	pool := &flatePool
	if huffman {
		pool = &huffmanPool
	}
	zw := pool.Get().(*flate.Writer)
	defer pool.Put(zw)
	zw.Reset(sliceWriter{out})
	if _, err := zw.Write(head); err != nil {
		return nil, false
	}
	if _, err := zw.Write(data); err != nil {
		return nil, false
	}
	if err := zw.Flush(); err != nil {
		return nil, false
	}
	b := *out
	if len(b) >= 4 && bytes.Equal(b[len(b)-4:], []byte{0, 0, 0xff, 0xff}) {
		*out = b[:len(b)-4]
	}
	return out, true
}

// CloseNoStatus given to Close sends a close frame without a status code,
// as Node's ws does for close() without arguments (which Engine.IO uses for
// every close); the peer reports 1005 (RFC 6455 section 7.1.5).
const CloseNoStatus = 1005

// Close sends a close frame with the given status code (none for
// CloseNoStatus), after the frames already written, and closes the
// connection.
func (c *Conn) Close(code int) error {
	if code == CloseNoStatus {
		c.closeWith(nil)
		return nil
	}
	c.closeWith([]byte{byte(code >> 8), byte(code)})
	return nil
}

// Abort writes raw as it is in place of a close frame, after the frames
// already written, and closes the connection. It is for Node's answer to a
// WebSocket handshake it refuses only after the 101: an HTTP 400 response
// written into the upgraded stream.
func (c *Conn) Abort(raw []byte) error {
	c.finish(bytes.Clone(raw), true)
	return nil
}

// writeControl queues a control frame behind the frames already queued.
func (c *Conn) writeControl(op byte, payload []byte) error {
	return c.WriteFrames(Frame{control: op, Data: payload})
}

// closeWith sends a close frame with payload after the frames already
// written, and closes the connection.
func (c *Conn) closeWith(payload []byte) { c.finish(payload, false) }

// finish writes payload as a close frame, or as it is when raw, after the
// frames already written, and closes the connection.
func (c *Conn) finish(payload []byte, raw bool) {
	c.wmu.Lock()
	if c.closed || c.closing {
		c.wmu.Unlock()
		return
	}
	c.closing = true
	c.closeFrame = payload
	c.closeRaw = raw
	schedule := !c.queued
	c.queued = true
	c.wmu.Unlock()
	if schedule {
		c.flush()
	}
}
