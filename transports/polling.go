package transports

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/siogo/siogo/internal/polling"
)

// pollingTransport carries a session over HTTP long-polling, as engine.io's
// transports/polling.ts: one pending GET takes what the session queued, one
// POST at a time brings the client's packets, in the payload form the
// client asked for (v4, v3 string or binary, base64, JSONP). Its fields are
// under the session's mu.
type pollingTransport struct {
	s *Session
	// v3 clients that asked for base64 (b64=1 at the handshake, or JSONP)
	// cannot take the binary payload.
	b64        bool
	jsonp      bool
	posting    bool
	jsonpIndex string
	pollWake   chan struct{} // set while a GET waits in its handler
	parked     *parkedPoll   // set while a GET waits with no goroutine (HTTPServer)
}

func newPollingTransport(s *Session, q url.Values) *pollingTransport {
	p := &pollingTransport{s: s}
	if j, ok := q["j"]; ok {
		p.jsonp = true
		p.jsonpIndex = j[0]
		p.b64 = true
	}
	if q.Get("b64") != "" {
		p.b64 = true
	}
	return p
}

func (p *pollingTransport) name() string { return TransportPolling }

// send queues pkts for the next poll, and wakes the pending one.
func (p *pollingTransport) send(pkts []Packet, volatile bool) (bool, error) {
	s := p.s
	if volatile && (!p.pending() || len(s.queue) > 0 || s.up.probed()) {
		s.mu.Unlock()
		return false, nil
	}
	if len(s.queue)+len(pkts) > s.srv.opts.MaxQueuedPackets {
		s.mu.Unlock()
		s.closeWith(ReasonQueueFull, false)
		return false, ErrQueueFull
	}
	s.queue = append(s.queue, pkts...)
	p.wake()
	s.mu.Unlock()
	return true, nil
}

// limitInbound does nothing: each POST reads the session's bound.
func (p *pollingTransport) limitInbound(int) {}

// closing queues the close packet for the pending poll or, with
// closeNotify, the next one; that poll then forgets the session. A client
// that closed gets none: its pending poll takes what waits. s.mu is held.
func (p *pollingTransport) closing(mode closeMode) bool {
	s := p.s
	if mode != closeNotify && !p.pending() {
		return true
	}
	if mode != closeByClient {
		s.queue = append(s.queue, Packet{Type: PacketClose})
	}
	p.wake()
	s.resetTimer(s.srv.opts.CloseTimeout)
	return false
}

func (p *pollingTransport) close() {}

// after: a POST's goroutine answers the client, it cannot wait for a job.
func (p *pollingTransport) after(func()) bool { return false }

// flush: what is sent wakes the pending poll at once; nothing is held.
func (p *pollingTransport) flush() {}

// pending reports whether a GET waits. s.mu is held.
func (p *pollingTransport) pending() bool { return p.pollWake != nil || p.parked != nil }

// wake releases the pending GET, if any. s.mu is held.
func (p *pollingTransport) wake() {
	p.wakeParked()
	if p.pollWake != nil {
		select {
		case p.pollWake <- struct{}{}:
		default:
		}
	}
}

// writePayload answers a poll with pkts in the session's payload format.
func (p *pollingTransport) writePayload(w http.ResponseWriter, r *http.Request, pkts []Packet) {
	s := p.s
	resp := polling.Response{ContentType: polling.ContentTypeText}
	// As Node: the response is compressed if any of its packets may be.
	if !s.srv.opts.DisableHTTPCompression && slices.ContainsFunc(pkts, func(p Packet) bool { return !p.NoCompress }) {
		resp.CompressThreshold = s.srv.opts.HTTPCompressionThreshold
	}
	var body []byte
	switch {
	case s.protocol == 4:
		body = EncodePayloadV4(nil, pkts)
	case !p.b64 && HasBinary(pkts):
		body = EncodeBinaryPayloadV3(nil, pkts)
		resp.ContentType = polling.ContentTypeBinary
	default:
		body = EncodeStringPayloadV3(nil, pkts)
	}
	if p.jsonp {
		body = polling.AppendJSONP(make([]byte, 0, len(body)+len(body)/8+16), p.jsonpIndex, body)
		resp.ContentType = polling.ContentTypeJSONP
	}
	_ = resp.Write(w, r, body)
}

// upgradePollWait is the period at which Node releases a poll with a noop
// during an upgrade (setInterval from the probe's answer); a poll that
// comes then is released at the next such tick.
const upgradePollWait = 100 * time.Millisecond

