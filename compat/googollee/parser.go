package socketio

import (
	"bytes"
	"encoding/json"

	"github.com/siogo/siogo/server"
)

// rawArg is one argument of an event or acknowledgement as its JSON text,
// so that it is decoded straight into the handler's declared type, as
// googollee decodes: int64 keeps every digit, json.RawMessage its bytes.
type rawArg []byte

// rawParser is siogo's JSON parser, whose decoder keeps each argument of
// a text packet as its JSON text. Binary packets keep their decoded
// values, attachments as []byte.
type rawParser struct{ server.JSONParser }

func (p rawParser) NewDecoder() server.Decoder {
	return &rawDecoder{inner: p.JSONParser.NewDecoder()}
}

type rawDecoder struct{ inner server.Decoder }

func (d *rawDecoder) Add(data []byte, binary bool) (*server.Packet, error) {
	p, err := d.inner.Add(data, binary)
	if err != nil || p == nil || binary || (p.Type != server.PacketEvent && p.Type != server.PacketAck) {
		return p, err
	}
	args, ok := p.Data.([]any)
	if !ok {
		return p, nil
	}
	elems := splitArray(payloadOf(data))
	if len(elems) != len(args) {
		return p, nil
	}
	out := make([]any, len(args))
	for i := range args {
		if i == 0 && p.Type == server.PacketEvent {
			out[0] = args[0] // the event's name
			continue
		}
		out[i] = rawArg(elems[i])
	}
	p.Data = out
	return p, nil
}

// payloadOf skips the header of a text packet (type, namespace, ack id),
// which the inner decoder has already checked.
func payloadOf(s []byte) []byte {
	i := 1
	if i < len(s) && s[i] == '/' {
		for i < len(s) && s[i] != ',' {
			i++
		}
		i++
	}
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i > len(s) {
		return nil
	}
	return s[i:]
}

// splitArray returns the JSON texts of the elements of the array b
// (copies), or nil.
func splitArray(b []byte) []json.RawMessage {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return nil
	}
	var out []json.RawMessage
	for dec.More() {
		var r json.RawMessage
		if err := dec.Decode(&r); err != nil {
			return nil
		}
		out = append(out, r)
	}
	return out
}
