package adapterwire

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/siogo/siogo/server"
)

// The conversions to the wire, as JSON: the bytes Node's adapters read and
// write (encoding/json sorts keys, so the bytes are stable).
func TestToWire(t *testing.T) {
	issued := time.UnixMilli(1700000000123)
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"nil list", NonNil(nil), `[]`},
		{"list", NonNil([]string{"a"}), `["a"]`},
		{"rooms", Rooms(server.BroadcastOptions{Rooms: []string{"r"}}), `{"except":[],"rooms":["r"]}`},
		{"options", Options(server.BroadcastOptions{}), `{"except":[],"flags":{},"rooms":[]}`},
		{"options with flags", Options(server.BroadcastOptions{Rooms: []string{"a", "b"}, Except: []string{"c"},
			Flags: server.BroadcastFlags{Volatile: true, NoCompress: true, Timeout: 1500 * time.Millisecond, Local: true}}),
			`{"except":["c"],"flags":{"compress":false,"timeout":1500,"volatile":true},"rooms":["a","b"]}`},
		{"handshake", Handshake(server.Handshake{
			Headers: http.Header{"X-Forwarded-For": {"1.2.3.4", "5.6.7.8"}, "Host": {"h"}},
			Query:   url.Values{"EIO": {"4"}, "k": {"a", "b"}, "empty": {}},
			Time:    issued, Address: "::1", XDomain: true, Secure: false, URL: "/socket.io/?EIO=4",
			Auth: map[string]any{"token": "t"},
		}), `{"address":"::1","auth":{"token":"t"},"headers":{"host":"h","x-forwarded-for":"1.2.3.4, 5.6.7.8"},` +
			`"issued":1700000000123,"query":{"EIO":"4","k":"a"},"secure":false,"time":"Tue Nov 14 2023 22:13:20 GMT+0000 (UTC)",` +
			`"url":"/socket.io/?EIO=4","xdomain":true}`},
		{"empty handshake", Handshake(server.Handshake{Time: issued}),
			`{"address":"","auth":{},"headers":{},"issued":1700000000123,"query":{},"secure":false,` +
				`"time":"Tue Nov 14 2023 22:13:20 GMT+0000 (UTC)","url":"","xdomain":false}`},
		{"sockets", Sockets([]*server.RemoteSocket{{ID: "s1", Handshake: server.Handshake{Time: issued}}, {ID: "s2", Rooms: []string{"s2", "r"}, Data: map[string]any{"n": 1}, Handshake: server.Handshake{Time: issued}}}),
			`[{"data":{},"handshake":{"address":"","auth":{},"headers":{},"issued":1700000000123,"query":{},"secure":false,"time":"Tue Nov 14 2023 22:13:20 GMT+0000 (UTC)","url":"","xdomain":false},"id":"s1","rooms":[]},` +
				`{"data":{"n":1},"handshake":{"address":"","auth":{},"headers":{},"issued":1700000000123,"query":{},"secure":false,"time":"Tue Nov 14 2023 22:13:20 GMT+0000 (UTC)","url":"","xdomain":false},"id":"s2","rooms":["s2","r"]}]`},
		{"no sockets", Sockets(nil), `[]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Fatalf("got  %s\nwant %s", b, tc.want)
			}
		})
	}
}

// The conversions from the wire, from what JSON and msgpack decoders give.
func TestFromWire(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   any
		want server.BroadcastOptions
	}{
		{"nothing", nil, server.BroadcastOptions{Rooms: []string{}, Except: []string{}}},
		{"not a map", "x", server.BroadcastOptions{Rooms: []string{}, Except: []string{}}},
		{"JSON", map[string]any{"rooms": []any{"a", 1.0}, "except": []any{"b"}, "flags": map[string]any{"volatile": true, "compress": false, "timeout": 250.0}},
			server.BroadcastOptions{Rooms: []string{"a", "1"}, Except: []string{"b"}, Flags: server.BroadcastFlags{Volatile: true, NoCompress: true, Timeout: 250 * time.Millisecond}}},
		{"msgpack ints", map[string]any{"rooms": []any{int8(3), uint16(7)}, "flags": map[string]any{"compress": true, "timeout": uint32(10)}},
			server.BroadcastOptions{Rooms: []string{"3", "7"}, Except: []string{}, Flags: server.BroadcastFlags{Timeout: 10 * time.Millisecond}}},
		{"bad flags", map[string]any{"flags": map[string]any{"volatile": "yes", "timeout": -5.0}},
			server.BroadcastOptions{Rooms: []string{}, Except: []string{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := OptionsFrom(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// Room names that are numbers read as JavaScript's String() writes them.
func TestStrings(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want []string
	}{
		{nil, []string{}},
		{[]any{"a", 1.0, -2.0, int64(1 << 60), uint64(1 << 63), 1.5, 1e21, true, nil, []any{"x"}, map[string]any{}},
			[]string{"a", "1", "-2", "1152921504606846976", "9223372036854775808", "1.5", "1e+21"}},
	} {
		if got := Strings(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Strings(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A handshake and a socket read back as written, through JSON as a node
// of either kind sends them; Node's headers may be lists.
func TestRoundTrip(t *testing.T) {
	h := server.Handshake{
		Headers: http.Header{"Cookie": {"a=b"}}, Query: url.Values{"EIO": {"4"}},
		Time: time.UnixMilli(1700000000123), Address: "1.2.3.4", XDomain: true, Secure: true, URL: "/x", Auth: map[string]any{"k": "v"},
	}
	var v any
	b, _ := json.Marshal(Sockets([]*server.RemoteSocket{{ID: "s", Rooms: []string{"s", "r"}, Data: map[string]any{"d": 1.0}, Handshake: h}}))
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	s := RemoteSocketFrom(server.NewMemoryAdapter(nil), v.([]any)[0])
	if s == nil || s.ID != "s" || !reflect.DeepEqual(s.Rooms, []string{"s", "r"}) || !reflect.DeepEqual(s.Data, map[string]any{"d": 1.0}) {
		t.Fatalf("%+v", s)
	}
	got := s.Handshake
	if !got.Time.Equal(h.Time) || got.Address != h.Address || !got.XDomain || !got.Secure || got.URL != "/x" ||
		got.Headers.Get("Cookie") != "a=b" || got.Query.Get("EIO") != "4" || got.Auth["k"] != "v" {
		t.Fatalf("%+v", got)
	}
	node := HandshakeFrom(map[string]any{"headers": map[string]any{"set-cookie": []any{"a", "b", 1.0}}, "query": map[string]any{"n": 1.0}})
	if !reflect.DeepEqual(node.Headers.Values("Set-Cookie"), []string{"a", "b"}) || len(node.Query) != 0 {
		t.Fatalf("%+v", node)
	}
	for _, bad := range []any{nil, "s", map[string]any{}, map[string]any{"id": 1.0}} {
		if s := RemoteSocketFrom(server.NewMemoryAdapter(nil), bad); s != nil {
			t.Errorf("RemoteSocketFrom(%v) = %+v", bad, s)
		}
	}
}

func TestPacketFrom(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   any
		ok   bool
	}{
		{"event", map[string]any{"type": 2.0, "nsp": "/chat", "data": []any{"ev", 1.0}}, true},
		{"binary event", map[string]any{"type": int8(5), "nsp": "/chat", "data": []any{"ev", []byte{1}}}, true},
		{"no nsp", map[string]any{"type": 2.0, "data": []any{"ev"}}, true},
		{"other nsp", map[string]any{"type": 2.0, "nsp": "/", "data": []any{"ev"}}, false},
		{"ack", map[string]any{"type": 3.0, "nsp": "/chat", "data": []any{"ev"}}, false},
		{"no data", map[string]any{"type": 2.0, "nsp": "/chat", "data": []any{}}, false},
		{"not a map", []any{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := PacketFrom(tc.in, "/chat")
			if ok != tc.ok {
				t.Fatalf("ok = %v", ok)
			}
			if ok && (p.Type != server.PacketEvent || p.Nsp != "/chat") {
				t.Fatalf("%+v", p)
			}
		})
	}
}

// FuzzFromWire: whatever another node sends, reading it never panics.
func FuzzFromWire(f *testing.F) {
	f.Add(`{"rooms":["r",1],"except":[],"flags":{"volatile":true,"timeout":10}}`)
	f.Add(`{"id":"a","handshake":{"headers":{"a":["b"]},"issued":1e300},"rooms":[1.5,"r"]}`)
	f.Add(`{"type":2,"data":["e"],"nsp":"/"}`)
	f.Fuzz(func(t *testing.T, s string) {
		var v any
		if json.Unmarshal([]byte(s), &v) != nil {
			return
		}
		_ = OptionsFrom(v)
		_ = HandshakeFrom(v)
		_ = RemoteSocketFrom(server.NewMemoryAdapter(nil), v)
		_, _ = PacketFrom(v, "/")
		if m, ok := v.(map[string]any); ok {
			_ = Strings(m["rooms"])
		}
	})
}

func TestOnceAck(t *testing.T) {
	var got []any
	ack := OnceAck(func(arg any) { got = append(got, arg) })
	_ = ack("a", "b")
	if err := ack("c"); err != server.ErrAckSent || len(got) != 1 || got[0] != "a" {
		t.Fatal(got, err)
	}
	ack = OnceAck(func(arg any) { got = append(got, arg) })
	_ = ack()
	if len(got) != 2 || got[1] != nil || FirstArg(nil) != nil {
		t.Fatal(got)
	}
}

// Options as the adapter wrote them, before any codec, read back.
func TestOptionsFromGo(t *testing.T) {
	opts := server.BroadcastOptions{Rooms: []string{"r"}, Except: []string{"x", "y"}, Flags: server.BroadcastFlags{Timeout: 1500 * time.Millisecond}}
	back := OptionsFrom(Options(opts))
	if !slices.Equal(back.Rooms, opts.Rooms) || !slices.Equal(back.Except, opts.Except) || back.Flags.Timeout != opts.Flags.Timeout {
		t.Fatalf("%+v, want %+v", back, opts)
	}
}
