package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/siogo/siogo/transports"
)

// PacketType is a Socket.IO packet type.
type PacketType byte

// The Socket.IO packet types. ConnectError is ERROR in protocol 4.
const (
	PacketConnect PacketType = iota
	PacketDisconnect
	PacketEvent
	PacketAck
	PacketConnectError
	PacketBinaryEvent
	PacketBinaryAck
)

// Packet is one Socket.IO packet. Data holds, decoded, what follows the
// header: for events the array [name, args...], for acks the array of
// arguments. Binary attachments appear in Data as []byte.
type Packet struct {
	Type PacketType
	Nsp  string
	// ID is the acknowledgement id; HasID says whether there is one.
	ID    uint64
	HasID bool
	Data  any
}

// ErrInvalidPacket reports a packet that does not follow the protocol.
var ErrInvalidPacket = errors.New("socket.io: invalid packet")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidPacket}, args...)...)
}

// Parser turns packets into Engine.IO messages and back. The default is
// JSONParser; a msgpack parser can replace it, on both sides.
type Parser interface {
	// Encode returns the Engine.IO messages that carry p. The result may be
	// shared between many sessions and must not be changed.
	Encode(p *Packet) ([]transports.Packet, error)
	// NewDecoder returns the decoder of one connection.
	NewDecoder() Decoder
}

// Decoder reassembles packets from one connection's messages.
type Decoder interface {
	// Add takes one Engine.IO message and returns a packet once one is
	// complete (a binary packet waits for its attachments), else nil.
	Add(data []byte, binary bool) (*Packet, error)
}

// JSONParser is the default parser of socket.io-parser: a text message per
// packet, binary attachments as separate binary messages in place of
// {"_placeholder":true,"num":N}.
type JSONParser struct {
	// MaxAttachments bounds the attachments of one packet. Default 10, as
	// socket.io-parser.
	MaxAttachments int
	// MaxDepth bounds the nesting of arguments. Default 1000.
	MaxDepth int
}

func (p JSONParser) maxAttachments() int {
	if p.MaxAttachments > 0 {
		return p.MaxAttachments
	}
	return 10
}

func (p JSONParser) maxDepth() int {
	if p.MaxDepth > 0 {
		return p.MaxDepth
	}
	return 1000
}

// Encode implements Parser.
func (p JSONParser) Encode(pkt *Packet) ([]transports.Packet, error) {
	var attachments [][]byte
	data := pkt.Data
	typ := pkt.Type
	if data != nil && (typ == PacketEvent || typ == PacketAck || typ == PacketBinaryEvent || typ == PacketBinaryAck) {
		if out, ok := p.encodeFlat(pkt); ok {
			return out, nil
		}
		var err error
		data, attachments, err = deconstruct(data, nil, 0, p.maxDepth())
		if err != nil {
			return nil, err
		}
		switch {
		case len(attachments) > 0 && typ == PacketEvent:
			typ = PacketBinaryEvent
		case len(attachments) > 0 && typ == PacketAck:
			typ = PacketBinaryAck
		case len(attachments) == 0 && typ == PacketBinaryEvent:
			typ = PacketEvent
		case len(attachments) == 0 && typ == PacketBinaryAck:
			typ = PacketAck
		}
	}
	b := make([]byte, 0, 64)
	b = append(b, '0'+byte(typ))
	if typ == PacketBinaryEvent || typ == PacketBinaryAck {
		b = strconv.AppendInt(b, int64(len(attachments)), 10)
		b = append(b, '-')
	}
	if pkt.Nsp != "" && pkt.Nsp != "/" {
		b = append(b, pkt.Nsp...)
		b = append(b, ',')
	}
	if pkt.HasID {
		b = strconv.AppendUint(b, pkt.ID, 10)
	}
	if data != nil {
		var err error
		if b, err = appendJSON(b, data); err != nil {
			return nil, err
		}
	}
	out := make([]transports.Packet, 1+len(attachments))
	out[0] = transports.Packet{Type: transports.PacketMessage, Data: b}
	for i, a := range attachments {
		out[1+i] = transports.Packet{Type: transports.PacketMessage, Data: a, Binary: true}
	}
	return out, nil
}

