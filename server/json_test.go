package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"testing"

	"github.com/siogo/siogo/transports"
)

// The JSON codec must be encoding/json's, value for value and byte for
// byte: these compare the two on the same input.

var jsonSeeds = []string{
	`["message","hello"]`, `[]`, `{}`, `[{}]`, `[[],[[]]]`, ` [ 1 , 2 ] `,
	`["a",1,-1,0,-0,0.5,-0.0,1e3,1E-7,123456789012345,1234567890123456,12345678901234567890,-999999999999999,1e400,-1e400,5e-324,1e-400]`,
	`{"a":1,"a":2,"b":{"c":[true,false,null]}}`, `{"_placeholder":true,"num":0}`,
	`"\u00e9\ud83d\ude00\ud800\udc00\ud800\u0041\udc00x\\\"\/\b\f\n\r\t"`, "\"\xff\xfe\xed\xa0\x80é\"", "\"a\x01\"", `"\u12"`, `"\x"`,
	`[1,]`, `[1 2]`, `{"a" 1}`, `{"a":1,}`, `{1:2}`, `01`, `-`, `1.`, `.5`, `1e`, `1e+`, `+1`, `tru`, `nul`, `truex`, `[`, `"abc`, ``, ` `, `[1]x`,
	"\"\u2028\u2029<>&\x7f\"", `["é", "\u0000"]`, `-01`, `-0.5e-3`, `1.5E+10`,
}

func FuzzJSONDecode(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var want any
		werr := json.Unmarshal(b, &want)
		got, gerr := decodeJSON(b)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: encoding/json err %v, decodeJSON err %v", b, werr, gerr)
		}
		if werr != nil {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: decodeJSON %#v, encoding/json %#v", b, got, want)
		}
		// -0 and 0 are equal to DeepEqual: compare what they encode to.
		checkEncode(t, got)
	})
}

// checkEncode compares appendJSON with encoding/json on v.
func checkEncode(t *testing.T, v any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	werr := enc.Encode(v)
	got, gerr := appendJSON([]byte("x"), v)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%#v: encoding/json err %v, appendJSON err %v", v, werr, gerr)
	}
	if werr != nil {
		return
	}
	want := append([]byte("x"), bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
	if !bytes.Equal(got, want) {
		t.Fatalf("%#v: appendJSON %q, encoding/json %q", v, got, want)
	}
}

func FuzzJSONEncode(f *testing.F) {
	f.Add("s\x00\"\\<>&\u2028\xff", 1.5, int64(-3), true)
	f.Add("", math.Copysign(0, -1), int64(0), false)
	f.Add("é", 1e21, int64(math.MaxInt64), false)
	f.Add("\x7f", 1e-7, int64(math.MinInt64), true)
	f.Fuzz(func(t *testing.T, s string, x float64, n int64, b bool) {
		type named string
		checkEncode(t, []any{s, x, n, int(n), int32(n), uint64(n), b, nil, []any(nil), map[string]any(nil),
			map[string]any{s: x, "k": []any{s}, "": nil}, named(s), []string{s}, struct{ A string }{s}, math.NaN()})
		checkEncode(t, []any{s, x, n, b, []any{}, map[string]any{}})
		checkEncode(t, map[string]any{s: []any{x, map[string]any{"n": n}}})
	})
}

func TestJSONCodec(t *testing.T) {
	for _, s := range jsonSeeds {
		var want any
		werr := json.Unmarshal([]byte(s), &want)
		got, gerr := decodeJSON([]byte(s))
		if (werr == nil) != (gerr == nil) || (werr == nil && !reflect.DeepEqual(got, want)) {
			t.Errorf("%q: decodeJSON %#v, %v; encoding/json %#v, %v", s, got, gerr, want, werr)
		}
		if werr == nil {
			checkEncode(t, got)
		}
	}
	// Deeper than encoding/json's own bound, which a MaxDepth above it
	// would let through to the decoder.
	deep := bytes.Repeat([]byte("["), maxJSONNesting+1)
	deep = append(deep, bytes.Repeat([]byte("]"), maxJSONNesting+1)...)
	if _, err := decodeJSON(deep); err == nil {
		t.Error("nesting past 10000 taken")
	}
}

// The echo of the demo, as siobench sends it: decoded, then encoded back
// as the event and the ack.
var echoPacket = []byte(`21["message","xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",{"seq":12345,"t":1764633600123}]`)

