package server

import (
	"reflect"
	"testing"
)

// TestConnectErrorOrder: a middleware's refusal is written as Node writes
// it, message first and data left out when there is none; the msgpack
// parser gives the same map.
func TestConnectErrorOrder(t *testing.T) {
	for _, tc := range []struct {
		data connectErrorData
		want string
	}{
		{connectErrorData{Message: "not authorized", Data: map[string]any{"code": 401}}, `4{"message":"not authorized","data":{"code":401}}`},
		{connectErrorData{Message: "no"}, `4{"message":"no"}`},
	} {
		pkt := &Packet{Type: PacketConnectError, Nsp: "/", Data: tc.data}
		msgs, err := JSONParser{}.Encode(pkt)
		if err != nil || len(msgs) != 1 || string(msgs[0].Data) != tc.want {
			t.Errorf("JSON: %v %v, want %q", msgs, err, tc.want)
		}
		msgs, err = MsgpackParser{}.Encode(pkt)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("msgpack: %v %v", msgs, err)
		}
		got, err := MsgpackParser{}.NewDecoder().Add(msgs[0].Data, true)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]any{"message": tc.data.Message}
		if tc.data.Data != nil {
			want["data"] = map[string]any{"code": 401}
		}
		if !reflect.DeepEqual(normalize(got.Data), normalize(want)) {
			t.Errorf("msgpack: %#v, want %#v", got.Data, want)
		}
	}
}

// normalize makes msgpack's integer widths comparable.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case int8, int16, int32, int64, uint8, uint16, uint32, uint64, int:
		return reflect.ValueOf(x).Convert(reflect.TypeOf(float64(0))).Interface()
	}
	return v
}
