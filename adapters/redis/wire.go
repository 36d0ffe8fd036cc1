package redis

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/siogo/siogo/internal/num"
	"github.com/siogo/siogo/server"
)

// The shapes of Node's adapter on the wire: packets as socket.io packet
// objects, options as {rooms, except, flags}, handshakes as Node's
// socket.handshake.

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

func packetFromWire(v any, nsp string) (*server.Packet, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	if n, ok := m["nsp"].(string); ok && n != nsp {
		return nil, false
	} else if !ok && nsp != "/" {
		return nil, false
	}
	t, ok := intOf(m["type"])
	if !ok || (t != int64(server.PacketEvent) && t != int64(server.PacketBinaryEvent)) {
		return nil, false
	}
	data, ok := m["data"].([]any)
	if !ok || len(data) == 0 {
		return nil, false
	}
	return &server.Packet{Type: server.PacketEvent, Nsp: nsp, Data: data}, true
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func roomsWire(opts server.BroadcastOptions) map[string]any {
	return map[string]any{"rooms": nonNil(opts.Rooms), "except": nonNil(opts.Except)}
}

func optsWire(opts server.BroadcastOptions) map[string]any {
	flags := map[string]any{}
	if opts.Flags.Volatile {
		flags["volatile"] = true
	}
	if opts.Flags.NoCompress {
		flags["compress"] = false
	}
	if opts.Flags.Timeout > 0 {
		flags["timeout"] = opts.Flags.Timeout.Milliseconds()
	}
	m := roomsWire(opts)
	m["flags"] = flags
	return m
}

func optsFromWire(v any) server.BroadcastOptions {
	m, _ := v.(map[string]any)
	opts := server.BroadcastOptions{Rooms: stringsOf(m["rooms"]), Except: stringsOf(m["except"])}
	if f, ok := m["flags"].(map[string]any); ok {
		opts.Flags.Volatile, _ = f["volatile"].(bool)
		if c, ok := f["compress"].(bool); ok && !c {
			opts.Flags.NoCompress = true
		}
		if ms, ok := intOf(f["timeout"]); ok && ms > 0 {
			opts.Flags.Timeout = time.Duration(ms) * time.Millisecond
		}
	}
	return opts
}

// stringsOf reads an array of room names; Node rooms may be numbers.
func stringsOf(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		switch x := e.(type) {
		case string:
			out = append(out, x)
		case float64, int8, int16, int32, int64, uint8, uint16, uint32, uint64:
			b, _ := json.Marshal(x)
			out = append(out, string(b))
		}
	}
	return out
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
		if v, err = server.DecodeMsgpack(b); err != nil {
			return nil, false
		}
	}
	m, ok := v.(map[string]any)
	return m, ok
}

// handshakeWire is socket.handshake as Node writes it.
func handshakeWire(h server.Handshake) map[string]any {
	headers := map[string]any{}
	for k, v := range h.Headers {
		headers[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	query := map[string]any{}
	for k, v := range h.Query {
		if len(v) > 0 {
			query[k] = v[0]
		}
	}
	auth := h.Auth
	if auth == nil {
		auth = map[string]any{}
	}
	return map[string]any{
		"headers": headers,
		"time":    h.Time.UTC().Format("Mon Jan 02 2006 15:04:05 GMT-0700 (MST)"),
		"address": h.Address,
		"xdomain": h.XDomain,
		"secure":  h.Secure,
		"issued":  h.Time.UnixMilli(),
		"url":     h.URL,
		"query":   query,
		"auth":    auth,
	}
}

func handshakeFromWire(v any) server.Handshake {
	m, _ := v.(map[string]any)
	h := server.Handshake{Headers: http.Header{}, Query: url.Values{}}
	if hs, ok := m["headers"].(map[string]any); ok {
		for k, v := range hs {
			switch x := v.(type) {
			case string:
				h.Headers.Set(k, x)
			case []any:
				for _, e := range x {
					if s, ok := e.(string); ok {
						h.Headers.Add(k, s)
					}
				}
			}
		}
	}
	if q, ok := m["query"].(map[string]any); ok {
		for k, v := range q {
			if s, ok := v.(string); ok {
				h.Query.Set(k, s)
			}
		}
	}
	if ms, ok := intOf(m["issued"]); ok {
		h.Time = time.UnixMilli(ms)
	}
	h.Address, _ = m["address"].(string)
	h.XDomain, _ = m["xdomain"].(bool)
	h.Secure, _ = m["secure"].(bool)
	h.URL, _ = m["url"].(string)
	h.Auth, _ = m["auth"].(map[string]any)
	return h
}

func remoteSocketFromWire(nsp *server.Namespace, v any) *server.RemoteSocket {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	id, _ := m["id"].(string)
	if id == "" {
		return nil
	}
	return server.NewRemoteSocket(nsp, id, handshakeFromWire(m["handshake"]), stringsOf(m["rooms"]), m["data"])
}
