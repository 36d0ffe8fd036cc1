package wsconform

import (
	"bytes"
	"fmt"
	"strings"
)

// The cases of sections 1 to 5, 7 and 10, after the case definitions of
// the Autobahn testsuite (autobahntestsuite/case/case*.py): what each
// sends, the outcomes it accepts, the closing handshake it expects.

func msg(p string) Event    { return Event{Kind: "message", Data: []byte(p)} }
func binMsg(p []byte) Event { return Event{Kind: "message", Data: p, Binary: true} }
func pong(p string) Event   { return Event{Kind: "pong", Data: []byte(p)} }
func tmo(tag string) Event  { return Event{Kind: "timeout", Data: []byte(tag)} }

const (
	codeNormal   = 1000
	codeProtocol = 1002
	codeInvalid  = 1007
	codeTooBig   = 1009
)

func allCases(cfg *Config) []*Case {
	var cs []*Case
	cs = append(cs, framingCases()...)
	cs = append(cs, pingCases()...)
	cs = append(cs, rsvCases()...)
	cs = append(cs, opcodeCases()...)
	cs = append(cs, fragmentCases()...)
	cs = append(cs, utf8Cases(cfg)...)
	cs = append(cs, closeCases()...)
	cs = append(cs, limitCases(cfg)...)
	cs = append(cs, miscCases()...)
	cs = append(cs, deflateCases(cfg)...)
	cs = append(cs, maxMessageCases(cfg)...)
	return cs
}

// echoCase sends frames and expects the one message back, then closes
// normally (Autobahn's most common shape).
func echoCase(id, desc string, kill bool, want Event, frames ...F) *Case {
	return &Case{ID: id, Description: desc, kill: kill, run: func(s *S) {
		s.Expect(OK, want)
		s.ExpectClose(true, true, codeNormal)
		for _, f := range frames {
			s.Frame(f)
		}
	}}
}

// failCase sends frames the server must fail the connection on, with
// code; okFirst, when set, is the echo it should send first (NON-STRICT
// without it).
func failCase(id, desc string, code int, okFirst *Event, frames ...F) *Case {
	return &Case{ID: id, Description: desc, kill: true, run: func(s *S) {
		if okFirst != nil {
			s.Expect(OK, *okFirst)
			s.Expect(NonStrict)
		} else {
			s.Expect(OK)
		}
		s.ExpectClose(false, false, code)
		for _, f := range frames {
			s.Frame(f)
		}
	}}
}

func framingCases() []*Case {
	var cs []*Case
	sizes := []int{0, 125, 126, 127, 128, 65535, 65536, 65536}
	for i, n := range sizes {
		chop, extra := 0, ""
		if i == 7 {
			chop, extra = 997, " Sent out data in chops of 997 octets."
		}
		p := strings.Repeat("*", n)
		cs = append(cs, echoCase(fmt.Sprintf("1.1.%d", i+1), fmt.Sprintf("Send text message with payload of length %d.%s", n, extra),
			true, msg(p), F{Op: opText, Payload: []byte(p), Chop: chop}))
	}
	for i, n := range sizes {
		chop, extra := 0, ""
		if i == 7 {
			chop, extra = 997, " Sent out data in chops of 997 octets."
		}
		p := bytes.Repeat([]byte{0xfe}, n)
		cs = append(cs, echoCase(fmt.Sprintf("1.2.%d", i+1), fmt.Sprintf("Send binary message with payload of length %d.%s", n, extra),
			true, binMsg(p), F{Op: opBinary, Payload: p, Chop: chop}))
	}
	return cs
}

func pingCase(id, desc string, p []byte, chop int) *Case {
	return &Case{ID: id, Description: desc, run: func(s *S) {
		s.Expect(OK, pong(string(p)))
		s.ExpectClose(true, true, codeNormal)
		s.Frame(F{Op: opPing, Payload: p, Chop: chop})
	}}
}

