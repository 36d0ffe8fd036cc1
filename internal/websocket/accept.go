package websocket

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/siogo/siogo/internal/http1"
	"github.com/siogo/siogo/internal/httploop"
)

// The opening handshake is siogo's own (RFC 6455 section 4.2): it decides
// the extensions, takes the connection and hands it to an event loop with
// siogo's frame reader already in place, so no byte the client sends can
// reach a reader that is not yet there.

var (
	// ErrBadHandshake is returned by Upgrade for a request that is not a
	// WebSocket opening handshake; the client got an HTTP error.
	ErrBadHandshake = errors.New("websocket: bad handshake")
	// ErrProtocol is wrapped in the error given to OnClose when the client
	// broke RFC 6455 (an unmasked frame, a reserved bit or opcode, a bad
	// close frame, invalid UTF-8 in a text message).
	ErrProtocol = errors.New("websocket: protocol error")
	// ErrMessageTooLarge is given to OnClose when a message, inflated,
	// exceeds Config.MaxMessageSize.
	ErrMessageTooLarge = errors.New("websocket: message too large")
)

// headerHasToken reports whether a comma-separated header field of h holds
// token, compared without case.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h[http.CanonicalHeaderKey(name)] {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), token) {
				return true
			}
		}
	}
	return false
}

func refuse(w http.ResponseWriter, status int, why string) error {
	w.Header().Set("Sec-Websocket-Version", "13")
	http.Error(w, http.StatusText(status), status)
	return fmt.Errorf("%w: %s", ErrBadHandshake, why)
}

// validKey reports whether key is the base64 of 16 bytes, as RFC 6455
// 4.1 asks and Node's ws checks.
func validKey(key string) bool {
	b, err := base64.StdEncoding.DecodeString(key)
	return err == nil && len(b) == 16 && len(key) == 24
}

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func acceptKey(key string) string {
	h := sha1.New() //nolint:gosec // RFC 6455 names SHA-1
	h.Write([]byte(key))
	h.Write([]byte(acceptGUID))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// appendResponse appends the 101 response; ext is the accepted
// extension (extensions.go), if any.
func appendResponse(dst []byte, key, ext string, header http.Header) []byte {
	dst = append(dst, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	dst = append(dst, acceptKey(key)...)
	dst = append(dst, "\r\n"...)
	if ext != "" {
		dst = append(dst, "Sec-WebSocket-Extensions: "...)
		dst = append(dst, ext...)
		dst = append(dst, "\r\n"...)
	}
	for k, vs := range header {
		for _, v := range vs {
			dst = append(dst, k...)
			dst = append(dst, ": "...)
			for i := 0; i < len(v); i++ {
				if b := v[i]; b < ' ' {
					dst = append(dst, ' ') // no response splitting
				} else {
					dst = append(dst, b)
				}
			}
			dst = append(dst, "\r\n"...)
		}
	}
	return append(dst, "\r\n"...)
}

// Upgrade answers r with the WebSocket handshake and returns the
// connection, whose events go to h, from its first byte on. header is added
// to the 101 response.
func (s *Server) Upgrade(w http.ResponseWriter, r *http.Request, header http.Header, h Handler) (*Conn, error) {
	switch {
	case !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket"):
		return nil, refuse(w, http.StatusBadRequest, "not an upgrade request")
	case r.Method != http.MethodGet:
		return nil, refuse(w, http.StatusMethodNotAllowed, "method "+r.Method)
	case !headerHasToken(r.Header, "Sec-Websocket-Version", "13"):
		return nil, refuse(w, http.StatusBadRequest, "unsupported version")
	case !validKey(r.Header.Get("Sec-Websocket-Key")):
		return nil, refuse(w, http.StatusBadRequest, "missing or invalid Sec-WebSocket-Key")
	}
	var ext string
	var window uint8
	compress := false
	if s.cfg.Compression {
		ext, window, compress = negotiateDeflate(r.Header)
	}
	resp := appendResponse(make([]byte, 0, 256), r.Header.Get("Sec-Websocket-Key"), ext, header)
	c := &Conn{srv: s, handler: h, compress: compress, window: window}

	if u := upgrader(w); u != nil {
		// The loop's own HTTP server (transports.HTTPServer): the
		// connection stays where it is, on its loop connection, its
		// events switched to the frame reader. No hijack, no copy.
		nc, rest, err := u.Upgrade()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadHandshake, err)
		}
		if lu, ok := nc.(*httploop.Upgraded); ok {
			pc := lu.Conn()
			c.onLoop, c.pc, c.remote = true, pc, pc.RemoteAddr()
			if _, err := pc.Write(resp); err != nil {
				pc.Abort()
				return nil, err
			}
			lu.Switch(loopHandler{c}, rest)
			return c, nil
		}
		return s.serve(c, nc, rest, resp)
	}
	raw, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, refuse(w, http.StatusInternalServerError, "response cannot be hijacked: "+err.Error())
	}
	// net/http's deadlines (ReadHeaderTimeout, ReadTimeout) must not
	// reach the WebSocket: Engine.IO has its heartbeat.
	_ = raw.SetDeadline(time.Time{})
	// Bytes the client sent past the request (it should not before the
	// 101, but may) are its first frames.
	return s.serve(c, raw, buffered(brw), resp)
}

// upgrader is the http1.Upgrader behind w, through the middlewares that
// wrap it, or nil.
func upgrader(w http.ResponseWriter) http1.Upgrader {
	for {
		switch v := w.(type) {
		case http1.Upgrader:
			return v
		case interface{ Unwrap() http.ResponseWriter }:
			w = v.Unwrap()
		default:
			return nil
		}
	}
}

// serve writes the 101 response resp on nc, a connection taken from its
// HTTP server, and serves it from then on: a TCP one on the Server's
// event loop, anything else (crypto/tls) on a goroutine that reads it.
// head holds the bytes the client sent after its request.
func (s *Server) serve(c *Conn, nc net.Conn, head, resp []byte) (*Conn, error) {
	c.remote = nc.RemoteAddr()
	if _, err := nc.Write(resp); err != nil {
		_ = nc.Close()
		return nil, err
	}
	if _, ok := nc.(*net.TCPConn); ok {
		l, err := s.eventLoop()
		if err != nil {
			_ = nc.Close()
			return nil, err
		}
		c.onLoop = true
		// The loop may read (head first) before Adopt returns: the reader
		// waits for the connection to be known.
		c.rmu.Lock()
		pc, err := l.Adopt(nc, head, loopHandler{c})
		c.pc = pc
		c.rmu.Unlock()
		if err != nil {
			return nil, err // nc is closed; OnClose follows if the loop had it
		}
		return c, nil
	}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		_ = nc.Close()
		return nil, net.ErrClosed
	}
	s.readers[c] = struct{}{}
	s.rwg.Add(1)
	s.mu.Unlock()
	c.nc = nc
	go c.readLoop(head)
	return c, nil
}

// buffered returns a copy of what brw read past the request.
func buffered(brw *bufio.ReadWriter) []byte {
	if brw == nil || brw.Reader.Buffered() == 0 {
		return nil
	}
	b, _ := brw.Reader.Peek(brw.Reader.Buffered())
	return append([]byte(nil), b...)
}
