package wsconform

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // RFC 6455 names SHA-1
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// The fuzzing client: it writes whatever frames a case asks for, reads
// what the server sends as a strict RFC 6455 client would, and keeps the
// facts Autobahn judges a case by (who closed first, whether the closing
// handshake was clean, the server's close code, what was received).

const (
	opCont   = 0x0
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xa
)

type connState int

const (
	stateOpen connState = iota
	stateClosing
	stateClosed
)

// maxFrame bounds a frame the harness accepts from the server, so that a
// broken length cannot make it allocate without end.
const maxFrame = 64 << 20

// conn is one case's connection.
type conn struct {
	cfg *Config
	nc  net.Conn
	br  *bufio.Reader
	ad  adapter

	wmu sync.Mutex
	bw  *bufio.Writer

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at every change
	state   connState
	// received is what the case is judged by; queue what a script that
	// reads events itself has not read yet. keep is false for the cases
	// that read every event themselves (9.x, 12.x, 13.x), whose messages
	// would otherwise all stay in memory.
	received []Event
	queue    []Event
	keep     bool

	closedByMe, droppedByMe, wasClean bool
	sentClose, gotClose               bool
	remoteCode                        int // 0: none
	remoteReason                      string
	violation                         string // the server broke RFC 6455 or 7692
	dropTimer                         *time.Timer

	// The message being read.
	msgOp   byte
	msgRSV1 bool
	msgBuf  []byte
	pmd     *pmd // permessage-deflate, when negotiated

	out outState // the adapter's view of the frames sent
}

