package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"reflect"

	"github.com/siogo/siogo/internal/num"
	"github.com/siogo/siogo/transports"
	"github.com/vmihailenco/msgpack/v5"
)

// MsgpackParser speaks the protocol of the npm socket.io-msgpack-parser:
// each packet is one binary message, the msgpack map {type, data, nsp, id},
// binary values native to msgpack (no attachments). The client must use the
// same parser. Numbers decode to Go integers or floats, as msgpack carried
// them.
type MsgpackParser struct {
	// MaxDepth bounds the nesting of a packet. Default 1000.
	MaxDepth int
}

func (p MsgpackParser) maxDepth() int {
	if p.MaxDepth > 0 {
		return p.MaxDepth
	}
	return 1000
}

// jsUndefined is JavaScript's undefined, which notepack (the npm parser's
// msgpack) writes as the extension 0 with one zero byte. It decodes to nil,
// and a packet's data that is undefined is absent.
type jsUndefined struct{}

func init() {
	// Extension 0 is registered for the whole program: a program that
	// also uses vmihailenco/msgpack with its own extension 0 would clash.
	msgpack.RegisterExtDecoder(0, jsUndefined{}, func(d *msgpack.Decoder, _ reflect.Value, n int) error {
		for i := 0; i < n; i++ {
			if _, err := d.DecodeUint8(); err != nil {
				return err
			}
		}
		return nil
	})
}

// dropUndefined replaces undefined with nil; depth was bounded before.
func dropUndefined(v any) any {
	switch x := v.(type) {
	case jsUndefined:
		return nil
	case []any:
		for i, e := range x {
			x[i] = dropUndefined(e)
		}
	case map[string]any:
		for k, e := range x {
			x[k] = dropUndefined(e)
		}
	}
	return v
}

// Encode implements Parser.
func (p MsgpackParser) Encode(pkt *Packet) ([]transports.Packet, error) {
	t := pkt.Type
	switch t {
	case PacketBinaryEvent:
		t = PacketEvent
	case PacketBinaryAck:
		t = PacketAck
	}
	nsp := pkt.Nsp
	if nsp == "" {
		nsp = "/"
	}
	// The map is written by hand: data is left out only when nil (an empty
	// array of ack arguments must stay), as the npm encoder does.
	n := 2
	if pkt.Data != nil {
		n++
	}
	if pkt.HasID {
		n++
	}
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	err := enc.EncodeMapLen(n)
	for _, step := range []func() error{
		func() error { return enc.EncodeString("type") },
		func() error { return enc.EncodeInt(int64(t)) },
		func() error {
			if pkt.Data == nil {
				return nil
			}
			if err := enc.EncodeString("data"); err != nil {
				return err
			}
			return enc.Encode(pkt.Data)
		},
		func() error { return enc.EncodeString("nsp") },
		func() error { return enc.EncodeString(nsp) },
		func() error {
			if !pkt.HasID {
				return nil
			}
			if err := enc.EncodeString("id"); err != nil {
				return err
			}
			return enc.EncodeUint(pkt.ID)
		},
	} {
		if err == nil {
			err = step()
		}
	}
	if err != nil {
		return nil, err
	}
	return []transports.Packet{{Type: transports.PacketMessage, Data: buf.Bytes(), Binary: true}}, nil
}

// NewDecoder implements Parser.
func (p MsgpackParser) NewDecoder() Decoder { return msgpackDecoder{p} }

type msgpackDecoder struct{ p MsgpackParser }

