package redisstreams

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/siogo/siogo/internal/num"
	"github.com/siogo/siogo/server"
)

// The message types of socket.io-adapter's ClusterAdapter, which Node's
// streams adapter builds on.
const (
	typeInitialHeartbeat = iota + 1
	typeHeartbeat
	typeBroadcast
	typeSocketsJoin
	typeSocketsLeave
	typeDisconnectSockets
	typeFetchSockets
	typeFetchSocketsResponse
	typeServerSideEmit
	typeServerSideEmitResponse
	typeBroadcastClientCount
	typeBroadcastAck
	typeAdapterClose
)

// message is a cluster message: what Node's adapter writes in a stream
// entry (uid, nsp, type, data) or publishes as msgpack.
type message struct {
	UID  string
	Nsp  string
	Type int
	Data map[string]any
}

// ErrBadEntry is what decoding a malformed stream entry or message returns.
var ErrBadEntry = errors.New("redisstreams: malformed entry")

// mayContainBinary are the types whose data Node writes as base64 msgpack
// when it holds binary.
func mayContainBinary(t int) bool {
	switch t {
	case typeBroadcast, typeFetchSocketsResponse, typeServerSideEmit, typeServerSideEmitResponse, typeBroadcastAck:
		return true
	}
	return false
}

// encodeEntry gives the field-value pairs of XADD: data as JSON, or as
// base64 msgpack when it holds binary (unless plaintext).
func encodeEntry(m *message, plaintext bool) ([]any, error) {
	fields := []any{"uid", m.UID, "nsp", m.Nsp, "type", strconv.Itoa(m.Type)}
	if m.Data != nil {
		var data string
		if !plaintext && mayContainBinary(m.Type) && hasBinary(m.Data, 0) {
			b, err := server.EncodeMsgpack(m.Data)
			if err != nil {
				return nil, err
			}
			data = base64.StdEncoding.EncodeToString(b)
		} else {
			b, err := marshalJSON(m.Data)
			if err != nil {
				return nil, err
			}
			data = string(b)
		}
		fields = append(fields, "data", data)
	}
	return fields, nil
}

// marshalJSON is JSON as JavaScript's JSON.stringify writes it: no HTML
// escaping.
func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// decodeEntry reads the fields of a stream entry as Node's adapter does:
// data is JSON when it starts with '{', base64 msgpack otherwise.
func decodeEntry(fields map[string]string) (*message, error) {
	t, err := strconv.Atoi(fields["type"])
	if err != nil {
		return nil, fmt.Errorf("%w: type %q", ErrBadEntry, fields["type"])
	}
	m := &message{UID: fields["uid"], Nsp: fields["nsp"], Type: t}
	raw, ok := fields["data"]
	if !ok || raw == "" {
		return m, nil
	}
	var v any
	if raw[0] == '{' {
		if err := json.Unmarshal([]byte(raw), &v); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadEntry, err)
		}
	} else {
		b, err := base64.StdEncoding.DecodeString(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadEntry, err)
		}
		if v, err = server.DecodeMsgpack(b); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadEntry, err)
		}
	}
	data, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: data is not an object", ErrBadEntry)
	}
	m.Data = data
	return m, nil
}

// encodeMessage is a message as Node publishes it on pub/sub: msgpack of
// {uid, nsp, type, data}.
func encodeMessage(m *message) ([]byte, error) {
	v := map[string]any{"uid": m.UID, "nsp": m.Nsp, "type": m.Type}
	if m.Data != nil {
		v["data"] = m.Data
	}
	return server.EncodeMsgpack(v)
}

func decodeMessage(b []byte) (*message, error) {
	v, err := server.DecodeMsgpack(b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEntry, err)
	}
	mv, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: not a map", ErrBadEntry)
	}
	t, ok := num.Int64(mv["type"])
	if !ok {
		return nil, fmt.Errorf("%w: no type", ErrBadEntry)
	}
	m := &message{Type: int(t)}
	m.UID, _ = mv["uid"].(string)
	m.Nsp, _ = mv["nsp"].(string)
	m.Data, _ = mv["data"].(map[string]any)
	return m, nil
}

// hasBinary reports whether v holds a []byte, as Node's hasBinary; depth
// is bounded by the decoders that built v.
func hasBinary(v any, depth int) bool {
	if depth > 1000 {
		return false
	}
	switch x := v.(type) {
	case []byte:
		return true
	case []any:
		for _, e := range x {
			if hasBinary(e, depth+1) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if hasBinary(e, depth+1) {
				return true
			}
		}
	}
	return false
}

