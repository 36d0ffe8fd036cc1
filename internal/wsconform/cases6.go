package wsconform

import (
	"fmt"
	"unicode/utf8"
)

// Section 6: UTF-8 handling. The sequences of 6.5 on are those Autobahn
// takes from Markus Kuhn's UTF-8 decoder stress test, in its order, so that
// each case keeps its Autobahn id.

var (
	utf8Hello = []byte("Hello-\u00b5@\u00df\u00f6\u00e4\u00fc\u00e0\u00e1-UTF-8!!")
	kosme     = []byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5")
	// 6.3's payload is invalid at byte 12 (a surrogate), 6.4's at byte 12
	// too (a code point past U+10FFFF).
	invalid63 = []byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64")
	invalid64 = []byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80\x65\x64\x69\x74\x65\x64")
)

type utf8Group struct {
	name string
	seqs []string
}

// utf8Groups are the sequences of 6.5 to 6.23; each is valid or not as
// Go's utf8.Valid says, which agrees with Autobahn's validator on all.
func utf8Groups() []utf8Group {
	s := string(kosme)
	var prefixes []string
	for i := 1; i <= len(s); i++ {
		prefixes = append(prefixes, s[:i])
	}
	var cont []byte
	for c := 0x80; c < 0xbf; c++ {
		cont = append(cont, byte(c))
	}
	var lonely []string
	for _, r := range [][2]int{{0xc0, 0xdf}, {0xe0, 0xef}, {0xf0, 0xf7}, {0xf8, 0xfb}, {0xfc, 0xfd}} {
		var b []byte
		for c := r[0]; c < r[1]; c++ {
			b = append(b, byte(c), 0x20)
		}
		lonely = append(lonely, string(b))
	}
	missing := []string{"\xc0", "\xe0\x80", "\xf0\x80\x80", "\xf8\x80\x80\x80", "\xfc\x80\x80\x80\x80",
		"\xdf", "\xef\xbf", "\xf7\xbf\xbf", "\xfb\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf"}
	var concat string
	for _, m := range missing {
		concat += m
	}
	nonChars := []string{"\xef\xbf\xbe", "\xef\xbf\xbf"}
	for _, z1 := range []byte{0xf0, 0xf1, 0xf2, 0xf3, 0xf4} {
		for _, z2 := range []byte{0x8f, 0x9f, 0xaf, 0xbf} {
			if z1 == 0xf4 && z2 != 0x8f {
				continue // past U+10FFFF
			}
			for _, z3 := range []byte{0xbe, 0xbf} {
				zz := string([]byte{z1, z2, 0xbf, z3})
				if zz != "\xf0\x8f\xbf\xbe" && zz != "\xf0\x8f\xbf\xbf" { // overlong
					nonChars = append(nonChars, zz)
				}
			}
		}
	}
	return []utf8Group{
		{"Some valid UTF-8 sequences", []string{"hello\x24world", "hello\xc2\xa2world", "hello\xe2\x82\xacworld", "hello\xf0\xa4\xad\xa2world", s}},
		{"All prefixes of a valid UTF-8 string that contains multi-byte code points", prefixes},
		{"First possible sequence of a certain length", []string{"\x00", "\xc2\x80", "\xe0\xa0\x80", "\xf0\x90\x80\x80"}},
		{"First possible sequence length 5/6 (invalid codepoints)", []string{"\xf8\x88\x80\x80\x80", "\xfc\x84\x80\x80\x80\x80"}},
		{"Last possible sequence of a certain length", []string{"\x7f", "\xdf\xbf", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf"}},
		{"Last possible sequence length 4/5/6 (invalid codepoints)", []string{"\xf7\xbf\xbf\xbf", "\xfb\xbf\xbf\xbf\xbf", "\xfd\xbf\xbf\xbf\xbf\xbf"}},
		{"Other boundary conditions", []string{"\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd", "\xf4\x8f\xbf\xbf", "\xf4\x90\x80\x80"}},
		{"Unexpected continuation bytes", []string{"\x80", "\xbf", "\x80\xbf", "\x80\xbf\x80", "\x80\xbf\x80\xbf", "\x80\xbf\x80\xbf\x80", "\x80\xbf\x80\xbf\x80\xbf", string(cont)}},
		{"Lonely start characters", lonely},
		{"Sequences with last continuation byte missing", missing},
		{"Concatenation of incomplete sequences", []string{concat}},
		{"Impossible bytes", []string{"\xfe", "\xff", "\xfe\xfe\xff\xff"}},
		{"Examples of an overlong ASCII character", []string{"\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xf8\x80\x80\x80\xaf", "\xfc\x80\x80\x80\x80\xaf"}},
		{"Maximum overlong sequences", []string{"\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", "\xf8\x87\xbf\xbf\xbf", "\xfc\x83\xbf\xbf\xbf\xbf"}},
		{"Overlong representation of the NUL character", []string{"\xc0\x80", "\xe0\x80\x80", "\xf0\x80\x80\x80", "\xf8\x80\x80\x80\x80", "\xfc\x80\x80\x80\x80\x80"}},
		{"Single UTF-16 surrogates", []string{"\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80", "\xed\xaf\xbf", "\xed\xb0\x80", "\xed\xbe\x80", "\xed\xbf\xbf"}},
		{"Paired UTF-16 surrogates", []string{"\xed\xa0\x80\xed\xb0\x80", "\xed\xa0\x80\xed\xbf\xbf", "\xed\xad\xbf\xed\xb0\x80", "\xed\xad\xbf\xed\xbf\xbf",
			"\xed\xae\x80\xed\xb0\x80", "\xed\xae\x80\xed\xbf\xbf", "\xed\xaf\xbf\xed\xb0\x80", "\xed\xaf\xbf\xed\xbf\xbf"}},
		{"Non-character code points (valid UTF-8)", nonChars},
		{"Unicode specials (i.e. replacement char)", []string{"\xef\xbf\xb9", "\xef\xbf\xba", "\xef\xbf\xbb", "\xef\xbf\xbc", "\xef\xbf\xbd", "\xef\xbf\xbe", "\xef\xbf\xbf"}},
	}
}

// utf8Fail is a case whose text is invalid: the server must fail the
// connection with 1007, itself (a close by the client fails the case).
func utf8Fail(id, desc string, run func(s *S)) *Case {
	return &Case{ID: id, Description: desc, kill: true, run: func(s *S) {
		s.Expect(OK)
		s.ExpectClose(false, false, codeInvalid)
		s.close.wrongEndpointFatal = true
		run(s)
	}}
}

// failFast is 6.4: the invalid part of a text message goes after a pause,
// and the server should fail the connection then, not at the message's end
// (NON-STRICT).
func failFast(id, desc string, cfg *Config, parts [3][]byte, oneFrame bool) *Case {
	return &Case{ID: id, Description: desc, kill: true, run: func(s *S) {
		s.Expect(OK, tmo("A"))
		s.Expect(NonStrict, tmo("A"), tmo("B"))
		s.ExpectClose(false, false, codeInvalid)
		s.close.wrongEndpointFatal = true
		if oneFrame {
			whole := append(append(append([]byte{}, parts[0]...), parts[1]...), parts[2]...)
			s.BeginFrame(whole)
			s.FrameData(parts[0])
		} else {
			s.Frame(F{Op: opText, More: true, Payload: parts[0]})
		}
		s.Pause(cfg.Pause)
		if !s.Open() {
			return
		}
		s.Record(tmo("A"))
		if oneFrame {
			s.FrameData(parts[1])
		} else {
			s.Frame(F{Op: opCont, More: true, Payload: parts[1]})
		}
		if s.AwaitClosed() || !s.Open() {
			return
		}
		s.Record(tmo("B"))
		if oneFrame {
			s.FrameData(parts[2])
			s.EndFrame()
		} else {
			s.Frame(F{Op: opCont, Payload: parts[2]})
		}
	}}
}

func utf8Cases(cfg *Config) []*Case {
	echo := func(id, desc string, want []byte, run func(s *S)) *Case {
		return &Case{ID: id, Description: desc, run: func(s *S) {
			s.Expect(OK, Event{Kind: "message", Data: want})
			s.ExpectClose(true, true, codeNormal)
			run(s)
		}}
	}
	hello1, hello2 := utf8Hello[:len("Hello-\u00b5@\u00df\u00f6\u00e4")], utf8Hello[len("Hello-\u00b5@\u00df\u00f6\u00e4"):]
	mid := []byte("middle frame payload")
	cs := []*Case{
		echo("6.1.1", "Send text message of length 0.", []byte{}, func(s *S) { s.Frame(F{Op: opText}) }),
		echo("6.1.2", "Send fragmented text message, 3 fragments each of length 0.", []byte{}, func(s *S) {
			s.Frame(F{Op: opText, More: true})
			s.Frame(F{Op: opCont, More: true})
			s.Frame(F{Op: opCont})
		}),
		echo("6.1.3", "Send fragmented text message, 3 fragments, first and last of length 0, middle non-empty.", mid, func(s *S) {
			s.Frame(F{Op: opText, More: true})
			s.Frame(F{Op: opCont, More: true, Payload: mid})
			s.Frame(F{Op: opCont})
		}),
		echo("6.2.1", "Send a valid UTF-8 text message in one fragment.", utf8Hello, func(s *S) { s.Message(utf8Hello, false, 0) }),
		echo("6.2.2", "Send a valid UTF-8 text message in two fragments, fragmented on UTF-8 code point boundary.", utf8Hello, func(s *S) {
			s.Frame(F{Op: opText, More: true, Payload: hello1})
			s.Frame(F{Op: opCont, Payload: hello2})
		}),
		echo("6.2.3", "Send a valid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions which are not code point ends.", utf8Hello, func(s *S) {
			s.Message(utf8Hello, false, 1)
		}),
		echo("6.2.4", "Send a valid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions which are not code point ends.", kosme, func(s *S) {
			s.Message(kosme, false, 1)
		}),
		utf8Fail("6.3.1", "Send invalid UTF-8 text message unfragmented.", func(s *S) { s.Message(invalid63, false, 0) }),
		utf8Fail("6.3.2", "Send invalid UTF-8 text message in fragments of 1 octet, resulting in frames ending on positions which are not code point ends.", func(s *S) {
			s.Message(invalid63, false, 1)
		}),
		failFast("6.4.1", "Send invalid UTF-8 text message in 3 fragments (frames). First frame payload is valid, then wait, then 2nd frame which contains the payload making the sequence invalid, then wait, then 3rd frame with rest.",
			cfg, [3][]byte{invalid64[:11], invalid64[11:15], invalid64[15:]}, false),
		failFast("6.4.2", "Same as Case 6.4.1, but in 2nd frame, we send only up to and including the octet making the complete payload invalid.",
			cfg, [3][]byte{invalid64[:12], invalid64[12:13], invalid64[13:]}, false),
		failFast("6.4.3", "Same as Case 6.4.1, but we send message not in 3 frames, but in 3 chops of the same message frame.",
			cfg, [3][]byte{invalid64[:11], invalid64[11:15], invalid64[15:]}, true),
		failFast("6.4.4", "Same as Case 6.4.2, but we send message not in 3 frames, but in 3 chops of the same message frame.",
			cfg, [3][]byte{invalid64[:12], invalid64[12:13], invalid64[13:]}, true),
	}
	for i, g := range utf8Groups() {
		for j, seq := range g.seqs {
			id := fmt.Sprintf("6.%d.%d", i+5, j+1)
			p := []byte(seq)
			if utf8.Valid(p) {
				cs = append(cs, &Case{ID: id, Description: fmt.Sprintf("%s: send a text message with payload which is valid UTF-8 in one fragment. Payload: 0x%x", g.name, p), kill: true, run: func(s *S) {
					s.Expect(OK, Event{Kind: "message", Data: p})
					s.ExpectClose(true, true, codeNormal)
					s.Message(p, false, 0)
				}})
			} else {
				cs = append(cs, utf8Fail(id, fmt.Sprintf("%s: send a text message with payload which is not valid UTF-8 in one fragment. Payload: 0x%x", g.name, p), func(s *S) {
					s.Message(p, false, 0)
				}))
			}
		}
	}
	return cs
}