func pingCases() []*Case {
	fe := bytes.Repeat([]byte{0xfe}, 125)
	cs := []*Case{
		pingCase("2.1", "Send ping without payload.", nil, 0),
		pingCase("2.2", "Send ping with small text payload.", []byte("Hello, world!"), 0),
		pingCase("2.3", "Send ping with small binary (non UTF-8) payload.", []byte("\x00\xff\xfe\xfd\xfc\xfb\x00\xff"), 0),
		pingCase("2.4", "Send ping with binary payload of 125 octets.", fe, 0),
		failCase("2.5", "Send ping with binary payload of 126 octets.", codeProtocol, nil, F{Op: opPing, Payload: bytes.Repeat([]byte{0xfe}, 126)}),
		pingCase("2.6", "Send ping with binary payload of 125 octets, send in octet-wise chops.", fe, 1),
	}
	unsolicited := func(id, desc string, p []byte) *Case {
		return &Case{ID: id, Description: desc, run: func(s *S) {
			s.Expect(OK)
			s.ExpectClose(true, true, codeNormal)
			s.Frame(F{Op: opPong, Payload: p})
			s.Close(codeNormal)
		}}
	}
	cs = append(cs,
		unsolicited("2.7", "Send unsolicited pong without payload. Verify nothing is received. Clean close with normal code.", nil),
		unsolicited("2.8", "Send unsolicited pong with payload. Verify nothing is received. Clean close with normal code.", []byte("unsolicited pong payload")),
		&Case{ID: "2.9", Description: "Send unsolicited pong with payload. Send ping with payload. Verify pong for ping is received.", run: func(s *S) {
			s.Expect(OK, pong("ping payload"))
			s.ExpectClose(true, true, codeNormal)
			s.Frame(F{Op: opPong, Payload: []byte("unsolicited pong payload")})
			s.Frame(F{Op: opPing, Payload: []byte("ping payload")})
		}},
	)
	tenPings := func(id, desc string, chop int) *Case {
		return &Case{ID: id, Description: desc, run: func(s *S) {
			var want []Event
			for i := range 10 {
				want = append(want, pong(fmt.Sprintf("payload-%d", i)))
			}
			s.Expect(OK, want...)
			s.ExpectClose(true, true, codeNormal)
			for i := range 10 {
				s.Frame(F{Op: opPing, Payload: fmt.Appendf(nil, "payload-%d", i), Chop: chop})
			}
		}}
	}
	return append(cs,
		tenPings("2.10", "Send 10 Pings with payload.", 0),
		tenPings("2.11", "Send 10 Pings with payload. Send out octets in octet-wise chops.", 1))
}

func rsvCases() []*Case {
	hello := []byte("Hello, world!")
	echo := msg("Hello, world!")
	binp := []byte("\x00\xff\xfe\xfd\xfc\xfb\x00\xff")
	return []*Case{
		failCase("3.1", "Send small text message with RSV = 1.", codeProtocol, nil, F{Op: opText, Payload: hello, RSV: 1}),
		failCase("3.2", "Send small text message, then send again with RSV = 2, then send Ping.", codeProtocol, &echo,
			F{Op: opText, Payload: hello}, F{Op: opText, Payload: hello, RSV: 2}, F{Op: opPing}),
		failCase("3.3", "Send small text message, then send again with RSV = 3, then send Ping. Octets are sent in frame-wise chops.", codeProtocol, &echo,
			F{Op: opText, Payload: hello, Sync: true}, F{Op: opText, Payload: hello, RSV: 3, Sync: true}, F{Op: opPing, Sync: true}),
		failCase("3.4", "Send small text message, then send again with RSV = 4, then send Ping. Octets are sent in octet-wise chops.", codeProtocol, &echo,
			F{Op: opText, Payload: hello, Chop: 1}, F{Op: opText, Payload: hello, RSV: 4, Chop: 1}, F{Op: opPing, Chop: 1}),
		failCase("3.5", "Send small binary message with RSV = 5.", codeProtocol, nil, F{Op: opBinary, Payload: binp, RSV: 5}),
		failCase("3.6", "Send Ping with RSV = 6.", codeProtocol, nil, F{Op: opBinary, Payload: hello, RSV: 6}),
		failCase("3.7", "Send Close with RSV = 7.", codeProtocol, nil, F{Op: opClose, RSV: 7}),
	}
}

