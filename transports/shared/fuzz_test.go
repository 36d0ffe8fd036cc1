package shared

import (
	"net/http"
	"testing"

	"github.com/siogo/siogo/adapters/cluster"
)

// FuzzDecode: whatever another process puts on the relay channel, decode
// returns a message or an error, never a panic; a message round-trips.
func FuzzDecode(f *testing.F) {
	for _, m := range []*msg{
		{kind: kindRequest, to: "aaaaaaaa", from: "bbbbbbbb", id: "r1", method: "POST", uri: "/socket.io/?sid=x", header: http.Header{"A": {"1", "2"}}, body: []byte("4hi")},
		{kind: kindResponse, to: "bbbbbbbb", from: "aaaaaaaa", id: "r1", status: 413},
		{kind: kindData, to: "x", from: "y", id: "t", seq: 7, body: []byte{0, 1, 2}},
	} {
		b, err := m.message().Msgpack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		j, _ := m.message().JSON()
		f.Add(j)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var cm *cluster.Message
		var err error
		if len(b) > 0 && b[0] == '{' {
			cm, err = cluster.DecodeJSON(b)
		} else {
			cm, err = cluster.DecodeMsgpack(b)
		}
		if err != nil {
			return
		}
		m, err := decode(cm)
		if err != nil {
			return
		}
		again, err := decode(m.message())
		if err != nil || again.kind != m.kind || again.id != m.id || string(again.body) != string(m.body) || again.seq != m.seq {
			t.Fatalf("round trip: %+v -> %+v (%v)", m, again, err)
		}
	})
}
