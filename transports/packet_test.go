package transports

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func text(t PacketType, s string) Packet { return Packet{Type: t, Data: []byte(s)} }
func bin(b ...byte) Packet               { return Packet{Type: PacketMessage, Data: b, Binary: true} }

// norm makes empty and nil data compare equal.
func norm(pkts []Packet) []Packet {
	out := make([]Packet, len(pkts))
	for i, p := range pkts {
		if len(p.Data) == 0 {
			p.Data = nil
		}
		out[i] = p
	}
	return out
}

func TestPayloadV4(t *testing.T) {
	tests := []struct {
		name string
		pkts []Packet
		wire string
	}{
		{"open", []Packet{text(PacketOpen, `{"sid":"x"}`)}, `0{"sid":"x"}`},
		{"ping", []Packet{{Type: PacketPing}}, "2"},
		{"probe", []Packet{text(PacketPong, "probe")}, "3probe"},
		{"noop", []Packet{{Type: PacketNoop}}, "6"},
		{"message", []Packet{text(PacketMessage, "hello")}, "4hello"},
		{"utf8", []Packet{text(PacketMessage, "€😀")}, "4€😀"},
		{"several", []Packet{text(PacketMessage, "a"), {Type: PacketPing}, text(PacketMessage, "")}, "4a\x1e2\x1e4"},
		{"binary", []Packet{bin(1, 2, 3, 4)}, "bAQIDBA=="},
		{"mixed", []Packet{text(PacketMessage, "x"), bin(0xff)}, "4x\x1eb/w=="},
		{"empty binary", []Packet{bin()}, "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EncodePayloadV4(nil, tt.pkts)
			if string(got) != tt.wire {
				t.Fatalf("encode: got %q, want %q", got, tt.wire)
			}
			back, err := DecodePayloadV4(got, 0)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(norm(back), norm(tt.pkts)) {
				t.Fatalf("decode: got %+v, want %+v", back, tt.pkts)
			}
		})
	}
}

func TestPayloadV4Errors(t *testing.T) {
	for _, wire := range []string{"", "7", "x", "4a\x1e", "\x1e4a", "b!!!", "4a\x1e\x1e4b"} {
		if _, err := DecodePayloadV4([]byte(wire), 0); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: got %v, want ErrMalformed", wire, err)
		}
	}
	if _, err := DecodePayloadV4([]byte("4a\x1e4b\x1e4c"), 2); !errors.Is(err, ErrMalformed) {
		t.Errorf("packet bound not enforced: %v", err)
	}
}

func TestStringPayloadV3(t *testing.T) {
	tests := []struct {
		name string
		pkts []Packet
		wire string
	}{
		{"open", []Packet{text(PacketOpen, `{"sid":"x"}`)}, `12:0{"sid":"x"}`},
		{"ping probe", []Packet{text(PacketPing, "probe")}, "6:2probe"},
		{"two", []Packet{text(PacketMessage, "ab"), {Type: PacketNoop}}, "3:4ab1:6"},
		// JavaScript lengths: € is one UTF-16 unit, 😀 two.
		{"utf16", []Packet{text(PacketMessage, "€😀")}, "4:4€😀"},
		{"binary as base64", []Packet{bin(1, 2, 3, 4)}, "10:b4AQIDBA=="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EncodeStringPayloadV3(nil, tt.pkts)
			if string(got) != tt.wire {
				t.Fatalf("encode: got %q, want %q", got, tt.wire)
			}
			back, err := DecodeStringPayloadV3(got, 0)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(norm(back), norm(tt.pkts)) {
				t.Fatalf("decode: got %+v, want %+v", back, tt.pkts)
			}
		})
	}
}

func TestStringPayloadV3Errors(t *testing.T) {
	for _, wire := range []string{
		"", ":4a", "2:4", "x:4a", "2:4ab", "1:7", "99999999999:4",
		"2:4😀", // the cut falls inside a surrogate pair
		"4:b9AA", "6:b4!!!!",
	} {
		if _, err := DecodeStringPayloadV3([]byte(wire), 0); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: got %v, want ErrMalformed", wire, err)
		}
	}
}

func TestBinaryPayloadV3(t *testing.T) {
	pkts := []Packet{text(PacketMessage, "hé"), bin(1, 2, 3), {Type: PacketNoop}}
	want := []byte{
		0, 4, 0xff, '4', 'h', 0xc3, 0xa9, // string: 4 bytes once UTF-8
		1, 4, 0xff, 4, 1, 2, 3, // binary: type byte then data
		0, 1, 0xff, '6',
	}
	got := EncodeBinaryPayloadV3(nil, pkts)
	if !bytes.Equal(got, want) {
		t.Fatalf("encode: got % x, want % x", got, want)
	}
	back, err := DecodeBinaryPayloadV3(got, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(norm(back), norm(pkts)) {
		t.Fatalf("decode: got %+v", back)
	}
	long := bin(bytes.Repeat([]byte{7}, 1234)...)
	got = EncodeBinaryPayloadV3(nil, []Packet{long})
	if !bytes.Equal(got[:6], []byte{1, 1, 2, 3, 5, 0xff}) {
		t.Fatalf("length digits: % x", got[:6])
	}
	for _, wire := range [][]byte{{}, {2, 1, 0xff, 4}, {0, 0xff}, {0, 5, 0xff, '4'}, {1, 1, 1}, {0, 10, 0xff}, {1, 1, 0xff, 9}} {
		if _, err := DecodeBinaryPayloadV3(wire, 0); !errors.Is(err, ErrMalformed) {
			t.Errorf("% x: got %v, want ErrMalformed", wire, err)
		}
	}
}

func TestFramesV3(t *testing.T) {
	p := bin(9, 8)
	f := AppendBinaryFrameV3(nil, p)
	if !bytes.Equal(f, []byte{4, 9, 8}) {
		t.Fatalf("frame % x", f)
	}
	back, err := DecodeBinaryFrameV3(f)
	if err != nil || !reflect.DeepEqual(back, p) {
		t.Fatalf("decode: %+v %v", back, err)
	}
	if _, err := DecodeBinaryFrameV3([]byte{7}); err == nil {
		t.Fatal("bad type accepted")
	}
	if _, err := DecodeTextPacket(nil); err == nil {
		t.Fatal("empty text packet accepted")
	}
}

func TestUTF16(t *testing.T) {
	for s, n := range map[string]int{"": 0, "abc": 3, "é": 1, "€": 1, "😀": 2, "a😀b": 4, "\xff": 1} {
		if got := utf16Len([]byte(s)); got != n {
			t.Errorf("utf16Len(%q) = %d, want %d", s, got, n)
		}
	}
	if n, ok := utf16Prefix([]byte("a😀b"), 3); !ok || n != 5 {
		t.Errorf("prefix 3 of a😀b = %d %v", n, ok)
	}
	if _, ok := utf16Prefix([]byte("a😀b"), 2); ok {
		t.Error("prefix splitting a surrogate pair accepted")
	}
	if _, ok := utf16Prefix([]byte(strings.Repeat("a", 3)), 4); ok {
		t.Error("prefix longer than input accepted")
	}
}