func opcodeCases() []*Case {
	hello := []byte("Hello, world!")
	echo := msg("Hello, world!")
	res := []byte("reserved opcode payload")
	var cs []*Case
	for i, base := range []byte{3, 11} {
		sub := fmt.Sprintf("4.%d.", i+1)
		kind := "non-control"
		if base == 11 {
			kind = "control"
		}
		cs = append(cs,
			failCase(sub+"1", fmt.Sprintf("Send frame with reserved %s Opcode = %d.", kind, base), codeProtocol, nil, F{Op: base}),
			failCase(sub+"2", fmt.Sprintf("Send frame with reserved %s Opcode = %d and non-empty payload.", kind, base+1), codeProtocol, nil, F{Op: base + 1, Payload: res}),
			failCase(sub+"3", fmt.Sprintf("Send small text message, then send frame with reserved %s Opcode = %d, then send Ping.", kind, base+2), codeProtocol, &echo,
				F{Op: opText, Payload: hello}, F{Op: base + 2}, F{Op: opPing}),
			failCase(sub+"4", fmt.Sprintf("Send small text message, then send frame with reserved %s Opcode = %d and non-empty payload, then send Ping.", kind, base+3), codeProtocol, &echo,
				F{Op: opText, Payload: hello}, F{Op: base + 3, Payload: hello}, F{Op: opPing}),
			failCase(sub+"5", fmt.Sprintf("Send small text message, then send frame with reserved %s Opcode = %d and non-empty payload, then send Ping. Octets are sent in octet-wise chops.", kind, base+4), codeProtocol, &echo,
				F{Op: opText, Payload: hello, Chop: 1}, F{Op: base + 4, Payload: hello, Chop: 1}, F{Op: opPing, Chop: 1}),
		)
	}
	return cs
}

