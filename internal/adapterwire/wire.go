// Package adapterwire is the wire format of the cluster messages of Node's
// socket.io-adapter (ClusterAdapter), which every Node adapter writes:
// broadcast options, socket handshakes and the sockets of fetchSockets, as
// the maps the JSON and msgpack codecs read and write. The cluster adapter
// (adapters/cluster) and the brokers that translate its messages to
// another protocol (adapters/redis's classic mode) share it.
package adapterwire

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/siogo/siogo/internal/num"
	"github.com/siogo/siogo/server"
)

// NonNil is s, or an empty list for nil: Node writes [] for an empty set,
// never null.
func NonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Rooms is {rooms, except} of opts, the options Node's redis-adapter sends
// with its older requests (fetchSockets, join, leave, disconnect).
func Rooms(opts server.BroadcastOptions) map[string]any {
	return map[string]any{"rooms": NonNil(opts.Rooms), "except": NonNil(opts.Except)}
}

// Options is socket.io-adapter's encodeOptions: {rooms, except, flags},
// with the flags Node sends (volatile, compress: false, timeout in ms).
func Options(opts server.BroadcastOptions) map[string]any {
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
	m := Rooms(opts)
	m["flags"] = flags
	return m
}

// OptionsFrom is socket.io-adapter's decodeOptions: the broadcast options
// of v, as Options writes them; what is missing or malformed is left out.
func OptionsFrom(v any) server.BroadcastOptions {
	m, _ := v.(map[string]any)
	opts := server.BroadcastOptions{Rooms: Strings(m["rooms"]), Except: Strings(m["except"])}
	if f, ok := m["flags"].(map[string]any); ok {
		opts.Flags.Volatile, _ = f["volatile"].(bool)
		if c, ok := f["compress"].(bool); ok && !c {
			opts.Flags.NoCompress = true
		}
		if ms, ok := num.Int64(f["timeout"]); ok && ms > 0 {
			opts.Flags.Timeout = time.Duration(ms) * time.Millisecond
		}
	}
	return opts
}

// Strings reads a list of room names. Node's rooms may be numbers: they
// become the string JavaScript's String() gives them; other elements are
// left out.
func Strings(v any) []string {
	if s, ok := v.([]string); ok { // as Options writes them, before any codec
		return slices.Clone(s)
	}
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		switch x := e.(type) {
		case string:
			out = append(out, x)
		default:
			if n, ok := num.Int64(x); ok {
				out = append(out, strconv.FormatInt(n, 10))
				continue
			}
			switch x.(type) {
			case float32, float64, uint64:
				// Fractions and numbers past 2^53: encoding/json writes
				// floats as JavaScript does.
				if b, err := json.Marshal(x); err == nil {
					out = append(out, string(b))
				}
			}
		}
	}
	return out
}

// Handshake is socket.handshake as Node writes it: headers lower-cased and
// joined, the first value of each query parameter, time as Date's
// toString and issued in ms.
func Handshake(h server.Handshake) map[string]any {
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

// HandshakeFrom reads a handshake another node wrote, Go's or Node's.
func HandshakeFrom(v any) server.Handshake {
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
	if ms, ok := num.Int64(m["issued"]); ok {
		h.Time = time.UnixMilli(ms)
	}
	h.Address, _ = m["address"].(string)
	h.XDomain, _ = m["xdomain"].(bool)
	h.Secure, _ = m["secure"].(bool)
	h.URL, _ = m["url"].(string)
	h.Auth, _ = m["auth"].(map[string]any)
	return h
}

// Sockets describes local sockets as Node's fetchSockets answers them:
// {id, handshake, rooms, data}.
func Sockets(local []*server.RemoteSocket) []any {
	out := make([]any, 0, len(local))
	for _, s := range local {
		data := s.Data
		if data == nil {
			// Node's socket.data is never null, and Node's readers count
			// on it (the admin UI's server side spreads it).
			data = map[string]any{}
		}
		out = append(out, map[string]any{
			"id": s.ID, "handshake": Handshake(s.Handshake), "rooms": NonNil(s.Rooms), "data": data,
		})
	}
	return out
}

// RemoteSocketFrom reads one socket of a fetchSockets answer, a socket of
// local's namespace; nil when it has no id.
func RemoteSocketFrom(local *server.MemoryAdapter, v any) *server.RemoteSocket {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	id, _ := m["id"].(string)
	if id == "" {
		return nil
	}
	return local.RemoteSocket(id, HandshakeFrom(m["handshake"]), Strings(m["rooms"]), m["data"])
}

// PacketFrom reads the event packet of a broadcast to namespace nsp: nil
// and false when it is not an event with data or is of another namespace.
// A packet without nsp is taken as nsp's, as socket.io-adapter writes
// some; an adapter that wants nsp checks it before.
func PacketFrom(v any, nsp string) (*server.Packet, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	if n, ok := m["nsp"].(string); ok && n != nsp {
		return nil, false
	}
	t, ok := num.Int64(m["type"])
	if !ok || (t != int64(server.PacketEvent) && t != int64(server.PacketBinaryEvent)) {
		return nil, false
	}
	data, ok := m["data"].([]any)
	if !ok || len(data) == 0 {
		return nil, false
	}
	return &server.Packet{Type: server.PacketEvent, Nsp: nsp, Data: data}, true
}

// OnceAck is the ack of a serverSideEmit: its first call answers with its
// first argument, as Node expects one; later calls return server.ErrAckSent.
func OnceAck(answer func(arg any)) server.Ack {
	var done atomic.Bool
	return func(args ...any) error {
		if !done.CompareAndSwap(false, true) {
			return server.ErrAckSent
		}
		answer(FirstArg(args))
		return nil
	}
}

// FirstArg is an ack's first argument, what a broadcast ack carries to the
// node that sent the broadcast; nil when there is none.
func FirstArg(args []any) any {
	if len(args) > 0 {
		return args[0]
	}
	return nil
}
