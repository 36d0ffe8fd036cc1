package server_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/siogo/siogo/internal/nodetest"
	"github.com/siogo/siogo/server"
)

type point struct {
	X int `json:"x"`
	Y int `json:"y"`
}

type inner struct {
	Deep string `json:"deep"`
}

type Embedded struct {
	Promoted string
	Shadowed string
}

type decodeTarget struct {
	Embedded
	Name     string            `json:"name"`
	Count    int8              `json:"count"`
	Ratio    float32           `json:"ratio"`
	OK       bool              `json:"ok"`
	Blob     []byte            `json:"blob"`
	Points   []point           `json:"points"`
	Pair     [2]int            `json:"pair"`
	Tags     map[string]string `json:"tags"`
	ByNum    map[int]bool      `json:"byNum"`
	Any      any               `json:"any"`
	Ptr      *inner            `json:"ptr"`
	Quoted   int               `json:"quoted,string"`
	Skipped  string            `json:"-"`
	Shadowed int               `json:"Shadowed"`
	When     time.Time         `json:"when"`
	NoTag    string
	hidden   string
}

// Decoding follows encoding/json's rules on the values the parser made;
// binary attachments decode into []byte.
func TestDecodeArgs(t *testing.T) {
	var got decodeTarget
	arg := map[string]any{
		"name": "a", "COUNT": float64(7), "ratio": 0.5, "ok": true,
		"blob":     []byte{1, 2, 3},
		"points":   []any{map[string]any{"x": float64(1), "y": float64(2)}},
		"pair":     []any{float64(3), float64(4), float64(5)},
		"tags":     map[string]any{"k": "v"},
		"byNum":    map[string]any{"12": true},
		"any":      []any{"x", nil},
		"ptr":      map[string]any{"deep": "d"},
		"quoted":   "42",
		"Skipped":  "no",
		"Promoted": "p", "Shadowed": float64(9),
		"when":    "2026-01-02T03:04:05Z",
		"notag":   "folded",
		"hidden":  "no",
		"unknown": "ignored",
	}
	if err := server.DecodeArgs([]any{arg}, &got); err != nil {
		t.Fatal(err)
	}
	want := decodeTarget{
		Embedded: Embedded{Promoted: "p"},
		Name:     "a", Count: 7, Ratio: 0.5, OK: true, Blob: []byte{1, 2, 3},
		Points: []point{{1, 2}}, Pair: [2]int{3, 4},
		Tags: map[string]string{"k": "v"}, ByNum: map[int]bool{12: true},
		Any: []any{"x", nil}, Ptr: &inner{"d"}, Quoted: 42, Shadowed: 9,
		When:  time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		NoTag: "folded",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}

	// Several arguments, the common types without reflection, a missing one.
	var s string
	var n int
	var b []byte
	keep := 5.5
	if err := server.DecodeArgs([]any{"room", float64(3), "AQI="}, &s, &n, &b, &keep); err != nil {
		t.Fatal(err)
	}
	if s != "room" || n != 3 || !bytes.Equal(b, []byte{1, 2}) || keep != 5.5 {
		t.Fatalf("%q %d %v %v", s, n, b, keep)
	}
	// msgpack's integers.
	var u uint16
	var f float64
	if err := server.DecodeArgs([]any{int64(65535), uint8(2)}, &u, &f); err != nil || u != 65535 || f != 2 {
		t.Fatalf("%v %d %v", err, u, f)
	}
}

