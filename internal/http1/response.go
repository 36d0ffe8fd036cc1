package http1

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is the server's side of a Response: the connection it answers on.
// The event loop implements it; a Response calls it from the goroutine
// that writes the response (a handler's, or whoever finishes a detached
// response).
type Conn interface {
	// Write sends b after everything sent before. It must not keep b once
	// it returns: the Response reuses it.
	Write(b []byte) (int, error)
	// ResponseDone is called once, when the last byte of the response has
	// gone to Write: the server then closes the connection (closeAfter)
	// or calls Parser.Done and goes on with the next request.
	ResponseDone(closeAfter bool)
}

// Upgrader is the escape hatch of a handler that switches protocols (a
// WebSocket handshake): Upgrade ends HTTP on the connection and returns it
// with the bytes the client sent after the request (Parser.Rest). The
// caller writes the 101 itself. A Response implements it when its Conn
// does; the Conn's Upgrade is the server's to write.
type Upgrader interface {
	Upgrade() (net.Conn, []byte, error)
}

// Detacher is the escape hatch of a handler that answers after it returns
// (a long-poll parked until a packet comes): Detach keeps the response
// open, the handler returns, and whoever holds the Detacher later writes
// the answer and calls Finish. Until then the server reads no further
// request on the connection. onClose runs (once, on the server's
// goroutine) if the connection closes before Finish.
//
//	if d, ok := w.(http1.Detacher); ok && d.Detach(func() { lost() }) == nil {
//		park(d) // later: d.Header().Set(...); d.Write(answer); d.Finish()
//		return
//	}
type Detacher interface {
	http.ResponseWriter
	Detach(onClose func()) error
	Finish() error
}

// Response is the http.ResponseWriter a server passes to a handler. It
// buffers the status, header and body and sends them in one Write with a
// computed Content-Length; past Config.StreamThreshold, or on Flush, it
// streams instead (chunked unless the handler set Content-Length). It
// implements http.Flusher, io.ReaderFrom, Detacher and Upgrader.
//
// A Response keeps nothing of its request but four flags, so a detached
// one does not hold the request's URL and headers.
type Response struct {
	conn   Conn
	cfg    *Config
	header http.Header
	out    *[]byte // pooled: outReserve bytes for the head, then body bytes not yet sent

	status   int
	written  int64 // body bytes the handler wrote
	declared int64 // the handler's Content-Length, or -1

	isHead, http10        bool
	reqClose              atomic.Bool // the client asked to close, or the server did (SetCloseAfter)
	wroteHeader, headSent bool
	chunked, closeAfter   bool

	mu                                     sync.Mutex // the state Detach, Finish and ConnClosed share
	finished, detached, upgraded, connGone bool
	onClose                                func()
}

// ErrFinished is returned when a Response is written after Finish.
var ErrFinished = errors.New("http1: response already finished")

// outReserve is room kept before the body for the head (or a chunk's
// size line), so that head and body leave in one Write without a copy of
// the body. A larger head is copied with the body.
const outReserve = 1024

var outPool = sync.Pool{New: func() any {
	b := make([]byte, outReserve, outReserve+4096)
	return &b
}}

// NewResponse returns the ResponseWriter of r, answering on c and shaped
// by cfg (nil: Node's defaults). The server calls End once the handler
// has returned.
func NewResponse(c Conn, r *http.Request, cfg *Config) *Response {
	if cfg == nil {
		cfg = &zeroConfig
	}
	w := &Response{
		conn:     c,
		cfg:      cfg,
		declared: -1,
		isHead:   r.Method == http.MethodHead,
		http10:   !r.ProtoAtLeast(1, 1),
	}
	w.reqClose.Store(r.Close)
	return w
}

// Header returns the header map the handler fills; changes after the
// head was sent have no effect.
func (w *Response) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header)
	}
	return w.header
}

// WriteHeader sets the status; 1xx codes other than 101 are sent at once
// as interim responses, as net/http sends them. Later calls are ignored.
func (w *Response) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code)) // as net/http
	}
	if w.wroteHeader || w.finished || w.upgraded {
		return
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.sendInterim(code)
		return
	}
	w.wroteHeader = true
	w.status = code
	if cl := w.header.Get("Content-Length"); cl != "" {
		if n, ok := parseContentLength(trimOWS(cl)); ok {
			w.declared = n
		} else {
			w.header.Del("Content-Length") // net/http logs and drops it
		}
	}
}

