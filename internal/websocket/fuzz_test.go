package websocket

import (
	"net"
	"testing"
	"time"
	"unicode/utf8"
)

// discardConn is a net.Conn that takes every write and reads nothing.
type discardConn struct{}

func (discardConn) Read([]byte) (int, error)         { return 0, net.ErrClosed }
func (discardConn) Write(b []byte) (int, error)      { return len(b), nil }
func (discardConn) Close() error                     { return nil }
func (discardConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (discardConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (discardConn) SetDeadline(time.Time) error      { return nil }
func (discardConn) SetReadDeadline(time.Time) error  { return nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }

type countHandler struct {
	max     int
	badText bool // a text message of invalid UTF-8 was delivered
}

func (h *countHandler) OnMessage(_ *Conn, binary bool, data []byte) {
	h.max = max(h.max, len(data))
	h.badText = h.badText || !binary && !utf8.Valid(data)
}
func (h *countHandler) OnClose(*Conn, error) {}

// masked returns a masked client frame.
func masked(b0 byte, payload string) []byte {
	key := []byte{1, 2, 3, 4}
	b := append([]byte{b0, 0x80 | byte(len(payload))}, key...)
	for i := 0; i < len(payload); i++ {
		b = append(b, payload[i]^key[i%4])
	}
	return b
}

// FuzzFrames feeds the frame reader arbitrary bytes, cut at an arbitrary
// point: it never panics, never hands the handler more than the limit in
// one message, nor a text message that is not UTF-8.
func FuzzFrames(f *testing.F) {
	f.Add(masked(0x81, "hello"), uint8(3))
	f.Add(masked(0x81, ""), uint8(1))                              // empty text
	f.Add(masked(0x82, ""), uint8(0))                              // empty binary
	f.Add(append(masked(0x01, ""), masked(0x80, "")...), uint8(5)) // empty fragments
	f.Add(append(masked(0x01, "ab"), masked(0x80, "cd")...), uint8(7))
	f.Add([]byte{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'}, uint8(2))  // unmasked
	f.Add(masked(0xc1, "\xf2\x48\xcd\xc9\xc9\x07\x00"), uint8(4)) // deflated "Hello"
	f.Add(masked(0xc1, "\x02\x00"), uint8(4))                     // deflated empty
	f.Add(masked(0x89, "ping"), uint8(1))
	f.Add(masked(0x88, "\x03\xe8bye"), uint8(1))
	f.Add(masked(0x88, "\x03"), uint8(1))
	f.Add(masked(0x81, "\xff\xfe"), uint8(1)) // invalid UTF-8
	f.Add(append(masked(0x01, "\xce\xba\xf4"), masked(0x80, "\x90\x80\x80")...), uint8(9))
	f.Add(append([]byte{0x81, 0x80 | 9, 1, 2, 3, 4}, "\xcf\x81\xed\xa0\x80abcd"...), uint8(8))
	f.Add([]byte{0x82, 0xff, 0, 0, 0, 0, 0, 0, 0x10, 0, 1, 2, 3, 4}, uint8(9))
	// A fragment, then a continuation of 2^64-1 bytes: the bound's sum
	// once wrapped and sliced out of range.
	f.Add(append(masked(0x01, "a"), 0x80, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 'x', 'y', 'z', 'w', 'v', 'u'), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		s, err := NewServer(Config{MaxMessageSize: 64, Compression: true, CompressThreshold: 1024, MaxWriteBuffer: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		h := &countHandler{}
		c := &Conn{srv: s, handler: h, compress: true, nc: discardConn{}}
		i := min(int(cut), len(data))
		c.onData(append([]byte(nil), data[:i]...))
		c.onData(append([]byte(nil), data[i:]...))
		if h.max > 64 {
			t.Fatalf("handler got a message of %d bytes, over the limit", h.max)
		}
		if h.badText {
			t.Fatal("handler got a text message of invalid UTF-8")
		}
	})
}
