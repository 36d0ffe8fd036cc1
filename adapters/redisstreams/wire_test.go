package redisstreams

import (
	"bytes"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/siogo/siogo/adapters/cluster"
	"github.com/siogo/siogo/internal/adapterwire"
	"github.com/siogo/siogo/server"
)

// Stream names as Node's computeStreamName gives them (values printed by
// Node's util.hashCode), negative remainders included.
func TestStreamName(t *testing.T) {
	for _, tc := range []struct {
		nsp   string
		count int
		want  string
		hash  int32
	}{
		{"/", 1, "socket.io", 47},
		{"/", 3, "socket.io-2", 47},
		{"/chat", 7, "socket.io-4", 46457863},
		{"/admin", 2, "socket.io-0", 1438238848},
		{"/é✓", 7, "socket.io-2", 62393},
		{"/ünïcode-namespace-long-long-long-long", 2, "socket.io--1", -1608670359},
		{"/ünïcode-namespace-long-long-long-long", 7, "socket.io--2", -1608670359},
		{"/𝄞", 7, "socket.io-4", 1817561},
	} {
		if h := hashCode(tc.nsp); h != tc.hash {
			t.Errorf("hashCode(%q) = %d, want %d", tc.nsp, h, tc.hash)
		}
		if got := streamName("socket.io", tc.count, tc.nsp); got != tc.want {
			t.Errorf("streamName(%q, %d) = %q, want %q", tc.nsp, tc.count, got, tc.want)
		}
	}
}

func TestEntryRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name      string
		m         cluster.Message
		plaintext bool
		json      bool
	}{
		{"text", cluster.Message{UID: "u1", Nsp: "/", Type: cluster.Broadcast, Data: map[string]any{"packet": map[string]any{"type": 2.0, "data": []any{"ev", "x"}}}}, false, true},
		{"binary", cluster.Message{UID: "u1", Nsp: "/", Type: cluster.Broadcast, Data: map[string]any{"packet": map[string]any{"data": []any{"ev", []byte{1, 2}}}}}, false, false},
		{"binary as plaintext", cluster.Message{UID: "u1", Nsp: "/", Type: cluster.Broadcast, Data: map[string]any{"packet": map[string]any{"data": []any{"ev", []byte{1}}}}}, true, true},
		{"join never binary", cluster.Message{UID: "u1", Nsp: "/chat", Type: cluster.SocketsJoin, Data: map[string]any{"rooms": []any{"r"}}}, false, true},
		{"no data", cluster.Message{UID: "u1", Nsp: "/", Type: cluster.AdapterClose, Data: nil}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fields, err := encodeEntry(&tc.m, tc.plaintext)
			if err != nil {
				t.Fatal(err)
			}
			kv := map[string]string{}
			for i := 0; i < len(fields); i += 2 {
				kv[fields[i].(string)] = fields[i+1].(string)
			}
			if d, ok := kv["data"]; ok && (d[0] == '{') != tc.json {
				t.Fatalf("data %q: JSON %v, want %v", d, d[0] == '{', tc.json)
			}
			m, err := decodeEntry(kv)
			if err != nil {
				t.Fatal(err)
			}
			if m.UID != tc.m.UID || m.Nsp != tc.m.Nsp || m.Type != tc.m.Type || (m.Data == nil) != (tc.m.Data == nil) {
				t.Fatalf("decoded %+v, want %+v", m, tc.m)
			}
			if !tc.json {
				data := m.Data["packet"].(map[string]any)["data"].([]any)
				if !bytes.Equal(data[1].([]byte), []byte{1, 2}) {
					t.Fatalf("binary %v", data)
				}
			}
		})
	}
}

// Entries as Node writes them decode; malformed ones give ErrBadEntry.
func TestDecodeEntry(t *testing.T) {
	m, err := decodeEntry(map[string]string{"uid": "abc", "nsp": "/", "type": "3",
		"data": `{"packet":{"type":2,"data":["hi",1]},"opts":{"rooms":["r"],"except":[],"flags":{"volatile":true}}}`})
	if err != nil {
		t.Fatal(err)
	}
	p, ok := adapterwire.PacketFrom(m.Data["packet"], "/")
	opts := adapterwire.OptionsFrom(m.Data["opts"])
	if !ok || len(p.Data.([]any)) != 2 || opts.Rooms[0] != "r" || !opts.Flags.Volatile {
		t.Fatalf("%+v %+v", p, opts)
	}
	for _, bad := range []map[string]string{
		{"type": "x"},
		{"type": "3", "data": "{nope"},
		{"type": "3", "data": "!!!"},
		{"type": "3", "data": base64.StdEncoding.EncodeToString([]byte{0xc1})},
		{"type": "3", "data": base64.StdEncoding.EncodeToString([]byte{0x01})},
	} {
		if _, err := decodeEntry(bad); !errors.Is(err, ErrBadEntry) {
			t.Errorf("%q: %v, want ErrBadEntry", bad, err)
		}
	}
}

