package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
)

// The client side of RFC 6455, just what a load generator needs: the
// handshake written byte for byte (so that its headers are the browser's),
// masked frames out, frames in with fragments joined, ping answered, and
// permessage-deflate inflated when the server compresses. One goroutine per
// connection reads; a write takes the connection's mutex.

const (
	opCont   = 0x0
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xa
)

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

type wsConn struct {
	c  net.Conn
	br *bufio.Reader

	wmu  sync.Mutex
	wbuf []byte

	deflate  bool // permessage-deflate negotiated
	takeover bool // the server keeps its context between messages
	window   []byte
	msg      []byte
}

// errClosed is a close frame from the server.
var errClosed = errors.New("websocket: closed by the server")

// wsHandshake upgrades c, already connected to host, on path (with query).
// header holds the browser-like fields; the handshake's own are added here.
func wsHandshake(c net.Conn, host, path string, header []string, deflate bool) (*wsConn, error) {
	var key [16]byte
	_, _ = rand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n", path, host)
	for _, h := range header {
		b.WriteString(strings.ReplaceAll(h, "{host}", host))
		b.WriteString("\r\n")
	}
	b.WriteString("Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + k + "\r\n")
	if deflate {
		b.WriteString("Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n")
	}
	b.WriteString("\r\n")
	if _, err := c.Write(b.Bytes()); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(c, 1024)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("websocket handshake: %w", err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		res.Body.Close()
		return nil, fmt.Errorf("websocket handshake: %s %s", res.Status, bytes.TrimSpace(body))
	}
	sum := sha1.Sum([]byte(k + wsGUID))
	if res.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return nil, errors.New("websocket handshake: wrong Sec-WebSocket-Accept")
	}
	ws := &wsConn{c: c, br: br}
	if ext := res.Header.Get("Sec-WebSocket-Extensions"); strings.Contains(ext, "permessage-deflate") {
		ws.deflate = true
		ws.takeover = !strings.Contains(ext, "server_no_context_takeover")
	}
	return ws, nil
}

// write sends one masked frame.
func (ws *wsConn) write(op byte, p []byte) error {
	ws.wmu.Lock()
	defer ws.wmu.Unlock()
	b := ws.wbuf[:0]
	b = append(b, 0x80|op)
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	b = append(b, mask[:]...)
	start := len(b)
	b = append(b, p...)
	for i := range p {
		b[start+i] ^= mask[i&3]
	}
	_, err := ws.c.Write(b)
	if cap(b) <= 4096 {
		ws.wbuf = b
	}
	return err
}

// read returns the next data message (its bytes valid until the next call).
func (ws *wsConn) read() (op byte, p []byte, err error) {
	ws.msg = ws.msg[:0]
	var msgOp byte
	compressed := false
	for {
		var h [2]byte
		if _, err := io.ReadFull(ws.br, h[:]); err != nil {
			return 0, nil, err
		}
		fin, rsv1, fop := h[0]&0x80 != 0, h[0]&0x40 != 0, h[0]&0x0f
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var e [2]byte
			if _, err := io.ReadFull(ws.br, e[:]); err != nil {
				return 0, nil, err
			}
			n = uint64(binary.BigEndian.Uint16(e[:]))
		case 127:
			var e [8]byte
			if _, err := io.ReadFull(ws.br, e[:]); err != nil {
				return 0, nil, err
			}
			n = binary.BigEndian.Uint64(e[:])
		}
		if n > 64<<20 {
			return 0, nil, fmt.Errorf("websocket: frame of %d bytes", n)
		}
		if fop >= opClose { // control frames come whole, between fragments too
			ctl := make([]byte, n)
			if _, err := io.ReadFull(ws.br, ctl); err != nil {
				return 0, nil, err
			}
			switch fop {
			case opClose:
				_ = ws.write(opClose, ctl[:min(len(ctl), 2)])
				return 0, nil, errClosed
			case opPing:
				if err := ws.write(opPong, ctl); err != nil {
					return 0, nil, err
				}
			}
			continue
		}
		if fop != opCont {
			msgOp, compressed = fop, rsv1
		}
		off := len(ws.msg)
		ws.msg = append(ws.msg, make([]byte, n)...)
		if _, err := io.ReadFull(ws.br, ws.msg[off:]); err != nil {
			return 0, nil, err
		}
		if fin {
			break
		}
	}
	if compressed {
		out, err := ws.inflate(ws.msg)
		if err != nil {
			return 0, nil, err
		}
		return msgOp, out, nil
	}
	return msgOp, ws.msg, nil
}

func (ws *wsConn) inflate(p []byte) ([]byte, error) {
	in := io.MultiReader(bytes.NewReader(p), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}))
	var r io.ReadCloser
	if ws.takeover {
		r = flate.NewReaderDict(in, ws.window)
	} else {
		r = flate.NewReader(in)
	}
	out, err := io.ReadAll(r)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, fmt.Errorf("websocket: inflate: %w", err)
	}
	if ws.takeover {
		ws.window = append(ws.window, out...)
		if len(ws.window) > 32<<10 {
			ws.window = append(ws.window[:0], ws.window[len(ws.window)-32<<10:]...)
		}
	}
	return out, nil
}

// close sends a normal close frame and closes the connection.
func (ws *wsConn) close() {
	_ = ws.write(opClose, []byte{0x03, 0xe8})
	_ = ws.c.Close()
}
