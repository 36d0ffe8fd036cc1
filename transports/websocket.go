package transports

import (
	"encoding/base64"
	"errors"
	"net/url"

	"github.com/siogo/siogo/internal/websocket"
)

// wsTransport carries a session over a WebSocket, as engine.io's
// transports/websocket.ts: each packet is a frame, and the packets of one
// send leave in one write call.
type wsTransport struct {
	s *Session
	// conn is set once the handshake is done, under s.mu; the session is
	// known to no one before, so its writes read it without the lock.
	conn *websocket.Conn
	// b64: the client asked for base64 (forceBase64, b64=1 on the
	// WebSocket's request): binary messages go both ways as base64 text
	// frames, as Node's supportsBinary is false.
	b64 bool
}

func newWSTransport(s *Session, q url.Values) *wsTransport {
	return &wsTransport{s: s, b64: q.Get("b64") != ""}
}

func (t *wsTransport) name() string { return TransportWebSocket }

// send writes pkts at once, in one write call; volatile ones only to a
// peer that reads what it was sent (no bytes wait for its socket).
func (t *wsTransport) send(pkts []Packet, volatile bool) (bool, error) {
	t.s.mu.Unlock()
	if volatile && t.conn.Backlogged() {
		return false, nil
	}
	return true, t.write(pkts)
}

func (t *wsTransport) limitInbound(max int) {
	t.s.mu.Lock()
	c := t.conn
	t.s.mu.Unlock()
	if c != nil {
		c.SetReadLimit(max)
	}
}

// closing: a WebSocket client has nothing to fetch.
func (t *wsTransport) closing(closeMode) bool { return true }

func (t *wsTransport) close() {
	t.s.mu.Lock()
	c := t.conn
	t.s.mu.Unlock()
	if c != nil {
		_ = c.Close(websocket.CloseNoStatus)
	}
}

// after runs f on the connection's worker after the message being
// handled; false when a goroutine reads the connection (no event loop).
func (t *wsTransport) after(f func()) bool { return t.conn.After(f) }

// flush writes at once the frames corked while a message is handled. The
// transport is current, so its conn is set.
func (t *wsTransport) flush() { t.conn.Flush() }

var (
	// base64Heads start a binary message sent as text: "b4" in protocol
	// 3, "b" in protocol 4.
	base64Heads = [...][]byte{[]byte("b4"), []byte("b")}
	typeDigits  = [...][]byte{{'0'}, {'1'}, {'2'}, {'3'}, {'4'}, {'5'}, {'6'}}
	typeBytes   = [...][]byte{{0}, {1}, {2}, {3}, {4}, {5}, {6}}
)

// write writes pkts to the WebSocket in one call.
func (t *wsTransport) write(pkts []Packet) error {
	protocol := t.s.protocol
	var small [8]websocket.Frame
	frames := small[:0]
	for _, p := range pkts {
		switch {
		case p.Binary && t.b64:
			frames = append(frames, websocket.Frame{Head: base64Heads[protocol-3], Data: base64.StdEncoding.AppendEncode(nil, p.Data), NoCompress: p.NoCompress})
		case p.Binary && protocol == 4:
			frames = append(frames, websocket.Frame{Binary: true, Data: p.Data, NoCompress: p.NoCompress})
		case p.Binary:
			frames = append(frames, websocket.Frame{Binary: true, Head: typeBytes[p.Type], Data: p.Data, NoCompress: p.NoCompress})
		default:
			frames = append(frames, websocket.Frame{Head: typeDigits[p.Type], Data: p.Data, NoCompress: p.NoCompress})
		}
	}
	return t.conn.WriteFrames(frames...)
}

// OnMessage takes a message from the WebSocket a session was opened on
// (the transport is its websocket.Handler).
func (t *wsTransport) OnMessage(_ *websocket.Conn, binary bool, data []byte) {
	t.s.onWSMessage(t, binary, data)
}

func (t *wsTransport) OnClose(_ *websocket.Conn, err error) {
	t.s.closeWith(closeReason(err), false)
}

// decodeFrame decodes a WebSocket message of the session's protocol. A
// text frame may hold a binary message in base64 (a client with
// forceBase64), as Node's parsers take it whatever the client announced.
func (s *Session) decodeFrame(binary bool, data []byte) (Packet, error) {
	switch {
	case !binary && s.protocol == 4:
		return DecodeTextFrameV4(data)
	case !binary:
		return DecodeTextFrameV3(data)
	case s.protocol == 4:
		return Packet{Type: PacketMessage, Data: data, Binary: true}, nil
	default:
		return DecodeBinaryFrameV3(data)
	}
}

// onWSMessage takes a message from the session's WebSocket, t.
func (s *Session) onWSMessage(t *wsTransport, binary bool, data []byte) {
	p, err := s.decodeFrame(binary, data)
	if err != nil {
		s.closeWith(ReasonParseError, false)
		return
	}
	s.onPacketVia(p, t)
}

// closeReason is the session's close reason for the end of its WebSocket.
// As in Node, only what breaks the protocol is a "transport error": ws
// reports a socket's own errors (a reset, a timeout, a failed write) as a
// close (code 1006), which engine.io calls "transport close".
func closeReason(err error) string {
	switch {
	case errors.Is(err, websocket.ErrSlowPeer):
		return ReasonQueueFull
	case errors.Is(err, websocket.ErrProtocol), errors.Is(err, websocket.ErrMessageTooLarge),
		errors.Is(err, websocket.ErrPanic):
		return ReasonTransportError
	}
	return ReasonTransportClose
}