func fragmentCases() []*Case {
	f := func(s string) []byte { return []byte(s) }
	closeAfter := func(c *Case) *Case { c.kill = false; return c }
	cs := []*Case{
		failCase("5.1", "Send Ping fragmented into 2 fragments.", codeProtocol, nil,
			F{Op: opPing, More: true, Payload: f("fragment1")}, F{Op: opCont, Payload: f("fragment2")}),
		failCase("5.2", "Send Pong fragmented into 2 fragments.", codeProtocol, nil,
			F{Op: opPong, More: true, Payload: f("fragment1")}, F{Op: opCont, Payload: f("fragment2")}),
	}
	two := msg("fragment1fragment2")
	withPing := func(sync bool, chop int) []F {
		return []F{{Op: opText, More: true, Payload: f("fragment1"), Sync: sync, Chop: chop},
			{Op: opPing, Payload: f("ping payload"), Sync: sync, Chop: chop},
			{Op: opCont, Payload: f("fragment2"), Sync: sync, Chop: chop}}
	}
	pingEcho := func(id, desc string, frames []F) *Case {
		return &Case{ID: id, Description: desc, run: func(s *S) {
			s.Expect(OK, pong("ping payload"), two)
			s.ExpectClose(true, true, codeNormal)
			for _, fr := range frames {
				s.Frame(fr)
			}
		}}
	}
	cs = append(cs,
		closeAfter(echoCase("5.3", "Send text Message fragmented into 2 fragments.", false, two,
			F{Op: opText, More: true, Payload: f("fragment1")}, F{Op: opCont, Payload: f("fragment2")})),
		closeAfter(echoCase("5.4", "Send text Message fragmented into 2 fragments, octets are sent in frame-wise chops.", false, two,
			F{Op: opText, More: true, Payload: f("fragment1"), Sync: true}, F{Op: opCont, Payload: f("fragment2"), Sync: true})),
		closeAfter(echoCase("5.5", "Send text Message fragmented into 2 fragments, octets are sent in octet-wise chops.", false, two,
			F{Op: opText, More: true, Payload: f("fragment1"), Chop: 1}, F{Op: opCont, Payload: f("fragment2"), Chop: 1})),
		pingEcho("5.6", "Send text Message fragmented into 2 fragments, one ping with payload in-between.", withPing(false, 0)),
		pingEcho("5.7", "Send text Message fragmented into 2 fragments, one ping with payload in-between. Octets are sent in frame-wise chops.", withPing(true, 0)),
		pingEcho("5.8", "Send text Message fragmented into 2 fragments, one ping with payload in-between. Octets are sent in octet-wise chops.", withPing(false, 1)),
	)
	nothing := func(fin bool, sync bool, chop int) []F {
		return []F{{Op: opCont, More: !fin, Payload: f("non-continuation payload"), Sync: sync, Chop: chop},
			{Op: opText, Payload: f("Hello, world!"), Sync: sync, Chop: chop}}
	}
	chops := []struct {
		sync bool
		chop int
		how  string
	}{{false, 0, "sent in one chop"}, {true, 0, "sent in per-frame chops"}, {false, 1, "sent in octet-wise chops"}}
	for i, fin := range []bool{true, false} {
		for j, c := range chops {
			id := fmt.Sprintf("5.%d", 9+3*i+j)
			cs = append(cs, failCase(id, fmt.Sprintf("Send unfragmented Text Message after Continuation Frame with FIN = %t, where there is nothing to continue, %s.", fin, c.how),
				codeProtocol, nil, nothing(fin, c.sync, c.chop)...))
		}
	}
	first := msg("fragment1fragment2")
	cs = append(cs,
		failCase("5.15", "Send text Message fragmented into 2 fragments, then Continuation Frame with FIN = false where there is nothing to continue, then unfragmented Text Message, all sent in one chop.",
			codeProtocol, &first,
			F{Op: opText, More: true, Payload: f("fragment1")}, F{Op: opCont, Payload: f("fragment2")},
			F{Op: opCont, More: true, Payload: f("fragment3")}, F{Op: opText, Payload: f("fragment4")}))
	twice := func(fin bool) []F {
		var fr []F
		for range 2 {
			fr = append(fr, F{Op: opCont, More: !fin, Payload: f("fragment1")},
				F{Op: opText, More: true, Payload: f("fragment2")}, F{Op: opCont, Payload: f("fragment3")})
		}
		return fr
	}
	cs = append(cs,
		failCase("5.16", "Repeated 2x: Continuation Frame with FIN = false (where there is nothing to continue), then text Message fragmented into 2 fragments.", codeProtocol, nil, twice(false)...),
		failCase("5.17", "Repeated 2x: Continuation Frame with FIN = true (where there is nothing to continue), then text Message fragmented into 2 fragments.", codeProtocol, nil, twice(true)...),
		failCase("5.18", "Send text Message fragmented into 2 fragments, with both frame opcodes set to text, sent in one chop.", codeProtocol, nil,
			F{Op: opText, More: true, Payload: f("fragment1")}, F{Op: opText, Payload: f("fragment2")}),
	)
	interleaved := func(id, desc string, sync bool) *Case {
		return &Case{ID: id, Description: desc, run: func(s *S) {
			s.Expect(OK, pong("pongme 1!"), pong("pongme 2!"), msg("fragment1fragment2fragment3fragment4fragment5"))
			s.ExpectClose(true, true, codeNormal)
			s.Frame(F{Op: opText, More: true, Payload: f("fragment1"), Sync: sync})
			s.Frame(F{Op: opCont, More: true, Payload: f("fragment2"), Sync: sync})
			s.Frame(F{Op: opPing, Payload: f("pongme 1!"), Sync: sync})
			// Autobahn waits 1 s here for the first pong, which must come
			// before the message is complete: the harness waits for it.
			s.AwaitEvents(1)
			s.Frame(F{Op: opCont, More: true, Payload: f("fragment3"), Sync: sync})
			s.Frame(F{Op: opCont, More: true, Payload: f("fragment4"), Sync: sync})
			s.Frame(F{Op: opPing, Payload: f("pongme 2!"), Sync: sync})
			s.Frame(F{Op: opCont, Payload: f("fragment5"), Sync: sync})
		}}
	}
	return append(cs,
		interleaved("5.19", "A fragmented text message is sent in multiple frames. After sending the first 2 frames of the text message, a Ping is sent. Then we wait for its Pong, then we send 2 more text fragments, another Ping and then the final text fragment. Everything is legal.", false),
		interleaved("5.20", "Same as Case 5.19, but send all frames with SYNC = True.", true))
}