// encodeFlat encodes an event or an ack whose arguments carry no binary,
// in one pass (deconstruct would find nothing to take out): it reports
// false for the arguments Encode must deconstruct, or whose encoding
// fails, so that Encode says why.
func (p JSONParser) encodeFlat(pkt *Packet) ([]transports.Packet, bool) {
	typ := pkt.Type
	switch typ {
	case PacketBinaryEvent:
		typ = PacketEvent
	case PacketBinaryAck:
		typ = PacketAck
	}
	b := make([]byte, 0, 64)
	b = append(b, '0'+byte(typ))
	if pkt.Nsp != "" && pkt.Nsp != "/" {
		b = append(b, pkt.Nsp...)
		b = append(b, ',')
	}
	if pkt.HasID {
		b = strconv.AppendUint(b, pkt.ID, 10)
	}
	b, err := appendJSONArgs(b, pkt.Data, 0, p.maxDepth())
	if err != nil {
		return nil, false
	}
	return []transports.Packet{{Type: transports.PacketMessage, Data: b}}, true
}

// appendJSON appends v as JSON, without Go's HTML escaping, as
// JSON.stringify writes it.
func appendJSON(b []byte, v any) ([]byte, error) {
	if out, err := appendJSONValue(b, v); err == nil {
		return out, nil
	}
	buf := bytes.NewBuffer(b)
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("socket.io: encoding arguments: %w", err)
	}
	out := buf.Bytes()
	return out[:len(out)-1], nil // Encode adds a newline
}

// deconstruct replaces every []byte in v with a placeholder, collecting
// the bytes. It looks into []any and map[string]any, and copies what it
// changes: the caller's values are left alone.
func deconstruct(v any, atts [][]byte, depth, max int) (any, [][]byte, error) {
	if depth > max {
		return nil, nil, fmt.Errorf("socket.io: arguments nested deeper than %d", max)
	}
	switch x := v.(type) {
	case []byte:
		ph := map[string]any{"_placeholder": true, "num": len(atts)}
		return ph, append(atts, x), nil
	case []any:
		var out []any
		for i, e := range x {
			ne, na, err := deconstruct(e, atts, depth+1, max)
			if err != nil {
				return nil, nil, err
			}
			if len(na) != len(atts) && out == nil {
				out = slices.Clone(x)
			}
			atts = na
			if out != nil {
				out[i] = ne
			}
		}
		if out != nil {
			return out, atts, nil
		}
		return x, atts, nil
	case map[string]any:
		var out map[string]any
		for k, e := range x {
			ne, na, err := deconstruct(e, atts, depth+1, max)
			if err != nil {
				return nil, nil, err
			}
			if len(na) != len(atts) {
				if out == nil {
					out = make(map[string]any, len(x))
					for k2, e2 := range x {
						out[k2] = e2
					}
				}
				out[k] = ne
			}
			atts = na
		}
		if out != nil {
			return out, atts, nil
		}
		return x, atts, nil
	}
	return v, atts, nil
}

// NewDecoder implements Parser.
func (p JSONParser) NewDecoder() Decoder { return &jsonDecoder{p: p} }

type jsonDecoder struct {
	p       JSONParser
	pending *Packet
	want    int
	buffers [][]byte
}

func (d *jsonDecoder) Add(data []byte, binary bool) (*Packet, error) {
	if binary {
		if d.pending == nil {
			return nil, invalid("got binary data when not reconstructing a packet")
		}
		d.buffers = append(d.buffers, bytes.Clone(data))
		if len(d.buffers) < d.want {
			return nil, nil
		}
		pkt, buffers := d.pending, d.buffers
		d.pending, d.buffers = nil, nil
		var err error
		if pkt.Data, err = reconstruct(pkt.Data, buffers, 0, d.p.maxDepth()); err != nil {
			return nil, err
		}
		return pkt, nil
	}
	if d.pending != nil {
		return nil, invalid("got plaintext data when reconstructing a packet")
	}
	pkt, n, err := d.decodeString(data)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		d.pending, d.want = pkt, n
		return nil, nil
	}
	return pkt, nil
}

