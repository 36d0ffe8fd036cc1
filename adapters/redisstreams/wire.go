package redisstreams

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/siogo/siogo/adapters/cluster"
	"github.com/siogo/siogo/internal/adapterwire"
	"github.com/siogo/siogo/internal/mpack"
	"github.com/siogo/siogo/server"
)

// ErrBadEntry is what decoding a malformed stream entry or message returns.
var ErrBadEntry = errors.New("redisstreams: malformed entry")

// mayContainBinary are the types whose data Node writes as base64 msgpack
// when it holds binary.
func mayContainBinary(t cluster.MessageType) bool {
	switch t {
	case cluster.Broadcast, cluster.FetchSocketsResponse, cluster.ServerSideEmit, cluster.ServerSideEmitResponse, cluster.BroadcastAck:
		return true
	}
	return false
}

// encodeEntry gives the field-value pairs of XADD: data as JSON, or as
// base64 msgpack when it holds binary (unless plaintext).
func encodeEntry(m *cluster.Message, plaintext bool) ([]any, error) {
	fields := []any{"uid", m.UID, "nsp", m.Nsp, "type", strconv.Itoa(int(m.Type))}
	if m.Data != nil {
		var data string
		if !plaintext && mayContainBinary(m.Type) && m.HasBinary() {
			b, err := mpack.Encode(m.Data)
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
func decodeEntry(fields map[string]string) (*cluster.Message, error) {
	t, err := strconv.Atoi(fields["type"])
	if err != nil || t < int(cluster.InitialHeartbeat) || t > int(cluster.AdapterClose) {
		return nil, fmt.Errorf("%w: type %q", ErrBadEntry, fields["type"])
	}
	m := &cluster.Message{UID: fields["uid"], Nsp: fields["nsp"], Type: cluster.MessageType(t)}
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
		if v, err = mpack.Decode(b); err != nil {
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

// Sessions: msgpack of {sid, pid, rooms, data}, base64, as Node's
// persistSession writes them.

func encodeSession(ps *server.PersistedSession) (string, error) {
	data := ps.Data
	if data == nil {
		data = map[string]any{}
	}
	b, err := mpack.Encode(map[string]any{"sid": ps.SID, "pid": ps.PID, "rooms": adapterwire.NonNil(ps.Rooms), "data": data})
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
	v, err := mpack.Decode(b)
	if err != nil {
		return nil, fmt.Errorf("%w: session: %v", ErrBadEntry, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: session is not a map", ErrBadEntry)
	}
	ps := &server.PersistedSession{Rooms: adapterwire.Strings(m["rooms"]), Data: m["data"]}
	ps.SID, _ = m["sid"].(string)
	ps.PID, _ = m["pid"].(string)
	if ps.SID == "" || ps.PID == "" {
		return nil, fmt.Errorf("%w: session without sid or pid", ErrBadEntry)
	}
	return ps, nil
}
