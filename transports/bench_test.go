package transports

import (
	"bytes"
	"testing"
)

// Codec benchmarks: go test -run '^$' -bench . -benchmem ./transports/

var (
	benchText   = Packet{Type: PacketMessage, Data: []byte(`42["message",{"text":"hello world","n":12345}]`)}
	benchBinary = Packet{Type: PacketMessage, Data: bytes.Repeat([]byte{0xab}, 256), Binary: true}
	benchMixed  = []Packet{benchText, benchBinary, {Type: PacketPing}, benchText}
)

func BenchmarkEncodePayloadV4(b *testing.B) {
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = EncodePayloadV4(buf[:0], benchMixed)
	}
}

func BenchmarkDecodePayloadV4(b *testing.B) {
	wire := EncodePayloadV4(nil, benchMixed)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodePayloadV4(wire, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeStringPayloadV3(b *testing.B) {
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = EncodeStringPayloadV3(buf[:0], benchMixed)
	}
}

func BenchmarkDecodeStringPayloadV3(b *testing.B) {
	wire := EncodeStringPayloadV3(nil, benchMixed)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeStringPayloadV3(wire, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeBinaryPayloadV3(b *testing.B) {
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = EncodeBinaryPayloadV3(buf[:0], benchMixed)
	}
}

func BenchmarkDecodeBinaryPayloadV3(b *testing.B) {
	wire := EncodeBinaryPayloadV3(nil, benchMixed)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeBinaryPayloadV3(wire, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeTextPacket(b *testing.B) {
	wire := AppendTextPacket(nil, benchText)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeTextPacket(wire); err != nil {
			b.Fatal(err)
		}
	}
}
