package wsconform

import (
	"bytes"
	"crypto/rand"
	"time"
)

// S is a running case, what its script drives: the frames it sends, the
// outcomes it expects, the waits between. Every wait is for something
// the server does, bounded by Config.Timeout, but Pause.
type S struct {
	c   *conn
	cfg *Config
	cs  *Case

	expected map[Behavior][]Event
	order    []Behavior
	close    closeExpect
	behavior Behavior
	result   string
	notes    []string

	// The frame BeginFrame started.
	mask [4]byte
	off  int
}

type closeExpect struct {
	byMe               bool
	codes              []int
	requireClean       bool
	wrongEndpointFatal bool
}

// F is one frame as a case writes it; the zero value of each field is
// what a plain frame has.
type F struct {
	Op      byte
	More    bool   // FIN clear
	RSV     byte   // the three reserved bits, 0 to 7
	Payload []byte // repeated to Len bytes when Len > 0
	Len     int
	Chop    int  // write it in chops of this many bytes
	Sync    bool // write it alone
}

// outState is the adapter's view of the message the case's frames are in.
type outState struct {
	open, text bool
}

// Expect sets the events outcome b stands for.
func (s *S) Expect(b Behavior, evs ...Event) {
	if s.expected == nil {
		s.expected = map[Behavior][]Event{}
	}
	if _, ok := s.expected[b]; !ok {
		s.order = append(s.order, b)
	}
	s.expected[b] = append([]Event{}, evs...)
}

// ExpectClose sets who must start the closing handshake and with which
// codes; requireClean asks that it completes cleanly.
func (s *S) ExpectClose(byMe, requireClean bool, codes ...int) {
	s.close = closeExpect{byMe: byMe, requireClean: requireClean, codes: codes}
}

// Set decides the case's behaviour itself, for a case without expected
// events (the limits and compression cases, as Autobahn's).
func (s *S) Set(b Behavior, result string) { s.behavior, s.result = b, result }

// Note adds a line to the case's report.
func (s *S) Note(n string) { s.notes = append(s.notes, n) }

func repeat(p []byte, n int) []byte {
	if n <= 0 {
		return p
	}
	b := bytes.Repeat(p, n/len(p)+1)
	return b[:n]
}

// Frame writes one frame, through the endpoint.
func (s *S) Frame(f F) {
	a, out := s.c.ad, &s.c.out
	p := repeat(f.Payload, f.Len)
	switch f.Op {
	case opText:
		pre, _, _ := a.wrap(false)
		if !out.open {
			*out = outState{open: true, text: true}
			p = append(append([]byte{}, pre...), a.escape(p)...)
		} else {
			p = a.escape(p)
		}
	case opBinary:
		if !out.open {
			*out = outState{open: true}
			if _, _, lead := a.wrap(true); lead != nil {
				s.message(lead, false, 0, false)
			}
		}
	case opCont:
		if out.open && out.text {
			p = a.escape(p)
		}
	}
	if (f.Op == opText || f.Op == opBinary || f.Op == opCont) && out.open && !f.More {
		if out.text {
			_, post, _ := a.wrap(false)
			p = append(append([]byte{}, p...), post...)
		}
		out.open = false
	}
	b0 := f.Op&0x0f | (f.RSV&7)<<4
	if !f.More {
		b0 |= 0x80
	}
	_ = s.c.writeFrame(b0, p, f.Chop, f.Sync)
}

// Message writes a whole message through the endpoint, compressed when
// permessage-deflate was agreed, in frames of frag bytes (0: one frame).
func (s *S) Message(p []byte, binary bool, frag int) {
	a := s.c.ad
	if binary {
		if _, _, lead := a.wrap(true); lead != nil {
			s.message(lead, false, 0, true)
		}
	} else {
		pre, post, _ := a.wrap(false)
		p = append(append(append([]byte{}, pre...), a.escape(p)...), post...)
	}
	s.message(p, binary, frag, true)
}