// hashCode is Java's String.hashCode over UTF-16 code units, as Node's
// util.hashCode, in 32-bit signed arithmetic.
func hashCode(s string) int32 {
	var h int32
	for _, c := range utf16.Encode([]rune(s)) {
		h = h*31 + int32(c)
	}
	return h
}

// streamName is the stream of a namespace: name, or name-i with several
// streams, i = hashCode(nsp) % count as JavaScript computes it (the sign of
// the dividend: "socket.io--1" is a name Node can use).
func streamName(name string, count int, nsp string) string {
	if count <= 1 {
		return name
	}
	return name + "-" + strconv.Itoa(int(hashCode(nsp)%int32(count)))
}

// streamID is a stream entry id, ms-seq.
type streamID struct{ ms, seq uint64 }

func parseID(s string) (streamID, bool) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return streamID{}, false
	}
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil {
		return streamID{}, false
	}
	return streamID{ms, seq}, true
}

func (id streamID) String() string {
	return strconv.FormatUint(id.ms, 10) + "-" + strconv.FormatUint(id.seq, 10)
}

func (id streamID) less(o streamID) bool {
	return id.ms < o.ms || (id.ms == o.ms && id.seq < o.seq)
}

// next is the smallest id after id, for XRANGE from an exclusive start
// (exclusive ranges came with Redis 6.2; Node does the same).
func (id streamID) next() streamID {
	if id.seq == ^uint64(0) {
		return streamID{id.ms + 1, 0}
	}
	return streamID{id.ms, id.seq + 1}
}

// Packets and options as socket.io-adapter writes them.

func packetWire(p *server.Packet) map[string]any {
	m := map[string]any{"type": int(server.PacketEvent), "data": p.Data, "nsp": p.Nsp}
	return m
}

// packetFromWire reads an event packet of nsp; Node's packets may lack nsp.
func packetFromWire(v any, nsp string) (*server.Packet, bool) {
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

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// optsWire is encodeOptions of socket.io-adapter: {rooms, except, flags}.
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
	return map[string]any{"rooms": nonNil(opts.Rooms), "except": nonNil(opts.Except), "flags": flags}
}

func optsFromWire(v any) server.BroadcastOptions {
	m, _ := v.(map[string]any)
	opts := server.BroadcastOptions{Rooms: stringsOf(m["rooms"]), Except: stringsOf(m["except"])}
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

// stringsOf reads a list of room names; Node's rooms may be numbers.
func stringsOf(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		switch x := e.(type) {
		case string:
			out = append(out, x)
		default:
			if n, ok := num.Int64(x); ok {
				out = append(out, strconv.FormatInt(n, 10))
			}
		}
	}
	return out
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

func socketsWire(local []*server.RemoteSocket) []any {
	out := make([]any, 0, len(local))
	for _, s := range local {
		data := s.Data
		if data == nil {
			data = map[string]any{} // Node's socket.data starts as {}
		}
		out = append(out, map[string]any{
			"id": s.ID, "handshake": handshakeWire(s.Handshake), "rooms": nonNil(s.Rooms), "data": data,
		})
	}
	return out
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

// Sessions: msgpack of {sid, pid, rooms, data}, base64, as Node's
// persistSession writes them.

func encodeSession(ps *server.PersistedSession) (string, error) {
	data := ps.Data
	if data == nil {
		data = map[string]any{}
	}
	b, err := server.EncodeMsgpack(map[string]any{"sid": ps.SID, "pid": ps.PID, "rooms": nonNil(ps.Rooms), "data": data})
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

func decodeSession(s string) (*server.PersistedSession, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("%w: session: %v", ErrBadEntry, err)
	}
	v, err := server.DecodeMsgpack(b)
	if err != nil {
		return nil, fmt.Errorf("%w: session: %v", ErrBadEntry, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: session is not a map", ErrBadEntry)
	}
	ps := &server.PersistedSession{Rooms: stringsOf(m["rooms"]), Data: m["data"]}
	ps.SID, _ = m["sid"].(string)
	ps.PID, _ = m["pid"].(string)
	if ps.SID == "" || ps.PID == "" {
		return nil, fmt.Errorf("%w: session without sid or pid", ErrBadEntry)
	}
	return ps, nil
}