// decodeString decodes the text of a packet and returns the number of
// attachments still to come.
func (d *jsonDecoder) decodeString(s []byte) (*Packet, int, error) {
	if len(s) == 0 || s[0] < '0' || s[0] > '0'+byte(PacketBinaryAck) {
		return nil, 0, invalid("unknown packet type")
	}
	p := &Packet{Type: PacketType(s[0] - '0'), Nsp: "/"}
	i := 1
	attachments := 0
	if p.Type == PacketBinaryEvent || p.Type == PacketBinaryAck {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' && i-start < 10 {
			i++
		}
		if i == start || i >= len(s) || s[i] != '-' {
			return nil, 0, invalid("illegal attachments")
		}
		n, _ := strconv.Atoi(string(s[start:i]))
		if n < 1 {
			return nil, 0, invalid("illegal attachments")
		}
		if n > d.p.maxAttachments() {
			return nil, 0, invalid("too many attachments")
		}
		attachments = n
		i++
	}
	if i < len(s) && s[i] == '/' {
		start := i
		for i < len(s) && s[i] != ',' {
			i++
		}
		p.Nsp = string(s[start:i])
		if i < len(s) {
			i++ // the comma
		}
	}
	if i < len(s) && s[i] >= '0' && s[i] <= '9' {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		id, err := strconv.ParseUint(string(s[start:i]), 10, 64)
		if err != nil {
			return nil, 0, invalid("bad ack id")
		}
		p.ID, p.HasID = id, true
	}
	if i < len(s) {
		if jsonDeeper(s[i:], d.p.maxDepth()) {
			return nil, 0, invalid("payload nested deeper than %d", d.p.maxDepth())
		}
		v, err := decodeJSON(s[i:])
		if err != nil {
			return nil, 0, invalid("bad JSON payload")
		}
		p.Data = v
	}
	if !payloadValid(p.Type, p.Data) {
		return nil, 0, invalid("invalid payload")
	}
	return p, attachments, nil
}

// jsonDeeper reports whether the JSON text b nests arrays and objects more
// than max deep, in one pass before it is decoded.
func jsonDeeper(b []byte, max int) bool {
	depth := 0
	inString, escaped := false, false
	for _, c := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth > max {
				return true
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	return false
}

// The event names that have a meaning of their own and that a client may
// not emit.
var reservedEvents = []string{"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}

func payloadValid(t PacketType, data any) bool {
	switch t {
	case PacketConnect:
		_, ok := data.(map[string]any)
		return data == nil || ok
	case PacketDisconnect:
		return data == nil
	case PacketConnectError:
		switch data.(type) {
		case string, map[string]any:
			return true
		}
		return false
	case PacketEvent, PacketBinaryEvent:
		a, ok := data.([]any)
		if !ok || len(a) == 0 {
			return false
		}
		switch name := a[0].(type) {
		case float64:
			return true
		case string:
			return !slices.Contains(reservedEvents, name)
		}
		return false
	case PacketAck, PacketBinaryAck:
		_, ok := data.([]any)
		return ok
	}
	return false
}

// reconstruct puts the attachments back in place of their placeholders.
func reconstruct(v any, buffers [][]byte, depth, max int) (any, error) {
	if depth > max {
		return nil, invalid("payload nested deeper than %d", max)
	}
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			ne, err := reconstruct(e, buffers, depth+1, max)
			if err != nil {
				return nil, err
			}
			x[i] = ne
		}
	case map[string]any:
		if ph, ok := x["_placeholder"].(bool); ok && ph {
			num, ok := x["num"].(float64)
			if !ok || num < 0 || num >= float64(len(buffers)) || num != float64(int(num)) {
				return nil, invalid("illegal attachments")
			}
			return buffers[int(num)], nil
		}
		for k, e := range x {
			ne, err := reconstruct(e, buffers, depth+1, max)
			if err != nil {
				return nil, err
			}
			x[k] = ne
		}
	}
	return v, nil
}
