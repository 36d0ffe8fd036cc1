package transports

import (
	"reflect"
	"testing"
)

// Every decoder has a fuzz target: bad input must give ErrMalformed, never a
// panic, and what decodes must encode back to the same packets. The seeds
// run as ordinary tests in CI; `make fuzz` explores further.

func FuzzPayloadV4(f *testing.F) {
	for _, s := range []string{`0{"sid":"a"}`, "4hello\x1e2\x1ebAQID", "b", "\x1e", "4€😀", "6", "7", "b=="} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pkts, err := DecodePayloadV4(body, 100)
		if err != nil {
			return
		}
		back, err := DecodePayloadV4(EncodePayloadV4(nil, pkts), 0)
		if err != nil || !reflect.DeepEqual(norm(back), norm(pkts)) {
			t.Fatalf("round trip of %q: %+v, %v", body, back, err)
		}
	})
}

func FuzzStringPayloadV3(f *testing.F) {
	for _, s := range []string{`12:0{"sid":"x"}`, "6:2probe", "3:4ab1:6", "4:4€😀", "10:b4AQIDBA==", "0:", "3:4😀", "99999999999:4"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pkts, err := DecodeStringPayloadV3(body, 100)
		if err != nil {
			return
		}
		back, err := DecodeStringPayloadV3(EncodeStringPayloadV3(nil, pkts), 0)
		if err != nil || !reflect.DeepEqual(norm(back), norm(pkts)) {
			t.Fatalf("round trip of %q: %+v, %v", body, back, err)
		}
	})
}

func FuzzBinaryPayloadV3(f *testing.F) {
	f.Add([]byte{0, 4, 0xff, '4', 'h', 0xc3, 0xa9, 1, 4, 0xff, 4, 1, 2, 3})
	f.Add([]byte{1, 1, 0xff, 4})
	f.Add([]byte{0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0xff})
	f.Fuzz(func(t *testing.T, body []byte) {
		pkts, err := DecodeBinaryPayloadV3(body, 100)
		if err != nil {
			return
		}
		back, err := DecodeBinaryPayloadV3(EncodeBinaryPayloadV3(nil, pkts), 0)
		if err != nil || !reflect.DeepEqual(norm(back), norm(pkts)) {
			t.Fatalf("round trip of % x: %+v, %v", body, back, err)
		}
	})
}

func FuzzFrames(f *testing.F) {
	f.Add([]byte("4hello"), false)
	f.Add([]byte{4, 1, 2}, true)
	f.Add([]byte{}, true)
	f.Fuzz(func(t *testing.T, frame []byte, binary bool) {
		if binary {
			p, err := DecodeBinaryFrameV3(frame)
			if err == nil && string(AppendBinaryFrameV3(nil, p)) != string(frame) {
				t.Fatalf("binary frame %q did not round-trip", frame)
			}
			return
		}
		p, err := DecodeTextPacket(frame)
		if err == nil && string(AppendTextPacket(nil, p)) != string(frame) {
			t.Fatalf("text frame %q did not round-trip", frame)
		}
	})
}

// FuzzTextFramesBase64 covers the text frames of forceBase64 clients:
// "b"+base64 in protocol 4, "b4"+base64 in protocol 3, an empty attachment
// as "b" or "b4".
func FuzzTextFramesBase64(f *testing.F) {
	for _, s := range []string{"bAQID", "b", "b4AQID", "b4", "b7AA==", "b=", "b4\nAA==", "4hello", "", "bé"} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, frame []byte, v3 bool) {
		decode, encode := DecodeTextFrameV4, func(p Packet) []byte { return AppendPollingPacketV4(nil, p) }
		if v3 {
			decode, encode = DecodeTextFrameV3, func(p Packet) []byte { return appendV3StringPacket(nil, p) }
		}
		p, err := decode(frame)
		if err != nil {
			return
		}
		back, err := decode(encode(p))
		if err != nil || !reflect.DeepEqual(norm([]Packet{back}), norm([]Packet{p})) {
			t.Fatalf("text frame %q: %+v, then %+v, %v", frame, p, back, err)
		}
	})
}