// message writes p as one message, raw (no endpoint), deflated when
// compress and agreed.
func (s *S) message(p []byte, binary bool, frag int, compress bool) {
	op := byte(opText)
	if binary {
		op = opBinary
	}
	if compress && s.c.pmd != nil {
		p = s.c.pmd.deflate(p)
		op |= 0x40
	}
	if frag <= 0 || frag >= len(p) {
		_ = s.c.writeFrame(0x80|op, p, 0, false)
		return
	}
	for len(p) > 0 {
		n := min(frag, len(p))
		b0 := op
		if n == len(p) {
			b0 |= 0x80
		}
		_ = s.c.writeFrame(b0, p[:n], 0, false)
		p, op = p[n:], opCont
	}
}

// BeginFrame writes the header of a frame that holds all of whole, a text
// message through the endpoint; FrameData then writes it piece by piece,
// each piece at once, and EndFrame what the endpoint adds after.
func (s *S) BeginFrame(whole []byte) {
	a := s.c.ad
	pre, post, _ := a.wrap(false)
	n := len(pre) + len(a.escape(whole)) + len(post)
	_, _ = rand.Read(s.mask[:])
	s.off = 0
	_ = s.c.write(appendHeader(nil, 0x80|opText, n, s.mask), 0, true)
	if len(pre) > 0 {
		s.frameData(pre)
	}
}

// FrameData writes the next piece of the frame BeginFrame started.
func (s *S) FrameData(p []byte) { s.frameData(s.c.ad.escape(p)) }

// EndFrame ends the frame BeginFrame started.
func (s *S) EndFrame() {
	if _, post, _ := s.c.ad.wrap(false); len(post) > 0 {
		s.frameData(post)
	}
}

func (s *S) frameData(p []byte) {
	b := bytes.Clone(p)
	maskBytes(b, s.mask, s.off)
	s.off += len(b)
	_ = s.c.write(b, 0, true)
}

// Close starts the closing handshake with code.
func (s *S) Close(code int) { s.CloseFrame(code, nil) }

// CloseFrame starts the closing handshake with whatever payload: the
// code (none when negative) then reason, checked by nobody.
func (s *S) CloseFrame(code int, reason []byte) { s.c.sendCloseFrame(closePayload(code, reason)) }

// Kill fails the connection as a client does on a timeout (1001).
func (s *S) Kill() { s.c.kill() }

// Open reports whether the connection is open.
func (s *S) Open() bool {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.c.state == stateOpen
}

// Record adds an event of the case's own (Autobahn's timeouts).
func (s *S) Record(ev Event) { s.c.push(ev) }

// Pause waits d whatever happens: only where the case must see that
// nothing happens (that the server does not fail a connection it should
// keep open), which no event can tell.
func (s *S) Pause(d time.Duration) {
	s.c.flush()
	time.Sleep(d)
}

// AwaitEvents waits until n events were received, or the connection
// closed, or Config.Timeout passed; it reports whether n were received.
func (s *S) AwaitEvents(n int) bool {
	return s.c.waitFor(time.Now().Add(s.cfg.Timeout), func() bool {
		return len(s.c.received) >= n || s.c.state == stateClosed
	}) && len(s.events()) >= n
}

// AwaitClosed waits until the server starts the closing handshake or
// drops the connection, or Config.Timeout passed; it reports which.
func (s *S) AwaitClosed() bool {
	return s.c.waitFor(time.Now().Add(s.cfg.Timeout), func() bool {
		return s.c.gotClose || s.c.state == stateClosed
	})
}

// Next returns the next event not read yet, waiting Config.Timeout at
// most; false when none came or the connection closed.
func (s *S) Next() (Event, bool) { return s.NextWithin(s.cfg.Timeout) }

// NextWithin is Next waiting d at most.
func (s *S) NextWithin(d time.Duration) (Event, bool) {
	var ev Event
	ok := s.c.waitFor(time.Now().Add(d), func() bool {
		return len(s.c.queue) > 0 || s.c.state == stateClosed
	})
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if !ok || len(s.c.queue) == 0 {
		return ev, false
	}
	ev = s.c.queue[0]
	s.c.queue = s.c.queue[1:]
	return ev, true
}

// Stream stops keeping events for judgement: the script reads them all
// with Next, as Autobahn's cases that count their own messages do.
func (s *S) Stream() {
	s.c.mu.Lock()
	s.c.keep = false
	s.c.mu.Unlock()
}

// Deflate reports whether permessage-deflate was agreed.
func (s *S) Deflate() bool { return s.c.pmd != nil }

func (s *S) events() []Event {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return append([]Event(nil), s.c.received...)
}
