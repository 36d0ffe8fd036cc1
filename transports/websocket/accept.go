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

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/nbhttp"
)

// The opening handshake is siogo's own (RFC 6455 section 4.2): it decides
// the extensions, hijacks the connection and hands it to the event loop
// with siogo's frame reader already in place, so no byte the client sends
// can reach a reader that is not yet there.

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
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, refuse(w, http.StatusInternalServerError, "response cannot be hijacked")
	}
	var ext string
	var window uint8
	compress := false
	if s.cfg.Compression {
		ext, window, compress = negotiateDeflate(r.Header)
	}
	raw, brw, err := hj.Hijack()
	if err != nil {
		return nil, refuse(w, http.StatusInternalServerError, err.Error())
	}
	// net/http's deadlines (ReadHeaderTimeout, ReadTimeout) must not
	// reach the WebSocket: Engine.IO has its heartbeat.
	_ = raw.SetDeadline(time.Time{})
	// Bytes the client sent past the request (it should not before the
	// 101, but may) are its first frames.
	head := buffered(brw)
	resp := appendResponse(make([]byte, 0, 256), r.Header.Get("Sec-Websocket-Key"), ext, header)
	c := &Conn{srv: s, handler: h, compress: compress, window: window, remote: raw.RemoteAddr()}

	if tcp, ok := raw.(*net.TCPConn); ok {
		// A plain connection moves to the event loop: no goroutine waits
		// on it while it is idle.
		nbc, err := TransferConn(tcp)
		if err != nil {
			_ = raw.Close()
			return nil, err
		}
		c.nbc, c.nc, c.fd, c.sockID = nbc, nbc, nbc.Hash(), socketID(nbc)
		return s.handOver(c, func(_ *nbio.Conn, data []byte) { c.onData(data) }, resp, head)
	}

	if tc, rc, tcp := loopTLS(raw); tc != nil {
		// TLS served by ServeTLS: the connection and its TLS state move
		// to the event loop, as a plain one does.
		nbc, err := TransferConn(tcp)
		if err != nil {
			_ = raw.Close()
			return nil, err
		}
		left, err := c.moveTLS(tc, rc, nbc)
		if err != nil {
			_ = nbc.Close()
			return nil, err
		}
		head = append(head, left...)
		c.nbc, c.nc, c.tls, c.fd, c.sockID = nbc, tc, tc, nbc.Hash(), socketID(nbc)
		return s.handOver(c, c.onTLSData, resp, head)
	}

	if nbc := engineConn(raw); nbc != nil {
		// Already on an event loop: nbio's HTTP engine served the request
		// (transports.HTTPServer). Its loop reads the connection from now
		// on; what it writes is counted by that engine's OnWrittenSize
		// (CountWritten). That engine settles its own accepts
		// (Settler), as this Server settles its upgrades.
		c.nbc, c.nc, c.fd, c.sockID = nbc, nbc, nbc.Hash(), socketID(nbc)
		ClearReadDeadline(nbc) // the engine's keep-alive, even if set late
		c.rmu.Lock()
		nbc.SetSession(nbSession{c})
		nbc.OnData(func(_ *nbio.Conn, data []byte) { c.onData(data) })
		if err := c.write(resp); err != nil {
			c.rmu.Unlock()
			s.closeOffPoller(nbc)
			return nil, err
		}
		c.readLocked(head)
		c.rmu.Unlock()
		return c, nil
	}

	// Anything else (a crypto/tls connection: see ServeTLS) keeps a
	// goroutine that reads.
	c.nc = raw
	if _, err := raw.Write(resp); err != nil {
		_ = raw.Close()
		return nil, err
	}
	go c.readLoop(head)
	return c, nil
}

// handOver puts c's connection (c.nbc, moved off net/http) on this
// Server's event loop, its reads going to onData, and writes the 101
// response resp, then the frames the client sent early (head).
func (s *Server) handOver(c *Conn, onData func(*nbio.Conn, []byte), resp, head []byte) (*Conn, error) {
	nbc := c.nbc
	s.settle(c.fd)
	nbc.SetSession(nbSession{c})
	nbc.OnData(onData)
	// The reader is held until the 101 and the early bytes are through,
	// so that frames read by the loop meanwhile wait behind.
	c.rmu.Lock()
	if err := s.engine.AddTransferredConn(nbc); err != nil {
		c.rmu.Unlock()
		return nil, err
	}
	if err := c.write(resp); err != nil {
		c.rmu.Unlock()
		s.closeOffPoller(nbc) // its close may read the connection's state
		return nil, err
	}
	c.readLocked(head)
	c.rmu.Unlock()
	return c, nil
}

// engineConn is the event-loop connection under what nbio's HTTP engine
// hands a hijacker, detached from the engine's HTTP parser as nbio's own
// upgrader does; nil for any other connection.
func engineConn(raw net.Conn) *nbio.Conn {
	switch v := raw.(type) {
	case *nbhttp.Conn:
		nbc, ok := v.Conn.(*nbio.Conn)
		if !ok {
			return nil
		}
		v.Parser = nil
		return nbc
	case *nbio.Conn:
		return v
	}
	return nil
}

// buffered returns a copy of what brw read past the request.
func buffered(brw *bufio.ReadWriter) []byte {
	if brw == nil || brw.Reader.Buffered() == 0 {
		return nil
	}
	b, _ := brw.Reader.Peek(brw.Reader.Buffered())
	return append([]byte(nil), b...)
}