func TestDecodeArgsErrors(t *testing.T) {
	for _, c := range []struct {
		arg  any
		dst  any
		path string
		got  string
	}{
		{"x", new(int), "", "string"},
		{1.5, new(int), "", "number"},
		{float64(300), new(int8), "", "number"},
		{float64(-1), new(uint), "", "number"},
		{math.MaxFloat64, new(float32), "", "number"},
		{[]byte{1}, new(string), "", "binary"},
		{map[string]any{"points": []any{map[string]any{"x": "1"}}}, new(decodeTarget), ".points[0].x", "string"},
		{map[string]any{"tags": map[string]any{"k": true}}, new(decodeTarget), ".tags.k", "bool"},
		{map[string]any{"byNum": map[string]any{"x": true}}, new(decodeTarget), `.byNum["x"]`, "string"},
		{map[string]any{"when": "yesterday"}, new(decodeTarget), ".when", "string"},
		{[]any{}, new(point), "", "array"},
		{"!!", new([]byte), "", "string"},
		{"x", new(error), "", "string"},
	} {
		err := server.DecodeArgs([]any{"first", c.arg}, new(string), c.dst)
		var ae *server.ArgumentError
		if !errors.As(err, &ae) || ae.Index != 1 || ae.Path != c.path || ae.Value != c.got {
			t.Errorf("%#v into %T: %v (%+v)", c.arg, c.dst, err, ae)
		}
	}
	if err := server.DecodeArgs(nil, point{}); err == nil {
		t.Error("a non-pointer destination was accepted")
	}
}

