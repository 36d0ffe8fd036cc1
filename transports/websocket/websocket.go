// Package websocket carries Engine.IO over WebSocket on lesismal/nbio.
//
// Why nbio: an idle WebSocket must cost little memory, and a goroutine
// blocked reading each connection costs 4-8 KB of stack alone. The
// connection hijacked from any net/http server moves to nbio's epoll loop,
// so no goroutine waits on an idle connection; reads are parsed as the loop
// gets them and messages run on a shared pool, in order per connection.
// Over TLS the same holds when net/http serves through ServeTLS (nbio's
// TLS, whose state moves to the loop); a crypto/tls connection keeps a
// goroutine that reads it. The
// comparison with gorilla/websocket, coder/websocket, gobwas/ws and lxzan/gws
// is in bench/README.md.
//
// Only the event loop is nbio's. The handshake (accept.go) and the frame
// reader (read.go) are siogo's, because nbio's reader drops messages of no
// bytes and accepts unmasked client frames. Writes are framed here too, so
// that several frames for one connection leave in one write call, and so
// that compression applies only to messages at or above a threshold, as
// Node's ws does.
package websocket

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	ltls "github.com/lesismal/llib/std/crypto/tls"
	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
	"github.com/lesismal/nbio/nbhttp"
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
	cfg    Config
	engine *nbhttp.Engine
	// flushq holds connections with bytes to write, for the flushers.
	flushq chan *Conn
	done   chan struct{}
	pool   *pool // runs the connections' messages
	// probes has one probe per poller, by index (fd % len(probes)).
	probes []*probe
	// fds tracks descriptors nbio may have closed off its poller.
	fds [64]fdShard
	// writing counts the writes in progress by descriptor, modulo its
	// length: two descriptors that share a count only make settle wait
	// when it need not.
	writing [4096]atomic.Int32
}

// fdShard is a part of the descriptor tracking, for the descriptors of
// one remainder modulo 64.
type fdShard struct {
	mu    sync.Mutex
	dirty map[int]bool // closed off the poller, not yet settled
}

// beginWrite and endWrite surround a write to nbio: a write that fails
// has nbio close the descriptor on the spot, off its poller. A write is
// counted with an atomic add, with no lock or map on the path of every
// write; only a failure takes the shard's lock, and marks the descriptor
// before its count drops, so that settle sees one or the other.
func (s *Server) beginWrite(fd int) { s.writing[fd&(len(s.writing)-1)].Add(1) }

func (s *Server) endWrite(fd int, failed bool) {
	if failed {
		sh := &s.fds[fd&63]
		sh.mu.Lock()
		if sh.dirty == nil {
			sh.dirty = map[int]bool{}
		}
		sh.dirty[fd] = true
		sh.mu.Unlock()
	}
	s.writing[fd&(len(s.writing)-1)].Add(-1)
}

// closeOffPoller closes nbc from this goroutine, noting it first.
func (s *Server) closeOffPoller(nbc *nbio.Conn) {
	s.beginWrite(nbc.Hash())
	_ = nbc.Close()
	s.endWrite(nbc.Hash(), true)
}

// settle is called with a fresh descriptor, before it goes to the event
// loop. When its number may have been closed off the poller (a write in
// progress on it, or one that failed), the poller may still hold an event
// for the old socket that it would apply to the new one; settle waits
// until the poller has handled every event it holds.
func (s *Server) settle(fd int) {
	if len(s.probes) == 0 {
		return
	}
	sh := &s.fds[fd&63]
	sh.mu.Lock()
	suspect := s.writing[fd&(len(s.writing)-1)].Load() > 0 || sh.dirty[fd]
	delete(sh.dirty, fd)
	sh.mu.Unlock()
	if suspect {
		s.probes[fd%len(s.probes)].barrier()
	}
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
		cfg.MaxWriteBuffer = max(4<<20, 2*cfg.MaxMessageSize)
	}
	engine := nbhttp.NewEngine(nbhttp.Config{
		Name:               "siogo",
		MaxLoad:            1 << 20,
		MaxWriteBufferSize: cfg.MaxWriteBuffer,
	})
	s := &Server{cfg: cfg, engine: engine, flushq: make(chan *Conn, 1<<16), done: make(chan struct{}), pool: newPool(64 * runtime.GOMAXPROCS(0))}
	engine.OnWrittenSize(s.onWritten)
	start := func() error {
		if err := engine.Start(); err != nil {
			return err
		}
		// Until each poller's loop has begun, a Stop would hang.
		probes, err := awaitPollers(engine.Engine, engine.NPoller)
		if err != nil {
			engine.Stop()
			return err
		}
		s.probes = probes
		return nil
	}
	if err := startEngine(start); err != nil {
		return nil, err
	}
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		go s.flusher()
	}
	return s, nil
}

