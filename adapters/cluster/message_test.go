package cluster_test

import (
	"reflect"
	"testing"

	"github.com/siogo/siogo/adapters/cluster"
)

// TestMessageForms: JSON and msgpack carry a message whole, and decode as
// Node's nodes write them.
func TestMessageForms(t *testing.T) {
	m := &cluster.Message{UID: "u", Nsp: "/", Type: cluster.Broadcast, Data: map[string]any{
		"packet": map[string]any{"type": 2, "data": []any{"e", []byte{1, 2}}, "nsp": "/"},
	}}
	if !m.HasBinary() {
		t.Fatal("binary not seen")
	}
	b, err := m.Msgpack()
	if err != nil {
		t.Fatal(err)
	}
	back, err := cluster.DecodeMsgpack(b)
	if err != nil {
		t.Fatal(err)
	}
	data := back.Data["packet"].(map[string]any)["data"].([]any)
	if back.UID != "u" || back.Nsp != "/" || back.Type != cluster.Broadcast || !reflect.DeepEqual(data[1], []byte{1, 2}) {
		t.Fatalf("msgpack round trip: %+v", back)
	}
	// Node's JSON: its key order, no data for a heartbeat.
	hb, err := cluster.DecodeJSON([]byte(`{"type":2,"uid":"abc","nsp":"/chat"}`))
	if err != nil || hb.Type != cluster.Heartbeat || hb.UID != "abc" || hb.Nsp != "/chat" || hb.Data != nil {
		t.Fatalf("heartbeat %+v %v", hb, err)
	}
	for _, bad := range []string{`[]`, `{"type":14}`, `{"type":"3"}`, `{"type":3,"data":[1]}`, `{`} {
		if _, err := cluster.DecodeJSON([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if !cluster.BroadcastAck.IsResponse() || cluster.Broadcast.IsResponse() {
		t.Error("IsResponse")
	}
}

// FuzzDecodeJSON: any bytes give a message or an error, never a panic.
func FuzzDecodeJSON(f *testing.F) {
	f.Add([]byte(`{"uid":"u","nsp":"/","type":3,"data":{"packet":{"type":2,"data":["e"]},"opts":{"rooms":[],"except":[],"flags":{}}}}`))
	f.Add([]byte(`{"uid":"u","type":3,"attachmentId":"12"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := cluster.DecodeJSON(b)
		if err == nil {
			if _, err := m.JSON(); err != nil {
				t.Fatalf("a decoded message does not encode: %v", err)
			}
		}
	})
}

// FuzzDecodeMsgpack: any bytes give a message or an error, never a panic
// nor a large allocation.
func FuzzDecodeMsgpack(f *testing.F) {
	m := &cluster.Message{UID: "u", Nsp: "/", Type: cluster.FetchSocketsResponse, Data: map[string]any{"requestId": "r", "sockets": []any{map[string]any{"id": "x"}}}}
	b, _ := m.Msgpack()
	f.Add(b)
	f.Add([]byte{0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if m, err := cluster.DecodeMsgpack(b); err == nil {
			if _, err := m.Msgpack(); err != nil {
				t.Fatalf("a decoded message does not encode: %v", err)
			}
		}
	})
}
