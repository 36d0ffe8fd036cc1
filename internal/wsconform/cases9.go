package wsconform

import (
	"bytes"
	"fmt"
	"time"
)

// Section 9 (limits and performance) and the harness's own section L
// (the endpoint's max message size).

// room is the largest payload a case's message may carry on the
// endpoint: its max message size less what the endpoint wraps around a
// text message.
func room(cfg *Config, binary bool) int {
	if binary {
		return cfg.MaxMessage
	}
	pre, post, _ := newAdapter(cfg.Endpoint).wrap(false)
	return cfg.MaxMessage - len(pre) - len(post)
}

// sized returns n, or the room the endpoint has when n is larger (or
// Config.SizeCap), noting the cut.
func sized(s *S, n int, binary bool) int {
	if r := room(s.cfg, binary); n > r && (s.cfg.SizeCap == 0 || r <= s.cfg.SizeCap) {
		s.Note(fmt.Sprintf("%d bytes cut to %d, the endpoint's max message size", n, r))
		return r
	}
	if c := s.cfg.SizeCap; c > 0 && n > c {
		s.Note(fmt.Sprintf("%d bytes cut to %d for a quick run", n, c))
		return c
	}
	return n
}

// waitFor is how long the echo of n bytes may take: Config.Timeout, plus a
// second per MiB.
func waitFor(cfg *Config, n int) time.Duration {
	return cfg.Timeout + time.Duration(n>>20)*time.Second
}

// checkEcho judges the echo of one message, as Autobahn's 9.x and 12.x
// do (it compares lengths, and for 12.x digests; this compares bytes).
func checkEcho(s *S, ev Event, ok bool, want []byte, binary bool) bool {
	kind := map[bool]string{false: "text", true: "binary"}
	switch {
	case !ok && !s.Open():
		s.Set(Failed, "The connection closed before the echo came.")
	case !ok:
		s.Set(Failed, "Did not receive the echo in time.")
	case ev.Kind != "message" || ev.Binary != binary:
		s.Set(Failed, fmt.Sprintf("Expected a %s message, got %v.", kind[binary], ev))
	case len(ev.Data) != len(want):
		s.Set(Failed, fmt.Sprintf("Expected a %s message of length %d, but got %d.", kind[binary], len(want), len(ev.Data)))
	case !bytes.Equal(ev.Data, want):
		s.Set(Failed, "Echo'ed message contents differs from what I sent.")
	default:
		return true
	}
	return false
}

// bigEcho is 9.1 to 9.6: one large message, sent whole (chopped on the
// wire when chop > 0) or in frames of frag bytes.
func bigEcho(id, desc string, binary bool, pattern []byte, n, frag, chop int) *Case {
	return &Case{ID: id, Description: desc, run: func(s *S) {
		s.Stream()
		s.ExpectClose(true, true, codeNormal)
		n := sized(s, n, binary)
		p := repeat(pattern, n)
		switch {
		case frag > 0:
			s.Message(p, binary, frag)
		case binary:
			s.Frame(F{Op: opBinary, Payload: p, Chop: chop})
		default:
			s.Frame(F{Op: opText, Payload: p, Chop: chop})
		}
		ev, ok := s.NextWithin(waitFor(s.cfg, n))
		if checkEcho(s, ev, ok, p, binary) {
			s.Set(OK, fmt.Sprintf("Received message of length %d.", n))
		}
		s.Close(codeNormal)
	}}
}

func limitCases(cfg *Config) []*Case {
	var cs []*Case
	kind := map[bool]string{false: "text", true: "binary"}
	txt, bin := []byte("BAsd7&jh23"), []byte("\x00\xfe\x23\xfa\xf0")
	sizes := []int{64 << 10, 256 << 10, 1 << 20, 4 << 20, 8 << 20, 16 << 20}
	for sub, binary := range []bool{false, true} {
		pat := map[bool][]byte{false: txt, true: bin}[binary]
		for i, n := range sizes {
			cs = append(cs, bigEcho(fmt.Sprintf("9.%d.%d", sub+1, i+1),
				fmt.Sprintf("Send %s message message with payload of length %d.", kind[binary], n), binary, pat, n, 0, 0))
		}
	}
	frags := []int{64, 256, 1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20, 4 << 20}
	for sub, binary := range []bool{false, true} {
		pat := map[bool][]byte{false: []byte("*"), true: {0xfe}}[binary]
		for i, f := range frags {
			cs = append(cs, bigEcho(fmt.Sprintf("9.%d.%d", sub+3, i+1),
				fmt.Sprintf("Send fragmented %s message message with message payload of length 4 * 2**20 (4M). Sent out in fragments of %d.", kind[binary], f), binary, pat, 4<<20, f, 0))
		}
	}
	for sub, binary := range []bool{false, true} {
		pat := map[bool][]byte{false: txt, true: bin}[binary]
		for i, chop := range []int{64, 128, 256, 512, 1024, 2048} {
			cs = append(cs, bigEcho(fmt.Sprintf("9.%d.%d", sub+5, i+1),
				fmt.Sprintf("Send %s message message with payload of length 1 * 2**20 (1M). Sent out data in chops of %d octets.", kind[binary], chop), binary, pat, 1<<20, 0, chop))
		}
	}
	for sub, binary := range []bool{false, true} {
		for i, n := range []int{0, 16, 64, 256, 1024, 4096} {
			cs = append(cs, roundTrips(fmt.Sprintf("9.%d.%d", sub+7, i+1), cfg, binary, n))
		}
	}
	return cs
}

