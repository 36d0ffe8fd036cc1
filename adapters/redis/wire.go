package redis

import (
	"encoding/json"
	"fmt"

	"github.com/siogo/siogo/internal/adapterwire"
	"github.com/siogo/siogo/internal/mpack"
	"github.com/siogo/siogo/internal/num"
	"github.com/siogo/siogo/server"
)

// Packets as Node's redis-adapter writes them, as socket.io packet objects;
// options, handshakes and sockets are in internal/adapterwire.

func packetWire(p *server.Packet, nsp string) map[string]any {
	t := p.Type
	switch t {
	case server.PacketBinaryEvent:
		t = server.PacketEvent
	case server.PacketBinaryAck:
		t = server.PacketAck
	}
	m := map[string]any{"type": int(t), "data": p.Data, "nsp": nsp}
	if p.HasID {
		m["id"] = p.ID
	}
	return m
}

// packetFromWire reads the event packet of a broadcast to nsp; unlike the
// streams adapter, a packet without nsp is only the main namespace's.
func packetFromWire(v any, nsp string) (*server.Packet, bool) {
	if m, ok := v.(map[string]any); ok {
		if _, ok := m["nsp"].(string); !ok && nsp != "/" {
			return nil, false
		}
	}
	return adapterwire.PacketFrom(v, nsp)
}

func intOf(v any) (int64, bool) { return num.Int64(v) }

// decodeRequest reads a request or response: JSON when it starts with
// '{', msgpack otherwise, as Node's adapter decides.
func decodeRequest(b []byte) (map[string]any, bool) {
	var v any
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &v); err != nil {
			return nil, false
		}
	} else {
		var err error
		if v, err = mpack.Decode(b); err != nil {
			return nil, false
		}
	}
	m, ok := v.(map[string]any)
	return m, ok
}

// timeoutError is the error of a request that timed out, as Node's
// redis-adapter words it.
func timeoutError(what string) func(answered, expected int) error {
	return func(int, int) error {
		return fmt.Errorf("redis adapter: timeout reached while waiting for %s response", what)
	}
}
