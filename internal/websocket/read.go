package websocket

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/siogo/siogo/internal/netpoll"
)

// The frame reader: RFC 6455's rules, with the status codes Node's ws
// closes with. It keeps a message of no bytes (an empty text message, a
// zero-length Socket.IO attachment) and refuses unmasked client frames.

const (
	opContinuation = 0x0
	opPing         = 0x9
	opPong         = 0xa

	closeNormal        = 1000
	closeNoStatus      = 1005
	closeProtocolError = 1002
	closeInvalidData   = 1007
	closeTooLarge      = 1009
	closeInternalError = 1011
)

// readError is a violation that closes the connection with code.
type readError struct {
	code int
	err  error
}

func protocolError(format string, args ...any) *readError {
	return &readError{closeProtocolError, fmt.Errorf("%w: "+format, append([]any{ErrProtocol}, args...)...)}
}

// reader is a connection's frame reader state. It is used by one
// goroutine at a time, under Conn.rmu.
type reader struct {
	// rest holds the start of a frame not yet complete; nil when none, so
	// that an idle connection holds no buffer.
	rest []byte
	// The message being assembled from fragments (msg last, the small
	// fields first, so that the struct is no larger than before).
	msgOp      byte
	msgDeflate bool
	done       bool // a close was read or a violation found: read no more
	// text is the UTF-8 check of a text message not deflated (utf8.go);
	// checked is how much of the payload of the frame rest starts with
	// it has checked while that frame was not complete yet.
	text    utf8State
	checked int
	msg     []byte
}

// onData takes bytes read from the connection (by its loop, or its
// reading goroutine). A panic in the reader closes this connection only.
func (c *Conn) onData(data []byte) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	defer c.recoverRead()
	c.readLocked(data)
}

// recoverRead closes the connection with 1011 after a panic in its
// reader, which reads nothing more. c.rmu is held.
func (c *Conn) recoverRead() {
	v := recover()
	if v == nil {
		return
	}
	c.r = reader{done: true}
	c.srv.panicked("read", v, c)
	c.fail(&readError{closeInternalError, fmt.Errorf("%w: %v", ErrPanic, v)})
}

// readLoop reads a connection no event loop serves (a crypto/tls one of
// net/http's own TLS).
func (c *Conn) readLoop(head []byte) {
	defer c.srv.rwg.Done()
	c.onData(head)
	buf := make([]byte, 4096)
	for {
		n, err := c.nc.Read(buf)
		if n > 0 {
			c.onData(buf[:n])
		}
		if err != nil {
			c.srv.mu.Lock()
			delete(c.srv.readers, c)
			c.srv.mu.Unlock()
			c.exec(func() { c.onClosed(err) })
			return
		}
	}
}

// faultHook, set by tests only, runs at the start of each read: a fault
// injected into the frame reader.
var faultHook func(data []byte)

// readLocked parses what data completes, keeping the rest for later.
func (c *Conn) readLocked(data []byte) {
	if faultHook != nil {
		faultHook(data)
	}
	r := &c.r
	if r.done || len(data) == 0 {
		return
	}
	own := false
	if len(r.rest) > 0 {
		r.rest = append(r.rest, data...)
		data, own = r.rest, true
	}
	for len(data) > 0 && !r.done {
		n, rerr := c.nextFrame(data)
		if rerr != nil {
			r.done = true
			c.fail(rerr)
			break
		}
		if n == 0 {
			break
		}
		data = data[n:]
	}
	switch {
	case r.done || len(data) == 0:
		r.rest = nil
	case own:
		n := copy(r.rest, data)
		r.rest = r.rest[:n]
	default:
		r.rest = append([]byte(nil), data...)
	}
}