// servePoll answers a GET: at once when packets wait, else when the first
// one comes.
func (s *Session) servePoll(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p, _ := s.t.(*pollingTransport)
	if p == nil {
		// Upgraded since the request was checked.
		s.mu.Unlock()
		requestError(CodeBadRequest, "").writeJSON(w)
		return
	}
	if p.pending() {
		// One pending poll per session: a second one is an error, as in Node.
		s.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		s.closeWith(ReasonTransportError, false)
		return
	}
	if len(s.queue) == 0 && s.state == stateOpen {
		if pp := p.park(w, r); pp != nil {
			// Served by an HTTPServer: the handler returns, and the
			// answer is written when a packet comes (answerParked).
			p.parked = pp
			if pp.duringUpgrade {
				pp.upgradeTimer = time.AfterFunc(s.up.untilTick(), func() {
					s.mu.Lock()
					if p.parked == pp {
						p.wakeParked()
					}
					s.mu.Unlock()
				})
			}
			s.mu.Unlock()
			return
		}
		wake := make(chan struct{}, 1)
		p.pollWake = wake
		// A poll that comes while the upgrade is pending waits for it: the
		// client may have sent the upgrade packet first, which Node would
		// have taken first, and siogo handles WebSocket frames on another
		// goroutine. Node releases such a poll with a noop at its next
		// 100 ms tick.
		var upgradeWait <-chan time.Time
		duringUpgrade := s.up.probed()
		if duringUpgrade {
			t := time.NewTimer(s.up.untilTick())
			defer t.Stop()
			upgradeWait = t.C
		}
		s.mu.Unlock()
		select {
		case <-wake:
		case <-upgradeWait:
		case <-r.Context().Done():
			s.mu.Lock()
			p.pollWake = nil
			s.mu.Unlock()
			s.closeWith(ReasonTransportError, false)
			return
		}
		s.mu.Lock()
		p.pollWake = nil
		if duringUpgrade && s.t != p && s.state == stateOpen {
			s.mu.Unlock()
			requestError(CodeBadRequest, "").writeJSON(w)
			return
		}
	}
	pkts, last := s.takePoll()
	s.mu.Unlock()
	if len(pkts) == 0 {
		pkts = []Packet{{Type: PacketNoop}}
	}
	p.writePayload(w, r, pkts)
	if last {
		s.finalize()
	}
}

// takePoll takes the packets a poll answers with, and whether they end
// the session. s.mu is held.
func (s *Session) takePoll() (pkts []Packet, last bool) {
	pkts = s.queue
	s.queue = nil
	last = s.state != stateOpen
	if last && len(pkts) > 1 && pkts[len(pkts)-1].Type == PacketClose {
		// As Node, the close packet waits until what was queued before it
		// has been taken: a client that handles packets asynchronously
		// (socket.io-client 4) would otherwise see the close first.
		s.queue = pkts[len(pkts)-1:]
		pkts = pkts[:len(pkts)-1]
		last = false
	}
	return pkts, last
}

// servePost takes a payload from the client.
func (s *Session) servePost(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	p, _ := s.t.(*pollingTransport)
	if p == nil {
		// Upgraded since the request was checked.
		s.mu.Unlock()
		requestError(CodeBadRequest, "").writeJSON(w)
		return
	}
	if p.posting {
		s.mu.Unlock()
		w.WriteHeader(http.StatusBadRequest)
		s.closeWith(ReasonTransportError, false)
		return
	}
	p.posting = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		p.posting = false
		s.mu.Unlock()
	}()

	binary := r.Header.Get("Content-Type") == polling.ContentTypeBinary
	if binary && s.protocol == 4 {
		w.WriteHeader(http.StatusBadRequest)
		s.closeWith(ReasonTransportError, false)
		return
	}
	max := s.srv.opts.MaxHTTPBufferSize
	if l := s.inLimit.Load(); l > 0 && l < max {
		max = l
	}
	body, err := polling.ReadBody(r, max)
	if errors.Is(err, polling.ErrTooLarge) {
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		s.closeWith(ReasonTransportError, false)
		return
	}
	if err != nil {
		s.closeWith(ReasonTransportError, false)
		return
	}
	if p.jsonp && !binary {
		if body, err = polling.DecodeJSONP(body); err != nil {
			requestError(CodeBadRequest, "").writeJSON(w)
			s.closeWith(ReasonParseError, false)
			return
		}
	}
	var pkts []Packet
	maxPkts := s.srv.opts.MaxPayloadPackets
	switch {
	case s.protocol == 4:
		pkts, err = DecodePayloadV4(body, maxPkts)
	case binary:
		pkts, err = DecodeBinaryPayloadV3(body, maxPkts)
	default:
		pkts, err = DecodeStringPayloadV3(body, maxPkts)
	}
	if err != nil {
		requestError(CodeBadRequest, "").writeJSON(w)
		s.closeWith(ReasonParseError, false)
		return
	}
	for _, pkt := range pkts {
		if pkt.Type == PacketClose {
			p.awaitPoll()
		}
		s.onPacket(pkt)
	}
	polling.WriteOK(w, r)
}

// closePollGrace bounds how long a polling client's close waits for a poll
// the client sent before it. Node takes requests in the order they come,
// so a client that polls and then posts its close packet (the official
// suite's "forcefully closes the session") has its poll answered with a
// noop; here the two requests run on goroutines of their own, and the post
// may be served first. Real clients seldom wait: engine.io-client keeps a
// poll pending while it is open.
const closePollGrace = 100 * time.Millisecond

// awaitPoll waits, at most closePollGrace, until a poll is pending (or
// the session left polling, or closed).
func (p *pollingTransport) awaitPoll() {
	s := p.s
	deadline := time.Now().Add(closePollGrace)
	for {
		s.mu.Lock()
		ready := p.pending() || s.t != p || s.state != stateOpen
		s.mu.Unlock()
		if ready || !time.Now().Before(deadline) {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
