package server

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestMsgpackRoundTrip(t *testing.T) {
	for _, p := range []Packet{
		{Type: PacketConnect, Nsp: "/", Data: map[string]any{"sid": "abc"}},
		{Type: PacketDisconnect, Nsp: "/chat"},
		{Type: PacketEvent, Nsp: "/", Data: []any{"e", "x", []byte{1, 2}, map[string]any{"k": []byte{3}}}},
		{Type: PacketAck, Nsp: "/", ID: 7, HasID: true, Data: []any{}},
	} {
		pkts, err := MsgpackParser{}.Encode(&p)
		if err != nil || len(pkts) != 1 || !pkts[0].Binary {
			t.Fatalf("encode %+v: %v %v", p, pkts, err)
		}
		got, err := MsgpackParser{}.NewDecoder().Add(pkts[0].Data, true)
		if err != nil {
			t.Fatalf("decode %+v: %v", p, err)
		}
		if !reflect.DeepEqual(*got, p) {
			t.Fatalf("got %#v, want %#v", *got, p)
		}
	}
	// What notepack writes for {type:0, nsp:"/", data: undefined}.
	connect := []byte{0x83, 0xa4, 't', 'y', 'p', 'e', 0x00, 0xa3, 'n', 's', 'p', 0xa1, '/', 0xa4, 'd', 'a', 't', 'a', 0xd4, 0x00, 0x00}
	got, err := MsgpackParser{}.NewDecoder().Add(connect, true)
	if err != nil || got.Type != PacketConnect || got.Data != nil {
		t.Fatalf("notepack connect: %+v %v", got, err)
	}
}

func TestMsgpackErrors(t *testing.T) {
	deep := append(bytes.Repeat([]byte{0x91}, 2000), 0xc0)
	for name, b := range map[string][]byte{
		"empty":          {},
		"not a map":      {0x93, 1, 2, 3},
		"no type":        {0x81, 0xa3, 'n', 's', 'p', 0xa1, '/'},
		"bad type":       {0x82, 0xa4, 't', 'y', 'p', 'e', 0x09, 0xa3, 'n', 's', 'p', 0xa1, '/'},
		"no nsp":         {0x81, 0xa4, 't', 'y', 'p', 'e', 0x02},
		"event no array": {0x83, 0xa4, 't', 'y', 'p', 'e', 0x02, 0xa3, 'n', 's', 'p', 0xa1, '/', 0xa4, 'd', 'a', 't', 'a', 0x01},
		"truncated":      {0x82, 0xa4, 't', 'y'},
		"too deep":       deep,
		"huge array":     {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01},
		"huge string":    {0xdb, 0x7f, 0xff, 0xff, 0xff, 'a'},
		"trailing bytes": {0xc0, 0xc0},
		"reserved byte":  {0xc1},
	} {
		if _, err := (MsgpackParser{}).NewDecoder().Add(b, true); !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("%s: got %v, want ErrInvalidPacket", name, err)
		}
	}
}

func FuzzMsgpackDecode(f *testing.F) {
	for _, p := range []Packet{
		{Type: PacketConnect, Nsp: "/", Data: map[string]any{"sid": "abc"}},
		{Type: PacketEvent, Nsp: "/x", ID: 3, HasID: true, Data: []any{"e", 1.5, []byte{1}, map[string]any{"a": []any{nil, true}}}},
	} {
		pkts, _ := MsgpackParser{}.Encode(&p)
		f.Add(pkts[0].Data)
	}
	f.Add([]byte{0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := MsgpackParser{}.NewDecoder().Add(b, true)
		if err != nil {
			return
		}
		if _, err := (MsgpackParser{}).Encode(p); err != nil {
			t.Fatalf("decoded %#v does not encode: %v", p, err)
		}
	})
}