// roundTrips is 9.7 and 9.8: Config.Count messages, each sent once the
// previous one's echo is back.
func roundTrips(id string, cfg *Config, binary bool, n int) *Case {
	op, b := byte(opText), byte('*')
	if binary {
		op, b = opBinary, 0xfe
	}
	desc := fmt.Sprintf("Send %d %s messages of payload size %d to measure implementation/network RTT (round trip time) / latency.",
		cfg.Count, map[bool]string{false: "text", true: "binary"}[binary], n)
	return &Case{ID: id, Description: desc, run: func(s *S) {
		s.Stream()
		s.ExpectClose(true, true, codeNormal)
		p := bytes.Repeat([]byte{b}, n)
		for range s.cfg.Count {
			s.Frame(F{Op: op, Payload: p})
			ev, ok := s.Next()
			if !checkEcho(s, ev, ok, p, binary) {
				s.Close(codeNormal)
				return
			}
		}
		s.Set(OK, "Ok, received all echo'ed messages in time.")
		s.Close(codeNormal)
	}}
}

// maxMessageCases are siogo's own (L): a message of the endpoint's max
// message size passes, one byte more closes with 1009, whole, fragmented
// or deflated (the bound applies to what a message inflates to).
func maxMessageCases(cfg *Config) []*Case {
	fits := func(s *S, binary bool, deflated bool) {
		s.Stream()
		s.ExpectClose(true, true, codeNormal)
		if deflated && !s.Deflate() {
			s.Set(Unimplemented, "permessage-deflate was declined.")
			s.Close(codeNormal)
			return
		}
		n := room(s.cfg, binary)
		p := bytes.Repeat([]byte("*"), n)
		s.Message(p, binary, 64<<10)
		ev, ok := s.NextWithin(waitFor(s.cfg, n))
		if checkEcho(s, ev, ok, p, binary) {
			s.Set(OK, fmt.Sprintf("A message of %d bytes, the max, came back.", n))
		}
		s.Close(codeNormal)
	}
	over := func(s *S, binary, deflated bool) {
		s.Expect(OK)
		s.ExpectClose(false, false, codeTooBig)
		if deflated && !s.Deflate() {
			s.ExpectClose(true, true, codeNormal)
			s.Set(Unimplemented, "permessage-deflate was declined.")
			s.expected = nil
			s.Close(codeNormal)
			return
		}
		p := bytes.Repeat([]byte("*"), room(s.cfg, binary)+1)
		if deflated {
			s.Message(p, binary, 0)
		} else if binary {
			s.Message(p, binary, 64<<10)
		} else {
			s.Frame(F{Op: opText, Payload: p})
		}
	}
	max := cfg.MaxMessage
	return []*Case{
		{ID: "L.1", Description: fmt.Sprintf("Send a text message of the endpoint's max message size (%d bytes on the wire), in frames of 64 KiB.", max), run: func(s *S) { fits(s, false, false) }},
		{ID: "L.2", Description: fmt.Sprintf("Send a text message one byte over the endpoint's max message size (%d bytes) in one frame.", max+1), kill: true, run: func(s *S) { over(s, false, false) }},
		{ID: "L.3", Description: fmt.Sprintf("Send a binary message one byte over the endpoint's max message size (%d bytes) in frames of 64 KiB.", max+1), kill: true, run: func(s *S) { over(s, true, false) }},
		{ID: "L.4", Description: fmt.Sprintf("Send a deflated text message that inflates to the endpoint's max message size (%d bytes).", max), offers: []Offer{{}}, run: func(s *S) { fits(s, false, true) }},
		{ID: "L.5", Description: fmt.Sprintf("Send a deflated text message that inflates to one byte over the endpoint's max message size (%d bytes).", max+1), offers: []Offer{{}}, kill: true, run: func(s *S) { over(s, false, true) }},
	}
}
