package redis

import (
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/siogo/siogo/internal/mpack"
	"github.com/siogo/siogo/server"
)

// FuzzMessages feeds arbitrary bytes to what a node does with a message
// from Redis, in both modes and on every channel it listens to:
// broadcasts (msgpack), requests and responses (JSON or msgpack), and the
// sharded mode's messages. Another node, an emitter or anyone who can
// publish to Redis writes them: none may panic the node. Answers go to a
// Redis that is not there (port 1), so they fail fast.
func FuzzMessages(f *testing.F) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	classic, err := NewClient(Options{URL: "redis://127.0.0.1:1/0", Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	sharded, err := NewClient(Options{URL: "redis://127.0.0.1:1/0", Sharded: true, Logger: quiet})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { classic.Close(); sharded.Close() })
	node := func(c *Client) {
		srv, err := server.New(server.Options{NewAdapter: c.NewAdapter, Logger: quiet})
		if err != nil {
			f.Fatal(err)
		}
		f.Cleanup(func() { _ = srv.Close() })
		srv.Of("/").OnServerSideEmit("ping", func(args []any, ack server.Ack) {
			if ack != nil {
				ack(args...)
			}
		})
	}
	node(classic)
	node(sharded)
	a := classic.state("/")
	s := sharded.state("/")
	_, uid, _ := a.current()
	_, suid, _ := s.current()
	type sub struct{ channel, pattern string }
	subs := []sub{{a.channel, a.channel + "*"}, {a.channel + "room#", a.channel + "*"}, {a.requestChannel, ""}, {a.responseChannel, ""}, {a.responseChannel + uid + "#", ""}}

	mp := func(v any) []byte {
		b, err := mpack.Encode(v)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	js := func(v any) []byte { b, _ := json.Marshal(v); return b }
	opts := map[string]any{"rooms": []any{"room", 7}, "except": []any{}, "flags": map[string]any{"volatile": true, "compress": false, "timeout": 100}}
	packet := map[string]any{"type": 2, "data": []any{"event", 1, map[string]any{"k": []byte{1, 2}}}, "nsp": "/"}
	seeds := [][]byte{
		mp([]any{"other-node", packet, opts}),
		js(map[string]any{"type": reqSockets, "uid": "other", "requestId": "r1", "rooms": []any{"room"}}),
		js(map[string]any{"type": reqRemoteJoin, "uid": "other", "requestId": "r2", "opts": opts, "rooms": []any{"x"}}),
		js(map[string]any{"type": reqRemoteJoin, "uid": "other", "requestId": "r3", "sid": "abc", "room": "x"}),
		js(map[string]any{"type": reqRemoteDisconnect, "uid": "other", "requestId": "r4", "opts": opts, "close": true}),
		js(map[string]any{"type": reqRemoteFetch, "uid": "other", "requestId": "r5", "opts": opts}),
		js(map[string]any{"type": reqServerSideEmit, "uid": "other", "requestId": "r6", "data": []any{"ping", 1}}),
		mp(map[string]any{"type": reqBroadcast, "uid": "other", "requestId": "r7", "packet": packet, "opts": opts}),
		js(map[string]any{"requestId": "r8", "sockets": []any{map[string]any{"id": "s", "handshake": map[string]any{"headers": map[string]any{"a": []any{"b"}}, "issued": 1}, "rooms": []any{"s"}, "data": nil}}}),
		js(map[string]any{"type": reqServerSideEmit, "requestId": "r9", "data": []any{1}}),
		mp(map[string]any{"uid": "other", "nsp": "/", "type": 3, "data": map[string]any{"packet": packet, "opts": opts}}),
		mp(map[string]any{"uid": "other", "nsp": "/", "type": 3, "data": map[string]any{"packet": packet, "opts": opts, "requestId": "r10"}}),
		js(map[string]any{"uid": "other", "nsp": "/", "type": 4, "data": map[string]any{"opts": opts, "rooms": []any{"y"}}}),
		mp(map[string]any{"uid": "other", "nsp": "/", "type": 6, "data": map[string]any{"opts": opts, "close": true}}),
		js(map[string]any{"uid": "other", "nsp": "/", "type": 7, "data": map[string]any{"opts": opts, "requestId": "r11"}}),
		[]byte("{"), {0xc1}, {0x91, 0xc0}, {},
	}
	for _, seed := range seeds {
		for i := range subs {
			f.Add(uint8(i), seed)
		}
	}
	f.Fuzz(func(t *testing.T, ch uint8, data []byte) {
		sb := subs[int(ch)%len(subs)]
		classic.dispatch(sb.channel, sb.pattern, data)
		sharded.dispatch(s.channel, "", data)
		sharded.dispatch(s.channel+suid+"#", "", data)
	})
}