// nextFrame handles the frame at the start of b and returns its length, or
// 0 when b does not hold all of it yet.
func (c *Conn) nextFrame(b []byte) (int, *readError) {
	r := &c.r
	if len(b) < 2 {
		return 0, nil
	}
	fin, rsv1, op := b[0]&finBit != 0, b[0]&rsv1Bit != 0, b[0]&0x0f
	if b[0]&0x30 != 0 {
		return 0, protocolError("RSV2 and RSV3 must be clear")
	}
	if b[1]&0x80 == 0 {
		return 0, protocolError("MASK must be set")
	}
	n, hl := uint64(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return 0, nil
		}
		n, hl = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return 0, nil
		}
		n, hl = binary.BigEndian.Uint64(b[2:]), 10
	}
	max := uint64(c.maxMessage())
	switch op {
	case opClose, opPing, opPong:
		switch {
		case !fin:
			return 0, protocolError("FIN must be set on control frames")
		case rsv1:
			return 0, protocolError("RSV1 must be clear on control frames")
		case n > 125:
			return 0, protocolError("control frame of %d bytes", n)
		}
	case opContinuation:
		if r.msgOp == 0 {
			return 0, protocolError("continuation with no message")
		}
		if rsv1 {
			return 0, protocolError("RSV1 set on a continuation")
		}
	case opText, opBinary:
		if r.msgOp != 0 {
			return 0, protocolError("new message inside a fragmented one")
		}
		if rsv1 && !c.compress {
			return 0, protocolError("RSV1 set without permessage-deflate")
		}
	default:
		return 0, protocolError("invalid opcode %d", op)
	}
	// Compared so that no sum can wrap: n may be as large as 2^64-1, which
	// gets 1009 as any length past the bound (Node's ws: past 2^53-1).
	if op < opClose && (n > max || uint64(len(r.msg)) > max-n) {
		return 0, &readError{closeTooLarge, ErrMessageTooLarge}
	}
	total := uint64(hl) + 4 + n
	// Text not deflated is checked as it comes (fail-fast on UTF-8).
	text := op == opText && !rsv1 || op == opContinuation && r.msgOp == opText && !r.msgDeflate
	if uint64(len(b)) < total {
		if text && len(b) > hl+4 {
			return 0, c.checkPartial(b[hl:hl+4], b[hl+4:])
		}
		return 0, nil
	}
	payload := b[hl+4 : total]
	unmask(payload, b[hl:hl+4])
	if text {
		done := r.checked
		r.checked = 0
		if !r.text.check(payload[done:]) || fin && !r.text.complete() {
			return 0, errInvalidUTF8()
		}
	}
	switch op {
	case opClose:
		return int(total), c.onCloseFrame(payload)
	case opPing:
		_ = c.writeControl(opPong, payload)
		return int(total), nil
	case opPong:
		c.lastPong.Store(int64(time.Since(pongEpoch)) + 1)
		return int(total), nil
	}
	if op != opContinuation {
		r.msgOp, r.msgDeflate = op, rsv1
	}
	if !fin {
		r.msg = append(r.msg, payload...)
		return int(total), nil
	}
	msg := payload
	if r.msg != nil {
		msg = append(r.msg, payload...)
	}
	mop, deflated := r.msgOp, r.msgDeflate
	r.msgOp, r.msgDeflate, r.msg = 0, false, nil
	return int(total), c.deliver(mop, deflated, msg)
}

func errInvalidUTF8() *readError {
	return &readError{closeInvalidData, fmt.Errorf("%w: invalid UTF-8 in a text message", ErrProtocol)}
}

// checkPartial checks the UTF-8 of the part of a text frame's payload
// that arrived since the last check, the frame not complete yet: the
// bytes stay masked where they are (the whole frame is unmasked once
// complete), each piece unmasked into a small buffer.
func (c *Conn) checkPartial(key, payload []byte) *readError {
	r := &c.r
	var buf [256]byte
	for off := r.checked; off < len(payload); {
		n := copy(buf[:], payload[off:])
		for i := range n {
			buf[i] ^= key[(off+i)&3]
		}
		if !r.text.check(buf[:n]) {
			return errInvalidUTF8()
		}
		off += n
	}
	r.checked = len(payload)
	return nil
}

// unmask XORs b with the 4-byte key, eight bytes at a time.
func unmask(b, key []byte) {
	k4 := binary.LittleEndian.Uint32(key)
	k8 := uint64(k4)<<32 | uint64(k4)
	i := 0
	for ; i+8 <= len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k8)
	}
	for ; i < len(b); i++ {
		b[i] ^= key[i&3]
	}
}

var inflaterPool sync.Pool

// The tail a sender removed from each deflated message (RFC 7692 7.2.2),
// then an empty final block so that the inflater ends.
const deflateTail = "\x00\x00\xff\xff\x01\x00\x00\xff\xff"

