package wsconform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"time"
)

// Endpoint says what application answers at the URL, and so how a case's
// messages travel and how the echo is recognised.
type Endpoint int

const (
	// Echo is a bare WebSocket echo server: each message comes back as it
	// went, which is the server Autobahn's cases are written for.
	Echo Endpoint = iota
	// SocketIO is the demo contract's Socket.IO server, reached at
	// /socket.io/?EIO=4&transport=websocket. After the Engine.IO open
	// packet the harness connects to namespace "/" (40); a case's text
	// message P then travels as the event 42["message","P"] (P escaped as
	// a JSON string, byte by byte, so that invalid UTF-8 stays invalid
	// and fragments split where the case splits them), a binary message
	// as the event's attachment (451-["message",{"_placeholder":true,
	// "num":0}] then the bytes, as they are). The server's echo of the
	// event is the case's echo; its pings are answered, its timestamp
	// events ignored. Frames that begin no message (a reserved opcode, a
	// continuation with nothing to continue, control frames) go as the
	// case writes them.
	SocketIO
)

func (e Endpoint) String() string {
	if e == SocketIO {
		return "socket.io"
	}
	return "echo"
}

// adapter carries a case's messages over an endpoint.
type adapter interface {
	// open runs after the opening handshake, before the case.
	open(c *conn) error
	// wrap gives what goes before and after a message's payload, and a
	// whole text message to send ahead of it.
	wrap(binary bool) (pre, post, lead []byte)
	// escape turns a text payload, or any piece of one, into what travels.
	escape(p []byte) []byte
	// incoming turns a message of the server into the case's event, or
	// reports false for the endpoint's own traffic.
	incoming(c *conn, binary bool, data []byte) (Event, bool)
}

func newAdapter(e Endpoint) adapter {
	if e == SocketIO {
		return &sioAdapter{}
	}
	return echoAdapter{}
}

type echoAdapter struct{}

func (echoAdapter) open(*conn) error           { return nil }
func (echoAdapter) wrap(bool) (_, _, _ []byte) { return nil, nil, nil }
func (echoAdapter) escape(p []byte) []byte     { return p }
func (echoAdapter) incoming(_ *conn, binary bool, data []byte) (Event, bool) {
	return Event{Kind: "message", Data: data, Binary: binary}, true
}

var (
	sioPre  = []byte(`42["message","`)
	sioPost = []byte(`"]`)
	sioLead = []byte(`451-["message",{"_placeholder":true,"num":0}]`)
)

// sioAdapter is one connection's Engine.IO and Socket.IO state; incoming
// runs on the connection's reading goroutine only.
type sioAdapter struct {
	connected atomic.Bool
	attach    bool // the next binary message is the echo's attachment
}

func (a *sioAdapter) open(c *conn) error {
	if err := c.writeFrame(0x80|opText, []byte("40"), 0, false); err != nil {
		return err
	}
	ok := c.waitFor(time.Now().Add(c.cfg.Timeout), func() bool { return a.connected.Load() || c.closedLocked() })
	if !ok || !a.connected.Load() {
		return fmt.Errorf("no CONNECT answer from the Socket.IO server")
	}
	return nil
}

func (a *sioAdapter) wrap(binary bool) (_, _, _ []byte) {
	if binary {
		return nil, nil, sioLead
	}
	return sioPre, sioPost, nil
}

// escape makes p part of a JSON string byte by byte: the quote, the
// backslash and control bytes escaped, every other byte as it is.
func (a *sioAdapter) escape(p []byte) []byte {
	var b []byte
	for i, c := range p {
		if c >= 0x20 && c != '"' && c != '\\' {
			if b != nil {
				b = append(b, c)
			}
			continue
		}
		if b == nil {
			b = append(make([]byte, 0, len(p)+16), p[:i]...)
		}
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		default:
			b = fmt.Appendf(b, `\u%04x`, c)
		}
	}
	if b == nil {
		return p
	}
	return b
}

func (a *sioAdapter) incoming(c *conn, binary bool, data []byte) (Event, bool) {
	if binary {
		a.attach = false
		return Event{Kind: "message", Data: data, Binary: true}, true
	}
	switch {
	case bytes.HasPrefix(data, []byte("0{")):
		return Event{}, false // the Engine.IO open packet
	case string(data) == "2":
		_ = c.writeFrame(0x80|opText, []byte("3"), 0, false)
		c.flush()
		return Event{}, false
	case bytes.HasPrefix(data, []byte("40")):
		a.connected.Store(true)
		c.mu.Lock()
		c.signal()
		c.mu.Unlock()
		return Event{}, false
	case bytes.Equal(data, sioLead):
		a.attach = true
		return Event{}, false
	case bytes.HasPrefix(data, []byte("42[")):
		var args []json.RawMessage
		if json.Unmarshal(data[2:], &args) != nil || len(args) == 0 {
			break
		}
		var name string
		if json.Unmarshal(args[0], &name) != nil {
			break
		}
		if name == "timestamp" {
			return Event{}, false // the demo's tick
		}
		var s string
		if name == "message" && len(args) == 2 && json.Unmarshal(args[1], &s) == nil {
			return Event{Kind: "message", Data: []byte(s)}, true
		}
	}
	// Anything else is kept as it came, so that the case shows it.
	return Event{Kind: "message", Data: data}, true
}
