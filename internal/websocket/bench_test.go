package websocket

import (
	"strings"
	"testing"
)

// BenchmarkReadFrames measures the frame reader: a read of 100 masked
// text frames of 64 bytes, each handed to a handler.
func BenchmarkReadFrames(b *testing.B) {
	var batch []byte
	for i := 0; i < 100; i++ {
		batch = append(batch, masked(finBit|opText, strings.Repeat("x", 64))...)
	}
	s, err := NewServer(Config{MaxMessageSize: 1e6, CompressThreshold: 1024, MaxWriteBuffer: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := &Conn{srv: s, handler: &countHandler{}, nc: discardConn{}}
	buf := make([]byte, len(batch))
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		copy(buf, batch) // unmasking works in place
		c.onData(buf)
	}
}