func TestSessionRoundTrip(t *testing.T) {
	s, err := encodeSession(&server.PersistedSession{SID: "s", PID: "p", Rooms: []string{"s", "r"}, Data: map[string]any{"v": "x"}})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := decodeSession(s)
	if err != nil || ps.SID != "s" || ps.PID != "p" || len(ps.Rooms) != 2 || ps.Data.(map[string]any)["v"] != "x" {
		t.Fatalf("%+v %v", ps, err)
	}
	if _, err := decodeSession("!"); !errors.Is(err, ErrBadEntry) {
		t.Fatal(err)
	}
}

func TestStreamID(t *testing.T) {
	a, _ := parseID("5-3")
	b, _ := parseID("5-10")
	if !a.less(b) || b.less(a) || a.next().String() != "5-4" {
		t.Fatal(a, b)
	}
	for _, bad := range []string{"", "5", "5-", "-1", "a-b", "1-2-3"} {
		if _, ok := parseID(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

// FuzzDecodeEntry: whatever a stream holds, decoding an entry and reading
// its packet, options and sockets never panics.
func FuzzDecodeEntry(f *testing.F) {
	f.Add("3", `{"packet":{"type":2,"data":["hi",1]},"opts":{"rooms":["r"],"except":[],"flags":{}}}`)
	f.Add("8", `{"requestId":"x","sockets":[{"id":"a","handshake":{"headers":{"a":["b"]}},"rooms":[1,"r"]}]}`)
	f.Add("3", "gqZwYWNrZXSBpGRhdGGSonR4xAIBAqRvcHRzgA==")
	f.Add("4", `{"opts":{"rooms":[[[]]]},"rooms":[{}]}`)
	f.Fuzz(func(t *testing.T, typ, data string) {
		m, err := decodeEntry(map[string]string{"uid": "u", "nsp": "/", "type": typ, "data": data})
		if err != nil {
			if !errors.Is(err, ErrBadEntry) {
				t.Fatalf("error %v is not ErrBadEntry", err)
			}
			return
		}
		_, _ = adapterwire.PacketFrom(m.Data["packet"], "/")
		_ = adapterwire.OptionsFrom(m.Data["opts"])
		_ = adapterwire.Strings(m.Data["rooms"])
		if list, ok := m.Data["sockets"].([]any); ok {
			for _, s := range list {
				_ = adapterwire.RemoteSocketFrom(server.NewMemoryAdapter(nil), s)
			}
		}
		_ = m.HasBinary()
		if b, err := m.Msgpack(); err == nil {
			if _, err := cluster.DecodeMsgpack(b); err != nil {
				t.Fatalf("a message encoded from a decoded entry does not decode: %v", err)
			}
		}
	})
}

func TestLiveCopy(t *testing.T) {
	ps := &server.PersistedSession{SID: "s1", PID: "p1", Rooms: []string{"r"}}
	v, err := encodeLive("abc", "/my nsp", ps)
	if err != nil {
		t.Fatal(err)
	}
	uid, state, session, nsp, ok := parseLive(v)
	if !ok || uid != "abc" || state != liveSession || nsp != "/my nsp" {
		t.Fatalf("%q: %q %q %q %v", v, uid, state, nsp, ok)
	}
	if got, err := decodeSession(session); err != nil || got.SID != "s1" || got.PID != "p1" {
		t.Fatalf("session %+v %v", got, err)
	}
	if uid, state, _, _, ok := parseLive("abc T"); !ok || uid != "abc" || state != liveTaken {
		t.Fatal("a taken copy")
	}
	for _, bad := range []string{"", "abc", "abc L", "abc L ", " L x /", "abc X x /", "abc T x"} {
		if _, _, _, _, ok := parseLive(bad); ok {
			t.Errorf("%q read as a live copy", bad)
		}
	}
}

func FuzzParseLive(f *testing.F) {
	f.Add("abc L eyJ9 /")
	f.Add("abc T")
	f.Fuzz(func(t *testing.T, v string) {
		if _, _, session, _, ok := parseLive(v); ok && session != "" {
			_, _ = decodeSession(session)
		}
	})
}