// FuzzDecodeArgs holds the decoding to encoding/json's: whatever JSON
// json.Unmarshal decodes into a type, siogo decodes into the same value
// from what its parser made of the JSON; and nothing panics.
func FuzzDecodeArgs(f *testing.F) {
	for _, s := range []string{
		`{"name":"a","count":3,"points":[{"x":1,"y":2}],"tags":{"a":"b"},"byNum":{"1":true},"ptr":{"deep":"x"},"quoted":"7"}`,
		`{"NAME":"b","Promoted":"p","pair":[1],"blob":"AQID","any":{"k":[1,null]}}`,
		`{"count":300}`, `{"ratio":1e40}`, `{"points":null,"tags":null,"ptr":null}`, `[1,2]`, `"s"`, `null`,
		`{"when":"2026-01-02T03:04:05Z"}`, `{"quoted":"x"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v any
		if json.Unmarshal(b, &v) != nil {
			return
		}
		var mine, theirs decodeTarget
		errMine := server.DecodeArgs([]any{parseLikeServer(t, b)}, &mine)
		if json.Unmarshal(b, &theirs) != nil || !comparable(v) {
			return
		}
		if errMine != nil {
			t.Fatalf("%s: encoding/json decodes it, siogo says %v", b, errMine)
		}
		if !reflect.DeepEqual(mine, theirs) {
			t.Fatalf("%s:\nsiogo         %+v\nencoding/json %+v", b, mine, theirs)
		}
	})
}

// parseLikeServer is the argument the JSON parser makes of b.
func parseLikeServer(t *testing.T, b []byte) any {
	pkt, err := server.JSONParser{}.NewDecoder().Add(append([]byte(`2["e",`), append(b, ']')...), false)
	if err != nil {
		t.Skip("the parser refuses it:", err)
	}
	return pkt.Data.([]any)[1]
}

// comparable reports whether encoding/json's result can be compared:
// objects without keys equal under case folding (encoding/json lets the
// last in the text win, an order the parsed map has lost), and whole
// numbers exact in a float64 (the parser, as JavaScript, has no other).
func comparable(v any) bool {
	switch x := v.(type) {
	case float64:
		return x == math.Trunc(x) && math.Abs(x) < 1<<53 || x != math.Trunc(x)
	case []any:
		for _, e := range x {
			if !comparable(e) {
				return false
			}
		}
	case map[string]any:
		seen := map[string]bool{}
		for k, e := range x {
			if seen[strings.ToLower(k)] || !comparable(e) {
				return false
			}
			seen[strings.ToLower(k)] = true
		}
	}
	return true
}

// Typed handlers with the official client: a struct with a binary field
// in, a struct out, an error answered, arguments that do not decode
// answered, and a typed acknowledgement from the client.
func TestTypedWithOfficialClient(t *testing.T) {
	type upload struct {
		Name string `json:"name"`
		Data []byte `json:"data"`
	}
	type receipt struct {
		Name string `json:"name"`
		Size int    `json:"size"`
	}
	type answer struct {
		Read bool `json:"read"`
	}
	srv, url := startServer(t, server.Options{})
	acked := make(chan answer, 1)
	srv.OnEvent("upload", server.Typed(func(s *server.Socket, u upload) (receipt, error) {
		if u.Name == "" {
			return receipt{}, errors.New("a name is needed")
		}
		return receipt{Name: u.Name, Size: len(u.Data)}, nil
	}))
	srv.OnEvent("deliver", server.TypedNoAck(func(s *server.Socket, text string) {
		a, err := server.AckAs[answer](s.EmitWithAck(s.Context(), "message", text))
		if err != nil {
			t.Errorf("AckAs: %v", err)
		}
		acked <- a
	}), server.Concurrent)
	r := nodetest.StartRemote(t)
	r.ConnectOver(url, "websocket")
	got := r.Emit("upload", map[string]any{"name": "a.bin", "data": map[string]any{"$binary": "AQIDBA=="}})
	if m, _ := got[0].(map[string]any); m["name"] != "a.bin" || m["size"] != float64(4) {
		t.Fatalf("upload answered %v", got)
	}
	if got := r.Emit("upload", map[string]any{"data": nil}); !strings.Contains(jsonOf(got), `{"error":"a name is needed"}`) {
		t.Fatalf("an error answered %s", jsonOf(got))
	}
	if got := r.Emit("upload", map[string]any{"name": 12}); !strings.Contains(jsonOf(got), `cannot decode number into string`) {
		t.Fatalf("a bad argument answered %s", jsonOf(got))
	}
	r.Answer("message", map[string]any{"read": true})
	r.Send("deliver", "hello")
	if a := waitFor(t, acked, "the typed acknowledgement"); !a.Read {
		t.Fatalf("acknowledged %+v", a)
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// BenchmarkTypedArgs is the cost of a typed argument against the untyped
// path's type assertions, for a chat message of three fields: decoding
// alone, and an event's whole round trip over in-process polling.
func BenchmarkTypedArgs(b *testing.B) {
	type message struct {
		Room string  `json:"room"`
		Text string  `json:"text"`
		Seq  float64 `json:"seq"`
	}
	args := []any{map[string]any{"room": "lobby", "text": "hello", "seq": float64(12)}}
	b.Run("decode/untyped", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			m, _ := args[0].(map[string]any)
			room, _ := m["room"].(string)
			text, _ := m["text"].(string)
			seq, _ := m["seq"].(float64)
			if room == "" || text == "" || seq == 0 {
				b.Fatal(m)
			}
		}
	})
	b.Run("decode/typed", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var m message
			if err := server.DecodeArgs(args, &m); err != nil || m.Seq == 0 {
				b.Fatal(err)
			}
		}
	})
	roundTrip := func(b *testing.B, h server.SocketHandler) {
		p := newInproc(b, 1)
		p.srv.OnEvent("message", h)
		url := p.urls[0]
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			id := strconv.Itoa(i)
			request(p.srv, "POST", url, "42"+id+`["message",{"room":"lobby","text":"hello","seq":12}]`)
			for got := ""; !strings.HasPrefix(got, "43"+id+"["); {
				got = request(p.srv, "GET", url, "")
			}
		}
	}
	b.Run("event/untyped", func(b *testing.B) {
		roundTrip(b, func(s *server.Socket, args []any, ack server.Ack) {
			m, _ := args[0].(map[string]any)
			text, _ := m["text"].(string)
			_ = ack(len(text))
		})
	})
	b.Run("event/typed", func(b *testing.B) {
		roundTrip(b, server.Typed(func(s *server.Socket, m message) (int, error) { return len(m.Text), nil }))
	})
}
