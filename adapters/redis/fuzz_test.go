package redis

import (
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/siogo/siogo/internal/mpack"
	"github.com/siogo/siogo/server"
)

// FuzzMessages feeds arbitrary bytes to what the adapter does with a
// message from Redis, in both modes and on every channel it listens to:
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
	srv, err := server.New(server.Options{})
	if err != nil {
		f.Fatal(err)
	}
	nsp := srv.Of("/")
	nsp.OnServerSideEmit("ping", func(args []any, ack server.Ack) {
		if ack != nil {
			ack(args...)
		}
	})
	a := classic.NewAdapter(nsp).(*Adapter)
	s := sharded.newShardedAdapter(nsp).(*shardedAdapter)
	channels := []string{a.channel, a.channel + "room#", a.requestChannel, a.responseChannel, a.specificResponseChannel}

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
		mp(map[string]any{"uid": "other", "nsp": "/", "type": msgBroadcast, "data": map[string]any{"packet": packet, "opts": opts}}),
		mp(map[string]any{"uid": "other", "nsp": "/", "type": msgBroadcast, "data": map[string]any{"packet": packet, "opts": opts, "requestId": "r10"}}),
		mp(map[string]any{"uid": "other", "nsp": "/", "type": msgSocketsJoin, "data": map[string]any{"opts": opts, "rooms": []any{"y"}}}),
		mp(map[string]any{"uid": "other", "nsp": "/", "type": msgDisconnectSockets, "data": map[string]any{"opts": opts, "close": true}}),
		[]byte("{"), {0xc1}, {0x91, 0xc0}, {},
	}
	for _, seed := range seeds {
		for i := range channels {
			f.Add(uint8(i), seed)
		}
	}
	f.Fuzz(func(t *testing.T, ch uint8, data []byte) {
		a.onMessage(channels[int(ch)%len(channels)], data)
		s.onMessage(s.channel, data)
	})
}