func BenchmarkJSONEcho(b *testing.B) {
	dec := JSONParser{}.NewDecoder()
	b.ReportAllocs()
	for b.Loop() {
		p, err := dec.Add(echoPacket, false)
		if err != nil {
			b.Fatal(err)
		}
		args := p.Data.([]any)
		if _, err := (JSONParser{}).Encode(&Packet{Type: PacketEvent, Nsp: "/", Data: args}); err != nil {
			b.Fatal(err)
		}
		if _, err := (JSONParser{}).Encode(&Packet{Type: PacketAck, Nsp: "/", ID: p.ID, HasID: true, Data: args[1:]}); err != nil {
			b.Fatal(err)
		}
	}
}

// encodeReference is JSONParser.Encode as it was before encodeFlat and
// appendJSONValue: deconstruct, then encoding/json.
func encodeReference(p JSONParser, pkt *Packet) ([]transports.Packet, error) {
	var attachments [][]byte
	data, typ := pkt.Data, pkt.Type
	if data != nil && (typ == PacketEvent || typ == PacketAck || typ == PacketBinaryEvent || typ == PacketBinaryAck) {
		var err error
		if data, attachments, err = deconstruct(data, nil, 0, p.maxDepth()); err != nil {
			return nil, err
		}
		switch {
		case len(attachments) > 0 && typ == PacketEvent:
			typ = PacketBinaryEvent
		case len(attachments) > 0 && typ == PacketAck:
			typ = PacketBinaryAck
		case len(attachments) == 0 && typ == PacketBinaryEvent:
			typ = PacketEvent
		case len(attachments) == 0 && typ == PacketBinaryAck:
			typ = PacketAck
		}
	}
	b := []byte{'0' + byte(typ)}
	if typ == PacketBinaryEvent || typ == PacketBinaryAck {
		b = strconv.AppendInt(b, int64(len(attachments)), 10)
		b = append(b, '-')
	}
	if pkt.Nsp != "" && pkt.Nsp != "/" {
		b = append(b, pkt.Nsp...)
		b = append(b, ',')
	}
	if pkt.HasID {
		b = strconv.AppendUint(b, pkt.ID, 10)
	}
	if data != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(data); err != nil {
			return nil, fmt.Errorf("socket.io: encoding arguments: %w", err)
		}
		b = append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
	}
	out := []transports.Packet{{Type: transports.PacketMessage, Data: b}}
	for _, a := range attachments {
		out = append(out, transports.Packet{Type: transports.PacketMessage, Data: a, Binary: true})
	}
	return out, nil
}

// FuzzParserEncode compares Encode with encodeReference on arguments
// decoded from JSON, with a []byte put in at a place chosen by the input,
// for each packet type, at a depth bound the input may reach.
func FuzzParserEncode(f *testing.F) {
	for _, s := range jsonSeeds {
		f.Add([]byte(s), uint8(0), uint8(2))
	}
	f.Add([]byte(`["a",{"b":[1,{"c":2}]}]`), uint8(3), uint8(3))
	f.Fuzz(func(t *testing.T, text []byte, where, maxDepth uint8) {
		v, err := decodeJSON(text)
		if err != nil {
			return
		}
		args, ok := v.([]any)
		if !ok {
			args = []any{v}
		}
		n := int(where)
		var put func(v any) any
		put = func(v any) any {
			if n--; n == 0 {
				return []byte{1, 2, byte(where)}
			}
			switch x := v.(type) {
			case []any:
				for i := range x {
					x[i] = put(x[i])
				}
			case map[string]any:
				for k := range x {
					x[k] = put(x[k])
				}
			}
			return v
		}
		if where%4 != 0 {
			for i := range args {
				args[i] = put(args[i])
			}
		}
		p := JSONParser{MaxDepth: int(maxDepth%8) + 1}
		for _, typ := range []PacketType{PacketEvent, PacketAck, PacketBinaryEvent, PacketBinaryAck} {
			pkt := &Packet{Type: typ, Nsp: "/x", ID: 7, HasID: where%2 == 0, Data: args}
			got, gerr := p.Encode(pkt)
			want, werr := encodeReference(p, pkt)
			if (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
				t.Fatalf("%q type %d: Encode err %v, reference err %v", text, typ, gerr, werr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("%q type %d: Encode %v, reference %v", text, typ, got, want)
			}
		}
	})
}
