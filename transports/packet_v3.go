package transports

import (
	"encoding/base64"
	"strconv"
	"unicode/utf8"
)

// Protocol 3 (engine.io 3.x, socket.io-client 2.x) frames and payloads.
//
// Over WebSocket a v3 binary message is a binary frame whose first byte is the
// packet type. Over polling there are two payload forms: the string payload,
// where each packet is prefixed by its length in UTF-16 code units (the
// JavaScript string length) and a colon, binary packets as "b4"+base64; and
// the binary payload (application/octet-stream), used when the client can
// take binary and a packet is binary, where each packet is prefixed by a
// kind byte (0 string, 1 binary), its byte length as one byte per decimal
// digit, and 0xFF.

// maxLengthDigits bounds the length prefix of a v3 payload entry: ten digits
// already exceed any payload siogo accepts.
const maxLengthDigits = 10

// AppendBinaryFrameV3 appends p as a v3 WebSocket binary frame: the type byte
// then the data.
func AppendBinaryFrameV3(dst []byte, p Packet) []byte {
	dst = append(dst, byte(p.Type))
	return append(dst, p.Data...)
}

// DecodeBinaryFrameV3 decodes a v3 WebSocket binary frame. Data aliases b.
func DecodeBinaryFrameV3(b []byte) (Packet, error) {
	if len(b) == 0 {
		return Packet{}, malformed("empty binary frame")
	}
	if b[0] > byte(PacketNoop) {
		return Packet{}, malformed("unknown packet type %d in binary frame", b[0])
	}
	return Packet{Type: PacketType(b[0]), Data: b[1:], Binary: true}, nil
}

// utf16Len is the length of b in UTF-16 code units, as JavaScript counts a
// string. An invalid byte decodes to U+FFFD, one unit, as Node's decoder does.
func utf16Len(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
		i += size
	}
	return n
}