// Write adds b to the body; for a HEAD request it is counted, not sent.
func (w *Response) Write(b []byte) (int, error) {
	if err := w.accept(len(b)); err != nil {
		return 0, err
	}
	if w.isHead {
		return len(b), nil
	}
	return len(b), w.buffer(b)
}

// WriteString is Write for a string, without a conversion.
func (w *Response) WriteString(s string) (int, error) {
	if err := w.accept(len(s)); err != nil {
		return 0, err
	}
	n := len(s)
	if w.isHead {
		return n, nil
	}
	for len(s) > 0 {
		out, room, err := w.room()
		if err != nil {
			return n - len(s), err
		}
		k := min(room, len(s))
		*out = append(*out, s[:k]...)
		s = s[k:]
	}
	return n, nil
}

// accept checks that n more body bytes may be written, and counts them.
func (w *Response) accept(n int) error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	switch {
	case w.upgraded:
		return http.ErrHijacked
	case w.finished:
		return ErrFinished
	case !bodyAllowed(w.status):
		return http.ErrBodyNotAllowed
	case w.declared >= 0 && w.written+int64(n) > w.declared:
		return http.ErrContentLength
	}
	w.written += int64(n)
	return nil
}

func (w *Response) buffer(b []byte) error {
	for len(b) > 0 {
		out, room, err := w.room()
		if err != nil {
			return err
		}
		k := min(room, len(b))
		*out = append(*out, b[:k]...)
		b = b[k:]
	}
	return nil
}

// room returns the buffer with free room for more body, sending what it
// holds first when it is at the threshold.
func (w *Response) room() (*[]byte, int, error) {
	if w.out == nil {
		w.out = outPool.Get().(*[]byte)
	}
	room := w.cfg.streamThreshold() - (len(*w.out) - outReserve)
	if room <= 0 {
		if err := w.send(false); err != nil {
			return nil, 0, err
		}
		room = w.cfg.streamThreshold()
	}
	return w.out, room, nil
}

// ReadFrom copies src into the body through the Response's own buffer, so
// io.Copy (http.ServeContent) needs no buffer of its own.
func (w *Response) ReadFrom(src io.Reader) (int64, error) {
	var total int64
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	for {
		switch {
		case w.upgraded:
			return total, http.ErrHijacked
		case w.finished:
			return total, ErrFinished
		}
		out, room, err := w.room()
		if err != nil {
			return total, err
		}
		if w.declared >= 0 {
			room = int(min(int64(room), w.declared-w.written+1)) // one over, to see a handler that overruns
		}
		b := *out
		if cap(b)-len(b) < room {
			b = slices.Grow(b, room)
		}
		n, rerr := src.Read(b[len(b) : len(b)+room])
		if n > 0 {
			if err := w.accept(n); err != nil {
				*out = b
				return total, err
			}
			total += int64(n)
			if !w.isHead {
				b = b[:len(b)+n]
			}
		}
		*out = b
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// Flush sends what is buffered now: the head, and the body so far
// (chunked from then on unless the handler set Content-Length).
func (w *Response) Flush() { _ = w.FlushError() }

// FlushError is Flush that reports a failed write (http.ResponseController).
func (w *Response) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.finished || w.upgraded {
		return ErrFinished
	}
	if w.out == nil {
		w.out = outPool.Get().(*[]byte)
	}
	return w.send(false)
}

// End is the server's call once the handler has returned: it finishes
// the response unless the handler detached or upgraded it.
func (w *Response) End() error {
	w.mu.Lock()
	skip := w.detached || w.upgraded || w.finished
	w.mu.Unlock()
	if skip {
		return nil
	}
	return w.Finish()
}

// Finish sends what remains of the response (the whole of it, in one
// Write, when nothing was streamed) and tells the Conn it is done. For a
// detached response it is the holder's call; otherwise End makes it.
func (w *Response) Finish() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	w.mu.Lock()
	if w.finished || w.upgraded {
		w.mu.Unlock()
		return ErrFinished
	}
	w.finished = true
	w.onClose = nil
	w.mu.Unlock()
	if w.out == nil {
		w.out = outPool.Get().(*[]byte)
	}
	err := w.send(true)
	if w.declared >= 0 && w.written < w.declared && !w.isHead && bodyAllowed(w.status) {
		w.closeAfter = true // the client waits for bytes that will not come
	}
	w.release()
	w.conn.ResponseDone(w.closeAfter || err != nil)
	return err
}