// inflate decompresses a message, to max bytes at most.
func inflate(dst, msg []byte, max int) ([]byte, *readError) {
	src := io.MultiReader(bytes.NewReader(msg), strings.NewReader(deflateTail))
	fr, _ := inflaterPool.Get().(io.ReadCloser)
	if fr == nil {
		fr = flate.NewReader(src)
	} else {
		_ = fr.(flate.Resetter).Reset(src, nil)
	}
	defer inflaterPool.Put(fr)
	buf := bytes.NewBuffer(dst)
	n, err := buf.ReadFrom(io.LimitReader(fr, int64(max)+1))
	if err != nil {
		return nil, &readError{closeInvalidData, fmt.Errorf("%w: bad deflate data: %v", ErrProtocol, err)}
	}
	if n > int64(max) {
		return nil, &readError{closeTooLarge, ErrMessageTooLarge}
	}
	return buf.Bytes(), nil
}

var msgPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// deliver hands a complete message to the handler, in order with the
// connection's other events. msg is only valid during this call: it is
// copied (or inflated) into a buffer the handler's call owns.
func (c *Conn) deliver(op byte, deflated bool, msg []byte) *readError {
	pb := msgPool.Get().(*[]byte)
	out := (*pb)[:0]
	if deflated {
		var rerr *readError
		if out, rerr = inflate(out, msg, c.maxMessage()); rerr != nil {
			msgPool.Put(pb)
			return rerr
		}
	} else {
		out = append(out, msg...)
	}
	if op == opText && deflated && !utf8.Valid(out) {
		msgPool.Put(pb)
		return errInvalidUTF8()
	}
	binary := op == opBinary
	// Under SetReadLimit, the messages waiting for the handler count.
	var held int64
	if l := c.readLimit.Load(); l > 0 {
		held = int64(len(out))
		if c.waiting.Add(held) > l {
			c.waiting.Add(-held)
			msgPool.Put(pb)
			return &readError{closeTooLarge, ErrMessageTooLarge}
		}
	}
	c.exec(func() {
		if held > 0 {
			c.waiting.Add(-held)
		}
		c.handler.OnMessage(c, binary, out)
		if cap(out) <= 64<<10 {
			*pb = out[:0]
			msgPool.Put(pb)
		}
	})
	return nil
}

// validCloseCode reports whether a peer may send code (RFC 6455 7.4).
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1014:
		return code != 1004 && code != closeNoStatus && code != 1006
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// onCloseFrame answers the peer's close as Node's ws does: with its code
// and reason, or an empty close when it gave none; then the connection
// closes.
func (c *Conn) onCloseFrame(p []byte) *readError {
	switch {
	case len(p) == 1:
		return protocolError("close frame of one byte")
	case len(p) >= 2:
		if code := int(binary.BigEndian.Uint16(p)); !validCloseCode(code) {
			return protocolError("invalid close code %d", code)
		}
		if !utf8.Valid(p[2:]) {
			return &readError{closeInvalidData, fmt.Errorf("%w: invalid UTF-8 in a close reason", ErrProtocol)}
		}
	}
	c.r.done = true
	c.setCloseErr(ErrClosed)
	reply := append([]byte(nil), p...)
	c.exec(func() { c.closeWith(reply) })
	return nil
}

// fail closes the connection for a violation by the peer. The close frame
// waits, as the reply to a close does, for the messages read before to be
// handled: their answers (an echo) go out first, as a server that reads
// and answers in one loop would send them.
func (c *Conn) fail(e *readError) {
	c.setCloseErr(e.err)
	c.exec(func() { c.closeWith([]byte{byte(e.code >> 8), byte(e.code)}) })
}

func (c *Conn) setCloseErr(err error) {
	c.wmu.Lock()
	if c.closeErr == nil {
		c.closeErr = err
	}
	c.wmu.Unlock()
}

// onClosed is told that the connection closed (in order after the
// connection's messages); it tells the handler, once.
func (c *Conn) onClosed(err error) {
	c.wmu.Lock()
	if c.reported {
		c.wmu.Unlock()
		return
	}
	c.reported = true
	c.closed = true
	var pe *netpoll.PanicError
	switch {
	case c.closeErr != nil:
		err = c.closeErr
	case errors.Is(err, netpoll.ErrSlowPeer):
		err = ErrSlowPeer // the loop's own bound on what waits for the socket
	case errors.As(err, &pe):
		err = fmt.Errorf("%w: %v", ErrPanic, pe.Value)
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed),
		errors.Is(err, netpoll.ErrLoopClosed), errors.Is(err, netpoll.ErrCloseTimeout):
		// The peer went away without a close frame, or siogo closed:
		// Node's ws calls that a close too, not an error.
		err = ErrClosed
	}
	c.wmu.Unlock()
	c.handler.OnClose(c, err)
}
