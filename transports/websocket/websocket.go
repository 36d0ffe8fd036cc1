// Package websocket carries Engine.IO over WebSocket on lesismal/nbio.
//
// Why nbio: an idle WebSocket must cost little memory, and a goroutine
// blocked reading each connection costs 4-8 KB of stack alone. nbio's
// upgrader hands the hijacked connection of any net/http server to an epoll
// loop, so no goroutine waits on an idle connection; reads are parsed by the
// loop and messages run on a shared pool, in order per connection. The
// comparison with gorilla/websocket, coder/websocket, gobwas/ws and lxzan/gws
// is in bench/README.md.
//
// Writes are framed here rather than by nbio so that several frames for one
// connection leave in one write call, and so that compression applies only
// to messages at or above a threshold, as Node's ws does.
package websocket

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"runtime"
	"sync"

	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
	nbws "github.com/lesismal/nbio/nbhttp/websocket"
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
	// connection closes. Zero means 4 MiB.
	MaxWriteBuffer int
}

// Handler receives a connection's events. Calls for one connection never
// overlap and come in order; data is valid only during the call.
type Handler interface {
	OnMessage(c *Conn, binary bool, data []byte)
	OnClose(c *Conn, err error)
}

// Server upgrades HTTP requests to WebSocket connections served by an nbio
// event loop.
type Server struct {
	cfg      Config
	engine   *nbhttp.Engine
	upgrader *nbws.Upgrader
	// conns maps nbio's connections to siogo's, from the first frame or
	// the upgrade, whichever comes first, until the close.
	conns sync.Map
	// flushq holds connections with bytes to write, for the flushers.
	flushq chan *Conn
	done   chan struct{}
}

func init() {
	// nbio logs to stdout by default; siogo reports through its own errors.
	logging.SetLevel(logging.LevelNone)
}

// NewServer starts the event loop that will serve upgraded connections.
func NewServer(cfg Config) (*Server, error) {
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = 1e6
	}
	if cfg.CompressThreshold <= 0 {
		cfg.CompressThreshold = 1024
	}
	if cfg.MaxWriteBuffer <= 0 {
		cfg.MaxWriteBuffer = 4 << 20
	}
	engine := nbhttp.NewEngine(nbhttp.Config{
		Name:                    "siogo",
		MaxLoad:                 1 << 20,
		ReleaseWebsocketPayload: true,
		MaxWriteBufferSize:      cfg.MaxWriteBuffer,
	})
	if err := engine.Start(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, engine: engine, flushq: make(chan *Conn, 1<<16), done: make(chan struct{})}
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		go s.flusher()
	}
	u := nbws.NewUpgrader()
	u.Engine = engine
	u.KeepaliveTime = 0 // Engine.IO has its own heartbeat.
	u.MessageLengthLimit = cfg.MaxMessageSize
	u.BlockingModTrasferConnToPoller = true
	u.CheckOrigin = func(*http.Request) bool { return true } // the Engine.IO layer checks origins
	u.EnableCompression(cfg.Compression)
	u.OnMessage(s.onMessage)
	u.OnClose(s.onClose)
	s.upgrader = u
	return s, nil
}

// Close stops the event loop and the flushers; every connection closes.
func (s *Server) Close() {
	close(s.done)
	s.engine.Stop()
}

// flusher writes what connections have pending, each in one call.
func (s *Server) flusher() {
	for {
		select {
		case <-s.done:
			return
		case c := <-s.flushq:
			c.flush()
		}
	}
}

// Upgrade answers r with the WebSocket handshake and returns the connection,
// whose events go to h. header is added to the 101 response.
func (s *Server) Upgrade(w http.ResponseWriter, r *http.Request, header http.Header, h Handler) (*Conn, error) {
	ws, err := s.upgrader.Upgrade(w, r, header)
	if err != nil {
		return nil, err
	}
	c := &Conn{ws: ws, srv: s}
	if v, loaded := s.conns.LoadOrStore(ws, c); loaded {
		c = v.(*Conn) // frames came first; they wait in it
	}
	c.compress = s.cfg.Compression && negotiatedDeflate(ws)
	c.attach(h)
	return c, nil
}

