package server

import (
	"bytes"
	"encoding/json"

	"github.com/siogo/siogo/internal/mpack"
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
		if err := mpack.Check(data, d.p.maxDepth()); err != nil {
			return nil, invalid("%v", err)
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
		if _, undef := m[k].(mpack.Undefined); undef {
			delete(m, k)
		}
	}
	mpack.DropUndefined(m)
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
