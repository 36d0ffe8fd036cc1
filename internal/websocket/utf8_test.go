package websocket

import (
	"strings"
	"testing"
	"unicode/utf8"
)

var utf8Samples = []string{
	"", "hello", "Hello-\u00b5@\u00df\u00f6\u00e4\u00fc\u00e0\u00e1-UTF-8!!",
	"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", "\xf0\xa4\xad\xa2", "\xf4\x8f\xbf\xbf", "\xef\xbf\xbe",
	"\xed\x9f\xbf", "\xee\x80\x80", "\x00\x7f",
	// Invalid: surrogates, past U+10FFFF, overlong, stray continuations,
	// lonely and truncated leads, impossible bytes.
	"\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "\xe0\x80\xaf", "\xf0\x8f\xbf\xbf", "\x80", "ab\xbf",
	"\xc2 ", "\xe2\x82", "\xf0\x9f\x98", "\xfe", "\xff\xfe", "\xf8\x88\x80\x80\x80", "\xc1\xbf",
	"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited",
}

// checkSplit checks s cut at the given points with one utf8State.
func checkSplit(s string, cuts ...int) bool {
	var st utf8State
	prev := 0
	for _, c := range append(cuts, len(s)) {
		if !st.check([]byte(s[prev:c])) {
			return false
		}
		prev = c
	}
	return st.complete()
}

// TestUTF8Incremental: however a text is cut, the checker agrees with
// utf8.Valid on the whole.
func TestUTF8Incremental(t *testing.T) {
	for _, s := range utf8Samples {
		want := utf8.ValidString(s)
		for i := 0; i <= len(s); i++ {
			for j := i; j <= len(s); j++ {
				if got := checkSplit(s, i, j); got != want {
					t.Errorf("%q cut at %d, %d: %v, want %v", s, i, j, got, want)
				}
			}
		}
		var st utf8State
		ok := true
		for i := 0; i < len(s) && ok; i++ {
			ok = st.check([]byte{s[i]})
		}
		if got := ok && st.complete(); got != want {
			t.Errorf("%q byte by byte: %v, want %v", s, got, want)
		}
	}
}

// TestUTF8FailFast: the check fails at the first byte no valid text can
// have there, not at the end of the text.
func TestUTF8FailFast(t *testing.T) {
	for _, tc := range []struct{ s, bad string }{
		{"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4", "\x90"}, // past U+10FFFF
		{"ok\xed", "\xa0"},  // a surrogate
		{"ok\xe0", "\x80"},  // overlong
		{"ok\xf0", "\x8f"},  // overlong
		{"ok", "\xc0"},      // never valid
		{"ok\xe2\x82", "a"}, // truncated
		{"ok", "\x80"},      // a stray continuation
	} {
		var st utf8State
		if !st.check([]byte(tc.s)) {
			t.Errorf("%q refused before its bad byte", tc.s)
		}
		if st.check([]byte(tc.bad)) {
			t.Errorf("%q then %q accepted", tc.s, tc.bad)
		}
	}
}

// FuzzUTF8 cuts arbitrary bytes at two points: the checker agrees with
// utf8.Valid.
func FuzzUTF8(f *testing.F) {
	for _, s := range utf8Samples {
		f.Add(s, uint8(1), uint8(3))
	}
	f.Fuzz(func(t *testing.T, s string, a, b uint8) {
		i := min(int(a), len(s))
		j := min(max(int(b), i), len(s))
		if got, want := checkSplit(s, i, j), utf8.ValidString(s); got != want {
			t.Fatalf("%q cut at %d, %d: %v, want %v", s, i, j, got, want)
		}
	})
}

// TestFailFastOnTheWire: a text message's invalid UTF-8 closes the
// connection with 1007 as soon as it arrives, in a later fragment or in a
// frame still incomplete, without waiting for the end of the message.
func TestFailFastOnTheWire(t *testing.T) {
	head := "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
	for _, tc := range []struct {
		name  string
		write func(c *client)
	}{
		{"next fragment", func(c *client) {
			c.sendRaw(opText, true, head)
			c.sendRaw(opContinuation, true, "\xf4\x90")
		}},
		{"inside a frame", func(c *client) {
			// A frame of 100 bytes of which 13 are sent, the last two
			// already impossible.
			b := []byte{finBit | opText, 0x80 | 100, 0, 0, 0, 0}
			b = append(b, head+"\xf4\x90"...)
			_, _ = c.conn.Write(b)
		}},
		{"byte by byte", func(c *client) {
			b := []byte{finBit | opText, 0x80 | 100, 0, 0, 0, 0}
			b = append(b, head+"\xed\xa0"...)
			for i := range b {
				_, _ = c.conn.Write(b[i : i+1])
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr := serve(t, Config{})
			c := dial(t, addr)
			tc.write(c)
			if op, p := c.read(); op != opClose || p != "\x03\xef" {
				t.Fatalf("got %d %q, want close 1007", op, p)
			}
		})
	}
	// Valid text cut anywhere, in frames and inside them, still passes.
	_, addr := serve(t, Config{})
	c := dial(t, addr)
	msg := strings.Repeat(head, 3)
	b := []byte{opText, 0x80 | 5, 0, 0, 0, 0}
	b = append(b, msg[:5]...)
	b = append(b, finBit|opContinuation, 0x80|byte(len(msg)-5), 0, 0, 0, 0)
	b = append(b, msg[5:]...)
	for i := range b {
		_, _ = c.conn.Write(b[i : i+1])
	}
	if op, p := c.read(); op != opText || p != msg {
		t.Fatalf("got %d %q, want %q", op, p, msg)
	}
}
