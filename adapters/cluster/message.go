package cluster

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/siogo/siogo/internal/mpack"
	"github.com/siogo/siogo/internal/num"
)

// MessageType is the type of a cluster message, numbered as Node's
// socket.io-adapter numbers them.
type MessageType int

// The message types of Node's ClusterAdapter.
const (
	InitialHeartbeat MessageType = iota + 1
	Heartbeat
	Broadcast
	SocketsJoin
	SocketsLeave
	DisconnectSockets
	FetchSockets
	FetchSocketsResponse
	ServerSideEmit
	ServerSideEmitResponse
	BroadcastClientCount
	BroadcastAck
	AdapterClose
)

var typeNames = [...]string{"", "INITIAL_HEARTBEAT", "HEARTBEAT", "BROADCAST", "SOCKETS_JOIN", "SOCKETS_LEAVE",
	"DISCONNECT_SOCKETS", "FETCH_SOCKETS", "FETCH_SOCKETS_RESPONSE", "SERVER_SIDE_EMIT", "SERVER_SIDE_EMIT_RESPONSE",
	"BROADCAST_CLIENT_COUNT", "BROADCAST_ACK", "ADAPTER_CLOSE"}

// String is the type's name in Node's MessageType.
func (t MessageType) String() string {
	if t > 0 && int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "MessageType(" + strconv.Itoa(int(t)) + ")"
}

// IsResponse reports whether t is an answer to a request, which a broker
// sends with PublishResponse.
func (t MessageType) IsResponse() bool {
	switch t {
	case FetchSocketsResponse, ServerSideEmitResponse, BroadcastClientCount, BroadcastAck:
		return true
	}
	return false
}

// Message is one cluster message: Node's ClusterMessage or
// ClusterResponse. Data holds what JSON or msgpack decoding gives (maps,
// slices, strings, numbers, booleans, nil) and []byte for binary.
type Message struct {
	UID  string // the sending adapter's id; "emitter" for an emitter
	Nsp  string
	Type MessageType
	Data map[string]any // nil for heartbeats and ADAPTER_CLOSE
}

// ErrBadMessage is returned for bytes that are not a cluster message.
var ErrBadMessage = errors.New("cluster: malformed message")

// wire is m as Node writes it, data left out when there is none.
func (m *Message) wire() map[string]any {
	v := map[string]any{"uid": m.UID, "nsp": m.Nsp, "type": int(m.Type)}
	if m.Data != nil {
		v["data"] = m.Data
	}
	return v
}

// JSON is m as JSON.stringify writes it: {"uid","nsp","type","data"}, no
// HTML escaping. Binary would become base64 strings: brokers that frame
// messages as JSON check HasBinary first.
func (m *Message) JSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m.wire()); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// Msgpack is m as @msgpack/msgpack's encode writes it; binary stays
// binary.
func (m *Message) Msgpack() ([]byte, error) { return mpack.Encode(m.wire()) }

// HasBinary reports whether m's data holds a []byte, as Node's hasBinary.
func (m *Message) HasBinary() bool { return hasBinary(m.Data, 0) }

func hasBinary(v any, depth int) bool {
	if depth > 1000 {
		return false
	}
	switch x := v.(type) {
	case []byte:
		return true
	case []any:
		for _, e := range x {
			if hasBinary(e, depth+1) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if hasBinary(e, depth+1) {
				return true
			}
		}
	}
	return false
}

// DecodeJSON reads a message another node wrote as JSON.
func DecodeJSON(b []byte) (*Message, error) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	return fromWire(v)
}

// DecodeMsgpack reads a message another node wrote as msgpack; nesting and
// lengths are checked before decoding.
func DecodeMsgpack(b []byte) (*Message, error) {
	v, err := mpack.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	return fromWire(v)
}

func fromWire(v any) (*Message, error) {
	mv, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: not an object", ErrBadMessage)
	}
	t, ok := num.Int64(mv["type"])
	if !ok || t < int64(InitialHeartbeat) || t > int64(AdapterClose) {
		return nil, fmt.Errorf("%w: type %v", ErrBadMessage, mv["type"])
	}
	m := &Message{Type: MessageType(t)}
	m.UID, _ = mv["uid"].(string)
	m.Nsp, _ = mv["nsp"].(string)
	if d, present := mv["data"]; present && d != nil {
		if m.Data, ok = d.(map[string]any); !ok {
			return nil, fmt.Errorf("%w: data is not an object", ErrBadMessage)
		}
	}
	return m, nil
}
