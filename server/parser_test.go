package server

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/siogo/siogo/transports"
)

func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		p    Packet
		want []string // the text message, then attachments
	}{
		{"connect v5", Packet{Type: PacketConnect, Data: map[string]any{"sid": "abc"}}, []string{`0{"sid":"abc"}`}},
		{"connect v4", Packet{Type: PacketConnect}, []string{`0`}},
		{"connect nsp", Packet{Type: PacketConnect, Nsp: "/chat"}, []string{`0/chat,`}},
		{"disconnect", Packet{Type: PacketDisconnect, Nsp: "/chat"}, []string{`1/chat,`}},
		{"event", Packet{Type: PacketEvent, Data: []any{"msg", "hi", 1}}, []string{`2["msg","hi",1]`}},
		{"event no html escaping", Packet{Type: PacketEvent, Data: []any{"<&>"}}, []string{`2["<&>"]`}},
		{"event with ack", Packet{Type: PacketEvent, Nsp: "/a", ID: 12, HasID: true, Data: []any{"x"}}, []string{`2/a,12["x"]`}},
		{"ack", Packet{Type: PacketAck, ID: 3, HasID: true, Data: []any{}}, []string{`33[]`}},
		{"connect error", Packet{Type: PacketConnectError, Nsp: "/x", Data: map[string]any{"message": "Invalid namespace"}}, []string{`4/x,{"message":"Invalid namespace"}`}},
		{"binary event", Packet{Type: PacketEvent, Data: []any{"b", []byte{1, 2}, map[string]any{"k": []byte{3}}}},
			[]string{`52-["b",{"_placeholder":true,"num":0},{"k":{"_placeholder":true,"num":1}}]`, "\x01\x02", "\x03"}},
		{"binary ack", Packet{Type: PacketAck, Nsp: "/n", ID: 7, HasID: true, Data: []any{[]byte("z")}}, []string{`61-/n,7[{"_placeholder":true,"num":0}]`, "z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkts, err := JSONParser{}.Encode(&tt.p)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i, p := range pkts {
				if p.Binary != (i > 0) {
					t.Fatalf("message %d binary=%v", i, p.Binary)
				}
				got = append(got, string(p.Data))
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
	// The caller's arguments are not changed by the placeholders.
	arg := map[string]any{"k": []byte{1}}
	if _, err := (JSONParser{}).Encode(&Packet{Type: PacketEvent, Data: []any{"e", arg}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := arg["k"].([]byte); !ok {
		t.Fatal("Encode changed the caller's map")
	}
}

func decodeAll(t *testing.T, msgs ...transports.Packet) (*Packet, error) {
	t.Helper()
	d := JSONParser{}.NewDecoder()
	var last *Packet
	for _, m := range msgs {
		p, err := d.Add(m.Data, m.Binary)
		if err != nil {
			return nil, err
		}
		last = p
	}
	return last, nil
}

func txt(s string) transports.Packet  { return transports.Packet{Data: []byte(s)} }
func bin(b ...byte) transports.Packet { return transports.Packet{Data: b, Binary: true} }

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		msgs []transports.Packet
		want Packet
	}{
		{"connect", []transports.Packet{txt(`0`)}, Packet{Type: PacketConnect, Nsp: "/"}},
		{"connect auth", []transports.Packet{txt(`0/admin,{"token":"t"}`)}, Packet{Type: PacketConnect, Nsp: "/admin", Data: map[string]any{"token": "t"}}},
		{"connect v4 query", []transports.Packet{txt(`0/chat?x=1,`)}, Packet{Type: PacketConnect, Nsp: "/chat?x=1"}},
		{"nsp without comma", []transports.Packet{txt(`1/chat`)}, Packet{Type: PacketDisconnect, Nsp: "/chat"}},
		{"event", []transports.Packet{txt(`2["a",1,{"b":null}]`)}, Packet{Type: PacketEvent, Nsp: "/", Data: []any{"a", 1.0, map[string]any{"b": nil}}}},
		{"numeric event name", []transports.Packet{txt(`2[1]`)}, Packet{Type: PacketEvent, Nsp: "/", Data: []any{1.0}}},
		{"event with id", []transports.Packet{txt(`2/x,42["a"]`)}, Packet{Type: PacketEvent, Nsp: "/x", ID: 42, HasID: true, Data: []any{"a"}}},
		{"ack", []transports.Packet{txt(`31["ok"]`)}, Packet{Type: PacketAck, Nsp: "/", ID: 1, HasID: true, Data: []any{"ok"}}},
		{"binary event", []transports.Packet{txt(`52-["b",{"_placeholder":true,"num":1},[{"_placeholder":true,"num":0}]]`), bin(1), bin(2, 3)},
			Packet{Type: PacketBinaryEvent, Nsp: "/", Data: []any{"b", []byte{2, 3}, []any{[]byte{1}}}}},
		{"binary ack", []transports.Packet{txt(`61-/n,9[{"_placeholder":true,"num":0}]`), bin(7)},
			Packet{Type: PacketBinaryAck, Nsp: "/n", ID: 9, HasID: true, Data: []any{[]byte{7}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeAll(t, tt.msgs...)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.want) {
				t.Fatalf("got %#v, want %#v", *got, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	deep := "2[\"e\"," + strings.Repeat("[", 1500) + strings.Repeat("]", 1500) + "]"
	deepBinary := `51-["e",` + strings.Repeat("[", 1500) + `{"_placeholder":true,"num":0}` + strings.Repeat("]", 1500) + "]"
	tests := []struct {
		name string
		msgs []transports.Packet
	}{
		{"empty", []transports.Packet{txt(``)}},
		{"unknown type", []transports.Packet{txt(`7`)}},
		{"bad json", []transports.Packet{txt(`2["a"`)}},
		{"event not array", []transports.Packet{txt(`2{"a":1}`)}},
		{"empty event", []transports.Packet{txt(`2[]`)}},
		{"reserved event", []transports.Packet{txt(`2["disconnect"]`)}},
		{"event name object", []transports.Packet{txt(`2[{}]`)}},
		{"disconnect with data", []transports.Packet{txt(`1"x"`)}},
		{"connect with array", []transports.Packet{txt(`0[]`)}},
		{"ack not array", []transports.Packet{txt(`31"x"`)}},
		{"attachments missing dash", []transports.Packet{txt(`51["a"]`)}},
		{"zero attachments", []transports.Packet{txt(`50-["a"]`)}},
		{"too many attachments", []transports.Packet{txt(`511-["a"]`)}},
		{"huge id", []transports.Packet{txt(`2999999999999999999999["a"]`)}},
		{"binary unexpected", []transports.Packet{bin(1)}},
		{"text while reconstructing", []transports.Packet{txt(`51-["a",{"_placeholder":true,"num":0}]`), txt(`2["b"]`)}},
		{"placeholder out of range", []transports.Packet{txt(`51-["a",{"_placeholder":true,"num":1}]`), bin(1)}},
		{"placeholder negative", []transports.Packet{txt(`51-["a",{"_placeholder":true,"num":-1}]`), bin(1)}},
		{"placeholder fraction", []transports.Packet{txt(`51-["a",{"_placeholder":true,"num":0.5}]`), bin(1)}},
		{"placeholder string", []transports.Packet{txt(`51-["a",{"_placeholder":true,"num":"0"}]`), bin(1)}},
		{"too deep", []transports.Packet{txt(deep)}},
		{"too deep binary", []transports.Packet{txt(deepBinary), bin(1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeAll(t, tt.msgs...); !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("got %v, want ErrInvalidPacket", err)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{`0`, `0/admin,{"token":"t"}`, `2["a",1]`, `2/x,42["a"]`, `31["ok"]`,
		`51-["b",{"_placeholder":true,"num":0}]`, `61-/n,9[{"_placeholder":true,"num":0}]`, `4{"message":"m"}`, `1/chat,`} {
		f.Add([]byte(s), []byte{1, 2})
	}
	f.Fuzz(func(t *testing.T, text, attachment []byte) {
		d := JSONParser{}.NewDecoder()
		p, err := d.Add(text, false)
		if err != nil {
			return
		}
		for p == nil {
			if p, err = d.Add(attachment, true); err != nil {
				return
			}
		}
		// What decodes encodes, and decodes again to the same packet.
		pkts, err := JSONParser{}.Encode(p)
		if err != nil {
			t.Fatalf("encode of %#v: %v", p, err)
		}
		again, err := decodeAll(t, pkts...)
		if err != nil {
			t.Fatalf("re-decode of %q: %v", pkts[0].Data, err)
		}
		if again.Type != PacketConnect && !reflect.DeepEqual(again.Data, p.Data) {
			t.Fatalf("round trip: %#v != %#v", again.Data, p.Data)
		}
	})
}
