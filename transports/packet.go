package transports

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
)

// PacketType is the Engine.IO packet type, the first character of a
// packet on the wire.
type PacketType byte

// The Engine.IO packet types, identical in protocols 3 and 4.
const (
	PacketOpen PacketType = iota
	PacketClose
	PacketPing
	PacketPong
	PacketMessage
	PacketUpgrade
	PacketNoop
)

var packetTypeNames = [...]string{"open", "close", "ping", "pong", "message", "upgrade", "noop"}

func (t PacketType) String() string {
	if int(t) < len(packetTypeNames) {
		return packetTypeNames[t]
	}
	return fmt.Sprintf("PacketType(%d)", byte(t))
}

// Packet is one Engine.IO packet. Binary is meaningful for messages only: it
// says whether Data travels as a binary frame (or base64 over polling).
type Packet struct {
	Type   PacketType
	Data   []byte
	Binary bool
	// NoCompress asks that this packet not be compressed (Socket.IO's
	// compress(false)); it has no meaning on the wire.
	NoCompress bool
}

// ErrMalformed reports a packet or payload that does not follow the protocol.
var ErrMalformed = errors.New("engine.io: malformed packet")

// The v4 payload separator: the ASCII record separator.
const recordSeparator = 0x1e

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// AppendTextPacket appends the text form of p (its type digit then its data)
// as a WebSocket text frame of either protocol carries it. A binary message
// has no text form here; see AppendPollingPacketV4 and the v3 encoders.
func AppendTextPacket(dst []byte, p Packet) []byte {
	dst = append(dst, '0'+byte(p.Type))
	return append(dst, p.Data...)
}

// AppendPollingPacketV4 appends p as it appears inside a v4 polling payload:
// text packets as their type digit and data, binary messages as 'b' followed
// by the standard base64 of the data.
func AppendPollingPacketV4(dst []byte, p Packet) []byte {
	if p.Binary {
		dst = append(dst, 'b')
		return base64.StdEncoding.AppendEncode(dst, p.Data)
	}
	return AppendTextPacket(dst, p)
}

// EncodePayloadV4 appends the v4 polling payload of pkts: the packets joined
// by the record separator.
func EncodePayloadV4(dst []byte, pkts []Packet) []byte {
	for i, p := range pkts {
		if i > 0 {
			dst = append(dst, recordSeparator)
		}
		dst = AppendPollingPacketV4(dst, p)
	}
	return dst
}

// DecodeTextPacket decodes a packet in its text form: a WebSocket text frame
// of either protocol. The returned Data aliases b.
func DecodeTextPacket(b []byte) (Packet, error) {
	if len(b) == 0 {
		return Packet{}, malformed("empty packet")
	}
	t := b[0] - '0'
	if t > byte(PacketNoop) {
		return Packet{}, malformed("unknown packet type %q", b[0])
	}
	return Packet{Type: PacketType(t), Data: b[1:]}, nil
}

// DecodeTextFrameV4 decodes a v4 WebSocket text frame: a packet in text
// form, or a binary message as 'b' and base64 (a client with forceBase64).
func DecodeTextFrameV4(b []byte) (Packet, error) { return decodePollingPacketV4(b) }

// decodePollingPacketV4 decodes one element of a v4 polling payload.
func decodePollingPacketV4(b []byte) (Packet, error) {
	if len(b) > 0 && b[0] == 'b' {
		data, err := base64.StdEncoding.AppendDecode(nil, b[1:])
		if err != nil {
			return Packet{}, malformed("bad base64: %v", err)
		}
		return Packet{Type: PacketMessage, Data: data, Binary: true}, nil
	}
	return DecodeTextPacket(b)
}

// DecodePayloadV4 decodes a v4 polling payload. Text packets alias body;
// binary ones are freshly decoded. It stops at maxPackets packets.
func DecodePayloadV4(body []byte, maxPackets int) ([]Packet, error) {
	if len(body) == 0 {
		return nil, malformed("empty payload")
	}
	var pkts []Packet
	for len(body) > 0 || len(pkts) == 0 {
		if maxPackets > 0 && len(pkts) >= maxPackets {
			return nil, malformed("more than %d packets in one payload", maxPackets)
		}
		i := bytes.IndexByte(body, recordSeparator)
		var part []byte
		if i < 0 {
			part, body = body, nil
		} else {
			part, body = body[:i], body[i+1:]
			if len(body) == 0 {
				return nil, malformed("payload ends with a separator")
			}
		}
		p, err := decodePollingPacketV4(part)
		if err != nil {
			return nil, err
		}
		pkts = append(pkts, p)
	}
	return pkts, nil
}