// negotiatedDeflate reports whether nbio agreed to permessage-deflate with
// the client. nbio keeps that to itself (CompressionEnabled is about the
// message being read), and deciding it again from the request could
// disagree with nbio on a malformed offer and send compressed frames the
// client never accepted; so it is read from nbio's field, once per
// connection. TestPerMessageDeflate fails if an nbio release renames it.
func negotiatedDeflate(ws *nbws.Conn) bool {
	f := reflect.ValueOf(ws).Elem().FieldByName("remoteCompressionEnabled")
	return f.IsValid() && f.Kind() == reflect.Bool && f.Bool()
}

// conn is siogo's side of an nbio connection. The registry is siogo's own:
// nbio's Session is read without a lock in non-blocking mode, and
// publishing through it left first frames racing with the upgrade.
func (s *Server) conn(ws *nbws.Conn) *Conn {
	if v, ok := s.conns.Load(ws); ok {
		return v.(*Conn)
	}
	v, _ := s.conns.LoadOrStore(ws, &Conn{ws: ws, srv: s})
	return v.(*Conn)
}

func (s *Server) onMessage(ws *nbws.Conn, mt nbws.MessageType, data []byte) {
	if len(data) > s.cfg.MaxMessageSize {
		// nbio bounds a message by its wire size, and a compressed one only
		// roughly (to about twice the limit) once inflated; the limit is
		// exact here, after inflation, as Node's ws applies maxPayload.
		ws.SetCloseError(nbws.ErrMessageTooLarge)
		_ = ws.WriteClose(1009, "message too large")
		_ = ws.Close()
		return
	}
	s.conn(ws).event(event{binary: mt == nbws.BinaryMessage, data: data})
}

func (s *Server) onClose(ws *nbws.Conn, err error) {
	var ce *nbws.CloseError
	if err == nil || errors.Is(err, io.EOF) || errors.As(err, &ce) {
		// The peer closed, with or without a close frame, whatever its
		// code: Node's ws calls all of these a close, not an error.
		err = ErrClosed
	}
	s.conn(ws).event(event{closed: true, err: err})
	s.conns.Delete(ws)
}

// ErrClosed is the error given to OnClose when the peer closed the
// connection; any other error is a failure (a protocol error, a message
// over the limit, a write that failed).
var ErrClosed = errors.New("websocket: connection closed")

type event struct {
	binary bool
	closed bool
	data   []byte
	err    error
}

// Conn is one upgraded connection.
type Conn struct {
	ws       *nbws.Conn
	srv      *Server
	compress bool

	mu       sync.Mutex
	handler  Handler
	early    []event // events that came before the handler was attached
	draining bool

	// Writes: frames wait in pending (held only while not empty) for a
	// flusher, which writes all of them at once. A burst of frames to one
	// connection thus leaves in few system calls, as libuv does for Node.
	wmu     sync.Mutex
	pending *[]byte
	queued  bool   // a flush is scheduled or running
	closing []byte // the close frame (or Abort's bytes) to write once pending is written
	closed  bool
}

// attach sets the handler, then hands it the events that came before.
func (c *Conn) attach(h Handler) {
	c.mu.Lock()
	c.handler = h
	for len(c.early) > 0 {
		batch := c.early
		c.early = nil
		c.draining = true
		c.mu.Unlock()
		for _, e := range batch {
			c.dispatch(h, e)
		}
		c.mu.Lock()
	}
	c.draining = false
	c.mu.Unlock()
}

func (c *Conn) event(e event) {
	c.mu.Lock()
	h := c.handler
	if h == nil || c.draining {
		e.data = bytes.Clone(e.data)
		c.early = append(c.early, e)
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	c.dispatch(h, e)
}

func (c *Conn) dispatch(h Handler, e event) {
	if e.closed {
		h.OnClose(c, e.err)
		return
	}
	h.OnMessage(c, e.binary, e.data)
}

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.ws.RemoteAddr() }

