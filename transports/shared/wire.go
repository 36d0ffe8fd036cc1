package shared

import (
	"encoding/base64"
	"errors"
	"net/http"

	"github.com/siogo/siogo/adapters/cluster"
	"github.com/siogo/siogo/internal/num"
)

// Namespace is the pseudo-namespace whose channels carry shared sessions'
// messages between nodes. No client can name it (a Socket.IO namespace
// starts with '/' and has no '#'), and Node.js nodes of a mixed cluster
// never subscribe it.
const Namespace = "/#siogo-sessions"

// The kinds of relay messages.
const (
	kindRequest  = "req"    // edge to owner: an HTTP request of a session
	kindAccepted = "ack"    // owner to edge: the request is being served
	kindResponse = "res"    // owner to edge: its status, headers and body
	kindCancel   = "cancel" // edge to owner: the client went away
	kindOpen     = "open"   // edge to owner: a WebSocket upgrade's head and first bytes
	kindData     = "data"   // either way: bytes of a relayed WebSocket, in seq order
	kindClose    = "close"  // either way: the relayed WebSocket's end
	kindPing     = "ping"   // to a node this one waits on: are you there?
	kindPong     = "pong"   // the answer
	kindGone     = "gone"   // never sent: handed to a waiter whose peer stopped answering
)

// msg is one relay message. It rides in a cluster message the contract's
// brokers all carry to one node, binary intact: BROADCAST_ACK, answered
// with PublishResponse, {requestId, packet}. Receivers drop what is not
// addressed to them (a broker may deliver answers to every node).
type msg struct {
	kind     string
	to, from string // node ids
	id       string // the request's or relayed WebSocket's id
	seq      int64
	method   string
	uri      string
	remote   string
	header   http.Header
	body     []byte
	status   int
}

var errBadRelay = errors.New("shared: malformed relay message")

func (m *msg) message() *cluster.Message {
	p := map[string]any{"k": m.kind, "to": m.to, "from": m.from, "q": m.seq}
	if m.body == nil {
		// Always binary, so that every broker frames it as msgpack.
		p["b"] = []byte{}
	} else {
		p["b"] = m.body
	}
	if m.method != "" {
		p["m"] = m.method
	}
	if m.uri != "" {
		p["u"] = m.uri
	}
	if m.remote != "" {
		p["r"] = m.remote
	}
	if m.status != 0 {
		p["s"] = m.status
	}
	if m.header != nil {
		h := make(map[string]any, len(m.header))
		for k, vs := range m.header {
			l := make([]any, len(vs))
			for i, v := range vs {
				l[i] = v
			}
			h[k] = l
		}
		p["h"] = h
	}
	uid := m.from
	if m.to == m.from {
		// A message to itself (the readiness ping): a broker may drop a
		// node's own messages (PostgreSQL's does), so it goes under
		// another uid, one no node has ('!' is not a node id's).
		uid += "!"
	}
	return &cluster.Message{UID: uid, Nsp: Namespace, Type: cluster.BroadcastAck,
		Data: map[string]any{"requestId": m.id, "packet": p}}
}

// decode reads a relay message out of a cluster message.
func decode(cm *cluster.Message) (*msg, error) {
	if cm.Type != cluster.BroadcastAck || cm.Data == nil {
		return nil, errBadRelay
	}
	p, ok := cm.Data["packet"].(map[string]any)
	if !ok {
		return nil, errBadRelay
	}
	m := &msg{}
	m.id, _ = cm.Data["requestId"].(string)
	m.kind, _ = p["k"].(string)
	m.to, _ = p["to"].(string)
	m.from, _ = p["from"].(string)
	m.method, _ = p["m"].(string)
	m.uri, _ = p["u"].(string)
	m.remote, _ = p["r"].(string)
	if m.id == "" || m.kind == "" || m.from == "" {
		return nil, errBadRelay
	}
	if v, ok := num.Int64(p["q"]); ok {
		m.seq = v
	}
	if v, ok := num.Int64(p["s"]); ok {
		m.status = int(v)
	}
	switch b := p["b"].(type) {
	case []byte:
		m.body = b
	case string:
		// A broker that framed it as JSON: base64, as encoding/json writes []byte.
		d, err := base64.StdEncoding.DecodeString(b)
		if err != nil {
			return nil, errBadRelay
		}
		m.body = d
	}
	if h, ok := p["h"].(map[string]any); ok {
		m.header = make(http.Header, len(h))
		for k, v := range h {
			l, _ := v.([]any)
			for _, e := range l {
				if s, ok := e.(string); ok {
					m.header[k] = append(m.header[k], s)
				}
			}
		}
	}
	return m, nil
}
