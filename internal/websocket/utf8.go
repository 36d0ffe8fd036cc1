package websocket

import "unicode/utf8"

// A text message's UTF-8 is checked as its bytes arrive, so that the
// connection fails (1007) at the first byte that cannot be part of valid
// UTF-8, not once the message is complete (RFC 6455 section 8.1; the
// Autobahn testsuite's cases 6.4 call it fail-fast). A message compressed
// with permessage-deflate is checked once inflated.

// utf8State is what a check left over: the first bytes of a code point
// the next bytes may complete.
type utf8State struct {
	b [3]byte
	n uint8
}

// seqLen is the length of the sequence a lead byte starts; 0 for a byte
// that starts none (a continuation byte, C0, C1, F5 to FF).
func seqLen(c byte) int {
	switch {
	case c >= 0xc2 && c <= 0xdf:
		return 2
	case c >= 0xe0 && c <= 0xef:
		return 3
	case c >= 0xf0 && c <= 0xf4:
		return 4
	}
	return 0
}

// validPrefix reports whether b, shorter than the sequence its first byte
// starts, can still become a valid code point: no overlong form, no
// surrogate, nothing past U+10FFFF (the second byte's ranges of RFC 3629).
func validPrefix(b []byte) bool {
	if len(b) == 0 || len(b) >= seqLen(b[0]) {
		return false
	}
	if len(b) >= 2 {
		lo, hi := byte(0x80), byte(0xbf)
		switch b[0] {
		case 0xe0:
			lo = 0xa0
		case 0xed:
			hi = 0x9f
		case 0xf0:
			lo = 0x90
		case 0xf4:
			hi = 0x8f
		}
		if b[1] < lo || b[1] > hi {
			return false
		}
	}
	return len(b) < 3 || b[2]&0xc0 == 0x80
}

// check reports whether p, following what s holds, is valid UTF-8 so far;
// a code point p leaves incomplete at its end is kept for the next check.
func (s *utf8State) check(p []byte) bool {
	if s.n > 0 {
		var seq [4]byte
		copy(seq[:], s.b[:s.n])
		need := seqLen(s.b[0]) - int(s.n)
		take := min(need, len(p))
		k := int(s.n) + copy(seq[s.n:], p[:take])
		if take < need {
			if !validPrefix(seq[:k]) {
				return false
			}
			s.n = uint8(copy(s.b[:], seq[:k]))
			return true
		}
		if !utf8.Valid(seq[:k]) {
			return false
		}
		s.n = 0
		p = p[take:]
	}
	// The last bytes may start a code point the next bytes complete.
	cut := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-3; i-- {
		if c := p[i]; c < 0x80 || c >= 0xc0 {
			if c >= 0xc0 && i+seqLen(c) > len(p) {
				cut = i
			}
			break
		}
	}
	if !utf8.Valid(p[:cut]) {
		return false
	}
	if tail := p[cut:]; len(tail) > 0 {
		if !validPrefix(tail) {
			return false
		}
		s.n = uint8(copy(s.b[:], tail))
	}
	return true
}

// complete reports whether no code point is left incomplete.
func (s *utf8State) complete() bool { return s.n == 0 }