func (d msgpackDecoder) Add(data []byte, binary bool) (*Packet, error) {
	var v any
	if binary {
		if err := msgpackCheck(data, d.p.maxDepth()); err != nil {
			return nil, err
		}
		if err := msgpack.Unmarshal(data, &v); err != nil {
			return nil, invalid("bad msgpack: %v", err)
		}
	} else {
		// The npm decoder takes text as JSON.
		if jsonDeeper(data, d.p.maxDepth()) {
			return nil, invalid("payload nested deeper than %d", d.p.maxDepth())
		}
		if err := json.Unmarshal(data, &v); err != nil {
			return nil, invalid("bad JSON")
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, invalid("packet is not a map")
	}
	for _, k := range []string{"data", "id"} {
		if _, undef := m[k].(jsUndefined); undef {
			delete(m, k)
		}
	}
	dropUndefined(m)
	typ, ok := num.Int64(m["type"])
	if !ok || typ < int64(PacketConnect) || typ > int64(PacketConnectError) {
		return nil, invalid("invalid packet type")
	}
	nsp, ok := m["nsp"].(string)
	if !ok {
		return nil, invalid("invalid namespace")
	}
	pkt := &Packet{Type: PacketType(typ), Nsp: nsp, Data: m["data"]}
	if raw, present := m["id"]; present && raw != nil {
		id, ok := num.Int64(raw)
		if !ok || id < 0 {
			return nil, invalid("invalid packet id")
		}
		pkt.ID, pkt.HasID = uint64(id), true
	}
	if !payloadValid(pkt.Type, pkt.Data) {
		return nil, invalid("invalid payload")
	}
	return pkt, nil
}

// msgpackCheck walks one msgpack value without recursion and refuses one
// nested deeper than max, truncated, or whose lengths claim more than the
// bytes that follow (which would make the decoder allocate for nothing).
func msgpackCheck(b []byte, max int) error {
	var open []uint64 // items still to read in each open container
	i := 0
	need := func(n uint64) bool { return uint64(len(b)-i) >= n }
	for {
		if i >= len(b) {
			return invalid("truncated msgpack")
		}
		c := b[i]
		i++
		var items uint64 // items of a container just opened
		var skip uint64  // bytes of a scalar's body
		switch {
		case c <= 0x7f || c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3:
		case c >= 0x80 && c <= 0x8f:
			items = 2 * uint64(c&0x0f)
		case c >= 0x90 && c <= 0x9f:
			items = uint64(c & 0x0f)
		case c >= 0xa0 && c <= 0xbf:
			skip = uint64(c & 0x1f)
		default:
			var n int // size of the length field
			switch c {
			case 0xc4, 0xc7, 0xd9:
				n = 1
			case 0xc5, 0xc8, 0xda, 0xdc, 0xde:
				n = 2
			case 0xc6, 0xc9, 0xdb, 0xdd, 0xdf:
				n = 4
			case 0xca, 0xce, 0xd2:
				skip = 4
			case 0xcb, 0xcf, 0xd3:
				skip = 8
			case 0xcc, 0xd0:
				skip = 1
			case 0xcd, 0xd1:
				skip = 2
			case 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
				skip = 1 + 1<<(c-0xd4)
			default:
				return invalid("bad msgpack byte %#x", c)
			}
			if n > 0 {
				if !need(uint64(n)) {
					return invalid("truncated msgpack")
				}
				var l uint64
				switch n {
				case 1:
					l = uint64(b[i])
				case 2:
					l = uint64(binary.BigEndian.Uint16(b[i:]))
				case 4:
					l = uint64(binary.BigEndian.Uint32(b[i:]))
				}
				i += n
				switch c {
				case 0xdc, 0xdd:
					items = l
				case 0xde, 0xdf:
					items = 2 * l
				case 0xc7, 0xc8, 0xc9:
					skip = l + 1 // ext: type byte and data
				default:
					skip = l
				}
			}
		}
		if !need(skip) || !need(items) {
			return invalid("msgpack length past the end")
		}
		i += int(skip)
		if items > 0 {
			open = append(open, items)
			if len(open) > max {
				return invalid("payload nested deeper than %d", max)
			}
			continue
		}
		// A value is complete: close the containers it completes.
		for len(open) > 0 {
			open[len(open)-1]--
			if open[len(open)-1] > 0 {
				break
			}
			open = open[:len(open)-1]
		}
		if len(open) == 0 {
			if i != len(b) {
				return invalid("bytes after the msgpack value")
			}
			return nil
		}
	}
}

// DecodeMsgpack decodes one msgpack value as the msgpack parser does:
// nesting and lengths checked first, JavaScript's undefined as nil. For
// adapters that read messages other nodes wrote with notepack.
func DecodeMsgpack(b []byte) (any, error) {
	if err := msgpackCheck(b, 1000); err != nil {
		return nil, err
	}
	var v any
	if err := msgpack.Unmarshal(b, &v); err != nil {
		return nil, invalid("bad msgpack: %v", err)
	}
	return dropUndefined(v), nil
}

// EncodeMsgpack encodes v as msgpack, struct fields named by their json
// tags, as JSON would name them.
func EncodeMsgpack(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.SetCustomStructTag("json")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