// Compressed reports whether permessage-deflate was negotiated.
func (c *Conn) Compressed() bool { return c.compress }

// Frame is one message to write: Head then Data, as one text or binary
// message. Head lets a caller prefix a packet type without copying Data.
type Frame struct {
	Binary     bool
	NoCompress bool
	Head       []byte
	Data       []byte
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// ErrSlowPeer is returned, and the connection closed, when more than
// Config.MaxWriteBuffer bytes wait for a peer.
var ErrSlowPeer = errors.New("websocket: peer too slow, write buffer full")

// WriteFrames queues frames for the connection, in order, and returns at
// once: a flusher writes what waits in one call. It does not block on a
// slow peer; past Config.MaxWriteBuffer waiting bytes the connection
// closes.
func (c *Conn) WriteFrames(frames ...Frame) error {
	c.wmu.Lock()
	if c.closed || c.closing != nil {
		c.wmu.Unlock()
		return net.ErrClosed
	}
	if c.pending == nil {
		pb := bufPool.Get().(*[]byte)
		*pb = (*pb)[:0]
		c.pending = pb
	}
	buf := *c.pending
	for _, f := range frames {
		buf = c.appendFrame(buf, f)
	}
	*c.pending = buf
	if len(buf) > c.srv.cfg.MaxWriteBuffer {
		c.closed = true
		c.wmu.Unlock()
		c.ws.SetCloseError(ErrSlowPeer)
		_ = c.ws.Close()
		return ErrSlowPeer
	}
	schedule := !c.queued
	c.queued = true
	c.wmu.Unlock()
	if schedule {
		c.srv.schedule(c)
	}
	return nil
}

// schedule hands c to a flusher, or flushes here when they are all busy
// and their queue is full.
func (s *Server) schedule(c *Conn) {
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
			last := c.closing
			c.queued = false
			if last != nil {
				c.closed = true
			}
			c.wmu.Unlock()
			if last != nil {
				_, _ = c.ws.Conn.Write(last)
				_ = c.ws.Close()
			}
			return
		}
		c.wmu.Unlock()
		_, err := c.ws.Conn.Write(*pb)
		if cap(*pb) <= 64<<10 {
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

const (
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	finBit   = 0x80
	rsv1Bit  = 0x40
)

func (c *Conn) appendFrame(dst []byte, f Frame) []byte {
	op := byte(opText)
	if f.Binary {
		op = opBinary
	}
	n := len(f.Head) + len(f.Data)
	if c.compress && !f.NoCompress && n >= c.srv.cfg.CompressThreshold {
		if out, ok := deflate(f.Head, f.Data); ok {
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
	deflateBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}
)

type sliceWriter struct{ b *[]byte }

func (w sliceWriter) Write(p []byte) (int, error) {
	*w.b = append(*w.b, p...)
	return len(p), nil
}

// deflate compresses one message for permessage-deflate with no context
// takeover: a fresh stream, sync-flushed, its 00 00 ff ff tail removed
// (RFC 7692 section 7.2.1).
func deflate(head, data []byte) (*[]byte, bool) {
	out := deflateBufPool.Get().(*[]byte)
	zw := flatePool.Get().(*flate.Writer)
	defer flatePool.Put(zw)
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
		return c.closeWith([]byte{finBit | opClose, 0})
	}
	return c.closeWith([]byte{finBit | opClose, 2, byte(code >> 8), byte(code)})
}

// Abort writes raw as it is in place of a close frame, after the frames
// already written, and closes the connection. It is for Node's answer to a
// WebSocket handshake it refuses only after the 101: an HTTP 400 response
// written into the upgraded stream.
func (c *Conn) Abort(raw []byte) error {
	return c.closeWith(bytes.Clone(raw))
}

func (c *Conn) closeWith(last []byte) error {
	c.wmu.Lock()
	if c.closed || c.closing != nil {
		c.wmu.Unlock()
		return nil
	}
	c.closing = last
	schedule := !c.queued
	c.queued = true
	c.wmu.Unlock()
	if schedule {
		c.flush()
	}
	return nil
}