// Detach keeps the response open after the handler returns (Detacher).
func (w *Response) Detach(onClose func()) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.finished || w.upgraded:
		return ErrFinished
	case w.connGone:
		return net.ErrClosed
	}
	w.detached = true
	w.onClose = onClose
	return nil
}

// ConnClosed is the server's call when the connection closes: a detached
// response not finished yet runs its onClose.
func (w *Response) ConnClosed() {
	w.mu.Lock()
	w.connGone = true
	f := w.onClose
	w.onClose = nil
	w.mu.Unlock()
	if f != nil {
		f()
	}
}

// Upgrade hands the connection over (Upgrader), when the server's Conn
// allows it and nothing of the response was sent.
func (w *Response) Upgrade() (net.Conn, []byte, error) {
	u, ok := w.conn.(Upgrader)
	if !ok {
		return nil, nil, http.ErrNotSupported
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished || w.upgraded || w.headSent {
		return nil, nil, ErrFinished
	}
	c, rest, err := u.Upgrade()
	if err != nil {
		return nil, nil, err
	}
	w.upgraded = true
	w.release()
	return c, rest, nil
}

// SetCloseAfter makes the response say "Connection: close", and the
// connection close after it: the server's call when it shuts down. It may
// come from any goroutine at any time, and takes effect if the head was
// not sent yet.
func (w *Response) SetCloseAfter() { w.reqClose.Store(true) }

// HeadSent reports whether the status line and header went to the
// Conn: until then a server may still answer in the Response's place (a
// 500 for a handler that panicked). Call it from the goroutine writing
// the response.
func (w *Response) HeadSent() bool { return w.headSent }

// CloseAfter reports whether the connection must close after this
// response (known for sure once it is finished).
func (w *Response) CloseAfter() bool { return w.closeAfter }

func (w *Response) release() {
	if w.out != nil {
		if cap(*w.out) <= outReserve+2*w.cfg.streamThreshold() {
			*w.out = (*w.out)[:outReserve]
			outPool.Put(w.out)
		}
		w.out = nil
	}
}

// send writes the head if it is not sent yet, and the body bytes
// buffered, framed as the head said; final ends the body.
func (w *Response) send(final bool) error {
	out := *w.out
	data := len(out) - outReserve
	var scratch [outReserve]byte
	pre := scratch[:0]
	if !w.headSent {
		w.headSent = true
		pre = w.appendHead(pre, final, out[outReserve:])
	}
	if w.chunked && data > 0 {
		pre = strconv.AppendInt(pre, int64(data), 16)
		pre = append(pre, "\r\n"...)
	}
	if w.chunked {
		if data > 0 {
			out = append(out, "\r\n"...)
		}
		if final {
			out = append(out, "0\r\n\r\n"...)
		}
	}
	var msg []byte
	if len(pre) <= outReserve {
		start := outReserve - len(pre)
		copy(out[start:], pre)
		msg = out[start:]
	} else {
		// A head over the reserve: copied out, so that the stack's
		// scratch never reaches Write (and so never escapes).
		msg = make([]byte, 0, len(pre)+len(out)-outReserve)
		msg = append(append(msg, pre...), out[outReserve:]...)
	}
	*w.out = out[:outReserve]
	if len(msg) == 0 {
		return nil
	}
	if _, err := w.conn.Write(msg); err != nil {
		w.closeAfter = true
		return err
	}
	return nil
}

// appendHead appends the status line and header of the response. final
// says the whole body is body (its length is known); otherwise the body
// streams from here.
func (w *Response) appendHead(b []byte, final bool, body []byte) []byte {
	status := w.status
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	if text := http.StatusText(status); text != "" {
		b = append(b, text...)
	} else {
		b = append(b, "status code "...)
		b = strconv.AppendInt(b, int64(status), 10)
	}
	b = append(b, "\r\n"...)

	h := w.header
	allowed := bodyAllowed(status)
	if anyToken(h["Connection"], "close") || w.reqClose.Load() {
		w.closeAfter = true
	}
	b = appendFields(b, h, status)

	// Content-Type, sniffed as net/http does when the handler set none.
	if _, ok := h["Content-Type"]; !ok && allowed && status != http.StatusNotModified && len(body) > 0 {
		b = append(b, "Content-Type: "...)
		b = append(b, http.DetectContentType(body)...)
		b = append(b, "\r\n"...)
	}
	if _, ok := h["Date"]; !ok {
		b = append(b, "Date: "...)
		b = appendDate(b, time.Now())
		b = append(b, "\r\n"...)
	}

	// Framing.
	var length int64 = -1
	switch {
	case !allowed:
	case w.declared >= 0:
		length = w.declared
	case final && (!w.isHead || w.written > 0):
		length = w.written
	case final || w.isHead:
	case w.http10:
		w.closeAfter = true // the body ends with the connection
	default:
		w.chunked = true
	}

	if w.closeAfter {
		b = append(b, "Connection: close\r\n"...)
	} else if ka := w.cfg.keepAlive(); ka > 0 {
		b = append(b, "Connection: keep-alive\r\nKeep-Alive: timeout="...)
		b = strconv.AppendInt(b, int64(ka/time.Second), 10)
		b = append(b, "\r\n"...)
	} else if w.http10 {
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	if length >= 0 {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, length, 10)
		b = append(b, "\r\n"...)
	}
	if w.chunked {
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	return append(b, "\r\n"...)
}

// sendInterim writes a 1xx response with the header as it stands.
func (w *Response) sendInterim(code int) {
	if w.out == nil {
		w.out = outPool.Get().(*[]byte)
	}
	out := *w.out
	var scratch [outReserve]byte
	b := append(scratch[:0], "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(code), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(code)...)
	b = append(b, "\r\n"...)
	b = appendFields(b, w.header, code)
	b = append(b, "\r\n"...)
	// Interim bytes go before any body, which is not sent yet.
	msg := append(out[len(out):len(out)], b...)
	if _, err := w.conn.Write(msg); err != nil {
		w.closeAfter = true
	}
	*w.out = out
}

// ownField reports the fields a Response writes itself, whatever the
// handler put in the header, and those a status suppresses (net/http's
// suppressedHeaders304).
func ownField(k string, status int) bool {
	switch k {
	case "Connection", "Content-Length", "Keep-Alive", "Transfer-Encoding":
		return true
	case "Content-Type":
		return status == http.StatusNotModified
	}
	return false
}

// appendFields appends the handler's header fields, sorted by name as
// net/http writes them. A name that is not a token is dropped, and a
// control byte in a value (CR and LF above all) becomes a space: nothing
// a handler copies into a header can split the response.
func appendFields(b []byte, h http.Header, status int) []byte {
	if len(h) == 0 {
		return b
	}
	var keysArr [32]string
	keys := keysArr[:0]
	for k := range h {
		if !ownField(k, status) && validName(k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = appendValue(b, v)
			b = append(b, "\r\n"...)
		}
	}
	return b
}

func validName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isToken[k[i]] {
			return false
		}
	}
	return true
}

// appendValue appends v trimmed of surrounding whitespace, every control
// byte but HTAB turned into a space.
func appendValue(b []byte, v string) []byte {
	i, j := 0, len(v)
	for i < j && isSpaceOrCTL(v[i]) {
		i++
	}
	for j > i && isSpaceOrCTL(v[j-1]) {
		j--
	}
	for ; i < j; i++ {
		c := v[i]
		if !isValueByte[c] {
			c = ' '
		}
		b = append(b, c)
	}
	return b
}

func isSpaceOrCTL(c byte) bool { return c <= ' ' || c == 0x7f }

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// bodyAllowed reports whether a response of this status may have a body
// (RFC 9110 6.4.1).
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}
