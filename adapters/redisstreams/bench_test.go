package redisstreams_test

import (
	"testing"

	"github.com/siogo/siogo/internal/redistest"
	"github.com/siogo/siogo/internal/siotest"
)

// BenchmarkBroadcast: a broadcast's way through the stream and back (XADD,
// then the reader's XREAD, decoding and delivery), each Emit waiting for
// its own delivery as it does. One client is connected and never reads,
// so past its queue's bound it is cut and delivery finds no one.
func BenchmarkBroadcast(b *testing.B) {
	rs := redistest.Start(b)
	n := newNode(b, rs.URL, 0)
	c := siotest.Dial(b, n.URL)
	c.Connect()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = n.srv.Emit("bench", i, "some text of an event")
	}
}