// Close stops the event loop and the flushers; every connection closes.
func (s *Server) Close() {
	close(s.done)
	s.engine.Stop()
	for _, p := range s.probes {
		p.close()
	}
	s.pool.stop()
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

// onWritten counts the bytes nbio wrote to a connection's socket, at once
// or later from its own buffer, so that Conn.backlog knows what still waits
// there.
func (s *Server) onWritten(nc *nbio.Conn, b []byte, n int) { CountWritten(nc, b, n) }

// CountWritten is for the OnWrittenSize of another nbio engine whose
// connections Upgrade takes (transports.HTTPServer's): without it, what
// that engine wrote would count as waiting for the peer.
func CountWritten(nc *nbio.Conn, _ []byte, n int) {
	if sess, ok := nc.Session().(nbSession); ok {
		sess.c.written.Add(int64(n))
	}
}

// ErrClosed is the error given to OnClose when the peer closed the
// connection, with or without a close frame, whatever its code, or when
// siogo closed it; any other error is a failure (ErrProtocol, a message
// over the limit, a write that failed).
var ErrClosed = errors.New("websocket: connection closed")

// Conn is one upgraded connection.
type Conn struct {
	srv      *Server
	handler  Handler
	compress bool
	// window is the server_max_window_bits the client asked for (0: none):
	// a message that could refer further back is coded Huffman-only.
	window uint8
	remote net.Addr
	nc     net.Conn   // where frames are written
	nbc    *nbio.Conn // the same, when the event loop serves it
	tls    *ltls.Conn // nc, when it is TLS on nbc (ServeTLS)
	sockID uint64     // nbc's socket (its inode), to shut it down safely
	fd     int        // nbc's descriptor

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
	abort     bool // closed without a close frame: the flusher releases
	fallback  *time.Timer
	closeErr  error // what OnClose will say, when not the peer's close
	reported  bool  // OnClose was called
	// handed counts the bytes given to nbio, written those it wrote to
	// the socket; the difference waits in nbio's buffer because the
	// socket's is full: the peer does not read fast enough.
	handed, written atomic.Int64
	// lastPong is when the last pong frame was read, as nanoseconds
	// since pongEpoch plus one; zero when none was.
	lastPong atomic.Int64
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

// backlog is the number of bytes nbio holds for a socket that cannot take
// them yet.
func (c *Conn) backlog() int64 { return c.handed.Load() - c.written.Load() }

// Backlogged reports whether bytes wait for the peer to read: what is
// written now would not reach the socket at once. Volatile packets are
// dropped then, as Node drops them while its transport is not writable.
func (c *Conn) Backlogged() bool { return c.nbc != nil && c.backlog() > 0 }

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
// nbio for a socket whose buffer is full); OnClose is given it too.
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
		// ack, a CONNECT answer): nbio
		// writes without blocking, so the frames leave from here, with
		// no hand-off to a flusher.
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
				c.release()
			}
			return
		}
		c.wmu.Unlock()
		if c.nbc != nil && c.tls == nil {
			c.handed.Add(int64(len(*pb))) // under TLS, countedConn counts
		}
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

// write writes b to the socket; on the event loop's, with the Server
// told, since a write that fails closes the descriptor off the poller.
func (c *Conn) write(b []byte) error {
	if c.nbc == nil {
		_, err := c.nc.Write(b)
		return err
	}
	c.srv.beginWrite(c.fd)
	var err error
	if c.tls != nil {
		_, err = c.tls.Write(b)
	} else {
		_, err = c.nbc.Write(b)
	}
	c.srv.endWrite(c.fd, err != nil)
	return err
}

// releaseFallback is how long the event loop has to close a connection
// siogo shut down before siogo closes it itself.
const releaseFallback = 10 * time.Second

// release ends the connection once its last bytes are written. A
// connection on the event loop is only shut down (the peer gets its FIN
// after what was written): the loop then sees the hang-up and closes the
// descriptor on its own goroutine. Were it closed here, off the loop, its
// number could be reused at once by the next upgrade's dup while the loop
// still holds an event epoll_wait returned for the old socket; nbio would
// apply that event to the new connection, found under the same number,
// and close it (docs/reliability.md, "A descriptor reused while nbio
// still held its events"). A timer closes it for real should the loop
// never report it.
func (c *Conn) release() {
	if c.nbc == nil {
		_ = c.nc.Close()
		return
	}
	if !shutdown(c.nbc, c.sockID) {
		// Closed by the poller already (a no-op then), or no inode known.
		c.srv.closeOffPoller(c.nbc)
		return
	}
	t := time.AfterFunc(releaseFallback, func() { c.srv.closeOffPoller(c.nbc) })
	c.wmu.Lock()
	if c.reported {
		t.Stop()
	} else {
		c.fallback = t
	}
	c.wmu.Unlock()
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