// dial opens the connection and runs the opening handshake with the
// given permessage-deflate offers (none: no extension offered).
func dial(cfg *Config, ad adapter, offers []Offer) (*conn, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("wsconform: only ws:// URLs, not %q", u.Scheme)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	nc, err := net.DialTimeout("tcp", host, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	var key [16]byte
	_, _ = rand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	var req bytes.Buffer
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", u.RequestURI(), u.Host, k)
	if len(offers) > 0 {
		parts := make([]string, len(offers))
		for i, o := range offers {
			parts[i] = o.String()
		}
		fmt.Fprintf(&req, "Sec-WebSocket-Extensions: %s\r\n", strings.Join(parts, ", "))
	}
	for name, vs := range cfg.Header {
		for _, v := range vs {
			fmt.Fprintf(&req, "%s: %s\r\n", name, v)
		}
	}
	req.WriteString("\r\n")
	_ = nc.SetDeadline(time.Now().Add(cfg.Timeout))
	if _, err := nc.Write(req.Bytes()); err != nil {
		_ = nc.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("reading the handshake response: %w", err)
	}
	_ = res.Body.Close()
	_ = nc.SetDeadline(time.Time{})
	switch {
	case res.StatusCode != http.StatusSwitchingProtocols:
		err = fmt.Errorf("handshake answered %s", res.Status)
	case !strings.EqualFold(res.Header.Get("Upgrade"), "websocket"):
		err = fmt.Errorf("handshake: Upgrade %q", res.Header.Get("Upgrade"))
	case res.Header.Get("Sec-Websocket-Accept") != acceptKey(k):
		err = fmt.Errorf("handshake: wrong Sec-WebSocket-Accept %q", res.Header.Get("Sec-Websocket-Accept"))
	}
	if err != nil {
		_ = nc.Close()
		return nil, err
	}
	c := &conn{cfg: cfg, nc: nc, br: br, ad: ad, bw: bufio.NewWriterSize(nc, 64<<10), changed: make(chan struct{}), keep: true}
	exts := res.Header.Values("Sec-Websocket-Extensions")
	p, err := acceptResponse(offers, exts)
	if err != nil {
		// RFC 7692 section 5: the client fails the connection. The
		// handshake completed, so the case goes on, judged failed.
		c.violation = err.Error()
	}
	c.pmd = p
	return c, nil
}

func acceptKey(key string) string {
	h := sha1.New() //nolint:gosec // RFC 6455 names SHA-1
	h.Write([]byte(key))
	h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// signal wakes whoever waits for a change; c.mu is held.
func (c *conn) signal() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// wait blocks until the next change or the deadline; it reports false
// at the deadline.
func (c *conn) wait(ch chan struct{}, deadline time.Time) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

// waitFor blocks until cond (called with c.mu held) holds or the deadline
// passes, and reports whether it holds.
func (c *conn) waitFor(deadline time.Time, cond func() bool) bool {
	c.flush()
	for {
		c.mu.Lock()
		ok, ch := cond(), c.changed
		c.mu.Unlock()
		if ok {
			return true
		}
		if !time.Now().Before(deadline) || !c.wait(ch, deadline) {
			c.mu.Lock()
			ok = cond()
			c.mu.Unlock()
			return ok
		}
	}
}

// push records an event.
func (c *conn) push(ev Event) {
	c.mu.Lock()
	if c.keep {
		c.received = append(c.received, ev)
	}
	c.queue = append(c.queue, ev)
	c.signal()
	c.mu.Unlock()
}

// fail notes a violation by the server and fails the connection as a
// client does: a close frame with 1002, unless one was sent already.
func (c *conn) fail(why string) {
	c.mu.Lock()
	if c.violation == "" {
		c.violation = why
	}
	c.signal()
	c.mu.Unlock()
	c.sendCloseFrame(closePayload(1002, nil))
}

// writeFrame frames and masks payload and queues it; sync or chop > 0
// write it at once, alone (chop bytes per write call).
func (c *conn) writeFrame(b0 byte, payload []byte, chop int, sync bool) error {
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	frame := appendHeader(make([]byte, 0, 14+len(payload)), b0, len(payload), mask)
	off := len(frame)
	frame = append(frame, payload...)
	maskBytes(frame[off:], mask, 0)
	return c.write(frame, chop, sync)
}

// write queues b, or writes it at once, in chops, when asked.
func (c *conn) write(b []byte, chop int, sync bool) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if chop <= 0 && !sync {
		_, err := c.bw.Write(b)
		return err
	}
	if err := c.bw.Flush(); err != nil {
		return err
	}
	if chop <= 0 {
		chop = len(b)
	}
	for len(b) > 0 {
		n := min(chop, len(b))
		if _, err := c.nc.Write(b[:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// flush writes what is queued.
func (c *conn) flush() {
	c.wmu.Lock()
	_ = c.bw.Flush()
	c.wmu.Unlock()
}

func appendHeader(dst []byte, b0 byte, n int, mask [4]byte) []byte {
	switch {
	case n < 126:
		dst = append(dst, b0, 0x80|byte(n))
	case n <= 0xffff:
		dst = binary.BigEndian.AppendUint16(append(dst, b0, 0x80|126), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint64(append(dst, b0, 0x80|127), uint64(n))
	}
	return append(dst, mask[:]...)
}

// maskBytes XORs b with mask, b starting at offset off of the payload.
func maskBytes(b []byte, mask [4]byte, off int) {
	for i := range b {
		b[i] ^= mask[(off+i)&3]
	}
}

func closePayload(code int, reason []byte) []byte {
	if code < 0 {
		return reason
	}
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// sendCloseFrame starts the closing handshake (as Autobahn's
// sendCloseFrame: no check of what payload holds), when the connection
// is open; the server then has Config.Timeout to answer with its own
// close, and as long again to drop the TCP connection.
func (c *conn) sendCloseFrame(payload []byte) {
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return
	}
	c.state = stateClosing
	c.closedByMe, c.sentClose = true, true
	c.signal()
	c.mu.Unlock()
	if c.writeFrame(0x80|opClose, payload, 0, false) == nil {
		c.flush()
	}
	time.AfterFunc(c.cfg.Timeout, func() {
		c.mu.Lock()
		drop := !c.gotClose && c.state != stateClosed
		if drop {
			c.droppedByMe = true
		}
		c.mu.Unlock()
		if drop {
			_ = c.nc.Close()
		}
	})
}

// kill fails the connection on a timeout as Autobahn's killAfter does: a
// close frame with 1001.
func (c *conn) kill() { c.sendCloseFrame(closePayload(1001, []byte("going away"))) }

// closed reports whether the TCP connection is gone; c.mu is held.
func (c *conn) closedLocked() bool { return c.state == stateClosed }

// readLoop reads the server's frames until the connection ends.
func (c *conn) readLoop() {
	for {
		b0, payload, err := c.readFrame()
		if errors.Is(err, errMasked) || errors.Is(err, errFrameTooLarge) {
			c.fail(err.Error())
		}
		if err != nil || !c.onFrame(b0, payload) {
			// The server broke the protocol: what it sends next is not
			// read, the connection waits for its close or the timeout.
			_, _ = io.Copy(io.Discard, c.br)
			c.onEnd()
			return
		}
	}
}

// readFrame reads one frame.
func (c *conn) readFrame() (byte, []byte, error) {
	var h [14]byte
	if _, err := io.ReadFull(c.br, h[:2]); err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 != 0 {
		return h[0], nil, errMasked
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		if _, err := io.ReadFull(c.br, h[2:4]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		if _, err := io.ReadFull(c.br, h[2:10]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(h[2:10])
	}
	if n > maxFrame {
		return h[0], nil, errFrameTooLarge
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return 0, nil, err
	}
	return h[0], p, nil
}

var (
	errMasked        = errors.New("a server frame was masked")
	errFrameTooLarge = errors.New("a server frame is larger than the harness reads")
)

// onFrame handles one frame of the server; it reports false when the
// server broke RFC 6455.
func (c *conn) onFrame(b0 byte, p []byte) bool {
	fin, rsv, op := b0&0x80 != 0, (b0>>4)&7, b0&0x0f
	c.mu.Lock()
	after := c.gotClose
	c.mu.Unlock()
	if after {
		c.fail(fmt.Sprintf("the server sent a frame (opcode %d) after its close frame", op))
		return false
	}
	switch op {
	case opClose, opPing, opPong:
		switch {
		case !fin:
			c.fail(fmt.Sprintf("fragmented control frame (opcode %d)", op))
			return false
		case rsv != 0:
			c.fail(fmt.Sprintf("RSV %d on a control frame", rsv))
			return false
		case len(p) > 125:
			c.fail(fmt.Sprintf("control frame of %d bytes", len(p)))
			return false
		}
	case opCont:
		if c.msgOp == 0 {
			c.fail("continuation frame with no message")
			return false
		}
		if rsv != 0 {
			c.fail(fmt.Sprintf("RSV %d on a continuation frame", rsv))
			return false
		}
	case opText, opBinary:
		if c.msgOp != 0 {
			c.fail("a new message inside a fragmented one")
			return false
		}
		if rsv&^4 != 0 || (rsv&4 != 0 && c.pmd == nil) {
			c.fail(fmt.Sprintf("RSV %d on a data frame", rsv))
			return false
		}
	default:
		c.fail(fmt.Sprintf("reserved opcode %d", op))
		return false
	}
	switch op {
	case opPing:
		// Answered at once and left out of the judgement: a server may
		// ping to keep its connections alive.
		_ = c.writeFrame(0x80|opPong, p, 0, false)
		c.flush()
		return true
	case opPong:
		c.push(Event{Kind: "pong", Data: p})
		return true
	case opClose:
		return c.onClose(p)
	}
	if op != opCont {
		c.msgOp, c.msgRSV1 = op, rsv&4 != 0
	}
	if len(c.msgBuf)+len(p) > maxFrame {
		c.fail("a server message is larger than the harness reads")
		return false
	}
	c.msgBuf = append(c.msgBuf, p...)
	if !fin {
		return true
	}
	msg, mop, deflated := c.msgBuf, c.msgOp, c.msgRSV1
	c.msgBuf, c.msgOp, c.msgRSV1 = nil, 0, false
	if deflated {
		var err error
		if msg, err = c.pmd.inflate(msg); err != nil {
			c.fail("the server's compressed message: " + err.Error())
			return false
		}
	}
	if mop == opText && !utf8.Valid(msg) {
		c.fail("invalid UTF-8 in a text message of the server")
		return false
	}
	if ev, ok := c.ad.incoming(c, mop == opBinary, msg); ok {
		c.push(ev)
	}
	return true
}

// onClose handles the server's close frame: the reply echoes its code, and
// the server then has Config.Timeout to drop the TCP connection.
func (c *conn) onClose(p []byte) bool {
	code, reason := 0, ""
	switch {
	case len(p) == 1:
		c.fail("close frame of one byte")
		return false
	case len(p) >= 2:
		code, reason = int(binary.BigEndian.Uint16(p)), string(p[2:])
		if !validCloseCode(code) {
			c.fail(fmt.Sprintf("the server sent close code %d", code))
			return false
		}
		if !utf8.ValidString(reason) {
			c.fail("invalid UTF-8 in the server's close reason")
			return false
		}
	}
	c.mu.Lock()
	c.gotClose, c.remoteCode, c.remoteReason = true, code, reason
	reply := c.state == stateOpen
	if reply {
		c.state = stateClosing
		c.sentClose = true
	}
	c.wasClean = true
	c.dropTimer = time.AfterFunc(c.cfg.Timeout, func() {
		c.mu.Lock()
		drop := c.state != stateClosed
		if drop {
			c.wasClean, c.droppedByMe = false, true
		}
		c.mu.Unlock()
		if drop {
			_ = c.nc.Close()
		}
	})
	c.signal()
	c.mu.Unlock()
	if reply {
		var echo []byte
		if code != 0 {
			echo = closePayload(code, nil)
		}
		if c.writeFrame(0x80|opClose, echo, 0, false) == nil {
			c.flush()
		}
	}
	return true
}

// onEnd is told the TCP connection ended.
func (c *conn) onEnd() {
	c.mu.Lock()
	if c.state != stateClosed {
		if !c.gotClose || !c.sentClose {
			c.wasClean = false
		}
		c.state = stateClosed
		if c.dropTimer != nil {
			c.dropTimer.Stop()
		}
	}
	c.signal()
	c.mu.Unlock()
	_ = c.nc.Close()
}

// validCloseCode reports whether a close frame may carry code (RFC 6455
// section 7.4).
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1014:
		return code != 1004 && code != 1005 && code != 1006
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}