// utf16Prefix returns the number of bytes of b that hold its first n UTF-16
// code units, or false when b is shorter or the cut would split a
// surrogate pair.
func utf16Prefix(b []byte, n int) (int, bool) {
	i := 0
	for n > 0 {
		if i >= len(b) {
			return 0, false
		}
		c := b[i]
		if c < utf8.RuneSelf {
			i++
			n--
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		units := 1
		if r >= 0x10000 {
			units = 2
		}
		if units > n {
			return 0, false
		}
		i += size
		n -= units
	}
	return i, true
}

// v3StringPacketLen is the JavaScript length of p's v3 string form.
func v3StringPacketLen(p Packet) int {
	if p.Binary {
		return 2 + base64.StdEncoding.EncodedLen(len(p.Data))
	}
	return 1 + utf16Len(p.Data)
}

// appendV3StringPacket appends p's v3 string form: text as type digit and
// data, binary as 'b', type digit and base64.
func appendV3StringPacket(dst []byte, p Packet) []byte {
	if p.Binary {
		dst = append(dst, 'b', '0'+byte(p.Type))
		return base64.StdEncoding.AppendEncode(dst, p.Data)
	}
	return AppendTextPacket(dst, p)
}

// EncodeStringPayloadV3 appends the v3 string payload of pkts.
func EncodeStringPayloadV3(dst []byte, pkts []Packet) []byte {
	for _, p := range pkts {
		dst = strconv.AppendInt(dst, int64(v3StringPacketLen(p)), 10)
		dst = append(dst, ':')
		dst = appendV3StringPacket(dst, p)
	}
	return dst
}

// decodeV3StringPacket decodes a packet in v3 string form. Text data aliases b.
func decodeV3StringPacket(b []byte) (Packet, error) {
	if len(b) > 0 && b[0] == 'b' {
		if len(b) < 2 || b[1] < '0' || b[1] > '0'+byte(PacketNoop) {
			return Packet{}, malformed("bad base64 packet type")
		}
		data, err := base64.StdEncoding.AppendDecode(nil, b[2:])
		if err != nil {
			return Packet{}, malformed("bad base64: %v", err)
		}
		return Packet{Type: PacketType(b[1] - '0'), Data: data, Binary: true}, nil
	}
	return DecodeTextPacket(b)
}

// DecodeTextFrameV3 decodes a v3 WebSocket text frame: a packet in text
// form, or a binary one as 'b', its type digit and base64 (a client with
// forceBase64).
func DecodeTextFrameV3(b []byte) (Packet, error) { return decodeV3StringPacket(b) }

// DecodeStringPayloadV3 decodes a v3 string payload, stopping at maxPackets.
func DecodeStringPayloadV3(body []byte, maxPackets int) ([]Packet, error) {
	if len(body) == 0 {
		return nil, malformed("empty payload")
	}
	var pkts []Packet
	for len(body) > 0 {
		if maxPackets > 0 && len(pkts) >= maxPackets {
			return nil, malformed("more than %d packets in one payload", maxPackets)
		}
		colon := -1
		for i := 0; i < len(body) && i <= maxLengthDigits; i++ {
			if body[i] == ':' {
				colon = i
				break
			}
			if body[i] < '0' || body[i] > '9' {
				return nil, malformed("bad length prefix")
			}
		}
		if colon <= 0 {
			return nil, malformed("bad length prefix")
		}
		n, _ := strconv.Atoi(string(body[:colon]))
		body = body[colon+1:]
		size, ok := utf16Prefix(body, n)
		if !ok {
			return nil, malformed("payload shorter than its length prefix")
		}
		if n == 0 {
			// Node skips empty entries; so does siogo.
			continue
		}
		p, err := decodeV3StringPacket(body[:size])
		if err != nil {
			return nil, err
		}
		pkts = append(pkts, p)
		body = body[size:]
	}
	if len(pkts) == 0 {
		return nil, malformed("payload holds no packet")
	}
	return pkts, nil
}

// appendDigitBytes appends n as one byte per decimal digit (3 -> 0x03).
func appendDigitBytes(dst []byte, n int) []byte {
	start := len(dst)
	dst = strconv.AppendInt(dst, int64(n), 10)
	for i := start; i < len(dst); i++ {
		dst[i] -= '0'
	}
	return dst
}

// EncodeBinaryPayloadV3 appends the v3 binary payload of pkts.
func EncodeBinaryPayloadV3(dst []byte, pkts []Packet) []byte {
	for _, p := range pkts {
		if p.Binary {
			dst = append(dst, 1)
			dst = appendDigitBytes(dst, 1+len(p.Data))
			dst = append(dst, 0xff)
			dst = AppendBinaryFrameV3(dst, p)
			continue
		}
		dst = append(dst, 0)
		dst = appendDigitBytes(dst, 1+len(p.Data))
		dst = append(dst, 0xff)
		dst = AppendTextPacket(dst, p)
	}
	return dst
}

// DecodeBinaryPayloadV3 decodes a v3 binary payload, stopping at maxPackets.
// Data aliases body.
func DecodeBinaryPayloadV3(body []byte, maxPackets int) ([]Packet, error) {
	if len(body) == 0 {
		return nil, malformed("empty payload")
	}
	var pkts []Packet
	for len(body) > 0 {
		if maxPackets > 0 && len(pkts) >= maxPackets {
			return nil, malformed("more than %d packets in one payload", maxPackets)
		}
		kind := body[0]
		if kind > 1 {
			return nil, malformed("bad binary payload kind %d", kind)
		}
		n, i := 0, 1
		for ; i < len(body) && body[i] != 0xff; i++ {
			if body[i] > 9 || i > maxLengthDigits {
				return nil, malformed("bad binary payload length")
			}
			n = n*10 + int(body[i])
		}
		if i == 1 || i >= len(body) {
			return nil, malformed("bad binary payload length")
		}
		body = body[i+1:]
		if n > len(body) {
			return nil, malformed("payload shorter than its length prefix")
		}
		msg := body[:n]
		body = body[n:]
		var (
			p   Packet
			err error
		)
		if kind == 1 {
			p, err = DecodeBinaryFrameV3(msg)
		} else {
			p, err = decodeV3StringPacket(msg)
		}
		if err != nil {
			return nil, err
		}
		pkts = append(pkts, p)
	}
	return pkts, nil
}

// HasBinary reports whether any packet of pkts is a binary message.
func HasBinary(pkts []Packet) bool {
	for _, p := range pkts {
		if p.Binary {
			return true
		}
	}
	return false
}