func closeCases() []*Case {
	wrongCode := func(c *Case) *Case {
		c.suppressClose, c.kill, c.post = true, true, closeWrongCodeFails
		return c
	}
	closing := func(id, desc string, clean bool, codes []int, run func(s *S)) *Case {
		return wrongCode(&Case{ID: id, Description: desc, run: func(s *S) {
			s.Expect(OK)
			s.ExpectClose(true, clean, codes...)
			run(s)
		}})
	}
	normal := []int{codeNormal}
	cs := []*Case{
		{ID: "7.1.1", Description: "Send a message followed by a close frame", kill: true, post: closeWrongCodeFails, run: func(s *S) {
			s.Expect(OK, msg("Hello World!"))
			s.ExpectClose(true, true, codeNormal)
			s.Frame(F{Op: opText, Payload: []byte("Hello World!")})
		}},
		closing("7.1.2", "Send two close frames", true, normal, func(s *S) {
			s.Close(codeNormal)
			s.Frame(F{Op: opClose})
		}),
		closing("7.1.3", "Send a ping after close message", true, normal, func(s *S) {
			s.Close(codeNormal)
			s.Frame(F{Op: opPing})
		}),
		closing("7.1.4", "Send text message after sending a close frame.", true, normal, func(s *S) {
			s.Close(codeNormal)
			s.Frame(F{Op: opText, Payload: []byte("Hello World!")})
		}),
		closing("7.1.5", "Send message fragment1 followed by close then fragment", true, normal, func(s *S) {
			s.Frame(F{Op: opText, More: true, Payload: []byte("fragment1")})
			s.Close(codeNormal)
			s.Frame(F{Op: opCont, Payload: []byte("fragment2")})
		}),
		{ID: "7.1.6", Description: "Send 256K message followed by close then a ping", suppressClose: true, kill: true, post: informational, run: func(s *S) {
			s.Expect(OK, msg("Hello World!"))
			s.Expect(NonStrict)
			s.ExpectClose(true, true, codeNormal)
			s.Frame(F{Op: opText, Payload: []byte("BAsd7&jh23"), Len: 256 << 10})
			s.Frame(F{Op: opText, Payload: []byte("Hello World!")})
			s.Close(codeNormal)
			s.Frame(F{Op: opPing})
		}},
		closing("7.3.1", "Send a close frame with payload length 0 (no close code, no close reason)", true, normal, func(s *S) { s.CloseFrame(-1, nil) }),
		closing("7.3.2", "Send a close frame with payload length 1", false, []int{codeProtocol}, func(s *S) { s.CloseFrame(-1, []byte("a")) }),
		closing("7.3.3", "Send a close frame with payload length 2 (regular close with a code)", true, normal, func(s *S) { s.Close(codeNormal) }),
		closing("7.3.4", "Send a close frame with close code and close reason", true, normal, func(s *S) { s.CloseFrame(codeNormal, []byte("Hello World!")) }),
		closing("7.3.5", "Send a close frame with close code and close reason of maximum length (123)", true, normal, func(s *S) {
			s.CloseFrame(codeNormal, bytes.Repeat([]byte("*"), 123))
		}),
		closing("7.3.6", "Send a close frame with close code and close reason which is too long (124) - total frame payload 126 octets", false, []int{codeProtocol}, func(s *S) {
			s.CloseFrame(codeNormal, bytes.Repeat([]byte("*"), 124))
		}),
		closing("7.5.1", "Send a close frame with invalid UTF8 payload", false, []int{codeProtocol, codeInvalid}, func(s *S) {
			s.CloseFrame(codeNormal, []byte("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64"))
		}),
	}
	for i, code := range []int{1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999} {
		cs = append(cs, closing(fmt.Sprintf("7.7.%d", i+1), fmt.Sprintf("Send close with valid close code %d", code), true, []int{codeNormal, code}, func(s *S) { s.Close(code) }))
	}
	for i, code := range []int{0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999} {
		cs = append(cs, closing(fmt.Sprintf("7.9.%d", i+1), fmt.Sprintf("Send close with invalid close code %d", code), false, []int{codeProtocol}, func(s *S) { s.Close(code) }))
	}
	for i, code := range []int{5000, 65535} {
		cs = append(cs, &Case{ID: fmt.Sprintf("7.13.%d", i+1), Description: fmt.Sprintf("Send close with close code %d", code), suppressClose: true, kill: true,
			post: func(r *Result) {
				r.Behavior, r.BehaviorClose, r.Result = Informational, Informational, "Actual events are undefined by the spec."
			},
			run: func(s *S) {
				s.Expect(OK)
				s.ExpectClose(true, false, codeNormal, code, codeProtocol)
				s.Close(code)
			}})
	}
	return cs
}

func miscCases() []*Case {
	p := strings.Repeat("*", 65536)
	return []*Case{{ID: "10.1.1", Description: "Send text message with payload of length 65536 auto-fragmented with autoFragmentSize = 1300.", kill: true, run: func(s *S) {
		s.Expect(OK, msg(p))
		s.ExpectClose(true, true, codeNormal)
		s.Message([]byte(p), false, 1300)
	}}}
}
